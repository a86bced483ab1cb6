// @ts-check
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/**
 * Module boundaries: who may import whom. `type:` says what a project is, `scope:` which service
 * it belongs to. Feature libs (the service modules) never import each other; only the registry
 * app composes them. Only metadata and blobstore may touch the database library.
 */
const depConstraints = [
  { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:domain'] },
  { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:domain', 'type:util'] },
  { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:domain'] },
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
  {
    sourceTag: 'scope:gateway',
    notDependOnLibsWithTags: [
      'scope:db',
      'scope:metadata',
      'scope:blobstore',
      'scope:auth',
      'scope:webhooks',
    ],
  },
  {
    sourceTag: 'scope:metadata',
    notDependOnLibsWithTags: ['scope:gateway', 'scope:blobstore', 'scope:auth', 'scope:webhooks'],
  },
  {
    sourceTag: 'scope:blobstore',
    notDependOnLibsWithTags: ['scope:gateway', 'scope:metadata', 'scope:auth', 'scope:webhooks'],
  },
  {
    sourceTag: 'scope:auth',
    notDependOnLibsWithTags: ['scope:gateway', 'scope:metadata', 'scope:blobstore', 'scope:webhooks'],
  },
  {
    sourceTag: 'scope:webhooks',
    notDependOnLibsWithTags: ['scope:gateway', 'scope:metadata', 'scope:blobstore', 'scope:auth'],
  },
  {
    sourceTag: 'scope:shared',
    notDependOnLibsWithTags: [
      'scope:gateway',
      'scope:metadata',
      'scope:blobstore',
      'scope:auth',
      'scope:webhooks',
      'scope:db',
    ],
  },
];

/** Test files may also use the test harness, which production code never imports. */
const testDepConstraints = depConstraints.map((constraint) =>
  'onlyDependOnLibsWithTags' in constraint
    ? { ...constraint, onlyDependOnLibsWithTags: [...constraint.onlyDependOnLibsWithTags, 'type:testing'] }
    : constraint,
);

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
    files: [...TEST_FILES, 'libs/*/src/testing/**/*.ts', 'libs/testing/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['**/*.mjs', '**/*.cjs', '**/*.js'], ...tseslint.configs.disableTypeChecked },
  // Configuration files and build scripts are CommonJS on purpose.
  { files: ['**/*.cjs'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  prettier,
);
