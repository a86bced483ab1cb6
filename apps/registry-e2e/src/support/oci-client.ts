import { createHash, randomBytes } from 'node:crypto';

/** A blob made for a test, with its digest. */
export interface TestBlob {
  readonly bytes: Buffer;
  readonly digest: string;
}

/** Random bytes with their sha256 digest. */
export function randomBlob(size = 1024): TestBlob {
  const bytes = randomBytes(size);
  return { bytes, digest: sha256(bytes) };
}

/** Bytes of a JSON document with their digest. */
export function jsonBlob(value: unknown): TestBlob {
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, digest: sha256(bytes) };
}

/** The sha256 digest of bytes. */
export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A unique repository name for one test, in the project `e2e` that the test robot may use. */
export function repoName(prefix = 'e2e'): string {
  return `e2e/${prefix}-${randomBytes(5).toString('hex')}`;
}

/** A username and password (or robot secret). */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/**
 * A thin OCI Distribution client over fetch. With credentials it does what registry clients do:
 * on a 401 Bearer challenge it gets a token from the realm (with Basic credentials) for the scope
 * asked, and sends the request again; it keeps each repository's token for the next requests.
 * Without credentials, each call is exactly one request.
 */
export class OciClient {
  private readonly tokens = new Map<string, string>();

  constructor(
    readonly baseUrl: string,
    private readonly credentials?: Credentials,
  ) {}

  /** Sends a request to a path (or absolute URL) of the registry. */
  async request(
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: Uint8Array | string } = {},
  ): Promise<Response> {
    const url = path.startsWith('http') ? path : `${this.baseUrl}${path}`;
    const parsed = new URL(url);
    // A mount needs pull on the source too; clients ask for both scopes in one token.
    const from = parsed.searchParams.get('from');
    const repository =
      (/\/v2\/(.+?)\/(?:manifests|blobs|tags|referrers)\//.exec(parsed.pathname)?.[1] ?? '') +
      (from === null ? '' : ` ${from}`);
    const send = (token: string | undefined) =>
      fetch(url, {
        method,
        headers: { ...init.headers, ...(token !== undefined && { authorization: `Bearer ${token}` }) },
        body: init.body,
        redirect: 'manual',
      });
    const response = await send(this.tokens.get(repository));
    const challenge = response.headers.get('www-authenticate');
    if (response.status !== 401 || !this.credentials || challenge?.startsWith('Bearer ') !== true)
      return response;
    await response.arrayBuffer();
    const token = await this.fetchToken(
      from === null ? challenge : challenge.replace(/scope="([^"]*)"/, `scope="$1 repository:${from}:pull"`),
    );
    this.tokens.set(repository, token);
    return send(token);
  }

  /**
   * Headers that authorize a raw request (one not sent through this client) on a repository:
   * the repository's token, fetched first if this client has none yet.
   */
  async authHeaders(repository: string): Promise<Record<string, string>> {
    if (!this.tokens.has(repository))
      await (await this.request('GET', `/v2/${repository}/tags/list`)).arrayBuffer();
    const token = this.tokens.get(repository);
    return token === undefined ? {} : { authorization: `Bearer ${token}` };
  }

  /** Gets a token for a challenge's realm and scope, asking for every action on its repositories. */
  async fetchToken(challenge: string): Promise<string> {
    const params = Object.fromEntries(
      [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map(([, key = '', value = '']) => [key, value]),
    );
    const url = new URL(params['realm'] ?? '');
    url.searchParams.set('service', params['service'] ?? '');
    for (const scope of (params['scope'] ?? '').split(' ').filter(Boolean)) {
      url.searchParams.append(
        'scope',
        scope.replace(/:[^:]*$/, (actions) => (actions === ':*' ? actions : ':pull,push,delete')),
      );
    }
    const { username, password } = this.credentials ?? { username: '', password: '' };
    const response = await fetch(url, {
      headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
    });
    if (response.status !== 200)
      throw new Error(`token endpoint answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { token: string }).token;
  }

  /** Resolves a Location header against the registry. */
  location(response: Response): string {
    const location = response.headers.get('location');
    if (location === null) throw new Error(`no Location on ${response.status}`);
    return new URL(location, this.baseUrl).toString();
  }

  /** PATCH one chunk of an upload, starting at `start`, with its Content-Range. */
  patchChunk(location: string, bytes: Uint8Array, start: number): Promise<Response> {
    return this.request('PATCH', location, {
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${start}-${start + bytes.length - 1}`,
        'content-length': String(bytes.length),
      },
      body: bytes,
    });
  }

  /** GETs a blob and returns the sha256 digest of what came back. */
  async pulledDigest(name: string, digest: string): Promise<string> {
    const response = await this.request('GET', `/v2/${name}/blobs/${digest}`);
    expectStatus(response, 200);
    return sha256(Buffer.from(await response.arrayBuffer()));
  }

  /** POST then PUT with the whole body: the spec's monolithic upload. */
  async pushBlob(name: string, blob: TestBlob): Promise<void> {
    const started = await this.request('POST', `/v2/${name}/blobs/uploads/`);
    expectStatus(started, 202);
    const url = withQuery(this.location(started), { digest: blob.digest });
    const done = await this.request('PUT', url, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.bytes.length) },
      body: blob.bytes,
    });
    expectStatus(done, 201);
  }

  /** Pushes an image manifest of one config and the given layers, all uploaded first. */
  async pushImage(
    name: string,
    tag: string,
    options: { layers?: TestBlob[]; extra?: Record<string, unknown> } = {},
  ): Promise<{ manifest: TestBlob; config: TestBlob; layers: TestBlob[] }> {
    const config = jsonBlob({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      n: randomBytes(4).toString('hex'),
    });
    const layers = options.layers ?? [randomBlob(2048)];
    await this.pushBlob(name, config);
    for (const layer of layers) await this.pushBlob(name, layer);
    const manifest = jsonBlob({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.bytes.length,
      },
      layers: layers.map((layer) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: layer.digest,
        size: layer.bytes.length,
      })),
      ...options.extra,
    });
    const response = await this.putManifest(name, tag, manifest);
    expectStatus(response, 201);
    return { manifest, config, layers };
  }

  /** PUT a manifest with the OCI manifest media type unless another is given. */
  putManifest(
    name: string,
    reference: string,
    manifest: TestBlob,
    mediaType = 'application/vnd.oci.image.manifest.v1+json',
  ) {
    return this.request('PUT', `/v2/${name}/manifests/${reference}`, {
      headers: { 'content-type': mediaType },
      body: manifest.bytes,
    });
  }
}

/** Adds query parameters to a URL that may already have some. */
export function withQuery(url: string, params: Record<string, string>): string {
  const parsed = new URL(url);
  for (const [key, value] of Object.entries(params)) parsed.searchParams.append(key, value);
  return parsed.toString();
}

/** Fails with the response body when the status is not the expected one. */
export function expectStatus(response: Response, status: number): void {
  if (response.status !== status) {
    throw new Error(`expected ${status}, got ${response.status} for ${response.url}`);
  }
}

/** The spec's error codes in a response body. */
export async function errorCodes(response: Response): Promise<string[]> {
  const body = (await response.json()) as { errors?: { code: string }[] };
  return (body.errors ?? []).map((error) => error.code);
}
