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

/** Validates a tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`; anything else is `TAG_INVALID`. */
export function parseTag(value: string): Tag {
  if (!isTag(value))
    throw new OciError('TAG_INVALID', `invalid tag "${shorten(value)}"`, { tag: shorten(value) });
  return value;
}

/**
 * Parses the `<reference>` of a manifest URL: a digest if it contains a colon (then it must be a
 * valid one, else `DIGEST_INVALID`), otherwise a tag (else `TAG_INVALID`).
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

function shorten(value: string): string {
  return value.length > 300 ? `${value.slice(0, 300)}…` : value;
}
