import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from 'nats';
import { getFreePort } from './distribution';
import { startS3Server } from './s3-server';
import { createTestDatabase, testServices, uniqueNamespace } from './services';

/** Which way Berth is assembled: one process, or gateway, metadata and blobstore apart over NATS. */
export type BerthShape = 'all-in-one' | 'distributed';

/** Options of a registry under test. */
export interface StartBerthOptions {
  readonly shape: BerthShape;
  readonly storage?: 'filesystem' | 's3';
  /** Gateway replicas (distributed only); each gets its own URL. */
  readonly gateways?: number;
  /** Extra `BERTH_*` settings for every process. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A running Berth that a test owns. */
export interface RunningBerth {
  /** Base URL of the (first) gateway, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Base URL of the token service and management API (`/token`, `/api/v1`). */
  readonly authUrl: string;
  /** Base URL of the webhooks API (`/api/v1/projects/{project}/webhooks`). */
  readonly webhooksUrl: string;
  /** The system admin the first start created. */
  readonly admin: { readonly username: string; readonly password: string };
  /** `host:port` of the (first) gateway, as registry clients want it. */
  readonly host: string;
  /** Base URLs of every gateway replica. */
  readonly gatewayUrls: readonly string[];
  /** The NATS bus the services talk over (distributed shape only), for tests that watch it. */
  readonly nats: { readonly url: string; readonly namespace: string } | null;
  /** Process ids of every Berth process, for callers that sample memory. */
  pids(): number[];
  /** Every running Berth process by name (`registry`; or `metadata`, `webhooks`, `gateway-0`, …). */
  processes(): { readonly name: string; readonly pid: number }[];
  /** Stops gateway replica `index` and starts it again on the same port. */
  restartGateway(index: number): Promise<void>;
  /**
   * Kills a process of the distributed shape by name (`webhooks`, `metadata`, …) with SIGKILL,
   * as a crash would; the all-in-one has one process, `registry`.
   */
  kill(name: string): Promise<void>;
  /** Starts a process that was killed again, on the same port and with the same settings. */
  start(name: string): Promise<void>;
  /** Stops every process and removes everything it stored. */
  stop(): Promise<void>;
}

const ROOT = resolve(__dirname, '../../../../..');
const START_TIMEOUT_MS = 60_000;

interface Child {
  readonly name: string;
  readonly entry: string;
  readonly env: Record<string, string>;
  readonly readyUrl: string;
  process?: ChildProcess;
}

/**
 * Starts a real Berth in child processes, exactly as an operator would run it: the all-in-one
 * with its embedded defaults, or the distributed services on PostgreSQL and NATS (each run gets a
 * database and a NATS namespace of its own). Storage is the filesystem or a real S3 server.
 */
export async function startBerth(options: StartBerthOptions): Promise<RunningBerth> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-under-test-'));
  const cleanups: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  const children: Child[] = [];
  let nats: RunningBerth['nats'] = null;
  const adminPassword =
    options.env?.['BERTH_ADMIN_PASSWORD'] ?? `admin-${randomBytes(9).toString('base64url')}`;
  try {
    const env: Record<string, string> = {
      BERTH_ADMIN_PASSWORD: adminPassword,
      BERTH_HTTP_HOST: '127.0.0.1',
      BERTH_LOG_LEVEL: 'warn',
      BERTH_DATA_DIR: join(dir, 'data'),
      ...(await storageEnv(options.storage ?? 'filesystem', dir, cleanups)),
      ...options.env,
    };
    if (options.shape === 'all-in-one') {
      const port = await getFreePort();
      children.push(
        child(
          'registry',
          'apps/registry/src/main.ts',
          { ...env, BERTH_HTTP_PORT: String(port) },
          port,
          '/readyz',
        ),
      );
    } else {
      const services = await testServices();
      const database = await createTestDatabase();
      cleanups.push(() => database.drop());
      const namespace = uniqueNamespace();
      nats = { url: services.natsUrl, namespace };
      cleanups.push(() => deleteStream(services.natsUrl, namespace));
      const shared = {
        ...env,
        BERTH_BUS: 'nats',
        BERTH_NATS_URL: services.natsUrl,
        BERTH_NATS_NAMESPACE: namespace,
        BERTH_DATABASE_URL: database.url,
        // Every webhooks instance must seal and open secrets with the same key.
        BERTH_WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'),
        ...options.env,
      };
      const authPort = await getFreePort();
      for (const [name, entry, port] of [
        ['metadata', 'apps/metadata/src/main.ts', await getFreePort()],
        ['blobstore', 'apps/blobstore/src/main.ts', await getFreePort()],
        ['auth', 'apps/auth/src/main.ts', authPort],
        ['webhooks', 'apps/webhooks/src/main.ts', await getFreePort()],
      ] as const) {
        children.push(child(name, entry, { ...shared, BERTH_HTTP_PORT: String(port) }, port, '/readyz'));
      }
      // Without an ingress in front, clients are sent straight to the auth service for tokens.
      const realm = options.env?.['BERTH_AUTH_REALM'] ?? `http://127.0.0.1:${authPort}/token`;
      for (let i = 0; i < (options.gateways ?? 1); i++) {
        const port = await getFreePort();
        children.push(
          child(
            `gateway-${i}`,
            'apps/gateway/src/main.ts',
            { ...shared, BERTH_HTTP_PORT: String(port), BERTH_AUTH_REALM: realm },
            port,
            '/readyz',
          ),
        );
      }
    }
    await Promise.all(children.map((c) => launch(c, dir)));
  } catch (error) {
    await stopAll(children, cleanups);
    throw error;
  }
  const gateways = children.filter((c) => c.name === 'registry' || c.name.startsWith('gateway'));
  const baseUrl = (c: Child) => c.readyUrl.replace(/\/readyz$/, '');
  const gatewayUrls = gateways.map(baseUrl);
  const url = gatewayUrls[0] ?? '';
  const auth = children.find((c) => c.name === 'auth');
  const webhooks = children.find((c) => c.name === 'webhooks');
  return {
    url,
    authUrl: auth ? baseUrl(auth) : url,
    webhooksUrl: webhooks ? baseUrl(webhooks) : url,
    admin: { username: 'admin', password: adminPassword },
    host: url.replace(/^http:\/\//, ''),
    nats,
    gatewayUrls,
    pids: () => running(children).map((p) => p.pid),
    processes: () => running(children),
    restartGateway: async (index) => {
      const gateway = gateways[index];
      if (!gateway) throw new Error(`no gateway ${index}`);
      await terminate(gateway);
      await launch(gateway, dir);
    },
    kill: async (name) => {
      const target = named(children, name);
      const proc = target.process;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((done) =>
        proc.once('exit', () => {
          done();
        }),
      );
      proc.kill('SIGKILL');
      await exited;
    },
    start: (name) => launch(named(children, name), dir),
    stop: () => stopAll(children, cleanups),
  };
}

/** The children that have a process, by name. */
function running(children: readonly Child[]): { readonly name: string; readonly pid: number }[] {
  return children.flatMap((c) =>
    c.process?.pid === undefined ? [] : [{ name: c.name, pid: c.process.pid }],
  );
}

function named(children: readonly Child[], name: string): Child {
  const found = children.find((c) => c.name === name);
  if (!found) throw new Error(`no process "${name}" (there are: ${children.map((c) => c.name).join(', ')})`);
  return found;
}

/**
 * How `npm start` runs a Berth app: the compiled build (`npm run build`; the e2e global setup and
 * the bench build once) with the Node flags and environment of `package.json`'s `config`, which
 * keep a process's memory bounded. `entry` is the app's source path, e.g. `apps/registry/src/main.ts`.
 */
export function berthNodeCommand(entry: string): { args: string[]; env: Record<string, string> } {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    config: { node_flags: string };
  };
  return {
    args: [
      ...pkg.config.node_flags.split(' ').filter(Boolean),
      join(ROOT, 'dist', entry.replace(/\.ts$/, '.js')),
    ],
    env: { MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '131072' },
  };
}

