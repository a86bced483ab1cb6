export * from './lib/lru-cache';
