import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Bus } from '@berth/bus';
import { LruCache } from '@berth/cache';
import {
  BlobDeleted,
  BlobMounted,
  BlobPushed,
  BlobUnlinked,
  RepositoryCreated,
  eventEnvelope,
  type CompleteUpload,
  type RepositoryEvent,
  type RequestOf,
  type UploadSession,
} from '@berth/contracts';
import { DigestHasher, OciError, digestAlgorithm, parseDigest, type Digest } from '@berth/oci';
import { outboxEvent, type OutboxEvent } from '@berth/outbox';
import { RegistryStorage, type StorageDriver } from '@berth/storage';
import type { Logger } from 'pino';
import type { BlobRepository, LinkedBlob, UploadChunk } from './blob.repository';

/**
 * The blob lifecycle: upload sessions, verified commits into content-addressed storage, links of
 * blobs into repositories, cross-repository mounts and the sweep of abandoned uploads. Blob bytes
 * move only between storage objects here; they never cross the bus.
 */
export class BlobstoreService {
  /**
   * Sizes of blobs linked into repositories, so a HEAD storm costs no query. Links only change by
   * unlinking, which drops the entry here and, by broadcast, on every other instance; entries also
   * expire, which bounds staleness if a broadcast is lost.
   */
  private readonly linked = new LruCache<string, number>(50_000, 30_000);
  private readonly storage: RegistryStorage;

  constructor(
    private readonly blobs: BlobRepository,
    driver: StorageDriver,
    private readonly bus: Bus,
    private readonly logger: Logger,
    private readonly uploadTtlMs: number,
  ) {
    this.storage = new RegistryStorage(driver);
  }

  /** The size of a blob in a repository; `BLOB_UNKNOWN` if it is not there. */
  async stat(repository: string, digest: string): Promise<{ digest: string; size: number }> {
    const key = linkKey(repository, digest);
    const cached = this.linked.get(key);
    if (cached !== undefined) return { digest, size: cached };
    const size = await this.blobs.linkedSize(repository, digest);
    if (size === null) throw new OciError('BLOB_UNKNOWN', `blob unknown: ${digest}`, { digest });
    this.linked.set(key, size);
    return { digest, size };
  }

  /** Forgets a link (it was removed here or on another instance). */
  forget(repository: string, digest: string): void {
    this.linked.delete(linkKey(repository, digest));
  }

  /** Unlinks a blob from a repository; the bytes stay for other repositories (and GC). */
  async delete(
    repository: string,
    digest: string,
    requestId: string | null,
    actor: string | null,
  ): Promise<{ deleted: true }> {
    // Forgotten before and after: a stat racing the unlink cannot keep a stale entry past the TTL.
    this.forget(repository, digest);
    const unlinked = await this.blobs.unlink(repository, digest, () => [
      outboxEvent(BlobDeleted, { ...eventEnvelope(repository, requestId, actor), digest }),
    ]);
    this.forget(repository, digest);
    await this.bus.broadcast(BlobUnlinked, { repository, digest });
    if (!unlinked) throw new OciError('BLOB_UNKNOWN', `blob unknown: ${digest}`, { digest });
    return { deleted: true };
  }

  /** Links a blob of `from` into `repository`, if `from` has it. */
  async mount(
    repository: string,
    from: string,
    digest: string,
    requestId: string | null,
    actor: string | null,
  ): Promise<{ mounted: boolean; size: number | null }> {
    const size = await this.blobs.linkedSize(from, digest);
    if (size === null) return { mounted: false, size: null };
    const envelope = () => eventEnvelope(repository, requestId, actor);
    await this.blobs.link(repository, digest, size, (linked) => [
      ...repositoryEvents(linked, envelope),
      outboxEvent(BlobMounted, { ...envelope(), digest, size, from }),
    ]);
    return { mounted: true, size };
  }

  /** Opens an upload session. */
  start(repository: string): Promise<UploadSession> {
    return this.blobs.createSession(randomUUID(), repository);
  }

  /** Reads a live session of the repository. */
  session(repository: string, id: string): Promise<UploadSession> {
    return this.blobs.session(repository, id);
  }

  /**
   * Records a chunk already written to storage for the session, at `offset` or (null) at the
   * session's end.
   */
  async append(
    repository: string,
    id: string,
    chunk: { readonly offset: number | null; readonly size: number; readonly path: string },
  ): Promise<UploadSession> {
    if (!this.storage.isChunkOf(id, chunk.path)) {
      throw new OciError('BLOB_UPLOAD_INVALID', 'chunk path outside its upload');
    }
    return this.blobs.appendChunk(repository, id, chunk);
  }

