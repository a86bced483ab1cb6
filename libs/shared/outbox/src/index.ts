export * from './lib/outbox';
export * from './lib/outbox.relay';
