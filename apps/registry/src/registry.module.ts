import { Module, type DynamicModule } from '@nestjs/common';
import { AuthModule } from '@berth/auth';
import { BlobstoreModule } from '@berth/blobstore';
import { GatewayModule } from '@berth/gateway';
import { MetadataModule } from '@berth/metadata';
import { provideDatabase, type Database } from '@berth/db';
import { PlatformModule, type Runtime } from '@berth/server';
import { WebhooksModule } from '@berth/webhooks';

/** Every service's module in one process: the all-in-one shape. */
@Module({})
export class RegistryModule {
  static register(runtime: Runtime, database: Database): DynamicModule {
    return {
      module: RegistryModule,
      imports: [
        PlatformModule.register(runtime, [provideDatabase(database)]),
        MetadataModule,
        BlobstoreModule,
        AuthModule,
        WebhooksModule,
        GatewayModule,
      ],
    };
  }
}
