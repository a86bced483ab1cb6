export * from './lib/bus';
export * from './lib/bus-controller';
export * from './lib/rpc-envelope';
export * from './lib/in-process.bus';
export type { NatsBus, NatsBusOptions } from './lib/nats.bus';
export * from './lib/connect-nats-bus';
