import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { Client } from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/client';
import { applyMigrations, type SqlExecutor } from './migrations';

/** Where the metadata lives: a PostgreSQL URL, or the embedded PGlite directory when there is none. */
export interface DatabaseOptions {
  readonly url: string | null;
  readonly embeddedDir: string;
  /** Connections in the pool (PostgreSQL only). */
  readonly poolSize?: number;
}

/** An open database with its migrations applied. */
export interface Database {
  /** The Prisma client; only repositories use it. */
  readonly client: PrismaClient;
  /** `postgres` or `pglite`, for logs. */
  readonly kind: 'postgres' | 'pglite';
  /** Closes every connection. */
  close(): Promise<void>;
}

/**
 * Opens the database and applies pending migrations before anything else may use it. A failure
 * (unreachable server, bad migration) rejects, and the caller's boot fails with it.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url === null
    ? openEmbedded(options.embeddedDir)
    : openPostgres(options.url, options.poolSize ?? 10);
}

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  // Migrations run on one dedicated connection, because the advisory lock belongs to a session.
  const migrator = new Client({ connectionString: url });
  // A connection dropped after a failure must not become an unhandled 'error' event.
  migrator.on('error', () => undefined);
  await migrator.connect();
  try {
    await applyMigrations({
      exec: async (sql) => {
        await migrator.query(sql);
      },
      query: async <Row>(sql: string, params: readonly unknown[] = []) =>
        (await migrator.query(sql, [...params])).rows as Row[],
    });
  } finally {
    await migrator.end();
  }
  const client = new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: poolSize }) });
  await client.$connect();
  return { client, kind: 'postgres', close: () => client.$disconnect() };
}

async function openEmbedded(dir: string): Promise<Database> {
  await mkdir(dir, { recursive: true });
  const pglite = await PGlite.create(dir);
  const executor: SqlExecutor = {
    exec: async (sql) => {
      await pglite.exec(sql);
    },
    query: async <Row>(sql: string, params: readonly unknown[] = []) =>
      (await pglite.query<Row>(sql, [...params])).rows,
  };
  try {
    await applyMigrations(executor);
  } catch (error) {
    await pglite.close();
    throw error;
  }
  const client = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  return {
    client,
    kind: 'pglite',
    close: async () => {
      await client.$disconnect();
      await pglite.close();
    },
  };
}
