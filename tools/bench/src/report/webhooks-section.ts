import {
  WEBHOOK_EVENTS,
  WEBHOOK_FORMATS,
  WEBHOOK_LAYER_BYTES,
  WEBHOOK_PROBES,
  WEBHOOK_PROBE_PAUSE_MS,
  WEBHOOK_QUIET_MS,
  WEBHOOK_RUN_BLOCK,
  WEBHOOK_WARMUP_IMAGES,
  WEBHOOKS_TARGET_RATIO,
  type Condition,
  type DeliveryLatency,
  type LatencyFigures,
  type WebhookBenchResult,
} from '../scenarios/webhooks.scenarios';
import type { TimedRun } from '../stats';
import type { RunningTarget } from '../targets/target';
import { pairRatio, renderPairTable, type PairReportRow } from './table';

/** The memory of the webhook runs' Berth over its section, in bytes; null where it was not read. */
export interface SectionMemory {
  readonly startBytes: number | null;
  readonly peakBytes: number | null;
}

/**
 * The webhook section of the report (issue 4): push throughput with three subscriptions against
 * none, delivery latency from commit to receipt, and whether every delivery arrived.
 */
export function webhookSection(
  target: RunningTarget,
  result: WebhookBenchResult,
  memory: SectionMemory,
  memoryLimitBytes: number,
): string[] {
  const { none, three } = result;
  const scenario =
    `image push: config + ${WEBHOOK_LAYER_BYTES / 1024} KiB layer + manifest by tag ` +
    `(${result.runsPerCondition} × ${result.images} images, c=${result.concurrency})`;
  const throughput = {
    scenario,
    metric: 'images/s',
    base: rate(none),
    other: rate(three),
    better: 'higher' as const,
  };
  const blocks = blockRatios(result);
  const median = medianOf(blocks);
  const pooled = pairRatio(throughput);
  const ratioText = (ratio: number | null): string => (ratio === null ? 'n/a' : `${ratio.toFixed(2)}×`);
  const rows: PairReportRow[] = [
    {
      ...throughput,
      target: {
        text: `≥${WEBHOOKS_TARGET_RATIO.toFixed(2)}× (median of blocks ${ratioText(median)})`,
        met: median === null ? null : median >= WEBHOOKS_TARGET_RATIO,
      },
    },
    {
      scenario,
      metric: 'p50 ms',
      base: none.latency.p50,
      other: three.latency.p50,
      better: 'lower',
      target: null,
    },
    {
      scenario,
      metric: 'p99 ms',
      base: none.latency.p99,
      other: three.latency.p99,
      better: 'lower',
      target: null,
    },
    ...(result.cpuMsPerImage.none === null || result.cpuMsPerImage.three === null
      ? []
      : [
          {
            scenario,
            metric: 'Berth CPU ms/image',
            base: result.cpuMsPerImage.none,
            other: result.cpuMsPerImage.three,
            better: 'lower' as const,
            target: null,
          },
        ]),
    ...(result.servicesCpuMsPerImage === null
      ? []
      : [
          {
            scenario,
            metric: 'PostgreSQL+NATS CPU ms/image',
            base: result.servicesCpuMsPerImage.none,
            other: result.servicesCpuMsPerImage.three,
            better: 'lower' as const,
            target: null,
          },
        ]),
    {
      scenario,
      metric: 'bench CPU ms/image',
      base: result.benchCpuMsPerImage.none,
      other: result.benchCpuMsPerImage.three,
      better: 'lower',
      target: null,
    },
  ];
  const expected = result.subscriptions.reduce((sum, s) => sum + s.expected, 0);
  const received = result.subscriptions.reduce((sum, s) => sum + s.received, 0);
  const faults = result.subscriptions.filter((s) => s.missing > 0 || s.unexpected > 0);
  const mb = (bytes: number | null): string => (bytes === null ? 'n/a' : `${(bytes / 1e6).toFixed(0)} MB`);
  const peak = memory.peakBytes;
  const budget = `≤${memoryLimitBytes / 1e6} MB ${peak === null ? '?' : peak <= memoryLimitBytes ? 'ok' : 'MISSED'}`;
  return [
    '',
    `Webhooks (issue 4): ${target.name}, pushes with three webhook subscriptions vs none`,
    `  ${target.name}: ${target.url} — ${target.description}`,
    '',
    renderPairTable(rows, { base: 'none', other: 'three', ratio: 'three vs none' }),
    '',
    'three vs none: three ÷ none for rates, none ÷ three for latencies; below 1.00× is what the subscriptions',
    `           cost. Issue 4 asks push throughput to stay within ${Math.round((1 - WEBHOOKS_TARGET_RATIO) * 100)} % (≥${WEBHOOKS_TARGET_RATIO.toFixed(2)}×). "three": a project with`,
    `           one subscription per format (${WEBHOOK_FORMATS.join(', ')}), each to`,
    `           ${WEBHOOK_EVENTS.join(' and ')}, delivering to a receiver in the bench on 127.0.0.1 that`,
    '           answers 204 at once; "none": a project without any. One Berth, both projects, warmed up with',
    `           ${WEBHOOK_WARMUP_IMAGES} images each; ${blocks.length} blocks of ${WEBHOOK_RUN_BLOCK.join('/')} runs, and each run with`,
    '           subscriptions waits for all its deliveries before the next starts. Every image is new (an',
    '           artifact and a tag); MB/s is left out, the layers being a few KiB.',
    `runs, images/s in the order they ran: ${result.runRates
      .map((run) => `${run.condition} ${run.imagesPerSecond.toFixed(1)}`)
      .join(', ')}`,
    `per block (${WEBHOOK_RUN_BLOCK.join('/')}), three vs none: ${blocks
      .map(ratioText)
      .join(', ')}; median ${ratioText(median)}, pooled ${ratioText(pooled)}.`,
    "           The target is judged on the median: a burst of the machine's other load skews the block it",
    '           hits, and the median leaves that block out where the pooled figure weighs it by its time.',
    ...processLines(result),
    'Berth CPU ms/image: user + system time of all its processes over the timed runs, per image (with',
    `           subscriptions until the run's last delivery arrived); the receiver and the pushing client`,
    '           in the bench, and PostgreSQL and NATS in the distributed shape, are not counted here.',
    'bench CPU ms/image: the same for the bench process itself, the pushing client and the receiver; on',
    "           a machine that Berth shares with the bench, the receiver's part of it is CPU that a receiver",
    '           elsewhere would not take from Berth.',
    ...(result.servicesCpuMsPerImage === null
      ? []
      : [
          "PostgreSQL+NATS CPU ms/image: the same for the machine's PostgreSQL and NATS server processes",
          '           (with the PostgreSQL backends that ended meanwhile), which the distributed services share.',
        ]),
    "delivery latency, event commit → receipt (the CloudEvents `time` against the receiver's clock), artifact.pushed:",
    ...latencyLines('under load (the timed pushes with subscriptions)', result.underLoad),
    ...latencyLines(
      `one push at a time (${WEBHOOK_PROBES}, each ${WEBHOOK_PROBE_PAUSE_MS} ms after the last one's deliveries)`,
      result.idle,
    ),
    `  backlog: up to ${count(result.backlogAtEnd)} deliveries were still on their way when a timed run's last push was`,
    `           answered; the run's last delivery arrived ${(result.drainMs / 1000).toFixed(1)} s after that.`,
    `deliveries: ${count(received)} of ${count(expected)} expected arrived (${WEBHOOK_FORMATS.length} subscriptions × ` +
      `${WEBHOOK_EVENTS.length} events per image pushed`,
    `           into the project with them, warm-up and single pushes included); ${count(result.duplicates)} repeated, ` +
      `${count(result.unsigned)} without webhook-id.`,
    `  delivery log (cloudevents): ${count(result.logged.count)} deliveries, ` +
      (result.logged.notDelivered === 0
        ? 'every one recorded as delivered.'
        : `${count(result.logged.notDelivered)} NOT recorded as delivered.`),
    ...(faults.length === 0
      ? ['  every expected delivery arrived, and nothing else.']
      : faults.map(
          (s) =>
            `  ${s.missing > 0 ? 'MISSING' : 'UNEXPECTED'} ${s.format}: ${count(s.missing)} of ${count(s.expected)} ` +
            `missing after ${WEBHOOK_QUIET_MS / 1000} s without any delivery, ${count(s.unexpected)} unexpected` +
            (s.missingExamples.length > 0 ? `; e.g. ${s.missingExamples.join(', ')}` : ''),
        )),
    ...(target.pid === null
      ? []
      : [
          `memory: ${target.name}, its process tree, over this section: RSS at start ${mb(memory.startBytes)}, ` +
            `peak ${mb(peak)} (${budget}).`,
        ]),
  ];
}

