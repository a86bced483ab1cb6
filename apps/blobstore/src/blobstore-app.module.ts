import { Module, type DynamicModule } from '@nestjs/common';
import { BlobstoreModule } from '@berth/blobstore';
import { provideDatabase, type Database } from '@berth/db';
import { PlatformModule, type Runtime } from '@berth/server';

/** The blobstore service as its own process (HTTP only for health probes). */
@Module({})
export class BlobstoreAppModule {
  static register(runtime: Runtime, database: Database): DynamicModule {
    return {
      module: BlobstoreAppModule,
      imports: [PlatformModule.register(runtime, [provideDatabase(database)]), BlobstoreModule],
    };
  }
}
