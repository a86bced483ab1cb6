export * from './lib/services';
export * from './lib/s3-server';
export * from './lib/distribution';
export * from './lib/berth';
