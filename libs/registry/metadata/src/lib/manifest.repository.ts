import type { ManifestInfo, ReferrerDescriptor } from '@berth/contracts';
import { Prisma, type PrismaClient } from '@berth/db';
import { OciError } from '@berth/oci';
import type { EventsOf, Outbox } from '@berth/outbox';

type Tx = Prisma.TransactionClient;

/** The most tag names one event lists (1,000 of 128 characters fit well in a bus message). */
export const MAX_EVENT_TAGS = 1_000;

/** A manifest to record, with what it references. */
export interface NewManifest {
  readonly repository: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly artifactType: string | null;
  readonly subjectDigest: string | null;
  readonly annotations: Readonly<Record<string, string>> | null;
  readonly blobDigests: readonly string[];
  readonly manifestDigests: readonly string[];
  readonly tags: readonly string[];
}

/** What recording a manifest changed, for the events that report it. */
export interface SavedManifest {
  /** Whether the manifest was new in the repository. */
  readonly created: boolean;
  /** Whether the repository itself was created by this push. */
  readonly repositoryCreated: boolean;
  /**
   * The tags this push created or moved to the manifest, with the manifest each pointed at before
   * (null for a new tag); tags that already pointed at it are not listed.
   */
  readonly taggedFrom: readonly { readonly tag: string; readonly previousDigest: string | null }[];
}

/** One page of names. */
export interface NamePage {
  readonly names: string[];
  readonly more: boolean;
}

interface ManifestRow {
  digest: string;
  media_type: string;
  size: number;
  subject_digest: string | null;
}

/**
 * Manifests, tags and repositories in PostgreSQL. Every query is scoped by repository name; the
 * name-to-id join happens inside the query, so a request costs one round trip. Every change writes
 * the events that report it to the outbox in its own transaction.
 */
export class ManifestRepository {
  constructor(
    private readonly db: PrismaClient,
    private readonly outbox: Outbox,
  ) {}

  /** Finds a manifest by digest in a repository. */
  async findByDigest(repository: string, digest: string): Promise<ManifestInfo | null> {
    const rows = await this.db.$queryRaw<ManifestRow[]>`
      SELECT m.digest, m.media_type, m.size, m.subject_digest
      FROM registry.manifest m JOIN registry.repository r ON r.id = m.repository_id
      WHERE r.name = ${repository} AND m.digest = ${digest}`;
    return toInfo(rows[0]);
  }

  /** Finds the manifest a tag points at. */
  async findByTag(repository: string, tag: string): Promise<ManifestInfo | null> {
    const rows = await this.db.$queryRaw<ManifestRow[]>`
      SELECT m.digest, m.media_type, m.size, m.subject_digest
      FROM registry.tag t
      JOIN registry.repository r ON r.id = t.repository_id
      JOIN registry.manifest m ON m.id = t.manifest_id
      WHERE r.name = ${repository} AND t.name = ${tag}`;
    return toInfo(rows[0]);
  }

  /**
   * Records a manifest and points its tags at it, in one transaction with the events `eventsOf`
   * builds from the outcome. Throws `MANIFEST_BLOB_UNKNOWN` naming what is missing from the
   * repository (and then nothing is stored, events included).
   */
  async save(manifest: NewManifest, eventsOf: EventsOf<SavedManifest>): Promise<SavedManifest> {
    const saved = await this.db.$transaction(async (tx) => {
      const { id: repositoryId, created: repositoryCreated } = await upsertRepository(
        tx,
        manifest.repository,
      );
      await assertPresent(tx, repositoryId, manifest);
      const inserted = await tx.$queryRaw<{ id: bigint }[]>`
        INSERT INTO registry.manifest (repository_id, digest, media_type, size, artifact_type, subject_digest, annotations)
        VALUES (${repositoryId}, ${manifest.digest}, ${manifest.mediaType}, ${manifest.size}, ${manifest.artifactType},
                ${manifest.subjectDigest}, ${manifest.annotations === null ? null : JSON.stringify(manifest.annotations)}::jsonb)
        ON CONFLICT (repository_id, digest) DO NOTHING
        RETURNING id`;
      let manifestId = inserted[0]?.id;
      const created = manifestId !== undefined;
      if (manifestId === undefined) {
        const existing = await tx.$queryRaw<{ id: bigint }[]>`
          SELECT id FROM registry.manifest WHERE repository_id = ${repositoryId} AND digest = ${manifest.digest}`;
        manifestId = existing[0]?.id;
        if (manifestId === undefined) throw new OciError('UNKNOWN', 'manifest vanished during push');
      } else {
        const kinds = [
          ...manifest.blobDigests.map(() => 'blob'),
          ...manifest.manifestDigests.map(() => 'manifest'),
        ];
        const digests = [...manifest.blobDigests, ...manifest.manifestDigests];
        if (digests.length > 0) {
          await tx.$executeRaw`
            INSERT INTO registry.manifest_reference (manifest_id, kind, digest)
            SELECT ${manifestId}, k, d FROM unnest(${kinds}::text[], ${digests}::text[]) AS x(k, d)
            ON CONFLICT DO NOTHING`;
        }
      }
      let taggedFrom: SavedManifest['taggedFrom'] = [];
      if (manifest.tags.length > 0) {
        const tags = [...new Set(manifest.tags)];
        // The upsert of the repository row above locks it until commit, so concurrent pushes to
        // this repository cannot move these tags between this read and the write below.
        const before = await tx.$queryRaw<{ name: string; manifest_id: bigint; digest: string }[]>`
          SELECT t.name, t.manifest_id, m.digest FROM registry.tag t JOIN registry.manifest m ON m.id = t.manifest_id
          WHERE t.repository_id = ${repositoryId} AND t.name = ANY(${tags}::text[])`;
        const previous = new Map(before.map((row) => [row.name, row]));
        taggedFrom = tags.flatMap((tag): SavedManifest['taggedFrom'] => {
          const was = previous.get(tag);
          if (was === undefined) return [{ tag, previousDigest: null }];
          return was.manifest_id === manifestId ? [] : [{ tag, previousDigest: was.digest }];
        });
        await tx.$executeRaw`
          INSERT INTO registry.tag (repository_id, name, manifest_id, updated_at)
          SELECT ${repositoryId}, t, ${manifestId}, now() FROM unnest(${tags}::text[]) AS x(t)
          ON CONFLICT (repository_id, name) DO UPDATE SET manifest_id = EXCLUDED.manifest_id, updated_at = now()`;
      }
      const outcome: SavedManifest = { created, repositoryCreated, taggedFrom };
      await this.outbox.write(tx, eventsOf(outcome));
      return outcome;
    });
    this.outbox.committed();
    return saved;
  }

