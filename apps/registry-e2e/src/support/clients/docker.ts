import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { makeTempDir, removeTree, run, tail, type RunOutput } from './command';

// A Docker engine of our own.

/** A dockerd that a test file started, and the client pointed at it. */
export interface DockerEngine {
  /** Environment for the `docker` CLI (DOCKER_HOST, DOCKER_CONFIG, no BuildKit). */
  readonly env: Readonly<Record<string, string>>;
  /** Runs the `docker` CLI against this engine. */
  docker(args: readonly string[], timeoutMs?: number): Promise<RunOutput>;
  /** Stops the engine (and the containerd it started) and removes all its directories. */
  stop(): Promise<void>;
}

const DOCKERD_START_TIMEOUT_MS = 60_000;
const RUN_DIR = '/run/docker';

/**
 * Starts a private dockerd (vfs storage, no bridge, no iptables) with its data root, exec root,
 * pid file, config, trust key and socket all in one temp dir. Its registry mirror and insecure
 * settings are the defaults: `127.0.0.0/8` is an insecure registry range, so a loopback Berth is
 * reached over plain HTTP. The caller's `process.env` is left alone (other helpers look for
 * DOCKER_HOST there).
 */
export async function startDockerEngine(): Promise<DockerEngine> {
  // dockerd 20.10 writes a trust key to /etc/docker/key.json unless told where; newer ones have no key.
  const version = (await run('dockerd', ['--version'])).stdout;
  const major = Number(/version (\d+)\./i.exec(version)?.[1] ?? '0');
  const dir = await makeTempDir('dockerd');
  const socket = join(dir, 'docker.sock');
  const env = {
    DOCKER_HOST: `unix://${socket}`,
    DOCKER_CONFIG: join(dir, 'client'),
    DOCKER_BUILDKIT: '0',
  };
  for (const sub of ['data', 'exec', 'client']) await mkdir(join(dir, sub));
  // dockerd always makes /run/docker/plugins; remove it afterwards if it was not there before.
  const hadRunDir = await stat(RUN_DIR).then(
    () => true,
    () => false,
  );
  await writeFile(
    join(dir, 'daemon.json'),
    JSON.stringify(major > 0 && major < 23 ? { 'deprecated-key-path': join(dir, 'key.json') } : {}),
  );
  const log = createWriteStream(join(dir, 'dockerd.log'));
  const daemon = spawn(
    'dockerd',
    [
      '--config-file',
      join(dir, 'daemon.json'),
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--storage-driver=vfs',
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'docker.pid'),
      '-H',
      `unix://${socket}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  daemon.stdout.pipe(log);
  daemon.stderr.pipe(log);
  const exited = new Promise<void>((resolve) => {
    daemon.once('exit', () => {
      resolve();
    });
  });

  const stop = async (): Promise<void> => {
    // dockerd started a containerd of its own; note it, in case dockerd dies without stopping it.
    const containerdPid = Number(
      await readFile(join(dir, 'exec', 'containerd', 'containerd.pid'), 'utf8').catch(() => ''),
    );
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM');
      const timer = setTimeout(() => daemon.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    if (containerdPid > 0 && (await isOurProcess(containerdPid, dir))) {
      try {
        process.kill(containerdPid, 'SIGKILL');
      } catch {
        // It stopped meanwhile.
      }
    }
    log.end();
    await removeTree(dir);
    if (!hadRunDir) {
      // rmdir only removes them while empty, i.e. when no other engine uses them meanwhile.
      await rmdir(join(RUN_DIR, 'plugins')).catch(() => undefined);
      await rmdir(RUN_DIR).catch(() => undefined);
    }
  };

  try {
    await waitForDockerd(socket, () => daemon.exitCode !== null);
  } catch (error) {
    const output = await readFile(join(dir, 'dockerd.log'), 'utf8').catch(() => '');
    await stop();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${tail(output)}`);
  }
  return {
    env,
    docker: (args, timeoutMs) => run('docker', args, { env, timeoutMs }),
    stop,
  };
}

async function isOurProcess(pid: number, dir: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes(dir);
}

async function waitForDockerd(socket: string, hasExited: () => boolean): Promise<void> {
  const deadline = Date.now() + DOCKERD_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error('dockerd exited while starting');
    if (await pingDockerd(socket)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`dockerd did not answer on ${socket} within ${DOCKERD_START_TIMEOUT_MS} ms`);
}

function pingDockerd(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => {
      resolve(false);
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}
