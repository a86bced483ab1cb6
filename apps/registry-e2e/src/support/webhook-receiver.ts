import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got. */
export interface ReceivedWebhook {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly at: number;
  /** What the receiver answered (0 when it hung). */
  readonly status: number;
}

/** How the receiver answers the next request: a status, or never. */
export type ReceiverBehaviour = { readonly status: number; readonly retryAfter?: string } | 'hang';

/**
 * A real HTTP server on loopback that plays a webhook receiver: it records every request and
 * answers as the test tells it (200 by default; a list of behaviours is used up first).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly script: ReceiverBehaviour[] = [];
  private fallback: ReceiverBehaviour = { status: 200 };
  private readonly waiters: (() => void)[] = [];
  private readonly hanging = new Set<ServerResponse>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      receiver.handle(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  /** Answers the next requests so, in order, then as {@link always} says. */
  next(...behaviours: ReceiverBehaviour[]): void {
    this.script.push(...behaviours);
  }

  /** How to answer once the scripted answers are used up. */
  always(behaviour: ReceiverBehaviour): void {
    this.fallback = behaviour;
  }

  /** Requests held unanswered ('hang') whose connection is still open: the sender still waits. */
  get hangingNow(): number {
    return this.hanging.size;
  }

  /** The requests answered with a 2xx. */
  get accepted(): ReceivedWebhook[] {
    return this.received.filter((r) => r.status >= 200 && r.status < 300);
  }

  /** Resolves once `predicate` holds of what arrived; rejects after `timeoutMs`. */
  async until(
    predicate: (received: readonly ReceivedWebhook[]) => boolean,
    timeoutMs = 30_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `the receiver did not get what was expected in ${timeoutMs} ms (got ${this.received.length})`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const behaviour = this.script.shift() ?? this.fallback;
      const headers = Object.fromEntries(
        Object.entries(request.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
      );
      const status = behaviour === 'hang' ? 0 : behaviour.status;
      this.received.push({ headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now(), status });
      for (const wake of this.waiters.splice(0)) wake();
      if (behaviour === 'hang') {
        this.hanging.add(response);
        response.on('close', () => this.hanging.delete(response));
        return;
      }
      response.writeHead(
        behaviour.status,
        behaviour.retryAfter ? { 'retry-after': behaviour.retryAfter } : {},
      );
      response.end('ok');
    });
  }
}
