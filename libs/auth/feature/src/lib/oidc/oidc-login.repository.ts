import type { PrismaClient } from '@berth/db';

/** What the callback of a login needs from the request that started it. */
export interface PendingLogin {
  readonly nonce: string;
  readonly codeVerifier: string;
}

/**
 * OpenID Connect logins in flight, in the database so that the callback may reach any replica of
 * the auth service. Each is taken once: a replayed callback finds nothing.
 */
export class OidcLoginRepository {
  constructor(private readonly db: PrismaClient) {}

  async save(state: string, login: PendingLogin, expiresAt: Date): Promise<void> {
    await this.db.oidcLogin.create({ data: { state, ...login, expiresAt } });
  }

  /** Removes and returns the login with this state, or null when it is unknown, used or expired. */
  async take(state: string, now: Date): Promise<PendingLogin | null> {
    const [row] = await this.db.$queryRaw<{ nonce: string; code_verifier: string; expires_at: Date }[]>`
      DELETE FROM auth.oidc_login WHERE state = ${state} RETURNING nonce, code_verifier, expires_at`;
    // Logins that were started and never finished are swept along.
    await this.db.oidcLogin.deleteMany({ where: { expiresAt: { lte: now } } });
    return row && row.expires_at > now ? { nonce: row.nonce, codeVerifier: row.code_verifier } : null;
  }
}
