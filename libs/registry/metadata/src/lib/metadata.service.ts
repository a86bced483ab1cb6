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
import {
  OciError,
  digestAlgorithm,
  digestOf,
  parseDigest,
  parseManifest,
  parseReference,
  parseRepositoryName,
  parseTag,
  type Digest,
} from '@berth/oci';
import { outboxEvent, type OutboxEvent } from '@berth/outbox';
import type { ManifestCache } from './manifest.cache';
import type { ManifestRepository } from './manifest.repository';

/** Where metadata reads the bytes of a manifest that the gateway stored under its digest. */
export interface ManifestContent {
  /** The bytes stored under `digest`, or null if there are none. */
  read(digest: Digest): Promise<Buffer | null>;
}

/**
 * The most bytes of names or descriptors one listing reply carries: replies cross the bus, whose
 * messages are bounded (NATS refuses more than 1 MB by default), and a client may have pushed
 * 10,000 tags of 128 characters, or referrers with megabytes of annotations. A page that would
 * pass it ends early and says there is more; clients follow the `Link` header.
 */
export const LIST_REPLY_BUDGET_BYTES = 512 * 1024;

/** A referrer's descriptor larger than this is listed without its annotations. */
export const MAX_REFERRER_DESCRIPTOR_BYTES = 64 * 1024;

/** The most referrers one page lists. */
export const REFERRERS_PAGE_ROWS = 1_000;

/** The names that fit in {@link LIST_REPLY_BUDGET_BYTES} (at least one), and whether some were cut. */
function withinReplyBudget(names: readonly string[]): { names: string[]; cut: boolean } {
  let bytes = 0;
  for (let i = 0; i < names.length; i++) {
    // JSON adds quotes and a comma; names are ASCII by their grammars.
    bytes += (names[i]?.length ?? 0) + 3;
    if (bytes > LIST_REPLY_BUDGET_BYTES && i > 0) return { names: names.slice(0, i), cut: true };
  }
  return { names: [...names], cut: false };
}

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
    private readonly content: ManifestContent,
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

  /**
   * Records a pushed manifest, points its tags at it and announces the push. The manifest is read
   * from storage, where the gateway put it under its digest, and checked again here: its bytes
   * must have that digest and size and be a valid manifest (`MANIFEST_INVALID` otherwise).
   */
  async put(request: RequestOf<typeof PutManifest>): Promise<ResponseOf<typeof PutManifest>> {
    const repository = parseRepositoryName(request.repository);
    const tags = request.tags.map(parseTag);
    const { size, requestId, actor } = request;
    const digest = parseDigest(request.digest);
    const bytes = await this.content.read(digest);
    if (bytes === null || bytes.length !== size || digestOf(bytes, digestAlgorithm(digest)) !== digest)
      throw new OciError('MANIFEST_INVALID', `no manifest of ${size} bytes is stored under ${digest}`);
    const manifest = parseManifest(bytes, request.contentType ?? undefined);
    const { mediaType, artifactType } = manifest;
    const envelope = () => eventEnvelope(repository, requestId, actor);
    const saved = await this.manifests.save(
      {
        repository,
        digest,
        mediaType,
        size,
        artifactType,
        subjectDigest: manifest.subject?.digest ?? null,
        annotations: manifest.annotations,
        blobDigests: manifest.blobs.map((blob) => blob.digest),
        manifestDigests: manifest.manifests.map((child) => child.digest),
        tags,
      },
      (outcome) => {
        const events: OutboxEvent[] = [];
        if (outcome.repositoryCreated) events.push(outboxEvent(RepositoryCreated, envelope()));
        events.push(
          outboxEvent(ManifestPushed, { ...envelope(), digest, mediaType, size, artifactType, tags }),
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
      const { names, cut } = withinReplyBudget(all.slice(start, start + limit));
      return { tags: names, more: cut || start + limit < all.length };
    }
    const page = await this.manifests.listTags(repository, limit, last);
    if (!page) throw new OciError('NAME_UNKNOWN', `repository unknown: ${request.repository}`);
    const { names, cut } = withinReplyBudget(page.names);
    return { tags: names, more: cut || page.more };
  }

  /** A page of repository names. */
  async listRepositories(
    request: RequestOf<typeof ListRepositories>,
  ): Promise<ResponseOf<typeof ListRepositories>> {
    const page = await this.manifests.listRepositories(request.limit, request.last, request.projects);
    const { names, cut } = withinReplyBudget(page.names);
    return { repositories: names, more: cut || page.more };
  }

  /**
   * A page of the referrers of a digest (empty for an unknown one), oldest first, after the
   * referrer `after` names; `more` when the page ended at {@link LIST_REPLY_BUDGET_BYTES}.
   */
  async listReferrers(request: RequestOf<typeof ListReferrers>): Promise<ResponseOf<typeof ListReferrers>> {
    const rows = await this.manifests.listReferrers(
      request.repository,
      request.digest,
      request.artifactType,
      request.after,
      REFERRERS_PAGE_ROWS + 1,
    );
    const referrers: ReferrerDescriptor[] = [];
    let bytes = 0;
    for (const row of rows.slice(0, REFERRERS_PAGE_ROWS)) {
      let descriptor = row;
      let size = JSON.stringify(descriptor).length;
      if (size > MAX_REFERRER_DESCRIPTOR_BYTES && descriptor.annotations !== undefined) {
        // Annotations are copied from the referrer's manifest, which may hold megabytes of them.
        const { annotations: _dropped, ...lean } = descriptor;
        descriptor = lean;
        size = JSON.stringify(descriptor).length;
      }
      if (referrers.length > 0 && bytes + size > LIST_REPLY_BUDGET_BYTES) return { referrers, more: true };
      referrers.push(descriptor);
      bytes += size + 1;
    }
    return { referrers, more: rows.length > REFERRERS_PAGE_ROWS };
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
