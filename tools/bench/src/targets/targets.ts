import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { startBerth, startDistribution, type RunningBerth } from '@berth/testing';
import { berthPassthroughEnv, type BenchConfig } from '../config/bench.config';
import type { RunningTarget } from './target';

/** The repository root. */
const REPO_ROOT = resolve(__dirname, '../../../..');

/** A registry did not come up; the message says why and carries the tail of its output. */
export class RegistryStartError extends Error {
  override readonly name = 'RegistryStartError';
}

/**
 * Builds and starts all-in-one Berth exactly as `npm start` runs it (through the test harness's
 * `startBerth`), or wraps the registry at `BENCH_BERTH_URL`.
 */
export async function startBerthTarget(config: BenchConfig): Promise<RunningTarget> {
  const source = config.berth;
  if (source.kind === 'external') {
    return external('Berth', source.url, source.pid);
  }
  execFileSync(process.execPath, [join(REPO_ROOT, 'tools/scripts/build.cjs')], {
    cwd: REPO_ROOT,
    stdio: 'ignore',
  });
  let berth: RunningBerth;
  try {
    berth = await startBerth({
      shape: 'all-in-one',
      env: { BERTH_AUTH_MODE: 'none', ...berthPassthroughEnv() },
    });
  } catch (error) {
    throw new RegistryStartError(error instanceof Error ? error.message : String(error));
  }
  const pid = berth.pids()[0];
  if (pid === undefined) {
    await berth.stop();
    throw new RegistryStartError('Berth started without a process id');
  }
  return {
    name: 'Berth',
    url: berth.url,
    pid,
    description: 'all-in-one, compiled, as npm start runs it',
    stop: () => berth.stop(),
  };
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
