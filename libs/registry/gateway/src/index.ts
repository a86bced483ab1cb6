export * from './lib/gateway.module';
export * from './lib/route';
