/** How {@link eventually} polls. */
export interface EventuallyOptions {
  /** How long to keep trying before failing (default 10 s). */
  readonly timeoutMs?: number;
  /** The pause between two checks (default 20 ms). */
  readonly intervalMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_INTERVAL_MS = 20;

/**
 * Waits for something a test cannot be told about by an event (a row that appears, a file that
 * goes, a client that reconnects) by checking the real thing again and again: calls `check` at
 * once, then every `intervalMs`, until it returns anything but `false` without throwing, and
 * resolves with what it returned. A check that returns `false` or throws is "not yet"; after
 * `timeoutMs` the wait fails with the last check's error (as `cause`, and in the message).
 *
 * This is a bounded poll on a condition, not a sleep: it ends as soon as the condition holds, and
 * the timeout only bounds how long a broken system may keep a test waiting. A test that can wait
 * for an event (a promise, a callback, a process exit) waits for that instead.
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  options: EventuallyOptions = {},
): Promise<Exclude<T, false>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value !== false) return value as Exclude<T, false>;
      lastError = null;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const reason =
        lastError === null
          ? 'the check still returned false'
          : `the last check failed: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}`;
      throw new Error(`condition not met within ${timeoutMs} ms; ${reason}`, { cause: lastError });
    }
    await new Promise((wake) => setTimeout(wake, intervalMs));
  }
}
