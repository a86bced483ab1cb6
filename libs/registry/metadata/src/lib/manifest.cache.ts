import { LruCache } from '@berth/cache';
import type { ManifestInfo } from '@berth/contracts';

/**
 * Resolved manifest references (`repository` + tag or digest), kept in memory so that a manifest
 * GET by tag costs no database round trip. Writers invalidate a repository after they commit
 * (here and, by broadcast, on every other instance); a per-repository generation stops a read
 * that raced with a write from caching what it read before the commit. Entries also expire, which
 * bounds staleness if a broadcast is lost.
 */
export class ManifestCache {
  private readonly entries: LruCache<string, ManifestInfo>;
  private readonly tagLists: LruCache<string, readonly string[]>;
  private readonly generations = new Map<string, number>();

  constructor(capacity: number, maxAgeMs = 10_000) {
    this.entries = new LruCache(capacity, maxAgeMs);
    // Bounded by the number of tags held, which is what costs memory.
    this.tagLists = new LruCache({
      capacity: 1_000,
      maxAgeMs,
      weigh: (tags) => tags.length,
      maxWeight: 50_000,
    });
  }

  /** A repository's whole tag list in byte order, if cached. */
  tags(repository: string): readonly string[] | undefined {
    return this.tagLists.get(repository);
  }

  /** Stores a repository's whole tag list read under `generation`, unless it changed since. */
  setTags(repository: string, tags: readonly string[], generation: number): void {
    if (this.generation(repository) === generation) this.tagLists.set(repository, tags);
  }

  /** The generation to pass to {@link ManifestCache.set} after reading from the database. */
  generation(repository: string): number {
    return this.generations.get(repository) ?? 0;
  }

  get(repository: string, reference: string): ManifestInfo | undefined {
    return this.entries.get(key(repository, reference));
  }

  /** Stores a value read under `generation`, unless the repository changed since. */
  set(repository: string, reference: string, info: ManifestInfo, generation: number): void {
    if (this.generation(repository) === generation) this.entries.set(key(repository, reference), info);
  }

  /** Forgets everything about a repository. */
  invalidate(repository: string): void {
    this.generations.set(repository, this.generation(repository) + 1);
    const prefix = `${repository}\u0000`;
    this.entries.deleteWhere((k) => k.startsWith(prefix));
    this.tagLists.delete(repository);
  }
}

function key(repository: string, reference: string): string {
  return `${repository}\u0000${reference}`;
}
