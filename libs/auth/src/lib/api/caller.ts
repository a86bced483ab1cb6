import {
  createParamDecorator,
  Injectable,
  SetMetadata,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Principal } from '@berth/auth-core';
import { TokenError } from '@berth/registry-token';
import type { FastifyRequest } from 'fastify';
import { AccessService } from '../access.service';
import { BasicLogins } from './basic-logins';
import { CredentialsService } from '../credentials.service';
import type { RequestContext } from '../access.service';
import { contextOf, presentedCredentials, type PresentedCredentials } from '../http';
import { subjectOf, WORKLOAD_PREFIX, type Identity } from '../model';
import { KeyRing } from '../token/key-ring';
import { Problem } from '@berth/server';

/** Who calls the management API: the identity and its principal for RBAC. */
export interface Caller {
  readonly identity: Identity;
  readonly principal: Principal;
  /** The token `sub` form of the identity (`robot$ci`, `alice`, or empty for anonymous). */
  readonly subject: string;
  readonly sourceAddress: string | null;
  readonly requestId: string | null;
}

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
 * The management API's authentication: HTTP Basic credentials (checked and rate limited like a
 * login) or a bearer token from the token service (verified locally; its subject must still
 * exist). No credentials are refused unless the route allows anonymous callers. What a caller may
 * do is decided by the use case, per project, with the caller's principal.
 */
@Injectable()
export class CallerGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly credentials: CredentialsService,
    private readonly access: AccessService,
    private readonly keyRing: KeyRing,
    private readonly logins: BasicLogins,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const identity = await this.identify(request);
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

  private identify(request: FastifyRequest): Promise<Identity> {
    return this.identifyAuthorization(presentedCredentials(request), contextOf(request));
  }

  /**
   * The identity behind the credentials of an `Authorization` header (anonymous without one).
   * Throws a {@link Problem}: 401 for bad credentials, 429 while rate limited, 503 while the
   * directory is down. Other services ask this over the bus (`AuthorizeProjectCaller`).
   */
  async identifyAuthorization(presented: PresentedCredentials, context: RequestContext): Promise<Identity> {
    switch (presented.kind) {
      case 'none':
        return { kind: 'anonymous' };
      case 'malformed':
        throw unauthorized('the Authorization header is malformed');
      case 'basic': {
        const known = this.logins.get(presented.username, presented.password);
        if (known !== null) return known;
        const checkedAt = Date.now();
        const result = await this.credentials.authenticate(presented.username, presented.password, context);
        if (result.ok) {
          this.logins.remember(presented.username, presented.password, result.identity, checkedAt);
          return result.identity;
        }
        if (result.reason === 'rate_limited')
          throw new Problem(
            'too-many-requests',
            'too many failed logins',
            {},
            {
              'retry-after': String(result.retryAfterSeconds ?? 60),
            },
          );
        if (result.reason === 'unavailable')
          throw new Problem(
            'service-unavailable',
            'the user directory cannot be reached; try again later',
            {},
            { 'retry-after': '30' },
          );
        throw unauthorized('invalid username or password');
      }
      case 'bearer': {
        let subject: string;
        try {
          subject = this.keyRing.verifier.verify(presented.token).sub;
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
  }
}

function unauthorized(detail: string): Problem {
  return new Problem(
    'unauthorized',
    detail,
    {},
    { 'www-authenticate': 'Basic realm="berth", Bearer realm="berth"' },
  );
}
