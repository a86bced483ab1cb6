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
import { openDatabase, type Database } from '@berth/db';
import { Outbox, outboxEvent } from '@berth/outbox';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import { ManifestCache } from './manifest.cache';
import { ManifestRepository } from './manifest.repository';
import { MetadataService } from './metadata.service';

const d = (c: string) => `sha256:${c.repeat(64)}`;

describe('MetadataService on PostgreSQL', () => {
  let testDb: TestDatabase;
  let database: Database;
  let bus: InProcessBus;
  let nudges: number;
  let sut: MetadataService;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = await openDatabase({ url: testDb.url, embeddedDir: '' });
  });

  afterAll(async () => {
    await database.close();
    await testDb.drop();
  });

  beforeEach(async () => {
    await database.client.$executeRaw`DELETE FROM event_outbox`;
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
    );
  });

  afterEach(async () => {
    await bus.close();
  });

  /** The events written so far, in outbox order. */
  async function events(): Promise<{ subject: string; payload: Record<string, unknown> }[]> {
    return database.client.$queryRaw`SELECT subject, payload FROM event_outbox ORDER BY seq`;
  }

  async function linkBlob(repository: string, digest: string): Promise<void> {
    await database.client
      .$executeRaw`INSERT INTO blob (digest, size) VALUES (${digest}, 1) ON CONFLICT DO NOTHING`;
    await database.client
      .$executeRaw`INSERT INTO repository (name) VALUES (${repository}) ON CONFLICT DO NOTHING`;
    await database.client.$executeRaw`
      INSERT INTO repository_blob (repository_id, digest) SELECT id, ${digest} FROM repository WHERE name = ${repository}`;
  }

  function manifest(repository: string, digest: string, extra: Partial<RequestOf<typeof PutManifest>> = {}) {
    return {
      repository,
      digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 100,
      artifactType: null,
      tags: [],
      blobs: [{ digest: d('1'), mediaType: 'application/vnd.oci.image.config.v1+json', size: 1 }],
      manifests: [],
      subjectDigest: null,
      annotations: null,
      requestId: 'req-1',
      actor: 'alice',
      ...extra,
    };
  }

  it('records a manifest, resolves it by tag and digest, and writes its events to the outbox', async () => {
    await linkBlob('a/one', d('1'));
    await expect(sut.put(manifest('a/one', d('a'), { tags: ['v1', 'latest'] }))).resolves.toEqual({
      created: true,
    });
    await expect(sut.resolve('a/one', 'v1')).resolves.toMatchObject({ digest: d('a'), size: 100 });
    await expect(sut.resolve('a/one', d('a'))).resolves.toMatchObject({ digest: d('a') });
    await expect(sut.put(manifest('a/one', d('a')))).resolves.toEqual({ created: false });
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
      digest: d('a'),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 100,
      artifactType: null,
      tags: ['v1', 'latest'],
    });
    expect(nudges).toBe(2);
    const published = await database.client.$queryRaw<{ count: bigint }[]>`
      SELECT count(*) AS count FROM event_outbox WHERE published_at IS NOT NULL`;
    expect(published[0]?.count).toBe(0n);
  });

  it('refuses a manifest whose blobs are not in the repository, and stores nothing, events included', async () => {
    await linkBlob('a/other', d('1'));
    await expect(sut.put(manifest('a/two', d('b'), { tags: ['v1'] }))).rejects.toMatchObject({
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
    await sut.put(manifest('a/tags', d('a'), { tags: ['v1'] }));
    await sut.put(manifest('a/tags', d('a'), { tags: ['v1', 'v2'] }));
    await sut.put(manifest('a/tags', d('b'), { tags: ['v1'] }));
    await sut.put(manifest('a/tags', d('b'), { tags: ['v1'] }));
    const tagged = (await events()).filter((e) => e.subject === TagCreated.subject).map((e) => e.payload);
    expect(tagged).toEqual([
      expect.objectContaining({ tag: 'v1', digest: d('a'), previousDigest: null, actor: 'alice' }),
      expect.objectContaining({ tag: 'v2', digest: d('a'), previousDigest: null }),
      expect.objectContaining({
        tag: 'v1',
        digest: d('b'),
        previousDigest: d('a'),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
      }),
    ]);
  });

  it('announces a repository once, when the push that creates it commits', async () => {
    // A manifest that references nothing is the one push that can create its repository.
    await sut.put(manifest('a/new-repo', d('a'), { blobs: [], tags: ['v1'], actor: null }));
    await sut.put(manifest('a/new-repo', d('b'), { blobs: [], tags: ['v2'] }));
    const written = await events();
    expect(written.filter((e) => e.subject === RepositoryCreated.subject).map((e) => e.payload)).toEqual([
      expect.objectContaining({ repository: 'a/new-repo', project: 'a', actor: null, requestId: 'req-1' }),
    ]);
    expect(written[0]?.subject).toBe(RepositoryCreated.subject);
  });

  it('moves a tag and the cache follows at once', async () => {
    await linkBlob('a/three', d('1'));
    await sut.put(manifest('a/three', d('c'), { tags: ['moving'] }));
    await expect(sut.resolve('a/three', 'moving')).resolves.toMatchObject({ digest: d('c') });
    await sut.put(manifest('a/three', d('d'), { tags: ['moving'] }));
    await expect(sut.resolve('a/three', 'moving')).resolves.toMatchObject({ digest: d('d') });
  });

  it('deletes a tag, then a manifest with its tags, writing both events', async () => {
    await linkBlob('a/four', d('1'));
    await sut.put(manifest('a/four', d('e'), { tags: ['x', 'y'] }));
    await sut.delete({ repository: 'a/four', reference: 'x', requestId: 'req-2', actor: 'robot$ci' });
    await expect(sut.resolve('a/four', 'x')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await sut.delete({ repository: 'a/four', reference: d('e'), requestId: null, actor: null });
    await expect(sut.resolve('a/four', 'y')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await expect(
      sut.delete({ repository: 'a/four', reference: d('e'), requestId: null, actor: null }),
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
      digest: d('e'),
      actor: 'robot$ci',
      requestId: 'req-2',
      project: 'a',
    });
    expect(written[2]?.payload).toMatchObject({ digest: d('e'), tags: ['y'], actor: null });
  });

  it('requires the children of an index to be in the repository', async () => {
    await linkBlob('a/five', d('1'));
    await sut.put(manifest('a/five', d('f')));
    const index = {
      mediaType: 'application/vnd.oci.image.index.v1+json',
      blobs: [],
      manifests: [{ digest: d('f'), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 100 }],
    };
    await expect(sut.put(manifest('a/five', d('9'), index))).resolves.toEqual({ created: true });
    const missing = { ...index, manifests: [{ ...index.manifests[0]!, digest: d('8') }] };
    await expect(sut.put(manifest('a/five', d('7'), missing))).rejects.toMatchObject({
      code: 'MANIFEST_BLOB_UNKNOWN',
    });
  });

  it('pages tags and repositories in byte order', async () => {
    await linkBlob('b/six', d('1'));
    await sut.put(manifest('b/six', d('2'), { tags: ['b', 'B', 'a', '_z', '10', '9'] }));
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
    await sut.put(manifest('solo', d('2'), { tags: ['t'] }));
    await linkBlob('team/app', d('1'));
    await sut.put(manifest('team/app', d('2'), { tags: ['t'] }));
    const library = await sut.listRepositories({ limit: 100, last: null, projects: ['library'] });
    expect(library.repositories).toEqual(['solo']);
    const team = await sut.listRepositories({ limit: 100, last: null, projects: ['team', 'other'] });
    expect(team.repositories).toEqual(['team/app']);
    const none = await sut.listRepositories({ limit: 100, last: null, projects: [] });
    expect(none).toEqual({ repositories: [], more: false });
  });

  it('lists referrers of a subject with their artifact types', async () => {
    await linkBlob('c/seven', d('1'));
    await sut.put(
      manifest('c/seven', d('3'), {
        subjectDigest: d('0'),
        artifactType: 'application/sbom',
        annotations: { k: 'v' },
      }),
    );
    await sut.put(manifest('c/seven', d('4'), { subjectDigest: d('0'), artifactType: 'application/sig' }));
    const all = await sut.listReferrers({ repository: 'c/seven', digest: d('0'), artifactType: null });
    expect(all.referrers).toEqual([
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: d('3'),
        size: 100,
        artifactType: 'application/sbom',
        annotations: { k: 'v' },
      },
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: d('4'),
        size: 100,
        artifactType: 'application/sig',
      },
    ]);
    const sboms = await sut.listReferrers({
      repository: 'c/seven',
      digest: d('0'),
      artifactType: 'application/sbom',
    });
    expect(sboms.referrers.map((r) => r.digest)).toEqual([d('3')]);
  });
});
