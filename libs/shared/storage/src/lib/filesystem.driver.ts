import { randomUUID } from 'node:crypto';
import { createWriteStream, type Dir } from 'node:fs';
import {
  mkdir,
  open,
  opendir,
  readFile,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
  type FileHandle,
} from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type {
  FileInfo,
  ReadOptions,
  RedirectOptions,
  SendOptions,
  StorageDriver,
  WriteOptions,
} from './storage.driver';
import { InvalidOffsetError, PathNotFoundError } from './storage.error';
import { validateStoragePath } from './storage-path';

/**
 * The directory under the root that holds writes in progress. The `~` puts it outside the path
 * grammar, so no storage path can name it, and list and walk skip it like any other entry whose
 * name is not a valid segment. It sits on the same filesystem as the objects, so the final
 * `rename` is atomic.
 */
const TEMP_DIR = '~tmp';

/** How often a `rename` is retried when a concurrent delete pruned the directory just created. */
const RENAME_ATTEMPTS = 5;

/**
 * A {@link StorageDriver} over a local directory. Each storage path maps to the same relative
 * path under the root; directories are created on demand and pruned once empty, so that list and
 * walk show only directories that hold objects.
 *
 * A write streams into a temporary file under `<root>/~tmp/`, syncs it to disk and renames it
 * onto the target, which is atomic on POSIX filesystems. A path is either an object or a
 * directory: writing `/a/b` while `/a` is an object fails with the filesystem's error.
 */
