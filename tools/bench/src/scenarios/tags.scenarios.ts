import type { BenchConfig } from '../config/bench.config';
import { BenchFailure } from '../http/bench-failure.error';
import { runConcurrent } from '../stats';
import { pushImage } from './fixtures';
import { once, rateMetrics, type BenchFixtures, type Scenario, type TargetContext } from './scenario';

/** Safety stop for a registry whose Link headers never end. */
const MAX_PAGES_PER_LISTING = 10_000;

/** The tags every registry gets, zero-padded so lexical order is numeric order. */
function tagNames(count: number): string[] {
  const width = String(count - 1).length;
  return Array.from({ length: count }, (_, i) => `t${String(i).padStart(width, '0')}`);
}

function tagsRepo(ctx: TargetContext): string {
  return `${ctx.repoPrefix}/tags`;
}

/** Untimed: one manifest under every tag, PUT with `concurrency` in flight, once per registry. */
function ensureTags(
  ctx: TargetContext,
  config: BenchConfig,
  fixtures: BenchFixtures,
  tags: readonly string[],
): Promise<void> {
  return once(ctx, 'tags', async () => {
    const repo = tagsRepo(ctx);
    const first = tags[0];
    if (first === undefined) return;
    await pushImage(ctx, fixtures.image, repo, first);
    const { manifest, mediaType, manifestDigest } = fixtures.image;
    await runConcurrent(tags.length - 1, config.concurrency, (i) =>
      ctx.registry.putManifest(repo, tags[i + 1] ?? first, manifest, mediaType, manifestDigest),
    );
  });
}

/** What one complete listing (all its pages) looked like. */
interface Listing {
  readonly pages: number;
  /** Whether every page held at most the requested `n` tags. */
  readonly honouredN: boolean;
  /** Whether the concatenated pages were in lexical order, as the spec requires. */
  readonly sorted: boolean;
}

/**
 * Lists every tag of the repository, following `Link: <…>; rel="next"` until there is none, and
 * fails unless the result is exactly the expected set (no tag missing, extra or repeated). Order
 * is recorded, not enforced, so a registry that returns tags unsorted is still measured.
 */
async function listAll(
  ctx: TargetContext,
  expected: ReadonlySet<string>,
  pageSize?: number,
): Promise<Listing> {
  const repo = tagsRepo(ctx);
  const seen = new Set<string>();
  let honouredN = true;
  let sorted = true;
  let previous = '';
  let pages = 0;
  let page = await ctx.registry.listTags(repo, pageSize);
  for (;;) {
    pages++;
    if (pageSize !== undefined && page.tags.length > pageSize) honouredN = false;
    for (const tag of page.tags) {
      if (!expected.has(tag) || seen.has(tag)) {
        throw new BenchFailure(`GET /v2/${repo}/tags/list`, `unexpected or repeated tag "${tag}"`);
      }
      seen.add(tag);
      if (tag < previous) sorted = false;
      previous = tag;
    }
    if (page.next === null) break;
    if (pages >= MAX_PAGES_PER_LISTING) {
      throw new BenchFailure(`GET /v2/${repo}/tags/list`, `more than ${MAX_PAGES_PER_LISTING} pages`);
    }
    page = await ctx.registry.tagsPage(repo, page.next);
  }
  if (seen.size !== expected.size) {
    throw new BenchFailure(
      `GET /v2/${repo}/tags/list`,
      `listed ${seen.size} tags, expected ${expected.size}`,
    );
  }
  return { pages, honouredN, sorted };
}

/**
 * Complete listings of a repository of `tags.count` tags, `concurrency` at a time; with `pageSize`
 * each listing walks the pages. The rate counts whole listings, not page requests, so a registry
 * that ignores `n` and answers in one page is compared on the same unit of work.
 */
function tagsList(config: BenchConfig, fixtures: BenchFixtures, pageSize: number | undefined): Scenario {
  const tags = tagNames(config.tags.count);
  const expected = new Set(tags);
  return {
    title: `tags/list of ${tags.length} tags, ${shapeOf(pageSize)} (${config.tags.listings} listings, c=${config.concurrency})`,
    async run(ctx) {
      await ensureTags(ctx, config, fixtures, tags);
      await ctx.registry.authorize(tagsRepo(ctx));
      const listings: Listing[] = [];
      const list = async (): Promise<void> => {
        listings.push(await listAll(ctx, expected, pageSize));
      };
      // A listing is many requests' worth of work (and ten round trips when paginated), so a
      // tenth of the timed listings warms up as much as the request storms' warm-up does.
      const warmup = Math.min(config.warmupRequests, Math.ceil(config.tags.listings / 10));
      if (warmup > 0) await runConcurrent(warmup, config.concurrency, list);
      listings.length = 0;
      const run = await runConcurrent(config.tags.listings, config.concurrency, list);
      return { metrics: rateMetrics('listings/s', run), notes: describe(ctx, listings, pageSize) };
    },
  };
}

/** Notes on how the registry paginated and ordered, so the reader can judge the comparison. */
function describe(ctx: TargetContext, listings: readonly Listing[], pageSize: number | undefined): string[] {
  const notes: string[] = [];
  const name = ctx.target.name;
  const pages = new Set(listings.map((l) => l.pages));
  if (pageSize !== undefined) {
    notes.push(`${name}: n=${pageSize} listing took ${[...pages].join('/')} page(s)`);
    if (listings.some((l) => !l.honouredN))
      notes.push(`${name}: ignored n=${pageSize} (returned more tags per page)`);
  }
  if (listings.some((l) => !l.sorted))
    notes.push(`${name}: tags not in lexical order (${shapeOf(pageSize)})`);
  return notes;
}

function shapeOf(pageSize: number | undefined): string {
  return pageSize === undefined ? 'unpaginated' : `n=${pageSize}`;
}

/** The whole tag list in one response. */
export function tagsListUnpaginated(config: BenchConfig, fixtures: BenchFixtures): Scenario {
  return tagsList(config, fixtures, undefined);
}

/** The tag list in pages of `BENCH_TAGS_PAGE_SIZE`, following Link headers. */
export function tagsListPaginated(config: BenchConfig, fixtures: BenchFixtures): Scenario {
  return tagsList(config, fixtures, config.tags.pageSize);
}
