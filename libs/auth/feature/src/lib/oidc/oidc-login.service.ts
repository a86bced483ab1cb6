import type { OidcLoginConfig } from '@berth/config';
import { Problem } from '@berth/server';
import { calculatePKCECodeChallenge, randomNonce, randomPKCECodeVerifier, randomState } from 'openid-client';
import type { AccountRepository } from '../account.repository';
import type { RequestContext } from '../access.service';
import { username as usernameSchema } from '../api/dto';
import type { Auditor } from '../auditor';
import type { Identity } from '../model';
import { OidcClient, OidcError, type IdTokenClaims } from './oidc-client';
import type { OidcLoginRepository } from './oidc-login.repository';

/** How long a user has at the provider between leaving Berth and coming back. */
const LOGIN_TTL_MS = 10 * 60_000;

/**
 * Sign-in with an OpenID Provider (the authorization-code flow with PKCE, a nonce and a
 * single-use state kept in the database, so that the callback may reach any replica). The first
 * login creates the user, source `oidc`, when `autoCreate` allows; every login refreshes its email
 * and groups from the ID token, so that group memberships in projects follow the provider.
 */
export class OidcLoginService {
  private readonly client: OidcClient;

  constructor(
    private readonly config: OidcLoginConfig,
    private readonly logins: OidcLoginRepository,
    private readonly accounts: AccountRepository,
    private readonly auditor: Auditor,
  ) {
    this.client = new OidcClient({
      issuer: config.issuer,
      clientId: config.clientId,
      ...(config.clientSecret !== undefined && { clientSecret: config.clientSecret }),
    });
  }

  /** Starts a login: the provider's URL to send the browser to, and the state to bind to it. */
  async start(now = new Date()): Promise<{ url: string; state: string }> {
    const state = randomState();
    const nonce = randomNonce();
    const codeVerifier = randomPKCECodeVerifier();
    let url: string;
    try {
      url = await this.client.authorizationUrl({
        redirectUri: this.config.redirectUri,
        scope: this.config.scope,
        state,
        nonce,
        codeChallenge: await calculatePKCECodeChallenge(codeVerifier),
      });
    } catch (error) {
      if (error instanceof OidcError)
        throw new Problem('service-unavailable', `the OpenID provider cannot be used: ${error.message}`);
      throw error;
    }
    await this.logins.save(state, { nonce, codeVerifier }, new Date(now.getTime() + LOGIN_TTL_MS));
    return { url, state };
  }

  /**
   * Finishes a login at the callback, whose query is `callback`: its `state` must be the one this
   * browser started with (`browserState`, from its cookie) and still pending; the code is redeemed
   * with the PKCE verifier and the ID token validated with the nonce. Refusals are audited and
   * thrown as problems.
   */
  async finish(
    callback: URLSearchParams,
    browserState: string | undefined,
    context: RequestContext,
  ): Promise<Identity & { kind: 'user' }> {
    const error = callback.get('error');
    const state = callback.get('state');
    if (error !== null)
      return this.refuse(context, 'unauthorized', `the OpenID provider refused the login: ${error}`);
    if (callback.get('code') === null || state === null)
      return this.refuse(context, 'bad-request', 'the callback needs code and state');
    if (browserState === undefined || browserState !== state)
      return this.refuse(context, 'unauthorized', 'this login was not started in this browser');
    const pending = await this.logins.take(state, new Date());
    if (!pending) return this.refuse(context, 'unauthorized', 'unknown, used or expired login; start again');
    // The provider sent the browser to the redirect URI with this query; openid-client reads the
    // response from it and sends the same redirect URI with the code.
    const callbackUrl = new URL(this.config.redirectUri);
    callbackUrl.search = callback.toString();
    let claims: IdTokenClaims;
    try {
      ({ claims } = await this.client.redeem(callbackUrl, {
        codeVerifier: pending.codeVerifier,
        state,
        nonce: pending.nonce,
      }));
    } catch (failure) {
      if (!(failure instanceof OidcError)) throw failure;
      return this.refuse(context, 'unauthorized', `the login could not be completed: ${failure.reason}`);
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
