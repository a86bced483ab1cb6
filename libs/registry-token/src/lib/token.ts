import {
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  verify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import type { ResourceScope } from './scope';

/** An ES256 signing key with the id (`kid`) that tokens name it by. */
export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** The claims of a registry token (Docker registry token spec, JWT form). */
export interface RegistryClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string;
  readonly exp: number;
  readonly nbf: number;
  readonly iat: number;
  readonly jti: string;
  readonly access: readonly ResourceScope[];
}

/** Why a token was refused. */
export type TokenFailure =
  | 'malformed'
  | 'unsupported_algorithm'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience';

/** A token was refused; `reason` says why (for logs and audit, never for the client). */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(readonly reason: TokenFailure) {
    super(`token refused: ${reason}`);
  }
}

/** Makes a fresh P-256 key for ES256, with a random key id. */
export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid: randomUUID(), privateKey, publicKey };
}

/** The public half of a key as a JWK, for the JWKS endpoint. */
export function toJwk(key: Pick<SigningKey, 'kid' | 'publicKey'>): JsonWebKey {
  return { ...key.publicKey.export({ format: 'jwk' }), kid: key.kid, alg: 'ES256', use: 'sig' };
}

/**
 * Signs registry claims into a compact JWT (`alg: ES256`, the signature in the raw r‖s form JWS
 * requires).
 */
export function signToken(
  claims: Omit<RegistryClaims, 'iat' | 'nbf' | 'exp' | 'jti'>,
  key: SigningKey,
  options: { ttlSeconds: number; now?: number },
): { token: string; claims: RegistryClaims } {
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const full: RegistryClaims = {
    ...claims,
    iat: now,
    nbf: now,
    exp: now + options.ttlSeconds,
    jti: randomUUID(),
  };
  const header = base64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: key.kid }));
  const payload = base64url(JSON.stringify(full));
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return { token: `${header}.${payload}.${signature.toString('base64url')}`, claims: full };
}

/** What a verifier accepts. */
export interface VerifierOptions {
  readonly issuer: string;
  readonly audience: string;
  /** Seconds of clock skew tolerated on `exp` and `nbf`. */
  readonly leewaySeconds?: number;
}

/**
 * Verifies registry tokens locally, with no call per request: the algorithm must be ES256 (so
 * `alg: none` and algorithm confusion are refused), the key id must name a current public key, the
 * signature must hold, and `iss`, `aud`, `exp` and `nbf` must match. Keys are swapped as a set when
 * they rotate; a token signed by a key that rotated out is refused.
 */
export class TokenVerifier {
  private keys = new Map<string, KeyObject>();

  constructor(private readonly options: VerifierOptions) {}

  /** Replaces the trusted keys with those of a JWKS document (the `keys` array). */
  setKeys(jwks: readonly JsonWebKey[]): void {
    const keys = new Map<string, KeyObject>();
    for (const jwk of jwks) {
      if (typeof jwk.kid !== 'string' || jwk.kty !== 'EC' || jwk.crv !== 'P-256') continue;
      keys.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }));
    }
    this.keys = keys;
  }

  /** Returns the token's claims, or throws a {@link TokenError}. */
  verify(token: string, now: number = Date.now()): RegistryClaims {
    const parts = token.split('.');
    if (parts.length !== 3 || token.length > 16_384) throw new TokenError('malformed');
    const [encodedHeader = '', encodedPayload = '', encodedSignature = ''] = parts;
    const header = decodeJson(encodedHeader);
    if (header['alg'] !== 'ES256') throw new TokenError('unsupported_algorithm');
    const kid = header['kid'];
    const key = typeof kid === 'string' ? this.keys.get(kid) : undefined;
    if (!key) throw new TokenError('unknown_key');
    const signature = Buffer.from(encodedSignature, 'base64url');
    const valid =
      signature.length === 64 &&
      verify(
        'sha256',
        Buffer.from(`${encodedHeader}.${encodedPayload}`),
        { key, dsaEncoding: 'ieee-p1363' },
        signature,
      );
    if (!valid) throw new TokenError('bad_signature');
    const claims = decodeJson(encodedPayload);
    const seconds = Math.floor(now / 1000);
    const leeway = this.options.leewaySeconds ?? 30;
    if (typeof claims['exp'] !== 'number' || claims['exp'] + leeway <= seconds)
      throw new TokenError('expired');
    if (typeof claims['nbf'] === 'number' && claims['nbf'] - leeway > seconds)
      throw new TokenError('not_yet_valid');
    if (claims['iss'] !== this.options.issuer) throw new TokenError('wrong_issuer');
    const audience = claims['aud'];
    const audiences = Array.isArray(audience) ? audience : [audience];
    if (!audiences.includes(this.options.audience)) throw new TokenError('wrong_audience');
    if (!Array.isArray(claims['access']) || typeof claims['sub'] !== 'string')
      throw new TokenError('malformed');
    return claims as unknown as RegistryClaims;
  }
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

function decodeJson(part: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new TokenError('malformed');
    return value as Record<string, unknown>;
  } catch {
    throw new TokenError('malformed');
  }
}
