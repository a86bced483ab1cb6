import type { WebhookBenchSource } from '../config/bench.config';
import { BenchFailure } from '../http/bench-failure.error';
import type { RegistryClient } from '../http/registry-client';
import { WebhookReceiver, type Receipt } from '../http/webhook-receiver';
import { combineRuns, percentile, runConcurrent, type TimedRun } from '../stats';
import { cpuMs, cpuMsOfNamed } from '../targets/cpu-clock';
import { provisionProject } from '../targets/robot-account';
import type { WebhooksTarget } from '../targets/targets';
import { at } from './blob.scenarios';
import { pushImage, randomImage } from './fixtures';
import type { TargetContext } from './scenario';

/*
 * Issue 4's speed target: push throughput with three webhook subscriptions active must stay
 * within 10 % of push throughput with none, and delivery latency is reported from commit to
 * receipt. Both conditions run on one Berth process, in two projects of it: one without
 * subscriptions, one with three (one per payload format) that deliver to a receiver in the bench.
 * A long warm-up comes first: a fresh Berth keeps getting faster for its first thousand or so
 * pushes (its JIT and the embedded database's WebAssembly tiering up), and a ratio taken then
 * says more about the warm-up than about the subscriptions. The timed runs then alternate between
 * the two in blocks of four (none, three, three, none), so that whatever still drifts over the
 * section (a growing database, the machine's other load) weighs on both alike; each block gives a
 * ratio of its own, and their median is what the target is judged on, since a burst of the
 * machine's other load that hits one run skews one block rather than the pooled figure. Every run
 * starts with no delivery outstanding: each run with subscriptions is followed by a wait for all
 * its deliveries, so none of its dispatching is left to slow the next run down.
 */

/** Issue 4: push throughput with three subscriptions at least 90 % of that with none. */
export const WEBHOOKS_TARGET_RATIO = 0.9;

/** Each image's one layer: small, so that the runs weigh events and commits, not bytes. */
export const WEBHOOK_LAYER_BYTES = 4096;

/** Untimed images per project before the timed runs, to warm up the push and delivery paths. */
export const WEBHOOK_WARMUP_IMAGES = 300;

/** Single pushes, each once the previous one's deliveries have all arrived: latency without load. */
export const WEBHOOK_PROBES = 10;

/**
 * The pause before each single push: longer than the dispatcher's pass interval, so that the
 * push meets a Berth with nothing left to do (its last deliveries recorded), as an idle one is.
 */
export const WEBHOOK_PROBE_PAUSE_MS = 250;

/** How long the receiver may stay silent before the deliveries still missing are counted as lost. */
export const WEBHOOK_QUIET_MS = 10_000;

/** The subscriptions: one per payload format, each on its own path of the receiver. */
export const WEBHOOK_FORMATS = ['default', 'cloudevents', 'distribution'] as const;
type Format = (typeof WEBHOOK_FORMATS)[number];

/** What every subscription subscribes to; each pushed image gives one event of each type. */
export const WEBHOOK_EVENTS = ['artifact.pushed', 'tag.created'] as const;

/** Deliveries each image pushed into the project with subscriptions gives. */
const DELIVERIES_PER_IMAGE = WEBHOOK_FORMATS.length * WEBHOOK_EVENTS.length;

export type Condition = 'none' | 'three';

/** One block of timed runs (see the top of this file). */
export const WEBHOOK_RUN_BLOCK: readonly Condition[] = ['none', 'three', 'three', 'none'];

/** An image pushed into the project with subscriptions, and what its deliveries are for. */
interface Pushed {
  readonly repo: string;
  readonly tag: string;
  readonly digest: string;
  readonly phase: 'warm-up' | 'timed' | 'probe';
}

