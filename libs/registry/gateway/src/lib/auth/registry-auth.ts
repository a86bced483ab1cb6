import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { projectOf } from '@berth/naming';
import {
  allows,
  bearerChallenge,
  formatScope,
  TokenError,
  TokenVerifier,
  type Action,
  type RegistryClaims,
  type ResourceScope,
} from '@berth/registry-token';
import { Bus } from '@berth/bus';
import { LruCache, RevocableCache } from '@berth/cache';
import type { BerthConfig } from '@berth/config';
import {
  AuthorizeBasic,
  EnsureProject,
  GetSigningKeys,
  SigningKeysChanged,
  SubjectRevoked,
} from '@berth/contracts';
import { OciError, isRepositoryName, type RepositoryName } from '@berth/oci';
import { CONFIG, LOGGER } from '@berth/server';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Route } from '../route';

/** What a request may do: who it speaks for (a token `sub`) and the access granted to it. */
export interface Grant {
  readonly subject: string;
  readonly access: readonly ResourceScope[];
}

/**
 * An `OciError` that carries response headers: the Bearer challenge of a 401, the `Retry-After`
 * of a 429. The gateway's error filter sets them.
 */
export class AuthError extends OciError {
  constructor(
    code: 'UNAUTHORIZED' | 'DENIED' | 'TOOMANYREQUESTS' | 'UNAVAILABLE',
    message: string,
    readonly headers: Readonly<Record<string, string>>,
    status?: number,
    detail?: unknown,
  ) {
    super(code, message, detail, status);
  }
}

/** How often at most an unknown key id makes the gateway fetch the keys again. */
const KEY_REFETCH_MS = 5_000;
/** How long a project seen to exist is not asked about again before a write into it. */
const PROJECT_SEEN_MS = 60_000;
const grants = new WeakMap<FastifyRequest, Grant>();

/**
 * The gateway's side of token auth. Bearer tokens are verified locally against the token
 * service's public keys (fetched over the bus at first use, again when it announces a rotation or
 * a token names an unknown key), and verified tokens are remembered until they expire, so a pull
 * costs a map lookup, not a signature check. Basic credentials sent straight to `/v2/` are checked
 * by the auth service and remembered briefly; a revoked subject is forgotten at once.
 */
