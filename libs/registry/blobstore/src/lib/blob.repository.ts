import type { UploadSession } from '@berth/contracts';
import type { PrismaClient } from '@berth/db';
import { OciError } from '@berth/oci';
import type { EventsOf, Outbox } from '@berth/outbox';

/** A chunk of an upload, as recorded once its bytes are in storage. */
export interface UploadChunk {
  readonly offset: number;
  readonly size: number;
  readonly path: string;
}

/** An upload session together with its chunks, as claimed for completion. */
export interface ClaimedUpload {
  readonly offset: number;
  readonly chunks: UploadChunk[];
}

interface SessionRow {
  id: string;
  repository: string;
  offset: bigint;
  created_at: Date;
}

/** What linking a blob changed, for the events that report it. */
export interface LinkedBlob {
  /** Whether the repository itself was created by this link. */
  readonly repositoryCreated: boolean;
}

/**
 * Blob links and upload sessions in PostgreSQL. A blob row says its bytes are stored under its
 * digest; a link makes it visible in one repository. Linking and unlinking write the events that
 * report them to the outbox in their own transaction.
 */
export class BlobRepository {
  constructor(
    private readonly db: PrismaClient,
    private readonly uploadTtlMs: number,
    private readonly outbox: Outbox,
  ) {}

  /** The size of a blob linked into the repository, or null. */
  async linkedSize(repository: string, digest: string): Promise<number | null> {
    const rows = await this.db.$queryRaw<{ size: bigint }[]>`
      SELECT b.size FROM registry.repository_blob rb
      JOIN registry.repository r ON r.id = rb.repository_id
      JOIN registry.blob b ON b.digest = rb.digest
      WHERE r.name = ${repository} AND rb.digest = ${digest}`;
    const size = rows[0]?.size;
    return size === undefined ? null : Number(size);
  }

  /**
   * Records a stored blob and links it into the repository (idempotent), creating the repository
   * if needed, in one transaction with the events `eventsOf` builds from the outcome.
   */
  async link(
    repository: string,
    digest: string,
    size: number,
    eventsOf: EventsOf<LinkedBlob>,
  ): Promise<LinkedBlob> {
    const linked = await this.db.$transaction(async (tx) => {
      await tx.$executeRaw`INSERT INTO registry.blob (digest, size) VALUES (${digest}, ${size}) ON CONFLICT (digest) DO NOTHING`;
      // `xmax = 0` tells a freshly inserted repository row from one the conflict clause updated.
      const rows = await tx.$queryRaw<{ created: boolean }[]>`
        WITH repo AS (
          INSERT INTO registry.repository (name) VALUES (${repository})
          ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
          RETURNING id, (xmax = 0) AS created
        ), link AS (
          INSERT INTO registry.repository_blob (repository_id, digest) SELECT id, ${digest} FROM repo
          ON CONFLICT DO NOTHING
        )
        SELECT created FROM repo`;
      const outcome: LinkedBlob = { repositoryCreated: rows[0]?.created ?? false };
      await this.outbox.write(tx, eventsOf(outcome));
      return outcome;
    });
    this.outbox.committed();
    return linked;
  }

  /**
   * Removes a blob's link from a repository, in one transaction with the events `eventsOf`
   * builds; false (and nothing written) if it was not linked.
   */
  async unlink(repository: string, digest: string, eventsOf: EventsOf<void>): Promise<boolean> {
    const unlinked = await this.db.$transaction(async (tx) => {
      const count = await tx.$executeRaw`
        DELETE FROM registry.repository_blob rb USING registry.repository r
        WHERE r.id = rb.repository_id AND r.name = ${repository} AND rb.digest = ${digest}`;
      if (count > 0) await this.outbox.write(tx, eventsOf());
      return count > 0;
    });
    if (unlinked) this.outbox.committed();
    return unlinked;
  }

  /** Opens an upload session. */
  async createSession(id: string, repository: string): Promise<UploadSession> {
    const rows = await this.db.$queryRaw<SessionRow[]>`
      INSERT INTO registry.upload_session (id, repository) VALUES (${id}::uuid, ${repository})
      RETURNING id::text, repository, "offset", created_at`;
    return toSession(rows[0]);
  }

