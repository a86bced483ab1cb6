import { z } from 'zod';

const MIB = 1024 * 1024;

const positiveInt = z.coerce.number().int().positive();
const flag = z.enum(['0', '1', 'true', 'false']).default('0');
const optionalUrl = z
  .url({ protocol: /^https?$/ })
  .transform((url) => url.replace(/\/+$/, ''))
  .optional();

/** Each environment variable the bench reads, with its default. Sizes are in MiB. */
const schema = z.object({
  BENCH_BERTH_URL: optionalUrl,
  BENCH_BERTH_PID: positiveInt.optional(),
  BENCH_DISTRIBUTION_URL: optionalUrl,
  BENCH_DISTRIBUTION_PID: positiveInt.optional(),
  BENCH_SKIP_DISTRIBUTION: flag,
  /** `1` skips the Berth with token auth on (issue 3's auth-on versus auth-off comparison). */
  BENCH_SKIP_AUTH: flag,
  /**
   * An already running Berth with token auth on, instead of spawning one. The bench creates a
   * project and a robot on it through the management API at `BENCH_BERTH_AUTH_API_URL` (default:
   * the same URL, as the all-in-one serves it) as the admin `BENCH_BERTH_AUTH_ADMIN`
   * (`username:password`), and benches with the robot's tokens.
   */
  BENCH_BERTH_AUTH_URL: optionalUrl,
  BENCH_BERTH_AUTH_PID: positiveInt.optional(),
  BENCH_BERTH_AUTH_API_URL: optionalUrl,
  BENCH_BERTH_AUTH_ADMIN: z
    .string()
    .regex(/^[^:]+:.+$/, 'expected username:password')
    .optional(),
  /**
   * `1` skips issue 4's comparison: push throughput with three webhook subscriptions against none,
   * and delivery latency, on a Berth the bench starts for it.
   */
  BENCH_SKIP_WEBHOOKS: flag,
  /** Images (config, one small layer, manifest by tag) per timed webhook run; each condition runs twice a block. */
  BENCH_WEBHOOK_IMAGES: positiveInt.default(100),
  /**
   * Blocks of timed webhook runs (none, three, three, none); the target is judged on the median of
   * the blocks' ratios, so an odd number of them gives a block of its own as the median.
   */
  BENCH_WEBHOOK_BLOCKS: positiveInt.default(5),
  /** Images pushed at once in the webhook runs, as a CI fleet pushing small images does. */
  BENCH_WEBHOOK_CONCURRENCY: positiveInt.default(8),
  /**
   * The shapes of Berth the webhook runs are made on, comma-separated: `all-in-one` (PGlite, the
   * in-process bus) and `distributed` (each service a process, on the local PostgreSQL and NATS).
   */
  BENCH_WEBHOOK_SHAPES: z
    .string()
    .default('all-in-one,distributed')
    .transform((list) => [...new Set(list.split(',').map((shape) => shape.trim()))])
    .pipe(z.array(z.enum(['all-in-one', 'distributed'])).min(1)),
  BENCH_REQUEST_IDLE_TIMEOUT_S: positiveInt.default(60),
  BENCH_CONCURRENCY: positiveInt.default(32),
  BENCH_MONOLITHIC_MIB: positiveInt.default(64),
  BENCH_MONOLITHIC_COUNT: positiveInt.default(4),
  BENCH_CHUNKED_MIB: positiveInt.default(64),
  BENCH_CHUNKED_COUNT: positiveInt.default(2),
  BENCH_CHUNK_MIB: positiveInt.default(5),
  BENCH_MANIFEST_REQUESTS: positiveInt.default(10_000),
  BENCH_BLOB_HEAD_REQUESTS: positiveInt.default(2_000),
  BENCH_BLOB_HEAD_BLOBS: positiveInt.default(100),
  BENCH_TAGS: positiveInt.default(1_000),
  BENCH_TAGS_PAGE_SIZE: positiveInt.default(100),
  BENCH_TAGS_LISTINGS: positiveInt.default(200),
  BENCH_WARMUP_REQUESTS: z.coerce.number().int().nonnegative().default(300),
});

/** Where the bench finds a registry: spawned by the bench, or already running at `url`. */
export type TargetSource =
  | { readonly kind: 'spawn' }
  | { readonly kind: 'external'; readonly url: string; readonly pid: number | null }
  | { readonly kind: 'skip' };

