import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running s3rver that the caller owns, with the coordinates an S3 client needs. */
export interface S3ServerHandle {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** A bucket created for this server, empty at start. */
  readonly bucket: string;
  /** Closes the server, dropping open connections, and deletes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** The part of s3rver's API used here; the package ships no type declarations. */
interface S3rver {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  readonly httpServer?: Server;
  readonly store: S3rverStore;
}

interface ListOptions {
  readonly delimiter?: string;
  readonly prefix?: string;
  readonly maxKeys?: number;
  readonly startAfter?: string;
}

interface ListResult {
  readonly objects: readonly { readonly key: string }[];
  readonly commonPrefixes: readonly string[];
  readonly isTruncated: boolean;
}

/** s3rver's filesystem store, whose methods {@link fixStore} replaces on the instance. */
interface S3rverStore {
  listObjects(bucket: string, options: ListOptions): Promise<ListResult>;
  putObject(object: { readonly bucket: string; readonly key: string }): Promise<unknown>;
  deleteObject(bucket: string, key: string): Promise<void>;
  getResourcePath(bucket: string, key: string, resource: string): string;
}

type S3rverConstructor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: readonly { name: string; configs: readonly string[] }[];
}) => S3rver;

/** s3rver accepts only its built-in account. */
const ACCESS_KEY = 'S3RVER';
const SECRET_KEY = 'S3RVER';

/** s3rver's continuation tokens are valid for this region only. */
const REGION = 'us-east-1';

/**
 * Starts a real S3 server (s3rver) on 127.0.0.1 at a free port, over a fresh temporary directory,
 * with a fresh bucket. Logging is silenced.
 *
 * s3rver lacks ListMultipartUploads, ListParts, AbortMultipartUpload and presigned-signature
 * checks. Three of its bugs are patched so that it behaves like S3 where Berth's storage suite
 * looks (see {@link fixStore}). Readers may still see an object while s3rver writes it in place.
 */
export async function startS3Server(): Promise<S3ServerHandle> {
  // createRequire rather than an import: s3rver has no types, and this keeps its `any` here.
  const S3rverClass = createRequire(__filename)('s3rver') as S3rverConstructor;
  const directory = await mkdtemp(join(tmpdir(), 'berth-s3rver-'));
  const bucket = `berth-${randomBytes(4).toString('hex')}`;
  const server = new S3rverClass({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  fixStore(server.store);
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }

  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    const closing = server.close();
    // Clients keep connections alive; close() alone would wait for them to time out.
    server.httpServer?.closeAllConnections();
    await closing;
    await rm(directory, { recursive: true, force: true });
  };
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    region: REGION,
    accessKey: ACCESS_KEY,
    secretKey: SECRET_KEY,
    bucket,
    stop: () => (stopped ??= stop()),
  };
}

/**
 * Makes s3rver 3.7.1's store behave like S3 in three places where it does not:
 *
 * - A delimited listing misses a common prefix whose first object lies more than one level down
 *   (`a/b/c` under prefix `''` gives no `a/`): listings with a delimiter are computed from the
 *   full recursive listing instead (fine for test volumes).
 * - Deleting an object removes its emptied directories, which races with a concurrent PUT into
 *   the same directory and crashes the process with an unhandled ENOENT: directories are kept
 *   (empty ones hold no keys, so listings are unaffected).
 * - Concurrent PUTs of one key write the same file in place and may interleave: they are queued
 *   per key, so the last one wins whole, as on S3.
 */
function fixStore(store: S3rverStore): void {
  const listObjects = store.listObjects.bind(store);
  store.listObjects = async (bucket, options) => {
    const { delimiter = '', prefix = '', maxKeys = Infinity } = options;
    if (delimiter === '') return listObjects(bucket, options);
    const all = await listObjects(bucket, { ...options, delimiter: '', maxKeys: Infinity });
    const objects: { readonly key: string }[] = [];
    const commonPrefixes = new Set<string>();
    for (const object of all.objects) {
      const at = object.key.indexOf(delimiter, prefix.length);
      if (at === -1) objects.push(object);
      else commonPrefixes.add(object.key.slice(0, at + delimiter.length));
    }
    return {
      objects: objects.slice(0, maxKeys),
      commonPrefixes: [...commonPrefixes].sort(),
      isTruncated: objects.length > maxKeys,
    };
  };

  store.deleteObject = async (bucket, key) => {
    await Promise.all(
      ['object', 'object.md5', 'metadata.json'].map((resource) =>
        rm(store.getResourcePath(bucket, key, resource), { force: true }),
      ),
    );
  };

  const putObject = store.putObject.bind(store);
  const queues = new Map<string, Promise<unknown>>();
  store.putObject = (object) => {
    const id = `${object.bucket}/${object.key}`;
    const previous = queues.get(id) ?? Promise.resolve();
    const put = previous.catch(() => undefined).then(() => putObject(object));
    const settled = put.catch(() => undefined);
    queues.set(id, settled);
    void settled.then(() => {
      if (queues.get(id) === settled) queues.delete(id);
    });
    return put;
  };
}
