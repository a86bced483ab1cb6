import type { DomainEvent, EventContract } from '@berth/contracts';
import type { Logger } from 'pino';
import type { Bus } from './bus';

/**
 * Publishes the event of a change that has already committed. The change stands whatever
 * happens; a failure to publish is logged as an error with the whole event so it can be replayed.
 * (The database-backed outbox of issue 4 removes this window.)
 */
export async function publishCommitted<P extends DomainEvent>(
  bus: Bus,
  logger: Logger,
  contract: EventContract<P>,
  payload: P,
): Promise<void> {
  try {
    await bus.publish(contract, payload);
  } catch (error) {
    logger.error({ err: error, subject: contract.subject, event: payload }, 'event publish failed');
  }
}
