export * from './lib/errors';
export * from './lib/digest';
export * from './lib/names';
export * from './lib/media-types';
export * from './lib/manifest';
export * from './lib/range';
export * from './lib/text';
