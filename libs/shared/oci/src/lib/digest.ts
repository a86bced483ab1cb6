import { createHash, type Hash } from 'node:crypto';
import { OciError } from './errors';

/** The digest algorithms Berth accepts, with the length of their hex encoding. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;

/** A registered digest algorithm. */
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

declare const digestBrand: unique symbol;

/**
 * A content digest `algorithm:hex` that has been validated: a registered algorithm and a
 * lower-case hex encoded value of that algorithm's length. Only {@link parseDigest} and
 * {@link DigestHasher} make one.
 */
export type Digest = string & { readonly [digestBrand]: true };

const DIGEST_PATTERN = /^(sha256|sha512):([a-f0-9]+)$/;

/** Whether `value` is a well-formed digest of a registered algorithm. */
export function isDigest(value: string): value is Digest {
  const match = DIGEST_PATTERN.exec(value);
  if (!match) return false;
  const [, algorithm, hex] = match as unknown as [string, DigestAlgorithm, string];
  return hex.length === DIGEST_ALGORITHMS[algorithm];
}

/**
 * Validates a digest string. Throws `DIGEST_INVALID` (400) for anything malformed, including
 * unregistered algorithms and hex of the wrong length; `UNSUPPORTED` is not used because a client
 * can always fix its request.
 */
export function parseDigest(value: string): Digest {
  if (!isDigest(value)) {
    throw new OciError('DIGEST_INVALID', `invalid digest "${truncate(value)}"`, { digest: truncate(value) });
  }
  return value;
}

/** The algorithm part of a digest. */
export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

/** The hex part of a digest. */
export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** Computes the digest of an in-memory buffer (manifests, small test blobs). */
export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` as Digest;
}

/**
 * Computes a digest incrementally while bytes stream past, counting them too. One hasher serves
 * one stream; {@link DigestHasher.digest} may be called once.
 */
export class DigestHasher {
  private readonly hash: Hash;
  private count = 0;

  constructor(readonly algorithm: DigestAlgorithm = 'sha256') {
    this.hash = createHash(algorithm);
  }

  /** Feeds a chunk. */
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.count += chunk.length;
  }

  /** Number of bytes fed so far. */
  get size(): number {
    return this.count;
  }

  /** Finishes the hash. */
  digest(): Digest {
    return `${this.algorithm}:${this.hash.digest('hex')}` as Digest;
  }
}

function truncate(value: string): string {
  return value.length > 200 ? `${value.slice(0, 200)}…` : value;
}