  /**
   * Deletes a tag, in one transaction with the events `eventsOf` builds from the digest it
   * pointed at. Returns that digest, or null (and writes nothing) if there was no such tag.
   */
  async deleteTag(repository: string, tag: string, eventsOf: EventsOf<string>): Promise<string | null> {
    const digest = await this.db.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ digest: string }[]>`
        DELETE FROM registry.tag t USING registry.repository r, registry.manifest m
        WHERE r.id = t.repository_id AND m.id = t.manifest_id AND r.name = ${repository} AND t.name = ${tag}
        RETURNING m.digest`;
      const deleted = rows[0]?.digest ?? null;
      if (deleted !== null) await this.outbox.write(tx, eventsOf(deleted));
      return deleted;
    });
    if (digest !== null) this.outbox.committed();
    return digest;
  }

  /**
   * Deletes a manifest with its tags, in one transaction with the events `eventsOf` builds from
   * those tags. Returns the tags (the first {@link MAX_EVENT_TAGS} in byte order), or null (and
   * writes nothing) if there was no such manifest.
   */
  async deleteManifest(
    repository: string,
    digest: string,
    eventsOf: EventsOf<readonly string[]>,
  ): Promise<string[] | null> {
    const tags = await this.db.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ id: bigint }[]>`
        SELECT m.id FROM registry.manifest m JOIN registry.repository r ON r.id = m.repository_id
        WHERE r.name = ${repository} AND m.digest = ${digest}
        FOR UPDATE OF m`;
      const id = rows[0]?.id;
      if (id === undefined) return null;
      // Tags cascade with the manifest; the event still wants their names, as many as an event
      // can carry (events cross the bus, whose messages are bounded).
      const names = (
        await tx.$queryRaw<{ name: string }[]>`
          SELECT name FROM registry.tag WHERE manifest_id = ${id} ORDER BY name LIMIT ${MAX_EVENT_TAGS}`
      ).map((tag) => tag.name);
      await tx.$executeRaw`DELETE FROM registry.manifest WHERE id = ${id}`;
      await this.outbox.write(tx, eventsOf(names));
      return names;
    });
    if (tags !== null) this.outbox.committed();
    return tags;
  }

  /** A page of a repository's tags in byte order, or null if the repository is unknown. */
  async listTags(repository: string, limit: number, last: string | null): Promise<NamePage | null> {
    const repo = await this.db.$queryRaw<
      { id: number }[]
    >`SELECT id FROM registry.repository WHERE name = ${repository}`;
    const repositoryId = repo[0]?.id;
    if (repositoryId === undefined) return null;
    if (limit === 0) return { names: [], more: false };
    const rows = await this.db.$queryRaw<{ name: string }[]>`
      SELECT name FROM registry.tag
      WHERE repository_id = ${repositoryId} AND (${last}::text IS NULL OR name > ${last}::text)
      ORDER BY name LIMIT ${limit + 1}`;
    return page(
      rows.map((row) => row.name),
      limit,
    );
  }

  /**
   * Every tag of a repository in byte order, or null if the repository is unknown; `undefined`
   * when it has more than `max` tags (then callers page through {@link ManifestRepository.listTags}).
   */
  async allTags(repository: string, max: number): Promise<string[] | null | undefined> {
    const rows = await this.db.$queryRaw<{ name: string | null }[]>`
      SELECT t.name FROM registry.repository r LEFT JOIN LATERAL (
        SELECT name FROM registry.tag WHERE repository_id = r.id ORDER BY name LIMIT ${max + 1}
      ) t ON true
      WHERE r.name = ${repository}`;
    if (rows.length === 0) return null;
    const names = rows.flatMap((row) => (row.name === null ? [] : [row.name]));
    return names.length > max ? undefined : names;
  }

  /** A page of repository names in byte order. */
  async listRepositories(
    limit: number,
    last: string | null,
    projects: readonly string[] | null,
  ): Promise<NamePage> {
    if (limit === 0 || projects?.length === 0) return { names: [], more: false };
    // A repository's project is its first segment; a one-segment name belongs to `library`.
    const rows = await this.db.$queryRaw<{ name: string }[]>`
      SELECT name FROM registry.repository
      WHERE (${last}::text IS NULL OR name > ${last}::text)
        AND (${projects === null}::boolean OR
             (CASE WHEN strpos(name, '/') > 0 THEN split_part(name, '/', 1) ELSE 'library' END)
               = ANY(${projects ?? []}::text[]))
      ORDER BY name LIMIT ${limit + 1}`;
    return page(
      rows.map((row) => row.name),
      limit,
    );
  }

  /**
   * Up to `limit` manifests of a repository whose subject is `digest`, optionally of one artifact
   * type, oldest first, after the referrer `after` (null: from the first).
   */
  async listReferrers(
    repository: string,
    digest: string,
    artifactType: string | null,
    after: string | null,
    limit: number,
  ): Promise<ReferrerDescriptor[]> {
    const rows = await this.db.$queryRaw<
      {
        digest: string;
        media_type: string;
        size: number;
        artifact_type: string | null;
        annotations: unknown;
      }[]
    >`
      SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations
      FROM registry.manifest m JOIN registry.repository r ON r.id = m.repository_id
      WHERE r.name = ${repository} AND m.subject_digest = ${digest}
        AND (${artifactType}::text IS NULL OR m.artifact_type = ${artifactType}::text)
        AND (${after}::text IS NULL OR (m.created_at, m.id) > (
          SELECT a.created_at, a.id FROM registry.manifest a WHERE a.repository_id = r.id AND a.digest = ${after}::text))
      ORDER BY m.created_at, m.id
      LIMIT ${limit}`;
    return rows.map((row) => {
      const descriptor: ReferrerDescriptor = {
        mediaType: row.media_type,
        digest: row.digest,
        size: row.size,
      };
      if (row.artifact_type !== null) descriptor.artifactType = row.artifact_type;
      if (row.annotations !== null && typeof row.annotations === 'object') {
        descriptor.annotations = row.annotations as Record<string, string>;
      }
      return descriptor;
    });
  }
}

