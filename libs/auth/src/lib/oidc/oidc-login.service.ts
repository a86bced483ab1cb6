import { randomBytes } from 'node:crypto';
import type { OidcLoginConfig } from '@berth/config';
import type { AccountRepository } from '../account.repository';
import type { RequestContext } from '../access.service';
import { username as usernameSchema } from '../api/dto';
import { Problem } from '@berth/server';
import type { Auditor } from '../auditor';
import type { Identity } from '../model';
import { OidcError, OidcIssuer, pkcePair, type IdTokenClaims } from './oidc-issuer';
import type { OidcLoginRepository } from './oidc-login.repository';

/** How long a user has at the provider between leaving Berth and coming back. */
const LOGIN_TTL_MS = 10 * 60_000;

/**
 * Sign-in with an OpenID Provider (the authorization-code flow with PKCE, a nonce and a
 * single-use state kept in the database). The first login creates the user, source `oidc`, when
 * `autoCreate` allows; every login refreshes its email and groups from the ID token, so that
 * group memberships in projects follow the provider.
 */
export class OidcLoginService {
  private readonly issuer: OidcIssuer;

  constructor(
    private readonly config: OidcLoginConfig,
    private readonly logins: OidcLoginRepository,
    private readonly accounts: AccountRepository,
    private readonly auditor: Auditor,
  ) {
    this.issuer = new OidcIssuer({ issuer: config.issuer });
  }

  /** Starts a login: the provider's URL to send the browser to, and the state to bind to it. */
  async start(now = new Date()): Promise<{ url: string; state: string }> {
    const state = randomBytes(32).toString('base64url');
    const nonce = randomBytes(32).toString('base64url');
    const { verifier, challenge } = pkcePair();
    let url: string;
    try {
      url = await this.issuer.authorizationUrl({
        clientId: this.config.clientId,
        redirectUri: this.config.redirectUri,
        scope: this.config.scope,
        state,
        nonce,
        codeChallenge: challenge,
      });
    } catch (error) {
      if (error instanceof OidcError)
        throw new Problem('service-unavailable', `the OpenID provider cannot be used: ${error.message}`);
      throw error;
    }
    await this.logins.save(state, { nonce, codeVerifier: verifier }, new Date(now.getTime() + LOGIN_TTL_MS));
    return { url, state };
  }

  /**
   * Finishes a login at the callback: `state` must be the one this browser started with
   * (`browserState`, from its cookie) and still pending; the code is redeemed with the PKCE
   * verifier and the ID token verified with the nonce.
   */
  async finish(
    callback: { code: string | undefined; state: string | undefined; error: string | undefined },
    browserState: string | undefined,
    context: RequestContext,
  ): Promise<Identity & { kind: 'user' }> {
    if (callback.error !== undefined)
      return this.refuse(context, 'unauthorized', `the OpenID provider refused the login: ${callback.error}`);
    if (callback.code === undefined || callback.state === undefined)
      return this.refuse(context, 'bad-request', 'the callback needs code and state');
    if (browserState === undefined || browserState !== callback.state)
      return this.refuse(context, 'unauthorized', 'this login was not started in this browser');
    const pending = await this.logins.take(callback.state, new Date());
    if (!pending) return this.refuse(context, 'unauthorized', 'unknown, used or expired login; start again');
    let claims: IdTokenClaims;
    try {
      ({ claims } = await this.issuer.exchangeCode({
        clientId: this.config.clientId,
        ...(this.config.clientSecret !== undefined && { clientSecret: this.config.clientSecret }),
        redirectUri: this.config.redirectUri,
        code: callback.code,
        codeVerifier: pending.codeVerifier,
        nonce: pending.nonce,
      }));
    } catch (error) {
      if (!(error instanceof OidcError)) throw error;
      return this.refuse(context, 'unauthorized', `the login could not be completed: ${error.reason}`);
    }
    return this.signIn(claims, context);
  }

  private async signIn(claims: IdTokenClaims, context: RequestContext): Promise<Identity & { kind: 'user' }> {
    const parsed = usernameSchema.safeParse(claims[this.config.usernameClaim]);
    if (!parsed.success)
      return this.refuse(
        context,
        'forbidden',
        `the ID token's ${this.config.usernameClaim} claim is not a valid username`,
      );
    const username = parsed.data;
    const groups = groupsOf(claims[this.config.groupsClaim]);
    const email = typeof claims['email'] === 'string' ? claims['email'] : null;
    const existing = await this.accounts.find(username);
    if (existing !== null && existing.source !== 'oidc')
      return this.refuse(context, 'conflict', `a ${existing.source} user "${username}" exists`, username);
    if (existing === null && !this.config.autoCreate)
      return this.refuse(
        context,
        'forbidden',
        `no user "${username}"; an admin must create it first`,
        username,
      );
    const user =
      (await this.accounts.update(username, { groups, email })) ??
      (await this.accounts.create({
        username,
        passwordHash: null,
        email,
        admin: false,
        source: 'oidc',
        groups,
      }));
    if (!user || user.source !== 'oidc')
      return this.refuse(context, 'conflict', `user "${username}" changed during the login`, username);
    await this.auditor.record({
      actor: username,
      sourceAddress: context.sourceAddress,
      action: 'login',
      outcome: 'success',
      detail: {
        method: 'oidc',
        issuer: claims.iss,
        sub: claims.sub,
        created: existing === null,
        requestId: context.requestId,
      },
    });
    return { kind: 'user', username, admin: user.admin, groups };
  }

  private async refuse(
    context: RequestContext,
    kind: 'bad-request' | 'unauthorized' | 'forbidden' | 'conflict',
    detail: string,
    actor = 'oidc',
  ): Promise<never> {
    await this.auditor.record({
      actor,
      sourceAddress: context.sourceAddress,
      action: 'login',
      outcome: 'failure',
      detail: { method: 'oidc', reason: detail, requestId: context.requestId },
    });
    throw new Problem(kind, detail);
  }
}

/** A groups claim as a list of names: an array of strings, or one string. */
function groupsOf(value: unknown): string[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  return [
    ...new Set(list.filter((item): item is string => typeof item === 'string' && item.length <= 256)),
  ].sort();
}
