const { reporters, ...preset } = require('./jest.preset.cjs');

module.exports = {
  ...preset,
  reporters: reporters('unit'),
  displayName: 'unit',
  testMatch: ['<rootDir>/{apps,libs,tools}/**/*.spec.ts'],
};
