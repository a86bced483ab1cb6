import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openDatabase, type Database } from '@berth/db';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import { generateSecret, WEBHOOK_HEADERS } from '@berth/webhooks-core';
import pino from 'pino';
import { BatchSender, type BatchSending, type OutgoingBatch, type SentBatch } from './delivery/batch-sender';
import { WebhookSender } from './delivery/webhook-sender';
import {
  DeliveryRepository,
  deliveryId,
  type AttemptRecord,
  type ClaimedDelivery,
  type ClaimOptions,
  type EndedBatch,
  type NewDelivery,
} from './delivery.repository';
import { Dispatcher, type DispatcherOptions } from './dispatcher';
import { SecretBox } from './secret-box';
import { SubscriptionRepository } from './subscription.repository';

const TIMEOUT_MS = 10_000;
const LEASE_MARGIN_MS = 10_000;
const POLL_MS = 500;
const RETRY_WINDOW_MS = 3_600_000;
const BACKOFF_BASE_MS = 1_000;

/**
 * The dispatcher as the module builds it, except that it passes again as soon as something ends
 * (no pass interval), so that each step of a test follows from the one before; the pass interval
 * has a test of its own.
 */
const OPTIONS: DispatcherOptions = {
  concurrency: 4,
  timeoutMs: TIMEOUT_MS,
  leaseMarginMs: LEASE_MARGIN_MS,
  batch: 3,
  pollMs: POLL_MS,
  passIntervalMs: 0,
};

const logger = pino({ level: 'silent' });

/** Things that happen over time, and a way to wait for the first one that matches. */
class Log<T> {
  readonly items: T[] = [];
  private readonly waiters = new Set<{ test: (item: T) => boolean; resolve: (item: T) => void }>();

  push(item: T): void {
    this.items.push(item);
    for (const waiter of [...this.waiters]) {
      if (!waiter.test(item)) continue;
      this.waiters.delete(waiter);
      waiter.resolve(item);
    }
  }

  /** The first item (from index `from` on) that matches: one already there, or the next to come. */
  find(test: (item: T) => boolean, from = 0): Promise<T> {
    const found = this.items.slice(from).find(test);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.add({ test, resolve }));
  }

  /** Resolves once there are `n` items. */
  async count(n: number): Promise<void> {
    await this.find(() => this.items.length >= n);
  }
}

/** One request a receiver took. */
interface Arrival {
  /** The path, which names the subscription (`/<name>`). */
  readonly path: string;
  readonly webhookId: string;
  readonly eventId: string;
  /** When it arrived, on the (fake) clock. */
  readonly at: number;
}

/** How a receiver answers a request: a status, or `hold` to leave it hanging until the test answers. */
type Answer = number | 'hold';

/**
 * A real HTTP receiver on 127.0.0.1. Each path answers by its own rule (204 unless told otherwise),
 * which sees the requests that path took before; it counts the requests each path has open at
 * once, so that a test can tell that a subscription never had two attempts in flight.
 */
class Receiver {
  readonly arrivals = new Log<Arrival>();
  private readonly rules = new Map<string, (arrival: Arrival, earlier: readonly Arrival[]) => Answer>();
  private readonly held: { readonly arrival: Arrival; readonly res: ServerResponse }[] = [];
  private readonly open = new Map<string, number>();
  private readonly mostOpen = new Map<string, number>();

