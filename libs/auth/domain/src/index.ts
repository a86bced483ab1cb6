export * from './lib/rbac';
export * from './lib/secret';
