import { LruCache } from './lru-cache';

/** Bounds of a {@link RevocableCache}. */
export interface RevocableCacheOptions<V> {
  /** Most values kept, and most revocations remembered. */
  readonly capacity: number;
  /** How long a value is kept; 0 keeps none. */
  readonly maxAgeMs: number;
  /** Whom a value speaks for. */
  readonly subjectOf: (value: V) => string;
}

/**
 * What credential checks proved, kept for a while so that requests with the same credentials skip
 * the check, and forgotten at once when their subject is revoked (a password changed, an account
 * removed): a value from a check that began before the revocation is never returned after it.
 * Keys are the caller's (a hash of the credentials, never the credentials themselves).
 */
export class RevocableCache<V> {
  private readonly values: LruCache<string, { readonly value: V; readonly checkedAt: number }>;
  private readonly revokedAt = new Map<string, number>();

  constructor(private readonly options: RevocableCacheOptions<V>) {
    this.values = new LruCache(options.capacity, options.maxAgeMs);
  }

  /** The value kept under `key`, unless it is too old or its subject was revoked since its check. */
  get(key: string): V | null {
    if (this.options.maxAgeMs <= 0) return null;
    const entry = this.values.get(key);
    if (entry === undefined) return null;
    const revoked = this.revokedAt.get(this.options.subjectOf(entry.value)) ?? 0;
    return entry.checkedAt > revoked ? entry.value : null;
  }

  /** Keeps what a check that began at `checkedAt` proved. */
  set(key: string, value: V, checkedAt: number): void {
    if (this.options.maxAgeMs <= 0) return;
    this.values.set(key, { value, checkedAt });
  }

  /** Forgets every value of `subject` checked before now. */
  revoke(subject: string): void {
    this.revokedAt.delete(subject);
    this.revokedAt.set(subject, Date.now());
    if (this.revokedAt.size > this.options.capacity)
      this.revokedAt.delete(this.revokedAt.keys().next().value ?? '');
  }
}
