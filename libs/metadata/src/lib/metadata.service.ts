import { publishCommitted, type Bus } from '@berth/bus';
import {
  ManifestDeleted,
  ManifestPushed,
  RepositoryChanged,
  TagDeleted,
  eventEnvelope,
  type DeleteManifest,
  type DomainEvent,
  type EventContract,
  type ListReferrers,
  type ListRepositories,
  type ListTags,
  type ManifestInfo,
  type PutManifest,
  type ReferrerDescriptor,
  type RequestOf,
  type ResponseOf,
} from '@berth/contracts';
import { OciError, parseReference, parseRepositoryName, parseTag } from '@berth/oci';
import type { Logger } from 'pino';
import type { ManifestCache } from './manifest.cache';
import type { ManifestRepository } from './manifest.repository';

/** Repositories with more tags than this are paged from the database on every request. */
export const CACHED_TAG_LIST_MAX = 10_000;

/** The index of the first name sorting after `last` (byte order, as the database sorts with "C"). */
function firstAfter(sorted: readonly string[], last: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (Buffer.compare(Buffer.from(sorted[mid] ?? ''), Buffer.from(last)) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * The metadata service's use cases: resolve, record and delete manifests; list tags, repositories
 * and referrers. Push and delete events are emitted here, right after the change commits.
 */
export class MetadataService {
  constructor(
    private readonly manifests: ManifestRepository,
    private readonly cache: ManifestCache,
    private readonly bus: Bus,
    private readonly logger: Logger,
  ) {}

  /** Resolves a tag or digest; `MANIFEST_UNKNOWN` if the repository has no such manifest. */
  async resolve(repository: string, reference: string): Promise<ManifestInfo> {
    const cached = this.cache.get(repository, reference);
    if (cached) return cached;
    const generation = this.cache.generation(repository);
    const parsed = parseReference(reference);
    const info =
      parsed.kind === 'tag'
        ? await this.manifests.findByTag(repository, parsed.tag)
        : await this.manifests.findByDigest(repository, parsed.digest);
    if (!info) throw new OciError('MANIFEST_UNKNOWN', `manifest unknown: ${repository}:${reference}`);
    this.cache.set(repository, reference, info, generation);
    return info;
  }

  /** Records a pushed manifest, points its tags at it and announces the push. */
  async put(request: RequestOf<typeof PutManifest>): Promise<ResponseOf<typeof PutManifest>> {
    const repository = parseRepositoryName(request.repository);
    const tags = request.tags.map(parseTag);
    const created = await this.manifests.save({
      repository,
      digest: request.digest,
      mediaType: request.mediaType,
      size: request.size,
      artifactType: request.artifactType,
      subjectDigest: request.subjectDigest,
      annotations: request.annotations,
      blobDigests: request.blobs.map((blob) => blob.digest),
      manifestDigests: request.manifests.map((manifest) => manifest.digest),
      tags,
    });
    await this.changed(repository);
    await this.emit(ManifestPushed, {
      ...eventEnvelope(repository, request.requestId),
      digest: request.digest,
      mediaType: request.mediaType,
      size: request.size,
      artifactType: request.artifactType,
      tags,
    });
    return { created };
  }

  /** Deletes a tag, or a manifest and its tags; `MANIFEST_UNKNOWN` if there is nothing to delete. */
  async delete(request: RequestOf<typeof DeleteManifest>): Promise<ResponseOf<typeof DeleteManifest>> {
    const { repository, requestId } = request;
    const reference = parseReference(request.reference);
    if (reference.kind === 'tag') {
      const digest = await this.manifests.deleteTag(repository, reference.tag);
      if (digest === null)
        throw new OciError('MANIFEST_UNKNOWN', `tag unknown: ${repository}:${reference.tag}`);
      await this.changed(repository);
      await this.emit(TagDeleted, { ...eventEnvelope(repository, requestId), tag: reference.tag, digest });
    } else {
      const tags = await this.manifests.deleteManifest(repository, reference.digest);
      if (tags === null)
        throw new OciError('MANIFEST_UNKNOWN', `manifest unknown: ${repository}@${reference.digest}`);
      await this.changed(repository);
      await this.emit(ManifestDeleted, {
        ...eventEnvelope(repository, requestId),
        digest: reference.digest,
        tags,
      });
    }
    return { deleted: true };
  }

  /**
   * A page of tags; `NAME_UNKNOWN` for a repository that does not exist. Repositories with up to
   * {@link CACHED_TAG_LIST_MAX} tags are listed from memory after the first request.
   */
  async listTags(request: RequestOf<typeof ListTags>): Promise<ResponseOf<typeof ListTags>> {
    const { repository, limit, last } = request;
    let all = this.cache.tags(repository);
    if (all === undefined) {
      const generation = this.cache.generation(repository);
      const loaded = await this.manifests.allTags(repository, CACHED_TAG_LIST_MAX);
      if (loaded === null) throw new OciError('NAME_UNKNOWN', `repository unknown: ${repository}`);
      if (loaded !== undefined) {
        this.cache.setTags(repository, loaded, generation);
        all = loaded;
      }
    }
    if (all !== undefined) {
      const start = last === null ? 0 : firstAfter(all, last);
      return { tags: all.slice(start, start + limit), more: start + limit < all.length };
    }
    const page = await this.manifests.listTags(repository, limit, last);
    if (!page) throw new OciError('NAME_UNKNOWN', `repository unknown: ${request.repository}`);
    return { tags: page.names, more: page.more };
  }

  /** A page of repository names. */
  async listRepositories(
    request: RequestOf<typeof ListRepositories>,
  ): Promise<ResponseOf<typeof ListRepositories>> {
    const page = await this.manifests.listRepositories(request.limit, request.last, request.projects);
    return { repositories: page.names, more: page.more };
  }

  /** The referrers of a digest (an empty list for an unknown one). */
  async listReferrers(
    request: RequestOf<typeof ListReferrers>,
  ): Promise<{ referrers: ReferrerDescriptor[] }> {
    return {
      referrers: await this.manifests.listReferrers(request.repository, request.digest, request.artifactType),
    };
  }

  /** Drops this repository from every instance's cache. */
  invalidate(repository: string): void {
    this.cache.invalidate(repository);
  }

  private async changed(repository: string): Promise<void> {
    this.cache.invalidate(repository);
    await this.bus.broadcast(RepositoryChanged, { repository });
  }

  private emit<P extends DomainEvent>(contract: EventContract<P>, payload: P): Promise<void> {
    return publishCommitted(this.bus, this.logger, contract, payload);
  }
}