/** Username and password, as HTTP Basic sends them. */
export interface BasicCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Where the bench finds the Berth with token auth on: spawned, already running (with an admin who
 * may create a project and a robot through the management API at `apiUrl`), or not at all, for
 * the reason given.
 */
export type AuthTargetSource =
  | { readonly kind: 'spawn' }
  | {
      readonly kind: 'external';
      readonly url: string;
      readonly pid: number | null;
      readonly apiUrl: string;
      readonly admin: BasicCredentials;
    }
  | { readonly kind: 'skip'; readonly reason: string };

/**
 * Whether and how the bench compares push throughput with three webhook subscriptions against
 * none (issue 4): on a Berth it starts for the purpose, or not at all, for the reason given.
 */
export type WebhookBenchSource =
  | {
      readonly kind: 'spawn';
      readonly images: number;
      /** Blocks of timed runs. */
      readonly blocks: number;
      readonly concurrency: number;
      readonly shapes: readonly WebhookBenchShape[];
    }
  | { readonly kind: 'skip'; readonly reason: string };

/** A shape of Berth the webhook runs are made on. */
export type WebhookBenchShape = 'all-in-one' | 'distributed';

/** The bench's whole configuration, validated once at start. */
export interface BenchConfig {
  readonly berth: Exclude<TargetSource, { kind: 'skip' }>;
  readonly berthAuth: AuthTargetSource;
  readonly distribution: TargetSource;
  readonly webhooks: WebhookBenchSource;
  /** A request whose connection is silent this long fails (the registry hung). */
  readonly requestIdleTimeoutMs: number;
  /** In-flight requests for the request-storm scenarios (manifests, blob HEADs, tags). */
  readonly concurrency: number;
  readonly monolithic: { readonly blobBytes: number; readonly count: number };
  readonly chunked: { readonly blobBytes: number; readonly count: number; readonly chunkBytes: number };
  readonly manifestRequests: number;
  readonly blobHead: { readonly requests: number; readonly blobs: number };
  readonly tags: { readonly count: number; readonly pageSize: number; readonly listings: number };
  /** Untimed requests sent before each request-storm scenario is timed. */
  readonly warmupRequests: number;
}

