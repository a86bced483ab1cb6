import type { WebhookEventType, WebhookFormat } from '@berth/webhooks-core';

/** A project's webhook, its secrets opened. */
export interface Subscription {
  readonly id: string;
  readonly project: string;
  readonly name: string;
  readonly url: string;
  readonly events: WebhookEventType[];
  readonly format: WebhookFormat;
  readonly repositories: string[] | null;
  readonly tags: string[] | null;
  readonly headers: Record<string, string> | null;
  /** The current secret first, then the previous one while its overlap lasts. */
  readonly secrets: string[];
  readonly enabled: boolean;
  readonly disabledReason: string | null;
  readonly failingSince: Date | null;
  readonly consecutiveFailures: number;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Where a delivery stands. */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One event for one subscription. */
export interface Delivery {
  /** Also the `webhook-id` of every attempt. */
  readonly id: string;
  readonly subscriptionId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly giveUpAt: Date;
  readonly lastResponseCode: number | null;
  readonly lastError: string | null;
  readonly lastLatencyMs: number | null;
  readonly occurredAt: Date;
  readonly createdAt: Date;
  readonly deliveredAt: Date | null;
}

/** A delivery with what is sent. */
export interface DeliveryWithBody extends Delivery {
  readonly contentType: string;
  readonly body: string;
}

/** One attempt of a delivery. */
export interface Attempt {
  readonly attempt: number;
  readonly at: Date;
  readonly responseCode: number | null;
  readonly error: string | null;
  readonly latencyMs: number | null;
}
