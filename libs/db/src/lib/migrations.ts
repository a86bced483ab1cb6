import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** Runs SQL on either backend: a statement batch without parameters, or a query with them. */
export interface SqlExecutor {
  /** Executes one or more statements (the simple protocol), ignoring results. */
  exec(sql: string): Promise<void>;
  /** Runs one parameterised query and returns its rows. */
  query<Row>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
}

/** The folder of SQL migrations, in Prisma's layout: `<timestamp>_<name>/migration.sql`. */
export const MIGRATIONS_DIR = resolve(__dirname, '../../prisma/migrations');

// Any constant works as long as every Berth process uses the same one.
const MIGRATION_LOCK_KEY = 4_242_017;

/**
 * Applies every migration not yet recorded in `berth_migrations`, in name order, each in its own
 * transaction. Concurrent starters (several replicas at once) serialise on an advisory lock, so
 * each migration runs exactly once. Returns the names applied now.
 */
export async function applyMigrations(db: SqlExecutor, dir: string = MIGRATIONS_DIR): Promise<string[]> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  // The lock comes first: even `CREATE TABLE IF NOT EXISTS` races with itself in PostgreSQL.
  await db.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    await db.exec(`CREATE TABLE IF NOT EXISTS berth_migrations (
      name TEXT PRIMARY KEY,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
    )`);
    const applied = new Set(
      (await db.query<{ name: string }>('SELECT name FROM berth_migrations')).map((row) => row.name),
    );
    const done: string[] = [];
    for (const name of names) {
      if (applied.has(name)) continue;
      const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8');
      const quoted = name.replace(/'/g, "''");
      try {
        await db.exec(`BEGIN;\n${sql}\nINSERT INTO berth_migrations (name) VALUES ('${quoted}');\nCOMMIT;`);
      } catch (error) {
        await db.exec('ROLLBACK');
        throw new Error(
          `migration ${name} failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      done.push(name);
    }
    return done;
  } finally {
    await db.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  }
}
