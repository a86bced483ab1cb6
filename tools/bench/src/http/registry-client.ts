import type { Readable } from 'node:stream';
import { BenchFailure } from './bench-failure.error';
import type { HttpClient, HttpRequest, HttpResponse } from './http-client';
import { repositoryScope, type TokenSource } from './token-source';

/** The Accept header a container runtime sends when it resolves a tag. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** A blob the bench knows the digest and size of. */
export interface BlobRef {
  readonly digest: string;
  readonly size: number;
}

/** One page of `GET /v2/<name>/tags/list`. */
export interface TagsPage {
  readonly tags: readonly string[];
  /** The absolute URL of the next page from the `Link` header, or null on the last page. */
  readonly next: URL | null;
}

const MAX_REDIRECTS = 3;

/**
 * The OCI Distribution API v1.1 calls the bench makes, each checking the status and headers the
 * spec requires and throwing {@link BenchFailure} otherwise. With a {@link TokenSource}, every
 * request to the registry carries a Bearer token for its repository (pull and push); redirects to
 * another origin (a storage backend) carry none. Without one, no authentication.
 */
export class RegistryClient {
  private readonly origin: string;

  constructor(
    /** Base URL without a trailing slash. */
    readonly baseUrl: string,
    private readonly http: HttpClient,
    private readonly tokens: TokenSource | null = null,
  ) {
    this.origin = new URL(baseUrl).origin;
  }

  /**
   * Fetches the token for `repo` now unless a fresh one is cached, so that a timed run that
   * follows does not pay for it. A no-op without a token source.
   */
  async authorize(repo: string): Promise<void> {
    await this.tokens?.authorization(repositoryScope(repo));
  }

  /** `GET /v2/` must answer 200. */
  async ping(): Promise<void> {
    await this.expect({ method: 'GET', url: this.url('/v2/') }, [200], '');
  }

  /** `POST /v2/<name>/blobs/uploads/` and returns the session's absolute Location. */
  async startUpload(repo: string): Promise<URL> {
    const url = this.url(`/v2/${repo}/blobs/uploads/`);
    const res = await this.expect({ method: 'POST', url }, [202], repositoryScope(repo));
    return this.location(res, url);
  }

  /** Uploads a blob in one PUT to a fresh session (`POST`, then `PUT <location>?digest=`). */
  async pushMonolithic(repo: string, blob: BlobRef, body: Readable | Buffer): Promise<void> {
    const location = await this.startUpload(repo);
    const url = withDigest(location, blob.digest);
    const res = await this.expect(
      {
        method: 'PUT',
        url,
        headers: { 'content-type': 'application/octet-stream', 'content-length': blob.size },
        body,
      },
      [201],
      repositoryScope(repo),
    );
    this.checkDigestHeader(res, blob.digest, `PUT ${url.pathname}`);
  }