  private readonly server: Server = createServer((req, res) => {
    this.take(req, res);
  });
  /** Where it listens, once started. */
  origin = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.origin = `http://127.0.0.1:${port}`;
  }

  /** Sets how `path` answers from now on. */
  rule(path: string, answer: (arrival: Arrival, earlier: readonly Arrival[]) => Answer): void {
    this.rules.set(path, answer);
  }

  /** The requests `path` took, in order. */
  of(path: string): Arrival[] {
    return this.arrivals.items.filter((arrival) => arrival.path === path);
  }

  /** The `n`-th request (from 1) to `path`, once it has arrived. */
  nth(path: string, n: number): Promise<Arrival> {
    let seen = 0;
    return this.arrivals.find((arrival) => arrival.path === path && ++seen === n);
  }

  /** The most requests `path` had open at once. */
  mostOpenAt(path: string): number {
    return this.mostOpen.get(path) ?? 0;
  }

  /** Answers the held requests of `path` (all paths if none is given). */
  release(status: number, path?: string): void {
    for (const entry of this.held.splice(0)) {
      if (path !== undefined && entry.arrival.path !== path) this.held.push(entry);
      else entry.res.writeHead(status).end();
    }
  }

  /** Forgets every rule and request, answering the held ones. */
  reset(): void {
    this.release(204);
    this.rules.clear();
    this.arrivals.items.splice(0);
    this.mostOpen.clear();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  private take(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '';
    const open = (this.open.get(path) ?? 0) + 1;
    this.open.set(path, open);
    this.mostOpen.set(path, Math.max(open, this.mostOpen.get(path) ?? 0));
    res.on('close', () => {
      this.open.set(path, (this.open.get(path) ?? 1) - 1);
    });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event: string };
      const arrival: Arrival = {
        path,
        webhookId: String(req.headers[WEBHOOK_HEADERS.id]),
        eventId: body.event,
        at: Date.now(),
      };
      const answer = this.rules.get(path)?.(arrival, this.of(path)) ?? 204;
      if (answer === 'hold') this.held.push({ arrival, res });
      else res.writeHead(answer).end();
      this.arrivals.push(arrival);
    });
  }
}

/** One dispatcher pass, as the repository ran it. */
interface Pass {
  /** The pass's clock. */
  readonly at: number;
  readonly attempts: readonly AttemptRecord[];
  readonly claimed: readonly ClaimedDelivery[];
  readonly stored: readonly NewDelivery[];
}

/** The real repository, logging each pass that completed, so that a test can wait for one. */
class ObservedDeliveries extends DeliveryRepository {
  readonly passes = new Log<Pass>();

  override async cycle(
    ended: readonly EndedBatch[],
    claim: ClaimOptions,
    now: Date,
    busy: readonly string[],
    created: readonly NewDelivery[] = [],
  ): Promise<ClaimedDelivery[]> {
    const claimed = await super.cycle(ended, claim, now, busy, created);
    this.passes.push({
      at: now.getTime(),
      attempts: ended.flatMap((batch) => batch.attempts),
      claimed,
      stored: created,
    });
    return claimed;
  }

  /** The pass that recorded attempt `attempt` of a delivery. */
  recorded(id: string, attempt = 1): Promise<Pass> {
    return this.passes.find((pass) =>
      pass.attempts.some((a) => a.deliveryId === id && a.attempt === attempt),
    );
  }
}

/**
 * What the send thread runs (its `BatchSender` over a real `WebhookSender`), run on this thread
 * instead, logging each batch it sent. The send thread cannot be driven by Jest's fake timers: a
 * worker has a clock and timers of its own, so its attempts (their times, their backoff, the send
 * timeout) would follow the wall clock while the dispatcher claims by the fake one. With
 * `breaks`, it sends the next batch and then fails as a send thread that died would: the
 * receiver got the batch, the dispatcher never hears what became of it.
 */
class InThreadSending implements BatchSending {
  readonly sent = new Log<{ readonly batch: OutgoingBatch; readonly result: SentBatch }>();
  breaks = false;
  private readonly inner = new BatchSender(
    new WebhookSender({ allowedCidrs: ['127.0.0.0/8'], timeoutMs: TIMEOUT_MS }),
    {
      retryWindowMs: RETRY_WINDOW_MS,
      // The top of the jitter range, so that each delay is the backoff's ceiling: 1 s, 2 s, 4 s, ...
      backoff: { baseMs: BACKOFF_BASE_MS, maxMs: 60_000, random: () => 1 - Number.EPSILON },
    },
  );

