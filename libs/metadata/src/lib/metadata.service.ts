import type { Bus } from '@berth/bus';
import {
  ManifestDeleted,
  ManifestPushed,
  RepositoryChanged,
  RepositoryCreated,
  TagCreated,
  TagDeleted,
  eventEnvelope,
  type DeleteManifest,
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
import { outboxEvent, type OutboxEvent } from '@berth/outbox';
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
 * and referrers. The events of a push or delete are decided here and written to the outbox in the
 * transaction of the change (see {@link ManifestRepository}).
 */
export class MetadataService {
  constructor(
    private readonly manifests: ManifestRepository,
    private readonly cache: ManifestCache,
    private readonly bus: Bus,
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
    const { digest, mediaType, size, requestId, actor } = request;
    const envelope = () => eventEnvelope(repository, requestId, actor);
    const saved = await this.manifests.save(
      {
        repository,
        digest,
        mediaType,
        size,
        artifactType: request.artifactType,
        subjectDigest: request.subjectDigest,
        annotations: request.annotations,
        blobDigests: request.blobs.map((blob) => blob.digest),
        manifestDigests: request.manifests.map((manifest) => manifest.digest),
        tags,
      },
      (outcome) => {
        const events: OutboxEvent[] = [];
        if (outcome.repositoryCreated) events.push(outboxEvent(RepositoryCreated, envelope()));
        events.push(
          outboxEvent(ManifestPushed, {
            ...envelope(),
            digest,
            mediaType,
            size,
            artifactType: request.artifactType,
            tags,
          }),
        );
        for (const { tag, previousDigest } of outcome.taggedFrom) {
          events.push(outboxEvent(TagCreated, { ...envelope(), tag, digest, mediaType, previousDigest }));
        }
        return events;
      },
    );
    await this.changed(repository);
    return { created: saved.created };
  }

  /** Deletes a tag, or a manifest and its tags; `MANIFEST_UNKNOWN` if there is nothing to delete. */
  async delete(request: RequestOf<typeof DeleteManifest>): Promise<ResponseOf<typeof DeleteManifest>> {
    const { repository, requestId, actor } = request;
    const reference = parseReference(request.reference);
    if (reference.kind === 'tag') {
      const { tag } = reference;
      const digest = await this.manifests.deleteTag(repository, tag, (deleted) => [
        outboxEvent(TagDeleted, { ...eventEnvelope(repository, requestId, actor), tag, digest: deleted }),
      ]);
      if (digest === null) throw new OciError('MANIFEST_UNKNOWN', `tag unknown: ${repository}:${tag}`);
    } else {
      const { digest } = reference;
      const tags = await this.manifests.deleteManifest(repository, digest, (deletedTags) => [
        outboxEvent(ManifestDeleted, {
          ...eventEnvelope(repository, requestId, actor),
          digest,
          tags: [...deletedTags],
        }),
      ]);
      if (tags === null) throw new OciError('MANIFEST_UNKNOWN', `manifest unknown: ${repository}@${digest}`);
    }
    await this.changed(repository);
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
}
