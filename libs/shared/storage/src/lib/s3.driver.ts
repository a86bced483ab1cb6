import { Client, S3Error, type BucketItem } from 'minio';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3StorageConfig } from './storage.config';
import type {
  FileInfo,
  ReadOptions,
  RedirectOptions,
  SendOptions,
  StorageDriver,
  WriteOptions,
} from './storage.driver';
import { InvalidOffsetError, PathNotFoundError } from './storage.error';

/** The least part size for a streamed write; also the most a write buffers before its first request. */
const PART_SIZE = 8 * 1024 * 1024;

/** S3's limit on the parts of one multipart upload. */
const MAX_PARTS = 10_000;

/** After this many parts of unknown total size, each further thousand parts grows by {@link PART_SIZE}. */
const PARTS_PER_STEP = 1_000;

/** S3's limit on the keys of one DeleteObjects request. */
const DELETE_BATCH = 1_000;

/**
 * A {@link StorageDriver} over an S3-compatible bucket, through the `minio` client. The storage
 * path `/a/b` is the key `<prefix>a/b`; directories are key prefixes, so they exist exactly while
 * an object lies below them.
 *
 * Writes are atomic because S3 publishes an object only when its PUT, or the completion of its
 * multipart upload, succeeds. {@link S3Driver.write} reads up to {@link PART_SIZE} bytes first:
 * a source that ends by then is sent with one PUT of known length; a longer one goes through a
 * multipart upload, one part in flight while the next is read, so at most two parts are in memory.
 *
 * Known limits: {@link S3Driver.move} is a server-side copy then a delete, and S3 copies at most
 * 5 GiB in one request, so moving a larger object fails with S3's error until a multipart copy
 * (UploadPartCopy) is added; a multipart upload that fails is aborted, but a server without
 * AbortMultipartUpload (such as s3rver) keeps its parts until a bucket lifecycle rule clears them.
 */
export class S3Driver implements StorageDriver {
  readonly name = 's3';

  private readonly client: Client;
  private readonly bucket: string;
  private readonly region: string;
  private readonly prefix: string;

  constructor(config: S3StorageConfig) {
    const url = new URL(config.endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`s3: endpoint must be an http or https URL: ${config.endpoint}`);
    }
    if (url.pathname !== '/' || url.search !== '') {
      throw new TypeError(`s3: endpoint must not have a path or query: ${config.endpoint}`);
    }
    this.client = new Client({
      endPoint: url.hostname,
      ...(url.port === '' ? {} : { port: Number(url.port) }),
      useSSL: url.protocol === 'https:',
      region: config.region,
      accessKey: config.accessKey,
      secretKey: config.secretKey,
    });
    this.bucket = config.bucket;
    this.region = config.region;
    const prefix = (config.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.prefix = prefix === '' ? '' : `${prefix}/`;
  }

  /**
   * Creates the bucket unless it exists. Fails when the bucket is unreachable with the configured
   * credentials, which is what a boot check wants.
   */
  async ensureBucket(): Promise<void> {
    if (await this.client.bucketExists(this.bucket)) return;
    try {
      await this.client.makeBucket(this.bucket, this.region);
    } catch (error) {
      // Another replica may have created it since we looked.
      if (!(error instanceof S3Error && error.code === 'BucketAlreadyOwnedByYou')) throw error;
    }
  }

  async stat(path: string): Promise<FileInfo> {
    try {
      const stat = await this.client.statObject(this.bucket, this.key(path));
      return { path, size: stat.size, modifiedAt: stat.lastModified };
    } catch (error) {
      throw this.notFound(error, path);
    }
  }

  async reader(path: string, options: ReadOptions = {}): Promise<Readable> {
    const offset = options.offset ?? 0;
    // The size comes first: S3 answers a range past the end with 416, and an offset equal to the
    // size must give an empty stream rather than an error.
    const { size } = await this.stat(path);
    if (offset > size) throw new InvalidOffsetError(this.name, path, offset);
    const end = options.length === undefined ? size : Math.min(size, offset + options.length);
    if (end === offset) return Readable.from([]);
    try {
      // minio reads a length of 0 as "to the end".
      return await this.client.getPartialObject(this.bucket, this.key(path), offset, end - offset);
    } catch (error) {
      throw this.notFound(error, path);
    }
  }