/**
 * Three ÷ none of each block of runs: each condition's images over its runs' time in the block
 * (the runs push the same number of images each).
 */
function blockRatios(result: WebhookBenchResult): number[] {
  const ratios: number[] = [];
  for (let start = 0; start < result.runRates.length; start += WEBHOOK_RUN_BLOCK.length) {
    const block = result.runRates.slice(start, start + WEBHOOK_RUN_BLOCK.length);
    const rateOf = (condition: Condition): number => {
      const runs = block.filter((run) => run.condition === condition);
      return runs.length / runs.reduce((seconds, run) => seconds + 1 / run.imagesPerSecond, 0);
    };
    ratios.push(rateOf('three') / rateOf('none'));
  }
  return ratios;
}

/** The middle value (the mean of the two middle ones for an even count); null for none. */
function medianOf(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}

/** Berth's CPU per image by process, where it has several (the distributed shape). */
function processLines(result: WebhookBenchResult): string[] {
  if (result.cpuMsPerImageByProcess.length === 0) return [];
  const ms = (value: number): string => value.toFixed(1);
  return [
    'Berth CPU ms/image by process, none → three (added): ' +
      result.cpuMsPerImageByProcess
        .map(
          (p) =>
            `${p.name} ${ms(p.none)} → ${ms(p.three)} (${p.three >= p.none ? '+' : ''}${ms(p.three - p.none)})`,
        )
        .join(', '),
  ];
}

/** Images per second over the whole pooled run. */
function rate(run: TimedRun): number {
  return run.latency.count / (run.elapsedMs / 1000);
}

/** A latency with its split at the moment the delivery was stored. */
function latencyLines(title: string, latency: DeliveryLatency): string[] {
  return [
    `  ${title}: ${figures(latency.total)}`,
    `    event → delivery stored (outbox relay, bus, routing): ${figures(latency.toStored)}`,
    `    stored → received (dispatcher queue, send):           ${figures(latency.storedToReceived)}`,
  ];
}

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Whole milliseconds: both clocks the latencies come from tick in milliseconds. */
function figures(f: LatencyFigures): string {
  if (f.count === 0) return 'no samples';
  return `p50 ${count(f.p50)} ms, p99 ${count(f.p99)} ms, max ${count(f.max)} ms (${count(f.count)} deliveries)`;
}
