import { Problem } from '@berth/server';
import { generateSecret, type TargetPolicy } from '@berth/webhooks-core';
import type { DeliveryRepository } from '../delivery.repository';
import type { Attempt, Delivery, Subscription } from '../model';
import type { SubscriptionRepository } from '../subscription.repository';
import { parseCreate, parseRotation, parseUpdate, type SubscriptionSettings } from './dto';

/** A subscription as the API shows it: never its secret, and only the names of its headers. */
export interface SubscriptionView {
  readonly id: string;
  readonly project: string;
  readonly name: string;
  readonly url: string;
  readonly events: readonly string[];
  readonly format: string;
  readonly repositories: readonly string[] | null;
  readonly tags: readonly string[] | null;
  readonly headers: readonly string[];
  readonly enabled: boolean;
  readonly disabledReason: string | null;
  /** Set while its target keeps failing: since when, and how many attempts in a row. */
  readonly failing: { readonly since: string; readonly consecutiveFailures: number } | null;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A delivery as the API shows it. */
export interface DeliveryView {
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly status: string;
  readonly attempts: number;
  readonly lastResponseCode: number | null;
  readonly lastError: string | null;
  readonly lastLatencyMs: number | null;
  readonly occurredAt: string;
  readonly createdAt: string;
  readonly nextAttemptAt: string | null;
  readonly deliveredAt: string | null;
}

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
    body: unknown,
    actor: string,
  ): Promise<SubscriptionView & { secret: string }> {
    const input = parseCreate(body, this.policy);
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

  async update(project: string, id: string, body: unknown): Promise<SubscriptionView> {
    const current = await this.find(project, id);
    const updated = await this.subscriptions.update(
      project,
      id,
      parseUpdate(body, settingsOf(current), this.policy),
    );
    if (!updated) throw notFound(id);
    this.changed(project);
    return view(updated);
  }

  async delete(project: string, id: string): Promise<void> {
    if (!(await this.subscriptions.delete(project, id))) throw notFound(id);
    this.changed(project);
  }

  async rotateSecret(
    project: string,
    id: string,
    body: unknown,
  ): Promise<{ secret: string; previousSecretValidUntil: string | null }> {
    const { secret, overlapSeconds } = parseRotation(body);
    const next = secret ?? generateSecret();
    const overlapUntil = new Date(Date.now() + overlapSeconds * 1000);
    if (!(await this.subscriptions.rotateSecret(project, id, next, overlapUntil))) throw notFound(id);
    return { secret: next, previousSecretValidUntil: overlapSeconds > 0 ? overlapUntil.toISOString() : null };
  }

  async deliveriesOf(
    project: string,
    id: string,
    query: { status?: 'pending' | 'delivered' | 'failed' | undefined; page: number; pageSize: number },
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

  async delivery(
    project: string,
    id: string,
    deliveryId: string,
  ): Promise<DeliveryView & { body: string; contentType: string; attemptLog: AttemptView[] }> {
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

/** One attempt as the API shows it. */
export interface AttemptView {
  readonly attempt: number;
  readonly at: string;
  readonly responseCode: number | null;
  readonly error: string | null;
  readonly latencyMs: number | null;
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
