import {
  classifyAttempt,
  DEFAULT_RETRY_WINDOW_MS,
  isGivingUp,
  nextAttemptAt,
  nextAttemptDelay,
  parseRetryAfter,
} from './retry';

const HOUR = 3_600_000;
const T0 = new Date('2024-05-01T12:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const lowest = (): number => 0;
const highest = (): number => 1 - Number.EPSILON;

describe('nextAttemptDelay', () => {
  it('waits the base delay after the first failure', () => {
    expect(nextAttemptDelay(1, { random: lowest })).toBe(1000);
    expect(nextAttemptDelay(1, { random: highest })).toBe(1000);
  });

  it('doubles the ceiling with each failure and draws below it (full jitter)', () => {
    expect(nextAttemptDelay(2, { random: lowest })).toBe(1000);
    expect(nextAttemptDelay(2, { random: highest })).toBe(2000);
    expect(nextAttemptDelay(5, { random: highest })).toBe(16_000);
    expect(nextAttemptDelay(5, { random: () => 0.5 })).toBe(8500);
  });

  it('never exceeds the maximum, one hour by default, however many attempts', () => {
    expect(nextAttemptDelay(13, { random: highest })).toBe(HOUR);
    expect(nextAttemptDelay(10_000, { random: highest })).toBe(HOUR);
    expect(nextAttemptDelay(10_000, { random: lowest })).toBe(1000);
    expect(nextAttemptDelay(20, { random: highest, baseMs: 500, maxMs: 60_000 })).toBe(60_000);
  });

  it('stays within its bounds with the real random source', () => {
    for (let attempt = 1; attempt <= 30; attempt++) {
      const sut = nextAttemptDelay(attempt);
      expect(sut).toBeGreaterThanOrEqual(1000);
      expect(sut).toBeLessThanOrEqual(Math.min(HOUR, 1000 * 2 ** (attempt - 1)));
    }
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses attempt %p', (attempt) => {
    expect(() => nextAttemptDelay(attempt)).toThrow(RangeError);
  });

  it('refuses bounds that make no sense', () => {
    expect(() => nextAttemptDelay(1, { baseMs: 0 })).toThrow(RangeError);
    expect(() => nextAttemptDelay(1, { baseMs: 2000, maxMs: 1000 })).toThrow(RangeError);
  });
});

describe('isGivingUp', () => {
  it('gives up once the retry window, 24 hours by default, has passed', () => {
    expect(DEFAULT_RETRY_WINDOW_MS).toBe(24 * HOUR);
    expect(isGivingUp(T0, at(24 * HOUR - 1))).toBe(false);
    expect(isGivingUp(T0, at(24 * HOUR))).toBe(true);
    expect(isGivingUp(T0, at(HOUR), HOUR)).toBe(true);
    expect(isGivingUp(T0, at(HOUR - 1), HOUR)).toBe(false);
  });
});

describe('classifyAttempt', () => {
  it.each([200, 201, 202, 204, 299])('counts %i as delivered', (status) => {
    expect(classifyAttempt({ kind: 'response', status })).toEqual({ action: 'delivered' });
  });

  it('disables the subscription on 410 Gone', () => {
    expect(classifyAttempt({ kind: 'response', status: 410 })).toEqual({
      action: 'disable',
      reason: 'the receiver answered 410 Gone',
    });
  });

  it.each([100, 301, 302, 400, 401, 403, 404, 408, 413, 422, 500, 502, 503, 504])(
    'retries on %i',
    (status) => {
      expect(classifyAttempt({ kind: 'response', status })).toEqual({
        action: 'retry',
        reason: `the receiver answered ${status}`,
        retryAfterMs: null,
      });
    },
  );

  it('retries on timeouts and network errors', () => {
    expect(classifyAttempt({ kind: 'timeout' })).toMatchObject({ action: 'retry', retryAfterMs: null });
    expect(classifyAttempt({ kind: 'network-error', message: 'ECONNREFUSED' })).toEqual({
      action: 'retry',
      reason: 'network error: ECONNREFUSED',
      retryAfterMs: null,
    });
  });

  it('honours Retry-After in seconds or as an HTTP date on 429 and 5xx', () => {
    expect(classifyAttempt({ kind: 'response', status: 429, retryAfter: '120' }, T0)).toMatchObject({
      action: 'retry',
      retryAfterMs: 120_000,
    });
    const date = at(90_000).toUTCString();
    expect(classifyAttempt({ kind: 'response', status: 503, retryAfter: date }, T0)).toMatchObject({
      retryAfterMs: 90_000,
    });
  });

  it('ignores Retry-After on other statuses', () => {
    expect(classifyAttempt({ kind: 'response', status: 404, retryAfter: '120' }, T0)).toMatchObject({
      retryAfterMs: null,
    });
    expect(classifyAttempt({ kind: 'response', status: 301, retryAfter: '120' }, T0)).toMatchObject({
      retryAfterMs: null,
    });
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('0', T0)).toBe(0);
    expect(parseRetryAfter(' 30 ', T0)).toBe(30_000);
  });

  it('reads an HTTP date, and a past date as no wait', () => {
    expect(parseRetryAfter('Wed, 01 May 2024 12:05:00 GMT', T0)).toBe(300_000);
    expect(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', T0)).toBe(0);
  });

  it.each([null, undefined, '', '  ', '-5', '1.5', '1e3', 'soon', '2024-05-01'])('ignores %p', (value) => {
    expect(parseRetryAfter(value, T0)).toBeNull();
  });
});

describe('nextAttemptAt', () => {
  it('schedules the next attempt after the backoff delay', () => {
    expect(nextAttemptAt({ attempt: 3, firstAttemptAt: T0, now: at(5000), random: highest })).toEqual(
      at(9000),
    );
  });

  it("waits for the receiver's Retry-After when it is longer than the backoff", () => {
    const sut = nextAttemptAt({
      attempt: 1,
      firstAttemptAt: T0,
      now: T0,
      retryAfterMs: 60_000,
      random: lowest,
    });
    expect(sut).toEqual(at(60_000));
  });

  it('keeps the backoff when Retry-After asks for less', () => {
    const sut = nextAttemptAt({ attempt: 4, firstAttemptAt: T0, now: T0, retryAfterMs: 0, random: highest });
    expect(sut).toEqual(at(8000));
  });

  it('caps Retry-After at the maximum delay', () => {
    const sut = nextAttemptAt({ attempt: 1, firstAttemptAt: T0, now: T0, retryAfterMs: 48 * HOUR });
    expect(sut).toEqual(at(HOUR));
  });

  it('moves the last attempt forward to the end of the window, then gives up', () => {
    const now = at(24 * HOUR - 60_000);
    const last = nextAttemptAt({ attempt: 40, firstAttemptAt: T0, now, random: highest });
    expect(last).toEqual(at(24 * HOUR));
    expect(
      nextAttemptAt({ attempt: 41, firstAttemptAt: T0, now: at(24 * HOUR), random: highest }),
    ).toBeNull();
  });

  it('honours a configured retry window', () => {
    expect(nextAttemptAt({ attempt: 1, firstAttemptAt: T0, now: at(HOUR), retryWindowMs: HOUR })).toBeNull();
    const sut = nextAttemptAt({ attempt: 12, firstAttemptAt: T0, now: at(HOUR - 1000), retryWindowMs: HOUR });
    expect(sut).toEqual(at(HOUR));
  });

  it('retries a receiver that stays down all day about sixty times, the last at 24 hours', () => {
    const attempts: Date[] = [T0];
    for (;;) {
      const last = attempts[attempts.length - 1]!;
      const next = nextAttemptAt({
        attempt: attempts.length,
        firstAttemptAt: T0,
        now: last,
        random: () => 0.5,
      });
      if (next === null) break;
      attempts.push(next);
    }
    expect(attempts[attempts.length - 1]).toEqual(at(24 * HOUR));
    // 12 fast-growing retries in the first half hour, then one about every half hour.
    expect(attempts).toHaveLength(60);
    for (let i = 1; i < attempts.length; i++) {
      expect(attempts[i]!.getTime()).toBeGreaterThan(attempts[i - 1]!.getTime());
    }
  });
});