  /**
   * Completes an upload: verifies its bytes against the claimed digest, moves them to their
   * content-addressed place (unless an identical blob is there already) and links the blob into
   * the repository. The session ends whatever happens; on a mismatch nothing is stored.
   */
  async complete(request: RequestOf<typeof CompleteUpload>): Promise<{ digest: string; size: number }> {
    const { repository, id, requestId, actor } = request;
    const digest = parseDigest(request.digest);
    const claimed = await this.blobs.claim(repository, id);
    try {
      const size = contiguousSize(claimed.chunks);
      // The gateway's hash counts only if it covers exactly the bytes the session holds.
      const computed = request.computedSize === size ? request.computedDigest : null;
      const source = await this.verifiedSource(id, digest, claimed.chunks, computed);
      await this.storage.commitBlob(source, digest);
      const envelope = () => eventEnvelope(repository, requestId, actor);
      await this.blobs.link(repository, digest, size, (linked) => [
        ...repositoryEvents(linked, envelope),
        outboxEvent(BlobPushed, { ...envelope(), digest, size }),
      ]);
      return { digest, size };
    } finally {
      await this.removeUpload(id);
    }
  }

  /** Cancels an upload and deletes its chunks. */
  async cancel(repository: string, id: string): Promise<{ cancelled: true }> {
    await this.blobs.claim(repository, id);
    await this.removeUpload(id);
    return { cancelled: true };
  }

  /**
   * Ends abandoned uploads: sessions untouched past the TTL, and upload directories without a
   * session (a crash between writing a chunk and recording it) once they are older than the TTL.
   */
  async sweep(): Promise<number> {
    const expired = await this.blobs.expire();
    for (const id of expired) await this.removeUpload(id);
    let orphans = 0;
    const ids = await this.storage.uploadIds();
    const live = await this.blobs.existingSessions(ids);
    const cutoff = new Date(Date.now() - this.uploadTtlMs);
    for (const id of ids) {
      if (live.has(id) || (await this.storage.uploadTouchedSince(id, cutoff))) continue;
      await this.removeUpload(id);
      orphans++;
    }
    return expired.length + orphans;
  }

  /**
   * Returns the storage path whose bytes are verified to match `digest` (null for an empty blob),
   * assembling several chunks into one object first. The gateway's `computedDigest` is trusted
   * when it hashed every byte with the same algorithm; otherwise the bytes are read back and hashed.
   */
  private async verifiedSource(
    id: string,
    digest: Digest,
    chunks: readonly UploadChunk[],
    computedDigest: string | null,
  ): Promise<string | null> {
    const trusted =
      computedDigest !== null && digestAlgorithm(parseDigest(computedDigest)) === digestAlgorithm(digest);
    const hasher = trusted ? null : new DigestHasher(digestAlgorithm(digest));
    let source: string | null;
    if (chunks.length === 0) {
      source = null;
    } else if (chunks.length === 1 && chunks[0]) {
      source = chunks[0].path;
      if (hasher) for await (const _ of this.concatenate(chunks, hasher)); // read only to hash
    } else {
      source = await this.storage.writeAssembled(id, Readable.from(this.concatenate(chunks, hasher)));
    }
    const actual = hasher ? hasher.digest() : computedDigest;
    if (actual !== digest) {
      throw new OciError('DIGEST_INVALID', 'provided digest did not match uploaded content', {
        expected: digest,
        actual,
      });
    }
    return source;
  }

  /** Streams the chunks in order, feeding the hasher on the way when there is one. */
  private async *concatenate(
    chunks: readonly UploadChunk[],
    hasher: DigestHasher | null,
  ): AsyncGenerator<Buffer> {
    for (const chunk of chunks) {
      for await (const piece of await this.storage.readChunk(chunk.path)) {
        hasher?.update(piece as Buffer);
        yield piece as Buffer;
      }
    }
  }

  private async removeUpload(id: string): Promise<void> {
    try {
      await this.storage.removeUpload(id);
    } catch (error) {
      // Leftovers are swept later; the request's outcome does not depend on them.
      this.logger.warn({ err: error, upload: id }, 'could not delete upload data');
    }
  }
}

/** The event of a repository that a blob link created, if it did. */
function repositoryEvents(linked: LinkedBlob, envelope: () => RepositoryEvent): OutboxEvent[] {
  return linked.repositoryCreated ? [outboxEvent(RepositoryCreated, envelope())] : [];
}

function contiguousSize(chunks: readonly UploadChunk[]): number {
  let expected = 0;
  for (const chunk of chunks) {
    if (chunk.offset !== expected)
      throw new OciError('BLOB_UPLOAD_INVALID', 'upload chunks are not contiguous');
    expected += chunk.size;
  }
  return expected;
}

function linkKey(repository: string, digest: string): string {
  return `${repository}\u0000${digest}`;
}
