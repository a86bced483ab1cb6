import { Module, type DynamicModule } from '@nestjs/common';
import { AuthModule } from '@berth/auth';
import { provideDatabase, type Database } from '@berth/db';
import { PlatformModule, type Runtime } from '@berth/server';

/** The auth service as its own process: `/token`, `/api/v1` and the auth subjects on the bus. */
@Module({})
export class AuthAppModule {
  static register(runtime: Runtime, database: Database): DynamicModule {
    return {
      module: AuthAppModule,
      imports: [PlatformModule.register(runtime, [provideDatabase(database)]), AuthModule],
    };
  }
}
