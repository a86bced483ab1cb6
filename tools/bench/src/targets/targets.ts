import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { berthNodeCommand, getFreePort, startDistribution } from '@berth/testing';
import { berthChildEnv, type BenchConfig } from '../config/bench.config';
import type { RunningTarget } from './target';

/** The repository root. */
const REPO_ROOT = resolve(__dirname, '../../../..');

/** The all-in-one entry point, run (compiled) exactly as `npm start` runs it. */
const BERTH_ENTRY = 'apps/registry/src/main.ts';

const STOP_GRACE_MS = 10_000;
const OUTPUT_TAIL_CHARS = 8_000;

/** A registry did not come up; the message says why and carries the tail of its output. */
export class RegistryStartError extends Error {
  override readonly name = 'RegistryStartError';
}

/**
 * Builds and starts all-in-one Berth (as `npm start` does) on a free port of 127.0.0.1 with a fresh data directory,
 * or wraps the registry at `BENCH_BERTH_URL`. Resolves once `GET /v2/` answers 200; rejects with
 * the tail of Berth's output if it exits or does not answer in time.
 */
export async function startBerthTarget(config: BenchConfig): Promise<RunningTarget> {
  const source = config.berth;
  if (source.kind === 'external') {
    return external('Berth', source.url, source.pid);
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-bench-data-'));
  const port = await getFreePort();
  const url = `http://127.0.0.1:${port}`;
  execFileSync(process.execPath, [join(REPO_ROOT, 'tools/scripts/build.cjs')], {
    cwd: REPO_ROOT,
    stdio: 'ignore',
  });
  const command = berthNodeCommand(BERTH_ENTRY);
  const child = spawn(process.execPath, command.args, {
    cwd: REPO_ROOT,
    env: { ...command.env, ...berthChildEnv(port, dataDir) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keepTail = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout.on('data', keepTail);
  child.stderr.on('data', keepTail);
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.removeListener('exit', killOnExit);
      await terminate(child);
      await rm(dataDir, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    await waitForRegistry(url, config.berthStartTimeoutMs, () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new RegistryStartError(
          `Berth exited during start (${child.exitCode ?? child.signalCode ?? '?'})`,
        );
      }
    });
    if (child.pid === undefined) throw new RegistryStartError('Berth started without a process id');
  } catch (error) {
    await stop();
    const reason = error instanceof Error ? error.message : String(error);
    throw new RegistryStartError(
      `${reason}\nBerth's output (last ${OUTPUT_TAIL_CHARS} characters):\n${output}`,
    );
  }
  return { name: 'Berth', url, pid: child.pid, description: `all-in-one from source (${BERTH_ENTRY})`, stop };
}

/**
 * Starts CNCF Distribution, or wraps the registry at `BENCH_DISTRIBUTION_URL`. Resolves null when
 * it is skipped by configuration or `docker-registry` is not installed.
 */
export async function startDistributionTarget(config: BenchConfig): Promise<RunningTarget | null> {
  const source = config.distribution;
  switch (source.kind) {
    case 'skip':
      return null;
    case 'external':
      return external('Distribution', source.url, source.pid);
    case 'spawn': {
      const handle = await startDistribution();
      if (handle === null) return null;
      return {
        name: 'Distribution',
        url: handle.url,
        pid: handle.pid,
        description:
          'docker-registry (CNCF Distribution), filesystem storage, in-memory blob descriptor cache',
        stop: () => handle.stop(),
      };
    }
  }
}

async function external(
  name: RunningTarget['name'],
  url: string,
  pid: number | null,
): Promise<RunningTarget> {
  await waitForRegistry(url, 5_000, () => undefined);
  return { name, url, pid, description: `already running at ${url}`, stop: () => Promise.resolve() };
}

/**
 * Polls `GET <url>/v2/` until it answers 200. `check` runs before every attempt and throws to give
 * up early (e.g. when the process has exited).
 */
async function waitForRegistry(url: string, timeoutMs: number, check: () => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    check();
    try {
      const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      lastError = `GET /v2/ answered ${response.status}`;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await new Promise((wake) => setTimeout(wake, 100));
  }
  throw new RegistryStartError(
    `${url} did not answer GET /v2/ with 200 within ${timeoutMs} ms (${lastError})`,
  );
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the child has exited. */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}
