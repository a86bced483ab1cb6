export * from './lib/lru-cache';
export * from './lib/revocable-cache';
