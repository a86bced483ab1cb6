import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { PGlite as PGliteClass } from '@electric-sql/pglite';
import type { PrismaPg as PrismaPgClass } from '@prisma/adapter-pg';
import type { Client as PgClient, Pool as PgPool } from 'pg';
import type { PrismaPGlite as PrismaPGliteClass } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/client';
import { EmbeddedMaintenance } from './embedded-maintenance';
import { STORES, applyMigrations, type SqlExecutor, type Store } from './migrations';

/** Where the metadata lives: a PostgreSQL URL, or the embedded PGlite directory when there is none. */
export interface DatabaseOptions {
  readonly url: string | null;
  readonly embeddedDir: string;
  /** Connections in the pool (PostgreSQL only). */
  readonly poolSize?: number;
  /** How often the embedded database looks for tables to vacuum and analyze (PGlite only). */
  readonly maintenanceIntervalMs?: number;
  /**
   * Told after each of those background runs, with the tables it vacuumed (none when nothing was
   * due). It is how a test sees that runs happened, and which did nothing, without waiting for
   * time to pass.
   */
  readonly onMaintenanceRun?: (vacuumed: readonly string[]) => void;
  /** The stores this process owns, whose migrations it applies (default: all, as the all-in-one). */
  readonly stores?: readonly Store[];
}

/** Where the database reports what goes wrong in the background (a pino logger fits). */
export interface DatabaseLogger {
  warn(object: object, message: string): void;
}

/** How often the embedded database is maintained unless told otherwise (autovacuum: every minute). */
const EMBEDDED_MAINTENANCE_INTERVAL_MS = 60_000;

/** An open database with its migrations applied. */
export interface Database {
  /** The Prisma client; only repositories use it. */
  readonly client: PrismaClient;
  /**
   * Plain SQL on the same connections as `client`, without what Prisma adds to each statement
   * (0.25 ms, 0.5 ms with an array parameter, measured on PGlite): for the few statements that
   * run for every event and were measured to need it. Results come as the driver gives them:
   * `timestamptz` as `Date`, `int4` as `number`, but `int8` as a string with PostgreSQL and a
   * number with PGlite, so such a column is converted by its reader.
   */
  readonly sql: SqlExecutor;
  /** `postgres` or `pglite`, for logs. */
  readonly kind: 'postgres' | 'pglite';
  /** Closes every connection. */
  close(): Promise<void>;
}

/**
 * Opens the database and applies pending migrations before anything else may use it. A failure
 * (unreachable server, bad migration) rejects, and the caller's boot fails with it.
 */
export async function openDatabase(options: DatabaseOptions, logger?: DatabaseLogger): Promise<Database> {
  return options.url === null
    ? openEmbedded(
        options.embeddedDir,
        {
          intervalMs: options.maintenanceIntervalMs ?? EMBEDDED_MAINTENANCE_INTERVAL_MS,
          onRun: options.onMaintenanceRun,
        },
        options.stores ?? STORES,
        logger,
      )
    : openPostgres(options.url, options.poolSize ?? 10, options.stores ?? STORES, logger);
}

/**
 * Creates the embedded cluster in a short-lived child process: initdb needs several hundred MB of
 * WebAssembly memory that would otherwise stay with the registry for its whole life.
 */
async function initEmbedded(dir: string): Promise<void> {
  const script = `require(${JSON.stringify(require.resolve('@electric-sql/pglite'))})
    .PGlite.create(process.argv[1]).then((db) => db.close()).catch((e) => { console.error(e); process.exit(1); });`;
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, ['-e', script, dir], { timeout: 120_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`embedded PostgreSQL initdb failed: ${stderr || error.message}`));
      else resolve();
    });
  });
}

/*
 * Each backend's modules are loaded only when it is chosen: the all-in-one never needs the
 * PostgreSQL client (~15 MB), the distributed services never need PGlite.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- deliberately lazy, see above */
