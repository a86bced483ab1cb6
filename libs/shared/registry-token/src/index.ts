export * from './lib/scope';
export * from './lib/token';
export * from './lib/challenge';
