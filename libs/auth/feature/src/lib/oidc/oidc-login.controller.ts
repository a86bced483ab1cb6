import { Controller, Get, Inject, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Problem, ProblemFilter } from '@berth/server';
import { OIDC_LOGIN } from '../auth.tokens';
import { contextOf } from '../http';
import type { Identity } from '../model';
import { TokenService } from '../token/token.service';
import { OidcLoginService } from './oidc-login.service';
import { OidcLoginGuard, SignedInUser, STATE_COOKIE } from './oidc-login.strategy';

const COOKIE_PATH = '/api/v1/auth/oidc';

/**
 * `/api/v1/auth/oidc`: sign-in with the configured OpenID Provider. `login` sends the browser to
 * the provider; the provider sends it back to `callback`, where the OpenID Connect Passport
 * strategy signs the user in, and which answers with a Berth token for the API (and a refresh
 * token), the same answer as `/token`. Without `auth.oidc` both answer 404.
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
  @UseGuards(OidcLoginGuard)
  async callback(
    @SignedInUser() identity: Identity & { kind: 'user' },
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const context = contextOf(request);
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
