import { Problem, type ViewOf } from '@berth/server';
import {
  FilterError,
  MAX_GLOBS,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_FORMATS,
  WebhookSecretError,
  checkTargetUrl,
  formatSupports,
  parseEventTypes,
  parseGlobs,
  parseSecret,
  type TargetPolicy,
  type WebhookEventType,
  type WebhookFormat,
} from '@berth/webhooks-core';
import { z } from 'zod';

/** Header names a subscription may not set: the transport's, and the signature's. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-type',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'user-agent',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
// Visible ASCII and spaces only: no CR or LF that would split a header.
const HEADER_VALUE = /^[\x20-\x7e]{0,4096}$/;

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits and ._- only, at most 64 characters');
const headers = z
  .record(z.string(), z.string())
  .refine((h) => Object.keys(h).length <= 20, 'at most 20 headers')
  .superRefine((h, context) => {
    for (const [key, value] of Object.entries(h)) {
      if (!HEADER_NAME.test(key))
        context.addIssue({ code: 'custom', message: `"${key.slice(0, 64)}" is not a header name` });
      else if (RESERVED_HEADERS.has(key.toLowerCase()))
        context.addIssue({ code: 'custom', message: `"${key}" is set by Berth and cannot be overridden` });
      if (!HEADER_VALUE.test(value))
        context.addIssue({
          code: 'custom',
          message: `the value of "${key}" has characters a header cannot carry`,
        });
    }
  })
  .meta({ description: 'Extra headers of every delivery (at most 20); stored encrypted, never shown again' });

const events = z
  .array(
    z.enum(WEBHOOK_EVENT_TYPES, {
      error: `not an event type; valid types are: ${WEBHOOK_EVENT_TYPES.join(', ')}`,
    }),
  )
  .min(1, 'events must name at least one event type')
  // Duplicates dropped, the first occurrence keeping its place.
  .transform((types) => parseEventTypes(types));

const format = z
  .enum(WEBHOOK_FORMATS, { error: `format must be one of: ${WEBHOOK_FORMATS.join(', ')}` })
  .meta({ description: "The payload: Harbor's JSON (`default`), CloudEvents, or Distribution's envelope" });

/** A `repositories` or `tags` filter: globs in which `*` stands for any characters. */
const globs = (field: 'repositories' | 'tags') =>
  z
    .array(z.string())
    .max(MAX_GLOBS)
    .transform((value, context) => {
      try {
        return parseGlobs(field, value) ?? [];
      } catch (error) {
        if (!(error instanceof FilterError)) throw error;
        context.addIssue({ code: 'custom', message: error.message });
        return z.NEVER;
      }
    })
    .meta({
      description:
        field === 'repositories'
          ? 'Only events of repositories that match one of these globs (`team/*`); none means all'
          : 'Only events of tags that match one of these globs (`v*`); none means all',
    });

const secret = z
  .string()
  .superRefine((value, context) => {
    try {
      parseSecret(value);
    } catch (error) {
      if (!(error instanceof WebhookSecretError)) throw error;
      context.addIssue({ code: 'custom', message: error.message });
    }
  })
  .meta({ description: 'A Standard Webhooks secret, `whsec_` and the base64 of 24 to 64 bytes' });

/** The body of `POST …/webhooks`. */
export const CreateWebhook = z
  .strictObject({
    name,
    url: z.string().meta({ description: 'http or https, no credentials, not a private address' }),
    events,
    format: format.optional(),
    secret: secret.optional().meta({ description: 'Generated when left out' }),
    headers: headers.optional(),
    repositories: globs('repositories').optional(),
    tags: globs('tags').optional(),
    enabled: z.boolean().optional(),
  })
  .meta({ id: 'CreateWebhook' });

/** The body of `PATCH …/webhooks/{id}`: what it names changes, the rest stays. */
export const UpdateWebhook = z
  .strictObject({
    url: z.string().optional(),
    events: events.optional(),
    format: format.optional(),
    headers: headers.nullable().optional(),
    repositories: globs('repositories').optional(),
    tags: globs('tags').optional(),
    enabled: z.boolean().optional(),
  })
  .meta({ id: 'UpdateWebhook' });

/** The body of `POST …/webhooks/{id}/secret`, which may be left out. */
export const RotateWebhookSecret = z
  .strictObject({
    secret: secret.optional().meta({ description: 'Generated when left out' }),
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600)
      .default(24 * 3600)
      .meta({ description: 'How long deliveries are signed with the old secret too' }),
  })
  .prefault({})
  .meta({ id: 'RotateWebhookSecret' });

/** Query of the delivery list. */
export const DeliveryQuery = z.object({
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(100).default(25),
});

/** The path parameters of a project's webhooks. */
export const ProjectPath = z.object({ project: z.string() });
/** The path parameters of one webhook. */
export const WebhookPath = ProjectPath.extend({ id: z.string() });
/** The path parameters of one delivery. */
export const DeliveryPath = WebhookPath.extend({ deliveryId: z.string() });

/** A moment, as every answer writes it (`Date.toISOString`). */
const instant = z.string().meta({ format: 'date-time' });