export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';

  private readonly root: string;
  private readonly tempDir: string;

  /** @param root The directory that holds every object; created on the first write. */
  constructor(root: string) {
    this.root = resolve(root);
    this.tempDir = join(this.root, TEMP_DIR);
  }

  async stat(path: string): Promise<FileInfo> {
    const full = this.fullPath(path);
    try {
      const stats = await stat(full);
      if (!stats.isFile()) throw new PathNotFoundError(this.name, path);
      return { path, size: stats.size, modifiedAt: stats.mtime };
    } catch (error) {
      throw this.notFound(error, path);
    }
  }

  async reader(path: string, options: ReadOptions = {}): Promise<Readable> {
    const { handle, start, end } = await this.openRange(path, options);
    if (end === start) {
      await handle.close();
      return Readable.from([]);
    }
    // 1 MiB reads: a blob pull is a long sequential read, and every syscall counts.
    return handle.createReadStream({ start, end: end - 1, autoClose: true, highWaterMark: SEND_CHUNK_BYTES });
  }

  async send(path: string, destination: Writable, options: SendOptions = {}): Promise<void> {
    const { handle, start, end } = await this.openRange(path, options);
    try {
      options.onStart?.();
      // Two buffers, reused: one is read into while the other is being written out. A stream
      // would allocate a buffer per chunk, and in a process with a sizeable heap the external
      // memory pressure of those buffers costs a full collection every few dozen megabytes.
      const buffers = [Buffer.allocUnsafeSlow(SEND_CHUNK_BYTES), Buffer.allocUnsafeSlow(SEND_CHUNK_BYTES)];
      const writes: [Promise<void>, Promise<void>] = [Promise.resolve(), Promise.resolve()];
      // A destination that closes early (the client went away) may never call back pending
      // writes; stop at once rather than keep the file open.
      const closed = closedEarly(destination);
      let position = start;
      for (let turn = 0; position < end; turn ^= 1) {
        await Promise.race([writes[turn], closed.promise]);
        const buffer = buffers[turn] ?? Buffer.alloc(0);
        const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position), position);
        if (bytesRead === 0) throw new Error(`${this.name}: ${path} shrank while it was being sent`);
        position += bytesRead;
        const write = writeChunk(destination, buffer.subarray(0, bytesRead));
        // A failed write must not go unobserved while the other buffer is being read.
        write.catch(() => undefined);
        writes[turn] = write;
      }
      await Promise.race([Promise.all(writes), closed.promise]);
      closed.dispose();
      await new Promise<void>((resolve, reject) => {
        destination.end((error?: Error | null) => {
          if (error) reject(error);
          else resolve();
        });
      });
    } finally {
      await handle.close();
    }
  }

  /**
   * Opens an object and resolves a read range against its size. Sizing through the open handle,
   * not the path, keeps the size and the bytes of one version even if a writer renames a new
   * object over the path meanwhile.
   */
  private async openRange(
    path: string,
    options: ReadOptions,
  ): Promise<{ handle: FileHandle; start: number; end: number }> {
    const offset = options.offset ?? 0;
    let handle: FileHandle;
    try {
      handle = await open(this.fullPath(path), 'r');
    } catch (error) {
      throw this.notFound(error, path);
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new PathNotFoundError(this.name, path);
      if (offset > stats.size) throw new InvalidOffsetError(this.name, path, offset);
      const end = options.length === undefined ? stats.size : Math.min(stats.size, offset + options.length);
      return { handle, start: offset, end };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async write(path: string, source: Readable, options: WriteOptions = {}): Promise<number> {
    const durable = options.durable !== false;
    const target = this.fullPath(path);
    await mkdir(this.tempDir, { recursive: true });
    const temp = join(this.tempDir, randomUUID());
    const counter = new ByteCounter();
    // `flush` fsyncs before the stream closes, so the rename below publishes durable bytes. (A
    // FileHandle stream with autoClose off never settles the pipeline when the source is an
    // HTTP request, so the path-based stream is used.)
    const sink = createWriteStream(temp, { flags: 'wx', flush: durable });
    try {
      await pipeline(source, counter, sink);
      await this.renameInto(temp, target);
      if (durable) await this.syncDirectory(dirname(target));
      return counter.bytes;
    } catch (error) {
      // A source that fails at once can settle the pipeline before the file is even open; the
      // open then creates it after the cleanup, unless the cleanup waits for the stream to close.
      if (!sink.closed)
        await new Promise<void>((closed) =>
          sink.once('close', () => {
            closed();
          }),
        );
      await rm(temp, { force: true });
      throw error;
    }
  }

  async getContent(path: string): Promise<Buffer> {
    try {
      return await readFile(this.fullPath(path));
    } catch (error) {
      throw this.notFound(error, path);
    }
  }

  async putContent(path: string, content: Uint8Array): Promise<void> {
    await this.write(
      path,
      Readable.from([Buffer.from(content.buffer, content.byteOffset, content.byteLength)]),
    );
  }

  async move(source: string, destination: string): Promise<void> {
    const from = this.fullPath(source);
    const to = this.fullPath(destination);
    // rename would happily move a directory; the contract speaks of objects only.
    await this.stat(source);
    if (from === to) return;
    try {
      // The source may have been written without flushing (a scratch chunk); the destination
      // must be on disk before the rename publishes it.
      await syncFile(from);
      await this.renameInto(from, to);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') throw new PathNotFoundError(this.name, source);
      throw error;
    }
    await this.syncDirectory(dirname(to));
    await this.pruneEmptyParents(from);
  }

  async delete(path: string): Promise<void> {
    if (path === '/') {
      // The root itself and the writes in progress stay; everything addressable goes.
      const entries = await readdir(this.root).catch((error: unknown) => {
        if (errorCode(error) === 'ENOENT') return [];
        throw error;
      });
      await Promise.all(
        entries
          .filter((entry) => isSegment(entry))
          .map((entry) => rm(join(this.root, entry), { recursive: true, force: true })),
      );
      return;
    }
    const full = this.fullPath(path);
    try {
      await rm(full, { recursive: true, force: true });
    } catch (error) {
      // A path below an object (`/file/below`) does not exist either.
      if (errorCode(error) !== 'ENOTDIR') throw error;
      return;
    }
    await this.pruneEmptyParents(full);
  }

  async list(path: string): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.fullPath(path));
    } catch (error) {
      throw this.notFound(error, path);
    }
    const children = entries.filter((entry) => isSegment(entry)).sort();
    if (children.length === 0) throw new PathNotFoundError(this.name, path);
    return children.map((entry) => childPath(path, entry));
  }

  async *walk(path: string): AsyncIterable<FileInfo> {
    const full = this.fullPath(path);
    let dir: Dir;
    try {
      dir = await opendir(full);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw error;
    }
    for await (const entry of dir) {
      if (!isSegment(entry.name)) continue;
      const child = childPath(path, entry.name);
      if (entry.isDirectory()) {
        yield* this.walk(child);
      } else if (entry.isFile()) {
        try {
          const stats = await stat(join(full, entry.name));
          yield { path: child, size: stats.size, modifiedAt: stats.mtime };
        } catch (error) {
          // Deleted or moved between readdir and stat: it is no longer below `path`.
          if (errorCode(error) !== 'ENOENT') throw error;
        }
      }
    }
  }

  /** The filesystem cannot hand out URLs; clients always read through Berth. */
  redirectUrl(_path: string, _options: RedirectOptions): Promise<string | null> {
    return Promise.resolve(null);
  }

  /**
   * Maps a storage path onto the root. The path is checked again even behind the validating
   * wrapper: this is the one driver where a path like `/../x` would escape its sandbox.
   */
  private fullPath(path: string): string {
    validateStoragePath(this.name, path);
    return path === '/' ? this.root : join(this.root, path);
  }

  /**
   * Renames `from` onto `to`, creating `to`'s parents, and survives a concurrent prune of them: a
   * delete elsewhere may remove a parent between (or during) the `mkdir` and the `rename`.
   */
  private async renameInto(from: string, to: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dirname(to), { recursive: true });
        await rename(from, to);
        return;
      } catch (error) {
        // ENOENT or ENOTDIR with `from` still present means a parent vanished under us: try again.
        const code = errorCode(error);
        if ((code !== 'ENOENT' && code !== 'ENOTDIR') || attempt >= RENAME_ATTEMPTS || !(await exists(from)))
          throw error;
      }
    }
  }

  /** Makes a rename durable: the new directory entry is only on disk once the directory is synced. */
  private async syncDirectory(dir: string): Promise<void> {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /**
   * Removes the now empty directories above `full`, up to the root, so that a directory is listed
   * only while it holds objects (as on S3, where directories are mere key prefixes).
   */
  private async pruneEmptyParents(full: string): Promise<void> {
    for (let dir = dirname(full); dir !== this.root && dir.startsWith(this.root); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch (error) {
        // Not empty (or already gone): directories further up are not empty either.
        if (errorCode(error) !== 'ENOENT') return;
      }
    }
  }

  /** Turns the filesystem's "no such thing" errors into {@link PathNotFoundError}. */
  private notFound(error: unknown, path: string): unknown {
    const code = errorCode(error);
    return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR'
      ? new PathNotFoundError(this.name, path)
      : error;
  }
}

