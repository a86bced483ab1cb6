import type { OutgoingHttpHeaders } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { Bus } from '@berth/bus';
import type { BerthConfig } from '@berth/config';
import { DeleteBlob, StatBlob } from '@berth/contracts';
import { OciError, parseDigest, parseRangeHeader, type RepositoryName } from '@berth/oci';
import { CONFIG, STORAGE } from '@berth/server';
import { PathNotFoundError, RegistryStorage, type StorageDriver } from '@berth/storage';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryAuth } from './auth/registry-auth';
import { header, requestId, sendEmpty } from './http';

/** Blob reads and deletes: `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`. */
@Injectable()
export class BlobsHandler {
  private readonly storage: RegistryStorage;

  constructor(
    private readonly bus: Bus,
    @Inject(STORAGE) driver: StorageDriver,
    @Inject(CONFIG) private readonly config: BerthConfig,
    private readonly auth: RegistryAuth,
  ) {
    this.storage = new RegistryStorage(driver);
  }

  /**
   * Serves a blob, or a single byte range of it (206; 416 past the end), streaming from storage.
   * HEAD answers the same headers without reading storage.
   */
  async get(
    request: FastifyRequest,
    reply: FastifyReply,
    name: RepositoryName,
    rawDigest: string,
  ): Promise<void> {
    const digest = parseDigest(rawDigest);
    const { size } = await this.bus.request(StatBlob, { repository: name, digest });
    reply
      .header('docker-content-digest', digest)
      .header('etag', `"${digest}"`)
      .header('accept-ranges', 'bytes')
      .header('cache-control', 'max-age=31536000, immutable')
      .header('content-type', 'application/octet-stream');
    if (request.method === 'HEAD') {
      await reply.code(200).header('content-length', String(size)).send();
      return;
    }
    const rangeHeader = header(request, 'range');
    let range: { start: number; end: number } | null = null;
    if (rangeHeader !== undefined) {
      try {
        range = parseRangeHeader(rangeHeader, size);
      } catch (error) {
        reply.header('content-range', `bytes */${size}`);
        throw error;
      }
    }
    if (this.config.http.redirectBlobs && range === null) {
      const url = await this.storage.blobRedirectUrl(digest, { method: 'GET', expiresInSeconds: 1200 });
      if (url !== null) {
        await reply.code(307).header('location', url).header('content-length', '0').send();
        return;
      }
    }
    if (range) {
      reply
        .code(206)
        .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
        .header('content-length', String(range.end - range.start + 1));
    } else {
      reply.code(200).header('content-length', String(size));
    }
    const response = reply.raw;
    try {
      await this.storage.sendBlob(digest, response, {
        ...(range ? { offset: range.start, length: range.end - range.start + 1 } : {}),
        // The blob is open: from here on the bytes go straight onto the socket, past Fastify.
        onStart: () => {
          reply.hijack();
          response.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
        },
      });
    } catch (error) {
      if (!response.headersSent) {
        if (error instanceof PathNotFoundError) throw new OciError('BLOB_UNKNOWN', `blob unknown: ${digest}`);
        throw error;
      }
      // The client went away, or storage failed mid-blob: no response is left to carry an error.
      response.destroy();
    }
  }

  /** Unlinks a blob from the repository (202). */
  async delete(
    request: FastifyRequest,
    reply: FastifyReply,
    name: RepositoryName,
    rawDigest: string,
  ): Promise<void> {
    const digest = parseDigest(rawDigest);
    await this.bus.request(DeleteBlob, {
      repository: name,
      digest,
      requestId: requestId(request),
      actor: this.auth.actorOf(request),
    });
    reply.header('docker-content-digest', digest);
    await sendEmpty(reply, 202);
  }
}
