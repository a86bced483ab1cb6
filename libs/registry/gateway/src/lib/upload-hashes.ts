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

  /**
   * Where this gateway's hash of an upload stands, if it tracks the upload and no chunk is in
   * flight: the offset a chunk that does not say where it starts will most likely get.
   */
  offsetOf(id: string): number | null {
    const entry = this.entries.get(id);
    return entry && !entry.busy ? entry.offset : null;
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

  /**
   * Finishes and forgets the hash, with the number of bytes it covers (null if this gateway has
   * none, or a chunk is still in flight). The blobstore trusts it only if that is the session's size.
   */
  take(id: string): { digest: Digest; size: number } | null {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    if (!entry || entry.busy) return null;
    return { digest: entry.hasher.digest(), size: entry.offset };
  }
}