/**
 * Creates the repository row if needed and returns its id, and whether this call created it
 * (safe under concurrent pushes: exactly one of them creates it). The row stays locked until the
 * transaction ends, which serialises the changes of one repository.
 */
export async function upsertRepository(tx: Tx, name: string): Promise<{ id: number; created: boolean }> {
  // `xmax = 0` tells a freshly inserted row from one that the conflict clause updated.
  const rows = await tx.$queryRaw<{ id: number; created: boolean }[]>`
    INSERT INTO registry.repository (name) VALUES (${name})
    ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
    RETURNING id, (xmax = 0) AS created`;
  const row = rows[0];
  if (row === undefined) throw new OciError('UNKNOWN', 'repository upsert returned nothing');
  return row;
}

async function assertPresent(tx: Tx, repositoryId: number, manifest: NewManifest): Promise<void> {
  const missing: string[] = [];
  const blobs = [...new Set(manifest.blobDigests)];
  if (blobs.length > 0) {
    const found = await tx.$queryRaw<{ digest: string }[]>`
      SELECT digest FROM registry.repository_blob WHERE repository_id = ${repositoryId} AND digest = ANY(${blobs}::text[])`;
    const present = new Set(found.map((row) => row.digest));
    missing.push(...blobs.filter((digest) => !present.has(digest)));
  }
  const children = [...new Set(manifest.manifestDigests)];
  if (children.length > 0) {
    const found = await tx.$queryRaw<{ digest: string }[]>`
      SELECT digest FROM registry.manifest WHERE repository_id = ${repositoryId} AND digest = ANY(${children}::text[])`;
    const present = new Set(found.map((row) => row.digest));
    missing.push(...children.filter((digest) => !present.has(digest)));
  }
  if (missing.length > 0) {
    throw new OciError(
      'MANIFEST_BLOB_UNKNOWN',
      `manifest references unknown content: ${missing.slice(0, 5).join(', ')}`,
      {
        missing: missing.slice(0, 100),
      },
    );
  }
}

function toInfo(row: ManifestRow | undefined): ManifestInfo | null {
  if (!row) return null;
  return { digest: row.digest, mediaType: row.media_type, size: row.size, subjectDigest: row.subject_digest };
}

function page(names: string[], limit: number): NamePage {
  return names.length > limit ? { names: names.slice(0, limit), more: true } : { names, more: false };
}
