import { matchesGlob } from '@berth/naming';
import type { OidcTrustRule } from '@berth/config';
import type { Identity } from '../model';
import { OidcClient, OidcError, type IdTokenClaims } from './oidc-client';

/** Why an ID token bought nothing; the audit log records it. */
export type WorkloadRefusal =
  /** No trust rule names the token's issuer (or the token has no readable `iss`). */
  | 'untrusted_issuer'
  /** The token failed verification; `detail` says which check. */
  | 'invalid_token'
  /** The token verified, but its claims match no rule of its issuer. */
  | 'no_matching_rule';

/** The outcome of an exchange: a workload identity, or the reason there is none. */
export type WorkloadExchange =
  | { readonly ok: true; readonly identity: Identity & { kind: 'workload' }; readonly claims: IdTokenClaims }
  | { readonly ok: false; readonly reason: WorkloadRefusal; readonly detail: string };

/** Whether a password looks like a JWT, which is what CI jobs present when they log in with one. */
export function looksLikeJwt(value: string): boolean {
  return /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]+$/.test(value);
}

/**
 * Trades OpenID Connect ID tokens of CI platforms (GitHub Actions, GitLab CI, Kubernetes service
 * accounts, …) for a workload identity, under the configured trust rules: a token verified for a
 * rule's issuer and audience whose claims match every glob of the rule speaks for the rule's robot
 * name, with the rule's permissions. The first matching rule, in configuration order, wins. No
 * secret is stored anywhere; the provider's keys are fetched from its discovery document.
 */
export class WorkloadTrust {
  /** One client per issuer and audience, each with its provider's discovery and keys cached. */
  private readonly clients = new Map<string, OidcClient>();

  constructor(
    private readonly rules: readonly OidcTrustRule[],
    private readonly timeoutMs = 5_000,
  ) {}

  /** Whether any rule is configured; without one, ID tokens are never looked at. */
  get enabled(): boolean {
    return this.rules.length > 0;
  }

  /** Whether a rule names the (unverified) issuer of a token, so that the token is meant for us. */
  trusts(token: string): boolean {
    const issuer = unverifiedIssuer(token);
    return this.rules.some((rule) => rule.issuer === issuer);
  }

  async exchange(idToken: string): Promise<WorkloadExchange> {
    const issuer = unverifiedIssuer(idToken);
    const candidates = this.rules.filter((rule) => rule.issuer === issuer);
    if (issuer === null || candidates.length === 0)
      return { ok: false, reason: 'untrusted_issuer', detail: `issuer ${JSON.stringify(issuer)}` };
    let lastFailure = '';
    // Rules of one issuer may name different audiences; each audience needs its own verification.
    const verified = new Map<string, IdTokenClaims | null>();
    for (const rule of candidates) {
      if (!verified.has(rule.audience)) {
        try {
          verified.set(rule.audience, await this.clientFor(issuer, rule.audience).verifyIdToken(idToken));
        } catch (error) {
          if (!(error instanceof OidcError)) throw error;
          lastFailure = error.message;
          verified.set(rule.audience, null);
        }
      }
      const claims = verified.get(rule.audience);
      if (claims && claimsMatch(rule.claims, claims)) {
        return {
          ok: true,
          identity: { kind: 'workload', name: rule.robot, permissions: rule.permissions },
          claims,
        };
      }
    }
    return [...verified.values()].some((claims) => claims !== null)
      ? { ok: false, reason: 'no_matching_rule', detail: `no rule of ${issuer} matches the claims` }
      : { ok: false, reason: 'invalid_token', detail: lastFailure };
  }

  /** The rule's audience is the client id the CI platform issued the token to. */
  private clientFor(issuer: string, audience: string): OidcClient {
    const key = JSON.stringify([issuer, audience]);
    let found = this.clients.get(key);
    if (!found) {
      found = new OidcClient({ issuer, clientId: audience, timeoutMs: this.timeoutMs });
      this.clients.set(key, found);
    }
    return found;
  }
}

/** Every pattern must match its claim, compared as a string; a missing or non-scalar claim fails. */
function claimsMatch(patterns: Readonly<Record<string, string>>, claims: IdTokenClaims): boolean {
  return Object.entries(patterns).every(([name, pattern]) => {
    const value = claims[name];
    const text =
      typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
        ? String(value)
        : null;
    return text !== null && matchesGlob(pattern, text);
  });
}

/** The `iss` of a token, read without verifying it: only to choose which issuer verifies it. */
function unverifiedIssuer(token: string): string | null {
  const payload = token.split('.')[1];
  if (payload === undefined || payload.length > 16_384) return null;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    if (claims === null || typeof claims !== 'object') return null;
    const iss = (claims as Record<string, unknown>)['iss'];
    return typeof iss === 'string' ? iss : null;
  } catch {
    return null;
  }
}
