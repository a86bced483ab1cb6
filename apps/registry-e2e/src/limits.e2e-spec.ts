import { Agent, request as httpRequest } from 'node:http';
import { startBerth, type RunningBerth } from '@berth/testing';
import { basicAuth, provisionRobot } from './support/auth';
import {
  OciClient,
  errorCodes,
  jsonBlob,
  randomBlob,
  repoName,
  type Credentials,
  type TestBlob,
} from './support/oci-client';
import { SHAPES } from './support/shapes';

/** What a raw HTTP exchange ended with: the answer if one was read, and any socket error after it. */
interface Exchange {
  readonly status: number | null;
  readonly body: string;
  readonly error: string | null;
}

/**
 * Sends `size` bytes of spaces as a request body, 64 KiB at a time with backpressure, as a client
 * streaming a large body does, and reports the answer even if the server answers early.
 */
function sendBody(
  url: string,
  options: { method: string; headers: Record<string, string>; size: number; chunked?: boolean },
): Promise<Exchange> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return new Promise<Exchange>((resolve) => {
    const target = new URL(url);
    let status: number | null = null;
    let body = '';
    let error: string | null = null;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      agent.destroy();
      resolve({ status, body, error });
    };
    const request = httpRequest({
      host: target.hostname,
      port: target.port,
      method: options.method,
      path: `${target.pathname}${target.search}`,
      // A connection of its own, kept alive as registry clients keep theirs: one left from an earlier
      // exchange may be one the server half-closed after a refused body, that exchange's business.
      agent,
      headers:
        options.chunked === true
          ? options.headers
          : { ...options.headers, 'content-length': String(options.size) },
    });
    request.on('response', (response) => {
      status = response.statusCode ?? null;
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', settle);
      response.on('error', settle);
    });
    request.on('error', (failure: NodeJS.ErrnoException) => {
      error = failure.code ?? failure.message;
      // The answer may have been read already; a reset after it is what the client then sees.
      if (status === null) settle();
    });
    request.on('close', settle);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const write = (): void => {
      while (sent < options.size) {
        const piece = chunk.subarray(0, Math.min(chunk.length, options.size - sent));
        sent += piece.length;
        if (!request.write(piece)) {
          request.once('drain', write);
          return;
        }
      }
      request.end();
    };
    write();
  });
}

