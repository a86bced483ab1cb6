import type { Logger } from 'pino';
import type { ClaimedDelivery, DeliveryRepository, EndedBatch, NewDelivery } from './delivery.repository';
import type { BatchSending } from './delivery/batch-sender';
import type { SubscriptionRepository } from './subscription.repository';

/** How the dispatcher paces itself. */
export interface DispatcherOptions {
  /** Attempts in flight at once, each to a different subscription. */
  readonly concurrency: number;
  /** The longest an attempt can take (the send timeout). */
  readonly timeoutMs: number;
  /** How long a claim outlives the attempts it covers, so that only a dead instance's claims expire. */
  readonly leaseMarginMs: number;
  /** How many deliveries of one subscription are claimed, sent in order, and recorded at once. */
  readonly batch: number;
  /** How often it looks for due deliveries when nothing woke it. */
  readonly pollMs: number;
  /**
   * The least time between two passes. Under load, the deliveries created and the batches ended
   * meanwhile gather into one pass, one statement, and larger batches; an idle dispatcher still
   * passes at once when woken.
   */
  readonly passIntervalMs: number;
}

/** Deliveries the router handed over, to be stored by the next pass, and who waits for that. */
interface Storing {
  readonly deliveries: readonly NewDelivery[];
  readonly stored: () => void;
  readonly failed: (error: unknown) => void;
}

/**
 * Sends deliveries from the database. Each pass is one statement: it stores the deliveries routed
 * since the last pass (ADR 0012), records the batches that ended since then, whatever their
 * subscriptions, and claims the heads of the subscriptions' queues that are due (never one of a
 * subscription with an attempt in flight here, so a subscription sends one delivery at a time, in
 * order). Batches are sent in parallel up to `concurrency`: a slow or hanging target holds one
 * slot for at most the send timeout, and the others keep flowing. A batch that ends wakes the
 * dispatcher, so that the next pass records it and claims what follows. Until it is recorded, its
 * subscription stays leased to this instance: an instance that dies between sending and recording
 * leaves the batch to be sent again, each delivery under the same `webhook-id`, once the lease
 * runs out. The sending itself (signing, HTTP, classifying each attempt) is `sending`'s, on a
 * thread of its own (ADR 0011); a batch whose sending broke is not recorded, and so goes out
 * again the same way.
 */
