import { Problem } from '@berth/server';
import { generateSecret, type TargetPolicy } from '@berth/webhooks-core';
import type { z } from 'zod';
import type { DeliveryRepository } from '../delivery.repository';
import type { Attempt, Delivery, Subscription } from '../model';
import type { SubscriptionRepository } from '../subscription.repository';
import {
  creation,
  updated,
  type AttemptView,
  type CreateWebhook,
  type CreatedWebhookView,
  type DeliveryQuery,
  type DeliveryDetailView,
  type DeliveryView,
  type RotateWebhookSecret,
  type RotatedSecretView,
  type SubscriptionSettings,
  type SubscriptionView,
  type UpdateWebhook,
} from './dto';

/**
 * The webhook API's use cases, for a caller already known to manage the project's webhooks.
 * A secret is shown once: in the answer that created or rotated it.
 */
export class WebhooksService {
  constructor(
    private readonly subscriptions: SubscriptionRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly policy: TargetPolicy,
    private readonly retryWindowMs: number,
    /** Told when a project's subscriptions or deliveries changed here. */
    private readonly changed: (project: string) => void,
  ) {}

  async create(
    project: string,
    body: z.output<typeof CreateWebhook>,
    actor: string,
  ): Promise<CreatedWebhookView> {
    const input = creation(body, this.policy);
    const secret = input.secret ?? generateSecret();
    const created = await this.subscriptions.create(project, input.name, input, secret, actor);
    if (!created) throw new Problem('conflict', `project "${project}" already has a webhook "${input.name}"`);
    this.changed(project);
    return { ...view(created), secret };
  }

  async list(project: string): Promise<SubscriptionView[]> {
    return (await this.subscriptions.list(project)).map(view);
  }

  async get(project: string, id: string): Promise<SubscriptionView> {
    return view(await this.find(project, id));
  }

  async update(project: string, id: string, body: z.output<typeof UpdateWebhook>): Promise<SubscriptionView> {
    const current = await this.find(project, id);
    const saved = await this.subscriptions.update(
      project,
      id,
      updated(body, settingsOf(current), this.policy),
    );
    if (!saved) throw notFound(id);
    this.changed(project);
    return view(saved);
  }

  async delete(project: string, id: string): Promise<void> {
    if (!(await this.subscriptions.delete(project, id))) throw notFound(id);
    this.changed(project);
  }

  async rotateSecret(
    project: string,
    id: string,
    { secret, overlapSeconds }: z.output<typeof RotateWebhookSecret>,
  ): Promise<RotatedSecretView> {
    const next = secret ?? generateSecret();
    const overlapUntil = new Date(Date.now() + overlapSeconds * 1000);
    if (!(await this.subscriptions.rotateSecret(project, id, next, overlapUntil))) throw notFound(id);
    return { secret: next, previousSecretValidUntil: overlapSeconds > 0 ? overlapUntil.toISOString() : null };
  }

  async deliveriesOf(
    project: string,
    id: string,
    query: z.output<typeof DeliveryQuery>,
  ): Promise<DeliveryView[]> {
    await this.find(project, id);
    const page = await this.deliveries.list(
      id,
      query.status,
      (query.page - 1) * query.pageSize,
      query.pageSize,
    );
    return page.map(deliveryView);
  }

  async delivery(project: string, id: string, deliveryId: string): Promise<DeliveryDetailView> {
    await this.find(project, id);
    const delivery = await this.deliveries.find(id, deliveryId);
    if (!delivery) throw new Problem('not-found', `no delivery "${deliveryId.slice(0, 100)}"`);
    return {
      ...deliveryView(delivery),
      contentType: delivery.contentType,
      body: delivery.body,
      attemptLog: delivery.attemptLog.map(attemptView),
    };
  }

  /** Sends a delivery again, with the same `webhook-id`, whatever its status. */
  async redeliver(project: string, id: string, deliveryId: string): Promise<DeliveryView> {
    await this.find(project, id);
    const now = new Date();
    const delivery = await this.deliveries.redeliver(
      id,
      deliveryId,
      now,
      new Date(now.getTime() + this.retryWindowMs),
    );
    if (!delivery) throw new Problem('not-found', `no delivery "${deliveryId.slice(0, 100)}"`);
    this.changed(project);
    return deliveryView(delivery);
  }

  private async find(project: string, id: string): Promise<Subscription> {
    const subscription = await this.subscriptions.find(project, id);
    if (!subscription) throw notFound(id);
    return subscription;
  }
}

function notFound(id: string): Problem {
  return new Problem('not-found', `no webhook "${id.slice(0, 100)}"`);
}

function settingsOf(subscription: Subscription): SubscriptionSettings {
  return {
    url: subscription.url,
    events: subscription.events,
    format: subscription.format,
    headers: subscription.headers,
    repositories: subscription.repositories,
    tags: subscription.tags,
    enabled: subscription.enabled,
  };
}

function view(subscription: Subscription): SubscriptionView {
  return {
    id: subscription.id,
    project: subscription.project,
    name: subscription.name,
    url: subscription.url,
    events: subscription.events,
    format: subscription.format,
    repositories: subscription.repositories,
    tags: subscription.tags,
    headers: Object.keys(subscription.headers ?? {}),
    enabled: subscription.enabled,
    disabledReason: subscription.disabledReason,
    failing:
      subscription.failingSince === null
        ? null
        : {
            since: subscription.failingSince.toISOString(),
            consecutiveFailures: subscription.consecutiveFailures,
          },
    createdBy: subscription.createdBy,
    createdAt: subscription.createdAt.toISOString(),
    updatedAt: subscription.updatedAt.toISOString(),
  };
}

function deliveryView(delivery: Delivery): DeliveryView {
  return {
    id: delivery.id,
    eventId: delivery.eventId,
    eventType: delivery.eventType,
    status: delivery.status,
    attempts: delivery.attempts,
    lastResponseCode: delivery.lastResponseCode,
    lastError: delivery.lastError,
    lastLatencyMs: delivery.lastLatencyMs,
    occurredAt: delivery.occurredAt.toISOString(),
    createdAt: delivery.createdAt.toISOString(),
    nextAttemptAt: delivery.status === 'pending' ? delivery.nextAttemptAt.toISOString() : null,
    deliveredAt: delivery.deliveredAt?.toISOString() ?? null,
  };
}

function attemptView(attempt: Attempt): AttemptView {
  return {
    attempt: attempt.attempt,
    at: attempt.at.toISOString(),
    responseCode: attempt.responseCode,
    error: attempt.error,
    latencyMs: attempt.latencyMs,
  };
}
