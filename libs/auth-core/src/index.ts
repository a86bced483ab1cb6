export * from './lib/scope';
export * from './lib/token';
export * from './lib/challenge';
export * from './lib/rbac';
export * from './lib/secret';
