import { Global, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { Bus } from '@berth/bus';
import type { BerthConfig } from '@berth/config';
import type { StorageDriver } from '@berth/storage';
import type { Logger } from 'pino';
import { HealthController } from './health.controller';
import { Readiness } from './readiness';
import { CONFIG, DATABASE, LOGGER, STORAGE } from './tokens';

/** What a process opened before Nest starts: each feature module takes what it needs from DI. */
export interface Runtime {
  readonly config: BerthConfig;
  readonly logger: Logger;
  readonly bus: Bus;
  readonly storage?: StorageDriver;
  /** The open database (a `Database` of `@berth/db`), only in processes that own metadata. */
  readonly database?: unknown;
}

/**
 * Provides the runtime to every module of a process, plus the health endpoints. One per process,
 * global, so feature modules stay unaware of which shape they run in.
 */
@Global()
@Module({})
export class PlatformModule {
  static register(runtime: Runtime): DynamicModule {
    const providers: Provider[] = [
      { provide: CONFIG, useValue: runtime.config },
      { provide: LOGGER, useValue: runtime.logger },
      { provide: Bus, useValue: runtime.bus },
      Readiness,
    ];
    if (runtime.storage) providers.push({ provide: STORAGE, useValue: runtime.storage });
    if (runtime.database !== undefined) providers.push({ provide: DATABASE, useValue: runtime.database });
    return {
      module: PlatformModule,
      controllers: [HealthController],
      providers,
      exports: providers.map((provider) => ('provide' in provider ? provider.provide : provider)),
    };
  }
}
