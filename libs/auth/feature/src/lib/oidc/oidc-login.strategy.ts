import { createParamDecorator, Inject, Injectable, type ExecutionContext } from '@nestjs/common';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import { Problem } from '@berth/server';
import type { FastifyRequest } from 'fastify';
import { OIDC_LOGIN } from '../auth.tokens';
import { contextOf } from '../http';
import { RequestStrategy } from '../http-strategies';
import type { Identity } from '../model';
import { OidcLoginService } from './oidc-login.service';

/** The name Passport knows the OpenID Connect login by. */
const OIDC_STRATEGY = 'berth-oidc';

/** The cookie that binds a login's state to the browser that started it. */
export const STATE_COOKIE = 'berth_oidc_state';

const signedIn = new WeakMap<object, Identity & { kind: 'user' }>();

/** The user the {@link OidcLoginGuard} signed in on this request. */
export const SignedInUser = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Identity & { kind: 'user' } => {
    const user = signedIn.get(context.switchToHttp().getRequest<object>());
    if (!user) throw new Error('OidcLoginGuard did not run');
    return user;
  },
);

/**
 * The callback of an OpenID Connect login as a Passport strategy: the provider's answer in the
 * query, the state cookie of the browser, and {@link OidcLoginService.finish}, which redeems the
 * code through openid-client and signs the user in. Without `auth.oidc` it answers 404.
 */
@Injectable()
export class OidcLoginStrategy extends PassportStrategy(RequestStrategy, OIDC_STRATEGY) {
  constructor(@Inject(OIDC_LOGIN) private readonly oidc: OidcLoginService | null) {
    super();
  }

  async validate(request: FastifyRequest): Promise<Identity & { kind: 'user' }> {
    if (!this.oidc) throw new Problem('not-found', 'OpenID Connect login is not configured (auth.oidc)');
    return this.oidc.finish(
      queryOf(request.url),
      cookieValue(request.headers.cookie, STATE_COOKIE),
      contextOf(request),
    );
  }
}

/** Runs the {@link OidcLoginStrategy} on the callback route; a refusal is its problem. */
@Injectable()
export class OidcLoginGuard extends AuthGuard(OIDC_STRATEGY) {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    await super.canActivate(context);
    const request = context.switchToHttp().getRequest<{ user?: Identity & { kind: 'user' } }>();
    if (request.user === undefined) throw new Error('the OpenID Connect strategy set no user');
    signedIn.set(request, request.user);
    return true;
  }

  override handleRequest<TUser = Identity>(error: Error | null, user: TUser | false | null): TUser {
    if (error) throw error;
    if (!user) throw new Problem('unauthorized', 'the login could not be completed');
    return user;
  }
}

/** The query of a request URL. */
function queryOf(url: string): URLSearchParams {
  const start = url.indexOf('?');
  return new URLSearchParams(start === -1 ? '' : url.slice(start + 1));
}

/** One cookie's value from a `Cookie` header. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}
