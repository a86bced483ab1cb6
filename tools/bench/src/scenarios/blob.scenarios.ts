import { readBlob, type BlobFile } from '../blob-fixtures';
import type { BenchConfig } from '../config/bench.config';
import { runConcurrent } from '../stats';
import {
  AUTH_ON_TARGET_RATIO,
  once,
  throughputMetrics,
  type BenchFixtures,
  type Scenario,
  type TargetContext,
} from './scenario';

/*
 * Blob transfers run one at a time: they measure what a single client stream gets, which is what
 * a `docker push` of one large layer sees, and they keep the two cores for the server.
 */

/** The repository the monolithic push fills and the pull reads back. */
function blobRepo(ctx: TargetContext): string {
  return `${ctx.repoPrefix}/blobs`;
}

/** Pushes and pulls the warm-up blob once per registry, untimed, in both upload styles. */
function warmUpBlobs(ctx: TargetContext, fixtures: BenchFixtures, config: BenchConfig): Promise<void> {
  return once(ctx, 'warm-up blobs', async () => {
    const repo = `${ctx.repoPrefix}/warmup`;
    const blob = fixtures.warmup;
    await ctx.registry.pushMonolithic(repo, blob, readBlob(blob));
    await ctx.registry.pushChunked(repo, blob, config.chunked.chunkBytes, (start, end) =>
      readBlob(blob, start, end),
    );
    await ctx.registry.pullBlob(repo, blob);
  });
}

function totalBytes(blobs: readonly BlobFile[]): number {
  return blobs.reduce((sum, blob) => sum + blob.size, 0);
}

/** `POST` + one `PUT ?digest=` with the whole blob, per blob. */
export function monolithicPush(config: BenchConfig, fixtures: BenchFixtures): Scenario {
  const blobs = fixtures.monolithic;
  return {
    title: `monolithic push (${blobs.length} × ${mib(config.monolithic.blobBytes)} MiB)`,
    async run(ctx) {
      await warmUpBlobs(ctx, fixtures, config);
      const repo = blobRepo(ctx);
      await ctx.registry.authorize(repo);
      const run = await runConcurrent(blobs.length, 1, async (i) => {
        const blob = at(blobs, i);
        await ctx.registry.pushMonolithic(repo, blob, readBlob(blob));
      });
      return { metrics: throughputMetrics(totalBytes(blobs), run), notes: [] };
    },
  };
}

/** `POST`, `PATCH` per chunk with Content-Range, then `PUT ?digest=` without a body, per blob. */
export function chunkedPush(config: BenchConfig, fixtures: BenchFixtures): Scenario {
  const blobs = fixtures.chunked;
  const chunkBytes = config.chunked.chunkBytes;
  return {
    title: `chunked push (${blobs.length} × ${mib(config.chunked.blobBytes)} MiB, ${mib(chunkBytes)} MiB chunks)`,
    async run(ctx) {
      await warmUpBlobs(ctx, fixtures, config);
      const repo = `${ctx.repoPrefix}/chunked`;
      await ctx.registry.authorize(repo);
      const run = await runConcurrent(blobs.length, 1, async (i) => {
        const blob = at(blobs, i);
        await ctx.registry.pushChunked(repo, blob, chunkBytes, (start, end) => readBlob(blob, start, end));
      });
      return { metrics: throughputMetrics(totalBytes(blobs), run), notes: [] };
    },
  };
}

/**
 * `GET` of each blob the monolithic push stored, hashing the stream and comparing digest and size.
 * Runs after {@link monolithicPush}, whose blobs it reads.
 */
export function blobPull(config: BenchConfig, fixtures: BenchFixtures): Scenario {
  const blobs = fixtures.monolithic;
  return {
    title: `blob pull + sha256 check (${blobs.length} × ${mib(config.monolithic.blobBytes)} MiB)`,
    async run(ctx) {
      await warmUpBlobs(ctx, fixtures, config);
      const repo = blobRepo(ctx);
      await ctx.registry.authorize(repo);
      const run = await runConcurrent(blobs.length, 1, async (i) => {
        await ctx.registry.pullBlob(repo, at(blobs, i));
      });
      return {
        metrics: throughputMetrics(totalBytes(blobs), run, { authOnVsOff: AUTH_ON_TARGET_RATIO }),
        notes: [],
      };
    },
  };
}

function mib(bytes: number): string {
  return String(Math.round((bytes / (1024 * 1024)) * 100) / 100);
}

/** `items[index]`, which the caller guarantees exists (`noUncheckedIndexedAccess`). */
export function at<T>(items: readonly T[], index: number): T {
  const item = items[index];
  if (item === undefined) throw new RangeError(`index ${index} out of ${items.length}`);
  return item;
}