/** Latency percentiles with the worst one, in milliseconds. */
export interface LatencyFigures {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** How the deliveries of one subscription compare with the events its pushes should have given. */
export interface SubscriptionCheck {
  readonly format: Format;
  readonly expected: number;
  /** Distinct deliveries (by `webhook-id`) that arrived. */
  readonly received: number;
  readonly missing: number;
  /** Deliveries of events that no push of the run should have given (or unreadable ones). */
  readonly unexpected: number;
  /** A few of the missing events, as `<event> <repository>:<tag>@<digest>`. */
  readonly missingExamples: readonly string[];
}

/**
 * Commit-to-receipt latency of a set of deliveries, whole and split at the moment each delivery
 * was stored (from Berth's delivery log): before it, the outbox relay, the bus and the routing;
 * after it, the dispatcher's queue and the send.
 */
export interface DeliveryLatency {
  readonly total: LatencyFigures;
  readonly toStored: LatencyFigures;
  readonly storedToReceived: LatencyFigures;
}

/** What the webhook runs measured. */
export interface WebhookBenchResult {
  /** Images per timed run, and in flight at once. */
  readonly images: number;
  readonly concurrency: number;
  /** Timed runs per condition: two in each block ({@link WEBHOOK_RUN_BLOCK}). */
  readonly runsPerCondition: number;
  /** Each timed run's images/s, in the order they ran. */
  readonly runRates: readonly { readonly condition: Condition; readonly imagesPerSecond: number }[];
  /** The timed pushes without subscriptions and with three, each condition's runs pooled. */
  readonly none: TimedRun;
  readonly three: TimedRun;
  /**
   * CPU time Berth's processes spent per image of the timed runs (with three subscriptions, until
   * the run's last delivery arrived), in milliseconds; null where `/proc` could not be read. The
   * difference is what the six deliveries of an image cost Berth, whatever else shares the machine.
   */
  readonly cpuMsPerImage: { readonly none: number | null; readonly three: number | null };
  /** The same per process of Berth, by name; empty for the all-in-one's one process, or where unread. */
  readonly cpuMsPerImageByProcess: readonly {
    readonly name: string;
    readonly none: number;
    readonly three: number;
  }[];
  /**
   * CPU time the bench's own process (the pushing client, and the receiver of the deliveries)
   * spent per image over the same windows: on a machine that Berth shares with the bench, the
   * receiver's part of "three" is CPU that a real receiver elsewhere would not take from Berth.
   */
  readonly benchCpuMsPerImage: { readonly none: number; readonly three: number };
  /**
   * CPU time the machine's server processes that Berth works through (PostgreSQL and NATS, in the
   * distributed shape) spent per image over the same windows; null for a Berth without any, or
   * where `/proc` could not be read. The writes of the deliveries land there.
   */
  readonly servicesCpuMsPerImage: { readonly none: number; readonly three: number } | null;
  /**
   * The CloudEvents subscription's `artifact.pushed` deliveries of the timed runs, from the
   * event's `time` to the receiver's clock.
   */
  readonly underLoad: DeliveryLatency;
  /** The same for pushes made one at a time, each into an idle Berth. */
  readonly idle: DeliveryLatency;
  /** The most deliveries still on their way when a timed run's last push was answered. */
  readonly backlogAtEnd: number;
  /** The longest wait, after a timed run's last push, for its last delivery. */
  readonly drainMs: number;
  readonly subscriptions: readonly SubscriptionCheck[];
  /** Requests that repeated a delivery already received (retries). */
  readonly duplicates: number;
  /** Requests without a `webhook-id`. */
  readonly unsigned: number;
  /**
   * The CloudEvents subscription's deliveries in Berth's delivery log, and how many of them are
   * not recorded as delivered there (every one was received, so each should be).
   */
  readonly logged: { readonly count: number; readonly notDelivered: number };
}

/**
 * Runs the webhook comparison on `target` (a Berth the bench started, auth off, that may deliver
 * to loopback): creates the projects `<project>-none` and `<project>-three` and the three
 * subscriptions, warms up, times the runs, waits for every delivery and checks them.
 */
export async function runWebhookBench(
  settings: Extract<WebhookBenchSource, { kind: 'spawn' }>,
  target: WebhooksTarget,
  registry: RegistryClient,
  project: string,
  progress: (message: string) => void,
): Promise<WebhookBenchResult> {
  const { images, concurrency } = settings;
  const runOrder = Array.from({ length: settings.blocks }, () => WEBHOOK_RUN_BLOCK).flat();
  const receiver = await WebhookReceiver.start();
  try {
    const quiet = `${project}-none`;
    const hooked = `${project}-three`;
    await provisionProject(target.api, quiet);
    await provisionProject(target.api, hooked);
    const subscriptions = new Map<Format, string>();
    for (const format of WEBHOOK_FORMATS) {
      subscriptions.set(format, await subscribe(target, hooked, format, receiver.url(`/${format}`)));
    }
    const repos: Record<Condition, string> = { none: `${quiet}/app`, three: `${hooked}/app` };
    const ctx: TargetContext = { target, registry, repoPrefix: project, once: new Map() };
    const pushed: Pushed[] = [];
    let expected = 0;
    // Deliveries a wait gave up on; later waits do not wait for them again (the check reports them).
    let lost = 0;
    const settle = async (): Promise<void> => {
      if (!(await receiver.waitForDistinct(expected - lost, WEBHOOK_QUIET_MS))) {
        lost = expected - receiver.distinct;
      }
    };

    /** Pushes `count` new images into `condition`'s project; timed unless it is the warm-up. */
    const batch = async (condition: Condition, label: string, phase: Pushed['phase']): Promise<TimedRun> => {
      const count = phase === 'warm-up' ? WEBHOOK_WARMUP_IMAGES : images;
      // Generated before timing starts; every image is new, so every push commits an artifact and a tag.
      const batchImages = Array.from({ length: count }, () => randomImage(1, WEBHOOK_LAYER_BYTES));
      const tag = (i: number): string => `${label}-${i}`;
      const run = await runConcurrent(count, concurrency, (i) =>
        pushImage(ctx, at(batchImages, i), repos[condition], tag(i)),
      );
      if (condition === 'three') {
        batchImages.forEach((image, i) => {
          pushed.push({ repo: repos.three, tag: tag(i), digest: image.manifestDigest, phase });
        });
        expected += count * DELIVERIES_PER_IMAGE;
      }
      return run;
    };

    progress('webhooks — warm-up');
    await batch('none', 'warmup', 'warm-up');
    await batch('three', 'warmup', 'warm-up');
    await settle();

    const runs: Record<Condition, TimedRun[]> = { none: [], three: [] };
    const runRates: WebhookBenchResult['runRates'][number][] = [];
    // CPU ms by Berth process, and of the services, summed over each condition's runs; null once
    // a reading failed (or, for the services, where there are none).
    const cpu: Record<Condition, Map<string, number> | null> = { none: new Map(), three: new Map() };
    const servicesCpu: Record<Condition, Map<string, number> | null> = { none: new Map(), three: new Map() };
    const benchCpu: Record<Condition, number> = { none: 0, three: 0 };
    const servicesMs = (): Map<string, number> | null => {
      const ms = target.services.length === 0 ? null : cpuMsOfNamed(target.services);
      return ms === null ? null : new Map([['services', ms]]);
    };
    let backlogAtEnd = 0;
    let drainMs = 0;
    for (const [index, condition] of runOrder.entries()) {
      progress(`webhooks — ${images} image pushes, c=${concurrency}, ${describe(condition)}`);
      // The services' reading scans /proc: it comes before the bench's own clock starts, and after it stops.
      const servicesBefore = servicesMs();
      const cpuBefore = berthCpuMs(target);
      const benchBefore = process.cpuUsage();
      const run = await batch(condition, `run${index}`, 'timed');
      runs[condition].push(run);
      runRates.push({ condition, imagesPerSecond: images / (run.elapsedMs / 1000) });
      if (condition === 'three') {
        const ended = Date.now();
        backlogAtEnd = Math.max(backlogAtEnd, expected - receiver.distinct);
        await settle();
        drainMs = Math.max(drainMs, Date.now() - ended);
      }
      const cpuAfter = berthCpuMs(target);
      const benchSpent = process.cpuUsage(benchBefore);
      benchCpu[condition] += (benchSpent.user + benchSpent.system) / 1000;
      servicesCpu[condition] = addSpent(servicesCpu[condition], servicesBefore, servicesMs());
      cpu[condition] = addSpent(cpu[condition], cpuBefore, cpuAfter);
    }
    const timedImages = images * (runOrder.length / 2);
    const perImage = (byProcess: Map<string, number> | null): number | null =>
      byProcess === null ? null : [...byProcess.values()].reduce((a, b) => a + b, 0) / timedImages;
    const servicesNone = perImage(servicesCpu.none);
    const servicesThree = perImage(servicesCpu.three);
    const { none: cpuNone, three: cpuThree } = cpu;
    const byProcess =
      cpuNone === null || cpuThree === null || cpuNone.size < 2
        ? []
        : [...cpuNone].map(([name, none]) => ({
            name,
            none: none / timedImages,
            three: (cpuThree.get(name) ?? Number.NaN) / timedImages,
          }));

    progress(`webhooks — ${WEBHOOK_PROBES} single pushes, each into an idle Berth`);
    for (let i = 0; i < WEBHOOK_PROBES; i++) {
      await new Promise((resolve) => setTimeout(resolve, WEBHOOK_PROBE_PAUSE_MS));
      const image = randomImage(1, WEBHOOK_LAYER_BYTES);
      await pushImage(ctx, image, repos.three, `probe-${i}`);
      pushed.push({ repo: repos.three, tag: `probe-${i}`, digest: image.manifestDigest, phase: 'probe' });
      expected += DELIVERIES_PER_IMAGE;
      await settle();
    }

    const cloudevents = subscriptions.get('cloudevents') ?? '';
    let log = await deliveryLog(target, hooked, cloudevents);
    if ([...log.values()].some((entry) => entry.status !== 'delivered')) {
      // The last attempts may have been received an instant before they were recorded.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      log = await deliveryLog(target, hooked, cloudevents);
    }
    return {
      images,
      concurrency,
      runsPerCondition: runOrder.length / 2,
      runRates,
      none: combineRuns(runs.none),
      three: combineRuns(runs.three),
      cpuMsPerImage: { none: perImage(cpuNone), three: perImage(cpuThree) },
      cpuMsPerImageByProcess: byProcess,
      benchCpuMsPerImage: { none: benchCpu.none / timedImages, three: benchCpu.three / timedImages },
      servicesCpuMsPerImage:
        servicesNone === null || servicesThree === null ? null : { none: servicesNone, three: servicesThree },
      ...latencies(receiver.receipts, pushed, log),
      backlogAtEnd,
      drainMs,
      subscriptions: WEBHOOK_FORMATS.map((format) => check(format, receiver.receipts, pushed)),
      logged: {
        count: log.size,
        notDelivered: [...log.values()].filter((entry) => entry.status !== 'delivered').length,
      },
      duplicates: receiver.receipts.length - receiver.distinct - unsignedCount(receiver.receipts),
      unsigned: unsignedCount(receiver.receipts),
    };
  } finally {
    await receiver.stop();
  }
}

/** CPU ms each of Berth's processes has used so far, by name; null when one could not be read. */
function berthCpuMs(target: WebhooksTarget): Map<string, number> | null {
  const readings = new Map<string, number>();
  for (const { name, pid } of target.processes()) {
    const ms = cpuMs(pid);
    if (ms === null) return null;
    readings.set(name, ms);
  }
  return readings;
}

/** `total` with what each process spent between `before` and `after` added; null once one is null. */
function addSpent(
  total: Map<string, number> | null,
  before: Map<string, number> | null,
  after: Map<string, number> | null,
): Map<string, number> | null {
  if (total === null || before === null || after === null) return null;
  for (const [name, ms] of after) total.set(name, (total.get(name) ?? 0) + ms - (before.get(name) ?? ms));
  return total;
}

function describe(condition: Condition): string {
  return condition === 'none' ? 'no subscriptions' : 'three subscriptions';
}

/** Creates a subscription to {@link WEBHOOK_EVENTS} of `project` in `format`; resolves its id. */
async function subscribe(
  target: WebhooksTarget,
  project: string,
  format: Format,
  url: string,
): Promise<string> {
  const path = `/api/v1/projects/${project}/webhooks`;
  const answer = await target.webhooksApi.call('POST', path, {
    name: `bench-${format}`,
    url,
    events: WEBHOOK_EVENTS,
    format,
  });
  if (answer.status !== 201) {
    throw new BenchFailure(
      `POST ${path}`,
      `status ${answer.status}, expected 201`,
      answer.text.slice(0, 1000),
    );
  }
  const id = text(JSON.parse(answer.text), 'id');
  if (id === '?') throw new BenchFailure(`POST ${path}`, 'the answer has no id');
  return id;
}

/** When each delivery of a subscription was stored, and when its event occurred (epoch ms), by delivery id. */
interface Logged {
  readonly occurredAt: number;
  readonly createdAt: number;
  readonly status: string;
}

const LOG_PAGE_SIZE = 100;

/** The whole delivery log of a subscription, read page by page through the API. */
async function deliveryLog(
  target: WebhooksTarget,
  project: string,
  subscription: string,
): Promise<Map<string, Logged>> {
  const log = new Map<string, Logged>();
  for (let page = 1; ; page++) {
    const path = `/api/v1/projects/${project}/webhooks/${subscription}/deliveries?page=${page}&pageSize=${LOG_PAGE_SIZE}`;
    const answer = await target.webhooksApi.call('GET', path);
    if (answer.status !== 200) {
      throw new BenchFailure(
        `GET ${path}`,
        `status ${answer.status}, expected 200`,
        answer.text.slice(0, 1000),
      );
    }
    const rows = JSON.parse(answer.text) as unknown;
    if (!Array.isArray(rows)) throw new BenchFailure(`GET ${path}`, 'the answer is not a list');
    for (const row of rows as unknown[]) {
      log.set(text(row, 'id'), {
        occurredAt: Date.parse(text(row, 'occurredAt')),
        createdAt: Date.parse(text(row, 'createdAt')),
        status: text(row, 'status'),
      });
    }
    if (rows.length < LOG_PAGE_SIZE) return log;
  }
}

/** The first receipt of each delivery, by path; retries of it are left out. */
function firstReceipts(receipts: readonly Receipt[], path: string): Receipt[] {
  const seen = new Set<string>();
  return receipts.filter((r) => {
    if (r.path !== path || r.deliveryId === '' || seen.has(r.deliveryId)) return false;
    seen.add(r.deliveryId);
    return true;
  });
}

function unsignedCount(receipts: readonly Receipt[]): number {
  return receipts.filter((r) => r.deliveryId === '').length;
}

/**
 * Commit-to-receipt latencies of the CloudEvents subscription's `artifact.pushed` deliveries,
 * under load (the timed runs) and without (the single pushes).
 */
function latencies(
  receipts: readonly Receipt[],
  pushed: readonly Pushed[],
  log: ReadonlyMap<string, Logged>,
): Pick<WebhookBenchResult, 'underLoad' | 'idle'> {
  const phaseOf = new Map(pushed.map((p) => [p.digest, p.phase]));
  const samples = { timed: new Samples(), probe: new Samples() };
  for (const receipt of firstReceipts(receipts, '/cloudevents')) {
    const event = parse(receipt.body);
    if (text(event, 'type') !== 'io.berth.artifact.pushed') continue;
    const occurredAt = Date.parse(text(event, 'time'));
    const phase = phaseOf.get(text(event, 'data', 'digest'));
    if (Number.isNaN(occurredAt) || phase === undefined || phase === 'warm-up') continue;
    samples[phase].add(occurredAt, log.get(receipt.deliveryId)?.createdAt ?? Number.NaN, receipt.receivedAt);
  }
  return { underLoad: samples.timed.figures(), idle: samples.probe.figures() };
}

/** Latency samples of deliveries, whole and split where they were stored. */
class Samples {
  private readonly total: number[] = [];
  private readonly toStored: number[] = [];
  private readonly storedToReceived: number[] = [];

