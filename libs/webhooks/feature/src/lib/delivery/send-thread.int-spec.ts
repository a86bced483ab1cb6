import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateSecret, verifyWebhook } from '@berth/webhooks-core';
import type { OutgoingBatch, OutgoingDelivery } from './batch-sender';
import { ThreadedBatchSender } from './send-thread';

/** A real receiver on 127.0.0.1: answers each request with the next status of `statuses` (then 200). */
class Receiver {
  private constructor(
    readonly received: readonly { headers: IncomingMessage['headers']; body: string }[],
    private readonly hanging: readonly ServerResponse[],
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(statuses: (number | 'hang')[]): Promise<Receiver> {
    const received: { headers: IncomingMessage['headers']; body: string }[] = [];
    const hanging: ServerResponse[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const status = statuses.shift() ?? 200;
        if (status === 'hang') hanging.push(res);
        else res.writeHead(status).end(status === 410 ? 'gone for good' : 'ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new Receiver(received, hanging, server, `http://127.0.0.1:${port}/hook`);
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }
}

const SECRET = generateSecret();

function delivery(n: number, attempts = 0): OutgoingDelivery {
  return {
    id: `00000000-0000-8000-8000-00000000000${n}`,
    attempts,
    contentType: 'application/json',
    body: JSON.stringify({ n, text: 'ünïcode' }),
    giveUpAt: new Date(Date.now() + 60_000),
  };
}

function batch(url: string, deliveries: OutgoingDelivery[]): OutgoingBatch {
  return { target: { url, headers: { 'x-team': 'platform' }, secrets: [SECRET] }, deliveries };
}

describe('ThreadedBatchSender', () => {
  const receivers: Receiver[] = [];
  let sut: ThreadedBatchSender;

  beforeEach(() => {
    sut = new ThreadedBatchSender({
      sender: { allowedCidrs: ['127.0.0.0/8'], timeoutMs: 5_000 },
      retry: { retryWindowMs: 3_600_000 },
    });
  });

  afterEach(async () => {
    await sut.close();
    for (const receiver of receivers.splice(0)) await receiver.stop();
  });

  async function receiver(statuses: (number | 'hang')[] = []): Promise<Receiver> {
    const started = await Receiver.start(statuses);
    receivers.push(started);
    return started;
  }

  it('sends a batch in order from its thread, each delivery signed and verifiable', async () => {
    const target = await receiver();
    const deliveries = [delivery(1), delivery(2), delivery(3)];

    const sent = await sut.send(batch(target.url, deliveries));

    expect(sent.disable).toBeNull();
    expect(sent.attempts.map((a) => [a.deliveryId, a.attempt, a.succeeded, a.responseCode, a.next])).toEqual(
      deliveries.map((d) => [d.id, 1, true, 200, { status: 'delivered' }]),
    );
    // Dates cross the thread as dates (jest's realm has its own Date, hence no instanceof).
    expect(Number.isInteger(sent.attempts[0]?.at.getTime())).toBe(true);
    expect(target.received.map((r) => r.body)).toEqual(deliveries.map((d) => d.body));
    for (const [i, request] of target.received.entries()) {
      expect(request.headers['x-team']).toBe('platform');
      expect(request.headers['content-type']).toBe('application/json');
      expect(verifyWebhook({ headers: request.headers, body: request.body, secrets: SECRET })).toEqual({
        ok: true,
        id: deliveries[i]?.id,
        timestamp: expect.any(Number) as number,
      });
    }
  });

  it('stops a batch at the first delivery that is not delivered, and plans its retry', async () => {
    const target = await receiver([200, 503]);
    const before = Date.now();

    const sent = await sut.send(batch(target.url, [delivery(1), delivery(2, 2), delivery(3)]));

    expect(target.received).toHaveLength(2);
    expect(sent.attempts).toHaveLength(2);
    const retried = sent.attempts[1];
    expect(retried).toMatchObject({ attempt: 3, succeeded: false, responseCode: 503 });
    expect(retried?.error).toMatch(/503/);
    expect(retried?.next.status).toBe('pending');
    if (retried?.next.status === 'pending') expect(retried.next.at.getTime()).toBeGreaterThan(before);
  });

  it("passes on a receiver's 410 as the reason to disable its subscription", async () => {
    const target = await receiver([410]);

    const sent = await sut.send(batch(target.url, [delivery(1), delivery(2)]));

    expect(sent.attempts).toHaveLength(1);
    expect(sent.attempts[0]).toMatchObject({
      succeeded: false,
      responseCode: 410,
      next: { status: 'failed' },
    });
    expect(sent.disable).toEqual(expect.any(String));
  });

  it('refuses a target outside the allowed addresses without connecting', async () => {
    const sent = await sut.send(batch('http://169.254.169.254/latest', [delivery(1)]));

    expect(sent.attempts[0]).toMatchObject({
      succeeded: false,
      responseCode: null,
      next: { status: 'failed' },
    });
  });

  it('keeps other batches flowing while one waits on a hanging receiver', async () => {
    const hanging = await receiver(['hang']);
    const healthy = await receiver();

    const stuck = sut.send(batch(hanging.url, [delivery(1)]));
    const sent = await sut.send(batch(healthy.url, [delivery(2)]));

    expect(sent.attempts[0]?.succeeded).toBe(true);
    // Closing the thread rejects the batch still in it; the next batch starts a new thread.
    await sut.close();
    await expect(stuck).rejects.toThrow(/closed/);
    const again = await sut.send(batch(healthy.url, [delivery(3)]));
    expect(again.attempts[0]?.succeeded).toBe(true);
  });
});