/** A registry token for scopes, from the token endpoint with Basic credentials. */
async function tokenFor(berth: RunningBerth, as: Credentials, scopes: readonly string[]): Promise<string> {
  const url = new URL(`${berth.authUrl}/token`);
  url.searchParams.set('service', 'berth');
  for (const scope of scopes) url.searchParams.append('scope', scope);
  const response = await fetch(url, { headers: { authorization: basicAuth(as) } });
  return ((await response.json()) as { token: string }).token;
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** A descriptor of a test blob. */
function descriptorOf(
  blob: TestBlob,
  mediaType: string,
): { mediaType: string; digest: string; size: number } {
  return { mediaType, digest: blob.digest, size: blob.bytes.length };
}

/** Pushes many small blobs, a few at a time. */
async function pushBlobs(client: OciClient, name: string, blobs: readonly TestBlob[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < blobs.length) {
      const blob = blobs[next++];
      if (blob) await client.pushBlob(name, blob);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

// Limits of what Berth accepts, and how it refuses the rest: text PostgreSQL cannot store, bodies
// refused before they are read, and manifests as large as the spec asks registries to take.
describe.each(SHAPES)('limits: $label', (shape) => {
  let berth: RunningBerth;
  let robot: Credentials;
  let sut: OciClient;

  beforeAll(async () => {
    berth = await startBerth(shape);
    robot = await provisionRobot(berth);
    sut = new OciClient(berth.url, robot);
  });

  afterAll(async () => {
    await berth.stop();
  });

  describe('text that PostgreSQL cannot store', () => {
    it('refuses a manifest with an unpaired surrogate or a U+0000 with 400 MANIFEST_INVALID', async () => {
      const name = repoName();
      const { manifest } = await sut.pushImage(name, 'ok');
      const text = manifest.bytes.toString('utf8');
      for (const bad of [String.raw`"\ud800"`, String.raw`"a\u0000b"`]) {
        const bytes = Buffer.from(text.replace(/}$/, `,"annotations":{"k":${bad}}}`));
        const response = await sut.putManifest(name, 'bad', { bytes, digest: '' });
        expect(response.status).toBe(400);
        expect(await errorCodes(response)).toEqual(['MANIFEST_INVALID']);
      }
      expect((await sut.request('GET', `/v2/${name}/manifests/bad`)).status).toBe(404);
    });

    it('pages the catalog and tags past a cursor with a U+0000 or an unpaired surrogate', async () => {
      const name = repoName();
      await sut.pushImage(name, 'v1');
      for (const last of ['%00', 'a%00b', '%ED%A0%80', `${encodeURIComponent(name)}%00`]) {
        expect((await sut.request('GET', `/v2/_catalog?last=${last}`)).status).toBe(200);
        const tags = await sut.request('GET', `/v2/${name}/tags/list?last=${last}`);
        expect(tags.status).toBe(200);
      }
      const past = await sut.request('GET', `/v2/${name}/tags/list?last=v1%00`);
      expect(await past.json()).toEqual({ name, tags: [] });
    });

    it('finds no referrers for an artifact type no manifest can have', async () => {
      const name = repoName();
      const { manifest } = await sut.pushImage(name, 'v1');
      const response = await sut.request('GET', `/v2/${name}/referrers/${manifest.digest}?artifactType=%00`);
      expect(response.status).toBe(200);
      expect(response.headers.get('oci-filters-applied')).toBe('artifactType');
      expect(((await response.json()) as { manifests: unknown[] }).manifests).toEqual([]);
    });

    it('answers the management API and the token endpoint with 400 problem details, never 500', async () => {
      const cases: [string, string, unknown][] = [
        ['POST', '/api/v1/projects', { name: 'a\u0000b' }],
        ['POST', '/api/v1/users', { username: 'x\ud800', password: 'long-enough-password' }],
        ['POST', '/api/v1/robots', { name: 'r', description: '\u0000', permissions: [] }],
        ['POST', '/api/v1/projects/e2e/webhooks', { name: '\ud800', url: 'https://example.com' }],
        ['GET', '/api/v1/projects/a%00b', undefined],
        ['GET', '/api/v1/audit-logs?actor=%00', undefined],
        ['GET', '/token?service=berth&scope=repository:e2e/x:pull&client_id=%00', undefined],
      ];
      for (const [method, path, body] of cases) {
        const base = path.startsWith('/api/v1/projects/e2e/webhooks') ? berth.webhooksUrl : berth.authUrl;
        const response = await fetch(`${base}${path}`, {
          method,
          headers: {
            authorization: basicAuth(berth.admin),
            ...(body !== undefined && { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        expect([method, path, response.status]).toEqual([method, path, 400]);
        expect(response.headers.get('content-type')).toContain('application/problem+json');
      }
    });

    it('refuses Basic credentials with a U+0000 as wrong, everywhere, never 500', async () => {
      const authorization = basicAuth({ username: 'ad\u0000min', password: 'x\ud800' });
      const token = await fetch(`${berth.authUrl}/token?service=berth&scope=repository:e2e/x:pull`, {
        headers: { authorization },
      });
      expect(token.status).toBe(401);
      const registry = await fetch(`${berth.url}/v2/e2e/x/tags/list`, { headers: { authorization } });
      expect(registry.status).toBe(401);
      const management = await fetch(`${berth.authUrl}/api/v1/projects`, { headers: { authorization } });
      expect(management.status).toBe(401);
    });
  });

  describe('bodies refused before they are read', () => {
    it('lets a client read the 413 of an oversized manifest, declared or chunked, small or far past the limit', async () => {
      const name = repoName();
      const token = await tokenFor(berth, robot, [`repository:${name}:pull,push`]);
      const headers = { authorization: `Bearer ${token}`, 'content-type': OCI_MANIFEST };
      const url = `${berth.url}/v2/${name}/manifests/big`;
      for (const [size, chunked] of [
        [5_000_000, false],
        [5_000_000, true],
        [40_000_000, false],
        [40_000_000, true],
      ] as const) {
        const exchange = await sendBody(url, { method: 'PUT', headers, size, chunked });
        expect([size, chunked, exchange.status]).toEqual([size, chunked, 413]);
        expect(JSON.parse(exchange.body)).toMatchObject({ errors: [{ code: 'MANIFEST_TOO_LARGE' }] });
      }
    });

    it('lets a client read a 416 for a chunk at the wrong offset, and a 401 for a chunk without credentials', async () => {
      const name = repoName();
      const started = await sut.request('POST', `/v2/${name}/blobs/uploads/`);
      expect(started.status).toBe(202);
      const location = sut.location(started);
      const token = await tokenFor(berth, robot, [`repository:${name}:pull,push`]);
      const size = 20_000_000;
      const misplaced = await sendBody(location, {
        method: 'PATCH',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/octet-stream',
          'content-range': `100-${100 + size - 1}`,
        },
        size,
      });
      expect(misplaced.status).toBe(416);
      const anonymous = await sendBody(location, {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream' },
        size,
      });
      expect(anonymous.status).toBe(401);
      // The session is still usable.
      const status = await sut.request('GET', location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-0');
    });

    it('lets a client read the 413 of an oversized JSON body on the management API', async () => {
      const exchange = await sendBody(`${berth.authUrl}/api/v1/projects`, {
        method: 'POST',
        headers: { authorization: basicAuth(berth.admin), 'content-type': 'application/json' },
        size: 3_000_000,
      });
      expect(exchange).toMatchObject({ status: 413 });
      expect(JSON.parse(exchange.body)).toMatchObject({ status: 413 });
    });
  });

  describe('large manifests', () => {
    it('stores and serves a manifest of nearly 4 MiB', async () => {
      const name = repoName();
      const config = jsonBlob({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
      });
      await sut.pushBlob(name, config);
      const shell = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: config.digest,
          size: config.bytes.length,
        },
        layers: [],
        annotations: { padding: '' },
      };
      const room = 4 * 1024 * 1024 - Buffer.byteLength(JSON.stringify(shell)) - 16;
      const manifest = jsonBlob({ ...shell, annotations: { padding: 'p'.repeat(room) } });
      expect(manifest.bytes.length).toBeGreaterThan(3.9 * 1024 * 1024);
      const response = await sut.putManifest(name, 'huge', manifest);
      expect(response.status).toBe(201);
      const served = await sut.request('GET', `/v2/${name}/manifests/huge`, {
        headers: { accept: OCI_MANIFEST },
      });
      expect(served.headers.get('docker-content-digest')).toBe(manifest.digest);
      expect(Buffer.from(await served.arrayBuffer()).equals(manifest.bytes)).toBe(true);
    });

    it('stores a manifest of 10,000 layers', async () => {
      const name = repoName();
      // 1,000 blobs, each layer ten times: the manifest is as large as one of 10,000 distinct
      // layers (2 MB, past a NATS message), without 10,000 uploads.
      const blobs = Array.from({ length: 1_000 }, () => randomBlob(16));
      const config = jsonBlob({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
      });
      await pushBlobs(sut, name, [config, ...blobs]);
      const layers = Array.from({ length: 10_000 }, (_, i) => blobs[i % blobs.length] ?? config);
      const manifest = jsonBlob({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: descriptorOf(config, 'application/vnd.oci.image.config.v1+json'),
        layers: layers.map((layer) => descriptorOf(layer, 'application/vnd.oci.image.layer.v1.tar')),
      });
      expect(manifest.bytes.length).toBeGreaterThan(1024 * 1024);
      const response = await sut.putManifest(name, 'deep', manifest);
      expect(response.status).toBe(201);
      const head = await sut.request('HEAD', `/v2/${name}/manifests/deep`);
      expect(head.headers.get('docker-content-digest')).toBe(manifest.digest);
    });

    it('stores an index of 5,000 manifests', async () => {
      const name = repoName();
      const config = jsonBlob({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
      });
      await sut.pushBlob(name, config);
      // 500 children, each for ten platforms: an index as large as one of 5,000 distinct entries.
      const children = Array.from({ length: 500 }, (_, i) =>
        jsonBlob({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: descriptorOf(config, 'application/vnd.oci.image.config.v1+json'),
          layers: [],
          annotations: { n: String(i) },
        }),
      );
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < children.length) {
            const child = children[next++];
            if (child) expect((await sut.putManifest(name, child.digest, child)).status).toBe(201);
          }
        }),
      );
      const index = jsonBlob({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: Array.from({ length: 5_000 }, (_, i) => ({
          ...descriptorOf(children[i % children.length] ?? config, OCI_MANIFEST),
          platform: { architecture: `arch${Math.floor(i / children.length)}`, os: 'linux' },
        })),
      });
      const response = await sut.putManifest(name, 'wide', index, OCI_INDEX);
      expect(response.status).toBe(201);
      const served = await sut.request('GET', `/v2/${name}/manifests/wide`, {
        headers: { accept: OCI_INDEX },
      });
      expect(Buffer.from(await served.arrayBuffer()).equals(index.bytes)).toBe(true);
    });
  });
});
