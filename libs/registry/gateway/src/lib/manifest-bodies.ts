import { LruCache } from '@berth/cache';

/**
 * Manifest bodies by digest, in memory, bounded by their total bytes. Content addressing makes
 * them immutable, so an entry never goes stale: whether a repository still holds the manifest is
 * asked of metadata on every request; only the bytes come from here.
 */
export class ManifestBodies extends LruCache<string, Buffer> {
  constructor(maxBytes: number) {
    super({ capacity: 100_000, weigh: (body) => body.length, maxWeight: maxBytes });
  }
}
