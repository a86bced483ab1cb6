import { randomUUID } from 'node:crypto';
import type { Bus, BusEvent } from '@berth/bus';
import { eventContractOf, type DomainEvent } from '@berth/contracts';
import type { PrismaClient } from '@berth/db';
import type { Logger } from 'pino';

/** How a relay paces itself; every field has a default fit for production. */
export interface OutboxRelayOptions {
  /** How long an idle relay sleeps before it looks again for rows that no nudge announced. */
  readonly pollMs?: number;
  /** Rows read and published per round. */
  readonly batchSize?: number;
  /** How long the relay lease lasts unrenewed: how long a dead relay's successor waits. */
  readonly leaseMs?: number;
  /** How long published rows are kept before they are purged. */
  readonly retentionMs?: number;
  /** How often published rows past the retention are purged. */
  readonly purgeEveryMs?: number;
  /** The longest pause between two attempts while the bus or the database fails. */
  readonly maxBackoffMs?: number;
  /** How long `stop` waits for the round in flight (a publish may be waiting on consumers). */
  readonly stopGraceMs?: number;
  /**
   * How long a relay that has just published keeps its lease, waiting for the next nudge: under
   * a steady stream of commits, a round is then two statements (read, stamp) instead of five.
   * Rows that another process committed meanwhile (its relay cannot take the lease) are found by
   * a look at the outbox when the linger ends, and published before the lease is given up.
   */
  readonly lingerMs?: number;
}

/** The one lease row of the outbox (a database has one outbox, and so one lease). */
const LEASE = 'event_outbox';
/** How soon a relay that was nudged retries when another relay holds the lease. */
const CONTENDED_RETRY_MS = 50;
/** Rows deleted per purge statement, so that a purge never holds many locks for long. */
const PURGE_CHUNK = 10_000;

/** The relay of each database in this process (see {@link OutboxRelay.shared}). */
const sharedRelays = new WeakMap<PrismaClient, OutboxRelay>();

interface OutboxRow {
  id: string;
  subject: string;
  payload: unknown;
}

/** What one round of the relay found. */
type Round =
  /** Another relay holds the lease. */
  | { readonly kind: 'contended' }
  /** This relay holds the lease and published this many rows (0: the outbox was empty). */
  | { readonly kind: 'published'; readonly count: number };

/**
 * Moves the transactional outbox to the bus (ADR 0006, 0007): reads the unpublished rows in
 * `seq` order, publishes them in that order (with the event id as the bus's de-duplication key)
 * and stamps them published once the bus has accepted them all. Delivery is at least once: a
 * relay that dies between publishing and stamping, or whose publish fails part-way, leaves the
 * rows to be published again, under the same ids.
 *
 * One relay publishes at a time per database: it holds a lease in `event_outbox_relay`, renewed
 * while it works and given up when the outbox is empty, so that rows leave in order and no two
 * relays publish the same row at once. No transaction stays open while the bus is awaited: the
 * in-process bus accepts an event only when its consumers have handled it, and those consumers
 * may need the database (with embedded PGlite, its only connection).
 *
 * The relay runs between {@link OutboxRelay.start} and {@link OutboxRelay.stop}: woken by
 * {@link OutboxRelay.nudge} after a local commit, polling otherwise, backing off while the bus or
 * the database fails (no row is lost, it stays unpublished), and purging published rows past
 * their retention now and then.
 */
export class OutboxRelay {
  private readonly owner = randomUUID();
  private readonly pollMs: number;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly retentionMs: number;
  private readonly purgeEveryMs: number;
  private readonly maxBackoffMs: number;
  private readonly stopGraceMs: number;
  private readonly lingerMs: number;
  /** Callers of `start` not yet matched by a `stop`: a shared relay stops with its last user. */
  private users = 0;
  private running: Promise<void> | null = null;
  private stopped = false;
  /** Set by a nudge, cleared when a round starts reading: a nudge during a round means "go again". */
  private nudged = false;
  private lastNudgeAt = 0;
  private holdsLease = false;
  /** When the lease was last taken or renewed (this process's clock). */
  private leaseRenewedAt = 0;
  private lastPurgeAt = 0;
  private wake: (() => void) | null = null;

