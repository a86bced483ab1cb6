export * from './lib/metadata.module';
export * from './lib/metadata.service';
export * from './lib/manifest.repository';
export * from './lib/manifest.cache';