  add(occurredAt: number, storedAt: number, receivedAt: number): void {
    this.total.push(receivedAt - occurredAt);
    // A delivery missing from the log (or without a time there) counts only in the total.
    if (Number.isNaN(storedAt)) return;
    this.toStored.push(storedAt - occurredAt);
    this.storedToReceived.push(receivedAt - storedAt);
  }

  figures(): DeliveryLatency {
    return {
      total: figures(this.total),
      toStored: figures(this.toStored),
      storedToReceived: figures(this.storedToReceived),
    };
  }
}

function figures(values: readonly number[]): LatencyFigures {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] ?? Number.NaN),
  };
}

/**
 * How each format names the two events of a pushed image, and reads that name back from a
 * delivery's body: `<event> <repository>:<tag>@<digest>`. Distribution's envelope reports both
 * the artifact and its tag as a `push`, so each image expects two of those.
 */
const READERS: Readonly<
  Record<Format, { expected: (p: Pushed) => string[]; heard: (body: unknown) => string }>
> = {
  default: {
    expected: (p) => [key('PUSH_ARTIFACT', p), key('CREATE_TAG', p)],
    heard: (b) =>
      key(text(b, 'type'), {
        repo: text(b, 'event_data', 'repository', 'repo_full_name'),
        tag: text(b, 'event_data', 'resources', 0, 'tag'),
        digest: text(b, 'event_data', 'resources', 0, 'digest'),
      }),
  },
  cloudevents: {
    expected: (p) => [key('io.berth.artifact.pushed', p), key('io.berth.tag.created', p)],
    heard: (b) =>
      key(text(b, 'type'), {
        repo: text(b, 'data', 'repository'),
        tag: text(b, 'data', 'tag'),
        digest: text(b, 'data', 'digest'),
      }),
  },
  distribution: {
    expected: (p) => [key('push', p), key('push', p)],
    heard: (b) =>
      key(text(b, 'events', 0, 'action'), {
        repo: text(b, 'events', 0, 'target', 'repository'),
        tag: text(b, 'events', 0, 'target', 'tag'),
        digest: text(b, 'events', 0, 'target', 'digest'),
      }),
  },
};

