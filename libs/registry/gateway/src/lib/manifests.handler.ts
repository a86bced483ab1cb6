import { Inject, Injectable } from '@nestjs/common';
import { Bus } from '@berth/bus';
import { DeleteManifest, MAX_TAGS_PER_PUT, PutManifest, ResolveManifest } from '@berth/contracts';
import {
  MAX_MANIFEST_BYTES,
  OciError,
  digestAlgorithm,
  digestOf,
  parseDigest,
  parseManifest,
  parseReference,
  parseTag,
  referenceOrNull,
  type Reference,
  type RepositoryName,
} from '@berth/oci';
import { STORAGE, readBodyWithin } from '@berth/server';
import { PathNotFoundError, RegistryStorage, type StorageDriver } from '@berth/storage';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryAuth } from './auth/registry-auth';
import { header, queryParams, requestId, sendEmpty } from './http';
import { ManifestBodies } from './manifest-bodies';
import { PullRecorder } from './pull-recorder';

/** Manifests: `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`. */
@Injectable()
export class ManifestsHandler {
  private readonly storage: RegistryStorage;

  constructor(
    private readonly bus: Bus,
    @Inject(STORAGE) driver: StorageDriver,
    private readonly bodies: ManifestBodies,
    private readonly auth: RegistryAuth,
    private readonly pulls: PullRecorder,
  ) {
    this.storage = new RegistryStorage(driver);
  }

  /**
   * Serves a manifest byte for byte, with the media type it was pushed with. A `GET` that sends
   * the manifest counts as a pull (recorded in memory, published later: see {@link PullRecorder}).
   */
  async get(
    request: FastifyRequest,
    reply: FastifyReply,
    name: RepositoryName,
    reference: string,
  ): Promise<void> {
    const parsed = knownReference(name, reference);
    const info = await this.bus.request(ResolveManifest, { repository: name, reference });
    const etag = `"${info.digest}"`;
    reply
      .header('content-type', info.mediaType)
      .header('docker-content-digest', info.digest)
      .header('etag', etag)
      .header('content-length', String(info.size));
    if (header(request, 'if-none-match') === etag) {
      await reply.code(304).send();
      return;
    }
    if (request.method === 'HEAD') {
      await reply.code(200).send();
      return;
    }
    await reply.code(200).send(await this.body(info.digest));
    this.pulls.record({
      repository: name,
      digest: info.digest,
      mediaType: info.mediaType,
      size: info.size,
      tag: parsed.kind === 'tag' ? parsed.tag : null,
      actor: this.auth.actorOf(request),
      requestId: requestId(request),
    });
  }

  /**
   * Stores a manifest: validates it, checks its digest when pushed by digest, writes its bytes by
   * digest, then records it (metadata checks that what it references is in the repository) and
   * points the tags at it: the reference if it is a tag, plus every `?tag=`.
   */
  async put(
    request: FastifyRequest,
    reply: FastifyReply,
    name: RepositoryName,
    rawReference: string,
  ): Promise<void> {
    const reference = parseReference(rawReference);
    const tags = queryParams(request, 'tag').map(parseTag);
    if (reference.kind === 'tag') tags.unshift(reference.tag);
    if (new Set(tags).size > MAX_TAGS_PER_PUT)
      throw new OciError(
        'MANIFEST_INVALID',
        `a manifest is tagged with at most ${MAX_TAGS_PER_PUT} tags at once`,
        {
          limit: MAX_TAGS_PER_PUT,
        },
      );
    const bytes = await readBody(request);
    const manifest = parseManifest(bytes, header(request, 'content-type'));
    const digest = digestOf(
      bytes,
      reference.kind === 'digest' ? digestAlgorithm(reference.digest) : 'sha256',
    );
    if (reference.kind === 'digest' && reference.digest !== digest) {
      throw new OciError('DIGEST_INVALID', 'manifest digest does not match its content', {
        expected: reference.digest,
        actual: digest,
      });
    }
    await this.auth.ensureProject(request, name);
    // Content-addressed: bytes already stored under this digest are these bytes. Re-pushes (CI
    // pushing the same image under new tags) skip the write and its fsyncs.
    if (!this.bodies.get(digest) && !(await this.storage.hasBlob(digest))) {
      await this.storage.putBlob(digest, bytes);
    }
    this.bodies.set(digest, bytes);
    await this.bus.request(PutManifest, {
      repository: name,
      digest,
      contentType: header(request, 'content-type')?.slice(0, 256) ?? null,
      size: bytes.length,
      tags: [...new Set(tags)],
      requestId: requestId(request),
      actor: this.auth.actorOf(request),
    });
    reply.header('location', `/v2/${name}/manifests/${digest}`).header('docker-content-digest', digest);
    if (manifest.subject) reply.header('oci-subject', manifest.subject.digest);
    await sendEmpty(reply, 201);
  }

  /** Deletes a tag, or a manifest by digest with all its tags (202). */
  async delete(
    request: FastifyRequest,
    reply: FastifyReply,
    name: RepositoryName,
    reference: string,
  ): Promise<void> {
    knownReference(name, reference);
    await this.bus.request(DeleteManifest, {
      repository: name,
      reference,
      requestId: requestId(request),
      actor: this.auth.actorOf(request),
    });
    await sendEmpty(reply, 202);
  }

  private async body(digest: string): Promise<Buffer> {
    const cached = this.bodies.get(digest);
    if (cached) return cached;
    try {
      const bytes = await this.storage.getBlob(parseDigest(digest));
      this.bodies.set(digest, bytes);
      return bytes;
    } catch (error) {
      if (error instanceof PathNotFoundError)
        throw new OciError('MANIFEST_UNKNOWN', `manifest bytes missing: ${digest}`);
      throw error;
    }
  }
}

/**
 * The reference of a read or delete; one that no manifest can be stored under (neither a tag nor
 * a digest) is simply unknown: 404 `MANIFEST_UNKNOWN`, as Distribution answers.
 */
function knownReference(name: RepositoryName, reference: string): Reference {
  const parsed = referenceOrNull(reference);
  if (parsed === null)
    throw new OciError('MANIFEST_UNKNOWN', `manifest unknown: ${name}:${reference.slice(0, 300)}`);
  return parsed;
}

/** Reads a manifest body, refusing more than {@link MAX_MANIFEST_BYTES} with `MANIFEST_TOO_LARGE` (413). */
async function readBody(request: FastifyRequest): Promise<Buffer> {
  const tooLarge = () =>
    new OciError('MANIFEST_TOO_LARGE', `manifest exceeds ${MAX_MANIFEST_BYTES} bytes`, {
      limit: MAX_MANIFEST_BYTES,
    });
  const declared = header(request, 'content-length');
  if (declared !== undefined && Number(declared) > MAX_MANIFEST_BYTES) throw tooLarge();
  const body = await readBodyWithin(request.raw, MAX_MANIFEST_BYTES);
  if (body === null) throw tooLarge();
  return body;
}
