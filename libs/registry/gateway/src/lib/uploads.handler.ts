import { Transform, type TransformCallback } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { Bus } from '@berth/bus';
import {
  AppendUploadChunk,
  CancelUpload,
  CompleteUpload,
  GetUpload,
  MountBlob,
  StartUpload,
  type UploadSession,
} from '@berth/contracts';
import {
  OciError,
  digestAlgorithm,
  parseContentRange,
  parseDigest,
  parseRepositoryName,
  type DigestHasher,
  type RepositoryName,
} from '@berth/oci';
import { STORAGE } from '@berth/server';
import { RegistryStorage, type StorageDriver, type WrittenChunk } from '@berth/storage';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryAuth } from './auth/registry-auth';
import { hasBody, header, queryParam, requestId, sendEmpty, uploadRange } from './http';
import { UploadHashes } from './upload-hashes';

/** The chunk size Berth suggests to clients; it accepts smaller ones too. */
const CHUNK_MIN_LENGTH = 64 * 1024;

/**
 * Blob uploads: `POST /v2/<name>/blobs/uploads/` (session, monolithic `?digest=`, or cross-repository
 * `?mount=&from=`), `PATCH`/`PUT`/`GET`/`DELETE` on a session. Bytes stream from the client straight
 * into storage, one object per chunk, hashed on the way; the session's state lives in the
 * database, so any replica can continue it.
 */
@Injectable()
export class UploadsHandler {
  private readonly storage: RegistryStorage;

  constructor(
    private readonly bus: Bus,
    @Inject(STORAGE) driver: StorageDriver,
    private readonly hashes: UploadHashes,
    private readonly auth: RegistryAuth,
  ) {
    this.storage = new RegistryStorage(driver);
  }

  /**
   * Starts an upload, mounts a blob, or takes a whole blob in one request. A mount from a
   * repository the caller may not pull from falls back to an ordinary upload, as the spec allows,
   * so nothing about the other repository leaks.
   */
  async start(request: FastifyRequest, reply: FastifyReply, name: RepositoryName): Promise<void> {
    await this.auth.ensureProject(request, name);
    const mount = queryParam(request, 'mount');
    const from = queryParam(request, 'from');
    if (mount !== undefined && from !== undefined) {
      const digest = parseDigest(mount);
      const source = parseRepositoryName(from);
      const mounted = this.auth.allows(request, source, 'pull')
        ? await this.bus.request(MountBlob, {
            repository: name,
            from: source,
            digest,
            requestId: requestId(request),
            actor: this.auth.actorOf(request),
          })
        : { mounted: false };
      if (mounted.mounted) {
        await this.created(reply, name, digest);
        return;
      }
    }
    const claimed = queryParam(request, 'digest');
    const digest = claimed === undefined ? undefined : parseDigest(claimed);
    let session = await this.bus.request(StartUpload, { repository: name });
    this.hashes.begin(session.id);
    if (digest === undefined) {
      if (hasBody(request)) session = await this.receive(request, reply, name, session.id, session.offset);
      await this.accepted(reply, session);
      return;
    }
    await this.receive(request, reply, name, session.id, session.offset);
    await this.complete(request, reply, name, session.id, digest);
  }

  /** Appends a chunk (`Content-Range` optional for a streamed upload). */
  async patch(request: FastifyRequest, reply: FastifyReply, name: RepositoryName, id: string): Promise<void> {
    assertUploadId(id);
    await this.accepted(
      reply,
      await this.receive(request, reply, name, id, await this.chunkStart(request, name, id)),
    );
  }

  /** Completes an upload with an optional last chunk in the body. */
  async put(request: FastifyRequest, reply: FastifyReply, name: RepositoryName, id: string): Promise<void> {
    const claimed = queryParam(request, 'digest');
    if (claimed === undefined) throw new OciError('DIGEST_INVALID', 'digest query parameter is required');
    const digest = parseDigest(claimed);
    assertUploadId(id);
    if (hasBody(request))
      await this.receive(request, reply, name, id, await this.chunkStart(request, name, id));
    // Completing checks that the session exists and is this repository's; no read of it first.
    await this.complete(request, reply, name, id, digest);
  }

  /** Reports an upload's progress (204 with `Range`). */
  async status(reply: FastifyReply, name: RepositoryName, id: string): Promise<void> {
    const session = await this.session(name, id);
    this.sessionHeaders(reply, session);
    await sendEmpty(reply, 204);
  }

  /** Cancels an upload (204). */
  async cancel(reply: FastifyReply, name: RepositoryName, id: string): Promise<void> {
    assertUploadId(id);
    await this.bus.request(CancelUpload, { repository: name, id });
    this.hashes.drop(id);
    await sendEmpty(reply, 204);
  }

  private async session(name: RepositoryName, id: string): Promise<UploadSession> {
    assertUploadId(id);
    return this.bus.request(GetUpload, { repository: name, id });
  }

  /**
   * Where a chunk starts, as far as the gateway must know before it stores the chunk: where its
   * `Content-Range` says (recording it checks that atomically), or nothing (null: at the end)
   * for a streamed chunk of an upload this gateway started. Only a streamed chunk of an upload
   * this gateway does not know costs a read of the session first, so that bytes sent to an
   * upload that does not exist are refused before they are stored.
   */
  private async chunkStart(
    request: FastifyRequest,
    name: RepositoryName,
    id: string,
  ): Promise<number | null> {
    const contentRange = header(request, 'content-range');
    if (contentRange !== undefined) return parseContentRange(contentRange).start;
    if (this.hashes.offsetOf(id) !== null) return null;
    return (await this.session(name, id)).offset;
  }