  /** A live session of the repository, or `BLOB_UPLOAD_UNKNOWN`. */
  async session(repository: string, id: string): Promise<UploadSession> {
    const rows = await this.db.$queryRaw<SessionRow[]>`
      SELECT id::text, repository, "offset", created_at FROM registry.upload_session
      WHERE id = ${id}::uuid AND repository = ${repository} AND updated_at > ${this.cutoff()}`;
    return toSession(rows[0]);
  }

  /**
   * Records a chunk at `offset` if the session is still there, or at its end when `offset` is
   * null (the new offset, in one statement, so two chunks never claim the same place). Throws
   * `RANGE_INVALID` when another chunk got there first, `BLOB_UPLOAD_UNKNOWN` when the session is
   * gone.
   */
  async appendChunk(
    repository: string,
    id: string,
    chunk: { readonly offset: number | null; readonly size: number; readonly path: string },
  ): Promise<UploadSession> {
    // In SET, "offset" is the row's value before the update: the chunk's start.
    const rows = await this.db.$queryRaw<SessionRow[]>`
      UPDATE registry.upload_session
      SET "offset" = "offset" + ${chunk.size},
          chunks = chunks || jsonb_build_array(jsonb_build_object(
            'offset', "offset", 'size', ${chunk.size}::bigint, 'path', ${chunk.path}::text)),
          updated_at = now()
      WHERE id = ${id}::uuid AND repository = ${repository} AND updated_at > ${this.cutoff()}
        AND (${chunk.offset}::bigint IS NULL OR "offset" = ${chunk.offset}::bigint)
      RETURNING id::text, repository, "offset", created_at`;
    if (rows[0]) return toSession(rows[0]);
    const current = await this.session(repository, id);
    throw new OciError('RANGE_INVALID', `chunk must start at offset ${current.offset}`, {
      offset: current.offset,
    });
  }

  /**
   * Atomically removes the session and returns its chunks, so exactly one request completes (or
   * cancels) it. `BLOB_UPLOAD_UNKNOWN` if it is already gone.
   */
  async claim(repository: string, id: string): Promise<ClaimedUpload> {
    const rows = await this.db.$queryRaw<{ offset: bigint; chunks: unknown }[]>`
      DELETE FROM registry.upload_session
      WHERE id = ${id}::uuid AND repository = ${repository} AND updated_at > ${this.cutoff()}
      RETURNING "offset", chunks`;
    const row = rows[0];
    if (!row) throw unknownUpload();
    const chunks = (Array.isArray(row.chunks) ? (row.chunks as UploadChunk[]) : []).sort(
      (a, b) => a.offset - b.offset,
    );
    return { offset: Number(row.offset), chunks };
  }

  /** Removes sessions untouched for longer than the TTL and returns their ids. */
  async expire(): Promise<string[]> {
    const rows = await this.db.$queryRaw<{ id: string }[]>`
      DELETE FROM registry.upload_session WHERE updated_at <= ${this.cutoff()} RETURNING id::text`;
    return rows.map((row) => row.id);
  }

  /** Which of the given ids still have a session (live or not yet swept). */
  async existingSessions(ids: readonly string[]): Promise<Set<string>> {
    const valid = ids.filter((id) => /^[0-9a-f-]{36}$/.test(id));
    if (valid.length === 0) return new Set();
    const rows = await this.db.$queryRaw<{ id: string }[]>`
      SELECT id::text FROM registry.upload_session WHERE id = ANY(${valid}::uuid[])`;
    return new Set(rows.map((row) => row.id));
  }

  private cutoff(): Date {
    return new Date(Date.now() - this.uploadTtlMs);
  }
}

function toSession(row: SessionRow | undefined): UploadSession {
  if (!row) throw unknownUpload();
  return {
    id: row.id,
    repository: row.repository,
    offset: Number(row.offset),
    startedAt: row.created_at.toISOString(),
  };
}

function unknownUpload(): OciError {
  return new OciError('BLOB_UPLOAD_UNKNOWN', 'upload unknown, expired or of another repository');
}
