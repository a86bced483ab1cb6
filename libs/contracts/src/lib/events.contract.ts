import { z } from 'zod';
import { event, type EventContract, type DomainEvent } from './contract';

const digest = z.string();
const base = {
  id: z.string(),
  occurredAt: z.string(),
  requestId: z.string().nullable(),
  repository: z.string(),
};

/** A manifest was stored in a repository (and possibly tagged). */
export const ManifestPushed = event(
  'berth.manifest.pushed.v1',
  z.object({
    ...base,
    digest,
    mediaType: z.string(),
    size: z.number(),
    artifactType: z.string().nullable(),
    tags: z.array(z.string()),
  }),
);

/** A manifest was deleted from a repository, with the tags that pointed at it. */
export const ManifestDeleted = event(
  'berth.manifest.deleted.v1',
  z.object({ ...base, digest, tags: z.array(z.string()) }),
);

/** A tag was deleted; the manifest it pointed at stays. */
export const TagDeleted = event('berth.tag.deleted.v1', z.object({ ...base, tag: z.string(), digest }));

/** A blob upload completed and was linked into a repository. */
export const BlobPushed = event('berth.blob.pushed.v1', z.object({ ...base, digest, size: z.number() }));

/** A blob was mounted from another repository. */
export const BlobMounted = event(
  'berth.blob.mounted.v1',
  z.object({ ...base, digest, size: z.number(), from: z.string() }),
);

/** A blob was unlinked from a repository. */
export const BlobDeleted = event('berth.blob.deleted.v1', z.object({ ...base, digest }));

export type ManifestPushedEvent = z.infer<typeof ManifestPushed.payload>;
export type ManifestDeletedEvent = z.infer<typeof ManifestDeleted.payload>;
export type TagDeletedEvent = z.infer<typeof TagDeleted.payload>;
export type BlobPushedEvent = z.infer<typeof BlobPushed.payload>;
export type BlobMountedEvent = z.infer<typeof BlobMounted.payload>;
export type BlobDeletedEvent = z.infer<typeof BlobDeleted.payload>;

/** Every event Berth publishes; the durable stream captures exactly these subjects. */
export const ALL_EVENTS: readonly EventContract<DomainEvent>[] = [
  ManifestPushed,
  ManifestDeleted,
  TagDeleted,
  BlobPushed,
  BlobMounted,
  BlobDeleted,
];
