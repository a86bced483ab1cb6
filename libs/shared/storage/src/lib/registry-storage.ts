import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { Digest } from '@berth/oci';
import { BlobLayout } from './blob-layout';
import { objectExists } from './object-exists';
import type { RedirectOptions, SendOptions, StorageDriver } from './storage.driver';
import { PathNotFoundError } from './storage.error';

/** A chunk of an upload as written to storage: where it is, and how many bytes it holds. */
export interface WrittenChunk {
  /** Opaque to callers: recorded with the session and handed back to read or delete the chunk. */
  readonly path: string;
  readonly size: number;
}

/**
 * Berth's bytes in a storage driver, by what they are rather than where they lie: blobs (and
 * manifests, which are blobs) by digest, upload chunks by upload id. The paths ({@link BlobLayout})
 * stay inside this library, so the gateway, metadata and blobstore cannot drift apart on them.
 */
export class RegistryStorage {
  constructor(private readonly driver: StorageDriver) {}

  /** Whether a blob's bytes are stored (written only once their digest was verified). */
  hasBlob(digest: Digest): Promise<boolean> {
    return objectExists(this.driver, BlobLayout.blobData(digest));
  }

  /** A blob's bytes in memory (manifests: small, bounded by their limit). */
  getBlob(digest: Digest): Promise<Buffer> {
    return this.driver.getContent(BlobLayout.blobData(digest));
  }

  /** Stores bytes whose digest the caller has verified (a manifest it hashed itself). */
  putBlob(digest: Digest, bytes: Uint8Array): Promise<void> {
    return this.driver.putContent(BlobLayout.blobData(digest), bytes);
  }

  /** Streams a blob, or a range of it, to `destination` (see {@link StorageDriver.send}). */
  sendBlob(digest: Digest, destination: Writable, options?: SendOptions): Promise<void> {
    return this.driver.send(BlobLayout.blobData(digest), destination, options);
  }

  /** A URL the client may fetch the blob from directly, if the driver can sign one. */
  blobRedirectUrl(digest: Digest, options: RedirectOptions): Promise<string | null> {
    return this.driver.redirectUrl(BlobLayout.blobData(digest), options);
  }

  /**
   * Streams one chunk of an upload into an object of its own and returns it. Chunks are scratch
   * until the upload completes (not fsynced); completing moves them, which makes them durable.
   * Each chunk gets a fresh name, so racing writers of one session never share an object; their
   * order is the offsets the session records, not the names.
   */
  async writeChunk(uploadId: string, source: Readable): Promise<WrittenChunk> {
    const path = `${BlobLayout.uploadChunks(uploadId)}/${randomBytes(8).toString('hex')}`;
    const size = await this.driver.write(path, source, { durable: false });
    return { path, size };
  }

  /** Whether a recorded chunk path belongs to the upload (a session only ever records its own). */
  isChunkOf(uploadId: string, path: string): boolean {
    return path.startsWith(`${BlobLayout.uploadChunks(uploadId)}/`) && !path.includes('/../');
  }

  /** Deletes a chunk that was written but not recorded. */
  deleteChunk(path: string): Promise<void> {
    return this.driver.delete(path);
  }

  /** Reads a recorded chunk. */
  readChunk(path: string): Promise<Readable> {
    return this.driver.reader(path);
  }

  /** Writes an upload's chunks, concatenated, into one object; returns it for {@link commitBlob}. */
  async writeAssembled(uploadId: string, source: Readable): Promise<string> {
    const path = BlobLayout.uploadAssembled(uploadId);
    await this.driver.write(path, source, { durable: false });
    return path;
  }

  /**
   * Makes verified upload bytes the blob `digest`: moves `source` (a chunk or the assembled
   * object; null for the empty blob) into place, unless an identical blob is there already.
   */
  async commitBlob(source: string | null, digest: Digest): Promise<void> {
    const target = BlobLayout.blobData(digest);
    if (await objectExists(this.driver, target)) return;
    if (source === null) await this.driver.putContent(target, new Uint8Array());
    else await this.driver.move(source, target);
  }

  /** Deletes everything of an upload. */
  removeUpload(uploadId: string): Promise<void> {
    return this.driver.delete(BlobLayout.uploadDir(uploadId));
  }

  /** The ids of every upload with data in storage (for the sweep of abandoned ones). */
  async uploadIds(): Promise<string[]> {
    let dirs: string[];
    try {
      dirs = await this.driver.list(BlobLayout.uploads());
    } catch (error) {
      if (error instanceof PathNotFoundError) return [];
      throw error;
    }
    return dirs.map((dir) => dir.slice(dir.lastIndexOf('/') + 1));
  }

  /** Whether anything of an upload was written after `cutoff`. */
  async uploadTouchedSince(uploadId: string, cutoff: Date): Promise<boolean> {
    for await (const file of this.driver.walk(BlobLayout.uploadDir(uploadId)))
      if (file.modifiedAt.getTime() > cutoff.getTime()) return true;
    return false;
  }
}
