import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '@berth/db';
import type { Attempt, Delivery, DeliveryStatus, DeliveryWithBody } from './model';

interface DeliveryRow {
  id: string;
  subscriptionId: string;
  eventId: string;
  eventType: string;
  contentType: string;
  body: string;
  status: string;
  attempts: number;
  nextAttemptAt: Date;
  giveUpAt: Date;
  lastResponseCode: number | null;
  lastError: string | null;
  lastLatencyMs: number | null;
  occurredAt: Date;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** A delivery to create: one rendered event for one subscription. */
export interface NewDelivery {
  readonly subscriptionId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly contentType: string;
  readonly body: string;
  readonly occurredAt: Date;
  readonly giveUpAt: Date;
}

/** Where a claimed delivery goes, as stored (sealed) on its subscription. */
export interface SealedTarget {
  readonly url: string;
  readonly headersSealed: string | null;
  readonly secretSealed: string;
  readonly previousSecretSealed: string | null;
  readonly previousSecretExpiresAt: Date | null;
}

/** A delivery claimed for an attempt, with its subscription's target as it is now. */
export interface ClaimedDelivery extends DeliveryWithBody {
  readonly target: SealedTarget;
}

/** How an attempt ended, and what comes next. */
export interface AttemptRecord {
  readonly deliveryId: string;
  /** Whether the receiver took it: clears the subscription's failing flag, or counts a failure. */
  readonly succeeded: boolean;
  readonly attempt: number;
  readonly at: Date;
  readonly responseCode: number | null;
  readonly error: string | null;
  readonly latencyMs: number | null;
  /** `pending` with the time of the next attempt, or the final status. */
  readonly next:
    { readonly status: 'pending'; readonly at: Date } | { readonly status: 'delivered' | 'failed' };
}

/**
 * Deliveries and their attempts: the webhooks service's durable queue. A subscription's pending
 * deliveries go out one at a time in the order they were created (`seq`); instances claim the
 * head of each subscription's queue with a lease, so a killed instance's claims run out and
 * another takes them over.
 */
export class DeliveryRepository {
  constructor(private readonly db: PrismaClient) {}

  /**
   * Creates deliveries, skipping any that exists (the same event seen twice), in one raw
   * statement: this runs for every event, on the push path of the all-in-one. Returns how many.
   */
  async createMany(deliveries: readonly NewDelivery[]): Promise<number> {
    if (deliveries.length === 0) return 0;
    const column = <T>(pick: (d: NewDelivery) => T): T[] => deliveries.map(pick);
    return this.db.$executeRaw`
      INSERT INTO webhook_delivery
        (id, subscription_id, event_id, event_type, content_type, body, occurred_at, give_up_at)
      SELECT id, subscription_id, event_id, event_type, content_type, body, occurred_at, give_up_at
      FROM unnest(
        ${column(() => randomUUID())}::text[], ${column((d) => d.subscriptionId)}::text[],
        ${column((d) => d.eventId)}::text[], ${column((d) => d.eventType)}::text[],
        ${column((d) => d.contentType)}::text[], ${column((d) => d.body)}::text[],
        ${column((d) => d.occurredAt.toISOString())}::timestamptz[],
        ${column((d) => d.giveUpAt.toISOString())}::timestamptz[]
      ) WITH ORDINALITY AS t(id, subscription_id, event_id, event_type, content_type, body, occurred_at, give_up_at, n)
      ORDER BY n
      ON CONFLICT (subscription_id, event_id) DO NOTHING`;
  }

