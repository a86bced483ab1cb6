import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, eventually, type TestDatabase } from '@berth/testing';
import { Client } from 'pg';
import { openDatabase, type Database } from './database';
import { LEGACY_STREAM, MIGRATIONS_DIR, STORES, applyMigrations } from './migrations';

/**
 * Checks that `sql` sees what the Prisma client wrote, and gives the same types on both backends.
 * `repository` must hold just `name`.
 */
async function expectPlainSql(sut: Database, name: string): Promise<void> {
  await expect(sut.sql.query<{ name: string }>('SELECT name FROM registry.repository')).resolves.toEqual([
    { name },
  ]);
  const [row] = await sut.sql.query<{ list: string[]; at: Date; n: number }>(
    'SELECT $1::text[] AS list, $2::timestamptz AS at, $3::int AS n',
    [['a', null], '2026-01-02T03:04:05.678Z', 7],
  );
  expect(row).toEqual({ list: ['a', null], at: new Date('2026-01-02T03:04:05.678Z'), n: 7 });
}

describe('openDatabase on PostgreSQL', () => {
  let database: TestDatabase;

  beforeEach(async () => {
    database = await createTestDatabase();
  });

  afterEach(async () => {
    await database.drop();
  });

  it('applies the migrations once, even when several processes start at the same time', async () => {
    const sut = await Promise.all([1, 2, 3].map(() => openDatabase({ url: database.url, embeddedDir: '' })));
    const first = sut[0];
    if (!first) throw new Error('no database');
    for (const [stream, schema] of [[LEGACY_STREAM, 'public'], ...STORES.map((store) => [store, store])]) {
      const applied = await first.sql.query<{ name: string }>(`SELECT name FROM ${schema}.berth_migrations`);
      const migrations = readdirSync(join(MIGRATIONS_DIR, stream ?? '')).sort();
      expect(applied.map((row) => row.name).sort()).toEqual(migrations);
    }
    for (const db of sut) await db.close();
  });

  it("applies only its own stores' migrations, after the legacy stream", async () => {
    const auth = await openDatabase({ url: database.url, embeddedDir: '', stores: ['auth'] });
    const tables = await auth.sql.query<{ schema: string; name: string }>(
      `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
       WHERE table_name IN ('account', 'repository') ORDER BY table_name`,
    );
    expect(tables).toEqual([
      { schema: 'auth', name: 'account' },
      { schema: 'public', name: 'repository' },
    ]);
    await auth.close();
  });

  it("upgrades a database of the layout before stores, keeping every row and the dispatcher's functions", async () => {
    // The legacy stream alone is exactly what main applied before stores existed.
    const old = new Client({ connectionString: database.url });
    await old.connect();
    const executor = {
      exec: async (sql: string) => {
        await old.query(sql);
      },
      query: async <Row>(sql: string, params: readonly unknown[] = []) =>
        (await old.query(sql, [...params])).rows as Row[],
    };
    await applyMigrations(executor, []);
    await old.query(`INSERT INTO repository (name) VALUES ('team/app')`);
    await old.query(`INSERT INTO account (username, source) VALUES ('alice', 'local')`);
    await old.query(`INSERT INTO project (name, public) VALUES ('team', true)`);
    await old.query(`INSERT INTO event_outbox (id, subject, payload) VALUES ('e1', 'berth.x.v1', '{}')`);
    await old.query(
      `INSERT INTO webhook_subscription (id, project, name, url, events, format, secret_sealed, created_by)
       VALUES ('s1', 'team', 'hook', 'https://example.com', '["artifact.pushed"]', 'default', 'x', 'admin')`,
    );
    await old.end();

    const sut = await openDatabase({ url: database.url, embeddedDir: '' });
    expect((await sut.client.repository.findMany()).map((r) => r.name)).toEqual(['team/app']);
    expect((await sut.client.account.findMany()).map((a) => a.username)).toEqual(['alice']);
    expect(await sut.client.project.findMany({ select: { name: true, public: true } })).toEqual([
      { name: 'team', public: true },
    ]);
    expect((await sut.client.eventOutbox.findMany()).map((e) => e.id)).toEqual(['e1']);
    expect((await sut.client.webhookSubscription.findMany()).map((w) => w.id)).toEqual(['s1']);
    // Nothing of Berth's is left in public but the legacy stream's record.
    const leftovers = await sut.sql.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'`,
    );
    expect(leftovers.map((t) => t.name)).toEqual(['berth_migrations']);
    const functions = await sut.sql.query<{ name: string; config: string[] }>(
      `SELECT p.proname AS name, p.proconfig AS config FROM pg_proc p
       JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'webhooks' ORDER BY 1`,
    );
    expect(functions.map((f) => f.name)).toEqual(['webhook_cycle', 'webhook_cycle', 'webhook_enqueue']);
    expect(functions.every((f) => f.config.includes('search_path=webhooks'))).toBe(true);
    // A new row gets the next id of the moved sequence.
    await sut.client.repository.create({ data: { name: 'team/next' } });
    expect((await sut.client.repository.findMany({ orderBy: { id: 'asc' } })).map((r) => r.id)).toEqual([
      1, 2,
    ]);
    await sut.close();
  });

  it('runs plain SQL on the same database as the Prisma client', async () => {
    const sut = await openDatabase({ url: database.url, embeddedDir: '' });
    await sut.client.$executeRaw`INSERT INTO registry.repository (name) VALUES ('seen/by-sql')`;
    await expectPlainSql(sut, 'seen/by-sql');
    await sut.close();
  });

  it('fails the boot when the server cannot be reached', async () => {
    await expect(
      openDatabase({ url: 'postgres://postgres@127.0.0.1:1/none', embeddedDir: '' }),
    ).rejects.toThrow();
  });
});

