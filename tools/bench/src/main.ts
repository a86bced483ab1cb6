/**
 * `npm run bench`: Berth against CNCF Distribution, side by side, in one run.
 *
 * Starts all-in-one Berth and, when `docker-registry` is installed, Distribution; runs the same
 * scenarios against both (each registry in turn per scenario, Berth first); prints one table of
 * MB/s, requests/s, p50/p99 and Berth's advantage. Exits non-zero only when a registry answers
 * wrongly (status, header, digest); missed speed targets are reported, not fatal. Settings come
 * from `BENCH_*` variables, see `config/bench.config.ts`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BenchConfigError, loadBenchConfig, type BenchConfig } from './config/bench.config';
import { BenchFailure } from './http/bench-failure.error';
import { HttpClient } from './http/http-client';
import { RegistryClient } from './http/registry-client';
import { advantage, renderTable, type ReportRow } from './report/table';
import { blobPull, chunkedPush, monolithicPush } from './scenarios/blob.scenarios';
import { prepareFixtures } from './scenarios/fixtures';
import { blobHeadStorm, manifestGet, manifestHead } from './scenarios/request.scenarios';
import type { BenchFixtures, Scenario, ScenarioResult, TargetContext } from './scenarios/scenario';
import { tagsListPaginated, tagsListUnpaginated } from './scenarios/tags.scenarios';
import { RssSampler } from './targets/rss-sampler';
import type { RunningTarget, TargetName } from './targets/target';
import { RegistryStartError, startBerthTarget, startDistributionTarget } from './targets/targets';

/** The memory budget for Berth under the bench, in bytes (MB = 10^6 bytes). */
const BERTH_RSS_LIMIT_BYTES = 300e6;

/** The scenarios in the order they run; the pull reads what the monolithic push stored. */
function scenarios(config: BenchConfig, fixtures: BenchFixtures): Scenario[] {
  return [
    monolithicPush(config, fixtures),
    chunkedPush(config, fixtures),
    blobPull(config, fixtures),
    manifestGet(config, fixtures),
    manifestHead(config, fixtures),
    blobHeadStorm(config, fixtures),
    tagsListUnpaginated(config, fixtures),
    tagsListPaginated(config, fixtures),
  ];
}

/** A registry under test with its client and memory sampler. */
interface Contestant {
  readonly target: RunningTarget;
  readonly http: HttpClient;
  readonly ctx: TargetContext;
  readonly rss: RssSampler | null;
}

/** Progress goes to stderr so stdout carries only the report. */
function progress(message: string): void {
  process.stderr.write(`· ${message}\n`);
}

