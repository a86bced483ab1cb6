/** Bounds of an {@link LruCache}. */
export interface LruOptions<V> {
  /** Most entries kept. */
  readonly capacity: number;
  /** Entries older than this are treated as absent. */
  readonly maxAgeMs?: number;
  /** The weight of a value (e.g. its bytes); the sum is kept under {@link LruOptions.maxWeight}. */
  readonly weigh?: (value: V) => number;
  readonly maxWeight?: number;
}

/**
 * A small least-recently-used map with a bound on entries, optionally on total weight and on
 * age. Map keeps insertion order, so re-inserting on every hit makes the first key the least
 * recently used.
 */
export class LruCache<K, V> {
  private readonly entries = new Map<K, { value: V; storedAt: number; weight: number }>();
  private readonly options: Required<LruOptions<V>>;
  private weight = 0;

  constructor(capacity: number, maxAgeMs?: number);
  constructor(options: LruOptions<V>);
  constructor(capacityOrOptions: number | LruOptions<V>, maxAgeMs = Number.POSITIVE_INFINITY) {
    const options =
      typeof capacityOrOptions === 'number' ? { capacity: capacityOrOptions, maxAgeMs } : capacityOrOptions;
    this.options = {
      capacity: options.capacity,
      maxAgeMs: options.maxAgeMs ?? Number.POSITIVE_INFINITY,
      weigh: options.weigh ?? (() => 0),
      maxWeight: options.maxWeight ?? Number.POSITIVE_INFINITY,
    };
  }

  /** The value, if present and young enough. */
  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (Date.now() - entry.storedAt > this.options.maxAgeMs) {
      this.weight -= entry.weight;
      return undefined;
    }
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Stores a value, evicting the least recently used entries while over a bound. */
  set(key: K, value: V): void {
    const weight = this.options.weigh(value);
    if (this.options.capacity === 0 || weight > this.options.maxWeight) return;
    this.delete(key);
    this.entries.set(key, { value, storedAt: Date.now(), weight });
    this.weight += weight;
    while (this.entries.size > this.options.capacity || this.weight > this.options.maxWeight) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.delete(oldest.value);
    }
  }

  /** Drops every entry whose key matches. */
  deleteWhere(predicate: (key: K) => boolean): void {
    for (const key of [...this.entries.keys()]) if (predicate(key)) this.delete(key);
  }

  /** Drops one entry. */
  delete(key: K): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.weight -= entry.weight;
  }
}
