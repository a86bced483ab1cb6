import { isDigest, type Digest } from './digest';
import { OciError } from './errors';

declare const repositoryNameBrand: unique symbol;
declare const tagBrand: unique symbol;

/** A repository name that matches the spec's grammar and length limit. */
export type RepositoryName = string & { readonly [repositoryNameBrand]: true };

/** A tag that matches the spec's grammar (at most 128 characters). */
export type Tag = string & { readonly [tagBrand]: true };

/** A manifest reference: a tag or a digest. */
export type Reference =
  { readonly kind: 'tag'; readonly tag: Tag } | { readonly kind: 'digest'; readonly digest: Digest };

/** The longest repository name Berth accepts, as Distribution does. */
export const MAX_REPOSITORY_NAME_LENGTH = 255;

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_PATTERN = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Whether `value` is a valid repository name. */
export function isRepositoryName(value: string): value is RepositoryName {
  return value.length <= MAX_REPOSITORY_NAME_LENGTH && NAME_PATTERN.test(value);
}

/**
 * Validates a repository name: lower-case components separated by `/`, each made of
 * alphanumerics joined by `.`, `_`, `__` or dashes, 255 characters at most. Rejects traversal
 * (`..`), upper case and leading or trailing slashes with `NAME_INVALID`.
 */
export function parseRepositoryName(value: string): RepositoryName {
  if (!isRepositoryName(value)) {
    throw new OciError('NAME_INVALID', `invalid repository name "${shorten(value)}"`, {
      name: shorten(value),
    });
  }
  return value;
}

/** Whether `value` is a valid tag. */
export function isTag(value: string): value is Tag {
  return TAG_PATTERN.test(value);
}

/**
 * Validates a tag that a manifest is to be stored under: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
 * Anything else is `MANIFEST_INVALID` with the tag in the detail: the spec has no code of its own
 * for a bad tag, and a manifest cannot be stored under one.
 */
export function parseTag(value: string): Tag {
  if (!isTag(value))
    throw new OciError('MANIFEST_INVALID', `invalid tag "${shorten(value)}"`, { tag: shorten(value) });
  return value;
}

/**
 * Parses the `<reference>` of a manifest URL: a digest if it contains a colon (then it must be a
 * valid one, else `DIGEST_INVALID`), otherwise a tag (else `MANIFEST_INVALID`, see {@link parseTag}).
 * For reads and deletes, where a reference that cannot exist is simply unknown, use
 * {@link referenceOrNull}.
 */
export function parseReference(value: string): Reference {
  if (value.includes(':')) {
    if (!isDigest(value)) {
      throw new OciError('DIGEST_INVALID', `invalid digest "${shorten(value)}"`, { digest: shorten(value) });
    }
    return { kind: 'digest', digest: value };
  }
  return { kind: 'tag', tag: parseTag(value) };
}

/**
 * The reference `value` names, or null when no manifest can ever be stored under it (neither a
 * valid tag nor a valid digest). `GET`, `HEAD` and `DELETE` answer such a reference as unknown
 * (404 `MANIFEST_UNKNOWN`), as Distribution does and the conformance suite expects.
 */
export function referenceOrNull(value: string): Reference | null {
  if (isDigest(value)) return { kind: 'digest', digest: value };
  return isTag(value) ? { kind: 'tag', tag: value } : null;
}

function shorten(value: string): string {
  return value.length > 300 ? `${value.slice(0, 300)}…` : value;
}
