import type { Bus } from '@berth/bus';
import {
  formatSupports,
  matchesSubscription,
  render,
  type RenderContext,
  type WebhookEvent,
} from '@berth/webhooks-core';
import type { DeliveryRepository, NewDelivery } from './delivery.repository';
import { WEBHOOK_SOURCES } from './event-mapper';
import type { SubscriptionMatcher, SubscriptionRepository } from './subscription.repository';

/**
 * How long routing trusts what it read of a project's subscriptions. Changes made through this
 * instance apply at once; those made through another instance of the service within this time.
 */
export const MATCHERS_TTL_MS = 2_000;

/** The durable consumer name of the webhooks service: its instances share the events. */
export const WEBHOOKS_CONSUMER = 'webhooks';

/**
 * The webhooks service's durable consumer: turns each registry event into one delivery per
 * enabled subscription of its project that matches it, rendered in the subscription's format,
 * and acknowledges the events only once the deliveries are stored. An event seen twice creates
 * nothing new (a delivery is unique per subscription and event).
 */
export class EventRouter {
  private readonly matchers = new Map<
    string,
    { readonly until: number; readonly list: SubscriptionMatcher[] }
  >();
  /** Where routed deliveries go: the repository, until a dispatcher takes them ({@link EventRouter.storeThrough}). */
  private store: (deliveries: readonly NewDelivery[]) => Promise<void> = async (deliveries) => {
    await this.deliveries.createMany(deliveries);
  };

  constructor(
    private readonly subscriptions: SubscriptionRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly context: RenderContext,
    private readonly retryWindowMs: number,
  ) {}

  /**
   * Hands routed deliveries to `store` rather than to the repository: the dispatcher, which stores
   * them with its next pass and claims them in the same statement (ADR 0012).
   */
  storeThrough(store: (deliveries: readonly NewDelivery[]) => Promise<void>): void {
    this.store = store;
  }

  /**
   * Forgets what it knew of a project's subscriptions (they changed here). Other instances of the
   * service notice a change within {@link MATCHERS_TTL_MS}.
   */
  forget(project?: string): void {
    if (project === undefined) this.matchers.clear();
    else this.matchers.delete(project);
  }

  /** Consumes the registry's events, as many at once as the bus hands over: one insert for them all. */
  async start(bus: Bus): Promise<void> {
    const sources = new Map(WEBHOOK_SOURCES.map((source) => [source.contract.subject, source]));
    await bus.subscribeBatch(
      WEBHOOK_SOURCES.map((source) => source.contract),
      { durable: WEBHOOKS_CONSUMER },
      async (events) => {
        await this.route(
          events.flatMap(
            ({ contract, payload }) => sources.get(contract.subject)?.toWebhookEvents(payload) ?? [],
          ),
        );
      },
    );
  }

  /**
   * Stores the deliveries of some events; resolves once they are stored (an event seen twice
   * creates nothing new).
   */
  async route(events: readonly WebhookEvent[]): Promise<void> {
    if (events.length === 0) return;
    const subscriptions = await this.matchersOf([...new Set(events.map((event) => event.project))]);
    if (subscriptions.length === 0) return;
    const giveUpAt = new Date(Date.now() + this.retryWindowMs);
    const deliveries: NewDelivery[] = [];
    for (const event of events) {
      for (const subscription of subscriptions) {
        if (subscription.project !== event.project) continue;
        const filter = {
          events: subscription.events,
          ...(subscription.repositories !== null && { repositories: subscription.repositories }),
          ...(subscription.tags !== null && { tags: subscription.tags }),
        };
        if (!formatSupports(subscription.format, event.type) || !matchesSubscription(event, filter)) continue;
        const { contentType, body } = render(event, subscription.format, this.context);
        deliveries.push({
          subscriptionId: subscription.id,
          eventId: event.id,
          eventType: event.type,
          contentType,
          body,
          occurredAt: new Date(event.occurredAt),
          giveUpAt,
        });
      }
    }
    await this.store(deliveries);
  }

  /** The enabled subscriptions of some projects, from memory when known for long enough. */
  private async matchersOf(projects: readonly string[]): Promise<SubscriptionMatcher[]> {
    const now = Date.now();
    const missing = projects.filter((project) => (this.matchers.get(project)?.until ?? 0) <= now);
    if (missing.length > 0) {
      const loaded = await this.subscriptions.matchersIn(missing);
      for (const project of missing)
        this.matchers.set(project, {
          until: now + MATCHERS_TTL_MS,
          list: loaded.filter((matcher) => matcher.project === project),
        });
    }
    return projects.flatMap((project) => this.matchers.get(project)?.list ?? []);
  }
}