function key(event: string, image: Pick<Pushed, 'repo' | 'tag' | 'digest'>): string {
  return `${event} ${image.repo}:${image.tag}@${image.digest}`;
}

/** Compares a subscription's deliveries with the events the pushes into its project should have given. */
function check(format: Format, receipts: readonly Receipt[], pushed: readonly Pushed[]): SubscriptionCheck {
  const reader = READERS[format];
  const wanted = new Map<string, number>();
  for (const p of pushed) for (const k of reader.expected(p)) wanted.set(k, (wanted.get(k) ?? 0) + 1);
  const got = new Map<string, number>();
  const received = firstReceipts(receipts, `/${format}`);
  for (const r of received) {
    const k = reader.heard(parse(r.body));
    got.set(k, (got.get(k) ?? 0) + 1);
  }
  let missing = 0;
  const missingExamples: string[] = [];
  for (const [k, count] of wanted) {
    const short = count - (got.get(k) ?? 0);
    if (short <= 0) continue;
    missing += short;
    if (missingExamples.length < 3) missingExamples.push(k);
  }
  let unexpected = 0;
  for (const [k, count] of got) unexpected += Math.max(0, count - (wanted.get(k) ?? 0));
  return {
    format,
    expected: [...wanted.values()].reduce((a, b) => a + b, 0),
    received: received.length,
    missing,
    unexpected,
    missingExamples,
  };
}

function parse(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return null;
  }
}

/** The string at `path` in parsed JSON, or `?` when it is missing or not a string. */
function text(value: unknown, ...path: readonly (string | number)[]): string {
  let current = value;
  for (const step of path) {
    if (current === null || typeof current !== 'object') return '?';
    current = (current as Record<string | number, unknown>)[step];
  }
  return typeof current === 'string' ? current : '?';
}
