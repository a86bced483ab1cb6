import { z } from 'zod';
import { broadcast, rpc } from './contract';

const digest = z.string().regex(/^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/);
const repository = z.string().min(1).max(255);
/** The token subject of the caller, for the events a change causes; null if anonymous or auth is off. */
const actor = z.string().nullable();

/** What the gateway needs to serve a manifest. */
export const manifestInfo = z.object({
  digest,
  mediaType: z.string(),
  size: z.number().int().nonnegative(),
  subjectDigest: digest.nullable(),
});
export type ManifestInfo = z.infer<typeof manifestInfo>;

/** Resolves a tag or digest in a repository to a manifest (`MANIFEST_UNKNOWN` otherwise). */
export const ResolveManifest = rpc(
  'berth.rpc.metadata.manifest.resolve.v1',
  z.object({ repository, reference: z.string() }),
  manifestInfo,
);

/** The most tags one manifest PUT may point at (the reference plus `?tag=` parameters). */
export const MAX_TAGS_PER_PUT = 100;

/**
 * Records a manifest whose bytes the gateway has already stored by digest, and points tags at it.
 * Metadata reads and parses the stored bytes itself, so the message stays small however large the
 * manifest (NATS refuses messages over 1 MB; a manifest may have 4 MiB). Fails with
 * `MANIFEST_BLOB_UNKNOWN` when a referenced blob or child manifest is not in the repository, and
 * `MANIFEST_INVALID` when the stored bytes are not a valid manifest of that digest. The push
 * events are written here, in the transaction that records it.
 */
export const PutManifest = rpc(
  'berth.rpc.metadata.manifest.put.v2',
  z.object({
    repository,
    digest,
    /** The `Content-Type` the manifest was pushed with, if any (it may name the media type). */
    contentType: z.string().max(256).nullable(),
    size: z.number().int().nonnegative(),
    tags: z.array(z.string().max(128)).max(MAX_TAGS_PER_PUT),
    requestId: z.string().nullable(),
    actor,
  }),
  z.object({ created: z.boolean() }),
);

/**
 * Deletes a tag (reference is a tag) or a manifest with all its tags (reference is a digest).
 * `MANIFEST_UNKNOWN` when there is nothing to delete.
 */
export const DeleteManifest = rpc(
  'berth.rpc.metadata.manifest.delete.v1',
  z.object({ repository, reference: z.string(), requestId: z.string().nullable(), actor }),
  z.object({ deleted: z.literal(true) }),
);

/** One page of a repository's tags in lexical order (`NAME_UNKNOWN` for an unknown repository). */
export const ListTags = rpc(
  'berth.rpc.metadata.tags.list.v1',
  z.object({ repository, limit: z.number().int().nonnegative(), last: z.string().nullable() }),
  z.object({ tags: z.array(z.string()), more: z.boolean() }),
);

/**
 * One page of repository names in lexical order, only of the given projects (null: all), so that
 * `_catalog` shows each caller only what it may see.
 */
export const ListRepositories = rpc(
  'berth.rpc.metadata.catalog.v1',
  z.object({
    limit: z.number().int().nonnegative(),
    last: z.string().nullable(),
    projects: z.array(z.string()).nullable(),
  }),
  z.object({ repositories: z.array(z.string()), more: z.boolean() }),
);

/** A referrer as it appears in the referrers index. */
export const referrerDescriptor = z.object({
  mediaType: z.string(),
  digest,
  size: z.number().int().nonnegative(),
  artifactType: z.string().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ReferrerDescriptor = z.infer<typeof referrerDescriptor>;

/**
 * A page of the manifests whose `subject` is the given digest, optionally of one artifact type,
 * oldest first: those after the referrer `after` (null: from the first). `more` when another page
 * follows (the page is bounded in bytes, so that the reply always fits on the bus).
 */
export const ListReferrers = rpc(
  'berth.rpc.metadata.referrers.list.v2',
  z.object({
    repository,
    digest,
    artifactType: z.string().nullable(),
    after: digest.nullable(),
  }),
  z.object({ referrers: z.array(referrerDescriptor), more: z.boolean() }),
);

/** Tells every metadata instance that a repository's manifests or tags changed. */
export const RepositoryChanged = broadcast(
  'berth.cast.metadata.repository-changed.v1',
  z.object({ repository }),
);
