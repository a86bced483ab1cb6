import { InProcessBus } from '@berth/bus';
import {
  ManifestDeleted,
  ManifestPushed,
  TagDeleted,
  type PutManifest,
  type RequestOf,
} from '@berth/contracts';
import { openDatabase, type Database } from '@berth/db';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import pino from 'pino';
import { ManifestCache } from './manifest.cache';
import { ManifestRepository } from './manifest.repository';
import { MetadataService } from './metadata.service';

const d = (c: string) => `sha256:${c.repeat(64)}`;

describe('MetadataService on PostgreSQL', () => {
  let testDb: TestDatabase;
  let database: Database;
  let bus: InProcessBus;
  let events: { subject: string; payload: unknown }[];
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
    bus = new InProcessBus();
    events = [];
    const record = (subject: string) => (payload: unknown) => {
      events.push({ subject, payload });
      return Promise.resolve();
    };
    await bus.subscribe(ManifestPushed, { durable: 'test' }, record(ManifestPushed.subject));
    await bus.subscribe(ManifestDeleted, { durable: 'test' }, record(ManifestDeleted.subject));
    await bus.subscribe(TagDeleted, { durable: 'test' }, record(TagDeleted.subject));
    sut = new MetadataService(
      new ManifestRepository(database.client),
      new ManifestCache(100),
      bus,
      pino({ level: 'silent' }),
    );
  });

  afterEach(async () => {
    await bus.close();
  });

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
      ...extra,
    };
  }

  async function settle(): Promise<void> {
    await new Promise((r) => setTimeout(r, 20));
  }

  it('records a manifest, resolves it by tag and digest, and emits one push event', async () => {
    await linkBlob('a/one', d('1'));
    await expect(sut.put(manifest('a/one', d('a'), { tags: ['v1', 'latest'] }))).resolves.toEqual({
      created: true,
    });
    await expect(sut.resolve('a/one', 'v1')).resolves.toMatchObject({ digest: d('a'), size: 100 });
    await expect(sut.resolve('a/one', d('a'))).resolves.toMatchObject({ digest: d('a') });
    await expect(sut.put(manifest('a/one', d('a')))).resolves.toEqual({ created: false });
    await settle();
    expect(events.filter((e) => e.subject === ManifestPushed.subject)).toHaveLength(2);
    expect(events[0]?.payload).toMatchObject({
      repository: 'a/one',
      digest: d('a'),
      tags: ['v1', 'latest'],
      requestId: 'req-1',
    });
  });

  it('refuses a manifest whose blobs are not in the repository, and stores nothing', async () => {
    await linkBlob('a/other', d('1'));
    await expect(sut.put(manifest('a/two', d('b'), { tags: ['v1'] }))).rejects.toMatchObject({
      code: 'MANIFEST_BLOB_UNKNOWN',
    });
    await expect(sut.resolve('a/two', 'v1')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await settle();
    expect(events).toEqual([]);
  });

  it('moves a tag and the cache follows at once', async () => {
    await linkBlob('a/three', d('1'));
    await sut.put(manifest('a/three', d('c'), { tags: ['moving'] }));
    await expect(sut.resolve('a/three', 'moving')).resolves.toMatchObject({ digest: d('c') });
    await sut.put(manifest('a/three', d('d'), { tags: ['moving'] }));
    await expect(sut.resolve('a/three', 'moving')).resolves.toMatchObject({ digest: d('d') });
  });

  it('deletes a tag, then a manifest with its tags, emitting both events', async () => {
    await linkBlob('a/four', d('1'));
    await sut.put(manifest('a/four', d('e'), { tags: ['x', 'y'] }));
    await sut.delete({ repository: 'a/four', reference: 'x', requestId: null });
    await expect(sut.resolve('a/four', 'x')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await sut.delete({ repository: 'a/four', reference: d('e'), requestId: null });
    await expect(sut.resolve('a/four', 'y')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await expect(
      sut.delete({ repository: 'a/four', reference: d('e'), requestId: null }),
    ).rejects.toMatchObject({
      code: 'MANIFEST_UNKNOWN',
    });
    await settle();
    expect(events.map((e) => e.subject)).toEqual([
      ManifestPushed.subject,
      TagDeleted.subject,
      ManifestDeleted.subject,
    ]);
    expect(events[2]?.payload).toMatchObject({ digest: d('e'), tags: ['y'] });
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
