import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort } from './distribution';
import { spawnOwned, type OwnedChild } from './owned-child';

/** Debian's nats-server, the one the machine's own NATS runs. */
const NATS_BINARY = '/usr/sbin/nats-server';

const READY_TIMEOUT_MS = 10_000;

/** A NATS server with JetStream that a test owns, and may stop and start again. */
export interface PrivateNats {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** Stops the server (SIGTERM, as an operator's restart would); its JetStream store stays. */
  stopServer(): Promise<void>;
  /** Starts it again on the same port with the same store. */
  startServer(): Promise<void>;
  /** Stops it for good and removes its store. */
  stop(): Promise<void>;
}

/**
 * Starts a NATS server with JetStream on a free port of 127.0.0.1 and a store in a temporary
 * directory, for tests that restart NATS under a running Berth (the machine's NATS is shared
 * with every other test and must stay up).
 */
export async function startPrivateNats(): Promise<PrivateNats> {
  if (!existsSync(NATS_BINARY)) throw new Error(`${NATS_BINARY} is missing`);
  const dir = await mkdtemp(join(tmpdir(), 'berth-nats-'));
  const port = await getFreePort();
  let server: OwnedChild | null = null;
  const startServer = async (): Promise<void> => {
    const started = spawnOwned(NATS_BINARY, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir]);
    server = started;
    await waitForPort(port, started);
  };
  const stopServer = async (): Promise<void> => {
    await server?.stop();
    server = null;
  };
  await startServer();
  return {
    url: `nats://127.0.0.1:${port}`,
    stopServer,
    startServer,
    stop: async () => {
      await stopServer();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, server: OwnedChild): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null)
      throw new Error(`nats-server exited during start:\n${server.output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        resolve(false);
      });
    });
    if (open) return;
    await new Promise((wake) => setTimeout(wake, 50));
  }
  throw new Error(`nats-server did not listen on ${port} within ${READY_TIMEOUT_MS} ms:\n${server.output()}`);
}
