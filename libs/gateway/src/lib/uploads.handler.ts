import { randomBytes } from 'node:crypto';
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
import { BlobLayout, type StorageDriver } from '@berth/storage';
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
  constructor(
    private readonly bus: Bus,
    @Inject(STORAGE) private readonly storage: StorageDriver,
    private readonly hashes: UploadHashes,
    private readonly auth: RegistryAuth,
  ) {}

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
      if (hasBody(request)) session = await this.receive(request, reply, session);
      await this.accepted(reply, session);
      return;
    }
    session = await this.receive(request, reply, session);
    await this.complete(request, reply, session, digest);
  }

  /** Appends a chunk (`Content-Range` optional for a streamed upload). */
  async patch(request: FastifyRequest, reply: FastifyReply, name: RepositoryName, id: string): Promise<void> {
    const contentRange = header(request, 'content-range');
    // A chunk that says where it starts needs no session read first: recording it checks the
    // offset (and that the session exists) atomically, and a refusal carries the true offset.
    const session =
      contentRange === undefined
        ? await this.session(name, id)
        : {
            id: assertUploadId(id),
            repository: name,
            offset: parseContentRange(contentRange).start,
            startedAt: '',
          };
    await this.accepted(reply, await this.receive(request, reply, session));
  }

  /** Completes an upload with an optional last chunk in the body. */
  async put(request: FastifyRequest, reply: FastifyReply, name: RepositoryName, id: string): Promise<void> {
    const claimed = queryParam(request, 'digest');
    if (claimed === undefined) throw new OciError('DIGEST_INVALID', 'digest query parameter is required');
    const digest = parseDigest(claimed);
    let session = await this.session(name, id);
    if (hasBody(request)) session = await this.receive(request, reply, session);
    await this.complete(request, reply, session, digest);
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

  private async complete(
    request: FastifyRequest,
    reply: FastifyReply,
    session: UploadSession,
    digest: ReturnType<typeof parseDigest>,
  ): Promise<void> {
    const hashed = this.hashes.take(session.id, session.offset);
    const computedDigest = hashed !== null && digestAlgorithm(digest) === 'sha256' ? hashed : null;
    await this.bus.request(CompleteUpload, {
      repository: session.repository,
      id: session.id,
      digest,
      computedDigest,
      requestId: requestId(request),
      actor: this.auth.actorOf(request),
    });
    await this.created(reply, session.repository, digest);
  }

  /**
   * Streams the request body into a new chunk object and records it. A chunk must start where the
   * session stands (else 416 with the session's range, and the session stays usable); a declared
   * range or length must match what arrived. A client that disconnects leaves nothing recorded.
   */
  private async receive(
    request: FastifyRequest,
    reply: FastifyReply,
    session: UploadSession,
  ): Promise<UploadSession> {
    const contentRange = header(request, 'content-range');
    let expected: number | undefined;
    if (contentRange !== undefined) {
      const range = parseContentRange(contentRange);
      if (range.start !== session.offset) {
        this.sessionHeaders(reply, session);
        throw new OciError('RANGE_INVALID', `chunk must start at offset ${session.offset}`, {
          offset: session.offset,
        });
      }
      expected = range.end - range.start + 1;
    }
    const length = header(request, 'content-length');
    if (length !== undefined && expected !== undefined && Number(length) !== expected) {
      this.sessionHeaders(reply, session);
      throw new OciError('RANGE_INVALID', 'Content-Length does not match Content-Range');
    }
    const { id } = session;
    const path = BlobLayout.uploadChunk(id, session.offset, randomBytes(6).toString('hex'));
    const hasher = this.hashes.claim(id, session.offset);
    const counter = new CountingStream(hasher);
    request.raw.on('error', (error) => counter.destroy(error));
    // A connection that closes before the body is complete is a client that went away.
    request.raw.on('close', () => {
      if (!request.raw.complete) counter.destroy(new Error('client disconnected'));
    });
    let written: number;
    try {
      // A chunk is scratch until the upload completes; completing moves it, which makes it durable.
      written = await this.storage.write(path, request.raw.pipe(counter), { durable: false });
    } catch (error) {
      this.hashes.drop(id);
      throw error;
    }
    try {
      if (expected !== undefined && written !== expected) {
        throw new OciError('BLOB_UPLOAD_INVALID', `chunk declared ${expected} bytes but carried ${written}`);
      }
      if (written === 0) {
        await this.storage.delete(path);
        this.hashes.release(id, session.offset);
        return session;
      }
      const next = await this.bus.request(AppendUploadChunk, {
        repository: session.repository,
        id,
        offset: session.offset,
        size: written,
        path,
      });
      this.hashes.release(id, next.offset);
      return next;
    } catch (error) {
      this.hashes.drop(id);
      await this.storage.delete(path);
      if (error instanceof OciError && error.code === 'RANGE_INVALID') {
        this.sessionHeaders(reply, { ...session, offset: offsetOf(error) ?? session.offset });
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
