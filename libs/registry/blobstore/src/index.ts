export * from './lib/blobstore.module';
export * from './lib/blobstore.service';
export * from './lib/blob.repository';
