import { Module, type DynamicModule } from '@nestjs/common';
import { GatewayModule } from '@berth/gateway';
import { PlatformModule, type Runtime } from '@berth/server';

/** The gateway as its own process. */
@Module({})
export class GatewayAppModule {
  static register(runtime: Runtime): DynamicModule {
    return { module: GatewayAppModule, imports: [PlatformModule.register(runtime), GatewayModule] };
  }
}
