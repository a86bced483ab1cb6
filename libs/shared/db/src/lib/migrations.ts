import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** Runs SQL on either backend: a statement batch without parameters, or a query with them. */
export interface SqlExecutor {
  /** Executes one or more statements (the simple protocol), ignoring results. */
  exec(sql: string): Promise<void>;
  /** Runs one parameterised query and returns its rows. */
  query<Row>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
}

/**
 * The stores of Berth's data, each a PostgreSQL schema owned by one service (ADR 0014):
 * `registry` by metadata and blobstore (declared one store), `auth` by auth, `webhooks` by
 * webhooks, `events` (the outbox) by the outbox library that metadata and blobstore write it
 * through. No service reads or writes another's store.
 */
export const STORES = ['registry', 'auth', 'webhooks', 'events'] as const;
export type Store = (typeof STORES)[number];

/** The folder of SQL migrations, in Prisma's layout: `<stream>/<timestamp>_<name>/migration.sql`. */
export const MIGRATIONS_DIR = resolve(__dirname, '../../prisma/migrations');

/**
 * The stream every database began with, when one schema served every service (`public`, recorded
 * in `public.berth_migrations`). It is closed: nothing is added to it. A new database still
 * starts with it, and each store's first migration then moves that store's tables into its schema.
 */
export const LEGACY_STREAM = 'legacy';

// Any constant works as long as every Berth process uses the same one.
const MIGRATION_LOCK_KEY = 4_242_017;

/**
 * Applies every migration not yet recorded, for the legacy stream and then for each of `stores`,
 * in name order, each in its own transaction with its record: `public.berth_migrations` for the
 * legacy stream, `<store>.berth_migrations` for a store. Concurrent starters (several replicas,
 * several services at once) serialise on one advisory lock, so each migration runs exactly once.
 * Returns the migrations applied now, as `<stream>/<name>`.
 */
export async function applyMigrations(
  db: SqlExecutor,
  stores: readonly Store[] = STORES,
  dir: string = MIGRATIONS_DIR,
): Promise<string[]> {
  // The lock comes first: even `CREATE TABLE IF NOT EXISTS` races with itself in PostgreSQL.
  await db.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    const done = await applyStream(db, join(dir, LEGACY_STREAM), LEGACY_STREAM, 'public');
    for (const store of stores) done.push(...(await applyStream(db, join(dir, store), store, store)));
    return done;
  } finally {
    await db.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  }
}

async function applyStream(db: SqlExecutor, dir: string, stream: string, schema: string): Promise<string[]> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  await db.exec(`CREATE SCHEMA IF NOT EXISTS ${schema};
    CREATE TABLE IF NOT EXISTS ${schema}.berth_migrations (
      name TEXT PRIMARY KEY,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
    )`);
  const applied = new Set(
    (await db.query<{ name: string }>(`SELECT name FROM ${schema}.berth_migrations`)).map((row) => row.name),
  );
  const done: string[] = [];
  for (const name of names) {
    if (applied.has(name)) continue;
    const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8');
    const quoted = name.replace(/'/g, "''");
    try {
      await db.exec(
        `BEGIN;\n${sql}\nINSERT INTO ${schema}.berth_migrations (name) VALUES ('${quoted}');\nCOMMIT;`,
      );
    } catch (error) {
      await db.exec('ROLLBACK');
      throw new Error(
        `migration ${stream}/${name} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    done.push(`${stream}/${name}`);
  }
  return done;
}
