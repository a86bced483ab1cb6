import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import { openDatabase } from './database';

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
      await sut.close();
      const reopened = await openDatabase({ url: null, embeddedDir: dir });
      const rows = await reopened.client.$queryRaw<{ name: string }[]>`SELECT name FROM repository`;
      expect(rows.map((row) => row.name)).toEqual(['kept/across']);
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
