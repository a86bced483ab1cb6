import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { STORES, type Store } from './migrations';

/**
 * One owner per table (ADR 0014): which libraries' production code may touch each store. Tests
 * may look into any store to check what code did; production code may not.
 */
const OWNERS: Readonly<Record<Store, readonly string[]>> = {
  registry: ['libs/registry/metadata', 'libs/registry/blobstore'],
  auth: ['libs/auth/feature'],
  webhooks: ['libs/webhooks/feature'],
  events: ['libs/shared/outbox'],
};

const ROOT = resolve(__dirname, '../../../../..');
const SCHEMA = join(ROOT, 'libs/shared/db/prisma/schema.prisma');

/** Each Prisma model's client accessor (`account` for `model Account`) and table, with its store. */
function modelsOf(schema: string): { accessor: string; table: string; store: Store }[] {
  const models: { accessor: string; table: string; store: Store }[] = [];
  for (const match of schema.matchAll(/^model (\w+) \{([\s\S]*?)^\}/gm)) {
    const [, name = '', body = ''] = match;
    const table = /@@map\("(\w+)"\)/.exec(body)?.[1] ?? name;
    const store = /@@schema\("(\w+)"\)/.exec(body)?.[1] as Store | undefined;
    if (store === undefined || !STORES.includes(store)) throw new Error(`model ${name} names no store`);
    models.push({ accessor: name.charAt(0).toLowerCase() + name.slice(1), table, store });
  }
  return models;
}

const PRISMA_CALLS =
  'findUnique|findUniqueOrThrow|findFirst|findFirstOrThrow|findMany|create|createMany|' +
  'createManyAndReturn|update|updateMany|upsert|delete|deleteMany|count|aggregate|groupBy';

/**
 * What a source file touches: stores by Prisma model and by schema-qualified SQL, and the SQL
 * table references that name no schema (which could not be checked, so they are findings too).
 */
function storeAccesses(
  source: string,
  models: readonly { accessor: string; table: string; store: Store }[],
): { stores: Set<Store>; unqualified: string[] } {
  const stores = new Set<Store>();
  const unqualified: string[] = [];
  const accessors = new Map(models.map((m) => [m.accessor, m.store]));
  for (const match of source.matchAll(new RegExp(`\\.(\\w+)\\.(?:${PRISMA_CALLS})\\(`, 'g'))) {
    const store = accessors.get(match[1] ?? '');
    if (store) stores.add(store);
  }
  const tables = new Set(models.map((m) => m.table));
  for (const match of source.matchAll(/\b(?:FROM|JOIN|INTO|UPDATE|USING|TABLE)\s+"?(\w+)"?(\.(\w+))?/g)) {
    const [, first = '', qualified, second = ''] = match;
    if (qualified !== undefined && (STORES as readonly string[]).includes(first)) stores.add(first as Store);
    else if (qualified === undefined && tables.has(first)) unqualified.push(first);
    else if (qualified !== undefined && first === 'public' && tables.has(second)) unqualified.push(second);
  }
  return { stores, unqualified };
}

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'generated' && entry.name !== 'node_modules') files.push(...sourceFiles(path));
    } else if (entry.name.endsWith('.ts') && !/\.(?:spec|int-spec|e2e-spec)\.ts$/.test(entry.name)) {
      files.push(path);
    }
  }
  return files;
}

/** Every project of apps/ and libs/ (a folder with a project.json), relative to the root. */
function projectDirs(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === 'node_modules') continue;
      const child = `${dir}/${entry.name}`;
      if (existsSync(join(root, child, 'project.json'))) found.push(child);
      else walk(child);
    }
  };
  walk('apps');
  walk('libs');
  return found;
}

describe('one owner per table', () => {
  const models = modelsOf(readFileSync(SCHEMA, 'utf8'));

  it('puts every model in a store', () => {
    expect(new Set(models.map((m) => m.store))).toEqual(new Set(STORES));
  });

  it("finds no production code outside a store's owners that touches it, nor SQL that names no schema", () => {
    const findings: string[] = [];
    for (const dir of projectDirs(ROOT)) {
      // The database library creates and migrates every store; it reads none at run time.
      if (dir === 'libs/shared/db') continue;
      for (const file of sourceFiles(join(ROOT, dir))) {
        const { stores, unqualified } = storeAccesses(readFileSync(file, 'utf8'), models);
        for (const store of stores) {
          if (!OWNERS[store].includes(dir)) findings.push(`${relative(ROOT, file)} touches ${store}`);
        }
        for (const table of unqualified)
          findings.push(`${relative(ROOT, file)}: ${table} without its schema`);
      }
    }
    expect(findings).toEqual([]);
  });

  it('notices a Prisma call, qualified SQL and unqualified SQL (so that the check above cannot pass by seeing nothing)', () => {
    const seen = storeAccesses(
      [
        'await db.account.findMany();',
        'await tx.$queryRaw`SELECT 1 FROM webhooks.webhook_delivery d JOIN events.event_outbox o`;',
        'await tx.$executeRaw`DELETE FROM upload_session`;',
        'const mode = config.auth.mode;',
      ].join('\n'),
      models,
    );
    expect(seen.stores).toEqual(new Set(['auth', 'webhooks', 'events']));
    expect(seen.unqualified).toEqual(['upload_session']);
  });
});
