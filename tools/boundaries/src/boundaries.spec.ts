import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The boundary canary. `@nx/enforce-module-boundaries` skips itself, with a warning and exit 0,
 * when it finds no cached project graph; this test builds the graph the way `npm run lint` does
 * (into an empty directory, so no graph left behind by an earlier run counts), lints known-bad
 * sources with the repository's configuration and expects the boundary errors. If the rule is
 * skipped, dropped from the configuration or loosened, this fails.
 */

const root = resolve(__dirname, '../../..');
const RULE = '@nx/enforce-module-boundaries';
const SCANNER_FIXTURE = 'tools/boundaries/fixtures/scanner/src/index.ts';

interface Message {
  readonly ruleId: string | null;
  readonly message: string;
  readonly line: number;
}
interface Linted {
  readonly results: readonly { readonly filePath: string; readonly messages: readonly Message[] }[];
  readonly projects: readonly { readonly name: string; readonly tags: readonly string[] }[];
  readonly sourceTags: readonly (string | undefined)[];
}

/** What each case lints: a path (the project it falls in is what counts) and its source. */
const cases: Record<string, { readonly filePath: string; readonly code: string }> = {
  gatewayAppImportsMetadata: {
    filePath: 'apps/gateway/src/boundaries-canary.ts',
    code: "export * as metadata from '@berth/metadata';\n",
  },
  gatewayLibImportsMetadata: {
    filePath: 'libs/registry/gateway/src/lib/boundaries-canary.ts',
    code: "export * as metadata from '@berth/metadata';\n",
  },
  gatewayImportsShared: {
    filePath: 'apps/gateway/src/boundaries-canary.ts',
    code: "export * as oci from '@berth/oci';\nexport * as contracts from '@berth/contracts';\n",
  },
  newScopeImportsDb: {
    filePath: SCANNER_FIXTURE,
    code: readFileSync(join(root, SCANNER_FIXTURE), 'utf8'),
  },
  metadataImportsDb: {
    filePath: 'libs/registry/metadata/src/lib/boundaries-canary.ts',
    code: "export * as db from '@berth/db';\n",
  },
  metadataImportsBlobstore: {
    filePath: 'libs/registry/metadata/src/lib/boundaries-canary.ts',
    code: "export * as blobstore from '@berth/blobstore';\n",
  },
  domainImportsNest: {
    filePath: 'libs/shared/oci/src/lib/boundaries-canary.ts',
    code: "export * as nest from '@nestjs/common';\n",
  },
  utilImportsPg: {
    filePath: 'libs/shared/config/src/lib/boundaries-canary.ts',
    code: "export * as pg from 'pg';\n",
  },
  contractsImportNats: {
    filePath: 'libs/shared/contracts/src/lib/boundaries-canary.ts',
    code: "export * as nats from 'nats';\n",
  },
};

describe('module boundaries', () => {
  let workspaceData: string;
  let linted: Linted;
  let lintOutput: string;

  beforeAll(() => {
    workspaceData = mkdtempSync(join(tmpdir(), 'berth-boundaries-'));
    const env = { ...process.env, NX_WORKSPACE_DATA_DIRECTORY: workspaceData };
    execFileSync('npm', ['run', '--silent', 'lint:graph'], { cwd: root, env, stdio: 'pipe' });
    const output = join(workspaceData, 'linted.json');
    lintOutput = execFileSync(process.execPath, [join(__dirname, 'lint-boundaries.cjs'), output], {
      cwd: root,
      env,
      input: JSON.stringify(Object.values(cases)),
      encoding: 'utf8',
    });
    linted = JSON.parse(readFileSync(output, 'utf8')) as Linted;
  }, 120_000);

  afterAll(() => {
    rmSync(workspaceData, { recursive: true, force: true });
  });

  const messagesOf = (name: keyof typeof cases): Message[] => {
    const index = Object.keys(cases).indexOf(name);
    return (linted.results[index]?.messages ?? []).filter((message) => message.ruleId === RULE);
  };

  it('runs with the graph that lint builds, and does not skip itself', () => {
    expect(lintOutput).not.toContain('No cached ProjectGraph');
    const lint = (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts['lint'];
    expect(lint?.indexOf('lint:graph')).toBeGreaterThanOrEqual(0);
    expect(lint?.indexOf('lint:graph')).toBeLessThan(lint?.indexOf('eslint') ?? -1);
  });

  it('refuses a gateway file that imports the metadata service', () => {
    for (const name of ['gatewayAppImportsMetadata', 'gatewayLibImportsMetadata'] as const) {
      expect(messagesOf(name)).toEqual([
        expect.objectContaining({
          message:
            'A project tagged with "scope:gateway" can only depend on libs tagged with "scope:shared", "scope:gateway"',
        }),
      ]);
    }
  });

  it('lets the gateway use shared libraries', () => {
    expect(messagesOf('gatewayImportsShared')).toEqual([]);
  });

  it('refuses the database library to a scope that has no rule of its own, and allows shared ones', () => {
    expect(messagesOf('newScopeImportsDb')).toEqual([
      expect.objectContaining({
        line: 5,
        message: expect.stringContaining('can only depend on libs tagged with "scope:shared"') as string,
      }),
    ]);
  });

  it('lets metadata use the database library, and not another service', () => {
    expect(messagesOf('metadataImportsDb')).toEqual([]);
    expect(messagesOf('metadataImportsBlobstore')).toEqual([
      expect.objectContaining({
        message: expect.stringContaining('"scope:metadata" can only depend on') as string,
      }),
    ]);
  });

  it('keeps Nest, pg and NATS out of domain, util and contracts libraries', () => {
    expect(messagesOf('domainImportsNest')).toEqual([
      expect.objectContaining({
        message: 'A project tagged with "type:domain" is not allowed to import "@nestjs/common"',
      }),
    ]);
    expect(messagesOf('utilImportsPg')).toEqual([
      expect.objectContaining({ message: 'A project tagged with "type:util" is not allowed to import "pg"' }),
    ]);
    expect(messagesOf('contractsImportNats')).toEqual([
      expect.objectContaining({
        message: 'A project tagged with "type:contracts" is not allowed to import "nats"',
      }),
    ]);
  });

  it('finds one type and one scope on every project, and a rule for every type', () => {
    expect(linted.projects.map((project) => project.name)).toContain('boundaries-fixture-scanner');
    for (const { name, tags } of linted.projects) {
      const types = tags.filter((tag) => tag.startsWith('type:'));
      const scopes = tags.filter((tag) => tag.startsWith('scope:'));
      expect({ name, types: types.length, scopes: scopes.length }).toEqual({ name, types: 1, scopes: 1 });
      expect(linted.sourceTags).toContain(types[0]);
    }
  });
});