describe('openDatabase embedded (PGlite)', () => {
  it('applies the same migrations and keeps data across restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-pglite-'));
    try {
      const sut = await openDatabase({ url: null, embeddedDir: dir });
      await sut.client.$executeRaw`INSERT INTO registry.repository (name) VALUES ('kept/across')`;
      // Plain SQL runs on the same connection, with the same types as with PostgreSQL.
      await expectPlainSql(sut, 'kept/across');
      await sut.close();
      const reopened = await openDatabase({ url: null, embeddedDir: dir });
      const rows = await reopened.client.$queryRaw<{ name: string }[]>`SELECT name FROM registry.repository`;
      expect(rows.map((row) => row.name)).toEqual(['kept/across']);
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('vacuums and analyzes, now and then, the tables that changed, as autovacuum would', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-pglite-'));
    try {
      // The tables each background run vacuumed, one entry per run.
      const runs: (readonly string[])[] = [];
      const sut = await openDatabase({
        url: null,
        embeddedDir: dir,
        maintenanceIntervalMs: 100,
        onMaintenanceRun: (vacuumed) => runs.push(vacuumed),
      });
      const names = Array.from({ length: 300 }, (_, i) => `churn/app-${i}`);
      await sut.client.$executeRaw`INSERT INTO registry.repository (name) SELECT unnest(${names}::text[])`;
      // Each update leaves a dead version behind, which only a vacuum reclaims.
      await sut.client.$executeRaw`UPDATE registry.repository SET name = name || '-renamed'`;
      const stats = () => sut.client.$queryRaw<{ vacuumed: bigint; analyzed: bigint; dead: bigint }[]>`
        SELECT vacuum_count AS vacuumed, analyze_count AS analyzed, n_dead_tup AS dead
        FROM pg_stat_user_tables WHERE relname = 'repository'`;
      await eventually(() => runs.some((vacuumed) => vacuumed.includes('registry.repository')));
      expect(await stats()).toEqual([{ vacuumed: 1n, analyzed: 1n, dead: 0n }]);
      // The planner now knows the table's size (it knew nothing before the first analyze).
      const [table] = await sut.client.$queryRaw<{ rows: number }[]>`
        SELECT reltuples::int AS rows FROM pg_class WHERE relname = 'repository'`;
      expect(table?.rows).toBe(300);
      // Nothing changed since: the next runs leave it alone.
      const done = runs.length;
      await eventually(() => runs.length >= done + 3);
      expect(runs.slice(done).flat()).not.toContain('registry.repository');
      expect((await stats())[0]?.vacuumed).toBe(1n);
      await sut.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
