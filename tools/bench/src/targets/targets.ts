import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { startBerth, startDistribution, type RunningBerth } from '@berth/testing';
import { berthPassthroughEnv, type BenchConfig, type WebhookBenchShape } from '../config/bench.config';
import { ManagementApi } from './management-api';
import { RegistryStartError } from './registry-start.error';
import { provisionRobot } from './robot-account';
import type { RunningTarget } from './target';

/** A Berth the bench started, with its management API, which the bench may call as the admin. */
export interface AdministeredTarget extends RunningTarget {
  readonly api: ManagementApi;
}

/** The repository root. */
const REPO_ROOT = resolve(__dirname, '../../../..');

/**
 * Builds and starts all-in-one Berth with auth off exactly as `npm start` runs it (through the
 * test harness's `startBerth`), or wraps the registry at `BENCH_BERTH_URL`.
 */
export async function startBerthTarget(config: BenchConfig): Promise<RunningTarget> {
  const source = config.berth;
  if (source.kind === 'external') {
    return external('Berth', 'berth', source.url, source.pid, 200);
  }
  const berth = await spawnBerth({ BERTH_AUTH_MODE: 'none', ...berthPassthroughEnv() });
  return {
    name: 'Berth',
    slug: 'berth',
    url: berth.url,
    pid: berthPid(berth),
    description: 'all-in-one, compiled, as npm start runs it, auth off',
    credentials: null,
    stop: () => berth.stop(),
  };
}

/**
 * Starts a second all-in-one Berth with token auth on (Berth's default), or wraps the registry at
 * `BENCH_BERTH_AUTH_URL`; creates the private project `project` there and a robot that may pull
 * and push in it, whose tokens the bench uses. Resolves null when skipped by configuration.
 */
export async function startBerthAuthTarget(
  config: BenchConfig,
  project: string,
): Promise<RunningTarget | null> {
  const source = config.berthAuth;
  const robotName = project;
  switch (source.kind) {
    case 'skip':
      return null;
    case 'external': {
      const target = await external('Berth (auth on)', 'berth-auth', source.url, source.pid, 401);
      const robot = await provisionRobot(source.apiUrl, source.admin, project, robotName);
      return {
        ...target,
        description: `${target.description}, token auth on; Bearer tokens of ${robot.credentials.username}`,
        credentials: robot.credentials,
        stop: () => robot.revoke(),
      };
    }
    case 'spawn': {
      // Set after the passthrough so that a BERTH_AUTH_MODE in the bench's environment cannot turn
      // this target's auth off; `token` is also Berth's default.
      const berth = await spawnBerth({ ...berthPassthroughEnv(), BERTH_AUTH_MODE: 'token' });
      try {
        const robot = await provisionRobot(berth.authUrl, berth.admin, project, robotName);
        return {
          name: 'Berth (auth on)',
          slug: 'berth-auth',
          url: berth.url,
          pid: berthPid(berth),
          description: `all-in-one, compiled, token auth on; Bearer tokens of ${robot.credentials.username}`,
          credentials: robot.credentials,
          stop: () => berth.stop(),
        };
      } catch (error) {
        await berth.stop();
        throw error;
      }
    }
  }
}

/**
 * Starts the Berth of issue 4's webhook runs: all-in-one with auth off, started exactly as the
 * auth-off Berth is, plus `BERTH_WEBHOOK_ALLOWED_CIDRS=127.0.0.0/8` so that it may deliver to the
 * bench's receiver on loopback. A Berth of its own, so that its deliveries neither share a
 * database with the other scenarios' data nor count in the auth-off Berth's memory row. Resolves
 * null when skipped by configuration.
 */
