import type { BlobFile, MemoryBlob } from '../blob-fixtures';
import type { RegistryClient } from '../http/registry-client';
import type { TimedRun } from '../stats';
import type { RunningTarget } from '../targets/target';

/** Whether a larger or a smaller value of a metric is better. */
export type Better = 'higher' | 'lower';

/** One measured number of one scenario against one registry. */
export interface Metric {
  /** e.g. `MiB/s`, `req/s`, `p50 ms`. Rows of the two registries are matched by label. */
  readonly label: string;
  readonly value: number;
  readonly better: Better;
  /**
   * The least Berth-versus-Distribution advantage the issue asks for (1 = at least as good);
   * see the report for how the ratio is oriented.
   */
  readonly targetRatio: number;
  /**
   * The least auth-on versus auth-off ratio of Berth the issue asks for (oriented like
   * `targetRatio`, so 0.9 = at most 10 % worse with auth on), or null when it sets none.
   */
  readonly authTargetRatio: number | null;
}

/** What the issue asks of a scenario's rate. */
export interface RateTargets {
  /** Berth versus Distribution; unset means Berth must at least match it. */
  readonly vsDistribution?: number;
  /** Berth with token auth on versus off; unset means no target. */
  readonly authOnVsOff?: number;
}

/**
 * Issue 3: with token auth on (a robot's token), manifest GET and pull at most 10 % slower than
 * with auth off.
 */
export const AUTH_ON_TARGET_RATIO = 0.9;

/** What a scenario measured against one registry. */
export interface ScenarioResult {
  readonly metrics: readonly Metric[];
  /** Observations worth printing under the table (e.g. a registry ignored `n`). */
  readonly notes: readonly string[];
}

/** An image manifest with its small config and layer blobs, the same bytes for every registry. */
export interface ImageFixture {
  readonly config: MemoryBlob;
  readonly layers: readonly MemoryBlob[];
  readonly manifest: Buffer;
  readonly manifestDigest: string;
  readonly mediaType: string;
}

/** Everything generated before any registry is timed, shared by both registries. */
export interface BenchFixtures {
  /** Blobs for the monolithic push; the pull scenario pulls them back. */
  readonly monolithic: readonly BlobFile[];
  readonly chunked: readonly BlobFile[];
  /** A small blob pushed and pulled untimed to warm up the blob paths. */
  readonly warmup: BlobFile;
  readonly image: ImageFixture;
  /** Distinct small blobs the blob HEAD storm cycles through. */
  readonly headBlobs: readonly MemoryBlob[];
}

/** One registry as the scenarios see it. */
export interface TargetContext {
  readonly target: RunningTarget;
  readonly registry: RegistryClient;
  /** Prefix for repository names, unique per run and registry, so reruns against an external
   * registry start from empty repositories. */
  readonly repoPrefix: string;
  /** Set-up work shared by several scenarios, keyed by name; each runs once per registry. */
  readonly once: Map<string, Promise<void>>;
}

/** A measured workload. `run` sets up untimed, warms up untimed, then times. */
export interface Scenario {
  readonly title: string;
  run(ctx: TargetContext): Promise<ScenarioResult>;
}

/** Every ratio must be at least 1 unless a scenario asks for more. */
const DEFAULT_TARGET_RATIO = 1;

/**
 * MB/s (10^6 bytes, as the issue states targets) over the whole batch, plus per-operation p50/p99.
 * `targets` apply to the rate.
 */
export function throughputMetrics(totalBytes: number, run: TimedRun, targets: RateTargets = {}): Metric[] {
  return [rateMetric('MB/s', totalBytes / 1e6 / (run.elapsedMs / 1000), targets), ...latencyMetrics(run)];
}

/**
 * Operations per second over the whole batch, plus per-operation p50/p99. `targets` apply to the
 * rate; latencies keep the default target and have no auth target.
 */
export function rateMetrics(label: string, run: TimedRun, targets: RateTargets = {}): Metric[] {
  return [rateMetric(label, run.latency.count / (run.elapsedMs / 1000), targets), ...latencyMetrics(run)];
}

function rateMetric(label: string, value: number, targets: RateTargets): Metric {
  return {
    label,
    value,
    better: 'higher',
    targetRatio: targets.vsDistribution ?? DEFAULT_TARGET_RATIO,
    authTargetRatio: targets.authOnVsOff ?? null,
  };
}

function latencyMetrics(run: TimedRun): Metric[] {
  return [
    {
      label: 'p50 ms',
      value: run.latency.p50,
      better: 'lower',
      targetRatio: DEFAULT_TARGET_RATIO,
      authTargetRatio: null,
    },
    {
      label: 'p99 ms',
      value: run.latency.p99,
      better: 'lower',
      targetRatio: DEFAULT_TARGET_RATIO,
      authTargetRatio: null,
    },
  ];
}

/** Runs `setup` once per registry under `key`, however many scenarios ask for it. */
export function once(ctx: TargetContext, key: string, setup: () => Promise<void>): Promise<void> {
  let pending = ctx.once.get(key);
  if (pending === undefined) {
    pending = setup();
    ctx.once.set(key, pending);
  }
  return pending;
}