  private async complete(
    request: FastifyRequest,
    reply: FastifyReply,
    name: RepositoryName,
    id: string,
    digest: ReturnType<typeof parseDigest>,
  ): Promise<void> {
    const hashed = this.hashes.take(id);
    const trusted = hashed !== null && digestAlgorithm(digest) === 'sha256';
    await this.bus.request(CompleteUpload, {
      repository: name,
      id,
      digest,
      computedDigest: trusted ? hashed.digest : null,
      computedSize: trusted ? hashed.size : null,
      requestId: requestId(request),
      actor: this.auth.actorOf(request),
    });
    await this.created(reply, name, digest);
  }

  /**
   * Streams the request body into a new chunk object and records it at `start` (null: at the
   * session's end). A chunk must start where the session stands (else 416 with the session's
   * range, and the session stays usable); a declared range or length must match what arrived. A
   * client that disconnects leaves nothing recorded.
   */
  private async receive(
    request: FastifyRequest,
    reply: FastifyReply,
    name: RepositoryName,
    id: string,
    start: number | null,
  ): Promise<UploadSession> {
    const contentRange = header(request, 'content-range');
    let expected: number | undefined;
    if (contentRange !== undefined) {
      const range = parseContentRange(contentRange);
      // Only the first chunk of a new session (its POST) can disagree here; later ones are checked
      // by recording them.
      if (start !== null && range.start !== start) {
        this.sessionHeaders(reply, { id, repository: name, offset: start, startedAt: '' });
        throw new OciError('RANGE_INVALID', `chunk must start at offset ${start}`, { offset: start });
      }
      expected = range.end - range.start + 1;
    }
    const length = header(request, 'content-length');
    if (length !== undefined && expected !== undefined && Number(length) !== expected) {
      this.sessionHeaders(reply, await this.session(name, id));
      throw new OciError('RANGE_INVALID', 'Content-Length does not match Content-Range');
    }
    // The hash follows the chunk if this gateway's hash stands where the chunk starts.
    const hashedFrom = start ?? this.hashes.offsetOf(id);
    const hasher = hashedFrom === null ? null : this.hashes.claim(id, hashedFrom);
    const counter = new CountingStream(hasher);
    request.raw.on('error', (error) => counter.destroy(error));
    // A connection that closes before the body is complete is a client that went away.
    request.raw.on('close', () => {
      if (!request.raw.complete) counter.destroy(new Error('client disconnected'));
    });
    let chunk: WrittenChunk;
    try {
      chunk = await this.storage.writeChunk(id, request.raw.pipe(counter));
    } catch (error) {
      this.hashes.drop(id);
      throw error;
    }
    try {
      if (expected !== undefined && chunk.size !== expected) {
        throw new OciError(
          'BLOB_UPLOAD_INVALID',
          `chunk declared ${expected} bytes but carried ${chunk.size}`,
        );
      }
      if (chunk.size === 0) {
        await this.storage.deleteChunk(chunk.path);
        if (hashedFrom !== null) this.hashes.release(id, hashedFrom);
        return start === null
          ? await this.session(name, id)
          : { id, repository: name, offset: start, startedAt: '' };
      }
      const next = await this.bus.request(AppendUploadChunk, {
        repository: name,
        id,
        offset: start,
        size: chunk.size,
        path: chunk.path,
      });
      // A streamed chunk lands where the session ended; the hash holds only if that is where it stood.
      if (hasher !== null && next.offset - chunk.size === hashedFrom) this.hashes.release(id, next.offset);
      else this.hashes.drop(id);
      return next;
    } catch (error) {
      this.hashes.drop(id);
      await this.storage.deleteChunk(chunk.path);
      if (error instanceof OciError && error.code === 'RANGE_INVALID') {
        const offset = offsetOf(error);
        if (offset !== undefined) this.sessionHeaders(reply, { id, repository: name, offset, startedAt: '' });
      }
      throw error;
    }
  }

  private sessionHeaders(reply: FastifyReply, session: UploadSession): void {
    reply
      .header('location', `/v2/${session.repository}/blobs/uploads/${session.id}`)
      .header('range', uploadRange(session.offset))
      .header('docker-upload-uuid', session.id);
  }

  private async accepted(reply: FastifyReply, session: UploadSession): Promise<void> {
    this.sessionHeaders(reply, session);
    reply.header('oci-chunk-min-length', String(CHUNK_MIN_LENGTH));
    await sendEmpty(reply, 202);
  }

  private async created(reply: FastifyReply, name: string, digest: string): Promise<void> {
    reply.header('location', `/v2/${name}/blobs/${digest}`).header('docker-content-digest', digest);
    await sendEmpty(reply, 201);
  }
}

/** Counts the bytes that pass and feeds them to the upload's hasher, if it has one. */
class CountingStream extends Transform {
  count = 0;

  constructor(private readonly hasher: DigestHasher | null) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.count += chunk.length;
    this.hasher?.update(chunk);
    callback(null, chunk);
  }
}

function assertUploadId(id: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) {
    throw new OciError('BLOB_UPLOAD_UNKNOWN', 'upload unknown');
  }
  return id;
}

/** The session's offset that a refused chunk's error reports, if it does. */
function offsetOf(error: OciError): number | undefined {
  const detail = error.detail as { offset?: unknown } | undefined;
  return typeof detail?.offset === 'number' ? detail.offset : undefined;
}
