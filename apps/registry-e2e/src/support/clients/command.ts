import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// What every real-client helper (skopeo, umoci, buildah, podman, docker) shares: every command runs
// with a timeout and its stderr goes into the error it throws; every directory and process they
// create is owned by the test that asked for it and removed by it.

/** How long one CLI step may take unless the caller says otherwise. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;

/** Options of one command run. */
export interface RunOptions {
  /** Kill the command (and its process group) after this long. */
  readonly timeoutMs?: number;
  /** Variables added to the inherited environment. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/** What a command printed. */
export interface RunOutput {
  /** Standard output, exactly as printed (manifests are compared byte for byte). */
  readonly bytes: Buffer;
  /** Standard output as UTF-8. */
  readonly stdout: string;
  readonly stderr: string;
}

/** A command that failed, timed out or could not start, with what it printed. */
export class CommandError extends Error {
  constructor(
    readonly commandLine: string,
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stdout: string,
    readonly stderr: string,
    reason: string,
  ) {
    super(
      `${commandLine}\n  ${reason}\n  stderr: ${tail(stderr) || '(empty)'}\n  stdout: ${tail(stdout) || '(empty)'}`,
    );
    this.name = 'CommandError';
  }
}

/** The end of a command's output, at most `max` characters of it, for error messages. */
export function tail(text: string, max = 4000): string {
  const trimmed = text.trim();
  return trimmed.length > max ? `…${trimmed.slice(-max)}` : trimmed;
}

/**
 * Runs a command without a shell and resolves with its output when it exits 0; otherwise rejects
 * with a {@link CommandError} that carries its exit code and stderr. The command runs in its own
 * process group so that a timeout kills whatever it started too.
 */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunOutput> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const commandLine = [command, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new CommandError(commandLine, null, null, '', '', `could not start: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      const stdout = bytes.toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0 && !timedOut) {
        resolve({ bytes, stdout, stderr });
        return;
      }
      const reason = timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${code ?? signal ?? '?'}`;
      reject(new CommandError(commandLine, code, signal, stdout, stderr, reason));
    });
  });
}

/** Makes a fresh directory under the system temp dir. */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `berth-e2e-${prefix}-`));
}

/**
 * Removes a directory tree that container tools wrote: unmounts anything still mounted below it,
 * makes read-only directories writable (image layers may contain them), then deletes it.
 */
export async function removeTree(path: string): Promise<void> {
  for (const mountPoint of await mountsUnder(path)) {
    await run('umount', ['-l', mountPoint], { timeoutMs: 10_000 }).catch(() => undefined);
  }
  await run('chmod', ['-R', 'u+w', path], { timeoutMs: 60_000 }).catch(() => undefined);
  await rm(path, { recursive: true, force: true });
}

async function mountsUnder(path: string): Promise<string[]> {
  const mountInfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return mountInfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint === path || mountPoint.startsWith(`${path}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Temp directories of one test: `dir()` makes one, `cleanup()` (in `afterEach`) removes them all.
 */
export class Scratch {
  private readonly dirs: string[] = [];
  private readonly cleanups: (() => Promise<unknown>)[] = [];

  /** A fresh directory that `cleanup()` removes. */
  async dir(prefix: string): Promise<string> {
    const path = await makeTempDir(prefix);
    this.dirs.push(path);
    return path;
  }

  /** Registers work to do at cleanup, before the directories go (e.g. `buildah rm --all`). */
  defer(cleanup: () => Promise<unknown>): void {
    this.cleanups.push(cleanup);
  }

  /** Runs the deferred work in reverse order, then removes every directory; never throws. */
  async cleanup(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      await cleanup().catch(() => undefined);
    }
    for (const dir of this.dirs.splice(0)) await removeTree(dir);
  }
}

/** Writes files of random bytes under `root` (paths relative to it) and returns their contents. */
export async function writeRandomFiles(
  root: string,
  sizes: Readonly<Record<string, number>>,
): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const [path, size] of Object.entries(sizes)) {
    const bytes = randomBytes(size);
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), bytes);
    files.set(path, bytes);
  }
  return files;
}