/** A subscription as the API shows it: never its secret, and only the names of its headers. */
export const WebhookResponse = z
  .object({
    id: z.string(),
    project: z.string(),
    name: z.string(),
    url: z.string(),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
    format: z.enum(WEBHOOK_FORMATS),
    repositories: z.array(z.string()).nullable(),
    tags: z.array(z.string()).nullable(),
    headers: z.array(z.string()).meta({ description: 'The names of its extra headers' }),
    enabled: z.boolean(),
    disabledReason: z.string().nullable(),
    failing: z.object({ since: instant, consecutiveFailures: z.number().int() }).nullable().meta({
      description: 'Set while its target keeps failing: since when, and how many attempts in a row',
    }),
    createdBy: z.string(),
    createdAt: instant,
    updatedAt: instant,
  })
  .meta({ id: 'Webhook' });

/** A new subscription, with its secret: the one answer that shows it. */
export const CreatedWebhookResponse = WebhookResponse.extend({ secret: z.string() }).meta({
  id: 'CreatedWebhook',
});

/** A rotated secret: the one answer that shows it. */
export const RotatedSecretResponse = z
  .object({
    secret: z.string(),
    previousSecretValidUntil: instant
      .nullable()
      .meta({ description: 'Until when the old secret signs deliveries too; null without overlap' }),
  })
  .meta({ id: 'RotatedSecret' });

/** A delivery as the API shows it. */
export const DeliveryResponse = z
  .object({
    id: z.string().meta({ description: 'Also the `webhook-id` of every attempt' }),
    eventId: z.string(),
    eventType: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    lastResponseCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    lastLatencyMs: z.number().int().nullable(),
    occurredAt: instant,
    createdAt: instant,
    nextAttemptAt: instant.nullable(),
    deliveredAt: instant.nullable(),
  })
  .meta({ id: 'Delivery' });

/** One attempt of a delivery. */
export const AttemptResponse = z
  .object({
    attempt: z.number().int(),
    at: instant,
    responseCode: z.number().int().nullable(),
    error: z.string().nullable(),
    latencyMs: z.number().int().nullable(),
  })
  .meta({ id: 'DeliveryAttempt' });

/** A delivery with what it sends and every attempt. */
export const DeliveryDetailResponse = DeliveryResponse.extend({
  contentType: z.string(),
  body: z.string(),
  attemptLog: z.array(AttemptResponse),
}).meta({ id: 'DeliveryDetail' });

/** A subscription as the API shows it. */
export type SubscriptionView = ViewOf<typeof WebhookResponse>;
/** A delivery as the API shows it. */
export type DeliveryView = ViewOf<typeof DeliveryResponse>;
/** One attempt as the API shows it. */
export type AttemptView = ViewOf<typeof AttemptResponse>;
/** A new subscription as the API shows it, with its secret. */
export type CreatedWebhookView = ViewOf<typeof CreatedWebhookResponse>;
/** A rotated secret as the API shows it. */
export type RotatedSecretView = ViewOf<typeof RotatedSecretResponse>;
/** A delivery with its body and attempts, as the API shows it. */
export type DeliveryDetailView = ViewOf<typeof DeliveryDetailResponse>;

/** What a subscription matches and where it sends, validated. */
export interface SubscriptionSettings {
  readonly url: string;
  readonly events: WebhookEventType[];
  readonly format: WebhookFormat;
  readonly headers: Record<string, string> | null;
  readonly repositories: string[] | null;
  readonly tags: string[] | null;
  readonly enabled: boolean;
}

/** A new subscription. */
export interface CreateSubscription extends SubscriptionSettings {
  readonly name: string;
  /** Given by the caller, or null to have one generated. */
  readonly secret: string | null;
}

/**
 * The settings of a new subscription, from a body that {@link CreateWebhook} validated: the
 * target must pass the policy, and the format must carry every event asked for.
 */
export function creation(input: z.output<typeof CreateWebhook>, policy: TargetPolicy): CreateSubscription {
  const format = input.format ?? 'default';
  return {
    name: input.name,
    url: targetUrl(input.url, policy),
    events: supported(input.events, format),
    format,
    headers: input.headers ?? null,
    repositories: input.repositories ?? null,
    tags: input.tags ?? null,
    enabled: input.enabled ?? true,
    secret: input.secret ?? null,
  };
}

/** A subscription's settings after a change that {@link UpdateWebhook} validated. */
export function updated(
  input: z.output<typeof UpdateWebhook>,
  current: SubscriptionSettings,
  policy: TargetPolicy,
): SubscriptionSettings {
  const format = input.format ?? current.format;
  return {
    url: input.url === undefined ? current.url : targetUrl(input.url, policy),
    events: supported(input.events ?? current.events, format),
    format,
    headers: input.headers === undefined ? current.headers : input.headers,
    repositories: input.repositories === undefined ? current.repositories : input.repositories,
    tags: input.tags === undefined ? current.tags : input.tags,
    enabled: input.enabled ?? current.enabled,
  };
}

function targetUrl(url: string, policy: TargetPolicy): string {
  const checked = checkTargetUrl(url, policy);
  if (!checked.ok) throw new Problem('bad-request', `url: ${checked.message}`, { reason: checked.reason });
  return checked.url.href;
}

function supported(events: WebhookEventType[], format: WebhookFormat): WebhookEventType[] {
  const unsupported = events.filter((type) => !formatSupports(format, type));
  if (unsupported.length > 0)
    throw new Problem('bad-request', `the ${format} format cannot carry ${unsupported.join(', ')}`);
  return events;
}
