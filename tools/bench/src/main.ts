/**
 * `npm run bench`: Berth against CNCF Distribution, side by side, in one run; Berth with token
 * auth on against itself with auth off; and Berth pushing with three webhook subscriptions
 * against itself with none.
 *
 * Starts all-in-one Berth with auth off, a second all-in-one Berth with token auth on (benched
 * with a robot's tokens) and, when `docker-registry` is installed, Distribution; runs the same
 * scenarios against them (each registry in turn per scenario, auth-off Berth first; the auth-on
 * Berth runs the subset issue 3 names). Once those are done, starts a third all-in-one Berth for
 * issue 4's webhook runs. Prints a table of MB/s, requests/s, p50/p99 and Berth's advantage over
 * Distribution, a second one of auth on versus off, and a third of pushes with three webhook
 * subscriptions versus none with the deliveries' latency. Exits non-zero only when a registry
 * answers wrongly (status, header, digest), after printing what was measured when that happens in
 * the webhook runs, which come last; missed speed targets and missing deliveries are reported, not
 * fatal. Settings come from `BENCH_*` variables, see `config/bench.config.ts`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  BenchConfigError,
  loadBenchConfig,
  type BenchConfig,
  type WebhookBenchShape,
} from './config/bench.config';
import { BenchFailure } from './http/bench-failure.error';
import { HttpClient } from './http/http-client';
import { RegistryClient } from './http/registry-client';
import { TokenSource } from './http/token-source';
import {
  advantage,
  pairRatio,
  renderPairTable,
  renderTable,
  type PairReportRow,
  type ReportRow,
} from './report/table';
import { blobPull, chunkedPush, monolithicPush } from './scenarios/blob.scenarios';
import { prepareFixtures } from './scenarios/fixtures';
import { blobHeadStorm, manifestGet, manifestHead } from './scenarios/request.scenarios';
import {
  AUTH_ON_TARGET_RATIO,
  type BenchFixtures,
  type Scenario,
  type ScenarioResult,
  type TargetContext,
} from './scenarios/scenario';
import { tagsListPaginated, tagsListUnpaginated } from './scenarios/tags.scenarios';
import { runWebhookBench, type WebhookBenchResult } from './scenarios/webhooks.scenarios';
import { webhookSection, type SectionMemory } from './report/webhooks-section';
import { RegistryStartError } from './targets/registry-start.error';
import { RssSampler } from './targets/rss-sampler';
import type { RunningTarget, TargetName } from './targets/target';
import {
  startBerthAuthTarget,
  startBerthTarget,
  startBerthWebhooksTarget,
  startDistributionTarget,
} from './targets/targets';

/** The memory budget for Berth under the bench, in bytes (MB = 10^6 bytes). */
const BERTH_RSS_LIMIT_BYTES = 300e6;

/** A scenario of the run, and whether the Berth with token auth on runs it too. */
interface PlannedScenario {
  readonly scenario: Scenario;
  readonly withAuth: boolean;
}

/**
 * The scenarios in the order they run; the pull reads what the monolithic push stored. With auth
 * on, Berth runs what issue 3's target names (manifest GET, pull), the push the pull reads, and
 * the two cheap HEAD storms; chunked push and the tag listings only add minutes.
 */
function scenarios(config: BenchConfig, fixtures: BenchFixtures): PlannedScenario[] {
  return [
    { scenario: monolithicPush(config, fixtures), withAuth: true },
    { scenario: chunkedPush(config, fixtures), withAuth: false },
    { scenario: blobPull(config, fixtures), withAuth: true },
    { scenario: manifestGet(config, fixtures), withAuth: true },
    { scenario: manifestHead(config, fixtures), withAuth: true },
    { scenario: blobHeadStorm(config, fixtures), withAuth: true },
    { scenario: tagsListUnpaginated(config, fixtures), withAuth: false },
    { scenario: tagsListPaginated(config, fixtures), withAuth: false },
  ];
}

/** A registry under test with its client and memory sampler. */
interface Contestant {
  readonly target: RunningTarget;
  readonly http: HttpClient;
  readonly ctx: TargetContext;
  readonly rss: RssSampler | null;
}

/**
 * The webhook section's outcome, for the report: its figures, or why there are none (its Berth
 * would not start or answered wrongly; the other sections' figures still stand).
 */
