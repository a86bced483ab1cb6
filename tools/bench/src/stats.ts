import { performance } from 'node:perf_hooks';

/** Latency percentiles of a set of timed operations, in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
}

/** The outcome of a timed batch of operations. */
export interface TimedRun {
  /** Wall-clock time of the whole batch, in milliseconds. */
  readonly elapsedMs: number;
  readonly latency: LatencySummary;
  /** Each operation's latency in milliseconds, in the order the operations were numbered. */
  readonly latenciesMs: Float64Array;
}

/**
 * Nearest-rank percentile (`p` in 0..100) of already sorted values: the smallest value that at
 * least `p`% of the values are less than or equal to. No interpolation, so it is always a latency
 * that was actually observed.
 */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1] ?? Number.NaN;
}

/** p50 and p99 of latencies in milliseconds. */
export function summarize(latenciesMs: Float64Array): LatencySummary {
  const sorted = Float64Array.from(latenciesMs).sort();
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

/**
 * Runs `task(0)` … `task(total - 1)` with at most `concurrency` in flight (a closed loop: each
 * worker starts its next operation as soon as the previous one ends) and times each one. The first
 * error stops the workers from starting new operations and is rethrown.
 */
export async function runConcurrent(
  total: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<TimedRun> {
  const latencies = new Float64Array(total);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < total) {
      const index = next++;
      const started = performance.now();
      try {
        await task(index);
      } catch (error) {
        failed = true;
        throw error;
      }
      latencies[index] = performance.now() - started;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  const elapsedMs = performance.now() - started;
  return { elapsedMs, latency: summarize(latencies), latenciesMs: latencies };
}

/**
 * Several runs of the same workload as one: their wall-clock times added, their operations'
 * latencies pooled (so p99 is over every operation, not an average of the runs' p99s).
 */
export function combineRuns(runs: readonly TimedRun[]): TimedRun {
  const latenciesMs = new Float64Array(runs.reduce((sum, run) => sum + run.latenciesMs.length, 0));
  let offset = 0;
  for (const run of runs) {
    latenciesMs.set(run.latenciesMs, offset);
    offset += run.latenciesMs.length;
  }
  return {
    elapsedMs: runs.reduce((sum, run) => sum + run.elapsedMs, 0),
    latency: summarize(latenciesMs),
    latenciesMs,
  };
}
