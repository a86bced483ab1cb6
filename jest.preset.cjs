// Shared Jest settings: SWC transpiles TypeScript (type checking is `npm run typecheck`), and the
// tsconfig path aliases resolve to each library's index.ts.
const path = require('node:path');
const { compilerOptions } = require('./tsconfig.base.json');

const moduleNameMapper = {};
for (const [alias, [target]] of Object.entries(compilerOptions.paths)) {
  moduleNameMapper[`^${alias.replace('/', '\\/')}$`] = path.join(__dirname, target);
}

/** Jest's own output plus the one-line summary CI reads, named after the tier. */
const reporters = (tier) => ['default', ['<rootDir>/tools/scripts/jest-summary-reporter.cjs', { tier }]];

/**
 * Packages that ship only ES modules. Node 20 loads them with require() in the built app, but
 * Jest's module system cannot, so SWC turns them into CommonJS like Berth's own sources.
 */
const ESM_ONLY_PACKAGES = ['jose', 'openid-client', 'oauth4webapi'];
const esmOnly = `node_modules/(?:${ESM_ONLY_PACKAGES.join('|')})/`;

module.exports = {
  reporters,
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'commonjs' },
      },
    ],
    [`${esmOnly}.+\\.js$`]: [
      '@swc/jest',
      { jsc: { parser: { syntax: 'ecmascript' }, target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(?:${ESM_ONLY_PACKAGES.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper,
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/data/'],
};
