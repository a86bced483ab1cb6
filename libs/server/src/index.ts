export * from './lib/tokens';
export * from './lib/readiness';
export * from './lib/health.controller';
export * from './lib/platform.module';
export * from './lib/http-app';
export * from './lib/run-process';
export * from './lib/open-bus';
export * from './lib/problem';
