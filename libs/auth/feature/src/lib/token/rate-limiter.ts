/** What the limiter says about an attempt. */
export type RateDecision =
  { readonly limited: false } | { readonly limited: true; readonly retryAfterSeconds: number };

/** Bounds of a {@link LoginRateLimiter}. */
export interface RateLimits {
  readonly windowSeconds: number;
  readonly failuresPerAccount: number;
  readonly failuresPerAddress: number;
}

/** Keys tracked at most; beyond it the oldest are dropped (a flood must not exhaust memory). */
const MAX_KEYS = 100_000;

/**
 * Counts failed logins per account and per source address in a sliding window, against guessing
 * one password (many tries on one account) and spraying (one password over many accounts from one
 * address). Only failures count, so a user who signs in correctly is never slowed down; a success
 * clears its account's count but not its address's. Kept per process: with several token service
 * replicas an attacker gets at most replicas × the limit.
 */
export class LoginRateLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly limits: RateLimits) {}

  /** Whether an attempt for `account` from `address` may go ahead now. */
  check(account: string, address: string | null, now = Date.now()): RateDecision {
    const waits = [
      this.wait(`account:${account.toLowerCase()}`, this.limits.failuresPerAccount, now),
      address === null ? 0 : this.wait(`address:${address}`, this.limits.failuresPerAddress, now),
    ];
    const retryAfterSeconds = Math.max(...waits);
    return retryAfterSeconds > 0 ? { limited: true, retryAfterSeconds } : { limited: false };
  }

  /** Records a failed attempt. */
  fail(account: string, address: string | null, now = Date.now()): void {
    this.push(`account:${account.toLowerCase()}`, now);
    if (address !== null) this.push(`address:${address}`, now);
  }

  /** Records a success: the account's failures are forgiven. */
  succeed(account: string): void {
    this.failures.delete(`account:${account.toLowerCase()}`);
  }

  private wait(key: string, limit: number, now: number): number {
    const times = this.recent(key, now);
    if (times.length < limit) return 0;
    const oldest = times[times.length - limit] ?? now;
    return Math.max(1, Math.ceil((oldest + this.limits.windowSeconds * 1000 - now) / 1000));
  }

  private push(key: string, now: number): void {
    const times = this.recent(key, now);
    times.push(now);
    this.failures.delete(key);
    this.failures.set(key, times);
    if (this.failures.size > MAX_KEYS) {
      const oldest = this.failures.keys().next();
      if (oldest.done !== true) this.failures.delete(oldest.value);
    }
  }

  private recent(key: string, now: number): number[] {
    const start = now - this.limits.windowSeconds * 1000;
    return (this.failures.get(key) ?? []).filter((time) => time > start);
  }
}
