export * from './lib/contract';
export * from './lib/metadata.contract';
export * from './lib/blobstore.contract';
export * from './lib/events.contract';
export * from './lib/auth.contract';
export * from './lib/api-document.contract';