  /**
   * Uploads a blob as consecutive PATCHes of at most `chunkBytes`, each with `Content-Range:
   * start-end` (inclusive), following the Location each answer returns, then closes it with
   * `PUT <location>?digest=` and no body.
   */
  async pushChunked(
    repo: string,
    blob: BlobRef,
    chunkBytes: number,
    chunk: (start: number, endInclusive: number) => Readable,
  ): Promise<void> {
    let location = await this.startUpload(repo);
    for (let start = 0; start < blob.size; start += chunkBytes) {
      const end = Math.min(start + chunkBytes, blob.size) - 1;
      const res = await this.expect(
        {
          method: 'PATCH',
          url: location,
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${start}-${end}`,
            'content-length': end - start + 1,
          },
          body: chunk(start, end),
        },
        [202],
        repositoryScope(repo),
      );
      const what = `PATCH ${location.pathname}`;
      location = this.location(res, location);
      const range = res.headers.range;
      if (range !== undefined && range !== `0-${end}` && range !== `bytes=0-${end}`) {
        throw new BenchFailure(what, `Range is "${range}", expected "0-${end}"`);
      }
    }
    const url = withDigest(location, blob.digest);
    const res = await this.expect({ method: 'PUT', url }, [201], repositoryScope(repo));
    this.checkDigestHeader(res, blob.digest, `PUT ${url.pathname}`);
  }

  /**
   * `GET /v2/<name>/blobs/<digest>`, following redirects, hashing the body while it streams.
   * Fails unless the content has the expected digest and size.
   */
  async pullBlob(repo: string, blob: BlobRef): Promise<void> {
    let url = this.url(`/v2/${repo}/blobs/${blob.digest}`);
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await this.expect(
        { method: 'GET', url, read: 'sha256' },
        [200, 302, 303, 307],
        repositoryScope(repo),
      );
      if (res.status !== 200) {
        url = this.location(res, url);
        continue;
      }
      if (res.digest !== blob.digest || res.bytes !== blob.size) {
        throw new BenchFailure(
          `GET ${url.pathname}`,
          `content is ${res.digest ?? '?'} (${res.bytes} bytes), expected ${blob.digest} (${blob.size} bytes)`,
        );
      }
      return;
    }
    throw new BenchFailure(`GET /v2/${repo}/blobs/${blob.digest}`, `more than ${MAX_REDIRECTS} redirects`);
  }

  /** `HEAD /v2/<name>/blobs/<digest>` must answer 200 with the blob's Content-Length. */
  async headBlob(repo: string, blob: BlobRef): Promise<void> {
    const what = `HEAD /v2/${repo}/blobs/${blob.digest}`;
    const res = await this.expect(
      { method: 'HEAD', url: this.url(`/v2/${repo}/blobs/${blob.digest}`) },
      [200],
      repositoryScope(repo),
    );
    if (res.headers['content-length'] !== String(blob.size)) {
      throw new BenchFailure(
        what,
        `Content-Length is ${res.headers['content-length'] ?? 'missing'}, expected ${blob.size}`,
      );
    }
    this.checkDigestHeader(res, blob.digest, what);
  }

  /** `PUT /v2/<name>/manifests/<reference>` must answer 201 with the manifest's digest. */
  async putManifest(
    repo: string,
    reference: string,
    manifest: Buffer,
    mediaType: string,
    digest: string,
  ): Promise<void> {
    const url = this.url(`/v2/${repo}/manifests/${reference}`);
    const res = await this.expect(
      { method: 'PUT', url, headers: { 'content-type': mediaType }, body: manifest },
      [201],
      repositoryScope(repo),
    );
    this.checkDigestHeader(res, digest, `PUT ${url.pathname}`);
  }

  /** `GET /v2/<name>/manifests/<reference>`; the body must hash to `digest`. */
  async getManifest(repo: string, reference: string, digest: string): Promise<void> {
    const url = this.url(`/v2/${repo}/manifests/${reference}`);
    const res = await this.expect(
      { method: 'GET', url, headers: { accept: MANIFEST_ACCEPT }, read: 'sha256' },
      [200],
      repositoryScope(repo),
    );
    if (res.digest !== digest) {
      throw new BenchFailure(`GET ${url.pathname}`, `body is ${res.digest ?? '?'}, expected ${digest}`);
    }
    this.checkDigestHeader(res, digest, `GET ${url.pathname}`);
  }

  /** `HEAD /v2/<name>/manifests/<reference>` must answer 200 with Docker-Content-Digest `digest`. */
  async headManifest(repo: string, reference: string, digest: string): Promise<void> {
    const url = this.url(`/v2/${repo}/manifests/${reference}`);
    const res = await this.expect(
      { method: 'HEAD', url, headers: { accept: MANIFEST_ACCEPT } },
      [200],
      repositoryScope(repo),
    );
    const what = `HEAD ${url.pathname}`;
    if (res.headers['docker-content-digest'] === undefined) {
      throw new BenchFailure(what, 'Docker-Content-Digest is missing');
    }
    this.checkDigestHeader(res, digest, what);
  }

  /** The first page of `GET /v2/<name>/tags/list`, with `n` when given. */
  async listTags(repo: string, pageSize?: number): Promise<TagsPage> {
    const url = this.url(`/v2/${repo}/tags/list`);
    if (pageSize !== undefined) url.searchParams.set('n', String(pageSize));
    return this.tagsPage(repo, url);
  }

  /** A page of `GET /v2/<name>/tags/list` of `repo` at an absolute URL taken from a `Link` header. */
  async tagsPage(repo: string, url: URL): Promise<TagsPage> {
    const what = `GET ${url.pathname}${url.search}`;
    const res = await this.expect({ method: 'GET', url, read: 'buffer' }, [200], repositoryScope(repo));
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new BenchFailure(what, 'body is not JSON', res.body.subarray(0, 200).toString('utf8'));
    }
    const tags = (parsed as { tags?: unknown }).tags;
    if (!Array.isArray(tags) || !tags.every((t): t is string => typeof t === 'string')) {
      throw new BenchFailure(what, 'body has no "tags" array of strings');
    }
    return { tags, next: this.nextLink(res, what) };
  }

  /** An absolute URL for a path on this registry. */
  private url(path: string): URL {
    return new URL(path, this.baseUrl);
  }

  /**
   * Sends a request, with a token for `scope` when it goes to this registry and there is a token
   * source, and fails unless the status is one of `statuses`.
   */
  private async expect(req: HttpRequest, statuses: readonly number[], scope: string): Promise<HttpResponse> {
    let res: HttpResponse;
    try {
      const authorization =
        this.tokens === null || req.url.origin !== this.origin
          ? null
          : await this.tokens.authorization(scope);
      res = await this.http.send(
        authorization === null ? req : { ...req, headers: { ...req.headers, authorization } },
      );
    } catch (error) {
      if (error instanceof BenchFailure) throw error;
      // A refused or broken connection means the registry failed (or died) under the bench.
      const reason = error instanceof Error ? error.message : String(error);
      throw new BenchFailure(`${req.method} ${req.url.pathname}`, `no response: ${reason}`);
    }
    if (!statuses.includes(res.status)) {
      throw new BenchFailure(
        `${req.method} ${req.url.pathname}`,
        `status ${res.status}, expected ${statuses.join(' or ')}`,
        res.body.subarray(0, 1000).toString('utf8'),
      );
    }
    return res;
  }

  /**
   * The response's Location, which may be absolute or relative, resolved against the URL of the
   * request it answers (for the usual `/v2/...` form that is the same as the base URL).
   */
  private location(res: HttpResponse, requestUrl: URL): URL {
    const location = res.headers.location;
    if (location === undefined || location === '') {
      throw new BenchFailure(requestUrl.pathname, `status ${res.status} without a Location`);
    }
    return new URL(location, requestUrl);
  }

  /** A Docker-Content-Digest header is optional on some answers, but must be right when present. */
  private checkDigestHeader(res: HttpResponse, digest: string, what: string): void {
    const header = res.headers['docker-content-digest'];
    if (header !== undefined && header !== digest) {
      throw new BenchFailure(what, `Docker-Content-Digest is ${String(header)}, expected ${digest}`);
    }
  }

  /** The `rel="next"` target of a `Link` header, resolved against the base URL. */
  private nextLink(res: HttpResponse, what: string): URL | null {
    const header = res.headers.link;
    if (header === undefined) return null;
    const link = Array.isArray(header) ? header.join(', ') : header;
    const match = /<([^>]*)>\s*;\s*rel="?next"?/.exec(link);
    if (!match?.[1]) throw new BenchFailure(what, `Link header "${link}" has no rel="next" target`);
    return new URL(match[1], this.baseUrl);
  }
}

/**
 * The upload Location with `digest` appended to whatever query the registry put there. The
 * existing query is kept byte for byte (re-serialising it through URLSearchParams could re-encode
 * opaque state such as Distribution's `_state`).
 */
function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  const param = `digest=${encodeURIComponent(digest)}`;
  url.search = url.search === '' ? `?${param}` : `${url.search}&${param}`;
  return url;
}