  async send(path: string, destination: Writable, options: SendOptions = {}): Promise<void> {
    // minio hands out its own response stream; there are no buffers of ours to reuse.
    const source = await this.reader(path, options);
    options.onStart?.();
    await pipeline(source, destination);
  }

  async write(path: string, source: Readable, options: WriteOptions = {}): Promise<number> {
    const key = this.key(path);
    const chunks: AsyncIterator<unknown> = source[Symbol.asyncIterator]();
    const parts = new PartReader(chunks);
    try {
      // The first part keeps the default size whatever the hint, so that the choice between one PUT
      // and a multipart upload is always made at PART_SIZE.
      const first = await parts.next(PART_SIZE);
      if (parts.ended) {
        await this.client.putObject(this.bucket, key, first, first.length);
        return first.length;
      }
      return await this.writeMultipart(key, first, parts, options.size);
    } catch (error) {
      // Ends the iteration, which destroys the source if it is still flowing.
      await chunks.return?.();
      throw error;
    }
  }

  async getContent(path: string): Promise<Buffer> {
    try {
      const stream = await this.client.getObject(this.bucket, this.key(path));
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(toBuffer(chunk));
      return Buffer.concat(chunks);
    } catch (error) {
      throw this.notFound(error, path);
    }
  }

  async putContent(path: string, content: Uint8Array): Promise<void> {
    const body = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    await this.client.putObject(this.bucket, this.key(path), body, body.length);
  }

  async move(source: string, destination: string): Promise<void> {
    if (source === destination) {
      // S3 refuses to copy an object onto itself, and the delete would then lose it.
      await this.stat(source);
      return;
    }
    try {
      await this.client.copyObject(this.bucket, this.key(destination), `/${this.bucket}/${this.key(source)}`);
    } catch (error) {
      throw this.notFound(error, source);
    }
    await this.client.removeObject(this.bucket, this.key(source));
  }

