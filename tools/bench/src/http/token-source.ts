import { formatScope } from '@berth/registry-token';
import type { BasicCredentials } from '../config/bench.config';
import { BenchFailure } from './bench-failure.error';
import type { HttpClient, HttpResponse } from './http-client';

/**
 * A token is fetched again this long before it expires, so a request never races its expiry;
 * for lifetimes under twice this, at half the lifetime.
 */
const REFRESH_MARGIN_MS = 30_000;

/** Where a registry sends clients for tokens: the `Bearer` challenge of its `GET /v2/`. */
interface Challenge {
  readonly realm: URL;
  readonly service: string;
}

/** A cached token: its Authorization value, shared while it is being fetched. */
interface CachedToken {
  readonly authorization: Promise<string>;
  /** When to fetch a new one; infinite while the fetch is in flight. */
  refreshAt: number;
}

/** The scope a client asks for to pull from and push to `repository`. */
export function repositoryScope(repository: string): string {
  return formatScope({ type: 'repository', name: repository, actions: ['pull', 'push'] });
}

/**
 * Bearer tokens for one registry, as a container runtime gets them (the Docker registry token
 * spec): the realm and service come from the challenge of `GET /v2/` (asked once), a token for a
 * scope from `GET <realm>?service=&scope=` with HTTP Basic credentials, and each token is reused
 * until shortly before it expires. Tokens are fetched ahead of the request that needs them rather
 * than after its 401, because a streamed upload cannot be sent twice; concurrent requests for the
 * same scope share one fetch.
 */
export class TokenSource {
  private challenge: Promise<Challenge> | null = null;
  private readonly tokens = new Map<string, CachedToken>();

  constructor(
    private readonly http: HttpClient,
    /** The registry's base URL without a trailing slash. */
    private readonly registryUrl: string,
    private readonly credentials: BasicCredentials,
  ) {}

  /**
   * The `Authorization` header value for a request that needs `scope` (e.g. `repository:a/b:pull,push`;
   * empty for `GET /v2/`, which needs a valid token of any scope). Fails with {@link BenchFailure}
   * when the registry does not challenge for a Bearer token or the token service refuses.
   */
  authorization(scope: string): Promise<string> {
    const cached = this.tokens.get(scope);
    if (cached !== undefined && Date.now() < cached.refreshAt) return cached.authorization;
    const fetched = this.fetch(scope);
    const entry: CachedToken = { authorization: fetched.then((t) => t.authorization), refreshAt: Infinity };
    this.tokens.set(scope, entry);
    void fetched.then(
      (t) => {
        entry.refreshAt = t.refreshAt;
      },
      // A failed fetch is not cached; the request that asked for it fails the bench.
      () => {
        if (this.tokens.get(scope) === entry) this.tokens.delete(scope);
      },
    );
    return entry.authorization;
  }

  private async fetch(scope: string): Promise<{ authorization: string; refreshAt: number }> {
    const { realm, service } = await (this.challenge ??= this.discover());
    const url = new URL(realm);
    url.searchParams.set('service', service);
    if (scope !== '') url.searchParams.set('scope', scope);
    const requested = Date.now();
    const what = `GET ${url.pathname}?scope=${scope}`;
    const basic = Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64');
    const res = await this.send(what, url, { authorization: `Basic ${basic}` });
    if (res.status !== 200) {
      throw new BenchFailure(
        what,
        `status ${res.status}, expected 200`,
        res.body.subarray(0, 1000).toString('utf8'),
      );
    }
    const { token, expiresInS } = parseTokenAnswer(res.body, what);
    const lifetimeMs = expiresInS * 1000;
    return {
      authorization: `Bearer ${token}`,
      refreshAt: requested + Math.max(lifetimeMs - REFRESH_MARGIN_MS, lifetimeMs / 2),
    };
  }

  /** Asks `GET /v2/` without credentials for the Bearer challenge. */
  private async discover(): Promise<Challenge> {
    const url = new URL('/v2/', this.registryUrl);
    const what = `GET ${url.pathname}`;
    const res = await this.send(what, url, {});
    if (res.status !== 401) {
      throw new BenchFailure(
        what,
        `status ${res.status} without credentials, expected 401 (is token auth on?)`,
      );
    }
    const header = res.headers['www-authenticate'];
    const challenge = parseBearerChallenge(Array.isArray(header) ? header.join(', ') : (header ?? ''));
    if (challenge === null) {
      throw new BenchFailure(
        what,
        `WWW-Authenticate "${String(header)}" is not a Bearer challenge with realm and service`,
      );
    }
    return { realm: new URL(challenge.realm, url), service: challenge.service };
  }

  private async send(what: string, url: URL, headers: Record<string, string>): Promise<HttpResponse> {
    try {
      return await this.http.send({ method: 'GET', url, headers, read: 'buffer' });
    } catch (error) {
      throw new BenchFailure(what, `no response: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/** `realm` and `service` of a `Bearer` challenge, or null when it is not one. */
function parseBearerChallenge(header: string): { realm: string; service: string } | null {
  const match = /^\s*Bearer\s+(.*)$/i.exec(header);
  if (match?.[1] === undefined) return null;
  const params = new Map<string, string>();
  for (const [, key, value] of match[1].matchAll(/([A-Za-z_]+)\s*=\s*"((?:[^"\\]|\\.)*)"/g)) {
    if (key !== undefined && value !== undefined)
      params.set(key.toLowerCase(), value.replace(/\\(.)/g, '$1'));
  }
  const realm = params.get('realm');
  const service = params.get('service');
  return realm === undefined || service === undefined ? null : { realm, service };
}

/** `token` (or OAuth2's `access_token`) and `expires_in` of a token answer; 60 s when absent, as the spec says. */
function parseTokenAnswer(body: Buffer, what: string): { token: string; expiresInS: number } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BenchFailure(what, 'body is not JSON');
  }
  const answer = parsed as { token?: unknown; access_token?: unknown; expires_in?: unknown };
  const token = typeof answer.token === 'string' ? answer.token : answer.access_token;
  if (typeof token !== 'string' || token === '') throw new BenchFailure(what, 'no token in the answer');
  const expiresInS = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : 60;
  return { token, expiresInS };
}
