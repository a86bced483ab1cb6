import { matchesGlob } from '@berth/naming';
import type { WebhookEvent, WebhookEventType } from './event';

/**
 * What a subscription wants to hear about. Globs use the same grammar as robot permissions:
 * `*` matches within one path segment, `**` across segments, every other character stands for
 * itself. Repository globs match the full repository name, project prefix included
 * (`team/app/*`, `team/**`), so a glob reads exactly like the names users push to. An absent or
 * empty list does not filter.
 */
export interface SubscriptionFilter {
  readonly events: readonly WebhookEventType[];
  readonly repositories?: readonly string[];
  readonly tags?: readonly string[];
}

/**
 * Whether an event is one a subscription wants: its type is subscribed, its repository matches
 * one of the repository globs, and its tag matches one of the tag globs. When tag globs are set,
 * an event without a tag (a push by digest, a repository event, most quota events) does not match:
 * a tag filter asks for tags, and there is none to test.
 */
export function matchesSubscription(event: WebhookEvent, filter: SubscriptionFilter): boolean {
  if (!filter.events.includes(event.type)) return false;
  const repositories = filter.repositories ?? [];
  if (repositories.length > 0 && !repositories.some((glob) => matchesGlob(glob, event.repository))) {
    return false;
  }
  const tags = filter.tags ?? [];
  if (tags.length > 0) {
    const tag = event.tag;
    if (tag === null || !tags.some((glob) => matchesGlob(glob, tag))) return false;
  }
  return true;
}

/** A subscription's `repositories` or `tags` field is not a list of valid globs. */
export class FilterError extends Error {
  override readonly name = 'FilterError';
}

/** The most globs one filter may hold. */
export const MAX_GLOBS = 100;

// A repository glob is a repository name in which `*` may stand anywhere; a tag glob is a tag
// (the OCI tag grammar) in which `*` may stand anywhere.
const REPOSITORY_GLOB =
  /^[a-z0-9*]+(?:(?:[._]|__|-+)[a-z0-9*]+)*(?:\/[a-z0-9*]+(?:(?:[._]|__|-+)[a-z0-9*]+)*)*$/;
const TAG_GLOB = /^[A-Za-z0-9_*][A-Za-z0-9._*-]{0,127}$/;

/**
 * Parses a subscription's `repositories` or `tags` field: absent means no filter; otherwise an
 * array of at most {@link MAX_GLOBS} globs, each a repository name (at most 255 characters) or a
 * tag (at most 128) in which `*` may stand for any characters. Duplicates are dropped. Anything
 * else is a {@link FilterError} naming the field and the offending glob.
 */
export function parseGlobs(field: 'repositories' | 'tags', value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new FilterError(`${field} must be an array of globs`);
  if (value.length > MAX_GLOBS) throw new FilterError(`${field} may hold at most ${MAX_GLOBS} globs`);
  const globs = new Set<string>();
  for (const entry of value as readonly unknown[]) {
    if (typeof entry !== 'string') throw new FilterError(`${field} must hold only strings`);
    const valid =
      field === 'repositories' ? entry.length <= 255 && REPOSITORY_GLOB.test(entry) : TAG_GLOB.test(entry);
    if (!valid) {
      const shown = entry.length > 100 ? `${entry.slice(0, 100)}…` : entry;
      throw new FilterError(
        field === 'repositories'
          ? `"${shown}" is not a repository glob: lower-case path segments of a-z 0-9 . _ - and *`
          : `"${shown}" is not a tag glob: up to 128 of A-Z a-z 0-9 . _ - and *, not starting with . or -`,
      );
    }
    globs.add(entry);
  }
  return [...globs];
}
