import type { BenchConfig } from '../config/bench.config';
import { runConcurrent } from '../stats';
import { at } from './blob.scenarios';
import { pushImage } from './fixtures';
import {
  AUTH_ON_TARGET_RATIO,
  once,
  rateMetrics,
  type BenchFixtures,
  type Scenario,
  type TargetContext,
} from './scenario';

/*
 * Request storms: a fixed number of small requests with `concurrency` in flight, after an untimed
 * warm-up of the same requests. They measure per-request overhead (routing, metadata lookups,
 * caching), which is where a registry in front of many pulling nodes spends its time.
 */

const MANIFEST_TAG = 'latest';

/** The issue asks Berth to serve manifests by tag at least twice as fast as Distribution. */
const MANIFEST_GET_TARGET_RATIO = 2;

function manifestRepo(ctx: TargetContext): string {
  return `${ctx.repoPrefix}/manifests`;
}

/** Untimed: the image the manifest storms resolve, pushed once per registry. */
function ensureImage(ctx: TargetContext, fixtures: BenchFixtures): Promise<void> {
  return once(ctx, 'manifest image', () => pushImage(ctx, fixtures.image, manifestRepo(ctx), MANIFEST_TAG));
}

/**
 * Runs `warmup` untimed requests, then times `total` of them; with token auth, the token for
 * `repo` is fetched (or refreshed) before timing starts.
 */
async function storm(
  ctx: TargetContext,
  config: BenchConfig,
  repo: string,
  total: number,
  request: (index: number) => Promise<void>,
): Promise<Awaited<ReturnType<typeof runConcurrent>>> {
  if (config.warmupRequests > 0) await runConcurrent(config.warmupRequests, config.concurrency, request);
  await ctx.registry.authorize(repo);
  return runConcurrent(total, config.concurrency, request);
}

/** `GET /v2/<name>/manifests/<tag>` with a runtime's Accept header; every body's digest is checked. */
export function manifestGet(config: BenchConfig, fixtures: BenchFixtures): Scenario {
  const { manifestDigest } = fixtures.image;
  return {
    title: `manifest GET by tag (${config.manifestRequests} req, c=${config.concurrency})`,
    async run(ctx) {
      await ensureImage(ctx, fixtures);
      const repo = manifestRepo(ctx);
      const run = await storm(ctx, config, repo, config.manifestRequests, () =>
        ctx.registry.getManifest(repo, MANIFEST_TAG, manifestDigest),
      );
      return {
        metrics: rateMetrics('req/s', run, {
          vsDistribution: MANIFEST_GET_TARGET_RATIO,
          authOnVsOff: AUTH_ON_TARGET_RATIO,
        }),
        notes: [],
      };
    },
  };
}

/** `HEAD /v2/<name>/manifests/<tag>`; every Docker-Content-Digest is checked. */
export function manifestHead(config: BenchConfig, fixtures: BenchFixtures): Scenario {
  const { manifestDigest } = fixtures.image;
  return {
    title: `manifest HEAD by tag (${config.manifestRequests} req, c=${config.concurrency})`,
    async run(ctx) {
      await ensureImage(ctx, fixtures);
      const repo = manifestRepo(ctx);
      const run = await storm(ctx, config, repo, config.manifestRequests, () =>
        ctx.registry.headManifest(repo, MANIFEST_TAG, manifestDigest),
      );
      return { metrics: rateMetrics('req/s', run), notes: [] };
    },
  };
}

/**
 * `HEAD /v2/<name>/blobs/<digest>` cycling through distinct blobs, as a client does when it checks
 * which layers a registry already has before a push.
 */
export function blobHeadStorm(config: BenchConfig, fixtures: BenchFixtures): Scenario {
  const blobs = fixtures.headBlobs;
  return {
    title: `blob HEAD storm (${config.blobHead.requests} req over ${blobs.length} blobs, c=${config.concurrency})`,
    async run(ctx) {
      const repo = `${ctx.repoPrefix}/heads`;
      await runConcurrent(blobs.length, config.concurrency, async (i) => {
        const blob = at(blobs, i);
        await ctx.registry.pushMonolithic(repo, blob, blob.bytes);
      });
      const run = await storm(ctx, config, repo, config.blobHead.requests, (i) =>
        ctx.registry.headBlob(repo, at(blobs, i % blobs.length)),
      );
      return { metrics: rateMetrics('req/s', run), notes: [] };
    },
  };
}
