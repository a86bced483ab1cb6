import type { Readable, Writable } from 'node:stream';

/**
 * What a driver knows about one stored object.
 */
export interface FileInfo {
  /** The object's path, as given to the driver. */
  readonly path: string;
  /** Its length in bytes. */
  readonly size: number;
  /** When it was last written. */
  readonly modifiedAt: Date;
}

/** Where to start reading, and how much. */
export interface ReadOptions {
  /** First byte to read; defaults to 0. More than the object's size is an {@link InvalidOffsetError}. */
  readonly offset?: number;
  /** How many bytes to read at most; defaults to the rest of the object. */
  readonly length?: number;
}

/** Options of {@link StorageDriver.send}. */
export interface SendOptions extends ReadOptions {
  /**
   * Called once the object is open and before the first byte is written, so a caller can commit
   * to a response (headers) only when the object is there.
   */
  readonly onStart?: () => void;
}

/** Hints for a write. */
export interface WriteOptions {
  /** The exact number of bytes the source will yield, when known (lets S3 use one PUT). */
  readonly size?: number;
  /**
   * `false` for scratch objects (upload chunks) that may be lost if the machine crashes: the write
   * skips flushing to disk. Such an object is still never seen partially, and a later
   * {@link StorageDriver.move} makes it durable. Defaults to `true`.
   */
  readonly durable?: boolean;
}

/** How a presigned URL will be used. */
export interface RedirectOptions {
  readonly method: 'GET' | 'HEAD';
  readonly expiresInSeconds: number;
}

/**
 * A storage driver: the only code that touches blob bytes at rest. Paths are absolute,
 * slash-separated, made of `[A-Za-z0-9._-]` segments, never `.` or `..` (see
 * {@link validateStoragePath}); the driver maps them onto its backend.
 *
 * Every method is stream-first: no method buffers a whole object in memory, except
 * {@link StorageDriver.getContent} and {@link StorageDriver.putContent}, which are for small
 * objects only.
 *
 * Atomicity is the contract that keeps content addressing true: {@link StorageDriver.write} and
 * {@link StorageDriver.move} make the destination appear whole or not at all, so a reader never
 * sees a partial object, and a failed or aborted write leaves the previous state.
 */
export interface StorageDriver {
  /** A short name for logs and metrics, e.g. `filesystem` or `s3`. */
  readonly name: string;

  /** Describes the object at `path`. Throws {@link PathNotFoundError} if there is none. */
  stat(path: string): Promise<FileInfo>;

  /**
   * Opens a stream over the object's bytes. Throws {@link PathNotFoundError} if there is none and
   * {@link InvalidOffsetError} if `offset` is past its end (an offset equal to the size yields an
   * empty stream).
   */
  reader(path: string, options?: ReadOptions): Promise<Readable>;

  /**
   * Writes the object's bytes (or a range) into `destination` and ends it, with backpressure.
   * Unlike {@link StorageDriver.reader} it may reuse its buffers, so serving a large blob does not
   * allocate one buffer per chunk (which costs garbage collections). That is why `destination`
   * must be done with a chunk's memory when its write callback fires, as a socket or an HTTP
   * response is (an in-memory stream that keeps references, like a PassThrough, is not). Throws
   * like `reader` before `onStart`; rejects if `destination` fails midway.
   */
  send(path: string, destination: Writable, options?: SendOptions): Promise<void>;

  /**
   * Streams `source` into the object at `path`, replacing any object there, and resolves with the
   * number of bytes written once the object is durable. Atomic: if `source` errors or is
   * destroyed, the call rejects with that error and `path` keeps its old state. Respects
   * backpressure.
   */
  write(path: string, source: Readable, options?: WriteOptions): Promise<number>;

  /** Reads a small object whole. Throws {@link PathNotFoundError} if there is none. */
  getContent(path: string): Promise<Buffer>;

  /** Writes a small object whole, atomically. */
  putContent(path: string, content: Uint8Array): Promise<void>;

  /**
   * Moves the object at `source` to `destination`, replacing any object there. The destination
   * appears whole or not at all, and is durable when the call resolves. Throws {@link PathNotFoundError} if `source` does not exist.
   */
  move(source: string, destination: string): Promise<void>;

  /** Deletes the object at `path`, or everything below it if it is a directory. Absent is fine. */
  delete(path: string): Promise<void>;

  /**
   * Lists the direct children of the directory `path` as full paths, sorted. Throws
   * {@link PathNotFoundError} if nothing is stored below `path`.
   */
  list(path: string): Promise<string[]>;

  /** Yields every object below `path`, in no particular order. Yields nothing if there is none. */
  walk(path: string): AsyncIterable<FileInfo>;

  /**
   * A URL from which a client may fetch the object directly, or `null` when the driver cannot
   * give one (the filesystem). The gateway redirects blob GETs to it when configured to.
   */
  redirectUrl(path: string, options: RedirectOptions): Promise<string | null>;
}