type WebhookOutcome =
  | {
      readonly kind: 'measured';
      readonly target: RunningTarget;
      readonly result: WebhookBenchResult;
      readonly memory: SectionMemory;
    }
  | { readonly kind: 'failed'; readonly shape: WebhookBenchShape; readonly reason: string };

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
  // Registries outside the scenario table (the webhook runs' Berth), stopped with the rest.
  const others: Omit<Contestant, 'ctx'>[] = [];
  const cleanup = once(async () => {
    for (const c of [...contestants, ...others]) {
      c.rss?.stop();
      c.http.close();
    }
    await Promise.allSettled([...contestants, ...others].map((c) => c.target.stop()));
    await rm(workDir, { recursive: true, force: true });
  });
  const shutdown = new AbortController();
  // Stop the registries and remove the blobs also when the bench is interrupted or terminated;
  // the default action of these signals would skip `finally` and orphan the registries.
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
    // Every repository of the run lies in this project: the auth-on Berth's robot is granted it.
    const project = `bench-${randomBytes(4).toString('hex')}`;
    const enlist = (target: RunningTarget): void => {
      const http = new HttpClient(config.concurrency + 2, config.requestIdleTimeoutMs);
      // One sampler per process tree, so each registry's memory row counts only its own processes.
      const rss = target.pid === null ? null : new RssSampler(target.pid);
      rss?.start();
      const tokens =
        target.credentials === null ? null : new TokenSource(http, target.url, target.credentials);
      const ctx: TargetContext = {
        target,
        registry: new RegistryClient(target.url, http, tokens),
        repoPrefix: `${project}/${target.slug}`,
        once: new Map(),
      };
      contestants.push({ target, http, ctx, rss });
    };

    progress('starting Berth');
    enlist(await startBerthTarget(config));
    if (config.berthAuth.kind !== 'skip') progress('starting Berth with token auth on');
    const berthAuth = await startBerthAuthTarget(config, project);
    if (berthAuth !== null) enlist(berthAuth);
    if (config.distribution.kind !== 'skip') progress('starting Distribution');
    const distribution = await startDistributionTarget(config);
    if (distribution !== null) enlist(distribution);

    const results = new Map<Scenario, Map<TargetName, ScenarioResult>>();
    const plan = scenarios(config, fixtures);
    for (const { scenario, withAuth } of plan) {
      const byTarget = new Map<TargetName, ScenarioResult>();
      results.set(scenario, byTarget);
      for (const { target, ctx } of contestants) {
        if (target.credentials !== null && !withAuth) continue;
        progress(`${scenario.title} — ${target.name}`);
        byTarget.set(target.name, await scenario.run(ctx));
      }
    }
    for (const c of contestants) c.rss?.stop();

    const webhooks: WebhookOutcome[] = [];
    const settings = config.webhooks.kind === 'spawn' ? config.webhooks : null;
    for (const shape of settings?.shapes ?? []) {
      // `settings` is set whenever there is a shape; the compiler cannot see it inside the loop.
      if (settings === null) break;
      try {
        const outcome = await webhookRuns(config, settings, shape, project, others);
        if (outcome !== null) webhooks.push(outcome);
      } catch (error) {
        // The section runs last on a Berth of its own: its failure voids its figures, not the
        // tables above, which are printed before the bench exits non-zero.
        if (
          shutdown.signal.aborted ||
          !(error instanceof BenchFailure || error instanceof RegistryStartError)
        )
          throw error;
        process.stderr.write(`\nwebhook runs (${shape}) failed: ${error.message}\n`);
        webhooks.push({ kind: 'failed', shape, reason: error.message });
      }
    }

    process.stdout.write(
      report(
        config,
        contestants,
        plan.map((p) => p.scenario),
        results,
        distribution !== null,
        webhooks,
        (performance.now() - started) / 1000,
      ),
    );
    return webhooks.some((outcome) => outcome.kind === 'failed') ? 1 : 0;
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

/**
 * Starts the webhook runs' Berth (only now, once the other scenarios are done, so that it neither
 * runs beside them nor counts in their memory rows), enlisted in `others` to be stopped with the
 * rest, and runs issue 4's comparison on it while sampling its memory.
 */
async function webhookRuns(
  config: BenchConfig,
  settings: Extract<BenchConfig['webhooks'], { kind: 'spawn' }>,
  shape: WebhookBenchShape,
  project: string,
  others: Omit<Contestant, 'ctx'>[],
): Promise<WebhookOutcome | null> {
  progress(`starting Berth (${shape}) for the webhook runs`);
  const target = await startBerthWebhooksTarget(config, shape);
  if (target === null) return null;
  const http = new HttpClient(settings.concurrency + 2, config.requestIdleTimeoutMs);
  const rss = target.pid === null ? null : new RssSampler(target.pid);
  others.push({ target, http, rss });
  rss?.start();
  const result = await runWebhookBench(
    settings,
    target,
    new RegistryClient(target.url, http, null),
    project,
    (message) => {
      progress(`${message} (${shape})`);
    },
  );
  rss?.stop();
  // Each shape's Berth is stopped once measured, so that the next one has the machine to itself.
  const enlisted = others.findIndex((other) => other.target === target);
  if (enlisted >= 0) others.splice(enlisted, 1);
  http.close();
  await target.stop();
  return {
    kind: 'measured',
    target,
    result,
    memory: { startBytes: rss?.startBytes ?? null, peakBytes: rss?.peakBytes ?? null },
  };
}

