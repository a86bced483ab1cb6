export * from './lib/project';
export * from './lib/glob';
export * from './lib/cidr';