  constructor(
    private readonly db: PrismaClient,
    private readonly bus: Bus,
    private readonly logger: Logger,
    options: OutboxRelayOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 500;
    this.batchSize = options.batchSize ?? 100;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.retentionMs = options.retentionMs ?? 24 * 3600_000;
    this.purgeEveryMs = options.purgeEveryMs ?? 10 * 60_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.stopGraceMs = options.stopGraceMs ?? 5_000;
    this.lingerMs = options.lingerMs ?? 25;
    // The first purge waits a while: a fleet that restarts together should not purge at once.
    this.lastPurgeAt = Date.now();
  }

  /**
   * The one relay of `db` in this process, created on first use: every module of a process that
   * writes the outbox (metadata and blobstore in the all-in-one) nudges and starts the same relay,
   * instead of running one each that would contend for the lease. It stops with the last module
   * that started it; a later call creates a new one.
   */
  static shared(db: PrismaClient, bus: Bus, logger: Logger, options: OutboxRelayOptions = {}): OutboxRelay {
    const existing = sharedRelays.get(db);
    if (existing !== undefined && !existing.stopped) return existing;
    const relay = new OutboxRelay(db, bus, logger, options);
    sharedRelays.set(db, relay);
    return relay;
  }

  /**
   * Starts relaying in the background. Each call must be matched by a {@link OutboxRelay.stop}; the
   * relay stops at the last one. Once stopped, a relay does not start again.
   */
  start(): void {
    if (this.stopped) return;
    this.users++;
    if (this.running !== null) return;
    this.running = this.loop();
  }

  /** Says that events were committed: an idle relay wakes at once instead of at its next poll. */
  nudge(): void {
    this.nudged = true;
    this.lastNudgeAt = Date.now();
    this.wake?.();
  }

