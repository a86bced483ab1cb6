export * from './lib/services';
export * from './lib/s3-server';
export * from './lib/distribution';
export * from './lib/berth';
export * from './lib/slapd';
export * from './lib/oidc-provider';
export * from './lib/nats-server';
export * from './lib/eventually';