  async send(batch: OutgoingBatch): Promise<SentBatch> {
    const result = await this.inner.send(batch);
    if (this.breaks) {
      this.breaks = false;
      throw new Error('the webhook send thread exited with code 1');
    }
    this.sent.push({ batch, result });
    return result;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Lets the promise callbacks queued by what just happened run (setImmediate is not faked). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('Dispatcher on PostgreSQL, with fake timers', () => {
  let testDb: TestDatabase;
  let database: Database;
  let receiver: Receiver;
  let subscriptions: SubscriptionRepository;
  let deliveries: ObservedDeliveries;
  /** When the dispatchers of the test started: their polls come every POLL_MS from then. */
  let startedAt: number;
  const running: Dispatcher[] = [];

  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = await openDatabase({ url: testDb.url, embeddedDir: '' });
    receiver = new Receiver();
    await receiver.start();
    subscriptions = new SubscriptionRepository(database.client, new SecretBox(randomBytes(32)));
  });

  afterAll(async () => {
    await receiver.stop();
    await database.close();
    await testDb.drop();
  });

  beforeEach(() => {
    // The clock and the timers are fake; what carries I/O (the database's and HTTP's callbacks) is not.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'queueMicrotask'] });
    deliveries = new ObservedDeliveries(database.client, database.sql);
  });

  afterEach(async () => {
    // What a test left hanging is answered, and what comes later too, so that stopping waits for nothing.
    receiver.reset();
    await Promise.all(running.splice(0).map((dispatcher) => dispatcher.stop()));
    jest.useRealTimers();
    await database.client.$executeRaw`DELETE FROM webhooks.webhook_subscription`;
  });

  /** A subscription of project `team` whose deliveries go to `/<name>` of the receiver. */
  async function subscription(name: string): Promise<string> {
    const created = await subscriptions.create(
      'team',
      name,
      {
        url: `${receiver.origin}/${name}`,
        events: ['artifact.pushed'],
        format: 'default',
        headers: null,
        repositories: null,
        tags: null,
        enabled: true,
      },
      generateSecret(),
      'alice',
    );
    if (created === null) throw new Error(`subscription ${name} exists`);
    return created.id;
  }

  /** Deliveries of events to a subscription; each body names its event. */
  function events(subscriptionId: string, ...eventIds: string[]): NewDelivery[] {
    return eventIds.map((eventId) => ({
      subscriptionId,
      eventId,
      eventType: 'artifact.pushed',
      contentType: 'application/json',
      body: JSON.stringify({ event: eventId }),
      occurredAt: new Date(),
      giveUpAt: new Date(Date.now() + RETRY_WINDOW_MS),
    }));
  }

  /** Starts a dispatcher over `deliveries`; the test's `afterEach` stops it. */
  function start(
    sending: BatchSending = new InThreadSending(),
    options: Partial<DispatcherOptions> = {},
    onDisabled?: (subscriptionId: string) => void,
    repository: DeliveryRepository = deliveries,
  ): Dispatcher {
    const sut = new Dispatcher(
      repository,
      subscriptions,
      sending,
      { ...OPTIONS, ...options },
      logger,
      onDisabled,
    );
    startedAt = Date.now();
    sut.start();
    running.push(sut);
    return sut;
  }

  /**
   * Moves the fake clock on by `ms` and waits for a pass that began at the last poll on the way
   * or later, so that whatever that poll was to claim has been claimed.
   */
  async function elapse(ms: number): Promise<Pass> {
    const until = Date.now() + ms;
    await jest.advanceTimersByTimeAsync(ms);
    const lastPoll = startedAt + Math.floor((until - startedAt) / POLL_MS) * POLL_MS;
    return deliveries.passes.find((pass) => pass.at >= lastPoll);
  }

  const claimedOf = (pass: Pass, subscriptionId: string): string[] =>
    pass.claimed.filter((d) => d.subscriptionId === subscriptionId).map((d) => d.eventId);

  it('retries a failed delivery with backoff, never before its time, under the same webhook-id', async () => {
    const id = await subscription('flaky');
    receiver.rule('/flaky', (_arrival, earlier) => (earlier.length < 2 ? 503 : 204));
    const sut = start();
    const t0 = Date.now();
    const delivery = deliveryId(id, 'e1');

    await sut.store(events(id, 'e1'));
    await deliveries.recorded(delivery, 1);
    expect(await deliveries.find(id, delivery)).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastResponseCode: 503,
      nextAttemptAt: new Date(t0 + BACKOFF_BASE_MS),
    });

    // Due one second after the first attempt: the poll half-way there claims nothing.
    expect(claimedOf(await elapse(BACKOFF_BASE_MS - 1), id)).toEqual([]);
    expect(receiver.of('/flaky')).toHaveLength(1);
    expect(claimedOf(await elapse(1), id)).toEqual(['e1']);
    expect((await receiver.nth('/flaky', 2)).at).toBe(t0 + BACKOFF_BASE_MS);
    await deliveries.recorded(delivery, 2);

    // The second failure waits twice as long.
    expect((await deliveries.find(id, delivery))?.nextAttemptAt).toEqual(new Date(t0 + 3 * BACKOFF_BASE_MS));
    expect(claimedOf(await elapse(2 * BACKOFF_BASE_MS - 1), id)).toEqual([]);
    expect(receiver.of('/flaky')).toHaveLength(2);
    await elapse(1);
    expect((await receiver.nth('/flaky', 3)).at).toBe(t0 + 3 * BACKOFF_BASE_MS);
    await deliveries.recorded(delivery, 3);

    const found = await deliveries.find(id, delivery);
    expect(found?.status).toBe('delivered');
    expect(found?.attemptLog.map((a) => [a.attempt, a.responseCode, a.at.getTime() - t0])).toEqual([
      [1, 503, 0],
      [2, 503, BACKOFF_BASE_MS],
      [3, 204, 3 * BACKOFF_BASE_MS],
    ]);
    expect(new Set(receiver.of('/flaky').map((a) => a.webhookId))).toEqual(new Set([delivery]));
  });

  it("sends a subscription's deliveries one at a time, in order, a failed one holding back the rest", async () => {
    const id = await subscription('ordered');
    // e2 fails its first attempt; the others are taken at once.
    receiver.rule('/ordered', (arrival, earlier) =>
      arrival.eventId === 'e2' && !earlier.some((a) => a.eventId === 'e2') ? 500 : 204,
    );
    const sut = start();

    await sut.store(events(id, 'e1', 'e2', 'e3', 'e4', 'e5'));
    await deliveries.recorded(deliveryId(id, 'e2'), 1);
    // The batch of three stopped at e2: e3 was claimed with it but not sent, and waits behind it.
    expect(receiver.of('/ordered').map((a) => a.eventId)).toEqual(['e1', 'e2']);
    expect(await deliveries.find(id, deliveryId(id, 'e3'))).toMatchObject({ status: 'pending', attempts: 0 });
    expect(await deliveries.counts(id)).toEqual({ pending: 4, delivered: 1, failed: 0 });

    await elapse(BACKOFF_BASE_MS);
    await deliveries.recorded(deliveryId(id, 'e5'), 1);
    expect(receiver.of('/ordered').map((a) => a.eventId)).toEqual(['e1', 'e2', 'e2', 'e3', 'e4', 'e5']);
    expect(receiver.mostOpenAt('/ordered')).toBe(1);
    expect(await deliveries.counts(id)).toEqual({ pending: 0, delivered: 5, failed: 0 });
    // Never more than a batch of one subscription at once.
    for (const pass of deliveries.passes.items)
      expect(claimedOf(pass, id).length).toBeLessThanOrEqual(OPTIONS.batch);
  });

  it('lets a slow target hold up only its own subscription, and that for at most the send timeout', async () => {
    const slow = await subscription('slow');
    const fast = await subscription('fast');
    receiver.rule('/slow', () => 'hold');
    const sut = start();
    const t0 = Date.now();

    await sut.store([...events(slow, 's1', 's2'), ...events(fast, 'f1', 'f2', 'f3', 'f4')]);
    await deliveries.recorded(deliveryId(fast, 'f4'), 1);
    expect(receiver.of('/fast').map((a) => [a.eventId, a.at - t0])).toEqual([
      ['f1', 0],
      ['f2', 0],
      ['f3', 0],
      ['f4', 0],
    ]);
    expect(await deliveries.counts(fast)).toEqual({ pending: 0, delivered: 4, failed: 0 });
    expect(receiver.of('/slow').map((a) => a.eventId)).toEqual(['s1']);

    // The send timeout ends the attempt: it is retried later, and s2 still waits behind it.
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS);
    await deliveries.recorded(deliveryId(slow, 's1'), 1);
    expect(await deliveries.find(slow, deliveryId(slow, 's1'))).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastResponseCode: null,
      lastError: 'the receiver did not answer in time',
      nextAttemptAt: new Date(t0 + TIMEOUT_MS + BACKOFF_BASE_MS),
    });
    expect(await deliveries.find(slow, deliveryId(slow, 's2'))).toMatchObject({
      status: 'pending',
      attempts: 0,
    });
  });

  it('sends to at most `concurrency` subscriptions at once', async () => {
    const ids = await Promise.all(['one', 'two', 'three'].map((name) => subscription(name)));
    for (const name of ['one', 'two', 'three']) receiver.rule(`/${name}`, () => 'hold');
    const sut = start(new InThreadSending(), { concurrency: 2 });

    await sut.store(ids.flatMap((id, index) => events(id, `e${index}`)));
    await receiver.arrivals.count(2);
    // A poll while both slots are taken claims nothing more.
    const full = await elapse(POLL_MS);
    expect(full.claimed).toEqual([]);
    expect(receiver.arrivals.items).toHaveLength(2);

    // A slot that frees up goes to the subscription that waited.
    const [first] = receiver.arrivals.items;
    if (first === undefined) throw new Error('nothing arrived');
    receiver.release(204, first.path);
    await receiver.arrivals.count(3);
    const third = receiver.arrivals.items[2];
    expect(new Set(receiver.arrivals.items.map((a) => a.path))).toEqual(new Set(['/one', '/two', '/three']));
    expect(third?.path).not.toBe(first.path);
  });

  it("leaves a dead instance's batch leased until the lease runs out; then another sends it under the same id", async () => {
    const id = await subscription('orphan');
    const dying = new InThreadSending();
    dying.breaks = true;
    const dead = start(dying, {}, undefined, new DeliveryRepository(database.client, database.sql));
    start();
    const t0 = Date.now();

    await dead.store(events(id, 'e1'));
    const first = await receiver.nth('/orphan', 1);
    // Its sending broke after the receiver took it: nothing is recorded, and the instance is gone.
    await dead.stop();
    expect(await deliveries.find(id, deliveryId(id, 'e1'))).toMatchObject({ status: 'pending', attempts: 0 });

    // A batch of one is leased for one send timeout and the margin.
    const lease = TIMEOUT_MS + LEASE_MARGIN_MS;
    expect(claimedOf(await elapse(lease - 1), id)).toEqual([]);
    expect(receiver.of('/orphan')).toHaveLength(1);
    expect(claimedOf(await elapse(1), id)).toEqual(['e1']);
    const second = await receiver.nth('/orphan', 2);
    expect(second.at).toBe(t0 + lease);
    expect(second.webhookId).toBe(first.webhookId);
    expect(second.webhookId).toBe(deliveryId(id, 'e1'));
    await deliveries.recorded(deliveryId(id, 'e1'), 1);
    expect(await deliveries.counts(id)).toEqual({ pending: 0, delivered: 1, failed: 0 });
  });

  it("never sends a subscription's delivery twice nor out of order when two instances share the queues", async () => {
    const first = await subscription('shared-a');
    const second = await subscription('shared-b');
    const one = start();
    const other = start(
      new InThreadSending(),
      {},
      undefined,
      new DeliveryRepository(database.client, database.sql),
    );
    const names = ['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7'];

    await Promise.all([one.store(events(first, ...names)), other.store(events(second, ...names))]);
    // Each instance polls as well, so both look for work while the other sends.
    while ((await deliveries.counts(first)).delivered + (await deliveries.counts(second)).delivered < 14)
      await elapse(POLL_MS);
    for (const path of ['/shared-a', '/shared-b']) {
      expect(receiver.of(path).map((a) => a.eventId)).toEqual(names);
      expect(receiver.mostOpenAt(path)).toBe(1);
    }
  });

  it('disables a subscription whose receiver answers 410, failing what it still had to send', async () => {
    const id = await subscription('gone');
    receiver.rule('/gone', () => 410);
    const disabled = new Log<string>();
    const sut = start(new InThreadSending(), {}, (subscriptionId) => {
      disabled.push(subscriptionId);
    });

    await sut.store(events(id, 'e1', 'e2', 'e3'));
    expect(await disabled.find(() => true)).toBe(id);
    expect(await subscriptions.find('team', id)).toMatchObject({
      enabled: false,
      disabledReason: 'the receiver answered 410 Gone',
    });
    expect(await deliveries.counts(id)).toEqual({ pending: 0, delivered: 0, failed: 3 });
    expect(await deliveries.find(id, deliveryId(id, 'e2'))).toMatchObject({
      lastError: 'the subscription was disabled: the receiver answered 410 Gone',
    });
    expect(receiver.of('/gone').map((a) => a.eventId)).toEqual(['e1']);
  });

  it('waits on stop for the attempts in flight and records them; stopped, it stores without sending', async () => {
    const id = await subscription('stopping');
    receiver.rule('/stopping', () => 'hold');
    const sut = start();

    await sut.store(events(id, 'e1'));
    await receiver.nth('/stopping', 1);
    let stopped = false;
    const stopping = sut.stop().then(() => {
      stopped = true;
    });
    await settle();
    expect(stopped).toBe(false);
    receiver.release(204);
    await stopping;
    expect(await deliveries.find(id, deliveryId(id, 'e1'))).toMatchObject({
      status: 'delivered',
      attempts: 1,
    });

    await sut.store(events(id, 'e2'));
    expect(await deliveries.counts(id)).toEqual({ pending: 1, delivered: 1, failed: 0 });
    await jest.advanceTimersByTimeAsync(10 * POLL_MS);
    await settle();
    expect(receiver.of('/stopping')).toHaveLength(1);
  });

  it('stores nothing of a pass that failed and tells every caller whose deliveries it held', async () => {
    const id = await subscription('refused');
    const sut = start();
    // Both wait for the pass that start() began, and so go into the same next pass.
    const stored = sut.store(events(id, 'e1'));
    const broken = sut.store(events(randomUUID(), 'e2'));

    await expect(stored).rejects.toThrow();
    await expect(broken).rejects.toThrow();
    expect(await deliveries.counts(id)).toEqual({ pending: 0, delivered: 0, failed: 0 });
    // The router hands the events over again, and this time they are stored and sent.
    await sut.store(events(id, 'e1'));
    expect((await receiver.nth('/refused', 1)).eventId).toBe('e1');
  });

  it('gathers what ends within the pass interval into one pass while busy, and passes at once when idle', async () => {
    const a = await subscription('gather-a');
    const b = await subscription('gather-b');
    const sending = new InThreadSending();
    const sut = start(sending, { passIntervalMs: 1_000 });
    const t0 = Date.now();

    await sut.store([...events(a, 'a1'), ...events(b, 'b1')]);
    await sending.sent.count(2);
    await settle();
    const before = deliveries.passes.items.length;
    // Both batches ended at once, but the pass that claimed them was just now: they wait for it.
    await jest.advanceTimersByTimeAsync(999);
    await settle();
    expect(deliveries.passes.items.length).toBe(before);
    await jest.advanceTimersByTimeAsync(1);
    const recording = await deliveries.recorded(deliveryId(a, 'a1'));
    expect(recording.at).toBe(t0 + 1_000);
    expect(recording.attempts.map((attempt) => attempt.deliveryId).sort()).toEqual(
      [deliveryId(a, 'a1'), deliveryId(b, 'b1')].sort(),
    );

    // That pass claimed nothing: the dispatcher is idle, and what is routed now is stored and claimed at once.
    expect(recording.claimed).toEqual([]);
    await sut.store(events(a, 'a2'));
    const next = await deliveries.passes.find((pass) => pass.stored.length > 0, before);
    expect(next.at).toBe(t0 + 1_000);
    expect(claimedOf(next, a)).toEqual(['a2']);
  });
});
