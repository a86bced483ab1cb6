import type { Bus } from './bus';
import type { NatsBusOptions } from './nats.bus';

/**
 * Connects the NATS bus (see `NatsBus.connect`). The NATS client is loaded on first use, so the
 * all-in-one, whose bus is in-process, does not carry it in memory.
 */
export function connectNatsBus(options: NatsBusOptions): Promise<Bus> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy, see above
  const { NatsBus } = require('./nats.bus') as typeof import('./nats.bus');
  return NatsBus.connect(options);
}
