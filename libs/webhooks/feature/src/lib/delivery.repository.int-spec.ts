import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '@berth/db';
import { createTestDatabase } from '@berth/testing';
import {
  DeliveryRepository,
  type AttemptRecord,
  type EndedBatch,
  type NewDelivery,
} from './delivery.repository';

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
const RECORD_ONLY = { ...CLAIM, subscriptions: 0 };

describe.each(backends)('webhook deliveries on %s', (_name, open) => {
  let opened: Opened;
  let sut: DeliveryRepository;

  beforeAll(async () => {
    opened = await open();
    sut = new DeliveryRepository(opened.database.client, opened.database.sql);
  }, 120_000);

  afterAll(async () => {
    await opened.close();
  });

  /** A new enabled subscription of its own, so that tests do not see each other's queues. */
  async function subscription(): Promise<string> {
    const id = randomUUID();
    await opened.database.client.$executeRaw`
      INSERT INTO webhooks.webhook_subscription (id, project, name, url, events, format, secret_sealed, created_by)
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
    const claims = await sut.cycle([], CLAIM, at, busy);
    return claims.filter((c) => c.subscriptionId === subscriptionId).map((c) => c.eventId);
  }

  function attempt(
    deliveryId: string,
    next: AttemptRecord['next'],
    responseCode = 204,
    number = 1,
  ): AttemptRecord {
    return {
      deliveryId,
      succeeded: next.status === 'delivered',
      attempt: number,
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

  it('stores the deliveries a pass is given before it claims, so that new ones are claimed at once', async () => {
    const id = await subscription();
    const busy = await subscription();
    await sut.createMany(deliveries(id, ['p1']));
    const claims = await sut.cycle(
      [],
      CLAIM,
      new Date(),
      [busy],
      [...deliveries(id, ['p1', 'p2', 'p3']), ...deliveries(busy, ['q1'])],
    );
    // p1 was stored already, and is not stored twice; the queue keeps the order it was given in.
    expect(claims.filter((c) => c.subscriptionId === id).map((c) => c.eventId)).toEqual(['p1', 'p2']);
    expect(await sut.counts(id)).toEqual({ pending: 3, delivered: 0, failed: 0 });
    // Stored, but not claimed: its subscription is busy here.
    expect(claims.filter((c) => c.subscriptionId === busy)).toEqual([]);
    expect(await sut.counts(busy)).toEqual({ pending: 1, delivered: 0, failed: 0 });
    expect(await claimed(busy)).toEqual(['q1']);
  });

  it('stores and records nothing of a pass that fails', async () => {
    const id = await subscription();
    await sut.createMany(deliveries(id, ['y1']));
    const [claim] = (await sut.cycle([], CLAIM, new Date(), [])).filter((c) => c.subscriptionId === id);
    if (claim === undefined) throw new Error('nothing claimed');
    const ended: EndedBatch = {
      subscriptionId: id,
      attempts: [attempt(claim.id, { status: 'delivered' })],
    };
    // A delivery of a subscription that does not exist breaks the statement, and so the whole pass.
    await expect(
      sut.cycle(
        [ended],
        RECORD_ONLY,
        new Date(),
        [],
        [...deliveries(id, ['y2']), ...deliveries(randomUUID(), ['z1'])],
      ),
    ).rejects.toThrow();
    expect(await sut.counts(id)).toEqual({ pending: 1, delivered: 0, failed: 0 });
    await sut.cycle([ended], RECORD_ONLY, new Date(), [], deliveries(id, ['y2']));
    expect(await sut.counts(id)).toEqual({ pending: 1, delivered: 1, failed: 0 });
  });

  it('claims the head of each queue in order, a batch at most, with its target, and nothing leased or busy', async () => {
    const first = await subscription();
    const second = await subscription();
    await sut.createMany(deliveries(first, ['a1', 'a2', 'a3']));
    await sut.createMany(deliveries(second, ['b1']));
    // A subscription with an attempt in flight here (busy) is left alone.
    const claims = await sut.cycle([], CLAIM, new Date(), [second]);
    expect(claims.filter((c) => c.subscriptionId === first).map((c) => c.eventId)).toEqual(['a1', 'a2']);
    expect(claims.filter((c) => c.subscriptionId === second)).toEqual([]);
    const mine = (await sut.cycle([], CLAIM, new Date(), [])).find((c) => c.subscriptionId === second);
    expect(mine?.eventId).toBe('b1');
    expect(mine?.target.url).toBe(`http://receiver.test/${second}`);
    expect(mine?.body).toBe(JSON.stringify({ id: 'b1' }));
    // Leased now: nobody claims them again until the lease runs out.
    expect(await claimed(first)).toEqual([]);
    expect(await claimed(first, new Date(Date.now() + 60_000))).toEqual(['a1', 'a2']);
  });

  it('leases a subscription for its batch: nothing of its queue is claimed again until the lease runs out', async () => {
    const id = await subscription();
    await sut.createMany(deliveries(id, ['l1', 'l2', 'l3']));
    const at = new Date();
    expect(await claimed(id, at)).toEqual(['l1', 'l2']);
    // Created after the claim, and due: still not claimed while the subscription is leased.
    await sut.createMany(deliveries(id, ['l4']));
    // Two attempts of 10 s and a margin of 10 s: 30 s.
    expect(await claimed(id, new Date(at.getTime() + 29_000))).toEqual([]);
    expect(await claimed(id, new Date(at.getTime() + 30_001))).toEqual(['l1', 'l2']);
  });

  it('never gives one subscription to two claims made at once', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => subscription()));
    for (const id of ids) await sut.createMany(deliveries(id, [`${id}-only`]));
    const other = new DeliveryRepository(opened.database.client, opened.database.sql);
    const claims = await Promise.all(
      [sut, other, sut].map((repository) =>
        repository.cycle([], { ...CLAIM, subscriptions: 100 }, new Date(), []),
      ),
    );
    const mine = claims.flat().filter((c) => ids.includes(c.subscriptionId));
    expect(mine.map((c) => c.subscriptionId).sort()).toEqual([...ids].sort());
  });

  it('records a batch: what was delivered, what is retried later, and what was not sent is still pending', async () => {
    const id = await subscription();
    await sut.createMany(deliveries(id, ['c1', 'c2', 'c3']));
    const [c1, c2] = await sut
      .cycle([], { ...CLAIM, batch: 3 }, new Date(), [])
      .then((claims) => claims.filter((c) => c.subscriptionId === id));
    if (c1 === undefined || c2 === undefined) throw new Error('nothing claimed');
    const retryAt = new Date(Date.now() + 60_000);
    const c3 = (await sut.list(id, 'pending', 0, 10)).find((d) => d.eventId === 'c3');
    if (c3 === undefined) throw new Error('c3 is missing');
    // c2 failed, so c3 (claimed in the same batch) was not sent: it stays pending, not attempted.
    const ended: EndedBatch = {
      subscriptionId: id,
      attempts: [
        attempt(c1.id, { status: 'delivered' }),
        attempt(c2.id, { status: 'pending', at: retryAt }, 503),
      ],
    };
    expect(await sut.cycle([ended], RECORD_ONLY, new Date(), [])).toEqual([]);
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
    expect(await sut.find(id, c3.id)).toMatchObject({ status: 'pending', attempts: 0 });
    // The head (c2) waits for its retry, and c3 waits behind it; the subscription is no longer leased.
    expect(await claimed(id)).toEqual([]);
    expect(await claimed(id, new Date(retryAt.getTime() + 1))).toEqual(['c2', 'c3']);
    // The failed last attempt marks the subscription as failing.
    const [flags] = await opened.database.client.$queryRaw<{ failures: number }[]>`
      SELECT consecutive_failures AS failures FROM webhooks.webhook_subscription WHERE id = ${id}`;
    expect(flags?.failures).toBe(1);
  });

  it('records ended batches of several subscriptions and claims what follows in the same call', async () => {
    const first = await subscription();
    const second = await subscription();
    await sut.createMany(deliveries(first, ['f1', 'f2', 'f3']));
    await sut.createMany(deliveries(second, ['s1']));
    const claims = await sut.cycle([], CLAIM, new Date(), []);
    const f = claims.filter((c) => c.subscriptionId === first);
    const s1 = claims.find((c) => c.subscriptionId === second);
    if (f.length !== 2 || s1 === undefined) throw new Error('not claimed');
    const next = await sut.cycle(
      [
        { subscriptionId: first, attempts: f.map((d) => attempt(d.id, { status: 'delivered' })) },
        { subscriptionId: second, attempts: [attempt(s1.id, { status: 'delivered' })] },
      ],
      CLAIM,
      new Date(),
      [],
    );
    expect(next.filter((c) => [first, second].includes(c.subscriptionId)).map((c) => c.eventId)).toEqual([
      'f3',
    ]);
    expect(await sut.counts(first)).toEqual({ pending: 1, delivered: 2, failed: 0 });
    expect(await sut.counts(second)).toEqual({ pending: 0, delivered: 1, failed: 0 });
  });

  it("keeps a delivery's last attempt on its row and the earlier ones in its log", async () => {
    const id = await subscription();
    await sut.createMany(deliveries(id, ['r1']));
    const [r1] = (await sut.cycle([], CLAIM, new Date(), [])).filter((c) => c.subscriptionId === id);
    if (r1 === undefined) throw new Error('not claimed');
    const retryAt = new Date(Date.now() - 1);
    await sut.cycle(
      [
        {
          subscriptionId: id,
          attempts: [attempt(r1.id, { status: 'pending', at: retryAt }, 503)],
        },
      ],
      RECORD_ONLY,
      new Date(),
      [],
    );
    const [again] = (await sut.cycle([], CLAIM, new Date(), [])).filter((c) => c.subscriptionId === id);
    expect(again).toMatchObject({ id: r1.id, attempts: 1 });
    await sut.cycle(
      [{ subscriptionId: id, attempts: [attempt(r1.id, { status: 'delivered' }, 200, 2)] }],
      RECORD_ONLY,
      new Date(),
      [],
    );
    const found = await sut.find(id, r1.id);
    expect(found?.attemptLog.map((a) => [a.attempt, a.responseCode])).toEqual([
      [1, 503],
      [2, 200],
    ]);
    const [rows] = await opened.database.client.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM webhooks.webhook_attempt WHERE delivery_id = ${r1.id}`;
    expect(rows?.n).toBe(1);
  });

  it('fails what a disabled subscription still had to send, keeping each last attempt in the log', async () => {
    const id = await subscription();
    await sut.createMany(deliveries(id, ['d1', 'd2']));
    const [d1] = (await sut.cycle([], CLAIM, new Date(), [])).filter((c) => c.subscriptionId === id);
    if (d1 === undefined) throw new Error('not claimed');
    await sut.cycle(
      [
        {
          subscriptionId: id,
          attempts: [attempt(d1.id, { status: 'pending', at: new Date(Date.now() + 60_000) }, 500)],
        },
      ],
      RECORD_ONLY,
      new Date(),
      [],
    );
    await sut.failPending(id, 'the subscription was disabled: gone', new Date());
    expect(await sut.counts(id)).toEqual({ pending: 0, delivered: 0, failed: 2 });
    const failed = await sut.find(id, d1.id);
    expect(failed).toMatchObject({ status: 'failed', lastError: 'the subscription was disabled: gone' });
    expect(failed?.attemptLog.map((a) => [a.attempt, a.responseCode, a.error])).toEqual([
      [1, 500, 'status 500'],
    ]);
  });
});