const loadPg = () => require('pg') as { Client: typeof PgClient; Pool: typeof PgPool };
const loadPrismaPg = () => (require('@prisma/adapter-pg') as { PrismaPg: typeof PrismaPgClass }).PrismaPg;
const loadPGlite = () => (require('@electric-sql/pglite') as { PGlite: typeof PGliteClass }).PGlite;
const loadPrismaPGlite = () =>
  (require('pglite-prisma-adapter') as { PrismaPGlite: typeof PrismaPGliteClass }).PrismaPGlite;
/* eslint-enable @typescript-eslint/no-require-imports */

async function openPostgres(
  url: string,
  poolSize: number,
  stores: readonly Store[],
  logger?: DatabaseLogger,
): Promise<Database> {
  const { Client, Pool } = loadPg();
  const PrismaPg = loadPrismaPg();
  // Migrations run on one dedicated connection, because the advisory lock belongs to a session.
  const migrator = new Client({ connectionString: url });
  // A connection dropped after a failure must not become an unhandled 'error' event.
  migrator.on('error', () => undefined);
  await migrator.connect();
  try {
    await applyMigrations(
      {
        exec: async (sql) => {
          await migrator.query(sql);
        },
        query: async <Row>(sql: string, params: readonly unknown[] = []) =>
          (await migrator.query(sql, [...params])).rows as Row[],
      },
      stores,
    );
  } finally {
    await migrator.end();
  }
  // One pool for Prisma and for plain SQL.
  const pool = new Pool({ connectionString: url, max: poolSize });
  // An idle connection that drops (a server restart) is replaced by the next query.
  pool.on('error', (error) => {
    logger?.warn({ err: error }, 'an idle database connection failed; it is replaced');
  });
  const client = new PrismaClient({ adapter: new PrismaPg(pool) });
  await client.$connect();
  return {
    client,
    sql: {
      exec: async (sql) => {
        await pool.query(sql);
      },
      query: async <Row>(sql: string, params: readonly unknown[] = []) =>
        (await pool.query(sql, [...params])).rows as Row[],
    },
    kind: 'postgres',
    close: async () => {
      await client.$disconnect();
      await pool.end();
    },
  };
}

/**
 * Settings of the embedded PostgreSQL, sized for the all-in-one (a small team's registry): a
 * small buffer pool keeps the process well under 300 MB, and the manifest caches in front of it
 * keep hot reads off it anyway.
 */
const EMBEDDED_POSTGRES_CONF = ['shared_buffers=16MB', 'work_mem=2MB', 'maintenance_work_mem=16MB'].join(
  '\n',
);

async function openEmbedded(
  dir: string,
  maintenanceOptions: {
    readonly intervalMs: number;
    readonly onRun: ((vacuumed: readonly string[]) => void) | undefined;
  },
  stores: readonly Store[],
  logger?: DatabaseLogger,
): Promise<Database> {
  await mkdir(dir, { recursive: true });
  if (!existsSync(join(dir, 'PG_VERSION'))) await initEmbedded(dir);
  const PGlite = loadPGlite();
  const PrismaPGlite = loadPrismaPGlite();
  const pglite = await PGlite.create(dir, { postgresqlconf: EMBEDDED_POSTGRES_CONF });
  const executor: SqlExecutor = {
    exec: async (sql) => {
      await pglite.exec(sql);
    },
    query: async <Row>(sql: string, params: readonly unknown[] = []) =>
      (await pglite.query<Row>(sql, [...params])).rows,
  };
  try {
    await applyMigrations(executor, stores);
  } catch (error) {
    await pglite.close();
    throw error;
  }
  const client = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  const maintenance = new EmbeddedMaintenance(
    executor,
    maintenanceOptions.intervalMs,
    (error) => {
      logger?.warn({ err: error }, 'embedded database maintenance failed; it is tried again later');
    },
    maintenanceOptions.onRun,
  );
  maintenance.start();
  return {
    client,
    sql: executor,
    kind: 'pglite',
    close: async () => {
      await maintenance.stop();
      await client.$disconnect();
      await pglite.close();
    },
  };
}
