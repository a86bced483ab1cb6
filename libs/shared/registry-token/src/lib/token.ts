import { generateKeyPairSync, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, errors, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
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
  /** Berth signs one audience; a verified token may name several, ours among them. */
  readonly aud: string | readonly string[];
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

/** The longest token the verifier reads; anything longer is refused before it is parsed. */
const MAX_TOKEN_LENGTH = 16_384;

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
 * Signs registry claims into a compact JWT with the protected header `{alg: ES256, typ: JWT,
 * kid}`. jose converts the key for Web Crypto once and remembers it per key object, so a key ring
 * that keeps its current key pays that once per rotation, not per token.
 */
export async function signToken(
  claims: Omit<RegistryClaims, 'aud' | 'iat' | 'nbf' | 'exp' | 'jti'> & { readonly aud: string },
  key: SigningKey,
  options: { ttlSeconds: number; now?: number },
): Promise<{ token: string; claims: RegistryClaims }> {
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const full = {
    ...claims,
    iat: now,
    nbf: now,
    exp: now + options.ttlSeconds,
    jti: randomUUID(),
  };
  // The claims go in whole rather than through the builder's setters, so the payload keeps the
  // order and form tokens have always had.
  const token = await new SignJWT(full)
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: key.kid })
    .sign(key.privateKey);
  return { token, claims: full };
}

/** What a verifier accepts. */
export interface VerifierOptions {
  readonly issuer: string;
  readonly audience: string;
  /** Seconds of clock skew tolerated on `exp` and `nbf`. */
  readonly leewaySeconds?: number;
}

/**
 * Verifies registry tokens locally with jose, with no call per request: the algorithm must be
 * ES256 (so `alg: none` and algorithm confusion are refused before any key is looked at), the
 * header's key id must name a current public key, the signature must hold, and `iss`, `aud`, `exp`
 * and `nbf` must match. Keys are swapped as a set when they rotate; a token signed by a key that
 * rotated out is refused. Each key is imported once per set, on the first token that names it.
 */
export class TokenVerifier {
  private keys: JWTVerifyGetKey = withKidRequired(createLocalJWKSet({ keys: [] }));

  constructor(private readonly options: VerifierOptions) {}

  /**
   * Replaces the trusted keys with those of a JWKS document (the `keys` array). Only P-256 keys
   * with a key id are kept; of two with the same id, the later one.
   */
  setKeys(jwks: readonly JsonWebKey[]): void {
    const byKid = new Map<string, JsonWebKey>();
    for (const jwk of jwks) {
      if (typeof jwk.kid !== 'string' || jwk.kty !== 'EC' || jwk.crv !== 'P-256') continue;
      byKid.set(jwk.kid, jwk);
    }
    this.keys = withKidRequired(createLocalJWKSet({ keys: [...byKid.values()] }));
  }

  /** Returns the token's claims, or rejects with a {@link TokenError}. */
  async verify(token: string, now: number = Date.now()): Promise<RegistryClaims> {
    if (token.length > MAX_TOKEN_LENGTH) throw new TokenError('malformed');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        algorithms: ['ES256'],
        issuer: this.options.issuer,
        audience: this.options.audience,
        requiredClaims: ['exp'],
        clockTolerance: this.options.leewaySeconds ?? 30,
        currentDate: new Date(now),
      }));
    } catch (error) {
      throw new TokenError(failureOf(error));
    }
    if (!Array.isArray(payload['access']) || typeof payload['sub'] !== 'string')
      throw new TokenError('malformed');
    return payload as unknown as RegistryClaims;
  }
}

/**
 * A key lookup that refuses a header without a `kid`: jose would otherwise try the only key of a
 * one-key set, and Berth's tokens always name their key.
 */
function withKidRequired(keys: JWTVerifyGetKey): JWTVerifyGetKey {
  return (header, token) => {
    if (typeof header.kid !== 'string') throw new errors.JWKSNoMatchingKey();
    return keys(header, token);
  };
}

/**
 * Why jose refused a token, in Berth's terms. A claim that is missing counts as wrong (no `iss` is
 * a wrong issuer, no `exp` an expired token); an `nbf` or `iat` that is not a number is malformed.
 * Anything that is not a jose error is a fault, not a refusal, and goes on as it is.
 */
function failureOf(error: unknown): TokenFailure {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return 'wrong_issuer';
      case 'aud':
        return 'wrong_audience';
      case 'exp':
        return 'expired';
      case 'nbf':
        return error.reason === 'check_failed' ? 'not_yet_valid' : 'malformed';
      default:
        return 'malformed';
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'unsupported_algorithm';
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
    return 'unknown_key';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad_signature';
  // JWSInvalid, JWTInvalid and the rest: the token is not a well-formed ES256 JWT.
  if (error instanceof errors.JOSEError) return 'malformed';
  throw error;
}