/** The printed report: what ran where, the table, notes and the legend. */
function report(
  config: BenchConfig,
  contestants: readonly Contestant[],
  list: readonly Scenario[],
  results: ReadonlyMap<Scenario, ReadonlyMap<TargetName, ScenarioResult>>,
  withDistribution: boolean,
  webhooks: readonly WebhookOutcome[],
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
    notes.push(...(results.get(scenario)?.get('Berth (auth on)')?.notes ?? []));
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
    ...(config.berthAuth.kind === 'skip' ? [`  Berth (auth on): not run (${config.berthAuth.reason}).`] : []),
    ...(config.webhooks.kind === 'skip' ? [`  Berth (webhooks): not run (${config.webhooks.reason}).`] : []),
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
  lines.push(...authReport(contestants, list, results));
  for (const outcome of webhooks) {
    if (outcome.kind === 'measured') {
      lines.push(...webhookSection(outcome.target, outcome.result, outcome.memory, BERTH_RSS_LIMIT_BYTES));
    } else {
      lines.push(
        '',
        `Webhooks (issue 4), ${outcome.shape}: FAILED, no figures — a registry answered wrongly or did not start:`,
      );
      lines.push(...outcome.reason.split('\n').map((line) => `  ${line}`));
    }
  }
  if (notes.length > 0) lines.push('notes:', ...notes.map((n) => `  - ${n}`));
  lines.push(`finished in ${seconds.toFixed(0)} s`, '');
  return lines.join('\n');
}

/**
 * The auth section of the report: Berth with a robot's Bearer tokens against Berth with auth off,
 * same build, same run, each scenario back to back; empty when the auth-on Berth did not run.
 */
function authReport(
  contestants: readonly Contestant[],
  list: readonly Scenario[],
  results: ReadonlyMap<Scenario, ReadonlyMap<TargetName, ScenarioResult>>,
): string[] {
  const auth = contestants.find((c) => c.target.name === 'Berth (auth on)');
  if (auth === undefined) return [];
  const rows: PairReportRow[] = [];
  for (const scenario of list) {
    const off = results.get(scenario)?.get('Berth');
    const on = results.get(scenario)?.get('Berth (auth on)');
    if (off === undefined || on === undefined) continue;
    for (const metric of off.metrics) {
      const row = {
        scenario: scenario.title,
        metric: metric.label,
        base: metric.value,
        other: on.metrics.find((m) => m.label === metric.label)?.value ?? null,
        better: metric.better,
      };
      const ratio = pairRatio(row);
      const least = metric.authTargetRatio;
      rows.push({
        ...row,
        target:
          least === null
            ? null
            : { text: `≥${least.toFixed(2)}×`, met: ratio === null ? null : ratio >= least },
      });
    }
  }
  const mb = (bytes: number | null): string => (bytes === null ? 'n/a' : `${(bytes / 1e6).toFixed(0)} MB`);
  const peak = auth.rss?.peakBytes ?? null;
  const budget = `Berth ≤${BERTH_RSS_LIMIT_BYTES / 1e6} MB ${peak === null ? '?' : peak <= BERTH_RSS_LIMIT_BYTES ? 'ok' : 'MISSED'}`;
  return [
    '',
    `Token auth (issue 3): Berth with ${auth.target.credentials?.username ?? 'a robot'}'s Bearer tokens vs Berth with auth off`,
    '',
    renderPairTable(rows, { base: 'auth off', other: 'auth on', ratio: 'on vs off' }),
    '',
    'on vs off: auth on ÷ off for rates, off ÷ on for latencies; below 1.00× is what auth costs. Issue 3 asks',
    `           manifest GET and pull to be at most ${Math.round((1 - AUTH_ON_TARGET_RATIO) * 100)} % slower with auth on (≥${AUTH_ON_TARGET_RATIO.toFixed(2)}×). Tokens`,
    "           (repository:<name>:pull,push, from the realm with the robot's Basic credentials) are fetched",
    '           before each timed run and reused per repository until shortly before they expire, as',
    '           container runtimes do. Both Berths run each scenario back to back, with the same client.',
    `memory: Berth (auth on), its own process tree, over the scenarios it ran: RSS at start ` +
      `${mb(auth.rss?.startBytes ?? null)}, peak ${mb(peak)} (${budget}).`,
  ];
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
