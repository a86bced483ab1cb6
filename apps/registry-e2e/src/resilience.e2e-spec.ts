import { request as httpRequest } from 'node:http';
import { mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provisionRobot } from './support/auth';
import { eventually, startBerth, type RunningBerth } from '@berth/testing';
import {
  OciClient,
  errorCodes,
  jsonBlob,
  randomBlob,
  repoName,
  withQuery,
  type Credentials,
} from './support/oci-client';
import { SHAPES } from './support/shapes';

/**
 * Sends `sent` bytes of a body that declares `declared`, then cuts the connection. The write's
 * callback fires once the kernel has taken every byte of `sent`; for more than the socket buffers
 * of both ends hold, that is only once the server is reading the body: the connection is then cut
 * while the server streams the chunk.
 */
function disconnectMidUpload(
  url: string,
  declared: number,
  sent: Buffer,
  auth: Record<string, string>,
): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(url, {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(declared) },
    });
    req.on('error', () => {
      resolve();
    });
    req.write(sent, () => {
      req.destroy();
      resolve();
    });
  });
}

describe.each(SHAPES)('resilience: $label', (shape) => {
  let berth: RunningBerth;
  let robot: Credentials;
  let sut: OciClient;

  beforeAll(async () => {
    berth = await startBerth({ ...shape, gateways: shape.shape === 'distributed' ? 2 : 1 });
    robot = await provisionRobot(berth);
    sut = new OciClient(berth.url, robot);
  });

  afterAll(async () => {
    await berth.stop();
  });

  it('keeps an upload going across a restart of the process that started it', async () => {
    const name = repoName();
    const blob = randomBlob(200_000);
    const started = await sut.request('POST', `/v2/${name}/blobs/uploads/`);
    const location = sut.location(started);
    expect((await sut.patchChunk(location, blob.bytes.subarray(0, 100_000), 0)).status).toBe(202);

    await berth.restartGateway(0);

    expect((await sut.patchChunk(location, blob.bytes.subarray(100_000), 100_000)).status).toBe(202);
    const done = await sut.request('PUT', withQuery(location, { digest: blob.digest }));
    expect(done.status).toBe(201);
    expect(await sut.pulledDigest(name, blob.digest)).toBe(blob.digest);
  });

  it('lets a client continue an upload on another gateway replica', async () => {
    const urls = berth.gatewayUrls;
    const first = new OciClient(urls[0] ?? '', robot);
    const second = new OciClient(urls[urls.length - 1] ?? '', robot);
    const name = repoName();
    const blob = randomBlob(90_000);
    const started = await first.request('POST', `/v2/${name}/blobs/uploads/`);
    const path = started.headers.get('location') ?? '';
    expect((await first.patchChunk(path, blob.bytes.subarray(0, 30_000), 0)).status).toBe(202);
    expect((await second.patchChunk(path, blob.bytes.subarray(30_000, 60_000), 30_000)).status).toBe(202);
    expect((await first.patchChunk(path, blob.bytes.subarray(60_000), 60_000)).status).toBe(202);
    const done = await second.request('PUT', withQuery(`${second.baseUrl}${path}`, { digest: blob.digest }));
    expect(done.status).toBe(201);
    expect(await first.pulledDigest(name, blob.digest)).toBe(blob.digest);
  });

  it('records nothing of a chunk whose client disconnects, and the session stays usable', async () => {
    const name = repoName();
    // Larger than the socket buffers (at most 4 MiB to send, and what a receiver that does not
    // read advertises), so that the cut comes while the gateway reads.
    const blob = randomBlob(24 * 1024 * 1024);
    const started = await sut.request('POST', `/v2/${name}/blobs/uploads/`);
    const location = sut.location(started);
    await disconnectMidUpload(
      location,
      blob.bytes.length,
      blob.bytes.subarray(0, 16 * 1024 * 1024),
      await sut.authHeaders(name),
    );

    const status = await sut.request('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0');
    expect((await sut.request('HEAD', `/v2/${name}/blobs/${blob.digest}`)).status).toBe(404);

    expect((await sut.patchChunk(location, blob.bytes, 0)).status).toBe(202);
    expect((await sut.request('PUT', withQuery(location, { digest: blob.digest }))).status).toBe(201);
  });

  it('releases everything of pulls whose clients disconnect midway, and keeps serving', async () => {
    const name = repoName();
    const blob = randomBlob(8 * 1024 * 1024);
    await sut.pushBlob(name, blob);
    const headers = await sut.authHeaders(name);
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const req = httpRequest(`${berth.url}/v2/${name}/blobs/${blob.digest}`, { headers }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {
          resolve();
        });
        req.end();
      });
    }
    const openBlobFiles = async (): Promise<number> => {
      const counts = await Promise.all(
        berth.pids().map(async (pid) => {
          const fds = await readdir(`/proc/${pid}/fd`);
          const targets = await Promise.all(
            fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')),
          );
          return targets.filter((target) => target.includes('/blobs/sha256/')).length;
        }),
      );
      return counts.reduce((a, b) => a + b, 0);
    };
    // Each aborted pull lets its file go once the server has seen the disconnect.
    await eventually(async () => (await openBlobFiles()) === 0, { timeoutMs: 10_000, intervalMs: 100 });
    expect(await sut.pulledDigest(name, blob.digest)).toBe(blob.digest);
  });

  it('stores one whole blob when two clients push the same blob at once', async () => {
    const name = repoName();
    const blob = randomBlob(300_000);
    await Promise.all([sut.pushBlob(name, blob), sut.pushBlob(name, blob), sut.pushBlob(repoName(), blob)]);
    expect(await sut.pulledDigest(name, blob.digest)).toBe(blob.digest);
  });

  it('leaves a tag on one of two manifests pushed to it at once', async () => {
    const name = repoName();
    const a = await sut.pushImage(name, 'a');
    const b = await sut.pushImage(name, 'b');
    const results = await Promise.all(
      [a.manifest, b.manifest, a.manifest, b.manifest].map((manifest) =>
        sut.putManifest(name, 'race', manifest),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    const head = await sut.request('HEAD', `/v2/${name}/manifests/race`);
    expect([a.manifest.digest, b.manifest.digest]).toContain(head.headers.get('docker-content-digest'));
  });

  it('accepts only one of two chunks racing for the same offset', async () => {
    const name = repoName();
    const left = randomBlob(40_000);
    const right = randomBlob(40_000);
    const started = await sut.request('POST', `/v2/${name}/blobs/uploads/`);
    const location = sut.location(started);
    const statuses = (
      await Promise.all([sut.patchChunk(location, left.bytes, 0), sut.patchChunk(location, right.bytes, 0)])
    ).map((r) => r.status);
    expect([...statuses].sort()).toEqual([202, 416]);
    const winner = statuses[0] === 202 ? left : right;
    const status = await sut.request('GET', location);
    expect(status.headers.get('range')).toBe('0-39999');
    // The stored bytes are exactly the winning chunk: completing with its digest succeeds.
    const done = await sut.request('PUT', withQuery(location, { digest: winner.digest }));
    expect(done.status).toBe(201);
    const pulled = await sut.request('GET', `/v2/${name}/blobs/${winner.digest}`);
    expect(Buffer.from(await pulled.arrayBuffer()).equals(winner.bytes)).toBe(true);
  });

  it('keeps serving manifests pushed before a restart', async () => {
    const name = repoName();
    const { manifest } = await sut.pushImage(name, 'persist');
    await berth.restartGateway(0);
    const response = await sut.request('GET', `/v2/${name}/manifests/persist`);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(manifest.bytes)).toBe(true);
    const index = jsonBlob({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [],
    });
    const put = await sut.putManifest(name, 'empty-index', index, 'application/vnd.oci.image.index.v1+json');
    // The body in the failure message says why, should it ever fail.
    expect({ status: put.status, body: await put.text() }).toMatchObject({ status: 201 });
  });
});

