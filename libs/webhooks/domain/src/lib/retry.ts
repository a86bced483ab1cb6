/** How long a delivery keeps being retried after its first attempt, unless configured: 24 hours. */
export const DEFAULT_RETRY_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Backoff settings: the first delay, the longest delay, and the source of jitter. */
export interface BackoffOptions {
  /** The delay after the first failed attempt, and the least delay ever (default 1 s). */
  readonly baseMs?: number;
  /** The longest delay, also the cap on a receiver's `Retry-After` (default 1 h). */
  readonly maxMs?: number;
  /** A uniform random number in [0, 1) (default `Math.random`); tests pass their own. */
  readonly random?: () => number;
}

const DEFAULT_BASE_MS = 1000;
const DEFAULT_MAX_MS = 60 * 60 * 1000;

/**
 * The delay before the next attempt, after `attempt` attempts have failed (1 after the first):
 * exponential backoff with full jitter, drawn uniformly between `baseMs` and
 * `min(maxMs, baseMs · 2^(attempt−1))`. Full jitter spreads the retries of many deliveries that
 * failed together (a receiver that was down) instead of bringing them back in waves; the floor
 * keeps a retry from ever being immediate.
 */
export function nextAttemptDelay(attempt: number, options: BackoffOptions = {}): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError('attempt counts from 1');
  const { baseMs, maxMs } = backoffBounds(options);
  const random = options.random ?? Math.random;
  // 2^(attempt−1) overflows to Infinity for huge attempts, which min() then caps.
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.round(baseMs + random() * (ceiling - baseMs));
}

/** Whether a delivery's retry window has run out. */
export function isGivingUp(
  firstAttemptAt: Date,
  now: Date,
  retryWindowMs = DEFAULT_RETRY_WINDOW_MS,
): boolean {
  return now.getTime() - firstAttemptAt.getTime() >= retryWindowMs;
}

/** What happened on one delivery attempt. */
export type AttemptOutcome =
  | {
      readonly kind: 'response';
      readonly status: number;
      /** The response's `Retry-After` header, if any. */
      readonly retryAfter?: string | null;
    }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'network-error'; readonly message: string };

/** What to do after an attempt. */
export type AttemptVerdict =
  | { readonly action: 'delivered' }
  /** The receiver said it wants no more deliveries: disable the subscription, with this reason. */
  | { readonly action: 'disable'; readonly reason: string }
  /** Try again; not before `retryAfterMs` from now if the receiver asked for that. */
  | { readonly action: 'retry'; readonly reason: string; readonly retryAfterMs: number | null };

/**
 * Classifies an attempt, following Standard Webhooks: any 2xx is delivered; 410 Gone means the
 * receiver wants no more and the subscription is disabled; everything else — other 4xx, 3xx
 * (redirects are not followed), 5xx, timeouts and network errors — is retried until the retry
 * window closes. Retrying a 4xx costs little and survives a receiver that was briefly
 * misconfigured (a 404 during a deploy, a 401 while its secret rotates), which is what Harbor
 * and Svix do too. `Retry-After` (seconds or an HTTP date) is honoured on 429 and 5xx.
 */
export function classifyAttempt(outcome: AttemptOutcome, now: Date = new Date()): AttemptVerdict {
  switch (outcome.kind) {
    case 'timeout':
      return { action: 'retry', reason: 'the receiver did not answer in time', retryAfterMs: null };
    case 'network-error':
      return { action: 'retry', reason: `network error: ${outcome.message}`, retryAfterMs: null };
    case 'response': {
      const { status } = outcome;
      if (status >= 200 && status <= 299) return { action: 'delivered' };
      if (status === 410) return { action: 'disable', reason: 'the receiver answered 410 Gone' };
      const honoured = status === 429 || (status >= 500 && status <= 599);
      return {
        action: 'retry',
        reason: `the receiver answered ${status}`,
        retryAfterMs: honoured ? parseRetryAfter(outcome.retryAfter, now) : null,
      };
    }
  }
}

/**
 * The wait a `Retry-After` header asks for, in milliseconds: delay-seconds or an HTTP date
 * (RFC 9110 §10.2.3). A date in the past means no wait (0); an unreadable or absent value, null.
 */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | null {
  const trimmed = value?.trim() ?? '';
  if (trimmed === '') return null;
  if (/^[0-9]+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP date always names its weekday and zone; requiring a letter keeps bare numbers out.
  if (!/^[A-Za-z]/.test(trimmed)) return null;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}

/** What {@link nextAttemptAt} needs to schedule the next try. */
export interface RetryPlanInput extends BackoffOptions {
  /** How many attempts have been made, the failed one included (1 after the first). */
  readonly attempt: number;
  readonly firstAttemptAt: Date;
  readonly now: Date;
  /** The wait the receiver asked for ({@link AttemptVerdict}'s `retryAfterMs`), if any. */
  readonly retryAfterMs?: number | null;
  readonly retryWindowMs?: number;
}

/**
 * When to try a failed delivery again, or null to give up (mark it failed). The delay is the
 * backoff of {@link nextAttemptDelay}, raised to the receiver's `Retry-After` if that is longer,
 * and capped at `maxMs` (so a receiver cannot park a delivery for days). The last attempt is
 * moved forward to the end of the retry window rather than dropped, so a receiver that comes
 * back within the window always gets one more try.
 */
export function nextAttemptAt(input: RetryPlanInput): Date | null {
  const windowMs = input.retryWindowMs ?? DEFAULT_RETRY_WINDOW_MS;
  if (isGivingUp(input.firstAttemptAt, input.now, windowMs)) return null;
  const { maxMs } = backoffBounds(input);
  const delay = Math.min(maxMs, Math.max(nextAttemptDelay(input.attempt, input), input.retryAfterMs ?? 0));
  const deadline = input.firstAttemptAt.getTime() + windowMs;
  return new Date(Math.min(input.now.getTime() + delay, deadline));
}

function backoffBounds(options: BackoffOptions): { baseMs: number; maxMs: number } {
  const baseMs = options.baseMs ?? DEFAULT_BASE_MS;
  const maxMs = options.maxMs ?? DEFAULT_MAX_MS;
  if (!(baseMs > 0) || !(maxMs >= baseMs)) throw new RangeError('backoff needs 0 < baseMs <= maxMs');
  return { baseMs, maxMs };
}
