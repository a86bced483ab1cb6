export * from './lib/storage.driver';
export * from './lib/storage.error';
export * from './lib/storage-path';
export * from './lib/registry-storage';
export * from './lib/storage.config';
export * from './lib/filesystem.driver';
export type { S3Driver } from './lib/s3.driver';
export * from './lib/create-storage-driver';
export * from './lib/object-exists';
