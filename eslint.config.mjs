// @ts-check
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/**
 * Module boundaries: who may import whom. `type:` says what a project is, `scope:` which service
 * it belongs to; every project carries one of each, and both kinds of rule are allow-lists, so a
 * project may import another only if every rule that applies to it names the other's tags.
 * Feature libs (the service modules) never import each other; only the registry app composes
 * them. The canary test in tools/boundaries proves that these rules run and bind.
 */

/**
 * Packages that do I/O or tie code to a framework: the HTTP server, Nest, the database clients
 * and the bus client. Domain, util and contracts libs are plain TypeScript that any service (or
 * a client tool) can load, so they may import none of them.
 */
const BACKEND_PACKAGES = [
  '@nestjs/*',
  'fastify',
  'fastify/*',
  '@fastify/*',
  'prisma',
  'prisma/*',
  '@prisma/*',
  'pg',
  'pg/*',
  '@electric-sql/pglite',
  '@electric-sql/pglite/*',
  'pglite-prisma-adapter',
  'nats',
  'nats/*',
];

const typeConstraints = [
  {
    sourceTag: 'type:domain',
    onlyDependOnLibsWithTags: ['type:domain'],
    bannedExternalImports: BACKEND_PACKAGES,
  },
  {
    sourceTag: 'type:util',
    onlyDependOnLibsWithTags: ['type:domain', 'type:util'],
    bannedExternalImports: BACKEND_PACKAGES,
  },
  {
    sourceTag: 'type:contracts',
    onlyDependOnLibsWithTags: ['type:domain'],
    bannedExternalImports: BACKEND_PACKAGES,
  },
  {
    sourceTag: 'type:data-access',
    onlyDependOnLibsWithTags: ['type:domain', 'type:util', 'type:contracts', 'type:data-access'],
  },
  {
    sourceTag: 'type:testing',
    onlyDependOnLibsWithTags: ['type:domain', 'type:util', 'type:contracts', 'type:data-access'],
  },
  {
    sourceTag: 'type:feature',
    onlyDependOnLibsWithTags: [
      'type:platform',
      'type:domain',
      'type:util',
      'type:contracts',
      'type:data-access',
    ],
  },
  {
    sourceTag: 'type:platform',
    onlyDependOnLibsWithTags: ['type:domain', 'type:util', 'type:contracts', 'type:data-access'],
  },
  {
    sourceTag: 'type:app',
    onlyDependOnLibsWithTags: [
      'type:feature',
      'type:platform',
      'type:domain',
      'type:util',
      'type:contracts',
      'type:data-access',
    ],
  },
  {
    sourceTag: 'type:e2e',
    onlyDependOnLibsWithTags: ['type:testing', 'type:domain', 'type:util', 'type:contracts'],
  },
  { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:testing', 'type:domain', 'type:util'] },
];

/**
 * What each scope may use besides its own projects. `shared` is for everyone; the database
 * libraries (`db`, `outbox`) only for the services that keep tables; the registry scope (the
 * all-in-one app and its end-to-end tests) composes every service.
 */
const SCOPE_DEPENDENCIES = {
  shared: [],
  db: [],
  gateway: [],
  metadata: ['db'],
  blobstore: ['db'],
  auth: ['db'],
  webhooks: ['db'],
  cli: [],
  registry: ['gateway', 'metadata', 'blobstore', 'auth', 'webhooks', 'db'],
};

const scopeConstraints = [
  ...Object.entries(SCOPE_DEPENDENCIES).map(([scope, uses]) => ({
    sourceTag: `scope:${scope}`,
    onlyDependOnLibsWithTags: [...new Set(['shared', scope, ...uses])].map((name) => `scope:${name}`),
  })),
  // A scope without its own entry above (a new service) may use shared libs only, until its
  // entry says what more it needs.
  {
    sourceTag: `/^scope:(?!(${Object.keys(SCOPE_DEPENDENCIES).join('|')})$)/`,
    onlyDependOnLibsWithTags: ['scope:shared'],
  },
];

export const depConstraints = [...scopeConstraints, ...typeConstraints];

/** Test files may also use the test harness, which production code never imports. */
const testDepConstraints = [
  ...scopeConstraints,
  ...typeConstraints.map((constraint) => ({
    ...constraint,
    onlyDependOnLibsWithTags: [...constraint.onlyDependOnLibsWithTags, 'type:testing'],
  })),
];

const TEST_FILES = ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts'];

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      'data/**',
      '**/generated/**',
      '.nx/**',
      'coverage/**',
      '.bench/**',
      // Known-bad sources that the boundary canary (tools/boundaries) lints on purpose.
      'tools/boundaries/fixtures/**',
    ],
  },
  ...nx.configs['flat/base'],
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        { enforceBuildableLibDependency: false, allow: [], depConstraints },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-extraneous-class': ['error', { allowWithDecorator: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: TEST_FILES,
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        { enforceBuildableLibDependency: false, allow: [], depConstraints: testDepConstraints },
      ],
    },
  },
  {
    files: [...TEST_FILES, 'libs/**/src/testing/**/*.ts', 'libs/shared/testing/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['**/*.mjs', '**/*.cjs', '**/*.js'], ...tseslint.configs.disableTypeChecked },
  // Configuration files and build scripts are CommonJS on purpose.
  { files: ['**/*.cjs'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  prettier,
);
