import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '@berth/db';
import { createTestDatabase } from '@berth/testing';
import { DeliveryRepository, type AttemptRecord, type NewDelivery } from './delivery.repository';

/** A database to run against, and how to get rid of it. */
interface Opened {
  readonly database: Database;
  close(): Promise<void>;
}

const backends: [string, () => Promise<Opened>][] = [
  [
    'PostgreSQL',
    async () => {
      const testDb = await createTestDatabase();
      const database = await openDatabase({ url: testDb.url, embeddedDir: '' });
      return {
        database,
        close: async () => {
          await database.close();
          await testDb.drop();
        },
      };
    },
  ],
  [
    'PGlite',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'berth-deliveries-'));
      const database = await openDatabase({ url: null, embeddedDir: dir });
      return {
        database,
        close: async () => {
          await database.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  ],
];

const CLAIM = { subscriptions: 10, batch: 2, attemptMs: 10_000, marginMs: 10_000 };

describe.each(backends)('webhook deliveries on %s', (_name, open) => {
  let opened: Opened;
  let sut: DeliveryRepository;

  beforeAll(async () => {
    opened = await open();
    sut = new DeliveryRepository(opened.database.client);
  }, 120_000);

  afterAll(async () => {
    await opened.close();
  });

  /** A new enabled subscription of its own, so that tests do not see each other's queues. */
  async function subscription(): Promise<string> {
    const id = randomUUID();
    await opened.database.client.$executeRaw`
      INSERT INTO webhook_subscription (id, project, name, url, events, format, secret_sealed, created_by)
      VALUES (${id}, 'team', ${id}, ${`http://receiver.test/${id}`}, '[]'::jsonb, 'cloudevents', 'sealed', 'alice')`;
    return id;
  }

  function deliveries(subscriptionId: string, events: readonly string[]): NewDelivery[] {
    return events.map((eventId) => ({
      subscriptionId,
      eventId,
      eventType: 'artifact.pushed',
      contentType: 'application/cloudevents+json',
      body: JSON.stringify({ id: eventId }),
      occurredAt: new Date(),
      giveUpAt: new Date(Date.now() + 3600_000),
    }));
  }

  /** The claimed deliveries of `subscriptionId`, as `eventId`s in the order they were returned. */
  async function claimed(subscriptionId: string, at = new Date(), busy: string[] = []): Promise<string[]> {
    const claims = await sut.claim(CLAIM, at, busy);
    return claims.filter((c) => c.subscriptionId === subscriptionId).map((c) => c.eventId);
  }

  function attempt(deliveryId: string, next: AttemptRecord['next'], responseCode = 204): AttemptRecord {
    return {
      deliveryId,
      succeeded: next.status === 'delivered',
      attempt: 1,
      at: new Date(),
      responseCode,
      error: next.status === 'delivered' ? null : `status ${responseCode}`,
      latencyMs: 3,
      next,
    };
  }

  it('creates one delivery per subscription and event, however often the event is seen', async () => {
    const id = await subscription();
    expect(await sut.createMany(deliveries(id, ['e1', 'e2']))).toBe(2);
    expect(await sut.createMany(deliveries(id, ['e2', 'e3']))).toBe(1);
    expect(await sut.counts(id)).toEqual({ pending: 3, delivered: 0, failed: 0 });
  });

  it('claims the head of each queue in order, a batch at most, with its target, and nothing leased or busy', async () => {
    const first = await subscription();
    const second = await subscription();
    await sut.createMany(deliveries(first, ['a1', 'a2', 'a3']));
    await sut.createMany(deliveries(second, ['b1']));
    // A subscription with an attempt in flight here (busy) is left alone.
    const claims = await sut.claim(CLAIM, new Date(), [second]);
    expect(claims.filter((c) => c.subscriptionId === first).map((c) => c.eventId)).toEqual(['a1', 'a2']);
    expect(claims.filter((c) => c.subscriptionId === second)).toEqual([]);
    const mine = (await sut.claim(CLAIM, new Date(), [])).find((c) => c.subscriptionId === second);
    expect(mine?.eventId).toBe('b1');
    expect(mine?.target.url).toBe(`http://receiver.test/${second}`);
    expect(mine?.body).toBe(JSON.stringify({ id: 'b1' }));
    // Leased now: nobody claims them again until the lease runs out.
    expect(await claimed(first)).toEqual([]);
    expect(await claimed(first, new Date(Date.now() + 60_000))).toEqual(['a1', 'a2']);
  });

  it('records a batch: what was delivered, what is retried later, and releases what was not sent', async () => {
    const id = await subscription();
    await sut.createMany(deliveries(id, ['c1', 'c2', 'c3']));
    const [c1, c2] = await sut
      .claim({ ...CLAIM, batch: 3 }, new Date(), [])
      .then((claims) => claims.filter((c) => c.subscriptionId === id));
    if (c1 === undefined || c2 === undefined) throw new Error('nothing claimed');
    const retryAt = new Date(Date.now() + 60_000);
    const c3 = (await sut.list(id, 'pending', 0, 10)).find((d) => d.eventId === 'c3');
    if (c3 === undefined) throw new Error('c3 is missing');
    // c2 failed, so c3 (claimed in the same batch) was not sent: it is released, not attempted.
    await sut.record(
      id,
      [attempt(c1.id, { status: 'delivered' }), attempt(c2.id, { status: 'pending', at: retryAt }, 503)],
      [c3.id],
    );
    expect(await sut.counts(id)).toEqual({ pending: 2, delivered: 1, failed: 0 });
    const delivered = await sut.find(id, c1.id);
    expect(delivered?.status).toBe('delivered');
    expect(delivered?.deliveredAt).not.toBeNull();
    expect(delivered?.attemptLog).toEqual([
      expect.objectContaining({ attempt: 1, responseCode: 204, error: null, latencyMs: 3 }),
    ]);
    const retried = await sut.find(id, c2.id);
    expect(retried).toMatchObject({ status: 'pending', attempts: 1, lastResponseCode: 503 });
    expect(retried?.nextAttemptAt.getTime()).toBe(retryAt.getTime());
    // The head (c2) waits for its retry, and c3 waits behind it, though no longer leased.
    expect(await claimed(id)).toEqual([]);
    expect(await claimed(id, new Date(retryAt.getTime() + 1))).toEqual(['c2', 'c3']);
    // The failed last attempt marks the subscription as failing.
    const [flags] = await opened.database.client.$queryRaw<{ failures: number }[]>`
      SELECT consecutive_failures AS failures FROM webhook_subscription WHERE id = ${id}`;
    expect(flags?.failures).toBe(1);
  });
});
