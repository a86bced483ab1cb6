import { z } from 'zod';
import { event, type EventContract, type DomainEvent } from './contract';

const digest = z.string();
const size = z.number();

/** The fields of every event: its id, the time of the commit, and the request that caused it. */
const envelope = {
  id: z.string(),
  occurredAt: z.string(),
  requestId: z.string().nullable(),
};

/** Who caused an event: a token subject (`alice`, `robot$ci`, `oidc$…`), or null (anonymous, auth off). */
const actor = z.string().nullable();

/** The fields of every event about a repository (see `eventEnvelope`). */
const base = {
  ...envelope,
  actor,
  /** The repository's project: its first path segment, or `library` for a one-segment name. */
  project: z.string(),
  repository: z.string(),
};

/** A manifest was stored in a repository (and possibly tagged). */
export const ManifestPushed = event(
  'berth.manifest.pushed.v1',
  z.object({
    ...base,
    digest,
    mediaType: z.string(),
    size,
    artifactType: z.string().nullable(),
    tags: z.array(z.string()),
  }),
);

/**
 * A manifest was deleted from a repository, with the tags that pointed at it (the first 1,000 in
 * byte order: an event must fit in a bus message).
 */
export const ManifestDeleted = event(
  'berth.manifest.deleted.v1',
  z.object({ ...base, digest, tags: z.array(z.string()) }),
);

/**
 * A push created a tag, or moved it to another manifest (`previousDigest` is then the manifest it
 * pointed at before). A push that points a tag at the manifest it already names emits none.
 */
export const TagCreated = event(
  'berth.tag.created.v1',
  z.object({ ...base, tag: z.string(), digest, mediaType: z.string(), previousDigest: digest.nullable() }),
);

/** A tag was deleted; the manifest it pointed at stays. */
export const TagDeleted = event('berth.tag.deleted.v1', z.object({ ...base, tag: z.string(), digest }));

/** A repository came into being: the first blob, mount or manifest pushed into it created it. */
export const RepositoryCreated = event('berth.repository.created.v1', z.object(base));

/** A repository was deleted with everything in it. */
export const RepositoryDeleted = event('berth.repository.deleted.v1', z.object(base));

/** A blob upload completed and was linked into a repository. */
export const BlobPushed = event('berth.blob.pushed.v1', z.object({ ...base, digest, size }));

/** A blob was mounted from another repository. */
export const BlobMounted = event(
  'berth.blob.mounted.v1',
  z.object({ ...base, digest, size, from: z.string() }),
);

/** A blob was unlinked from a repository. */
export const BlobDeleted = event('berth.blob.deleted.v1', z.object({ ...base, digest }));

/** One manifest served by a `GET`: who pulled what, when, by tag or by digest. */
export const artifactPull = z.object({
  ...base,
  digest,
  mediaType: z.string(),
  size,
  /** The tag it was pulled by; null when pulled by digest. */
  tag: z.string().nullable(),
});
export type ArtifactPull = z.infer<typeof artifactPull>;

/**
 * Manifests were pulled. Pulls are batched (at most about a second's worth, or 500, per event)
 * and published in the background, never in the database: a crashed gateway loses at most its
 * last batch. Each pull has its own id and request id; the batch's `requestId` is null.
 */
export const ArtifactsPulled = event(
  'berth.artifact.pulled.v1',
  z.object({ ...envelope, requestId: z.null(), pulls: z.array(artifactPull) }),
);

/** The fields of a quota event: a project's usage against its limit. */
const quota = {
  ...envelope,
  actor,
  project: z.string(),
  /** The repository whose push crossed the threshold, when a push did. */
  repository: z.string().nullable(),
  usedBytes: z.number(),
  limitBytes: z.number(),
  message: z.string(),
};

/** A project's storage use crossed its warning threshold. (Emitted once quotas exist.) */
export const QuotaWarned = event('berth.quota.warned.v1', z.object(quota));

/** A push was refused because the project's quota is used up. (Emitted once quotas exist.) */
export const QuotaExceeded = event('berth.quota.exceeded.v1', z.object(quota));

/** The fields of a scan event: which artifact, by which scanner, for what. */
const scan = {
  ...base,
  digest,
  mediaType: z.string(),
  /** The scanner's name and version, e.g. `trivy 0.50.1`. */
  scanner: z.string(),
  /** What was scanned for, in Harbor's terms: `vulnerability` or `sbom`. */
  scanType: z.string(),
};

/** A scan finished with a report. (Emitted once scanning exists.) */
export const ScanCompleted = event(
  'berth.scan.completed.v1',
  z.object({ ...scan, summary: z.record(z.string(), z.unknown()) }),
);

/** A scan could not finish. (Emitted once scanning exists.) */
export const ScanFailed = event('berth.scan.failed.v1', z.object({ ...scan, message: z.string() }));

/** A replication run ended. (Emitted once replication exists.) */
export const ReplicationFinished = event(
  'berth.replication.finished.v1',
  z.object({
    ...envelope,
    actor,
    /** The project of the replicated repository; null for a run over several projects. */
    project: z.string().nullable(),
    policy: z.string(),
    trigger: z.enum(['manual', 'event_based', 'scheduled']),
    status: z.enum(['succeeded', 'failed']),
    message: z.string(),
    /** The repository replicated, when the run concerned one. */
    repository: z.string().optional(),
    /** The remote registry (its URL or endpoint name). */
    destination: z.string(),
  }),
);

export type ManifestPushedEvent = z.infer<typeof ManifestPushed.payload>;
export type ManifestDeletedEvent = z.infer<typeof ManifestDeleted.payload>;
export type TagCreatedEvent = z.infer<typeof TagCreated.payload>;
export type TagDeletedEvent = z.infer<typeof TagDeleted.payload>;
export type RepositoryCreatedEvent = z.infer<typeof RepositoryCreated.payload>;
export type RepositoryDeletedEvent = z.infer<typeof RepositoryDeleted.payload>;
export type BlobPushedEvent = z.infer<typeof BlobPushed.payload>;
export type BlobMountedEvent = z.infer<typeof BlobMounted.payload>;
export type BlobDeletedEvent = z.infer<typeof BlobDeleted.payload>;
export type ArtifactsPulledEvent = z.infer<typeof ArtifactsPulled.payload>;
export type QuotaWarnedEvent = z.infer<typeof QuotaWarned.payload>;
export type QuotaExceededEvent = z.infer<typeof QuotaExceeded.payload>;
export type ScanCompletedEvent = z.infer<typeof ScanCompleted.payload>;
export type ScanFailedEvent = z.infer<typeof ScanFailed.payload>;
export type ReplicationFinishedEvent = z.infer<typeof ReplicationFinished.payload>;

/** Every event Berth publishes; the durable stream captures exactly these subjects. */
export const ALL_EVENTS: readonly EventContract<DomainEvent>[] = [
  ManifestPushed,
  ManifestDeleted,
  TagCreated,
  TagDeleted,
  RepositoryCreated,
  RepositoryDeleted,
  BlobPushed,
  BlobMounted,
  BlobDeleted,
  ArtifactsPulled,
  QuotaWarned,
  QuotaExceeded,
  ScanCompleted,
  ScanFailed,
  ReplicationFinished,
];

const EVENTS_BY_SUBJECT = new Map(ALL_EVENTS.map((contract) => [contract.subject, contract]));

/** The event contract of a subject, or undefined for a subject Berth does not publish. */
export function eventContractOf(subject: string): EventContract<DomainEvent> | undefined {
  return EVENTS_BY_SUBJECT.get(subject);
}
