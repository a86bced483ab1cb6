import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One webhook request, as the receiver got it. */
export interface Receipt {
  /** The request's path, which tells the subscriptions apart (`/default`, `/cloudevents`, …). */
  readonly path: string;
  /** `webhook-id`: the delivery's id, the same on every retry of it; empty when missing. */
  readonly deliveryId: string;
  readonly body: string;
  /** `Date.now()` when the whole body had arrived. */
  readonly receivedAt: number;
}

/**
 * A webhook target on 127.0.0.1 that records each request and answers `204` at once, so that
 * what the bench measures is Berth's side of a delivery. It keeps the raw bodies and parses
 * nothing while the pushes are timed: it shares the CPU with the bench's client.
 */
export class WebhookReceiver {
  private readonly log: Receipt[] = [];
  private readonly ids = new Set<string>();
  private wake: (() => void) | null = null;

  private constructor(private readonly server: Server) {}

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      receiver.handle(request, response);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return receiver;
  }

  /** The URL of `path` on this receiver, e.g. `/cloudevents`. */
  url(path: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  /** Every request so far, retries included, in arrival order. */
  get receipts(): readonly Receipt[] {
    return this.log;
  }

  /** How many distinct deliveries (by `webhook-id`) have arrived. */
  get distinct(): number {
    return this.ids.size;
  }

  /**
   * Resolves true once `count` distinct deliveries have arrived, or false once none has arrived
   * for `quietMs`: deliveries still trickling in are waited for, a stalled dispatcher is not.
   */
  async waitForDistinct(count: number, quietMs: number): Promise<boolean> {
    while (this.ids.size < count) {
      const before = this.log.length;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, quietMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
      if (this.log.length === before) return false;
    }
    return true;
  }

  async stop(): Promise<void> {
    this.wake?.();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const receivedAt = Date.now();
      response.writeHead(204).end();
      const id = request.headers['webhook-id'];
      const deliveryId = typeof id === 'string' ? id : '';
      this.log.push({
        path: request.url ?? '',
        deliveryId,
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt,
      });
      if (deliveryId !== '') this.ids.add(deliveryId);
      this.wake?.();
    });
  }
}
