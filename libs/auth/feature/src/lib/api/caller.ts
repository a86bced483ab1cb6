import { createParamDecorator, Injectable, SetMetadata, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import type { Principal } from '@berth/auth-core';
import { TokenError } from '@berth/registry-token';
import { Problem } from '@berth/server';
import type { FastifyRequest } from 'fastify';
import { AccessService, type RequestContext } from '../access.service';
import { CredentialsService } from '../credentials.service';
import { contextOf, presentedCredentials, type PresentedCredentials } from '../http';
import { BasicStrategy, BearerStrategy } from '../http-strategies';
import { subjectOf, WORKLOAD_PREFIX, type Identity } from '../model';
import { KeyRing } from '../token/key-ring';
import { BasicLogins } from './basic-logins';

/** Who calls the management API: the identity and its principal for RBAC. */
export interface Caller {
  readonly identity: Identity;
  readonly principal: Principal;
  /** The token `sub` form of the identity (`robot$ci`, `alice`, or empty for anonymous). */
  readonly subject: string;
  readonly sourceAddress: string | null;
  readonly requestId: string | null;
}

/** The names Passport knows the management API's strategies by, in the order they are tried. */
const BASIC_STRATEGY = 'berth-basic';
const BEARER_STRATEGY = 'berth-bearer';

const ANONYMOUS_ALLOWED = Symbol('berth.api.anonymous');
const callers = new WeakMap<object, Caller>();

/** Marks a route that anonymous callers may use too (it then shows them only public things). */
export const AllowAnonymous = (): MethodDecorator => SetMetadata(ANONYMOUS_ALLOWED, true);

/** The caller of the current request, as the {@link CallerGuard} established it. */
export const CurrentCaller = createParamDecorator((_data: unknown, context: ExecutionContext): Caller => {
  const caller = callers.get(context.switchToHttp().getRequest<object>());
  if (!caller) throw new Error('CallerGuard did not run');
  return caller;
});

/**
 * The management API's authentication, whichever way it is asked: by the Passport strategies of
 * an HTTP request, or over the bus by other services (`AuthorizeProjectCaller`). HTTP Basic
 * credentials are checked and rate limited like a login; a bearer token from the token service is
 * verified locally, and its subject must still exist. Each refusal is a {@link Problem}: 401 for
 * bad credentials, 429 while rate limited, 503 while the directory is down.
 */
@Injectable()
export class CallerAuthentication {
  constructor(
    private readonly credentials: CredentialsService,
    private readonly access: AccessService,
    private readonly keyRing: KeyRing,
    private readonly logins: BasicLogins,
  ) {}

  /** The identity behind the credentials of an `Authorization` header (anonymous without one). */
  identifyAuthorization(presented: PresentedCredentials, context: RequestContext): Promise<Identity> {
    switch (presented.kind) {
      case 'none':
        return Promise.resolve({ kind: 'anonymous' });
      case 'malformed':
        return Promise.reject(unauthorized('the Authorization header is malformed'));
      case 'basic':
        return this.basic(presented.username, presented.password, context);
      case 'bearer':
        return this.bearer(presented.token);
    }
  }

  /**
   * A username and password: a local user, a robot, a directory (LDAP) user, or a CI job with its
   * ID token as the password. A success is remembered for `auth.basicCacheSeconds`.
   */
  async basic(username: string, password: string, context: RequestContext): Promise<Identity> {
    const known = this.logins.get(username, password);
    if (known !== null) return known;
    const checkedAt = Date.now();
    const result = await this.credentials.authenticate(username, password, context);
    if (result.ok) {
      this.logins.remember(username, password, result.identity, checkedAt);
      return result.identity;
    }
    switch (result.reason) {
      case 'rate_limited':
        throw new Problem(
          'too-many-requests',
          'too many failed logins',
          {},
          { 'retry-after': String(result.retryAfterSeconds ?? 60) },
        );
      case 'unavailable':
        throw new Problem(
          'service-unavailable',
          'the user directory cannot be reached; try again later',
          {},
          { 'retry-after': '30' },
        );
      case 'invalid':
        throw unauthorized('invalid username or password');
    }
  }

  /** A token of Berth's token service, for a user or a robot (never a CI workload). */
  async bearer(token: string): Promise<Identity> {
    let subject: string;
    try {
      subject = (await this.keyRing.verifier.verify(token)).sub;
    } catch (error) {
      if (error instanceof TokenError) throw unauthorized('the token is not valid');
      throw error;
    }
    if (subject.startsWith(WORKLOAD_PREFIX))
      throw unauthorized('a CI workload token is for the registry only; use a user or robot here');
    const identity = await this.access.identityOf(subject);
    if (!identity) throw unauthorized('the token speaks for an account that no longer exists');
    return identity;
  }
}

/** HTTP Basic on the management API, as a Passport strategy. */
@Injectable()
export class BasicCallerStrategy extends PassportStrategy(BasicStrategy, BASIC_STRATEGY) {
  constructor(private readonly authentication: CallerAuthentication) {
    super();
  }

  validate(request: FastifyRequest, username: string, password: string): Promise<Identity> {
    return this.authentication.basic(username, password, contextOf(request));
  }
}

/** Bearer tokens on the management API, as a Passport strategy. */
@Injectable()
export class BearerCallerStrategy extends PassportStrategy(BearerStrategy, BEARER_STRATEGY) {
  constructor(private readonly authentication: CallerAuthentication) {
    super();
  }

  validate(_request: FastifyRequest, token: string): Promise<Identity> {
    return this.authentication.bearer(token);
  }
}

/**
 * The guard of the management API: Passport tries HTTP Basic, then a bearer token. A request with
 * neither is anonymous, which only routes marked {@link AllowAnonymous} accept; one whose
 * `Authorization` header neither strategy reads is refused. What a caller may do is decided by
 * the use case, per project, with the caller's principal.
 */
@Injectable()
export class CallerGuard extends AuthGuard([BASIC_STRATEGY, BEARER_STRATEGY]) {
  constructor(
    private readonly reflector: Reflector,
    private readonly access: AccessService,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const identity =
      presentedCredentials(request).kind === 'none' ? anonymous : await this.authenticate(context);
    if (
      identity.kind === 'anonymous' &&
      this.reflector.get<boolean | undefined>(ANONYMOUS_ALLOWED, context.getHandler()) !== true
    )
      throw unauthorized('credentials are required');
    const { sourceAddress, requestId } = contextOf(request);
    callers.set(request, {
      identity,
      principal: await this.access.principalOf(identity),
      subject: subjectOf(identity),
      sourceAddress,
      requestId,
    });
    return true;
  }

  /** Refuses what no strategy accepted; a strategy's own refusal (a problem) passes unchanged. */
  override handleRequest<TUser = Identity>(error: Error | null, identity: TUser | false | null): TUser {
    if (error) throw error;
    if (!identity) throw unauthorized('the Authorization header is malformed');
    return identity;
  }

  /** Runs the strategies; the identity is what the one that accepted the request proved. */
  private async authenticate(context: ExecutionContext): Promise<Identity> {
    await super.canActivate(context);
    const { user } = context.switchToHttp().getRequest<{ user?: Identity }>();
    if (user === undefined) throw new Error('no Passport strategy set the identity');
    return user;
  }
}

const anonymous: Identity = { kind: 'anonymous' };

function unauthorized(detail: string): Problem {
  return new Problem(
    'unauthorized',
    detail,
    {},
    { 'www-authenticate': 'Basic realm="berth", Bearer realm="berth"' },
  );
}
