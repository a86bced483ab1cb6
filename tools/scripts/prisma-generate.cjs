// Generates the Prisma client. The Prisma CLI insists on a schema-engine binary that it would
// download; generation does not use it, so any existing file satisfies the check (see STACK.md).
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
execFileSync(
  process.execPath,
  [require.resolve('prisma/build/index.js'), 'generate', '--config', 'libs/shared/db/prisma.config.ts'],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
  },
);
