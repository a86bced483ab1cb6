import type { WebhookEvent, WebhookEventType } from '../event';
import { toCloudEvent } from './cloudevents';
import { DISTRIBUTION_ACTIONS, DISTRIBUTION_EVENTS_MEDIA_TYPE, toDistributionEnvelope } from './distribution';
import { toHarborPayload } from './harbor';
import type { RenderContext } from './render-context';

/**
 * The payload formats a subscription can choose: `default` is Harbor's webhook JSON,
 * `cloudevents` is CloudEvents 1.0 structured JSON, `distribution` is Distribution's
 * notification envelope.
 */
export const WEBHOOK_FORMATS = ['default', 'cloudevents', 'distribution'] as const;

/** One payload format. */
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** A rendered payload: the body to sign and send, and its `Content-Type`. */
export interface RenderedPayload {
  readonly contentType: string;
  readonly body: string;
}

/** The `format` field of a subscription is not a known format. */
export class WebhookFormatError extends Error {
  override readonly name = 'WebhookFormatError';
}

/** The format cannot express this kind of event (see {@link formatSupports}). */
export class UnsupportedEventError extends Error {
  override readonly name = 'UnsupportedEventError';
  constructor(
    readonly format: WebhookFormat,
    readonly eventType: WebhookEventType,
  ) {
    super(`the ${format} format has no way to express ${eventType} events`);
  }
}

/** Parses the `format` field of a subscription; a missing one means `default`. */
export function parseWebhookFormat(value: unknown): WebhookFormat {
  if (value === undefined) return 'default';
  if (typeof value === 'string' && (WEBHOOK_FORMATS as readonly string[]).includes(value)) {
    return value as WebhookFormat;
  }
  throw new WebhookFormatError(`format must be one of: ${WEBHOOK_FORMATS.join(', ')}`);
}

/**
 * Whether a format can express an event type. Harbor's JSON and CloudEvents express them all;
 * Distribution's envelope only pushes, pulls and deletions (of artifacts, tags and repositories).
 * The API refuses a subscription that asks for an event its format cannot express.
 */
export function formatSupports(format: WebhookFormat, type: WebhookEventType): boolean {
  switch (format) {
    case 'default':
    case 'cloudevents':
      return true;
    case 'distribution':
      return DISTRIBUTION_ACTIONS[type] !== undefined;
  }
}

/**
 * Renders an event in a subscription's format. The body is compact JSON, rendered once per
 * delivery and then sent (and signed) byte for byte on every attempt. Throws an
 * {@link UnsupportedEventError} for an event the format cannot express.
 */
export function render(event: WebhookEvent, format: WebhookFormat, context: RenderContext): RenderedPayload {
  switch (format) {
    case 'default':
      return { contentType: 'application/json', body: JSON.stringify(toHarborPayload(event, context)) };
    case 'cloudevents':
      return {
        contentType: 'application/cloudevents+json',
        body: JSON.stringify(toCloudEvent(event, context)),
      };
    case 'distribution': {
      const envelope = toDistributionEnvelope(event, context);
      if (envelope === null) throw new UnsupportedEventError(format, event.type);
      return { contentType: DISTRIBUTION_EVENTS_MEDIA_TYPE, body: JSON.stringify(envelope) };
    }
  }
}
