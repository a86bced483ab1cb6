/**
 * Every kind of registry event a webhook can subscribe to, in the management API's spelling
 * (`noun.verb`, as Standard Webhooks recommends). The order is the one the API documents.
 */
export const WEBHOOK_EVENT_TYPES = [
  'artifact.pushed',
  'artifact.pulled',
  'artifact.deleted',
  'tag.created',
  'tag.deleted',
  'repository.created',
  'repository.deleted',
  'quota.warned',
  'quota.exceeded',
  'scan.completed',
  'scan.failed',
  'replication.finished',
] as const;

/** One kind of registry event a webhook can subscribe to. */
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Any value JSON can carry. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | JsonObject;

/** A JSON object. */
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

/** Who caused an event. */
export interface WebhookActor {
  /** The user name, or the robot account's full name (`robot$project+name`). */
  readonly name: string;
  /** What kind of principal acted; `system` for Berth's own jobs (scans, retention, replication). */
  readonly kind?: 'user' | 'robot' | 'system';
}

/**
 * Specifics of scan, quota and replication events. The named keys are the ones the payload
 * formats know how to place (see each format); any other key travels in the CloudEvents `data`
 * untouched and is left out of the Harbor and Distribution shapes.
 */
export interface WebhookEventDetails {
  /** `scan.*`: what was scanned for, as Harbor names it: `vulnerability` or `sbom`. */
  readonly scanType?: string;
  /** `scan.completed`: the findings summary (Harbor's `scan_overview`). */
  readonly summary?: JsonObject;
  /** `quota.*`, `scan.failed`, `replication.finished`: a human-readable explanation. */
  readonly message?: string;
  /** `replication.finished`: the outcome, `succeeded` or `failed`. */
  readonly status?: string;
  /** `replication.finished`: what started the run: `manual`, `event_based` or `scheduled`. */
  readonly trigger?: string;
  /** `replication.finished`: the replication policy's name. */
  readonly policy?: string;
  readonly [key: string]: JsonValue | undefined;
}

/**
 * One registry event as the webhooks service sees it: the unit that subscriptions match and
 * the payload formats render. `id` is unique per event and stays the same on every delivery
 * and redelivery of it, so receivers can use it to drop duplicates.
 */
export interface WebhookEvent {
  readonly id: string;
  readonly type: WebhookEventType;
  /** ISO 8601 time at which the change committed (not the time of delivery). */
  readonly occurredAt: string;
  /** Who caused it; null for anonymous pulls and events without a principal. */
  readonly actor: WebhookActor | null;
  /** The request that caused it, for tracing; null for events raised by background jobs. */
  readonly requestId: string | null;
  /** The project the repository belongs to (its first path segment, or `library`). */
  readonly project: string;
  /** The full repository name, project prefix included (`team/app`). */
  readonly repository: string;
  /** The manifest's digest, when the event concerns one. */
  readonly digest: string | null;
  /** The tag, when the event concerns one (a push by tag, a tag created or deleted). */
  readonly tag: string | null;
  /** The manifest's media type, when known. */
  readonly mediaType: string | null;
  /** The manifest's size in bytes, when known. */
  readonly size: number | null;
  readonly details?: WebhookEventDetails;
}

/** Whether a string names a webhook event type. */
export function isWebhookEventType(value: string): value is WebhookEventType {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);
}

/** The `events` field of a subscription was not a non-empty list of known event types. */
export class EventTypeError extends Error {
  override readonly name = 'EventTypeError';
  constructor(
    message: string,
    /** The first few entries that were not event types, as the message shows them. */
    readonly unknown: readonly string[] = [],
  ) {
    super(message);
  }
}

/**
 * Parses the `events` field of a subscription: a non-empty array of event type names. Duplicates
 * are dropped (the first occurrence keeps its place); anything else is an {@link EventTypeError}
 * whose message lists the valid names.
 */
export function parseEventTypes(value: unknown): WebhookEventType[] {
  if (!Array.isArray(value)) throw new EventTypeError('events must be an array of event type names');
  if (value.length === 0) throw new EventTypeError('events must name at least one event type');
  const unknown: string[] = [];
  const types = new Set<WebhookEventType>();
  for (const entry of value as readonly unknown[]) {
    if (typeof entry === 'string' && isWebhookEventType(entry)) types.add(entry);
    else
      unknown.push(
        typeof entry === 'string'
          ? `"${entry.slice(0, 100)}"`
          : `a ${entry === null ? 'null' : typeof entry}`,
      );
  }
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 5);
    throw new EventTypeError(
      `unknown event type${unknown.length > 1 ? 's' : ''} ${shown.join(', ')}; valid types are: ${WEBHOOK_EVENT_TYPES.join(', ')}`,
      shown,
    );
  }
  return [...types];
}