export async function startBerthWebhooksTarget(
  config: BenchConfig,
  shape: WebhookBenchShape,
): Promise<WebhooksTarget | null> {
  if (config.webhooks.kind === 'skip') return null;
  const berth = await spawnBerth(
    { BERTH_AUTH_MODE: 'none', ...berthPassthroughEnv(), BERTH_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8' },
    shape,
  );
  const allInOne = shape === 'all-in-one';
  return {
    name: `Berth (webhooks, ${shape})`,
    slug: `berth-webhooks-${shape}`,
    url: berth.url,
    // The distributed shape is several processes; the memory budget is the all-in-one's.
    pid: allInOne ? berthPid(berth) : null,
    description: allInOne
      ? 'all-in-one, compiled, auth off, webhook targets on 127.0.0.0/8 allowed'
      : 'distributed: gateway, metadata, blobstore, auth and webhooks processes on the local ' +
        'PostgreSQL and NATS, compiled, auth off, webhook targets on 127.0.0.0/8 allowed',
    credentials: null,
    // The all-in-one serves every API on the registry's port; apart, auth and webhooks serve theirs.
    api: new ManagementApi(berth.authUrl, berth.admin),
    webhooksApi: new ManagementApi(berth.webhooksUrl, berth.admin),
    processes: () => berth.processes(),
    // The distributed services share the machine's PostgreSQL and NATS; the all-in-one embeds its database.
    services: allInOne ? [] : ['postgres', 'nats-server'],
    stop: () => berth.stop(),
  };
}

/** A Berth for the webhook runs: its management API, and the API where webhooks are managed. */
export interface WebhooksTarget extends AdministeredTarget {
  readonly webhooksApi: ManagementApi;
  /**
   * Every process of this Berth by name (`registry`; or `webhooks`, `gateway-0`, … each service
   * apart), whose CPU time is read.
   */
  processes(): readonly { readonly name: string; readonly pid: number }[];
  /** The names of the machine's server processes it works through, whose CPU time is read too. */
  readonly services: readonly string[];
}

let built = false;

/** Builds Berth (once per bench run) and starts it (all-in-one unless told) with `env`. */
async function spawnBerth(
  env: Record<string, string>,
  shape: WebhookBenchShape = 'all-in-one',
): Promise<RunningBerth> {
  if (!built) {
    execFileSync(process.execPath, [join(REPO_ROOT, 'tools/scripts/build.cjs')], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    });
    built = true;
  }
  let berth: RunningBerth;
  try {
    berth = await startBerth({ shape, env });
  } catch (error) {
    throw new RegistryStartError(error instanceof Error ? error.message : String(error));
  }
  if (berth.pids()[0] === undefined) {
    await berth.stop();
    throw new RegistryStartError('Berth started without a process id');
  }
  return berth;
}

/** The all-in-one's one process. */
function berthPid(berth: RunningBerth): number | null {
  return berth.pids()[0] ?? null;
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
      return external('Distribution', 'distribution', source.url, source.pid, 200);
    case 'spawn': {
      const handle = await startDistribution();
      if (handle === null) return null;
      return {
        name: 'Distribution',
        slug: 'distribution',
        url: handle.url,
        pid: handle.pid,
        description:
          'docker-registry (CNCF Distribution), filesystem storage, in-memory blob descriptor cache',
        credentials: null,
        stop: () => handle.stop(),
      };
    }
  }
}

/**
 * A registry the bench did not start, once `GET /v2/` without credentials answers `status` (200
 * with auth off, 401 with auth on).
 */
async function external(
  name: RunningTarget['name'],
  slug: string,
  url: string,
  pid: number | null,
  status: 200 | 401,
): Promise<RunningTarget> {
  await waitForRegistry(url, status, 5_000);
  return {
    name,
    slug,
    url,
    pid,
    description: `already running at ${url}`,
    credentials: null,
    stop: () => Promise.resolve(),
  };
}

/** Polls `GET <url>/v2/` without credentials until it answers `status`. */
async function waitForRegistry(url: string, status: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === status) return;
      lastError = `GET /v2/ answered ${response.status}`;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await new Promise((wake) => setTimeout(wake, 100));
  }
  throw new RegistryStartError(
    `${url} did not answer GET /v2/ with ${status} within ${timeoutMs} ms (${lastError})`,
  );
}
