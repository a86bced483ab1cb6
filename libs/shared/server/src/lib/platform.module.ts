import { Global, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { Bus } from '@berth/bus';
import type { BerthConfig } from '@berth/config';
import type { StorageDriver } from '@berth/storage';
import type { Logger } from 'pino';
import { HealthController } from './health.controller';
import { Readiness } from './readiness';
import { CONFIG, LOGGER, STORAGE } from './tokens';

/** What a process opened before Nest starts: each feature module takes what it needs from DI. */
export interface Runtime {
  readonly config: BerthConfig;
  readonly logger: Logger;
  readonly bus: Bus;
  readonly storage?: StorageDriver;
}

/**
 * Provides the runtime to every module of a process, plus the health endpoints. One per process,
 * global, so feature modules stay unaware of which shape they run in. `processProviders` are what
 * only some processes open, given the same way: the database of the services that keep tables
 * (`provideDatabase` of `@berth/db`, which owns that token, so the platform needs no database).
 */
@Global()
@Module({})
export class PlatformModule {
  static register(runtime: Runtime, processProviders: readonly Provider[] = []): DynamicModule {
    const providers: Provider[] = [
      { provide: CONFIG, useValue: runtime.config },
      { provide: LOGGER, useValue: runtime.logger },
      { provide: Bus, useValue: runtime.bus },
      Readiness,
      ...processProviders,
    ];
    if (runtime.storage) providers.push({ provide: STORAGE, useValue: runtime.storage });
    return {
      module: PlatformModule,
      controllers: [HealthController],
      providers,
      exports: providers.map((provider) => ('provide' in provider ? provider.provide : provider)),
    };
  }
}
