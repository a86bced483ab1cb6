import { Controller, Get, Inject, Post, Req, Res } from '@nestjs/common';
import { parseScopes, ScopeError, type ResourceScope } from '@berth/registry-token';
import type { AuthConfig } from '@berth/config';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AUTH_CONFIG } from '../auth.tokens';
import { CredentialsService, type Authentication } from '../credentials.service';
import { contextOf, paramValue, paramValues, presentedCredentials } from '../http';
import type { Identity } from '../model';
import { KeyRing } from './key-ring';
import { TokenService } from './token.service';

/** RFC 8693's grant type and token types. */
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** A refusal of the token endpoint, rendered in the flavour of the request. */
class TokenRefusal extends Error {
  constructor(
    readonly status: number,
    readonly oauthError: string,
    readonly ociCode: string,
    message: string,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
  }
}

/**
 * The token service's HTTP face: `GET /token` as the Docker registry token spec has it, `POST
 * /token` in its OAuth2 flavour (what `docker login` tries first), and the public keys as JWKS.
 * Public on purpose: this is where credentials are checked.
 */
@Controller()
export class TokenController {
  constructor(
    private readonly credentials: CredentialsService,
    private readonly tokens: TokenService,
    private readonly keyRing: KeyRing,
    @Inject(AUTH_CONFIG) private readonly config: AuthConfig,
  ) {}

  /** `GET /token?service=&scope=&offline_token=&client_id=` with Basic credentials or none. */
  @Get('token')
  async get(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    try {
      const query = request.query;
      const scopes = this.scopes(paramValues(query, 'scope'), paramValue(query, 'service'));
      const identity = await this.identityFromHeader(request);
      const issued = await this.tokens.issue(identity, scopes, {
        ...contextOf(request),
        clientId: paramValue(query, 'client_id') ?? null,
        offline: paramValue(query, 'offline_token') === 'true',
      });
      await reply
        .code(200)
        .header('cache-control', 'no-store')
        .send({
          token: issued.token,
          access_token: issued.token,
          expires_in: issued.expiresIn,
          issued_at: issued.issuedAt,
          ...(issued.refreshToken !== null && { refresh_token: issued.refreshToken }),
        });
    } catch (error) {
      await this.refuse(reply, error, 'oci');
    }
  }

  /**
   * `POST /token` (form), OAuth2 style: `grant_type=password` or `refresh_token`, or the token
   * exchange of RFC 8693 with a CI platform's OIDC ID token as `subject_token`.
   */
  @Post('token')
  async post(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    try {
      const form = request.body;
      const scopes = this.scopes(
        (paramValue(form, 'scope') ?? '').split(' ').filter((s) => s !== ''),
        paramValue(form, 'service'),
      );
      const grantType = paramValue(form, 'grant_type');
      let identity: Identity;
      if (grantType === 'password') {
        identity = await this.login(
          paramValue(form, 'username') ?? '',
          paramValue(form, 'password') ?? '',
          request,
        );
      } else if (grantType === 'refresh_token') {
        const redeemed = await this.tokens.redeem(paramValue(form, 'refresh_token') ?? '');
        if (!redeemed)
          throw new TokenRefusal(401, 'invalid_grant', 'UNAUTHORIZED', 'invalid or expired refresh token');
        identity = redeemed;
      } else if (grantType === TOKEN_EXCHANGE) {
        identity = await this.exchange(form, request);
      } else {
        throw new TokenRefusal(
          400,
          'unsupported_grant_type',
          'UNSUPPORTED',
          `grant_type must be password, refresh_token or ${TOKEN_EXCHANGE}`,
        );
      }
      const issued = await this.tokens.issue(identity, scopes, {
        ...contextOf(request),
        clientId: paramValue(form, 'client_id') ?? null,
        offline: paramValue(form, 'access_type') === 'offline',
      });
      await reply
        .code(200)
        .header('cache-control', 'no-store')
        .send({
          access_token: issued.token,
          token_type: 'Bearer',
          ...(grantType === TOKEN_EXCHANGE && { issued_token_type: ACCESS_TOKEN_TYPE }),
          scope: issued.access.map((s) => `${s.type}:${s.name}:${s.actions.join(',')}`).join(' '),
          expires_in: issued.expiresIn,
          issued_at: issued.issuedAt,
          ...(issued.refreshToken !== null && { refresh_token: issued.refreshToken }),
        });
    } catch (error) {
      await this.refuse(reply, error, 'oauth');
    }
  }

