// Compiles apps/ and libs/ (not tests) to dist/ with SWC, rewriting the @berth/* path aliases to
// relative requires, so that the services run on plain Node: no TypeScript compiler in memory at
// run time (it costs ~90 MB of RSS per process). Type checking is `npm run typecheck`.
// Given project roots (`build.cjs libs/shared/oci`, as each project's Nx build target runs it), it
// compiles only those, each into its own folder of dist/, and leaves the rest of dist/ alone.
const { transformFile } = require('@swc/core');
const { mkdir, readdir, writeFile, rm, cp } = require('node:fs/promises');
const path = require('node:path');
const { compilerOptions } = require('../../tsconfig.base.json');

const root = path.resolve(__dirname, '../..');
const out = path.join(root, 'dist');
const TEST = /\.(spec|int-spec|e2e-spec)\.ts$/;

async function* sources(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules' || entry.name.endsWith('-e2e') || entry.name === 'testing') continue;
      yield* sources(full);
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') && !TEST.test(entry.name)) {
      yield full;
    }
  }
}

async function main() {
  const projects = process.argv.slice(2).map((project) => path.resolve(project));
  for (const project of projects) {
    const relative = path.relative(root, project);
    if (!/^(apps|libs)[\\/]/.test(relative)) throw new Error(`not a project of apps/ or libs/: ${relative}`);
  }
  const tops = projects.length > 0 ? projects : ['apps', 'libs'].map((top) => path.join(root, top));
  if (projects.length === 0) await rm(out, { recursive: true, force: true });
  for (const project of projects) {
    await rm(path.join(out, path.relative(root, project)), { recursive: true, force: true });
  }
  const paths = Object.fromEntries(
    Object.entries(compilerOptions.paths).map(([alias, targets]) => [alias, targets]),
  );
  const files = [];
  for (const top of tops) for await (const file of sources(top)) files.push(file);
  await Promise.all(
    files.map(async (file) => {
      const { code, map } = await transformFile(file, {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
          baseUrl: root,
          paths,
        },
        module: { type: 'commonjs' },
        sourceMaps: true,
        swcrc: false,
      });
      const target = path.join(out, path.relative(root, file)).replace(/\.ts$/, '.js');
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, `${code}\n//# sourceMappingURL=${path.basename(target)}.map\n`);
      if (map) await writeFile(`${target}.map`, map);
    }),
  );
  // Migrations are read at run time, relative to the compiled database library.
  if (projects.length === 0 || projects.includes(path.join(root, 'libs/shared/db'))) {
    await cp(path.join(root, 'libs/shared/db/prisma'), path.join(out, 'libs/shared/db/prisma'), {
      recursive: true,
    });
  }
  process.stdout.write(`built ${files.length} files into dist/\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
