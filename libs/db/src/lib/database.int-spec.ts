import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import { openDatabase, type Database } from './database';

/**
 * Checks that `sql` sees what the Prisma client wrote, and gives the same types on both backends.
 * `repository` must hold just `name`.
 */
async function expectPlainSql(sut: Database, name: string): Promise<void> {
  await expect(sut.sql.query<{ name: string }>('SELECT name FROM repository')).resolves.toEqual([{ name }]);
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
    const applied = await first.client.$queryRaw<{ name: string }[]>`SELECT name FROM berth_migrations`;
    const migrations = readdirSync(join(__dirname, '../../prisma/migrations')).sort();
    expect(applied.map((row) => row.name)).toEqual(migrations);
    for (const db of sut) await db.close();
  });

  it('runs plain SQL on the same database as the Prisma client', async () => {
    const sut = await openDatabase({ url: database.url, embeddedDir: '' });
    await sut.client.$executeRaw`INSERT INTO repository (name) VALUES ('seen/by-sql')`;
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
      await sut.client.$executeRaw`INSERT INTO repository (name) VALUES ('kept/across')`;
      // Plain SQL runs on the same connection, with the same types as with PostgreSQL.
      await expectPlainSql(sut, 'kept/across');
      await sut.close();
      const reopened = await openDatabase({ url: null, embeddedDir: dir });
      const rows = await reopened.client.$queryRaw<{ name: string }[]>`SELECT name FROM repository`;
      expect(rows.map((row) => row.name)).toEqual(['kept/across']);
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('vacuums and analyzes, now and then, the tables that changed, as autovacuum would', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-pglite-'));
    try {
      const sut = await openDatabase({ url: null, embeddedDir: dir, maintenanceIntervalMs: 100 });
      const names = Array.from({ length: 300 }, (_, i) => `churn/app-${i}`);
      await sut.client.$executeRaw`INSERT INTO repository (name) SELECT unnest(${names}::text[])`;
      // Each update leaves a dead version behind, which only a vacuum reclaims.
      await sut.client.$executeRaw`UPDATE repository SET name = name || '-renamed'`;
      const stats = () => sut.client.$queryRaw<{ vacuumed: bigint; analyzed: bigint; dead: bigint }[]>`
        SELECT vacuum_count AS vacuumed, analyze_count AS analyzed, n_dead_tup AS dead
        FROM pg_stat_user_tables WHERE relname = 'repository'`;
      const deadline = Date.now() + 10_000;
      while ((await stats())[0]?.vacuumed === 0n && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(await stats()).toEqual([{ vacuumed: 1n, analyzed: 1n, dead: 0n }]);
      // The planner now knows the table's size (it knew nothing before the first analyze).
      const [table] = await sut.client.$queryRaw<{ rows: number }[]>`
        SELECT reltuples::int AS rows FROM pg_class WHERE relname = 'repository'`;
      expect(table?.rows).toBe(300);
      // Nothing changed since: the next runs leave it alone.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await stats())[0]?.vacuumed).toBe(1n);
      await sut.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
