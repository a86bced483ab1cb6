import { classifyAttempt, nextAttemptAt, sign, type BackoffOptions } from '@berth/webhooks-core';
import type { Logger } from 'pino';
import type { AttemptRecord, ClaimedDelivery, DeliveryRepository, EndedBatch } from './delivery.repository';
import { toAttemptOutcome, type SendResult, type WebhookSender } from './delivery/webhook-sender';
import type { SubscriptionRepository } from './subscription.repository';

/** How the dispatcher paces itself. */
export interface DispatcherOptions {
  /** Attempts in flight at once, each to a different subscription. */
  readonly concurrency: number;
  /** How long after its event a delivery is given up (the retry window). */
  readonly retryWindowMs: number;
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
  readonly backoff?: BackoffOptions;
}

/**
 * Sends deliveries from the database. Each pass is one statement: it records the batches that
 * ended since the last pass, whatever their subscriptions, and claims the heads of the
 * subscriptions' queues that are due (never one of a subscription with an attempt in flight
 * here, so a subscription sends one delivery at a time, in order). Batches are sent in parallel
 * up to `concurrency`: a slow or hanging target holds one slot for at most the send timeout, and
 * the others keep flowing. A batch that ends wakes the dispatcher, so that the next pass records
 * it and claims what follows. Until it is recorded, its subscription stays leased to this
 * instance: an instance that dies between sending and recording leaves the batch to be sent again,
 * each delivery under the same `webhook-id`, once the lease runs out.
 */
export class Dispatcher {
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Batches sent, to be recorded by the next pass, with why their subscription is to be disabled. */
  private readonly ended = new Map<string, EndedBatch & { readonly disable: string | null }>();
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
    private readonly sender: WebhookSender,
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
   * Passes now (new deliveries were created, or a batch ended), or once the pass interval is over
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
    await this.passing;
    await Promise.allSettled(this.inFlight.values());
    // Records what the last attempts did; a pass of a stopped dispatcher claims nothing.
    if (this.ended.size > 0)
      await this.pass().catch((error: unknown) => {
        this.logger.error({ err: error }, 'webhook attempts could not be recorded on stop');
      });
    this.sender.close();
  }

  private async pass(): Promise<void> {
    const ended = [...this.ended.values()];
    this.ended.clear();
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
      );
    } catch (error) {
      // Recorded by the next pass: the deliveries stay leased to this instance meanwhile.
      for (const batch of ended) this.ended.set(batch.subscriptionId, batch);
      throw error;
    }
    this.lastPassClaimed = claimed.length;
    for (const batch of disabling) await this.disable(batch.subscriptionId, batch.disable ?? '');
    const batches = new Map<string, ClaimedDelivery[]>();
    for (const delivery of claimed) {
      const batch = batches.get(delivery.subscriptionId) ?? [];
      batch.push(delivery);
      batches.set(delivery.subscriptionId, batch);
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
   * Sends one subscription's batch in order, and stops at the first delivery that is not
   * delivered: the ones after it wait for it, in order. Says what to record.
   */
  private async send(
    subscriptionId: string,
    batch: readonly ClaimedDelivery[],
  ): Promise<EndedBatch & { readonly disable: string | null }> {
    const attempts: AttemptRecord[] = [];
    let disable: string | null = null;
    for (const delivery of batch) {
      const outcome = await this.attempt(delivery);
      attempts.push(outcome.record);
      if (outcome.disable !== null) disable = outcome.disable;
      if (outcome.record.next.status !== 'delivered') break;
    }
    return { subscriptionId, attempts, disable };
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

  /** Makes one attempt; says what to record, and whether the receiver asked to be disabled. */
  private async attempt(
    delivery: ClaimedDelivery,
  ): Promise<{ record: AttemptRecord; disable: string | null }> {
    const target = this.subscriptions.openTarget(delivery.target);
    const started = new Date();
    const result = await this.sender.send({
      url: target.url,
      headers: {
        ...target.headers,
        'content-type': delivery.contentType,
        ...sign({
          id: delivery.id,
          timestamp: Math.floor(started.getTime() / 1000),
          body: delivery.body,
          secrets: target.secrets,
        }),
      },
      body: delivery.body,
    });
    const at = new Date();
    const attempt = delivery.attempts + 1;
    const base = {
      deliveryId: delivery.id,
      attempt,
      at,
      responseCode: result.kind === 'response' ? result.status : null,
      latencyMs: 'latencyMs' in result ? result.latencyMs : null,
    };
    if (result.kind === 'refused')
      // The target is not allowed (e.g. it resolves to a metadata address): retrying changes nothing.
      return {
        record: { ...base, succeeded: false, error: result.message, next: { status: 'failed' } },
        disable: null,
      };
    const verdict = classifyAttempt(toAttemptOutcome(result), at);
    switch (verdict.action) {
      case 'delivered':
        return {
          record: { ...base, succeeded: true, error: null, next: { status: 'delivered' } },
          disable: null,
        };
      case 'disable':
        return {
          record: { ...base, succeeded: false, error: verdict.reason, next: { status: 'failed' } },
          disable: verdict.reason,
        };
      case 'retry': {
        const next = nextAttemptAt({
          ...this.options.backoff,
          attempt,
          firstAttemptAt: new Date(delivery.giveUpAt.getTime() - this.options.retryWindowMs),
          now: at,
          retryAfterMs: verdict.retryAfterMs,
          retryWindowMs: this.options.retryWindowMs,
        });
        return {
          record: {
            ...base,
            succeeded: false,
            error: describe(result, verdict.reason),
            next: next === null ? { status: 'failed' } : { status: 'pending', at: next },
          },
          disable: null,
        };
      }
    }
  }
}

/** The delivery log's error of a failed attempt: the reason, and what the receiver said. */
function describe(result: SendResult, reason: string): string {
  return result.kind === 'response' && result.responseSnippet !== ''
    ? `${reason}: ${result.responseSnippet.slice(0, 500)}`
    : reason;
}