/** Counts the bytes that pass, so that `write` can report them. */
class ByteCounter extends Transform {
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** Whether a directory entry can be named by a storage path; others are not Berth's objects. */
function isSegment(name: string): boolean {
  try {
    validateStoragePath('filesystem', `/${name}`);
    return true;
  } catch {
    return false;
  }
}

async function exists(full: string): Promise<boolean> {
  try {
    await stat(full);
    return true;
  } catch {
    return false;
  }
}

function errorCode(error: unknown): string | undefined {
  // Duck-typed: errors from Node's fs come from another realm under Jest's VM context.
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Size of each read when serving an object. */
const SEND_CHUNK_BYTES = 1024 * 1024;

/** Writes a chunk and resolves once the destination is done with its buffer. */
function writeChunk(destination: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    destination.write(chunk, (error?: Error | null) => {
      if (error) reject(error);
      else resolve();
    });
  });
}

/** Rejects if `destination` closes before {@link dispose} is called. */
function closedEarly(destination: Writable): { promise: Promise<never>; dispose(): void } {
  let onClose: () => void = () => undefined;
  const promise = new Promise<never>((_resolve, reject) => {
    onClose = () => {
      reject(new Error('destination closed before the object was sent'));
    };
    if (destination.destroyed) onClose();
    else destination.once('close', onClose);
  });
  promise.catch(() => undefined);
  return {
    promise,
    dispose: () => {
      destination.removeListener('close', onClose);
    },
  };
}
