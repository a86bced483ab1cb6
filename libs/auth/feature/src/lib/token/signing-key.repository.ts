import type { JsonWebKey } from 'node:crypto';
import type { PrismaClient } from '@berth/db';

/** A stored signing key: the private half as PKCS#8 PEM. */
export interface StoredKey {
  readonly kid: string;
  readonly privateKeyPem: string;
  readonly publicJwk: JsonWebKey;
  readonly createdAt: Date;
  readonly retiredAt: Date | null;
}

/** The token service's signing keys and refresh tokens. */
export class SigningKeyRepository {
  constructor(private readonly db: PrismaClient) {}

  /** Keys that sign now or whose tokens may still be alive (retired after `retiredAfter`). */
  async live(retiredAfter: Date): Promise<StoredKey[]> {
    const rows = await this.db.signingKey.findMany({
      where: { OR: [{ retiredAt: null }, { retiredAt: { gt: retiredAfter } }] },
      orderBy: { createdAt: 'desc' },
    });
    return rows.map((row) => ({
      kid: row.kid,
      privateKeyPem: row.privateKey,
      publicJwk: row.publicJwk as JsonWebKey,
      createdAt: row.createdAt,
      retiredAt: row.retiredAt,
    }));
  }

  /**
   * Under a transaction-wide advisory lock (replicas of the token service race at boot): when no
   * key signs or the signing one is older than `rotateBefore`, retires the current ones and stores
   * `next`. Returns whether it did.
   */
  async rotateIfDue(
    now: Date,
    rotateBefore: Date,
    next: () => Omit<StoredKey, 'createdAt' | 'retiredAt'>,
  ): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(727274001)`;
      const current = await tx.signingKey.findFirst({
        where: { retiredAt: null },
        orderBy: { createdAt: 'desc' },
      });
      if (current && current.createdAt > rotateBefore) return false;
      const key = next();
      await tx.signingKey.updateMany({ where: { retiredAt: null }, data: { retiredAt: now } });
      await tx.signingKey.create({
        data: {
          createdAt: now,
          kid: key.kid,
          privateKey: key.privateKeyPem,
          publicJwk: JSON.parse(JSON.stringify(key.publicJwk)) as object,
        },
      });
      return true;
    });
  }

  /** Forgets keys retired before `retiredBefore`: no token they signed is alive. */
  async prune(retiredBefore: Date): Promise<void> {
    await this.db.signingKey.deleteMany({ where: { retiredAt: { lt: retiredBefore } } });
  }

  async saveRefreshToken(
    hash: string,
    subject: string,
    clientId: string | null,
    expiresAt: Date,
  ): Promise<void> {
    await this.db.refreshToken.create({ data: { hash, subject, clientId, expiresAt } });
  }

  /** The subject of a live refresh token, or null. */
  async refreshTokenSubject(hash: string, now: Date): Promise<string | null> {
    const row = await this.db.refreshToken.findUnique({ where: { hash } });
    return row && row.expiresAt > now ? row.subject : null;
  }

  /** Revokes every refresh token of a subject (robot revoked or rotated, user deleted). */
  async revokeRefreshTokens(subject: string): Promise<void> {
    await this.db.refreshToken.deleteMany({ where: { subject } });
  }
}
