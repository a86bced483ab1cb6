import { startBerth, type RunningBerth } from '@berth/testing';
import { provisionRobot } from './support/auth';
import {
  OciClient,
  errorCodes,
  expectStatus,
  jsonBlob,
  randomBlob,
  repoName,
  sha256,
  withQuery,
} from './support/oci-client';
import { SHAPES } from './support/shapes';

// The four workflows of the OCI Distribution Specification v1.1 conformance suite (pull, push,
// content discovery, content management), written from the spec, against each shape of Berth.
describe.each(SHAPES)('OCI conformance: $label', (shape) => {
  let berth: RunningBerth;
  let sut: OciClient;

  beforeAll(async () => {
    berth = await startBerth(shape);
    sut = new OciClient(berth.url, await provisionRobot(berth));
  });

  afterAll(async () => {
    await berth.stop();
  });

  describe('pull', () => {
    it('answers GET /v2/ with the API version header', async () => {
      const response = await sut.request('GET', '/v2/');
      expect(response.status).toBe(200);
      expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    });

    it('serves a pushed manifest by tag and by digest, byte for byte, with its media type', async () => {
      const name = repoName();
      const { manifest } = await sut.pushImage(name, 'v1');
      for (const reference of ['v1', manifest.digest]) {
        const response = await sut.request('GET', `/v2/${name}/manifests/${reference}`, {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toBe('application/vnd.oci.image.manifest.v1+json');
        expect(response.headers.get('docker-content-digest')).toBe(manifest.digest);
        expect(Buffer.from(await response.arrayBuffer()).equals(manifest.bytes)).toBe(true);
      }
    });

    it('answers HEAD on a manifest with its digest and length but no body', async () => {
      const name = repoName();
      const { manifest } = await sut.pushImage(name, 'v1');
      const response = await sut.request('HEAD', `/v2/${name}/manifests/v1`);
      expect(response.status).toBe(200);
      expect(response.headers.get('docker-content-digest')).toBe(manifest.digest);
      expect(response.headers.get('content-length')).toBe(String(manifest.bytes.length));
      expect((await response.arrayBuffer()).byteLength).toBe(0);
    });

    it('serves blobs with GET and HEAD, and byte ranges', async () => {
      const name = repoName();
      const blob = randomBlob(10_000);
      await sut.pushBlob(name, blob);
      const head = await sut.request('HEAD', `/v2/${name}/blobs/${blob.digest}`);
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe('10000');
      expect(head.headers.get('docker-content-digest')).toBe(blob.digest);
      expect(await sut.pulledDigest(name, blob.digest)).toBe(blob.digest);
      const ranged = await sut.request('GET', `/v2/${name}/blobs/${blob.digest}`, {
        headers: { range: 'bytes=100-199' },
      });
      expect(ranged.status).toBe(206);
      expect(ranged.headers.get('content-range')).toBe('bytes 100-199/10000');
      expect(Buffer.from(await ranged.arrayBuffer()).equals(blob.bytes.subarray(100, 200))).toBe(true);
      const suffix = await sut.request('GET', `/v2/${name}/blobs/${blob.digest}`, {
        headers: { range: 'bytes=-10' },
      });
      expect(suffix.status).toBe(206);
      expect(Buffer.from(await suffix.arrayBuffer()).equals(blob.bytes.subarray(9990))).toBe(true);
    });

    it('serves a blob of many read chunks whole to concurrent clients, and ranges across chunk edges', async () => {
      const name = repoName();
      const blob = randomBlob(5 * 1024 * 1024 + 123);
      await sut.pushBlob(name, blob);
      const pulls = await Promise.all(
        [1, 2, 3].map(async () =>
          sha256(
            Buffer.from(await (await sut.request('GET', `/v2/${name}/blobs/${blob.digest}`)).arrayBuffer()),
          ),
        ),
      );
      expect(pulls).toEqual([blob.digest, blob.digest, blob.digest]);
      const edge = await sut.request('GET', `/v2/${name}/blobs/${blob.digest}`, {
        headers: { range: 'bytes=1048000-2098000' },
      });
      expect(edge.status).toBe(206);
      expect(Buffer.from(await edge.arrayBuffer()).equals(blob.bytes.subarray(1048000, 2098001))).toBe(true);
    });

    it('answers a range past the end with 416 and a well-formed error body', async () => {
      const name = repoName();
      const blob = randomBlob(100);
      await sut.pushBlob(name, blob);
      const response = await sut.request('GET', `/v2/${name}/blobs/${blob.digest}`, {
        headers: { range: 'bytes=500-600' },
      });
      expect(response.status).toBe(416);
      expect(response.headers.get('content-range')).toBe('bytes */100');
      expect(await errorCodes(response)).toEqual(['RANGE_INVALID']);
    });

    it('answers unknown manifests and blobs with 404 and the spec codes', async () => {
      const name = repoName();
      await sut.pushImage(name, 'v1');
      const manifest = await sut.request('GET', `/v2/${name}/manifests/nope`);
      expect(manifest.status).toBe(404);
      expect(await errorCodes(manifest)).toEqual(['MANIFEST_UNKNOWN']);
      const blob = await sut.request('GET', `/v2/${name}/blobs/${randomBlob().digest}`);
      expect(blob.status).toBe(404);
      expect(await errorCodes(blob)).toEqual(['BLOB_UNKNOWN']);
      const head = await sut.request('HEAD', `/v2/${name}/blobs/${randomBlob().digest}`);
      expect(head.status).toBe(404);
    });

    it('does not show a blob in a repository it was never pushed or mounted to', async () => {
      const blob = randomBlob();
      await sut.pushBlob(repoName(), blob);
      const response = await sut.request('HEAD', `/v2/${repoName()}/blobs/${blob.digest}`);
      expect(response.status).toBe(404);
    });
  });

  describe('push', () => {
    it('takes a blob in one POST with ?digest=', async () => {
      const name = repoName();
      const blob = randomBlob(5000);
      const response = await sut.request('POST', `/v2/${name}/blobs/uploads/?digest=${blob.digest}`, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': '5000' },
        body: blob.bytes,
      });
      expect(response.status).toBe(201);
      expect(response.headers.get('location')).toBe(`/v2/${name}/blobs/${blob.digest}`);
      expect(response.headers.get('docker-content-digest')).toBe(blob.digest);
      expect((await sut.request('HEAD', `/v2/${name}/blobs/${blob.digest}`)).status).toBe(200);
    });

    it('opens a session with 202, Location, Range and OCI-Chunk-Min-Length', async () => {
      const response = await sut.request('POST', `/v2/${repoName()}/blobs/uploads/`);
      expect(response.status).toBe(202);
      expect(response.headers.get('location')).toMatch(/\/blobs\/uploads\/[0-9a-f-]{36}$/);
      expect(response.headers.get('range')).toBe('0-0');
      expect(Number(response.headers.get('oci-chunk-min-length'))).toBeGreaterThan(0);
    });

    it('takes a blob in ordered chunks, reports progress, and refuses out-of-order chunks with 416', async () => {
      const name = repoName();
      const blob = randomBlob(30_000);
      const started = await sut.request('POST', `/v2/${name}/blobs/uploads/`);
      let location = sut.location(started);
      const chunk = (start: number, end: number) =>
        sut.patchChunk(location, blob.bytes.subarray(start, end), start);
      let response = await chunk(0, 10_000);
      expect(response.status).toBe(202);
      expect(response.headers.get('range')).toBe('0-9999');
      location = sut.location(response);

      // Out of order (a gap) and overlapping: 416, and the session stays usable.
      response = await chunk(20_000, 30_000);
      expect(response.status).toBe(416);
      expect(response.headers.get('range')).toBe('0-9999');
      response = await chunk(5_000, 15_000);
      expect(response.status).toBe(416);

      const status = await sut.request('GET', location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-9999');

      response = await chunk(10_000, 20_000);
      expect(response.status).toBe(202);
      const last = blob.bytes.subarray(20_000);
      const done = await sut.request('PUT', withQuery(sut.location(response), { digest: blob.digest }), {
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': '20000-29999',
          'content-length': '10000',
        },
        body: last,
      });
      expect(done.status).toBe(201);
      expect(await sut.pulledDigest(name, blob.digest)).toBe(blob.digest);
    });

    it('takes a streamed PATCH without Content-Range', async () => {
      const name = repoName();
      const blob = randomBlob(20_000);
      const started = await sut.request('POST', `/v2/${name}/blobs/uploads/`);
      const patched = await sut.request('PATCH', sut.location(started), {
        headers: { 'content-type': 'application/octet-stream' },
        body: blob.bytes,
      });
      expect(patched.status).toBe(202);
      expect(patched.headers.get('range')).toBe('0-19999');
      const done = await sut.request('PUT', withQuery(sut.location(patched), { digest: blob.digest }));
      expect(done.status).toBe(201);
    });

    it('accepts sha512 digests', async () => {
      const name = repoName();
      const bytes = randomBlob(3000).bytes;
      const digest = `sha512:${(await import('node:crypto')).createHash('sha512').update(bytes).digest('hex')}`;
      const started = await sut.request('POST', `/v2/${name}/blobs/uploads/`);
      const done = await sut.request('PUT', withQuery(sut.location(started), { digest }), {
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
      });
      expect(done.status).toBe(201);
      const head = await sut.request('HEAD', `/v2/${name}/blobs/${digest}`);
      expect(head.status).toBe(200);
    });

    it('refuses a body whose digest differs from the claimed one, and stores nothing', async () => {
      const name = repoName();
      const blob = randomBlob();
      const claimed = randomBlob().digest;
      const started = await sut.request('POST', `/v2/${name}/blobs/uploads/`);
      const done = await sut.request('PUT', withQuery(sut.location(started), { digest: claimed }), {
        headers: { 'content-type': 'application/octet-stream' },
        body: blob.bytes,
      });
      expect(done.status).toBe(400);
      expect(await errorCodes(done)).toEqual(['DIGEST_INVALID']);
      expect((await sut.request('HEAD', `/v2/${name}/blobs/${claimed}`)).status).toBe(404);
      expect((await sut.request('HEAD', `/v2/${name}/blobs/${blob.digest}`)).status).toBe(404);
    });

    it('mounts a blob from another repository (201), or falls back to a session (202)', async () => {
      const from = repoName();
      const to = repoName();
      const blob = randomBlob();
      await sut.pushBlob(from, blob);
      const mounted = await sut.request('POST', `/v2/${to}/blobs/uploads/?mount=${blob.digest}&from=${from}`);
      expect(mounted.status).toBe(201);
      expect(mounted.headers.get('location')).toBe(`/v2/${to}/blobs/${blob.digest}`);
      expect((await sut.request('HEAD', `/v2/${to}/blobs/${blob.digest}`)).status).toBe(200);
      const fallback = await sut.request(
        'POST',
        `/v2/${to}/blobs/uploads/?mount=${randomBlob().digest}&from=${from}`,
      );
      expect(fallback.status).toBe(202);
    });

    it('cancels an upload with DELETE; the session is then unknown', async () => {
      const started = await sut.request('POST', `/v2/${repoName()}/blobs/uploads/`);
      const location = sut.location(started);
      expect((await sut.request('DELETE', location)).status).toBe(204);
      const status = await sut.request('GET', location);
      expect(status.status).toBe(404);
      expect(await errorCodes(status)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    });

    it('refuses an upload id of another repository or that does not exist', async () => {
      const started = await sut.request('POST', `/v2/${repoName()}/blobs/uploads/`);
      const id = sut.location(started).split('/').pop() ?? '';
      const elsewhere = await sut.request('GET', `/v2/${repoName()}/blobs/uploads/${id}`);
      expect(elsewhere.status).toBe(404);
      expect(await errorCodes(elsewhere)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
      const unknown = await sut.request(
        'PATCH',
        `/v2/${repoName()}/blobs/uploads/00000000-0000-4000-8000-000000000000`,
        {
          body: 'x',
        },
      );
      expect(unknown.status).toBe(404);
      const garbage = await sut.request('GET', `/v2/${repoName()}/blobs/uploads/not-a-uuid`);
      expect(garbage.status).toBe(404);
    });

    it('pushes a manifest by digest with several tags at once', async () => {
      const name = repoName();
      const { manifest } = await sut.pushImage(name, 'first');
      const response = await sut.request('PUT', `/v2/${name}/manifests/${manifest.digest}?tag=a&tag=b`, {
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: manifest.bytes,
      });
      expect(response.status).toBe(201);
      expect(response.headers.get('docker-content-digest')).toBe(manifest.digest);
      expect(response.headers.get('location')).toBe(`/v2/${name}/manifests/${manifest.digest}`);
      const tags = (await (await sut.request('GET', `/v2/${name}/tags/list`)).json()) as { tags: string[] };
      expect(tags.tags).toEqual(['a', 'b', 'first']);
    });

    it('stores an image index whose children are in the repository, and Docker manifest lists', async () => {
      const name = repoName();
      const amd = await sut.pushImage(name, 'amd64');
      const arm = await sut.pushImage(name, 'arm64');
      for (const mediaType of [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
      ]) {
        const index = jsonBlob({
          schemaVersion: 2,
          mediaType,
          manifests: [
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: amd.manifest.digest,
              size: amd.manifest.bytes.length,
              platform: { architecture: 'amd64', os: 'linux' },
            },
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: arm.manifest.digest,
              size: arm.manifest.bytes.length,
              platform: { architecture: 'arm64', os: 'linux' },
            },
          ],
        });
        const response = await sut.putManifest(name, 'multi', index, mediaType);
        expect(response.status).toBe(201);
        const get = await sut.request('GET', `/v2/${name}/manifests/multi`);
        expect(get.headers.get('content-type')).toBe(mediaType);
        expect(Buffer.from(await get.arrayBuffer()).equals(index.bytes)).toBe(true);
      }
    });

    it('stores Docker schema 2 manifests and any artifact type', async () => {
      const name = repoName();
      const config = jsonBlob({ architecture: 'amd64', os: 'linux' });
      const layer = randomBlob();
      await sut.pushBlob(name, config);
      await sut.pushBlob(name, layer);
      const docker = jsonBlob({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: {
          mediaType: 'application/vnd.docker.container.image.v1+json',
          digest: config.digest,
          size: config.bytes.length,
        },
        layers: [
          {
            mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
            digest: layer.digest,
            size: layer.bytes.length,
          },
        ],
      });
      expect(
        (
          await sut.putManifest(
            name,
            'docker',
            docker,
            'application/vnd.docker.distribution.manifest.v2+json',
          )
        ).status,
      ).toBe(201);
      const empty = jsonBlob({});
      await sut.pushBlob(name, { bytes: Buffer.from('{}'), digest: sha256(Buffer.from('{}')) });
      const artifact = jsonBlob({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.wasm.v1',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty.digest, size: 2 },
        layers: [{ mediaType: 'application/wasm', digest: layer.digest, size: layer.bytes.length }],
      });
      expect((await sut.putManifest(name, 'wasm', artifact)).status).toBe(201);
    });

    it('refuses manifests that are not JSON, have a wrong media type, reference unknown blobs, or are schema 1', async () => {
      const name = repoName();
      const notJson = await sut.putManifest(name, 'x', { bytes: Buffer.from('{nope'), digest: '' });
      expect(notJson.status).toBe(400);
      expect(await errorCodes(notJson)).toEqual(['MANIFEST_INVALID']);

      const { manifest } = await sut.pushImage(name, 'ok');
      const mismatch = await sut.putManifest(name, 'y', manifest, 'application/vnd.oci.image.index.v1+json');
      expect(mismatch.status).toBe(400);
      expect(await errorCodes(mismatch)).toEqual(['MANIFEST_INVALID']);

      const unknownBlob = jsonBlob({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: randomBlob().digest,
          size: 10,
        },
        layers: [],
      });
      const missing = await sut.putManifest(name, 'z', unknownBlob);
      expect(missing.status).toBe(400);
      expect(await errorCodes(missing)).toEqual(['MANIFEST_BLOB_UNKNOWN']);

      const schema1 = await sut.putManifest(
        name,
        'old',
        jsonBlob({ schemaVersion: 1, name, tag: 'old', fsLayers: [] }),
        'application/vnd.docker.distribution.manifest.v1+prettyjws',
      );
      expect(schema1.status).toBe(415);
      expect(await errorCodes(schema1)).toEqual(['UNSUPPORTED']);
      expect((await sut.request('GET', `/v2/${name}/manifests/z`)).status).toBe(404);
    });

    it('refuses a manifest over 4 MiB with 413', async () => {
      const name = repoName();
      const huge = Buffer.alloc(4 * 1024 * 1024 + 10, 0x20);
      const response = await sut.putManifest(name, 'big', { bytes: huge, digest: '' });
      expect(response.status).toBe(413);
      expect(await errorCodes(response)).toEqual(['MANIFEST_TOO_LARGE']);
    });

    it('refuses a manifest whose content does not match the digest it is pushed under', async () => {
      const name = repoName();
      const { manifest } = await sut.pushImage(name, 'ok');
      const response = await sut.putManifest(name, randomBlob().digest, manifest);
      expect(response.status).toBe(400);
      expect(await errorCodes(response)).toEqual(['DIGEST_INVALID']);
    });
  });

  describe('content discovery', () => {
    it('lists tags in lexical order with n, last and Link pagination', async () => {
      const name = repoName();
      const { manifest } = await sut.pushImage(name, 'v0');
      const tags = ['b', 'a', 'c10', 'c2', 'Z', '1.0', 'latest'];
      const put = await sut.request(
        'PUT',
        `/v2/${name}/manifests/${manifest.digest}?${tags.map((t) => `tag=${t}`).join('&')}`,
        {
          headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
          body: manifest.bytes,
        },
      );
      expectStatus(put, 201);
      const all = [...tags, 'v0'].sort();
      const full = (await (await sut.request('GET', `/v2/${name}/tags/list`)).json()) as {
        name: string;
        tags: string[];
      };
      expect(full).toEqual({ name, tags: all });

      const seen: string[] = [];
      let path: string | null = `/v2/${name}/tags/list?n=3`;
      while (path !== null) {
        const response = await sut.request('GET', path);
        expect(response.status).toBe(200);
        seen.push(...((await response.json()) as { tags: string[] }).tags);
        const link = response.headers.get('link');
        path = link === null ? null : (/^<([^>]+)>; rel="next"$/.exec(link)?.[1] ?? null);
      }
      expect(seen).toEqual(all);
      const after = (await (await sut.request('GET', `/v2/${name}/tags/list?last=c2`)).json()) as {
        tags: string[];
      };
      expect(after.tags).toEqual(all.filter((t) => t > 'c2'));
    });

    it('answers tags/list of an unknown repository with NAME_UNKNOWN and a bad n with 400', async () => {
      const unknown = await sut.request('GET', `/v2/${repoName()}/tags/list`);
      expect(unknown.status).toBe(404);
      expect(await errorCodes(unknown)).toEqual(['NAME_UNKNOWN']);
      const name = repoName();
      await sut.pushImage(name, 'v1');
      expect((await sut.request('GET', `/v2/${name}/tags/list?n=-1`)).status).toBe(400);
    });

    it('lists repositories in the catalog with pagination', async () => {
      const prefix = `e2e/cat${Date.now()}`;
      const names = [`${prefix}/b`, `${prefix}/a`, `${prefix}/c`];
      for (const name of names) await sut.pushImage(name, 'v1');
      const all = (await (await sut.request('GET', '/v2/_catalog')).json()) as { repositories: string[] };
      expect(all.repositories.filter((r) => r.startsWith(prefix))).toEqual([...names].sort());
      expect([...all.repositories].sort()).toEqual(all.repositories.slice().sort());
      const page = await sut.request('GET', `/v2/_catalog?n=1&last=${prefix}/a`);
      expect(((await page.json()) as { repositories: string[] }).repositories).toEqual([`${prefix}/b`]);
      expect(page.headers.get('link')).toBe(
        `</v2/_catalog?n=1&last=${encodeURIComponent(`${prefix}/b`)}>; rel="next"`,
      );
    });

    it('lists referrers with artifactType and annotations, filters by artifactType, and sets OCI-Subject', async () => {
      const name = repoName();
      const { manifest: subject } = await sut.pushImage(name, 'v1');
      const empty = { bytes: Buffer.from('{}'), digest: sha256(Buffer.from('{}')) };
      await sut.pushBlob(name, empty);
      const referrer = (artifactType: string, note: string) =>
        jsonBlob({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType,
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty.digest, size: 2 },
          layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: empty.digest, size: 2 }],
          subject: {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: subject.digest,
            size: subject.bytes.length,
          },
          annotations: { note },
        });
      const sbom = referrer('application/spdx+json', 'sbom');
      const sig = referrer('application/vnd.dev.cosign.artifact.sig.v1+json', 'sig');
      for (const artifact of [sbom, sig]) {
        const response = await sut.putManifest(name, artifact.digest, artifact);
        expect(response.status).toBe(201);
        expect(response.headers.get('oci-subject')).toBe(subject.digest);
      }
      const all = await sut.request('GET', `/v2/${name}/referrers/${subject.digest}`);
      expect(all.status).toBe(200);
      expect(all.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
      const index = (await all.json()) as {
        schemaVersion: number;
        manifests: {
          digest: string;
          artifactType: string;
          annotations: Record<string, string>;
          size: number;
        }[];
      };
      expect(index.schemaVersion).toBe(2);
      expect(index.manifests.map((m) => m.digest).sort()).toEqual([sbom.digest, sig.digest].sort());
      expect(index.manifests.find((m) => m.digest === sbom.digest)).toMatchObject({
        artifactType: 'application/spdx+json',
        annotations: { note: 'sbom' },
        size: sbom.bytes.length,
      });
      const filtered = await sut.request(
        'GET',
        `/v2/${name}/referrers/${subject.digest}?artifactType=${encodeURIComponent('application/spdx+json')}`,
      );
      expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
      expect(
        ((await filtered.json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest),
      ).toEqual([sbom.digest]);
      const none = await sut.request('GET', `/v2/${name}/referrers/${randomBlob().digest}`);
      expect(none.status).toBe(200);
      expect(((await none.json()) as { manifests: unknown[] }).manifests).toEqual([]);
      const bad = await sut.request('GET', `/v2/${name}/referrers/sha256:xyz`);
      expect(bad.status).toBe(400);
      expect(await errorCodes(bad)).toEqual(['DIGEST_INVALID']);
    });
  });

  describe('content management', () => {
    it('deletes a tag and keeps the manifest', async () => {
      const name = repoName();
      const { manifest } = await sut.pushImage(name, 'v1');
      expect((await sut.request('DELETE', `/v2/${name}/manifests/v1`)).status).toBe(202);
      expect((await sut.request('GET', `/v2/${name}/manifests/v1`)).status).toBe(404);
      expect((await sut.request('GET', `/v2/${name}/manifests/${manifest.digest}`)).status).toBe(200);
    });

    it('deletes a manifest by digest together with its tags', async () => {
      const name = repoName();
      const { manifest } = await sut.pushImage(name, 'v1');
      expect((await sut.request('DELETE', `/v2/${name}/manifests/${manifest.digest}`)).status).toBe(202);
      expect((await sut.request('GET', `/v2/${name}/manifests/${manifest.digest}`)).status).toBe(404);
      expect((await sut.request('GET', `/v2/${name}/manifests/v1`)).status).toBe(404);
      const again = await sut.request('DELETE', `/v2/${name}/manifests/${manifest.digest}`);
      expect(again.status).toBe(404);
      expect(await errorCodes(again)).toEqual(['MANIFEST_UNKNOWN']);
    });

    it('deletes a blob from a repository', async () => {
      const name = repoName();
      const blob = randomBlob();
      await sut.pushBlob(name, blob);
      expect((await sut.request('DELETE', `/v2/${name}/blobs/${blob.digest}`)).status).toBe(202);
      expect((await sut.request('HEAD', `/v2/${name}/blobs/${blob.digest}`)).status).toBe(404);
      expect((await sut.request('DELETE', `/v2/${name}/blobs/${blob.digest}`)).status).toBe(404);
    });
  });

  describe('bad input', () => {
    it.each([
      ['traversal', '/v2/a/../b/manifests/latest'],
      ['encoded traversal', '/v2/a/%2E%2E/b/manifests/latest'],
      ['upper case', '/v2/Library/app/manifests/latest'],
      ['empty component', '/v2/a//b/manifests/latest'],
      ['leading slash', '/v2//a/b/manifests/latest'],
      ['over 255 characters', `/v2/${'a'.repeat(256)}/manifests/latest`],
    ])('refuses a repository name with %s (NAME_INVALID)', async (_label, path) => {
      const response = await sut.request('GET', path);
      expect([400, 404]).toContain(response.status);
      if (response.status === 400) expect(await errorCodes(response)).toEqual(['NAME_INVALID']);
    });

    it('refuses an upper-case repository name with 400 NAME_INVALID', async () => {
      const response = await sut.request('POST', '/v2/Upper/blobs/uploads/');
      expect(response.status).toBe(400);
      expect(await errorCodes(response)).toEqual(['NAME_INVALID']);
    });

    it.each([
      ['blob GET', 'GET', '/blobs/sha256:abc'],
      ['blob HEAD', 'HEAD', '/blobs/md5:d41d8cd98f00b204e9800998ecf8427e'],
      ['blob DELETE', 'DELETE', '/blobs/sha256:ZZ'],
      ['mount', 'POST', '/blobs/uploads/?mount=sha256:1&from=a/b'],
      ['monolithic upload', 'POST', '/blobs/uploads/?digest=nope:1'],
      ['referrers', 'GET', '/referrers/sha256:'],
    ])('answers a malformed digest in %s with 400 DIGEST_INVALID', async (_label, method, suffix) => {
      const response = await sut.request(method, `/v2/${repoName()}${suffix}`);
      expect(response.status).toBe(400);
      if (method !== 'HEAD') expect(await errorCodes(response)).toEqual(['DIGEST_INVALID']);
    });

    it('refuses to store a manifest under a tag that is too long or has bad characters, naming the tag', async () => {
      const name = repoName();
      const { manifest } = await sut.pushImage(name, 'ok');
      for (const tag of ['t'.repeat(129), '-lead', 'a+b']) {
        const response = await sut.putManifest(name, encodeURIComponent(tag), manifest);
        expect(response.status).toBe(400);
        const body = (await response.json()) as { errors: { code: string; detail: unknown }[] };
        expect(body.errors).toEqual([expect.objectContaining({ code: 'MANIFEST_INVALID', detail: { tag } })]);
      }
      const viaQuery = await sut.request('PUT', `/v2/${name}/manifests/${manifest.digest}?tag=.bad`, {
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: manifest.bytes,
      });
      expect(viaQuery.status).toBe(400);
      expect(await errorCodes(viaQuery)).toEqual(['MANIFEST_INVALID']);
    });

    it.each([
      ['an invalid tag (the conformance suite)', '.INVALID_MANIFEST_NAME'],
      ['a tag over 128 characters', 't'.repeat(129)],
      ['a malformed digest', 'sha256:123'],
      ['an unknown algorithm', 'md5:d41d8cd98f00b204e9800998ecf8427e'],
    ])(
      'answers GET, HEAD and DELETE of a manifest by %s with 404 MANIFEST_UNKNOWN',
      async (_label, reference) => {
        const name = repoName();
        await sut.pushImage(name, 'v1');
        for (const method of ['GET', 'HEAD', 'DELETE']) {
          const response = await sut.request(
            method,
            `/v2/${name}/manifests/${encodeURIComponent(reference)}`,
          );
          expect(response.status).toBe(404);
          if (method !== 'HEAD') expect(await errorCodes(response)).toEqual(['MANIFEST_UNKNOWN']);
        }
      },
    );

    it('refuses more than 100 tags in one manifest PUT', async () => {
      const name = repoName();
      const { manifest } = await sut.pushImage(name, 'ok');
      const tags = Array.from({ length: 101 }, (_, i) => `t${i}`);
      const query = tags.map((tag) => `tag=${tag}`).join('&');
      const response = await sut.request('PUT', `/v2/${name}/manifests/${manifest.digest}?${query}`, {
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: manifest.bytes,
      });
      expect(response.status).toBe(400);
      expect(await errorCodes(response)).toEqual(['MANIFEST_INVALID']);
    });

    it('answers unsupported methods with 405', async () => {
      const response = await sut.request('PATCH', `/v2/${repoName()}/manifests/latest`);
      expect(response.status).toBe(405);
      expect(await errorCodes(response)).toEqual(['UNSUPPORTED']);
    });
  });
});
