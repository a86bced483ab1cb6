const { reporters, ...preset } = require('./jest.preset.cjs');

module.exports = {
  ...preset,
  reporters: reporters('integration'),
  displayName: 'integration',
  testMatch: ['<rootDir>/{apps,libs}/**/*.int-spec.ts'],
  testTimeout: 60000,
};