// Filesystem storage in both shapes here, so the test can look at what is left on disk.
describe.each(SHAPES.map((shape) => ({ ...shape, storage: 'filesystem' as const })))(
  'abandoned uploads: $shape',
  (shape) => {
    let berth: RunningBerth;
    let root: string;

    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'berth-sweep-'));
      berth = await startBerth({
        ...shape,
        env: {
          BERTH_STORAGE_ROOT: root,
          BERTH_UPLOAD_TTL_SECONDS: '1',
          BERTH_UPLOAD_SWEEP_INTERVAL_SECONDS: '1',
        },
      });
    });

    afterAll(async () => {
      await berth.stop();
      await rm(root, { recursive: true, force: true });
    });

    it('expire and are swept from storage', async () => {
      const sut = new OciClient(berth.url, await provisionRobot(berth));
      const started = await sut.request('POST', `/v2/${repoName()}/blobs/uploads/`);
      const location = sut.location(started);
      expect((await sut.patchChunk(location, randomBlob(1000).bytes, 0)).status).toBe(202);
      expect(await readdir(join(root, 'uploads'))).toHaveLength(1);

      // A sweep (every second) ends the session (idle past its 1 s TTL), then removes its data.
      // The driver prunes emptied directories, so `uploads` itself may be gone too.
      await eventually(async () => (await readdir(join(root, 'uploads')).catch(() => [])).length === 0, {
        timeoutMs: 15_000,
        intervalMs: 100,
      });
      const status = await sut.request('GET', location);
      expect(status.status).toBe(404);
      expect(await errorCodes(status)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    });
  },
);