function child(
  name: string,
  entry: string,
  env: Record<string, string>,
  port: number,
  readyPath: string,
): Child {
  return { name, entry, env, readyUrl: `http://127.0.0.1:${port}${readyPath}` };
}

async function launch(target: Child, dir: string): Promise<void> {
  const logPath = join(dir, `${target.name}.log`);
  const log = createWriteStream(logPath, { flags: 'a' });
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('BERTH_')),
  );
  const { args, env } = berthNodeCommand(target.entry);
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...inherited, ...env, ...target.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  target.process = proc;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) break;
    try {
      const response = await fetch(target.readyUrl);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  const output = await readFile(logPath, 'utf8').catch(() => '');
  throw new Error(`berth ${target.name} did not start (exit ${proc.exitCode}):\n${output.slice(-4000)}`);
}

async function terminate(target: Child): Promise<void> {
  const proc = target.process;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => {
    proc.once('exit', () => {
      r();
    });
  });
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function stopAll(
  children: readonly Child[],
  cleanups: readonly (() => Promise<void>)[],
): Promise<void> {
  await Promise.all(children.map(terminate));
  for (const cleanup of [...cleanups].reverse()) {
    await cleanup().catch(() => undefined);
  }
}

async function storageEnv(
  kind: 'filesystem' | 's3',
  dir: string,
  cleanups: (() => Promise<void>)[],
): Promise<Record<string, string>> {
  if (kind === 'filesystem')
    return { BERTH_STORAGE_DRIVER: 'filesystem', BERTH_STORAGE_ROOT: join(dir, 'blobs') };
  const s3 = await startS3Server();
  cleanups.push(() => s3.stop());
  return {
    BERTH_STORAGE_DRIVER: 's3',
    BERTH_S3_ENDPOINT: s3.endpoint,
    BERTH_S3_REGION: s3.region,
    BERTH_S3_BUCKET: s3.bucket,
    BERTH_S3_ACCESS_KEY: s3.accessKey,
    BERTH_S3_SECRET_KEY: s3.secretKey,
  };
}

async function deleteStream(natsUrl: string, namespace: string): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(`${namespace}_BERTH_EVENTS`).catch(() => false);
  } finally {
    await nc.close();
  }
}
