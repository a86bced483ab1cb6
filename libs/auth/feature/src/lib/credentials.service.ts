import { hashGeneratedSecret, hashSecret, verifySecret } from '@berth/auth-core';
import { isStorableText } from '@berth/oci';
import type { AccountRepository } from './account.repository';
import type { RequestContext } from './access.service';
import type { Auditor } from './auditor';
import { LdapUnavailableError } from './ldap/ldap.directory';
import { ROBOT_PREFIX, subjectOf, type Identity } from './model';
import { looksLikeJwt, type WorkloadTrust } from './oidc/workload-trust';
import type { RobotRepository } from './robot.repository';
import type { LoginRateLimiter } from './token/rate-limiter';

/** A directory that checks passwords of people who have no local one (LDAP). */
export interface PasswordDirectory {
  authenticate(
    username: string,
    password: string,
  ): Promise<{ username: string; email: string | null; groups: string[] } | null>;
}

/** The outcome of checking a username and password. */
export type Authentication =
  | { readonly ok: true; readonly identity: Identity }
  | {
      readonly ok: false;
      /** `unavailable`: the directory could not answer, which says nothing about the password. */
      readonly reason: 'invalid' | 'rate_limited' | 'unavailable';
      readonly retryAfterSeconds: number | null;
    };

/** Longest username and password looked at; anything longer is refused unread. */
const MAX_USERNAME = 256;
const MAX_PASSWORD = 4096;

/**
 * Checks a username and password, whoever it belongs to: a robot (`robot$<name>` and its secret),
 * a local user (scrypt hash), or a directory user (LDAP) who gets a local account without a
 * password at the first login, with the groups the directory reports. Failures are rate limited
 * per account and per source address, and audited; the caller audits what a success was used for.
 */
export class CredentialsService {
  /** A hash to check against when the account does not exist, so timing does not tell. */
  private readonly decoy = hashSecret('decoy password that matches nothing');
  /** The same for robots, whose secrets are hashed the fast way. */
  private readonly robotDecoy = hashGeneratedSecret('decoy secret that matches nothing');

  constructor(
    private readonly accounts: AccountRepository,
    private readonly robots: RobotRepository,
    private readonly limiter: LoginRateLimiter,
    private readonly auditor: Auditor,
    private readonly directory: PasswordDirectory | null,
    private readonly trust: WorkloadTrust | null = null,
  ) {}

  /**
   * Trades a CI job's OIDC ID token for a workload identity under the trust rules (the token
   * exchange grant of `/token`, or an ID token given as the password). Refusals are rate limited
   * per source address and audited with their reason; so is every success, with the token's
   * issuer and subject, so that the audit log names the job behind each workload token.
   */
  async exchangeIdToken(idToken: string, context: RequestContext, username = ''): Promise<Authentication> {
    const decision = this.limiter.check(username.slice(0, MAX_USERNAME), context.sourceAddress);
    if (decision.limited) {
      await this.audit(username || 'oidc', context, 'denied', 'rate_limited');
      return { ok: false, reason: 'rate_limited', retryAfterSeconds: decision.retryAfterSeconds };
    }
    const result =
      this.trust && idToken.length <= MAX_PASSWORD
        ? await this.trust.exchange(idToken)
        : ({ ok: false, reason: 'untrusted_issuer', detail: 'no trust rule is configured' } as const);
    if (!result.ok) {
      this.limiter.fail(username.slice(0, MAX_USERNAME), context.sourceAddress);
      await this.audit(username || 'oidc', context, 'failure', result.reason, result.detail);
      return { ok: false, reason: 'invalid', retryAfterSeconds: null };
    }
    await this.auditor.record({
      actor: subjectOf(result.identity),
      sourceAddress: context.sourceAddress,
      action: 'login',
      outcome: 'success',
      detail: {
        method: 'oidc-id-token',
        issuer: result.claims.iss,
        sub: result.claims.sub,
        requestId: context.requestId,
      },
    });
    return { ok: true, identity: result.identity };
  }

  async authenticate(username: string, password: string, context: RequestContext): Promise<Authentication> {
    // A CI job may log in with its platform's ID token as the password (any username).
    if (this.trust?.enabled && looksLikeJwt(password) && this.trust.trusts(password))
      return this.exchangeIdToken(password, context, username);
    const decision = this.limiter.check(username.slice(0, MAX_USERNAME), context.sourceAddress);
    if (decision.limited) {
      await this.audit(username, context, 'denied', 'rate_limited');
      return { ok: false, reason: 'rate_limited', retryAfterSeconds: decision.retryAfterSeconds };
    }
    let identity: Identity | null;
    try {
      identity =
        username.length === 0 ||
        username.length > MAX_USERNAME ||
        password.length === 0 ||
        password.length > MAX_PASSWORD ||
        // No account's name or secret holds text PostgreSQL cannot store; nothing to look up.
        !isStorableText(username) ||
        !isStorableText(password)
          ? null
          : await this.check(username, password);
    } catch (error) {
      if (!(error instanceof LdapUnavailableError)) throw error;
      // Not the user's fault, so it does not count towards their rate limit.
      await this.audit(username, context, 'failure', 'directory_unavailable', error.message);
      return { ok: false, reason: 'unavailable', retryAfterSeconds: null };
    }
    if (!identity) {
      this.limiter.fail(username.slice(0, MAX_USERNAME), context.sourceAddress);
      await this.audit(username, context, 'failure', 'invalid_credentials');
      return { ok: false, reason: 'invalid', retryAfterSeconds: null };
    }
    this.limiter.succeed(username);
    return { ok: true, identity };
  }

  private async check(username: string, password: string): Promise<Identity | null> {
    if (username.startsWith(ROBOT_PREFIX)) {
      const robot = await this.robots.find(username.slice(ROBOT_PREFIX.length));
      const valid = await verifySecret(password, robot?.secretHash ?? this.robotDecoy);
      if (!robot || robot.secretHash === null || !valid) return null;
      if (robot.expiresAt !== null && robot.expiresAt <= new Date()) return null;
      return { kind: 'robot', name: robot.name, permissions: robot.permissions };
    }
    const account = await this.accounts.find(username);
    if (account?.passwordHash != null) {
      if (!(await verifySecret(password, account.passwordHash))) return null;
      return { kind: 'user', username: account.username, admin: account.admin, groups: account.groups };
    }
    if (this.directory && (account === null || account.source === 'ldap')) {
      const found = await this.directory.authenticate(username, password);
      if (!found) return null;
      // The directory's spelling may name a local account the typed name did not: never touch it.
      const existing = found.username === username ? account : await this.accounts.find(found.username);
      if (existing !== null && existing.source !== 'ldap') return null;
      const user =
        (await this.accounts.update(found.username, { groups: found.groups, email: found.email })) ??
        (await this.accounts.create({
          username: found.username,
          passwordHash: null,
          email: found.email,
          admin: false,
          source: 'ldap',
          groups: found.groups,
        }));
      if (!user || user.source !== 'ldap') return null;
      return { kind: 'user', username: user.username, admin: user.admin, groups: found.groups };
    }
    await verifySecret(password, await this.decoy);
    return null;
  }

  private audit(
    username: string,
    context: RequestContext,
    outcome: 'failure' | 'denied',
    reason: string,
    error?: string,
  ): Promise<void> {
    return this.auditor.record({
      actor: username,
      sourceAddress: context.sourceAddress,
      action: 'login',
      outcome,
      detail: { reason, requestId: context.requestId, ...(error !== undefined && { error }) },
    });
  }
}
