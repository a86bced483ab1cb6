import { classifyAttempt, nextAttemptAt, sign, type BackoffOptions } from '@berth/webhooks-core';
import type { AttemptRecord } from '../delivery.repository';
import type { DeliveryTarget } from '../subscription.repository';
import { toAttemptOutcome, type SendResult, type WebhookSender } from './webhook-sender';

/** One delivery of a batch, as much of it as sending needs. */
export interface OutgoingDelivery {
  /** Also its `webhook-id`. */
  readonly id: string;
  /** The attempts made before this one. */
  readonly attempts: number;
  readonly contentType: string;
  readonly body: string;
  readonly giveUpAt: Date;
}

/** A claimed batch of one subscription: its target, opened, and its deliveries in order. */
export interface OutgoingBatch {
  readonly target: DeliveryTarget;
  readonly deliveries: readonly OutgoingDelivery[];
}

/** What became of a batch: its attempts, in order, and why its subscription is to be disabled. */
export interface SentBatch {
  readonly attempts: readonly AttemptRecord[];
  /** The reason a receiver gave for disabling the subscription (it answered 410), or null. */
  readonly disable: string | null;
}

/** Sends batches; the dispatcher's one way out. */
export interface BatchSending {
  /** Sends a batch; rejects only when the sending itself broke (a failed attempt is a record). */
  send(batch: OutgoingBatch): Promise<SentBatch>;
  /** Closes kept-alive connections; waits for nothing in flight. */
  close(): Promise<void>;
}

/** How a {@link BatchSender} plans what follows a failed attempt. */
export interface RetryOptions {
  /** How long after its event a delivery is given up (the retry window). */
  readonly retryWindowMs: number;
  readonly backoff?: BackoffOptions;
}

/**
 * Sends a batch in order, signing each delivery at its attempt, and stops at the first delivery
 * that is not delivered: the ones after it wait for it. Classifies each attempt (delivered, retry
 * at a time with backoff and jitter, failed, or disable) into the record the dispatcher stores.
 * Holds no state but the sender's kept-alive connections, so it runs on whichever thread sends.
 */
export class BatchSender implements BatchSending {
  constructor(
    private readonly sender: WebhookSender,
    private readonly options: RetryOptions,
  ) {}

  async send(batch: OutgoingBatch): Promise<SentBatch> {
    const attempts: AttemptRecord[] = [];
    let disable: string | null = null;
    for (const delivery of batch.deliveries) {
      const outcome = await this.attempt(batch.target, delivery);
      attempts.push(outcome.record);
      if (outcome.disable !== null) disable = outcome.disable;
      if (outcome.record.next.status !== 'delivered') break;
    }
    return { attempts, disable };
  }

  close(): Promise<void> {
    this.sender.close();
    return Promise.resolve();
  }

  /** Makes one attempt; says what to record, and whether the receiver asked to be disabled. */
  private async attempt(
    target: DeliveryTarget,
    delivery: OutgoingDelivery,
  ): Promise<{ record: AttemptRecord; disable: string | null }> {
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
