import type { Database } from './database';

/**
 * DI token of the open {@link Database}, in the processes of the services that keep tables. The
 * database library owns it, so the platform (shared by every service, the gateway included)
 * knows nothing of the database.
 */
export const DATABASE = Symbol('berth.database');

/** A Nest value provider of an open database under {@link DATABASE}. */
export interface DatabaseProvider {
  readonly provide: typeof DATABASE;
  readonly useValue: Database;
}

/**
 * The provider that gives every module of a process its open database, for the platform module:
 * `PlatformModule.register(runtime, [provideDatabase(database)])`. A plain object, so that this
 * library needs no Nest.
 */
export function provideDatabase(database: Database): DatabaseProvider {
  return { provide: DATABASE, useValue: database };
}
