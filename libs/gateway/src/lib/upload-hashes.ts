import { DigestHasher, type Digest } from '@berth/oci';

interface Entry {
  offset: number;
  hasher: DigestHasher;
  busy: boolean;
}

/**
 * The running SHA-256 of uploads this gateway has seen from their first byte, so that completing
 * an upload needs no second pass over its bytes. A hash is only trusted while it covers exactly
 * the session's bytes: a chunk that fails midway, a chunk that went through another replica, or
 * two chunks racing drop it, and the blobstore then hashes the stored bytes instead. Bounded in
 * size; the oldest entries go first.
 */
export class UploadHashes {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly capacity = 10_000) {}

  /** Starts tracking a new session at offset 0. */
  begin(id: string): void {
    this.entries.set(id, { offset: 0, hasher: new DigestHasher('sha256'), busy: false });
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }

  /**
   * The hasher to feed with a chunk starting at `offset`, or null if this gateway cannot hash it
   * (then the entry is dropped, unless another chunk is in flight). Pair with
   * {@link UploadHashes.release} or {@link UploadHashes.drop}.
   */
  claim(id: string, offset: number): DigestHasher | null {
    const entry = this.entries.get(id);
    if (!entry) return null;
    if (entry.busy) return null;
    if (entry.offset !== offset) {
      this.entries.delete(id);
      return null;
    }
    entry.busy = true;
    return entry.hasher;
  }

  /** The chunk was recorded: the hash now covers up to `offset`. */
  release(id: string, offset: number): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.offset = offset;
    entry.busy = false;
  }

  /** Forgets an upload (its hash no longer matches its bytes, or it ended). */
  drop(id: string): void {
    this.entries.delete(id);
  }

  /** Finishes and forgets the hash if it covers exactly `offset` bytes, else null. */
  take(id: string, offset: number): Digest | null {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    if (!entry || entry.busy || entry.offset !== offset) return null;
    return entry.hasher.digest();
  }
}