  async delete(path: string): Promise<void> {
    if (path !== '/') await this.client.removeObject(this.bucket, this.key(path));
    let batch: string[] = [];
    for await (const item of this.listKeys(this.dirPrefix(path), true)) {
      if (item.name === undefined) continue;
      batch.push(item.name);
      if (batch.length === DELETE_BATCH) {
        await this.removeKeys(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await this.removeKeys(batch);
  }

  async list(path: string): Promise<string[]> {
    const children = new Set<string>();
    for await (const item of this.listKeys(this.dirPrefix(path), false)) {
      // A common prefix ends with the delimiter; the child's path does not.
      const key = item.name ?? item.prefix.replace(/\/$/, '');
      children.add(this.pathOf(key));
    }
    if (children.size === 0) throw new PathNotFoundError(this.name, path);
    return [...children].sort();
  }

  async *walk(path: string): AsyncIterable<FileInfo> {
    for await (const item of this.listKeys(this.dirPrefix(path), true)) {
      if (item.name === undefined) continue;
      yield { path: this.pathOf(item.name), size: item.size, modifiedAt: item.lastModified };
    }
  }

  /**
   * A presigned URL for `options.method`. It does not check that the object exists: the gateway
   * asks only for blobs it knows, and a stale URL answers 404 by itself.
   */
  async redirectUrl(path: string, options: RedirectOptions): Promise<string | null> {
    return this.client.presignedUrl(options.method, this.bucket, this.key(path), options.expiresInSeconds);
  }

  /**
   * Streams the rest of a write as a multipart upload: part `n` uploads while part `n + 1` is
   * read, and the object appears only when the upload completes.
   */
  private async writeMultipart(
    key: string,
    first: Buffer,
    parts: PartReader,
    sizeHint: number | undefined,
  ): Promise<number> {
    const uploadId = await this.client.initiateNewMultipartUpload(this.bucket, key, {});
    const etags: { part: number; etag: string }[] = [];
    let uploading: Promise<void> | undefined;
    let written = 0;
    try {
      let body = first;
      for (let part = 1; body.length > 0; part++) {
        if (part > MAX_PARTS) throw new RangeError(`s3: ${key} needs more than ${MAX_PARTS} parts`);
        uploading = this.uploadPart(key, uploadId, part, body).then((etag) => {
          etags.push({ part, etag });
        });
        // The failure is handled where `uploading` is awaited; this only keeps it from counting as
        // unhandled while the next part is read.
        void uploading.catch(() => undefined);
        written += body.length;
        body = parts.ended ? Buffer.alloc(0) : await parts.next(partSize(part + 1, sizeHint));
        await uploading;
      }
      etags.sort((a, b) => a.part - b.part);
      await this.client.completeMultipartUpload(this.bucket, key, uploadId, etags);
      return written;
    } catch (error) {
      await uploading?.catch(() => undefined);
      await this.client.abortMultipartUpload(this.bucket, key, uploadId).catch(() => undefined);
      throw error;
    }
  }

  private async uploadPart(key: string, uploadId: string, part: number, body: Buffer): Promise<string> {
    const result = await this.client.uploadPart(
      { bucketName: this.bucket, objectName: key, uploadID: uploadId, partNumber: part, headers: {} },
      body,
    );
    return result.etag;
  }

  private async removeKeys(keys: string[]): Promise<void> {
    // In quiet mode S3 reports only the keys it failed to delete.
    const failures = await this.client.removeObjects(this.bucket, keys);
    if (failures.length > 0) throw new Error(`s3: could not delete objects: ${JSON.stringify(failures[0])}`);
  }

  /**
   * Pages through the keys (and, unless `recursive`, the common prefixes) below `prefix`, one
   * page of at most 1,000 in memory at a time.
   */
  private async *listKeys(prefix: string, recursive: boolean): AsyncIterable<BucketItem> {
    let token = '';
    do {
      const page = await this.client.listObjectsV2Query(
        this.bucket,
        prefix,
        token,
        recursive ? '' : '/',
        1000,
        '',
      );
      yield* page.objects;
      token = page.isTruncated ? page.nextContinuationToken : '';
    } while (token !== '');
  }

  private key(path: string): string {
    return this.prefix + path.slice(1);
  }

  /** The key prefix of everything below the directory `path`. */
  private dirPrefix(path: string): string {
    return path === '/' ? this.prefix : `${this.key(path)}/`;
  }

  private pathOf(key: string): string {
    return `/${key.slice(this.prefix.length)}`;
  }

  /** Turns S3's "no such key" errors into {@link PathNotFoundError}. */
  private notFound(error: unknown, path: string): unknown {
    return error instanceof S3Error && (error.code === 'NoSuchKey' || error.code === 'NotFound')
      ? new PathNotFoundError(this.name, path)
      : error;
  }
}

/**
 * The size of part `part` of a streamed write: at least {@link PART_SIZE}, large enough for a
 * hinted total to fit in {@link MAX_PARTS} parts, and growing every {@link PARTS_PER_STEP} parts
 * so that an object of unknown size may reach about 430 GiB.
 */
function partSize(part: number, sizeHint: number | undefined): number {
  const growing = PART_SIZE * (1 + Math.floor((part - 1) / PARTS_PER_STEP));
  const hinted = sizeHint === undefined ? 0 : Math.ceil(sizeHint / MAX_PARTS / (1024 * 1024)) * 1024 * 1024;
  return Math.max(growing, hinted);
}

/** Cuts a stream of chunks into parts of a requested size, holding at most one part and one chunk. */
class PartReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private done = false;

  constructor(private readonly chunks: AsyncIterator<unknown>) {}

  /** Whether the source has ended and everything it gave was handed out. */
  get ended(): boolean {
    return this.done && this.pendingBytes === 0;
  }

  /**
   * The next `size` bytes, or fewer if the source ends first. Reads one chunk beyond `size`, so
   * that a source ending exactly at a part boundary is seen as ended.
   */
  async next(size: number): Promise<Buffer> {
    while (!this.done && this.pendingBytes <= size) {
      const result = await this.chunks.next();
      if (result.done === true) {
        this.done = true;
      } else {
        const chunk = toBuffer(result.value);
        this.pending.push(chunk);
        this.pendingBytes += chunk.length;
      }
    }
    const all = Buffer.concat(this.pending, this.pendingBytes);
    const rest = all.subarray(size);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return all.subarray(0, size);
  }
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk);
  throw new TypeError('s3: a write source must yield bytes');
}
