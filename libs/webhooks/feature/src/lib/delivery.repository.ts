import { createHash } from 'node:crypto';
import type { PrismaClient, SqlExecutor } from '@berth/db';
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

/**
 * The id of an event's delivery to a subscription, the same however often the event is routed,
 * so that the primary key alone keeps one delivery per subscription and event: a UUID (version 8,
 * RFC 9562) made of a SHA-256 of both ids.
 */
export function deliveryId(subscriptionId: string, eventId: string): string {
  const hash = createHash('sha256').update(`${subscriptionId}\n${eventId}`).digest();
  hash.writeUInt8((hash.readUInt8(6) & 0x0f) | 0x80, 6);
  hash.writeUInt8((hash.readUInt8(8) & 0x3f) | 0x80, 8);
  const hex = hash.subarray(0, 16).toString('hex');
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
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

/** How {@link DeliveryRepository.cycle} claims. */
export interface ClaimOptions {
  /** How many subscriptions' queues to claim from (0: record only). */
  readonly subscriptions: number;
  /** How many deliveries of each. */
  readonly batch: number;
  /** The longest one attempt can take. */
  readonly attemptMs: number;
  /** How long a claim outlives the attempts it covers. */
  readonly marginMs: number;
}

/**
 * A claimed batch of one subscription that was sent, or cut short by a failed attempt. Recording
 * it gives the subscription's lease up; the deliveries that were not attempted are simply still
 * pending, to be claimed again in order.
 */
export interface EndedBatch {
  readonly subscriptionId: string;
  /** Its attempts, in order: the last one keeps the subscription's failing flag. */
  readonly attempts: readonly AttemptRecord[];
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
 * deliveries go out one at a time in the order they were created (`seq`); an instance claims a
 * batch from the head of a subscription's queue with a lease on the subscription, so that no other
 * instance sends from that queue meanwhile, and a killed instance's leases run out and another
 * takes its queues over. A delivery's row holds its last attempt; the attempts before it are in
 * `webhook_attempt`. The statement that runs for every pass, {@link DeliveryRepository.cycle},
 * stores the deliveries routed since the last one, and goes through `sql`, without Prisma's cost
 * per statement (as does {@link DeliveryRepository.createMany}).
 */
export class DeliveryRepository {
  constructor(
    private readonly db: PrismaClient,
    private readonly sql: SqlExecutor,
  ) {}

  /**
   * Creates deliveries, skipping any that exists (the same event seen twice has the same id, see
   * {@link deliveryId}), in one statement. They are due from `now`, on the clock that claims
   * compare with. Returns how many. A running dispatcher stores what is routed with its passes
   * instead ({@link DeliveryRepository.cycle}); this is for when none runs.
   */
  async createMany(deliveries: readonly NewDelivery[], now = new Date()): Promise<number> {
    if (deliveries.length === 0) return 0;
    // A function, so that its plan is kept per connection (see the migration that creates it).
    const [row] = await this.sql.query<{ created: number }>(
      `SELECT webhooks.webhook_enqueue($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::timestamptz[], $8::timestamptz[], $9::timestamptz) AS created`,
      [...newDeliveryColumns(deliveries), now.toISOString()],
    );
    return row?.created ?? 0;
  }

  /**
   * Stores `created` (as {@link DeliveryRepository.createMany} does, due from `now`), records the
   * batches that ended (see {@link EndedBatch}) and gives their subscriptions' leases up, then
   * claims the next deliveries of up to `claim.subscriptions` subscriptions whose queue head is
   * due and whose lease is free: at most `claim.batch` of each, in `seq` order, the deliveries
   * just stored included. None of `busy` (subscriptions with attempts in flight here, or about to
   * be disabled) is claimed; a subscription whose batch is recorded here may be claimed again at
   * once. A subscription is leased for n × `attemptMs` + `marginMs` for a batch of n, since its
   * deliveries are sent one after the other: a claim outlives only an instance that died. One
   * statement, one transaction: either all of it is done, or none.
   */
  async cycle(
    ended: readonly EndedBatch[],
    claim: ClaimOptions,
    now: Date,
    busy: readonly string[],
    created: readonly NewDelivery[] = [],
  ): Promise<ClaimedDelivery[]> {
    const attempts = ended.flatMap((batch) => batch.attempts);
    // Every ended batch gives its lease up; its last attempt, if any, keeps the failing flag.
    const last = ended.map((batch) => ({
      subscriptionId: batch.subscriptionId,
      attempt: batch.attempts.at(-1),
    }));
    const column = <T>(pick: (a: AttemptRecord) => T): T[] => attempts.map(pick);
    // A function, so that its plans are kept per connection (see the migration that creates it).
    const rows = await this.sql.query<DeliveryRow & SealedTarget>(
      `SELECT * FROM webhooks.webhook_cycle($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::timestamptz[], $8::timestamptz[], $9::text[], $10::int[], $11::timestamptz[],
        $12::int[], $13::text[], $14::int[], $15::text[], $16::timestamptz[], $17::text[],
        $18::boolean[], $19::timestamptz[], $20::text[], $21::timestamptz, $22::int, $23::int,
        $24::int, $25::int)
      ORDER BY seq`,
      [
        ...newDeliveryColumns(created),
        column((a) => a.deliveryId),
        column((a) => a.attempt),
        column((a) => a.at.toISOString()),
        column((a) => a.responseCode),
        column((a) => a.error?.slice(0, 1000) ?? null),
        column((a) => a.latencyMs),
        column((a) => a.next.status),
        column((a) => (a.next.status === 'pending' ? a.next.at.toISOString() : null)),
        last.map((l) => l.subscriptionId),
        last.map((l) => l.attempt?.succeeded ?? null),
        last.map((l) => l.attempt?.at.toISOString() ?? null),
        [...busy],
        now.toISOString(),
        Math.max(0, claim.subscriptions),
        claim.batch,
        claim.attemptMs,
        claim.marginMs,
      ],
    );
    return rows.map((row) => ({
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
   * Fails every pending delivery of a subscription (it was disabled), with the reason as its last
   * error. The last attempt such a delivery made moves to its attempt log first, with its own error.
   */
  async failPending(subscriptionId: string, reason: string, at: Date): Promise<void> {
    await this.db.$transaction([
      this.db.$executeRaw`
        INSERT INTO webhooks.webhook_attempt (delivery_id, attempt, at, response_code, error, latency_ms)
        SELECT d.id, d.attempts, COALESCE(d.last_attempt_at, d.updated_at), d.last_response_code,
          d.last_error, d.last_latency_ms
        FROM webhooks.webhook_delivery d
        WHERE d.subscription_id = ${subscriptionId} AND d.status = 'pending' AND d.attempts > 0
          AND NOT EXISTS (
            SELECT 1 FROM webhooks.webhook_attempt a WHERE a.delivery_id = d.id AND a.attempt = d.attempts)`,
      this.db.webhookDelivery.updateMany({
        where: { subscriptionId, status: 'pending' },
        data: { status: 'failed', lastError: reason.slice(0, 1000), updatedAt: at },
      }),
    ]);
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
      // The log shows no bodies: a page of them would be read and dropped.
      omit: { body: true, contentType: true },
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
    const earlier: Attempt[] = row.attemptLog.map((a) => ({
      attempt: a.attempt,
      at: a.at,
      responseCode: a.responseCode,
      error: a.error,
      latencyMs: a.latencyMs,
    }));
    // The row holds the last attempt, unless failing it on a disable moved it to the log.
    const last: Attempt[] =
      row.attempts > 0 && !earlier.some((a) => a.attempt === row.attempts)
        ? [
            {
              attempt: row.attempts,
              at: row.lastAttemptAt ?? row.updatedAt,
              responseCode: row.lastResponseCode,
              error: row.lastError,
              latencyMs: row.lastLatencyMs,
            },
          ]
        : [];
    return { ...toDeliveryWithBody(row), attemptLog: [...earlier, ...last] };
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

/** The eight array parameters that `webhook_enqueue` and `webhook_cycle` store deliveries from. */
function newDeliveryColumns(deliveries: readonly NewDelivery[]): unknown[][] {
  const column = <T>(pick: (d: NewDelivery) => T): T[] => deliveries.map(pick);
  return [
    column((d) => deliveryId(d.subscriptionId, d.eventId)),
    column((d) => d.subscriptionId),
    column((d) => d.eventId),
    column((d) => d.eventType),
    column((d) => d.contentType),
    column((d) => d.body),
    column((d) => d.occurredAt.toISOString()),
    column((d) => d.giveUpAt.toISOString()),
  ];
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
