import { Module, type DynamicModule } from '@nestjs/common';
import { MetadataModule } from '@berth/metadata';
import { provideDatabase, type Database } from '@berth/db';
import { PlatformModule, type Runtime } from '@berth/server';

/** The metadata service as its own process (HTTP only for health probes). */
@Module({})
export class MetadataAppModule {
  static register(runtime: Runtime, database: Database): DynamicModule {
    return {
      module: MetadataAppModule,
      imports: [PlatformModule.register(runtime, [provideDatabase(database)]), MetadataModule],
    };
  }
}