@Injectable()
export class RegistryAuth implements OnModuleInit {
  private readonly verifier: TokenVerifier;
  private readonly verified = new LruCache<string, RegistryClaims>(10_000);
  private readonly basic: RevocableCache<Grant>;
  private readonly projects = new LruCache<string, true>(10_000, PROJECT_SEEN_MS);
  private keysLoadedAt = 0;
  /** Counts key-set changes, so a verification that began before one is not remembered after it. */
  private keyGeneration = 0;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly bus: Bus,
    @Inject(CONFIG) private readonly config: BerthConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.verifier = new TokenVerifier({ issuer: config.auth.issuer, audience: config.auth.service });
    this.basic = new RevocableCache({
      capacity: 10_000,
      maxAgeMs: config.auth.basicCacheSeconds * 1000,
      subjectOf: (grant) => grant.subject,
    });
  }

  /** Whether `/v2/` requests need credentials at all (`auth.mode`). */
  get enabled(): boolean {
    return this.config.auth.mode === 'token';
  }

  async onModuleInit(): Promise<void> {
    await this.bus.onBroadcast(SigningKeysChanged, () => {
      this.keysLoadedAt = 0;
      this.keyGeneration += 1;
      this.verified.deleteWhere(() => true);
    });
    await this.bus.onBroadcast(SubjectRevoked, ({ subject }) => {
      this.basic.revoke(subject);
    });
  }

  /**
   * Checks a request's credentials against what its route needs. No or bad credentials: 401
   * `UNAUTHORIZED` with the challenge; a valid token that lacks the scope: 401 `DENIED` with
   * `error="insufficient_scope"` (clients then ask for a token with that scope, and show the
   * denial if they still cannot get one).
   */
  async authorize(request: FastifyRequest, route: Route): Promise<Grant> {
    const required = requiredScopes(route, request.method);
    const wanted = wantedScopes(route, request.method, mountSource(request));
    const grant = await this.credentialsOf(request, wanted);
    if (!grant) throw this.challenge(request, wanted, 'UNAUTHORIZED', 'authentication required');
    for (const scope of required) {
      if (!scope.actions.every((action) => allows(grant.access, scope.type, scope.name, action)))
        throw this.challenge(request, wanted, 'DENIED', 'requested access to the resource is denied', true);
    }
    grants.set(request, grant);
    return grant;
  }

  /**
   * Before a write (upload start, mount, manifest PUT): makes sure the repository's project
   * exists, which auth does by creating it when the writer is a system admin (the only caller a
   * token grants push in a project that does not exist). A project seen to exist is not asked
   * about again for a minute; with auth off there are no projects to speak of.
   */
  async ensureProject(request: FastifyRequest, repository: RepositoryName): Promise<void> {
    if (!this.enabled) return;
    const project = projectOf(repository);
    if (this.projects.get(project)) return;
    const { exists } = await this.bus.request(EnsureProject, {
      project,
      subject: this.subjectOf(request) ?? '',
      sourceAddress: request.ip,
      requestId: request.id,
    });
    if (!exists) throw new OciError('NAME_UNKNOWN', `project "${project}" does not exist`);
    this.projects.set(project, true);
  }

  /** Whether the request's grant covers an action (true when auth is off). */
  allows(request: FastifyRequest, repository: string, action: Action): boolean {
    if (!this.enabled) return true;
    const grant = grants.get(request);
    return grant !== undefined && allows(grant.access, 'repository', repository, action);
  }

  /** The subject of the request's grant (null when auth is off). */
  subjectOf(request: FastifyRequest): string | null {
    return this.enabled ? (grants.get(request)?.subject ?? '') : null;
  }

  /** Who the request acts for, as events name it: its token subject, or null (anonymous, auth off). */
  actorOf(request: FastifyRequest): string | null {
    const subject = this.subjectOf(request);
    return subject === '' ? null : subject;
  }

  private async credentialsOf(
    request: FastifyRequest,
    required: readonly ResourceScope[],
  ): Promise<Grant | null> {
    const header = request.headers.authorization ?? '';
    const space = header.indexOf(' ');
    const scheme = header.slice(0, Math.max(space, 0)).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (scheme === 'bearer' && value !== '') return this.bearer(value);
    if (scheme === 'basic' && value !== '') return this.basicGrant(request, value, required);
    return null;
  }

  private async bearer(token: string): Promise<Grant | null> {
    const now = Date.now();
    const known = this.verified.get(token);
    if (known && known.exp * 1000 > now) return { subject: known.sub, access: known.access };
    if (this.keysLoadedAt === 0) await this.loadKeys();
    const generation = this.keyGeneration;
    let claims: RegistryClaims;
    try {
      claims = await this.verifier.verify(token, now);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      if (error.reason !== 'unknown_key' || now - this.keysLoadedAt < KEY_REFETCH_MS)
        return this.refused(error);
      await this.loadKeys();
      try {
        claims = await this.verifier.verify(token, now);
      } catch (again) {
        if (again instanceof TokenError) return this.refused(again);
        throw again;
      }
    }
    // Verification awaits, so the keys may have changed meanwhile (a key withdrawn); then this
    // request keeps its answer but the token is checked again next time.
    if (generation === this.keyGeneration) this.verified.set(token, claims);
    return { subject: claims.sub, access: claims.access };
  }

  private async basicGrant(
    request: FastifyRequest,
    encoded: string,
    required: readonly ResourceScope[],
  ): Promise<Grant | null> {
    const scopes = required.map(formatScope);
    const key = createHash('sha256')
      .update(encoded)
      .update('\n')
      .update(scopes.join(' '))
      .digest('base64url');
    const cached = this.basic.get(key);
    if (cached !== null) return cached;
    // When the check began: a revocation broadcast while it runs wins over its answer.
    const checkedAt = Date.now();
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return null;
    const answer = await this.bus.request(AuthorizeBasic, {
      username: decoded.slice(0, colon).slice(0, 1024),
      password: decoded.slice(colon + 1).slice(0, 4096),
      scopes,
      sourceAddress: request.ip,
      requestId: request.id,
    });
    if (!answer.ok) {
      if (answer.reason === 'rate_limited')
        throw new AuthError('TOOMANYREQUESTS', 'too many failed logins', {
          'retry-after': String(answer.retryAfterSeconds ?? 60),
        });
      if (answer.reason === 'unavailable')
        throw new AuthError('UNAVAILABLE', 'the user directory cannot be reached; try again later', {
          'retry-after': '30',
        });
      return null;
    }
    const grant = { subject: answer.subject, access: answer.access };
    this.basic.set(key, grant, checkedAt);
    return grant;
  }

  private refused(error: TokenError): null {
    this.logger.debug({ reason: error.reason }, 'token refused');
    return null;
  }

  private loadKeys(): Promise<void> {
    this.loading ??= this.bus
      .request(GetSigningKeys, {})
      .then(({ keys }) => {
        this.verifier.setKeys(keys);
        this.keysLoadedAt = Date.now();
      })
      .finally(() => {
        this.loading = null;
      });
    return this.loading;
  }

  private challenge(
    request: FastifyRequest,
    scopes: readonly ResourceScope[],
    code: 'UNAUTHORIZED' | 'DENIED',
    message: string,
    insufficientScope = false,
  ): AuthError {
    const realm = this.config.auth.realm ?? `${originOf(request)}/token`;
    const challenge = bearerChallenge({
      realm,
      service: this.config.auth.service,
      scopes,
      insufficientScope,
    });
    return new AuthError(
      code,
      message,
      { 'www-authenticate': challenge },
      401,
      scopes.length > 0 ? scopes.map(formatScope) : undefined,
    );
  }
}

