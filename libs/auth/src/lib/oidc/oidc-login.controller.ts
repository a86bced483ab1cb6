import { Controller, Get, Inject, Req, Res, UseFilters } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Problem, ProblemFilter } from '@berth/server';
import { OIDC_LOGIN } from '../auth.tokens';
import { contextOf } from '../http';
import { TokenService } from '../token/token.service';
import { OidcLoginService } from './oidc-login.service';

/** The cookie that binds a login's state to the browser that started it. */
const STATE_COOKIE = 'berth_oidc_state';
const COOKIE_PATH = '/api/v1/auth/oidc';

/**
 * `/api/v1/auth/oidc`: sign-in with the configured OpenID Provider. `login` sends the browser to
 * the provider; the provider sends it back to `callback`, which answers with a Berth token for
 * the API (and a refresh token), the same answer as `/token`. Without `auth.oidc` both answer 404.
 */
@Controller('api/v1/auth/oidc')
@UseFilters(ProblemFilter)
export class OidcLoginController {
  constructor(
    @Inject(OIDC_LOGIN) private readonly oidc: OidcLoginService | null,
    private readonly tokens: TokenService,
  ) {}

  private get logins(): OidcLoginService {
    if (!this.oidc) throw new Problem('not-found', 'OpenID Connect login is not configured (auth.oidc)');
    return this.oidc;
  }

  @Get('login')
  async login(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const { url, state } = await this.logins.start();
    const secure = request.protocol === 'https' ? '; Secure' : '';
    await reply
      .code(302)
      .header('cache-control', 'no-store')
      .header(
        'set-cookie',
        `${STATE_COOKIE}=${state}; Path=${COOKIE_PATH}; Max-Age=600; HttpOnly; SameSite=Lax${secure}`,
      )
      .header('location', url)
      .send();
  }

  @Get('callback')
  async callback(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const context = contextOf(request);
    const identity = await this.logins.finish(
      queryOf(request.url),
      cookieValue(request.headers.cookie, STATE_COOKIE),
      context,
    );
    const issued = await this.tokens.issue(identity, [], {
      ...context,
      clientId: 'berth-oidc-login',
      offline: true,
    });
    await reply
      .code(200)
      .header('cache-control', 'no-store')
      .header('set-cookie', `${STATE_COOKIE}=; Path=${COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Lax`)
      .send({
        username: identity.username,
        token: issued.token,
        access_token: issued.token,
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
        issued_at: issued.issuedAt,
        refresh_token: issued.refreshToken,
      });
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