  /** The public keys tokens are signed with, for anyone who verifies them. */
  @Get('.well-known/jwks.json')
  jwks(): { keys: unknown[] } {
    return { keys: this.keyRing.jwks() };
  }

  private scopes(values: readonly string[], service: string | undefined): ResourceScope[] {
    if (service !== undefined && service !== this.config.service)
      throw new TokenRefusal(
        400,
        'invalid_request',
        'UNSUPPORTED',
        `unknown service "${service.slice(0, 100)}"`,
      );
    if (values.length > 16) throw new TokenRefusal(400, 'invalid_scope', 'UNSUPPORTED', 'too many scopes');
    try {
      return values.flatMap(parseScopes);
    } catch (error) {
      if (error instanceof ScopeError)
        throw new TokenRefusal(400, 'invalid_scope', 'UNSUPPORTED', error.message);
      throw error;
    }
  }

  private async identityFromHeader(request: FastifyRequest): Promise<Identity> {
    const presented = presentedCredentials(request);
    switch (presented.kind) {
      case 'none':
        return { kind: 'anonymous' };
      case 'basic':
        return this.login(presented.username, presented.password, request);
      case 'bearer':
      case 'malformed':
        throw new TokenRefusal(
          401,
          'invalid_client',
          'UNAUTHORIZED',
          'the token endpoint takes Basic credentials',
        );
    }
  }

  /** RFC 8693: an ID token (or a JWT that is one) under the trust rules. */
  private async exchange(form: unknown, request: FastifyRequest): Promise<Identity> {
    const subjectToken = paramValue(form, 'subject_token');
    const type = paramValue(form, 'subject_token_type');
    if (subjectToken === undefined || (type !== ID_TOKEN_TYPE && type !== JWT_TOKEN_TYPE))
      throw new TokenRefusal(
        400,
        'invalid_request',
        'UNSUPPORTED',
        `the token exchange takes subject_token with subject_token_type ${ID_TOKEN_TYPE}`,
      );
    return this.outcome(await this.credentials.exchangeIdToken(subjectToken, contextOf(request)));
  }

  private async login(username: string, password: string, request: FastifyRequest): Promise<Identity> {
    return this.outcome(await this.credentials.authenticate(username, password, contextOf(request)));
  }

  private outcome(result: Authentication): Identity {
    if (result.ok) return result.identity;
    if (result.reason === 'rate_limited')
      throw new TokenRefusal(
        429,
        'slow_down',
        'TOO_MANY_REQUESTS',
        'too many failed logins',
        result.retryAfterSeconds,
      );
    if (result.reason === 'unavailable')
      throw new TokenRefusal(
        503,
        'temporarily_unavailable',
        'UNAVAILABLE',
        'the user directory cannot be reached; try again later',
        30,
      );
    throw new TokenRefusal(401, 'invalid_grant', 'UNAUTHORIZED', 'invalid username or password');
  }

  private async refuse(reply: FastifyReply, error: unknown, flavour: 'oci' | 'oauth'): Promise<void> {
    if (!(error instanceof TokenRefusal)) throw error;
    reply.code(error.status).header('cache-control', 'no-store');
    if (error.retryAfterSeconds !== null) reply.header('retry-after', String(error.retryAfterSeconds));
    if (error.status === 401) reply.header('www-authenticate', `Basic realm="${this.config.service}"`);
    await reply.send(
      flavour === 'oauth'
        ? { error: error.oauthError, error_description: error.message }
        : { errors: [{ code: error.ociCode, message: error.message }] },
    );
  }
}