/** The scopes a `/v2/` route needs: pull to read, push to write, delete to delete. */
export function requiredScopes(route: Route, method: string): ResourceScope[] {
  const on = (name: string, action: Action): ResourceScope[] => [
    { type: 'repository', name, actions: [action] },
  ];
  switch (route.kind) {
    case 'base':
      return [];
    case 'catalog':
      return [{ type: 'registry', name: 'catalog', actions: ['*'] }];
    case 'tags':
    case 'referrers':
      return on(route.name, 'pull');
    case 'manifest':
    case 'blob':
      if (method === 'DELETE') return on(route.name, 'delete');
      return method === 'PUT' ? on(route.name, 'push') : on(route.name, 'pull');
    case 'uploads':
    case 'upload':
      return on(route.name, 'push');
  }
}

/**
 * The scopes a client is told to ask for, which may be more than the route needs: an upload asks
 * for `pull,push` on its repository, as Distribution's challenge does, and a cross-repository
 * mount also for `pull` on the repository it mounts from. Without that, a client that follows the
 * challenge gets a token that cannot read the source and the mount falls back to an upload. What
 * is granted of the extra is used if it is there; only {@link requiredScopes} is enforced.
 */
export function wantedScopes(
  route: Route,
  method: string,
  mountFrom: RepositoryName | null,
): ResourceScope[] {
  if (route.kind !== 'uploads' && route.kind !== 'upload') return requiredScopes(route, method);
  const scopes: ResourceScope[] = [{ type: 'repository', name: route.name, actions: ['pull', 'push'] }];
  if (route.kind === 'uploads' && mountFrom !== null && mountFrom !== route.name)
    scopes.push({ type: 'repository', name: mountFrom, actions: ['pull'] });
  return scopes;
}

/** The repository a `POST …/blobs/uploads/?mount=&from=` mounts from, if it names a valid one. */
function mountSource(request: FastifyRequest): RepositoryName | null {
  if (request.method !== 'POST') return null;
  const query = request.query as Record<string, string | string[] | undefined>;
  const mount = query['mount'];
  const from = query['from'];
  if (mount === undefined || typeof from !== 'string' || !isRepositoryName(from)) return null;
  return from;
}

function originOf(request: FastifyRequest): string {
  const forwarded = request.headers['x-forwarded-proto'];
  const proto =
    (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim() ?? request.protocol;
  return `${proto}://${request.host}`;
}
