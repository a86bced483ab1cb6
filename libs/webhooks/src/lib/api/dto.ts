import { Problem } from '@berth/server';
import {
  EventTypeError,
  FilterError,
  WebhookFormatError,
  WebhookSecretError,
  checkTargetUrl,
  formatSupports,
  parseEventTypes,
  parseGlobs,
  parseSecret,
  parseWebhookFormat,
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
  });

const CreateShape = z.strictObject({
  name,
  url: z.string(),
  events: z.unknown(),
  format: z.unknown().optional(),
  secret: z.string().optional(),
  headers: headers.optional(),
  repositories: z.unknown().optional(),
  tags: z.unknown().optional(),
  enabled: z.boolean().optional(),
});

const UpdateShape = z.strictObject({
  url: z.string().optional(),
  events: z.unknown().optional(),
  format: z.unknown().optional(),
  headers: headers.nullable().optional(),
  repositories: z.unknown().optional(),
  tags: z.unknown().optional(),
  enabled: z.boolean().optional(),
});

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

/** Validates the body of `POST …/webhooks`. */
export function parseCreate(body: unknown, policy: TargetPolicy): CreateSubscription {
  const input = CreateShape.parse(body);
  return guarded(() => {
    const format = parseWebhookFormat(input.format);
    const events = parseEventTypes(input.events);
    if (input.secret !== undefined) parseSecret(input.secret);
    return {
      name: input.name,
      url: targetUrl(input.url, policy),
      events: supported(events, format),
      format,
      headers: input.headers ?? null,
      repositories: parseGlobs('repositories', input.repositories) ?? null,
      tags: parseGlobs('tags', input.tags) ?? null,
      enabled: input.enabled ?? true,
      secret: input.secret ?? null,
    };
  });
}

/** Validates the body of `PATCH …/webhooks/{id}` against the subscription as it is. */
export function parseUpdate(
  body: unknown,
  current: SubscriptionSettings,
  policy: TargetPolicy,
): SubscriptionSettings {
  const input = UpdateShape.parse(body);
  return guarded(() => {
    const format = input.format === undefined ? current.format : parseWebhookFormat(input.format);
    const events = input.events === undefined ? current.events : parseEventTypes(input.events);
    return {
      url: input.url === undefined ? current.url : targetUrl(input.url, policy),
      events: supported(events, format),
      format,
      headers: input.headers === undefined ? current.headers : input.headers,
      repositories:
        input.repositories === undefined
          ? current.repositories
          : (parseGlobs('repositories', input.repositories) ?? null),
      tags: input.tags === undefined ? current.tags : (parseGlobs('tags', input.tags) ?? null),
      enabled: input.enabled ?? current.enabled,
    };
  });
}

/** Validates the body of `POST …/webhooks/{id}/secret`. */
export function parseRotation(body: unknown): { secret: string | null; overlapSeconds: number } {
  const input = z
    .strictObject({
      secret: z.string().optional(),
      /** How long deliveries are signed with the old secret too. */
      overlapSeconds: z
        .number()
        .int()
        .min(0)
        .max(7 * 24 * 3600)
        .default(24 * 3600),
    })
    .parse(body ?? {});
  return guarded(() => {
    if (input.secret !== undefined) parseSecret(input.secret);
    return { secret: input.secret ?? null, overlapSeconds: input.overlapSeconds };
  });
}

/** Query of the delivery list. */
export const DeliveryQuery = z.object({
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(100).default(25),
});

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

/** Turns the core's validation errors into 400 problem details. */
function guarded<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (
      error instanceof EventTypeError ||
      error instanceof FilterError ||
      error instanceof WebhookFormatError ||
      error instanceof WebhookSecretError
    )
      throw new Problem('bad-request', error.message);
    throw error;
  }
}