  /**
   * Stops relaying: waits for the round in flight (at most the stop grace), then gives the lease
   * up so that another process's relay can go on at once. Rows published but not yet stamped are
   * published again by the next relay.
   */
  async stop(): Promise<void> {
    if (this.users > 1) {
      this.users--;
      return;
    }
    this.users = 0;
    this.stopped = true;
    this.wake?.();
    if (this.running === null) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.stopGraceMs);
    });
    await Promise.race([this.running, grace]);
    clearTimeout(timer);
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      let round: Round;
      try {
        round = await this.round();
        failures = 0;
      } catch (error) {
        if (this.isStopped()) break;
        failures++;
        const delay = this.backoff(failures);
        this.logger[failures < 5 ? 'warn' : 'error'](
          { err: error, attempt: failures, retryInMs: delay },
          'event relay failed; the events stay in the outbox and are retried',
        );
        await this.releaseLease();
        await this.sleep(delay, false);
        continue;
      }
      if (round.kind === 'published' && (round.count === this.batchSize || this.nudged)) continue;
      if (round.kind === 'published' && round.count > 0) {
        // Commits often come in streams: wait a moment for the next one with the lease still held.
        await this.sleep(this.lingerMs, true);
        if (this.nudged || (await this.pendingAfterLinger())) continue;
      }
      await this.releaseLease();
      await this.purgeIfDue();
      const recentlyNudged = Date.now() - this.lastNudgeAt < this.pollMs;
      await this.sleep(round.kind === 'contended' && recentlyNudged ? CONTENDED_RETRY_MS : this.pollMs, true);
    }
    await this.releaseLease();
  }

  /** Takes (or keeps) the lease, publishes the next batch and stamps what the bus accepted. */
  private async round(): Promise<Round> {
    this.nudged = false;
    // An idle poll only reads: the lease is written only when there is something to publish.
    if (!this.holdsLease && !(await this.pending())) return { kind: 'published', count: 0 };
    if (!(await this.holdLease())) return { kind: 'contended' };
    const rows = await this.db.$queryRaw<OutboxRow[]>`
      SELECT id, subject, payload FROM events.event_outbox
      WHERE published_at IS NULL ORDER BY seq LIMIT ${this.batchSize}`;
    if (rows.length === 0) return { kind: 'published', count: 0 };
    const events: BusEvent[] = [];
    for (const row of rows) {
      const contract = eventContractOf(row.subject);
      // Only a rolled-back release can have written it; no consumer could read it.
      if (contract === undefined)
        this.logger.error({ event: row }, 'outbox row with an unknown subject; dropped');
      else events.push({ contract, payload: row.payload as DomainEvent });
    }
    const heartbeat = setInterval(() => {
      this.acquireLease().catch((error: unknown) => {
        if (!this.stopped) this.logger.warn({ err: error }, 'event relay could not renew its lease');
      });
    }, this.leaseMs / 3);
    heartbeat.unref();
    try {
      // At once, so that a consumer may store a round's events together (`Bus.subscribeBatch`).
      // If the bus fails, the whole round is published again: what it had accepted is then
      // de-duplicated by event id.
      await this.bus.publishAll(events);
    } finally {
      clearInterval(heartbeat);
    }
    const ids = rows.map((row) => row.id);
    await this.db
      .$executeRaw`UPDATE events.event_outbox SET published_at = now() WHERE id = ANY(${ids}::text[])`;
    return { kind: 'published', count: rows.length };
  }

  /** Whether the outbox has a row to publish. */
  private async pending(): Promise<boolean> {
    const rows = await this.db.$queryRaw<{ id: string }[]>`
      SELECT id FROM events.event_outbox WHERE published_at IS NULL LIMIT 1`;
    return rows.length > 0;
  }

  /**
   * Whether rows were committed during the linger that no nudge announced (another process's,
   * whose relay waits for the lease). A failed look counts as none: the lease is given up and the
   * rows are found by the next poll, this relay's or another's.
   */
  private async pendingAfterLinger(): Promise<boolean> {
    if (this.stopped) return false;
    try {
      return await this.pending();
    } catch (error) {
      this.logger.warn({ err: error }, 'event relay could not look at the outbox');
      return false;
    }
  }

  /**
   * Takes the lease, or renews it once a third of it has passed; false if another relay holds it.
   * A lease renewed less than a third of its length ago still has two thirds to run.
   */
  private async holdLease(): Promise<boolean> {
    if (this.holdsLease && Date.now() - this.leaseRenewedAt < this.leaseMs / 3) return true;
    return this.acquireLease();
  }

  /** Takes the lease if it is free or expired, or renews it if it is ours; false if another holds it. */
  private async acquireLease(): Promise<boolean> {
    const startedAt = Date.now();
    const rows = await this.db.$queryRaw<{ owner: string }[]>`
      INSERT INTO events.event_outbox_relay (name, owner, lease_until)
      VALUES (${LEASE}, ${this.owner}, now() + ${this.leaseMs}::integer * interval '1 millisecond')
      ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until
      WHERE event_outbox_relay.owner = EXCLUDED.owner OR event_outbox_relay.lease_until <= now()
      RETURNING owner`;
    this.holdsLease = rows.length > 0;
    if (this.holdsLease) this.leaseRenewedAt = startedAt;
    return this.holdsLease;
  }

  /** Gives the lease up, if this relay holds it, so that any relay may take it at once. */
  private async releaseLease(): Promise<void> {
    if (!this.holdsLease) return;
    this.holdsLease = false;
    try {
      await this.db
        .$executeRaw`DELETE FROM events.event_outbox_relay WHERE name = ${LEASE} AND owner = ${this.owner}`;
    } catch (error) {
      // It expires by itself.
      if (!this.stopped) this.logger.warn({ err: error }, 'event relay could not give up its lease');
    }
  }

  /** Deletes published rows older than the retention, in chunks, once per purge interval. */
  private async purgeIfDue(): Promise<void> {
    if (Date.now() - this.lastPurgeAt < this.purgeEveryMs) return;
    this.lastPurgeAt = Date.now();
    const cutoff = new Date(Date.now() - this.retentionMs);
    try {
      let purged = 0;
      for (;;) {
        const count = await this.db.$executeRaw`
          DELETE FROM events.event_outbox WHERE seq IN (
            SELECT seq FROM events.event_outbox WHERE published_at < ${cutoff} ORDER BY seq LIMIT ${PURGE_CHUNK})`;
        purged += count;
        if (count < PURGE_CHUNK || this.stopped) break;
      }
      if (purged > 0) this.logger.debug({ purged }, 'purged published events from the outbox');
    } catch (error) {
      this.logger.warn({ err: error }, 'outbox purge failed; it is tried again later');
    }
  }

  /** Whether `stop` was called (a method, so that no narrowing survives an `await`). */
  private isStopped(): boolean {
    return this.stopped;
  }

  /** Exponential backoff with jitter, capped. */
  private backoff(failures: number): number {
    const ceiling = Math.min(this.maxBackoffMs, 100 * 2 ** Math.min(failures, 20));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  /** Sleeps for `ms`, or until stopped, or (when `wakeOnNudge`) until nudged. */
  private sleep(ms: number, wakeOnNudge: boolean): Promise<void> {
    if (this.stopped || (wakeOnNudge && this.nudged)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = () => {
        if (wakeOnNudge || this.stopped) done();
      };
    });
  }
}
