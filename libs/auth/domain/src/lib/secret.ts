import { createHmac, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost parameters: N = 2^15, r = 8, p = 1 (32 MiB per hash), 32-byte key. */
const COST = { N: 32768, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;

/**
 * How many scrypt derivations run at once. Each takes 32 MiB and a core for tens of
 * milliseconds, so a burst of logins (or a password spray) queues instead of taking the memory
 * and every core of the process.
 */
const MAX_CONCURRENT_DERIVATIONS = 2;
let running = 0;
const waiting: (() => void)[] = [];

/**
 * Hashes a password or robot secret with scrypt and a random salt, into a self-describing string
 * `scrypt$N$r$p$<salt>$<hash>` (base64url), so cost parameters can rise without breaking old hashes.
 */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(secret, salt, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/**
 * Hashes a secret that Berth generated itself (a robot's: 32 random bytes) with a salted
 * HMAC-SHA256, into `hmac-sha256$<salt>$<hash>`. A random 256-bit secret cannot be guessed, so a
 * slow hash would only cost every login of every CI job memory and time, and buy nothing.
 * Never use it for passwords people choose: those get {@link hashSecret}.
 */
export function hashGeneratedSecret(secret: string): string {
  const salt = randomBytes(16);
  return ['hmac-sha256', salt.toString('base64url'), hmac(secret, salt).toString('base64url')].join('$');
}

/**
 * Whether `secret` matches a hash from {@link hashSecret} or {@link hashGeneratedSecret},
 * compared in constant time.
 */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  if (stored.startsWith('hmac-sha256$')) {
    const [, salt, hash] = stored.split('$');
    if (salt === undefined || hash === undefined) return false;
    const expected = Buffer.from(hash, 'base64url');
    const actual = hmac(secret, Buffer.from(salt, 'base64url'));
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || salt === undefined || hash === undefined) return false;
  const cost = { N: Number(n), r: Number(r), p: Number(p) };
  if (![cost.N, cost.r, cost.p].every((v) => Number.isSafeInteger(v) && v > 0) || cost.N > 2 ** 20)
    return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await derive(secret, Buffer.from(salt, 'base64url'), cost);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

function hmac(secret: string, salt: Buffer): Buffer {
  return createHmac('sha256', salt).update(secret.normalize('NFKC')).digest();
}

async function derive(
  secret: string,
  salt: Buffer,
  cost: { N: number; r: number; p: number },
): Promise<Buffer> {
  if (running >= MAX_CONCURRENT_DERIVATIONS) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    const options: ScryptOptions = { ...cost, maxmem: 256 * cost.N * cost.r };
    return await new Promise((resolve, reject) => {
      scrypt(secret.normalize('NFKC'), salt, KEY_LENGTH, options, (error, key) => {
        if (error) reject(error);
        else resolve(key);
      });
    });
  } finally {
    running--;
    waiting.shift()?.();
  }
}