async function main(): Promise<number> {
  const started = performance.now();
  let config: BenchConfig;
  try {
    config = loadBenchConfig();
  } catch (error) {
    if (error instanceof BenchConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }

  const workDir = await mkdtemp(join(tmpdir(), 'berth-bench-'));
  const contestants: Contestant[] = [];
  const cleanup = once(async () => {
    for (const c of contestants) {
      c.rss?.stop();
      c.http.close();
    }
    await Promise.allSettled(contestants.map((c) => c.target.stop()));
    await rm(workDir, { recursive: true, force: true });
  });
  const shutdown = new AbortController();
  // Stop the registries and remove the blobs also when the bench is interrupted or terminated;
  // the default action of these signals would skip `finally` and orphan both registries.
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.once(signal, () => {
      shutdown.abort();
      progress(`${signal}: stopping registries`);
      void cleanup().finally(() => process.exit(code));
    });
  }

  try {
    progress(`generating random blobs in ${workDir}`);
    const fixtures = await prepareFixtures(config, workDir);
    const runId = randomBytes(4).toString('hex');
    const enlist = (target: RunningTarget): void => {
      const http = new HttpClient(config.concurrency + 2, config.requestIdleTimeoutMs);
      const rss = target.pid === null ? null : new RssSampler(target.pid);
      rss?.start();
      const ctx: TargetContext = {
        target,
        registry: new RegistryClient(target.url, http),
        repoPrefix: `bench-${runId}/${target.name.toLowerCase()}`,
        once: new Map(),
      };
      contestants.push({ target, http, ctx, rss });
    };

    progress('starting Berth');
    enlist(await startBerthTarget(config));
    if (config.distribution.kind !== 'skip') progress('starting Distribution');
    const distribution = await startDistributionTarget(config);
    if (distribution !== null) enlist(distribution);

    const results = new Map<Scenario, Map<TargetName, ScenarioResult>>();
    const list = scenarios(config, fixtures);
    for (const scenario of list) {
      const byTarget = new Map<TargetName, ScenarioResult>();
      results.set(scenario, byTarget);
      for (const { target, ctx } of contestants) {
        progress(`${scenario.title} — ${target.name}`);
        byTarget.set(target.name, await scenario.run(ctx));
      }
    }
    for (const c of contestants) c.rss?.stop();

    process.stdout.write(
      report(config, contestants, list, results, distribution !== null, (performance.now() - started) / 1000),
    );
    return 0;
  } catch (error) {
    // Requests cut off by our own shutdown are not the registry's failure.
    if (shutdown.signal.aborted) return 1;
    // A wrong answer or a registry that would not start is explained by its message; anything
    // else is a bug in the bench and gets its stack.
    const explained = error instanceof BenchFailure || error instanceof RegistryStartError;
    const text =
      error instanceof Error ? (explained ? error.message : (error.stack ?? error.message)) : String(error);
    process.stderr.write(`\nbench failed: ${text}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}

/** The printed report: what ran where, the table, notes and the legend. */
function report(
  config: BenchConfig,
  contestants: readonly Contestant[],
  list: readonly Scenario[],
  results: ReadonlyMap<Scenario, ReadonlyMap<TargetName, ScenarioResult>>,
  withDistribution: boolean,
  seconds: number,
): string {
  const rows: ReportRow[] = [];
  const notes: string[] = [];
  for (const scenario of list) {
    const berth = results.get(scenario)?.get('Berth');
    const distribution = results.get(scenario)?.get('Distribution');
    if (berth === undefined) continue;
    for (const metric of berth.metrics) {
      const other = distribution?.metrics.find((m) => m.label === metric.label);
      const row = {
        scenario: scenario.title,
        metric: metric.label,
        berth: metric.value,
        distribution: other?.value ?? null,
        better: metric.better,
      };
      const ratio = advantage(row);
      rows.push({
        ...row,
        target: withDistribution
          ? {
              text: `≥${metric.targetRatio.toFixed(1)}×`,
              met: ratio === null ? null : ratio >= metric.targetRatio,
            }
          : null,
      });
    }
    notes.push(...berth.notes, ...(distribution?.notes ?? []));
  }
  const berthRss = contestants.find((c) => c.target.name === 'Berth')?.rss ?? null;
  const distributionRss = contestants.find((c) => c.target.name === 'Distribution')?.rss ?? null;
  const mb = (bytes: number | null | undefined): number | null => (bytes == null ? null : bytes / 1e6);
  const berthPeak = berthRss?.peakBytes ?? null;
  rows.push(
    {
      scenario: 'memory, process tree (whole run)',
      metric: 'RSS at start MB',
      berth: mb(berthRss?.startBytes),
      distribution: mb(distributionRss?.startBytes),
      better: 'lower',
      target: null,
    },
    {
      scenario: 'memory, process tree (whole run)',
      metric: 'peak RSS MB',
      berth: mb(berthPeak),
      distribution: mb(distributionRss?.peakBytes),
      better: 'lower',
      target: {
        text: `Berth ≤${BERTH_RSS_LIMIT_BYTES / 1e6} MB`,
        met: berthPeak === null ? null : berthPeak <= BERTH_RSS_LIMIT_BYTES,
      },
    },
  );

  const cpu = cpus();
  const lines = [
    '',
    `Berth bench — ${new Date().toISOString()}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`,
    ...contestants.map((c) => `  ${c.target.name}: ${c.target.url} — ${c.target.description}`),
    ...(withDistribution
      ? []
      : ['  Distribution: not run (docker-registry not on PATH, or BENCH_SKIP_DISTRIBUTION) — Berth only.']),
    `  client: node:http keep-alive, ${config.concurrency} in flight for request storms, blob transfers one at a time; ` +
      `${config.warmupRequests} untimed warm-up requests per storm`,
    '',
    renderTable(rows, withDistribution),
    '',
  ];
  if (withDistribution) {
    lines.push(
      'ratio: Berth ÷ Distribution for rates (MB/s, req/s, listings/s); Distribution ÷ Berth for latencies and',
      '       memory. Above 1.00× Berth is better in every row. MB = 10^6 bytes; p50/p99 are per operation',
      '       (per blob, per request, per complete listing); with under 100 operations p99 is the slowest one.',
    );
  }
  if (notes.length > 0) lines.push('notes:', ...notes.map((n) => `  - ${n}`));
  lines.push(`finished in ${seconds.toFixed(0)} s`, '');
  return lines.join('\n');
}

/** Wraps an async function so that it runs at most once; later calls share the first result. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}

void main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `bench crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
