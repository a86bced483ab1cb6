import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessBus } from '@berth/bus';
import {
  ManifestDeleted,
  ManifestPushed,
  RepositoryCreated,
  TagCreated,
  TagDeleted,
  eventEnvelope,
  type PutManifest,
  type RequestOf,
} from '@berth/contracts';
import { digestOf, MediaType } from '@berth/oci';
import { FilesystemDriver, RegistryStorage } from '@berth/storage';
import { openDatabase, type Database } from '@berth/db';
import { Outbox, outboxEvent } from '@berth/outbox';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import { ManifestCache } from './manifest.cache';
import { ManifestRepository } from './manifest.repository';
import { LIST_REPLY_BUDGET_BYTES, MetadataService } from './metadata.service';
import { StoredManifests } from './stored-manifests';

const d = (c: string) => `sha256:${c.repeat(64)}`;

describe('MetadataService on PostgreSQL', () => {
  let testDb: TestDatabase;
  let database: Database;
  let bus: InProcessBus;
  let nudges: number;
  let sut: MetadataService;
  let root: string;
  let storage: FilesystemDriver;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = await openDatabase({ url: testDb.url, embeddedDir: '' });
    root = await mkdtemp(join(tmpdir(), 'berth-metadata-'));
    storage = new FilesystemDriver(root);
  });

  afterAll(async () => {
    await database.close();
    await testDb.drop();
    await rm(root, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await database.client.$executeRaw`DELETE FROM events.event_outbox`;
    bus = new InProcessBus();
    nudges = 0;
    sut = new MetadataService(
      new ManifestRepository(
        database.client,
        new Outbox(() => {
          nudges++;
        }),
      ),
      new ManifestCache(100),
      bus,
      new StoredManifests(storage),
    );
  });

  afterEach(async () => {
    await bus.close();
  });

  /** The events written so far, in outbox order. */
  async function events(): Promise<{ subject: string; payload: Record<string, unknown> }[]> {
    return database.client.$queryRaw`SELECT subject, payload FROM events.event_outbox ORDER BY seq`;
  }

  async function linkBlob(repository: string, digest: string): Promise<void> {
    await database.client
      .$executeRaw`INSERT INTO registry.blob (digest, size) VALUES (${digest}, 1) ON CONFLICT DO NOTHING`;
    await database.client
      .$executeRaw`INSERT INTO registry.repository (name) VALUES (${repository}) ON CONFLICT DO NOTHING`;
    await database.client.$executeRaw`
      INSERT INTO registry.repository_blob (repository_id, digest) SELECT id, ${digest} FROM registry.repository WHERE name = ${repository}`;
  }

  /** What a test manifest holds; `variant` makes manifests of the same shape differ. */
  interface ManifestShape {
    readonly variant?: string;
    readonly blobs?: readonly string[];
    readonly children?: readonly { readonly digest: string; readonly size: number }[];
    readonly subject?: string;
    readonly artifactType?: string;
    readonly annotations?: Record<string, string>;
  }

  /**
   * Stores a real manifest of that shape, as the gateway would (its bytes under its digest), and
   * returns the request that records it: an image manifest with the blobs as config and layers
   * (by default the one config blob `d('1')`), or an index of `children`.
   */
  async function manifest(
    repository: string,
    shape: ManifestShape = {},
    extra: Partial<RequestOf<typeof PutManifest>> = {},
  ) {
    const descriptor = (digest: string, mediaType: string, size: number) => ({ mediaType, digest, size });
    const annotations = { 'test.variant': shape.variant ?? '', ...shape.annotations };
    const subject =
      shape.subject === undefined ? {} : { subject: descriptor(shape.subject, MediaType.OciManifest, 2) };
    const artifactType = shape.artifactType === undefined ? {} : { artifactType: shape.artifactType };
    const [config = d('1'), ...layers] = shape.blobs ?? [d('1')];
    const body =
      shape.children !== undefined
        ? {
            schemaVersion: 2,
            mediaType: MediaType.OciIndex,
            manifests: shape.children.map((c) => descriptor(c.digest, MediaType.OciManifest, c.size)),
            annotations,
            ...subject,
            ...artifactType,
          }
        : {
            schemaVersion: 2,
            mediaType: MediaType.OciManifest,
            config: descriptor(config, 'application/vnd.oci.image.config.v1+json', 1),
            layers: layers.map((digest) => descriptor(digest, 'application/vnd.oci.image.layer.v1.tar', 1)),
            annotations,
            ...subject,
            ...artifactType,
          };
    const bytes = Buffer.from(JSON.stringify(body));
    const digest = digestOf(bytes, 'sha256');
    await new RegistryStorage(storage).putBlob(digest, bytes);
    return {
      repository,
      digest,
      contentType: body.mediaType,
      size: bytes.length,
      tags: [] as string[],
      requestId: 'req-1',
      actor: 'alice' as string | null,
      ...extra,
    };
  }

  it('records a manifest, resolves it by tag and digest, and writes its events to the outbox', async () => {
    await linkBlob('a/one', d('1'));
    const one = await manifest('a/one', {}, { tags: ['v1', 'latest'] });
    await expect(sut.put(one)).resolves.toEqual({ created: true });
    await expect(sut.resolve('a/one', 'v1')).resolves.toMatchObject({ digest: one.digest, size: one.size });
    await expect(sut.resolve('a/one', one.digest)).resolves.toMatchObject({ digest: one.digest });
    await expect(sut.put({ ...one, tags: [] })).resolves.toEqual({ created: false });
    const written = await events();
    expect(written.map((e) => e.subject)).toEqual([
      ManifestPushed.subject,
      TagCreated.subject,
      TagCreated.subject,
      ManifestPushed.subject,
    ]);
    expect(written[0]?.payload).toEqual({
      id: expect.any(String) as unknown,
      occurredAt: expect.any(String) as unknown,
      requestId: 'req-1',
      actor: 'alice',
      project: 'a',
      repository: 'a/one',
      digest: one.digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: one.size,
      artifactType: 'application/vnd.oci.image.config.v1+json',
      tags: ['v1', 'latest'],
    });
    expect(nudges).toBe(2);
    const published = await database.client.$queryRaw<{ count: bigint }[]>`
      SELECT count(*) AS count FROM events.event_outbox WHERE published_at IS NOT NULL`;
    expect(published[0]?.count).toBe(0n);
  });

  it('reads what it records from storage: bytes that are missing, of another size or digest, or no manifest are refused', async () => {
    await linkBlob('a/bytes', d('1'));
    const stored = await manifest('a/bytes', { variant: 'bytes' }, { tags: ['v1'] });
    const refusals = [
      { ...stored, digest: d('9') },
      { ...stored, size: stored.size + 1 },
    ];
    const garbage = Buffer.from('not a manifest');
    const garbageDigest = digestOf(garbage, 'sha256');
    await new RegistryStorage(storage).putBlob(garbageDigest, garbage);
    refusals.push({ ...stored, digest: garbageDigest, size: garbage.length });
    for (const request of refusals)
      await expect(sut.put(request)).rejects.toMatchObject({ code: 'MANIFEST_INVALID' });
    await expect(sut.resolve('a/bytes', 'v1')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    expect(await events()).toEqual([]);
  });

  it('refuses a manifest whose blobs are not in the repository, and stores nothing, events included', async () => {
    await linkBlob('a/other', d('1'));
    await expect(sut.put(await manifest('a/two', {}, { tags: ['v1'] }))).rejects.toMatchObject({
      code: 'MANIFEST_BLOB_UNKNOWN',
    });
    await expect(sut.resolve('a/two', 'v1')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    // Not even the repository the push would have created.
    await expect(sut.listTags({ repository: 'a/two', limit: 10, last: null })).rejects.toMatchObject({
      code: 'NAME_UNKNOWN',
    });
    expect(await events()).toEqual([]);
    expect(nudges).toBe(0);
  });

  it('writes the events in the transaction of the change: an event that cannot be written undoes the change', async () => {
    const repository = new ManifestRepository(database.client, new Outbox());
    const record = {
      repository: 'a/atomic',
      digest: d('a'),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 1,
      artifactType: null,
      subjectDigest: null,
      annotations: null,
      blobDigests: [],
      manifestDigests: [],
      tags: ['v1'],
    };
    // A payload its contract refuses (no digest) fails the write, inside the transaction.
    const broken = outboxEvent(TagDeleted, { ...eventEnvelope('a/atomic', null, null), tag: 'v1' } as never);
    await expect(repository.save(record, () => [broken])).rejects.toThrow();
    await expect(sut.resolve('a/atomic', 'v1')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    expect(await events()).toEqual([]);
    await repository.save(record, () => []);
    await expect(sut.resolve('a/atomic', 'v1')).resolves.toMatchObject({ digest: d('a') });
  });

  it('announces a tag only when a push creates it or moves it to another manifest', async () => {
    await linkBlob('a/tags', d('1'));
    const a = await manifest('a/tags', { variant: 'a' });
    const b = await manifest('a/tags', { variant: 'b' });
    await sut.put({ ...a, tags: ['v1'] });
    await sut.put({ ...a, tags: ['v1', 'v2'] });
    await sut.put({ ...b, tags: ['v1'] });
    await sut.put({ ...b, tags: ['v1'] });
    const tagged = (await events()).filter((e) => e.subject === TagCreated.subject).map((e) => e.payload);
    expect(tagged).toEqual([
      expect.objectContaining({ tag: 'v1', digest: a.digest, previousDigest: null, actor: 'alice' }),
      expect.objectContaining({ tag: 'v2', digest: a.digest, previousDigest: null }),
      expect.objectContaining({
        tag: 'v1',
        digest: b.digest,
        previousDigest: a.digest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
      }),
    ]);
  });

  it('announces a repository once, when the push that creates it commits', async () => {
    // An index without children references nothing: the one push that can create its repository.
    await sut.put(
      await manifest('a/new-repo', { children: [], variant: 'a' }, { tags: ['v1'], actor: null }),
    );
    await sut.put(await manifest('a/new-repo', { children: [], variant: 'b' }, { tags: ['v2'] }));
    const written = await events();
    expect(written.filter((e) => e.subject === RepositoryCreated.subject).map((e) => e.payload)).toEqual([
      expect.objectContaining({ repository: 'a/new-repo', project: 'a', actor: null, requestId: 'req-1' }),
    ]);
    expect(written[0]?.subject).toBe(RepositoryCreated.subject);
  });

  it('moves a tag and the cache follows at once', async () => {
    await linkBlob('a/three', d('1'));
    const c = await manifest('a/three', { variant: 'c' }, { tags: ['moving'] });
    const e = await manifest('a/three', { variant: 'd' }, { tags: ['moving'] });
    await sut.put(c);
    await expect(sut.resolve('a/three', 'moving')).resolves.toMatchObject({ digest: c.digest });
    await sut.put(e);
    await expect(sut.resolve('a/three', 'moving')).resolves.toMatchObject({ digest: e.digest });
  });

  it('deletes a tag, then a manifest with its tags, writing both events', async () => {
    await linkBlob('a/four', d('1'));
    const { digest } = await manifest('a/four', { variant: 'e' }, { tags: ['x', 'y'] }).then(async (m) => {
      await sut.put(m);
      return m;
    });
    await sut.delete({ repository: 'a/four', reference: 'x', requestId: 'req-2', actor: 'robot$ci' });
    await expect(sut.resolve('a/four', 'x')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await sut.delete({ repository: 'a/four', reference: digest, requestId: null, actor: null });
    await expect(sut.resolve('a/four', 'y')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await expect(
      sut.delete({ repository: 'a/four', reference: digest, requestId: null, actor: null }),
    ).rejects.toMatchObject({
      code: 'MANIFEST_UNKNOWN',
    });
    await expect(
      sut.delete({ repository: 'a/four', reference: 'x', requestId: null, actor: null }),
    ).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    const written = (await events()).filter((e) => e.subject !== TagCreated.subject);
    expect(written.map((e) => e.subject)).toEqual([
      ManifestPushed.subject,
      TagDeleted.subject,
      ManifestDeleted.subject,
    ]);
    expect(written[1]?.payload).toMatchObject({
      tag: 'x',
      digest,
      actor: 'robot$ci',
      requestId: 'req-2',
      project: 'a',
    });
    expect(written[2]?.payload).toMatchObject({ digest, tags: ['y'], actor: null });
  });

  it('requires the children of an index to be in the repository', async () => {
    await linkBlob('a/five', d('1'));
    const child = await manifest('a/five', { variant: 'f' });
    await sut.put(child);
    const index = await manifest('a/five', { children: [child] });
    await expect(sut.put(index)).resolves.toEqual({ created: true });
    const missing = await manifest('a/five', { children: [{ digest: d('8'), size: 100 }] });
    await expect(sut.put(missing)).rejects.toMatchObject({ code: 'MANIFEST_BLOB_UNKNOWN' });
  });

  it('pages tags and repositories in byte order', async () => {
    await linkBlob('b/six', d('1'));
    await sut.put(await manifest('b/six', {}, { tags: ['b', 'B', 'a', '_z', '10', '9'] }));
    const first = await sut.listTags({ repository: 'b/six', limit: 4, last: null });
    expect(first).toEqual({ tags: ['10', '9', 'B', '_z'], more: true });
    await expect(sut.listTags({ repository: 'b/six', limit: 4, last: '_z' })).resolves.toEqual({
      tags: ['a', 'b'],
      more: false,
    });
    await expect(sut.listTags({ repository: 'nope/nope', limit: 4, last: null })).rejects.toMatchObject({
      code: 'NAME_UNKNOWN',
    });
    const repositories = await sut.listRepositories({ limit: 100, last: 'a/zzz', projects: null });
    expect(repositories.repositories).toEqual(['b/six']);
  });

  it('lists only the repositories of the given projects, one-segment names under library', async () => {
    await linkBlob('solo', d('1'));
    await sut.put(await manifest('solo', {}, { tags: ['t'] }));
    await linkBlob('team/app', d('1'));
    await sut.put(await manifest('team/app', {}, { tags: ['t'] }));
    const library = await sut.listRepositories({ limit: 100, last: null, projects: ['library'] });
    expect(library.repositories).toEqual(['solo']);
    const team = await sut.listRepositories({ limit: 100, last: null, projects: ['team', 'other'] });
    expect(team.repositories).toEqual(['team/app']);
    const none = await sut.listRepositories({ limit: 100, last: null, projects: [] });
    expect(none).toEqual({ repositories: [], more: false });
  });

  it('lists referrers of a subject with their artifact types', async () => {
    await linkBlob('c/seven', d('1'));
    const sbom = await manifest('c/seven', {
      subject: d('0'),
      artifactType: 'application/sbom',
      annotations: { k: 'v' },
    });
    const signature = await manifest('c/seven', { subject: d('0'), artifactType: 'application/sig' });
    await sut.put(sbom);
    await sut.put(signature);
    const all = await sut.listReferrers({
      repository: 'c/seven',
      digest: d('0'),
      artifactType: null,
      after: null,
    });
    expect(all.referrers).toEqual([
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sbom.digest,
        size: sbom.size,
        artifactType: 'application/sbom',
        annotations: { 'test.variant': '', k: 'v' },
      },
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: signature.digest,
        size: signature.size,
        artifactType: 'application/sig',
        annotations: { 'test.variant': '' },
      },
    ]);
    const sboms = await sut.listReferrers({
      repository: 'c/seven',
      digest: d('0'),
      artifactType: 'application/sbom',
      after: null,
    });
    expect(sboms.referrers.map((r) => r.digest)).toEqual([sbom.digest]);
  });

  it('ends a page of tags early when it would not fit in a bus message, and the next page goes on', async () => {
    await linkBlob('d/many', d('1'));
    const all: string[] = [];
    for (let batch = 0; batch < 60; batch++) {
      const tags = Array.from(
        { length: 100 },
        (_, i) => `${String(batch * 100 + i).padStart(5, '0')}-${'x'.repeat(120)}`,
      );
      all.push(...tags);
      await sut.put(await manifest('d/many', { variant: `many-${batch}` }, { tags }));
    }
    const listed: string[] = [];
    let last: string | null = null;
    for (;;) {
      const page = await sut.listTags({ repository: 'd/many', limit: 10_000, last });
      expect(JSON.stringify(page).length).toBeLessThanOrEqual(LIST_REPLY_BUDGET_BYTES + 100);
      listed.push(...page.tags);
      if (!page.more) break;
      last = page.tags.at(-1) ?? null;
    }
    expect(listed).toEqual(all);
    const catalog = await sut.listRepositories({ limit: 10_000, last: null, projects: ['d'] });
    expect(catalog).toEqual({ repositories: ['d/many'], more: false });
  });

  it('pages referrers by bytes, and lists one with huge annotations without them', async () => {
    await linkBlob('e/sig', d('1'));
    const big = 'a'.repeat(40 * 1024);
    const referrers = [];
    for (let i = 0; i < 15; i++) {
      const variant = `r${i}`;
      const stored = await manifest('e/sig', { variant, subject: d('0'), annotations: { big } });
      await sut.put(stored);
      referrers.push(stored.digest);
    }
    const huge = await manifest('e/sig', {
      variant: 'r4',
      subject: d('0'),
      annotations: { big: big.repeat(5) },
    });
    await sut.put(huge);
    referrers.push(huge.digest);
    const pages = [];
    let after: string | null = null;
    for (;;) {
      const page = await sut.listReferrers({
        repository: 'e/sig',
        digest: d('0'),
        artifactType: null,
        after,
      });
      expect(JSON.stringify(page).length).toBeLessThanOrEqual(LIST_REPLY_BUDGET_BYTES + 1024);
      pages.push(page.referrers);
      if (!page.more) break;
      after = page.referrers.at(-1)?.digest ?? null;
    }
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.flat().map((r) => r.digest)).toEqual(referrers);
    expect(pages.flat().at(-1)?.annotations).toBeUndefined();
    expect(pages.flat()[0]?.annotations?.['big']).toBe(big);
  });
});
