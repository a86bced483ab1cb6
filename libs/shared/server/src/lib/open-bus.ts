import { InProcessBus, connectNatsBus, type Bus } from '@berth/bus';
import type { BerthConfig } from '@berth/config';
import type { Logger } from 'pino';

/**
 * Opens the bus the configuration names: NATS (the distributed shape; a failed connection fails
 * the boot) or in-process (the all-in-one).
 */
export async function openBus(config: BerthConfig, logger: Logger, name: string): Promise<Bus> {
  const reportError = (error: unknown, context: { subject: string }) => {
    logger.error({ err: error, subject: context.subject }, 'bus handler failed');
  };
  if (config.bus.kind === 'in-process') return new InProcessBus(reportError);
  return connectNatsBus({
    servers: config.bus.natsUrl,
    namespace: config.bus.namespace,
    name: `berth-${name}`,
    reportError,
  });
}
