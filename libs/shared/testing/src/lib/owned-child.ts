import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';

/** The output kept from a child, enough to explain a failed start. */
const OUTPUT_TAIL_CHARS = 4_000;

/** How long `stop()` waits after SIGTERM before it sends SIGKILL. */
const STOP_GRACE_MS = 5_000;

/** A server process that a test started and owns. */
export interface OwnedChild {
  readonly child: ChildProcess;
  /** The tail of what it wrote (stderr, and stdout unless the caller reads stdout itself). */
  readonly output: () => string;
  /**
   * SIGTERM, then SIGKILL after a grace period; resolves once it has exited and `removeOnStop`
   * is gone. Safe to call more than once.
   */
  readonly stop: () => Promise<void>;
}

/**
 * Spawns a server for a test. It never outlives the test process, even when that crashes (it is
 * killed on exit), and its output is kept for error messages.
 */
export function spawnOwned(
  command: string,
  args: readonly string[],
  options: {
    readonly cwd?: string;
    /** `pipe` lets a child that exits when its stdin closes die with this process. */
    readonly stdin?: 'ignore' | 'pipe';
    /** Leaves stdout unread by this helper, for a caller that parses it. */
    readonly ownStdout?: boolean;
    /** A directory to remove once the child has exited. */
    readonly removeOnStop?: string;
  } = {},
): OwnedChild {
  const child = spawn(command, args, {
    ...(options.cwd !== undefined && { cwd: options.cwd }),
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keepTail = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  if (options.ownStdout !== true) child.stdout?.on('data', keepTail);
  child.stderr?.on('data', keepTail);
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  return {
    child,
    output: () => output,
    stop: () =>
      (stopped ??= (async () => {
        process.removeListener('exit', killOnExit);
        await killChild(child);
        if (options.removeOnStop !== undefined)
          await rm(options.removeOnStop, { recursive: true, force: true });
      })()),
  };
}

/** Sends SIGTERM, then SIGKILL after a grace period; resolves once the child has exited. */
async function killChild(child: ChildProcess): Promise<void> {
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
