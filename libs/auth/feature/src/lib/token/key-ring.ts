import { createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import { generateSigningKey, toJwk, TokenVerifier, type SigningKey } from '@berth/registry-token';
import type { Logger } from 'pino';
import type { SigningKeyRepository } from './signing-key.repository';

/** How the key ring rotates. */
export interface KeyRingOptions {
  readonly rotationSeconds: number;
  /** The life of a token: a retired key stays published this long (plus leeway). */
  readonly tokenTtlSeconds: number;
  readonly issuer: string;
  readonly audience: string;
}

const LEEWAY_SECONDS = 60;

/**
 * The token service's ES256 keys, kept in the database so every replica signs with the same
 * newest key and publishes the same set. A key signs until it is `rotationSeconds` old; then a new
 * one takes over and the old one stays in the JWKS until every token it signed has expired.
 */
export class KeyRing {
  private signing: SigningKey | null = null;
  private published: JsonWebKey[] = [];
  readonly verifier: TokenVerifier;

  constructor(
    private readonly keys: SigningKeyRepository,
    private readonly options: KeyRingOptions,
    private readonly logger: Logger,
  ) {
    this.verifier = new TokenVerifier({ issuer: options.issuer, audience: options.audience });
  }

  /**
   * Rotates when due, then loads the live keys. Returns whether the published set changed, so
   * the caller can tell the gateways.
   */
  async refresh(now: Date = new Date()): Promise<boolean> {
    const rotated = await this.keys.rotateIfDue(
      now,
      new Date(now.getTime() - this.options.rotationSeconds * 1000),
      () => {
        const key = generateSigningKey();
        return {
          kid: key.kid,
          privateKeyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          publicJwk: toJwk(key),
        };
      },
    );
    const horizon = new Date(now.getTime() - (this.options.tokenTtlSeconds + LEEWAY_SECONDS) * 1000);
    await this.keys.prune(horizon);
    const live = await this.keys.live(horizon);
    const newest = live.find((key) => key.retiredAt === null);
    if (!newest) throw new Error('no signing key after rotation');
    const before = this.published.map((k) => k.kid).join();
    if (this.signing?.kid !== newest.kid) {
      const privateKey = createPrivateKey(newest.privateKeyPem);
      this.signing = { kid: newest.kid, privateKey, publicKey: createPublicKey(privateKey) };
    }
    this.published = live.map((key) => key.publicJwk);
    this.verifier.setKeys(this.published);
    if (rotated) this.logger.info({ kid: newest.kid }, 'token signing key rotated');
    return before !== this.published.map((k) => k.kid).join();
  }

  /** The key that signs new tokens. */
  current(): SigningKey {
    if (!this.signing) throw new Error('key ring not loaded');
    return this.signing;
  }

  /** The public keys whose tokens may be alive: the JWKS document's `keys`. */
  jwks(): JsonWebKey[] {
    return this.published;
  }
}
