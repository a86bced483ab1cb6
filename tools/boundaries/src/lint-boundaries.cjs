// Lints sources with the repository's ESLint configuration, the module-boundary rule alone, for
// the boundary canary (boundaries.spec.ts): Jest cannot load ESLint's ESM configuration itself.
// Reads `[{ filePath, code }]` as JSON on stdin; writes to the file named by the first argument
// each source's boundary messages, the project graph the rule read (names and tags) and the
// source tags of the configured constraints. The rule prints its own warning on stdout when it
// finds no graph, so the results do not go there.
const { readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { readCachedProjectGraph } = require('@nx/devkit');
const { ESLint } = require('eslint');

const RULE = '@nx/enforce-module-boundaries';
const root = path.resolve(__dirname, '../../..');

async function main() {
  const [output] = process.argv.slice(2);
  if (output === undefined) throw new Error('usage: lint-boundaries.cjs <output.json> < cases.json');
  const cases = JSON.parse(readFileSync(0, 'utf8'));
  const eslint = new ESLint({
    cwd: root,
    // The fixtures sit in a folder the configuration ignores, so that normal lint runs pass.
    ignore: false,
    ruleFilter: ({ ruleId }) => ruleId === RULE,
    // The boundary rule reads import statements, not types: no TypeScript program is needed, and
    // a source may be one that exists only here.
    overrideConfig: { languageOptions: { parserOptions: { projectService: false, project: null } } },
  });
  const results = [];
  for (const { filePath, code } of cases) {
    const [result] = await eslint.lintText(code, { filePath: path.resolve(root, filePath) });
    results.push({
      filePath,
      messages: (result?.messages ?? []).map(({ ruleId, message, line }) => ({ ruleId, message, line })),
    });
  }
  const projects = cachedProjects();
  const { depConstraints } = await import(pathToFileURL(path.join(root, 'eslint.config.mjs')).href);
  const sourceTags = depConstraints.map((constraint) => constraint.sourceTag);
  writeFileSync(output, JSON.stringify({ results, projects, sourceTags }));
}

/** The projects of the cached graph with their tags; none when there is no graph to read. */
function cachedProjects() {
  let graph;
  try {
    graph = readCachedProjectGraph();
  } catch {
    return [];
  }
  return Object.values(graph.nodes).map(({ name, data }) => ({ name, tags: data.tags ?? [] }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
