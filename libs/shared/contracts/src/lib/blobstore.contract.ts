import { z } from 'zod';
import { broadcast, rpc } from './contract';

const digest = z.string().regex(/^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/);
const repository = z.string().min(1).max(255);
const uploadId = z.uuid();
/** The token subject of the caller, for the events a change causes; null if anonymous or auth is off. */
const actor = z.string().nullable();

/** The state of an upload session, kept in the database so any gateway replica can continue it. */
export const uploadSession = z.object({
  id: uploadId,
  repository,
  /** Bytes received so far; the next chunk must start here. */
  offset: z.number().int().nonnegative(),
  startedAt: z.string(),
});
export type UploadSession = z.infer<typeof uploadSession>;

/** Size of a blob linked into a repository (`BLOB_UNKNOWN` otherwise). */
export const StatBlob = rpc(
  'berth.rpc.blobstore.blob.stat.v1',
  z.object({ repository, digest }),
  z.object({ digest, size: z.number().int().nonnegative() }),
);

/** Unlinks a blob from a repository (`BLOB_UNKNOWN` if it was not linked). */
export const DeleteBlob = rpc(
  'berth.rpc.blobstore.blob.delete.v1',
  z.object({ repository, digest, requestId: z.string().nullable(), actor }),
  z.object({ deleted: z.literal(true) }),
);

/** Links a blob of repository `from` into `repository`; `mounted: false` when `from` lacks it. */
export const MountBlob = rpc(
  'berth.rpc.blobstore.blob.mount.v1',
  z.object({ repository, from: repository, digest, requestId: z.string().nullable(), actor }),
  z.object({ mounted: z.boolean(), size: z.number().int().nonnegative().nullable() }),
);

/** Opens an upload session. */
export const StartUpload = rpc(
  'berth.rpc.blobstore.upload.start.v1',
  z.object({ repository }),
  uploadSession,
);

/** Reads an upload session (`BLOB_UPLOAD_UNKNOWN` if absent, expired or of another repository). */
export const GetUpload = rpc(
  'berth.rpc.blobstore.upload.get.v1',
  z.object({ repository, id: uploadId }),
  uploadSession,
);

/**
 * Records a chunk the gateway has written to storage at `path` (a chunk path of this upload, as
 * `RegistryStorage.writeChunk` made it). With an `offset` it succeeds only if the session is still
 * there (optimistic concurrency: otherwise `RANGE_INVALID` with the true offset, and the gateway
 * deletes its chunk); without one (a streamed PATCH that did not say where it starts) the chunk
 * goes at the session's end. The gateway needs no `GetUpload` first either way.
 */
export const AppendUploadChunk = rpc(
  'berth.rpc.blobstore.upload.append.v2',
  z.object({
    repository,
    id: uploadId,
    offset: z.number().int().nonnegative().nullable(),
    size: z.number().int().positive(),
    path: z.string().max(1024),
  }),
  uploadSession,
);

/**
 * Completes an upload: verifies the content against `digest` (using `computedDigest` when the
 * gateway hashed every byte itself, which it says by `computedSize` equal to the session's size,
 * else by reading the chunks back), moves it to its content-addressed place and links it into the
 * repository. `DIGEST_INVALID` on mismatch, and the session is closed either way. The gateway
 * sends it without reading the session first.
 */
export const CompleteUpload = rpc(
  'berth.rpc.blobstore.upload.complete.v2',
  z.object({
    repository,
    id: uploadId,
    digest,
    computedDigest: digest.nullable(),
    /** How many bytes `computedDigest` covers. */
    computedSize: z.number().int().nonnegative().nullable(),
    requestId: z.string().nullable(),
    actor,
  }),
  z.object({ digest, size: z.number().int().nonnegative() }),
  // Re-hashing a large upload that arrived through several gateways reads every byte back.
  { timeoutMs: 30 * 60_000 },
);

/** Cancels an upload session and deletes its chunks. */
export const CancelUpload = rpc(
  'berth.rpc.blobstore.upload.cancel.v1',
  z.object({ repository, id: uploadId }),
  z.object({ cancelled: z.literal(true) }),
);

/** Tells every blobstore instance that a blob was unlinked from a repository. */
export const BlobUnlinked = broadcast(
  'berth.cast.blobstore.blob-unlinked.v1',
  z.object({ repository, digest }),
);