export class Dispatcher {
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Batches sent, to be recorded by the next pass, with why their subscription is to be disabled. */
  private readonly ended = new Map<string, EndedBatch & { readonly disable: string | null }>();
  /** Deliveries routed since the last pass began, for the next pass to store. */
  private storing: Storing[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** A pass put off until the pass interval is over. */
  private deferred: NodeJS.Timeout | undefined;
  private lastPassAt = 0;
  /** How many deliveries the last pass claimed. */
  private lastPassClaimed = 0;
  private passing: Promise<void> | null = null;
  private again = false;
  private stopped = true;

  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly subscriptions: SubscriptionRepository,
    private readonly sending: BatchSending,
    private readonly options: DispatcherOptions,
    private readonly logger: Logger,
    /** Told when a receiver's 410 disabled a subscription (the router forgets it). */
    private readonly onDisabled: (subscriptionId: string) => void = () => undefined,
  ) {}

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => {
      this.nudge();
    }, this.options.pollMs);
    this.timer.unref();
    this.nudge();
  }

  /**
   * Stores deliveries: with the next pass, which also claims them if they are due, or at once
   * through the repository while the dispatcher is not running. Resolves once they are stored
   * (the ones that already existed skipped), and rejects if the pass failed: nothing of it was
   * then written, and the caller (the router) has its events handed over again.
   */
  store(deliveries: readonly NewDelivery[]): Promise<void> {
    if (deliveries.length === 0) return Promise.resolve();
    if (this.stopped) return this.deliveries.createMany(deliveries).then(() => undefined);
    return new Promise<void>((stored, failed) => {
      this.storing.push({ deliveries, stored, failed });
      this.nudge();
    });
  }

  /**
   * Passes now (deliveries were routed, or a batch ended), or once the pass interval is over
   * if the dispatcher is busy: it has batches in flight, or its last pass claimed some. An idle
   * one passes at once, even if its last pass (which only recorded) was a moment ago.
   */
  nudge(): void {
    if (this.stopped) return;
    if (this.passing) {
      this.again = true;
      return;
    }
    const busy = this.inFlight.size > 0 || this.lastPassClaimed > 0;
    const wait = busy ? this.lastPassAt + this.options.passIntervalMs - Date.now() : 0;
    if (wait > 0) {
      this.deferred ??= setTimeout(() => {
        this.deferred = undefined;
        this.nudge();
      }, wait);
      return;
    }
    clearTimeout(this.deferred);
    this.deferred = undefined;
    this.lastPassAt = Date.now();
    this.passing = this.pass()
      .catch((error: unknown) => {
        this.logger.error({ err: error }, 'webhook dispatch pass failed');
      })
      .finally(() => {
        this.passing = null;
        if (this.again) {
          this.again = false;
          this.nudge();
        }
      });
  }

  /** Stops claiming, and waits for the attempts in flight (each ends within the send timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.deferred);
    // Forgotten too, so that a dispatcher started again schedules its deferred passes afresh.
    this.deferred = undefined;
    await this.passing;
    await Promise.allSettled(this.inFlight.values());
    // Stores what was routed and records what the last attempts did; a stopped dispatcher's pass
    // claims nothing.
    if (this.ended.size > 0 || this.storing.length > 0)
      await this.pass().catch((error: unknown) => {
        this.logger.error({ err: error }, 'webhook attempts could not be recorded on stop');
      });
    await this.sending.close();
  }

  private async pass(): Promise<void> {
    const ended = [...this.ended.values()];
    this.ended.clear();
    const storing = this.storing;
    this.storing = [];
    // A subscription a receiver disabled is not claimed again before it is disabled.
    const disabling = ended.filter((batch) => batch.disable !== null);
    let claimed: ClaimedDelivery[];
    try {
      claimed = await this.deliveries.cycle(
        ended,
        {
          subscriptions: this.stopped ? 0 : this.options.concurrency - this.inFlight.size,
          batch: this.options.batch,
          attemptMs: this.options.timeoutMs,
          marginMs: this.options.leaseMarginMs,
        },
        new Date(),
        [...this.inFlight.keys(), ...disabling.map((batch) => batch.subscriptionId)],
        storing.flatMap((request) => request.deliveries),
      );
    } catch (error) {
      // Recorded by the next pass: the deliveries stay leased to this instance meanwhile. What
      // was to be stored is handed back to its router, whose events come again.
      for (const batch of ended) this.ended.set(batch.subscriptionId, batch);
      for (const request of storing) request.failed(error);
      throw error;
    }
    for (const request of storing) request.stored();
    this.lastPassClaimed = claimed.length;
    for (const batch of disabling) await this.disable(batch.subscriptionId, batch.disable ?? '');
    const batches = new Map<string, [ClaimedDelivery, ...ClaimedDelivery[]]>();
    for (const delivery of claimed) {
      const batch = batches.get(delivery.subscriptionId);
      if (batch === undefined) batches.set(delivery.subscriptionId, [delivery]);
      else batch.push(delivery);
    }
    for (const [subscriptionId, batch] of batches) {
      const sending = this.send(subscriptionId, batch)
        .then((sent) => {
          this.ended.set(subscriptionId, sent);
        })
        .catch((error: unknown) => {
          this.logger.error({ err: error, subscription: subscriptionId }, 'webhook delivery failed');
        })
        .finally(() => {
          this.inFlight.delete(subscriptionId);
          this.nudge();
        });
      this.inFlight.set(subscriptionId, sending);
    }
  }

  /**
   * Sends one subscription's batch (its target opened once for all of it) and says what to record.
   * The sending stops at the first delivery that is not delivered: the ones after it wait for it.
   */
  private async send(
    subscriptionId: string,
    batch: readonly [ClaimedDelivery, ...ClaimedDelivery[]],
  ): Promise<EndedBatch & { readonly disable: string | null }> {
    const sent = await this.sending.send({
      target: this.subscriptions.openTarget(batch[0].target),
      deliveries: batch.map(({ id, attempts, contentType, body, giveUpAt }) => ({
        id,
        attempts,
        contentType,
        body,
        giveUpAt,
      })),
    });
    return { subscriptionId, ...sent };
  }

  /** Disables a subscription whose receiver asked for it, and fails what it still had to send. */
  private async disable(subscriptionId: string, reason: string): Promise<void> {
    try {
      await this.subscriptions.disable(subscriptionId, reason);
      await this.deliveries.failPending(
        subscriptionId,
        `the subscription was disabled: ${reason}`,
        new Date(),
      );
      this.onDisabled(subscriptionId);
      this.logger.warn({ subscription: subscriptionId, reason }, 'webhook subscription disabled');
    } catch (error) {
      this.logger.error(
        { err: error, subscription: subscriptionId },
        'webhook subscription could not be disabled',
      );
    }
  }
}
