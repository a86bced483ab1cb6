import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobRef } from './http/registry-client';

/** Size of each `randomBytes` call and each read while streaming a blob file. */
const IO_CHUNK = 1024 * 1024;

/** A random blob written to a file once, so both registries receive the same bytes. */
export interface BlobFile extends BlobRef {
  readonly path: string;
}

/** A small random blob kept in memory. */
export interface MemoryBlob extends BlobRef {
  readonly bytes: Buffer;
}

/**
 * Writes `size` random bytes to `path` in 1 MiB `randomBytes` chunks, hashing them on the way, so
 * a large blob never sits in memory whole. The digest has to be known before a monolithic
 * `PUT ?digest=` starts, which is why blobs are prepared before any registry is timed.
 */
export async function writeRandomBlob(path: string, size: number): Promise<BlobFile> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let written = 0; written < size;) {
    const chunk = randomBytes(Math.min(IO_CHUNK, size - written));
    hash.update(chunk);
    written += chunk.length;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { path, size, digest: `sha256:${hash.digest('hex')}` };
}

/** `count` random blob files of `size` bytes each in `dir`, named `<prefix>-<index>`. */
export async function writeRandomBlobs(
  dir: string,
  prefix: string,
  count: number,
  size: number,
): Promise<BlobFile[]> {
  const blobs: BlobFile[] = [];
  for (let i = 0; i < count; i++) blobs.push(await writeRandomBlob(join(dir, `${prefix}-${i}`), size));
  return blobs;
}

/** A random in-memory blob of `size` bytes. */
export function randomMemoryBlob(size: number): MemoryBlob {
  const bytes = randomBytes(size);
  return { bytes, size, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

/** A stream of a blob file, or of the inclusive byte range `start..end` of it. */
export function readBlob(blob: BlobFile, start = 0, end = blob.size - 1): Readable {
  return createReadStream(blob.path, { start, end, highWaterMark: IO_CHUNK });
}
