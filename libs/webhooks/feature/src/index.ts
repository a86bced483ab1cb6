export * from './lib/webhooks.module';
export * from './lib/delivery/webhook-sender';
export * from './lib/secret-box';
