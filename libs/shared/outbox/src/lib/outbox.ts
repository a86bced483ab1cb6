import type { BusEvent } from '@berth/bus';
import type { DomainEvent, EventContract } from '@berth/contracts';
import type { Prisma } from '@berth/db';

/** An event to write to the outbox: its contract and its payload, as the relay publishes it. */
export type OutboxEvent = BusEvent;

/** Pairs an event's payload with its contract, so the compiler checks the payload's shape. */
export function outboxEvent<P extends DomainEvent>(contract: EventContract<P>, payload: P): OutboxEvent {
  return { contract, payload };
}

/**
 * Builds the events of a change from its outcome, which only the change's transaction knows
 * (was the repository new? which tags moved?); they are written in that transaction.
 */
export type EventsOf<Outcome> = (outcome: Outcome) => readonly OutboxEvent[];

/**
 * The writing side of the transactional outbox (ADR 0006): a repository that changes the
 * registry calls {@link Outbox.write} inside its transaction, with the events that report the
 * change, and {@link Outbox.committed} once that transaction has committed. A change that rolls
 * back takes its events with it; one that commits has them, and the relay publishes them.
 */
export class Outbox {
  /** @param nudge Wakes the relay of this process (see `OutboxRelay.nudge`). */
  constructor(private readonly nudge: () => void = () => undefined) {}

  /**
   * Inserts events in the caller's transaction, in the given order (their `seq` follows it).
   * Each payload is checked against its contract's schema first: an event the bus would refuse
   * fails the change instead of being stored.
   */
  async write(tx: Prisma.TransactionClient, events: readonly OutboxEvent[]): Promise<void> {
    if (events.length === 0) return;
    const ids: string[] = [];
    const subjects: string[] = [];
    const payloads: string[] = [];
    for (const { contract, payload } of events) {
      const checked = contract.payload.parse(payload);
      ids.push(checked.id);
      subjects.push(contract.subject);
      payloads.push(JSON.stringify(checked));
    }
    await tx.$executeRaw`
      INSERT INTO events.event_outbox (id, subject, payload)
      SELECT i, s, p::jsonb FROM unnest(${ids}::text[], ${subjects}::text[], ${payloads}::text[])
        WITH ORDINALITY AS x(i, s, p, n)
      ORDER BY n`;
  }

  /** Tells the relay that a transaction with events has committed, so it publishes them now. */
  committed(): void {
    this.nudge();
  }
}