/** The environment was invalid; `problems` names every bad variable at once. */
export class BenchConfigError extends Error {
  override readonly name = 'BenchConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid bench configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Reads the bench settings from the environment. Throws {@link BenchConfigError} listing every
 * bad variable. This file is the only one in the bench that reads `process.env`.
 */
export function loadBenchConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const problems: string[] = [];
  // Checked on the raw environment so they are reported together with any type errors.
  const present = (name: string): boolean => env[name] !== undefined && env[name] !== '';
  for (const slot of ['BERTH', 'DISTRIBUTION', 'BERTH_AUTH']) {
    if (present(`BENCH_${slot}_PID`) && !present(`BENCH_${slot}_URL`)) {
      problems.push(`BENCH_${slot}_PID: only meaningful with BENCH_${slot}_URL`);
    }
  }
  if (present('BENCH_BERTH_AUTH_API_URL') && !present('BENCH_BERTH_AUTH_URL')) {
    problems.push('BENCH_BERTH_AUTH_API_URL: only meaningful with BENCH_BERTH_AUTH_URL');
  }
  if (present('BENCH_BERTH_AUTH_URL') !== present('BENCH_BERTH_AUTH_ADMIN')) {
    problems.push('BENCH_BERTH_AUTH_ADMIN: required with BENCH_BERTH_AUTH_URL, and only meaningful with it');
  }
  const result = schema.safeParse(env);
  if (!result.success) {
    problems.push(...result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
    throw new BenchConfigError(problems);
  }
  const e = result.data;
  if (e.BENCH_TAGS_PAGE_SIZE > e.BENCH_TAGS) {
    problems.push('BENCH_TAGS_PAGE_SIZE: must not exceed BENCH_TAGS');
  }
  if (problems.length > 0) throw new BenchConfigError(problems);

  const skipDistribution = e.BENCH_SKIP_DISTRIBUTION === '1' || e.BENCH_SKIP_DISTRIBUTION === 'true';
  return {
    berth:
      e.BENCH_BERTH_URL === undefined
        ? { kind: 'spawn' }
        : { kind: 'external', url: e.BENCH_BERTH_URL, pid: e.BENCH_BERTH_PID ?? null },
    berthAuth: authTargetSource(e),
    distribution: skipDistribution
      ? { kind: 'skip' }
      : e.BENCH_DISTRIBUTION_URL === undefined
        ? { kind: 'spawn' }
        : { kind: 'external', url: e.BENCH_DISTRIBUTION_URL, pid: e.BENCH_DISTRIBUTION_PID ?? null },
    webhooks: webhookBenchSource(e),
    requestIdleTimeoutMs: e.BENCH_REQUEST_IDLE_TIMEOUT_S * 1000,
    concurrency: e.BENCH_CONCURRENCY,
    monolithic: { blobBytes: e.BENCH_MONOLITHIC_MIB * MIB, count: e.BENCH_MONOLITHIC_COUNT },
    chunked: {
      blobBytes: e.BENCH_CHUNKED_MIB * MIB,
      count: e.BENCH_CHUNKED_COUNT,
      chunkBytes: e.BENCH_CHUNK_MIB * MIB,
    },
    manifestRequests: e.BENCH_MANIFEST_REQUESTS,
    blobHead: { requests: e.BENCH_BLOB_HEAD_REQUESTS, blobs: e.BENCH_BLOB_HEAD_BLOBS },
    tags: { count: e.BENCH_TAGS, pageSize: e.BENCH_TAGS_PAGE_SIZE, listings: e.BENCH_TAGS_LISTINGS },
    warmupRequests: e.BENCH_WARMUP_REQUESTS,
  };
}

/**
 * The auth-on Berth mirrors the auth-off one: spawned beside a spawned Berth, external only when
 * given its own URL. An external auth-off Berth is not compared with a spawned auth-on one, whose
 * build, host and settings may differ.
 */
function authTargetSource(e: z.infer<typeof schema>): AuthTargetSource {
  if (e.BENCH_SKIP_AUTH === '1' || e.BENCH_SKIP_AUTH === 'true') {
    return { kind: 'skip', reason: 'BENCH_SKIP_AUTH' };
  }
  if (e.BENCH_BERTH_AUTH_URL !== undefined && e.BENCH_BERTH_AUTH_ADMIN !== undefined) {
    const colon = e.BENCH_BERTH_AUTH_ADMIN.indexOf(':');
    return {
      kind: 'external',
      url: e.BENCH_BERTH_AUTH_URL,
      pid: e.BENCH_BERTH_AUTH_PID ?? null,
      apiUrl: e.BENCH_BERTH_AUTH_API_URL ?? e.BENCH_BERTH_AUTH_URL,
      admin: {
        username: e.BENCH_BERTH_AUTH_ADMIN.slice(0, colon),
        password: e.BENCH_BERTH_AUTH_ADMIN.slice(colon + 1),
      },
    };
  }
  if (e.BENCH_BERTH_URL !== undefined) {
    return { kind: 'skip', reason: 'BENCH_BERTH_URL is set but BENCH_BERTH_AUTH_URL is not' };
  }
  return { kind: 'spawn' };
}

/**
 * The webhook comparison needs a Berth whose settings the bench controls (its loopback receiver
 * must be an allowed target), so it runs only beside a spawned Berth, never against an external one.
 */
function webhookBenchSource(e: z.infer<typeof schema>): WebhookBenchSource {
  if (e.BENCH_SKIP_WEBHOOKS === '1' || e.BENCH_SKIP_WEBHOOKS === 'true') {
    return { kind: 'skip', reason: 'BENCH_SKIP_WEBHOOKS' };
  }
  if (e.BENCH_BERTH_URL !== undefined) {
    return {
      kind: 'skip',
      reason: 'BENCH_BERTH_URL is set; the webhook runs need a Berth the bench starts itself',
    };
  }
  return {
    kind: 'spawn',
    images: e.BENCH_WEBHOOK_IMAGES,
    blocks: e.BENCH_WEBHOOK_BLOCKS,
    concurrency: e.BENCH_WEBHOOK_CONCURRENCY,
    shapes: e.BENCH_WEBHOOK_SHAPES,
  };
}

/**
 * The `BERTH_*` settings of the bench's own environment that the spawned Berth gets (e.g.
 * `BERTH_BUS=nats`); the harness decides host, port, data directory and log level.
 */
export function berthPassthroughEnv(): Record<string, string> {
  const owned = new Set(['BERTH_HTTP_HOST', 'BERTH_HTTP_PORT', 'BERTH_DATA_DIR', 'BERTH_LOG_LEVEL']);
  return Object.fromEntries(
    Object.entries(process.env).flatMap(([key, value]) =>
      key.startsWith('BERTH_') && !owned.has(key) && value !== undefined ? [[key, value]] : [],
    ),
  );
}
