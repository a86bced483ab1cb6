import { Module, type DynamicModule } from '@nestjs/common';
import { provideDatabase, type Database } from '@berth/db';
import { PlatformModule, type Runtime } from '@berth/server';
import { WebhooksModule } from '@berth/webhooks';

/** The webhooks service as its own process: its consumer, its dispatcher and its API. */
@Module({})
export class WebhooksAppModule {
  static register(runtime: Runtime, database: Database): DynamicModule {
    return {
      module: WebhooksAppModule,
      imports: [PlatformModule.register(runtime, [provideDatabase(database)]), WebhooksModule],
    };
  }
}
