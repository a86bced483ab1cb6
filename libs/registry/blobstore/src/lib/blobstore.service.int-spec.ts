import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { InProcessBus } from '@berth/bus';
import { BlobDeleted, BlobMounted, BlobPushed, RepositoryCreated } from '@berth/contracts';
import { openDatabase, type Database } from '@berth/db';
import { Outbox } from '@berth/outbox';
import { RegistryStorage, createStorageDriver, type StorageDriver } from '@berth/storage';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import pino from 'pino';
import { BlobRepository } from './blob.repository';
import { BlobstoreService } from './blobstore.service';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('BlobstoreService on PostgreSQL and the filesystem', () => {
  let testDb: TestDatabase;
  let database: Database;
  let root: string;
  let storage: StorageDriver;
  let bus: InProcessBus;
  let sut: BlobstoreService;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = await openDatabase({ url: testDb.url, embeddedDir: '' });
    root = await mkdtemp(join(tmpdir(), 'berth-blobstore-'));
    storage = createStorageDriver({ driver: 'filesystem', root });
  });

  afterAll(async () => {
    await database.close();
    await testDb.drop();
    await rm(root, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await database.client.$executeRaw`DELETE FROM events.event_outbox`;
    bus = new InProcessBus();
    sut = new BlobstoreService(
      new BlobRepository(database.client, 60_000, new Outbox()),
      storage,
      bus,
      pino({ level: 'silent' }),
      60_000,
    );
  });

  afterEach(async () => {
    await bus.close();
  });

  /** The events written so far, in outbox order. */
  async function events(): Promise<{ subject: string; payload: Record<string, unknown> }[]> {
    return database.client.$queryRaw`SELECT subject, payload FROM events.event_outbox ORDER BY seq`;
  }

  const objects = () => new RegistryStorage(storage);

  /** Writes a chunk the way the gateway does and records it. */
  async function chunk(repository: string, id: string, offset: number, bytes: Buffer): Promise<number> {
    const { path } = await new RegistryStorage(storage).writeChunk(id, Readable.from([bytes]));
    return (await sut.append(repository, id, { offset, size: bytes.length, path })).offset;
  }

  it('assembles several chunks, re-hashes them when the gateway could not, and links the blob', async () => {
    const bytes = randomBytes(100_000);
    const session = await sut.start('x/y');
    await chunk('x/y', session.id, 0, bytes.subarray(0, 40_000));
    await chunk('x/y', session.id, 40_000, bytes.subarray(40_000));
    await expect(
      sut.complete({
        repository: 'x/y',
        id: session.id,
        digest: sha256(bytes),
        computedDigest: null,
        computedSize: null,
        requestId: null,
        actor: null,
      }),
    ).resolves.toEqual({ digest: sha256(bytes), size: 100_000 });
    await expect(sut.stat('x/y', sha256(bytes))).resolves.toEqual({ digest: sha256(bytes), size: 100_000 });
    expect((await objects().getBlob(sha256(bytes) as never)).equals(bytes)).toBe(true);
    expect(await objects().uploadIds()).not.toContain(session.id);
    expect((await events()).map((e) => e.subject)).toEqual([RepositoryCreated.subject, BlobPushed.subject]);
  });

  it('stores nothing when the content does not match the digest, and ends the session', async () => {
    const bytes = randomBytes(1000);
    const wrong = sha256(randomBytes(10));
    const session = await sut.start('x/y');
    await chunk('x/y', session.id, 0, bytes);
    await expect(
      sut.complete({
        repository: 'x/y',
        id: session.id,
        digest: wrong,
        computedDigest: null,
        computedSize: null,
        requestId: null,
        actor: null,
      }),
    ).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
    expect(await objects().hasBlob(wrong as never)).toBe(false);
    await expect(sut.stat('x/y', wrong)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    await expect(sut.session('x/y', session.id)).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
    expect(await events()).toEqual([]);
  });

  it('refuses a chunk at a stale offset with RANGE_INVALID and keeps the session', async () => {
    const session = await sut.start('x/z');
    await chunk('x/z', session.id, 0, randomBytes(10));
    await expect(chunk('x/z', session.id, 0, randomBytes(10))).rejects.toMatchObject({
      code: 'RANGE_INVALID',
    });
    await expect(sut.session('x/z', session.id)).resolves.toMatchObject({ offset: 10 });
    await expect(sut.session('other/repo', session.id)).rejects.toMatchObject({
      code: 'BLOB_UPLOAD_UNKNOWN',
    });
  });

  it('puts a chunk that does not say where it starts at the end of the session', async () => {
    const bytes = randomBytes(30);
    const session = await sut.start('x/s');
    await chunk('x/s', session.id, 0, bytes.subarray(0, 10));
    const { path } = await objects().writeChunk(session.id, Readable.from([bytes.subarray(10)]));
    await expect(sut.append('x/s', session.id, { offset: null, size: 20, path })).resolves.toMatchObject({
      offset: 30,
    });
    await expect(
      sut.complete({
        repository: 'x/s',
        id: session.id,
        digest: sha256(bytes),
        computedDigest: null,
        computedSize: null,
        requestId: null,
        actor: null,
      }),
    ).resolves.toEqual({ digest: sha256(bytes), size: 30 });
  });

  it("trusts the gateway's digest only when it covers exactly the session's bytes", async () => {
    const stored = randomBytes(40);
    const claimed = randomBytes(40);
    const session = await sut.start('x/t');
    await chunk('x/t', session.id, 0, stored);
    // A hash of other bytes, said to cover fewer bytes than the session holds: read back, refused.
    await expect(
      sut.complete({
        repository: 'x/t',
        id: session.id,
        digest: sha256(claimed),
        computedDigest: sha256(claimed),
        computedSize: 39,
        requestId: null,
        actor: null,
      }),
    ).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
    expect(await objects().hasBlob(sha256(claimed) as never)).toBe(false);
  });

  it('refuses a chunk path outside the upload', async () => {
    const session = await sut.start('x/w');
    await expect(
      sut.append('x/w', session.id, {
        offset: 0,
        size: 1,
        path: `/blobs/sha256/ca/${sha256(Buffer.from('a')).slice(7)}/data`,
      }),
    ).rejects.toMatchObject({ code: 'BLOB_UPLOAD_INVALID' });
  });

  it('completes an empty blob', async () => {
    const session = await sut.start('x/e');
    const empty = sha256(Buffer.alloc(0));
    await expect(
      sut.complete({
        repository: 'x/e',
        id: session.id,
        digest: empty,
        computedDigest: null,
        computedSize: null,
        requestId: null,
        actor: null,
      }),
    ).resolves.toEqual({
      digest: empty,
      size: 0,
    });
  });

  it('mounts only what the source repository has', async () => {
    const bytes = randomBytes(500);
    const session = await sut.start('m/from');
    await chunk('m/from', session.id, 0, bytes);
    await sut.complete({
      repository: 'm/from',
      id: session.id,
      digest: sha256(bytes),
      computedDigest: sha256(bytes),
      computedSize: 500,
      requestId: 'req-1',
      actor: 'alice',
    });
    await expect(sut.mount('m/to', 'm/from', sha256(bytes), 'req-2', 'robot$ci')).resolves.toEqual({
      mounted: true,
      size: 500,
    });
    await expect(sut.mount('m/to', 'm/nowhere', sha256(bytes), null, null)).resolves.toEqual({
      mounted: false,
      size: null,
    });
    await sut.delete('m/to', sha256(bytes), 'req-3', 'bob');
    await expect(sut.stat('m/to', sha256(bytes))).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    await expect(sut.stat('m/from', sha256(bytes))).resolves.toMatchObject({ size: 500 });
    await expect(sut.delete('m/to', sha256(bytes), null, null)).rejects.toMatchObject({
      code: 'BLOB_UNKNOWN',
    });
    const written = await events();
    expect(written.map((e) => [e.subject, e.payload['repository']])).toEqual([
      [RepositoryCreated.subject, 'm/from'],
      [BlobPushed.subject, 'm/from'],
      [RepositoryCreated.subject, 'm/to'],
      [BlobMounted.subject, 'm/to'],
      [BlobDeleted.subject, 'm/to'],
    ]);
    expect(written[1]?.payload).toEqual({
      id: expect.any(String) as unknown,
      occurredAt: expect.any(String) as unknown,
      requestId: 'req-1',
      actor: 'alice',
      project: 'm',
      repository: 'm/from',
      digest: sha256(bytes),
      size: 500,
    });
    expect(written[3]?.payload).toMatchObject({ from: 'm/from', actor: 'robot$ci', requestId: 'req-2' });
    expect(written[4]?.payload).toMatchObject({ digest: sha256(bytes), actor: 'bob', requestId: 'req-3' });
  });

  it('announces a repository only when the first blob creates it', async () => {
    for (const size of [10, 20]) {
      const bytes = randomBytes(size);
      const session = await sut.start('n/once');
      await chunk('n/once', session.id, 0, bytes);
      await sut.complete({
        repository: 'n/once',
        id: session.id,
        digest: sha256(bytes),
        computedDigest: null,
        computedSize: null,
        requestId: null,
        actor: null,
      });
    }
    expect((await events()).map((e) => e.subject)).toEqual([
      RepositoryCreated.subject,
      BlobPushed.subject,
      BlobPushed.subject,
    ]);
  });

  it('sweeps upload directories that have no session', async () => {
    const orphan = '11111111-1111-4111-8111-111111111111';
    await objects().writeChunk(orphan, Readable.from([Buffer.from('x')]));
    // A TTL below zero puts the cutoff ahead of every write, so nothing needs to age first.
    const expiring = new BlobstoreService(
      new BlobRepository(database.client, -60_000, new Outbox()),
      storage,
      bus,
      pino({ level: 'silent' }),
      -60_000,
    );
    expect(await expiring.sweep()).toBeGreaterThanOrEqual(1);
    expect(await objects().uploadIds()).not.toContain(orphan);
  });
});
