import type { WebhookActor, WebhookEvent, WebhookEventDetails } from '../event';
import { baseUrl, type RenderContext } from './render-context';

/** The reverse-DNS prefix of Berth's CloudEvents types (`io.berth.artifact.pushed`). */
export const CLOUDEVENTS_TYPE_PREFIX = 'io.berth.';

/** The `data` of a Berth CloudEvent: the event's own fields, in Berth's camelCase. */
export interface CloudEventData {
  readonly project: string;
  readonly repository: string;
  readonly digest: string | null;
  readonly tag: string | null;
  readonly mediaType: string | null;
  readonly size: number | null;
  readonly actor: WebhookActor | null;
  readonly requestId: string | null;
  readonly details?: WebhookEventDetails;
}

/** A CloudEvents 1.0 event in the structured JSON format. */
export interface CloudEvent {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly subject: string;
  readonly time: string;
  readonly datacontenttype: 'application/json';
  readonly data: CloudEventData;
}

/**
 * Renders an event as a CloudEvents 1.0 structured JSON event. `id` is the event's id, so every
 * delivery of one event (to any subscription, on any retry) carries the same `source` + `id`, which
 * the spec lets consumers treat as duplicates. `source` is the event's project under the
 * registry's URL (`https://registry.example.com/projects/team`); `subject` is the repository and the
 * reference the event concerns: `team/app:v1` for tag events, `team/app@sha256:…` when a digest
 * is known, else `team/app`.
 */
export function toCloudEvent(event: WebhookEvent, context: RenderContext): CloudEvent {
  return {
    specversion: '1.0',
    id: event.id,
    source: `${baseUrl(context)}/projects/${event.project}`,
    type: `${CLOUDEVENTS_TYPE_PREFIX}${event.type}`,
    subject: subject(event),
    time: event.occurredAt,
    datacontenttype: 'application/json',
    data: {
      project: event.project,
      repository: event.repository,
      digest: event.digest,
      tag: event.tag,
      mediaType: event.mediaType,
      size: event.size,
      actor: event.actor,
      requestId: event.requestId,
      details: event.details,
    },
  };
}

function subject(event: WebhookEvent): string {
  const byTag = event.type === 'tag.created' || event.type === 'tag.deleted' || event.digest === null;
  if (byTag && event.tag !== null) return `${event.repository}:${event.tag}`;
  if (event.digest !== null) return `${event.repository}@${event.digest}`;
  return event.repository;
}
