import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnOwned } from './owned-child';

/** The executable Debian's `docker-registry` package installs (CNCF Distribution 2.8). */
const DISTRIBUTION_BINARY = 'docker-registry';

/** How long a freshly spawned registry may take to answer `GET /v2/`. */
const READY_TIMEOUT_MS = 15_000;

/** A running CNCF Distribution registry that the caller owns. */
export interface DistributionHandle {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Process id of the registry, for callers that sample its memory. */
  readonly pid: number;
  /** Kills the registry and removes its temporary directory. Safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Where {@link getFreePort} picks ports: below Linux's ephemeral range (32768–60999 by default),
 * which the kernel hands out to outgoing connections and to `listen(0)`. Asking the kernel with
 * `listen(0)` and closing at once, as this harness did, can give the same port to two services
 * started together (a closed port is free again at once): once, `auth` could not listen, and the
 * harness took the gateway answering on that port for `auth` (`POST /api/v1/projects` → 404).
 */
const PORT_RANGE = { from: 20_000, to: 32_000 } as const;

/** Ports this process has handed out, never handed out twice. */
const handedOut = new Set<number>();

/**
 * A TCP port on 127.0.0.1 that is free right now, picked at random below the ephemeral range (see
 * {@link PORT_RANGE}) and never the same twice in one process. Another process may still take it
 * before the caller binds it; callers that spawn servers should treat a failed start as fatal
 * rather than retry blindly.
 */
export async function getFreePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port between ${PORT_RANGE.from} and ${PORT_RANGE.to} after 100 tries`);
}

/** Whether a server could listen on `port` of 127.0.0.1 now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => {
      resolve(false);
    });
    server.listen(port, '127.0.0.1', () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

/**
 * Starts CNCF Distribution (`docker-registry serve`) on a free port of 127.0.0.1 with filesystem
 * storage in a fresh temporary directory, deletes enabled, no auth, only errors logged, no access
 * log and no debug server. Resolves once `GET /v2/` answers 200.
 *
 * Resolves `null` when `docker-registry` is not on PATH, so callers can skip rather than fail.
 * Rejects when the binary exists but the registry does not come up; the directory is removed then.
 */
export async function startDistribution(): Promise<DistributionHandle | null> {
  if (!isOnPath(DISTRIBUTION_BINARY)) return null;

  const dir = await mkdtemp(join(tmpdir(), 'berth-distribution-'));
  const port = await getFreePort();
  const url = `http://127.0.0.1:${port}`;
  // JSON is valid YAML, and writing it avoids quoting mistakes in generated YAML.
  const config = {
    version: '0.1',
    log: { level: 'error', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: join(dir, 'data') },
      delete: { enabled: true },
      // Distribution's stock configuration caches blob descriptors in memory; the comparison is
      // against the registry as it is normally deployed.
      cache: { blobdescriptor: 'inmemory' },
    },
    // No `http.debug` key: Distribution only starts its debug server when one is configured.
    http: { addr: `127.0.0.1:${port}` },
  };
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, JSON.stringify(config, null, 2));

  const { child, output, stop } = spawnOwned(DISTRIBUTION_BINARY, ['serve', configPath], {
    cwd: dir,
    removeOnStop: dir,
  });

  try {
    await waitUntilReady(url, child, output);
  } catch (error) {
    await stop();
    throw error;
  }
  if (child.pid === undefined) {
    await stop();
    throw new Error('docker-registry started without a process id');
  }
  return { url, pid: child.pid, stop };
}

/** Whether `command` resolves to an executable on PATH. */
function isOnPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Polls `GET <url>/v2/` until it answers 200; fails early if the child exits. */
async function waitUntilReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited during start (code ${child.exitCode}):\n${output()}`);
    }
    try {
      const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      lastError = `GET /v2/ answered ${response.status}`;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await new Promise((wake) => setTimeout(wake, 50));
  }
  throw new Error(
    `docker-registry did not become ready within ${READY_TIMEOUT_MS} ms (${lastError}):\n${output()}`,
  );
}
