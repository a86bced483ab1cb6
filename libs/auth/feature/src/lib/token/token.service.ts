import { createHash, randomBytes } from 'node:crypto';
import { signToken, type ResourceScope } from '@berth/registry-token';
import type { AccessService, RequestContext } from '../access.service';
import type { Auditor } from '../auditor';
import { subjectOf, type Identity } from '../model';
import type { KeyRing } from './key-ring';
import type { SigningKeyRepository } from './signing-key.repository';

/** A token issued to a client. */
export interface IssuedToken {
  readonly token: string;
  readonly expiresIn: number;
  readonly issuedAt: string;
  readonly access: readonly ResourceScope[];
  readonly refreshToken: string | null;
}

/** Token lifetimes and names. */
export interface TokenOptions {
  readonly issuer: string;
  readonly service: string;
  readonly ttlSeconds: number;
  readonly refreshTtlSeconds: number;
}

/**
 * Issues registry tokens: the access granted is what RBAC allows of what was asked, signed with
 * the key ring's current key, short-lived; with a refresh token when the client asked for an
 * offline token (`docker login` keeps one instead of the password). Every grant is audited, as a
 * denial when nothing asked for was granted.
 */
export class TokenService {
  constructor(
    private readonly keyRing: KeyRing,
    private readonly keys: SigningKeyRepository,
    private readonly access: AccessService,
    private readonly auditor: Auditor,
    private readonly options: TokenOptions,
  ) {}

  async issue(
    identity: Identity,
    requested: readonly ResourceScope[],
    request: RequestContext & { readonly clientId: string | null; readonly offline: boolean },
  ): Promise<IssuedToken> {
    const granted = await this.access.grant(identity, requested);
    const subject = subjectOf(identity);
    const { token, claims } = await signToken(
      { iss: this.options.issuer, sub: subject, aud: this.options.service, access: granted },
      this.keyRing.current(),
      { ttlSeconds: this.options.ttlSeconds },
    );
    let refreshToken: string | null = null;
    // A workload has no stored identity a refresh token could later stand for.
    if (request.offline && (identity.kind === 'user' || identity.kind === 'robot')) {
      refreshToken = randomBytes(32).toString('base64url');
      const expiresAt = new Date(Date.now() + this.options.refreshTtlSeconds * 1000);
      await this.keys.saveRefreshToken(hashOf(refreshToken), subject, request.clientId, expiresAt);
    }
    const deniedAll = requested.length > 0 && granted.length === 0;
    await this.auditor.record({
      actor: subject === '' ? 'anonymous' : subject,
      sourceAddress: request.sourceAddress,
      action: 'token.grant',
      resource: requested.length === 0 ? null : requested.map(formatForAudit).join(' ').slice(0, 1000),
      outcome: deniedAll ? 'denied' : 'success',
      detail: {
        requested: requested.map(formatForAudit),
        granted: granted.map(formatForAudit),
        clientId: request.clientId,
        requestId: request.requestId,
      },
    });
    return {
      token,
      expiresIn: this.options.ttlSeconds,
      issuedAt: new Date(claims.iat * 1000).toISOString(),
      access: granted,
      refreshToken,
    };
  }

  /** The identity a refresh token speaks for now, or null (unknown, expired, or its subject gone). */
  async redeem(refreshToken: string): Promise<Identity | null> {
    if (refreshToken.length > 512) return null;
    const subject = await this.keys.refreshTokenSubject(hashOf(refreshToken), new Date());
    if (subject === null) return null;
    return this.access.identityOf(subject);
  }
}

function hashOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

function formatForAudit(scope: ResourceScope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}
