import type { WebhookEvent, WebhookEventType } from '../event';
import { baseUrl, registryHost, type RenderContext } from './render-context';

/** The media type of Distribution's notification envelope. */
export const DISTRIBUTION_EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v2+json';

/** Distribution's event actions. */
export type DistributionAction = 'push' | 'pull' | 'delete' | 'mount';

/**
 * The Distribution action for each event type it can express; the others have no counterpart
 * there. Distribution reports a tag as a manifest push carrying `target.tag`, so `tag.created`
 * renders as `push`; it reports tag and repository deletions as `delete` with only the tag or
 * only the repository set, as Distribution does.
 */
export const DISTRIBUTION_ACTIONS: Readonly<Partial<Record<WebhookEventType, DistributionAction>>> = {
  'artifact.pushed': 'push',
  'artifact.pulled': 'pull',
  'artifact.deleted': 'delete',
  'tag.created': 'push',
  'tag.deleted': 'delete',
  'repository.deleted': 'delete',
};

/** The HTTP method of the registry request behind each action (events do not record it). */
const METHODS: Readonly<Record<DistributionAction, string>> = {
  push: 'PUT',
  pull: 'GET',
  delete: 'DELETE',
  mount: 'POST',
};

// The shapes below follow `notifications/event.go` of distribution/distribution field for field,
// in the same order; an absent optional field is left out, as Go's `omitempty` does.
interface DistributionTarget {
  readonly mediaType?: string;
  readonly digest?: string;
  readonly size?: number;
  readonly length?: number;
  readonly repository?: string;
  readonly url?: string;
  readonly tag?: string;
}

/** One event of Distribution's notification envelope. */
export interface DistributionEvent {
  readonly id: string;
  readonly timestamp: string;
  readonly action: DistributionAction;
  readonly target: DistributionTarget;
  readonly request: {
    readonly id: string;
    readonly host: string;
    readonly method: string;
    readonly useragent: string;
  };
  readonly actor: { readonly name?: string };
  readonly source: { readonly addr: string; readonly instanceID: string };
}

/** Distribution's notification envelope. */
export interface DistributionEnvelope {
  readonly events: readonly DistributionEvent[];
}

/**
 * Renders an event as Distribution's notification envelope holding that one event, or null when
 * Distribution has no counterpart for the event type. Pushes and pulls describe the manifest
 * (`url` is its `/v2/<name>/manifests/<digest>` address); deletions name only what was deleted,
 * as Distribution's do. The request's method is the one the action implies and its user agent
 * is empty, because Berth's events do not record them.
 */
export function toDistributionEnvelope(
  event: WebhookEvent,
  context: RenderContext,
): DistributionEnvelope | null {
  const action = DISTRIBUTION_ACTIONS[event.type];
  if (action === undefined) return null;
  const host = registryHost(context);
  return {
    events: [
      {
        id: event.id,
        timestamp: event.occurredAt,
        action,
        target: action === 'delete' ? deletedTarget(event) : manifestTarget(event, context),
        request: { id: event.requestId ?? '', host, method: METHODS[action], useragent: '' },
        actor: { name: event.actor?.name },
        source: { addr: context.nodeAddr ?? host, instanceID: context.instanceId },
      },
    ],
  };
}

function manifestTarget(event: WebhookEvent, context: RenderContext): DistributionTarget {
  return {
    mediaType: event.mediaType ?? undefined,
    digest: event.digest ?? undefined,
    size: event.size ?? undefined,
    length: event.size ?? undefined,
    repository: event.repository,
    url:
      event.digest === null
        ? undefined
        : `${baseUrl(context)}/v2/${event.repository}/manifests/${event.digest}`,
    tag: event.tag ?? undefined,
  };
}

function deletedTarget(event: WebhookEvent): DistributionTarget {
  if (event.type === 'tag.deleted') return { repository: event.repository, tag: event.tag ?? undefined };
  if (event.type === 'repository.deleted') return { repository: event.repository };
  return { digest: event.digest ?? undefined, repository: event.repository };
}