  /**
   * Claims the next deliveries of up to `subscriptions` subscriptions whose queue head is due:
   * at most `batch` of each, in `seq` order. None of `busy` (subscriptions with attempts in flight
   * here) is claimed. The n-th delivery of a batch is leased for n × `attemptMs` + `marginMs`,
   * since it is sent after the n − 1 before it: a claim outlives only an instance that died.
   */
  async claim(
    claim: { subscriptions: number; batch: number; attemptMs: number; marginMs: number },
    now: Date,
    busy: readonly string[],
  ): Promise<ClaimedDelivery[]> {
    if (claim.subscriptions <= 0) return [];
    // A function, so that its plan is kept per connection (see the migration that creates it).
    const rows = await this.db.$queryRaw<(DeliveryRow & SealedTarget & { seq: bigint })[]>`
      SELECT * FROM webhook_claim(${[...busy]}::text[], ${now}::timestamptz, ${claim.subscriptions}::int,
        ${claim.batch}::int, ${claim.attemptMs}::int, ${claim.marginMs}::int)`;
    return rows
      .sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0))
      .map((row) => ({
        ...toDeliveryWithBody(row),
        target: {
          url: row.url,
          headersSealed: row.headersSealed,
          secretSealed: row.secretSealed,
          previousSecretSealed: row.previousSecretSealed,
          previousSecretExpiresAt: row.previousSecretExpiresAt,
        },
      }));
  }

  /**
   * Records the attempts of one subscription's batch, moves each delivery on, releases the
   * deliveries of the batch that were not attempted (`unsent`) and keeps the subscription's
   * failing flag by the last attempt: one statement for the whole batch.
   */
  async record(
    subscriptionId: string,
    attempts: readonly AttemptRecord[],
    unsent: readonly string[],
  ): Promise<void> {
    const last = attempts.at(-1);
    if (last === undefined) {
      await this.db.webhookDelivery.updateMany({
        where: { id: { in: [...unsent] } },
        data: { leasedUntil: null },
      });
      return;
    }
    const column = <T>(pick: (a: AttemptRecord) => T): T[] => attempts.map(pick);
    // A function, so that its plans are kept per connection (see the migration that creates it).
    await this.db.$queryRaw<{ moved: number }[]>`
      SELECT webhook_record(
        ${subscriptionId}::text, ${column((a) => a.deliveryId)}::text[], ${column((a) => a.attempt)}::int[],
        ${column((a) => a.at.toISOString())}::timestamptz[], ${column((a) => a.responseCode)}::int[],
        ${column((a) => a.error?.slice(0, 1000) ?? null)}::text[], ${column((a) => a.latencyMs)}::int[],
        ${column((a) => a.next.status)}::text[],
        ${column((a) => (a.next.status === 'pending' ? a.next.at.toISOString() : null))}::timestamptz[],
        ${[...unsent]}::text[], ${last.succeeded}::boolean, ${last.at}::timestamptz) AS moved`;
  }

  /** Fails every pending delivery of a subscription (it was disabled), with the reason. */
  async failPending(subscriptionId: string, reason: string, at: Date): Promise<void> {
    await this.db.webhookDelivery.updateMany({
      where: { subscriptionId, status: 'pending' },
      data: { status: 'failed', lastError: reason.slice(0, 1000), leasedUntil: null, updatedAt: at },
    });
  }

  /** One page of a subscription's deliveries, newest first. */
  async list(
    subscriptionId: string,
    status: DeliveryStatus | undefined,
    offset: number,
    limit: number,
  ): Promise<Delivery[]> {
    const rows = await this.db.webhookDelivery.findMany({
      where: { subscriptionId, ...(status !== undefined && { status }) },
      orderBy: { seq: 'desc' },
      skip: offset,
      take: limit,
    });
    return rows.map(toDelivery);
  }

  /** A delivery with its body and attempts. */
  async find(
    subscriptionId: string,
    id: string,
  ): Promise<(DeliveryWithBody & { readonly attemptLog: Attempt[] }) | null> {
    const row = await this.db.webhookDelivery.findFirst({
      where: { subscriptionId, id },
      include: { attemptLog: { orderBy: { attempt: 'asc' } } },
    });
    if (!row) return null;
    return {
      ...toDeliveryWithBody(row),
      attemptLog: row.attemptLog.map((a) => ({
        attempt: a.attempt,
        at: a.at,
        responseCode: a.responseCode,
        error: a.error,
        latencyMs: a.latencyMs,
      })),
    };
  }

  /**
   * Sends a delivery again, whatever became of it: pending from now, with a fresh retry window.
   * It keeps its id, so the receiver sees the same `webhook-id`. Null when there is no such delivery.
   */
  async redeliver(subscriptionId: string, id: string, now: Date, giveUpAt: Date): Promise<Delivery | null> {
    const { count } = await this.db.webhookDelivery.updateMany({
      where: { subscriptionId, id },
      data: {
        status: 'pending',
        nextAttemptAt: now,
        giveUpAt,
        leasedUntil: null,
        deliveredAt: null,
        updatedAt: now,
      },
    });
    if (count === 0) return null;
    return this.find(subscriptionId, id);
  }

  /** Counts of a subscription's deliveries by status (for tests and the API). */
  async counts(subscriptionId: string): Promise<Record<DeliveryStatus, number>> {
    const groups = await this.db.webhookDelivery.groupBy({
      by: ['status'],
      where: { subscriptionId },
      _count: { _all: true },
    });
    const counts: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, failed: 0 };
    for (const group of groups) counts[group.status as DeliveryStatus] = group._count._all;
    return counts;
  }
}

function toDelivery(row: Omit<DeliveryRow, 'body' | 'contentType'>): Delivery {
  return {
    id: row.id,
    subscriptionId: row.subscriptionId,
    eventId: row.eventId,
    eventType: row.eventType,
    status: row.status as DeliveryStatus,
    attempts: row.attempts,
    nextAttemptAt: row.nextAttemptAt,
    giveUpAt: row.giveUpAt,
    lastResponseCode: row.lastResponseCode,
    lastError: row.lastError,
    lastLatencyMs: row.lastLatencyMs,
    occurredAt: row.occurredAt,
    createdAt: row.createdAt,
    deliveredAt: row.deliveredAt,
  };
}

function toDeliveryWithBody(row: DeliveryRow): DeliveryWithBody {
  return { ...toDelivery(row), contentType: row.contentType, body: row.body };
}
