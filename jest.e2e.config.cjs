const { reporters, ...preset } = require('./jest.preset.cjs');

module.exports = {
  ...preset,
  reporters: reporters('e2e'),
  displayName: 'e2e',
  testMatch: ['<rootDir>/apps/*-e2e/**/*.e2e-spec.ts'],
  testTimeout: 180000,
  maxWorkers: 1,
  globalSetup: '<rootDir>/jest.e2e.setup.cjs',
};
