import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, InProcessBus, connectNatsBus, type DeliveryInfo, type SubscribeOptions } from '@berth/bus';
import {
  RepositoryCreated,
  eventEnvelope,
  type BroadcastContract,
  type DomainEvent,
  type EventContract,
  type RepositoryCreatedEvent,
  type RpcContract,
} from '@berth/contracts';
import { openDatabase, type Database } from '@berth/db';
import { createTestDatabase, eventually, testServices, uniqueNamespace } from '@berth/testing';
import { connect } from 'nats';
import pino from 'pino';
import { Outbox, outboxEvent } from './outbox';
import { OutboxRelay, type OutboxRelayOptions } from './outbox.relay';

const silent = pino({ level: 'silent' });

/** Quick settings, so that the tests need not wait for production's pacing. */
const FAST: OutboxRelayOptions = { pollMs: 50, leaseMs: 1_000, maxBackoffMs: 50, stopGraceMs: 1_000 };

/**
 * A bus that passes everything to another one and records what it published; `before` runs
 * before each publish (throw to fail it), `after` once the inner bus has accepted it (throw to
 * lose the acknowledgement).
 */
class TapBus extends Bus {
  readonly published: string[] = [];

  constructor(
    private readonly inner: Bus,
    private readonly hooks: {
      before?: (event: DomainEvent) => void | Promise<void>;
      after?: (event: DomainEvent) => void | Promise<void>;
    } = {},
  ) {
    super();
  }

  request<Req, Res>(contract: RpcContract<Req, Res>, payload: Req): Promise<Res> {
    return this.inner.request(contract, payload);
  }

  handle<Req, Res>(contract: RpcContract<Req, Res>, handler: (payload: Req) => Promise<Res>): Promise<void> {
    return this.inner.handle(contract, handler);
  }

  async publish<P extends DomainEvent>(contract: EventContract<P>, payload: P): Promise<void> {
    await this.hooks.before?.(payload);
    await this.inner.publish(contract, payload);
    this.published.push(payload.id);
    await this.hooks.after?.(payload);
  }

  subscribe<P extends DomainEvent>(
    contract: EventContract<P>,
    options: SubscribeOptions,
    handler: (payload: P, info: DeliveryInfo) => Promise<void>,
  ): Promise<void> {
    return this.inner.subscribe(contract, options, handler);
  }

  broadcast<P>(contract: BroadcastContract<P>, payload: P): Promise<void> {
    return this.inner.broadcast(contract, payload);
  }

  onBroadcast<P>(contract: BroadcastContract<P>, handler: (payload: P) => void): Promise<void> {
    return this.inner.onBroadcast(contract, handler);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Writes `count` events in one transaction through `outbox` and returns their ids, in order. */
async function write(database: Database, count: number, outbox = new Outbox()): Promise<string[]> {
  const events: RepositoryCreatedEvent[] = Array.from({ length: count }, (_, i) =>
    eventEnvelope(`team/app-${i}`, `req-${i}`, 'alice'),
  );
  await database.client.$transaction(async (tx) => {
    await outbox.write(
      tx,
      events.map((event) => outboxEvent(RepositoryCreated, event)),
    );
  });
  outbox.committed();
  return events.map((event) => event.id);
}

/** An outbox whose commits nudge `relay`, as a service's outbox nudges its process's relay. */
function nudging(relay: OutboxRelay): Outbox {
  return new Outbox(() => {
    relay.nudge();
  });
}

async function unpublished(database: Database): Promise<number> {
  const rows = await database.client.$queryRaw<{ count: bigint }[]>`
    SELECT count(*) AS count FROM events.event_outbox WHERE published_at IS NULL`;
  return Number(rows[0]?.count ?? 0);
}

/** Who holds the relay lease (none, or one owner). */
async function leaseOwners(database: Database): Promise<string[]> {
  const rows = await database.client.$queryRaw<{ owner: string }[]>`
    SELECT owner FROM events.event_outbox_relay`;
  return rows.map((row) => row.owner);
}

/** Until when the relay lease runs (0 when none is held). */
async function leaseUntil(database: Database): Promise<number> {
  const rows = await database.client.$queryRaw<{ until: Date }[]>`
    SELECT lease_until AS until FROM events.event_outbox_relay`;
  return rows[0]?.until.getTime() ?? 0;
}

/** Two handles on one database: two processes' worth on PostgreSQL, one process on PGlite. */
interface Backend {
  readonly first: Database;
  readonly second: Database;
  close(): Promise<void>;
}

const backends: [string, () => Promise<Backend>][] = [
  [
    'PostgreSQL',
    async () => {
      const testDb = await createTestDatabase();
      const first = await openDatabase({ url: testDb.url, embeddedDir: '' });
      const second = await openDatabase({ url: testDb.url, embeddedDir: '' });
      return {
        first,
        second,
        close: async () => {
          await first.close();
          await second.close();
          await testDb.drop();
        },
      };
    },
  ],
  [
    'PGlite',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'berth-outbox-'));
      const database = await openDatabase({ url: null, embeddedDir: dir });
      return {
        first: database,
        second: database,
        close: async () => {
          await database.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  ],
];

describe.each(backends)('event outbox on %s', (_name, open) => {
  let backend: Backend;
  let consumer: InProcessBus;
  let seen: string[];
  const relays: OutboxRelay[] = [];

  /** A relay on `database` that publishes through `bus`, stopped after the test. */
  function relay(database: Database, bus: Bus, options: OutboxRelayOptions = {}): OutboxRelay {
    const sut = new OutboxRelay(database.client, bus, silent, { ...FAST, ...options });
    relays.push(sut);
    return sut;
  }

  beforeAll(async () => {
    backend = await open();
  }, 120_000);

  afterAll(async () => {
    await backend.close();
  });

  beforeEach(async () => {
    await backend.first.client.$executeRaw`DELETE FROM events.event_outbox`;
    await backend.first.client.$executeRaw`DELETE FROM events.event_outbox_relay`;
    consumer = new InProcessBus();
    seen = [];
    await consumer.subscribe(RepositoryCreated, { durable: 'test' }, (event) => {
      seen.push(event.id);
      return Promise.resolve();
    });
  });

  afterEach(async () => {
    for (const sut of relays.splice(0)) await sut.stop();
    await consumer.close();
  });

  it('keeps no event of a change that rolls back, and the events of one that commits', async () => {
    let nudges = 0;
    const outbox = new Outbox(() => {
      nudges++;
    });
    const event = eventEnvelope('team/app', 'req-1', 'robot$ci');
    await expect(
      backend.first.client.$transaction(async (tx) => {
        await outbox.write(tx, [outboxEvent(RepositoryCreated, event)]);
        throw new Error('the change fails after its events were written');
      }),
    ).rejects.toThrow('the change fails');
    expect(await unpublished(backend.first)).toBe(0);

    const ids = await write(backend.first, 3, outbox);
    expect(nudges).toBe(1);
    const rows = await backend.first.client.$queryRaw<
      { id: string; subject: string; payload: unknown; published_at: Date | null }[]
    >`SELECT id, subject, payload, published_at FROM events.event_outbox ORDER BY seq`;
    expect(rows.map((row) => row.id)).toEqual(ids);
    expect(rows.every((row) => row.subject === RepositoryCreated.subject && row.published_at === null)).toBe(
      true,
    );
    expect(rows[0]?.payload).toMatchObject({ repository: 'team/app-0', actor: 'alice', project: 'team' });
  });

  it('refuses to write an event its contract does not accept', async () => {
    const broken = { ...eventEnvelope('team/app', null, null), project: 42 } as never;
    await expect(
      backend.first.client.$transaction((tx) =>
        new Outbox().write(tx, [outboxEvent(RepositoryCreated, broken)]),
      ),
    ).rejects.toThrow();
    expect(await unpublished(backend.first)).toBe(0);
  });

  it('publishes each event exactly once, in order, with two relays racing', async () => {
    const tapA = new TapBus(consumer);
    const tapB = new TapBus(consumer);
    // Polling hard, each nudged by its own process's commits and giving the lease up as soon as
    // it has published, they contend for every batch.
    const relayA = relay(backend.first, tapA, { batchSize: 7, pollMs: 5, lingerMs: 0 });
    const relayB = relay(backend.second, tapB, { batchSize: 7, pollMs: 5, lingerMs: 0 });
    relayA.start();
    relayB.start();
    const written: string[] = [];
    for (let i = 0; i < 30; i++) {
      const [database, sut] = i % 2 === 0 ? [backend.first, relayA] : [backend.second, relayB];
      written.push(...(await write(database, 10, nudging(sut))));
      // A turn of the event loop lets the nudged relay ask for the lease before the next commit
      // takes the connection (PGlite's only one); now and then both catch up, so that they race
      // for the head of an outbox that was drained, not only for the rows behind it.
      await new Promise((turn) => setImmediate(turn));
      if (i % 3 === 0) await eventually(() => seen.length >= written.length, { timeoutMs: 15_000 });
    }
    await eventually(() => seen.length >= written.length, { timeoutMs: 15_000 });
    // Stopped, neither relay publishes anything more: what they published is all there will be.
    await relayA.stop();
    await relayB.stop();
    expect(seen).toEqual(written);
    expect(tapA.published.length + tapB.published.length).toBe(written.length);
    // Both took turns: the race was real.
    expect(tapA.published.length).toBeGreaterThan(0);
    expect(tapB.published.length).toBeGreaterThan(0);
    expect(await unpublished(backend.first)).toBe(0);
  });

  it('loses nothing while the bus fails, and publishes everything in order once it recovers', async () => {
    let failures = 0;
    const flaky = new TapBus(consumer, {
      before: () => {
        if (failures < 6) {
          failures++;
          throw new Error('bus down');
        }
      },
    });
    const sut = relay(backend.first, flaky);
    const ids = await write(backend.first, 5);
    sut.start();
    const more = await write(backend.first, 5, nudging(sut));
    await eventually(() => seen.length >= 10, { timeoutMs: 15_000 });
    expect(failures).toBe(6);
    expect(seen).toEqual([...ids, ...more]);
    // The consumer has them; the stamps follow once the publish returns.
    await eventually(async () => (await unpublished(backend.first)) === 0);
  });

  it('stamps a row published only when the in-process consumers have handled it', async () => {
    let release!: () => void;
    const handled = new Promise<void>((resolve) => {
      release = resolve;
    });
    await consumer.subscribe(RepositoryCreated, { durable: 'slow' }, () => handled);
    const sut = relay(backend.first, consumer);
    await write(backend.first, 1);
    sut.start();
    await eventually(() => seen.length === 1);
    // While it waits on the slow consumer, the relay renews its lease (every third of the lease).
    // Once it has, it has had every chance to stamp the row, and it has not.
    const taken = await leaseUntil(backend.first);
    await eventually(async () => (await leaseUntil(backend.first)) > taken);
    expect(await unpublished(backend.first)).toBe(1);
    release();
    await eventually(async () => (await unpublished(backend.first)) === 0);
  });

  it('does not block consumers that use the database while the relay waits on them', async () => {
    // Like the webhooks consumer: its handler writes to the same database (with PGlite, the same
    // single connection), and the in-process publish waits for it.
    const stored: string[] = [];
    await consumer.subscribe(RepositoryCreated, { durable: 'writer' }, async (event) => {
      await backend.second.client.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_sleep(0.01)`;
        stored.push(event.id);
      });
    });
    const sut = relay(backend.first, consumer);
    sut.start();
    const ids = await write(backend.first, 3, nudging(sut));
    await eventually(async () => stored.length === 3 && (await unpublished(backend.first)) === 0, {
      timeoutMs: 10_000,
    });
    expect(stored).toEqual(ids);
  });

  it('purges published rows past the retention, and keeps the rest', async () => {
    const keeping = relay(backend.first, consumer, { purgeEveryMs: 0, retentionMs: 3600_000 });
    keeping.start();
    await write(backend.first, 3, nudging(keeping));
    await eventually(() => seen.length === 3);
    // Done publishing, it gives the lease up and then purges; a stop waits for that purge.
    await eventually(async () => (await leaseOwners(backend.first)).length === 0);
    await keeping.stop();
    const count = async () =>
      Number(
        (
          await backend.first.client.$queryRaw<
            { count: bigint }[]
          >`SELECT count(*) AS count FROM events.event_outbox`
        )[0]?.count,
      );
    expect(await count()).toBe(3);
    const purging = relay(backend.first, consumer, { purgeEveryMs: 0, retentionMs: 0 });
    purging.start();
    await eventually(async () => (await count()) === 0);
  });

  it('stops cleanly: gives its lease up and publishes nothing more', async () => {
    const tap = new TapBus(consumer);
    const sut = relay(backend.first, tap);
    sut.start();
    await write(backend.first, 2, nudging(sut));
    await eventually(() => seen.length === 2);
    await sut.stop();
    const leases = await backend.first.client.$queryRaw<
      { owner: string }[]
    >`SELECT owner FROM events.event_outbox_relay`;
    expect(leases).toEqual([]);
    await write(backend.first, 2, nudging(sut));
    expect(await unpublished(backend.first)).toBe(2);
    // Another relay publishes the two; the stopped one, nudged first, published nothing more.
    const next = new TapBus(consumer);
    relay(backend.first, next).start();
    await eventually(() => seen.length === 4);
    expect(tap.published).toHaveLength(2);
    expect(next.published).toHaveLength(2);
  });

  it('keeps its lease through a stream of commits, and gives it up once the outbox stays drained', async () => {
    // A linger far longer than the few statements a round ends with.
    const sut = relay(backend.first, consumer, { lingerMs: 1_000 });
    sut.start();
    const owners = (): Promise<string[]> => leaseOwners(backend.first);
    const first = await write(backend.first, 1, nudging(sut));
    await eventually(() => seen.length === 1);
    const holder = await owners();
    expect(holder).toHaveLength(1);
    // Its round done (the row stamped), the relay lingers with the lease still taken, so that the
    // next commit needs no new one.
    await eventually(async () => (await unpublished(backend.first)) === 0);
    expect(await owners()).toEqual(holder);
    const second = await write(backend.first, 1, nudging(sut));
    await eventually(() => seen.length === 2);
    expect(await owners()).toEqual(holder);
    expect(seen).toEqual([...first, ...second]);
    // Nothing more: the linger runs out and the lease is given up for another process's relay.
    await eventually(async () => (await owners()).length === 0, { timeoutMs: 5_000 });
  });

  it('publishes, before giving its lease up, what another process committed during its linger', async () => {
    const tapA = new TapBus(consumer);
    const tapB = new TapBus(consumer);
    const holder = relay(backend.first, tapA, { lingerMs: 300 });
    const waiting = relay(backend.second, tapB);
    holder.start();
    await write(backend.first, 1, nudging(holder));
    await eventually(() => seen.length === 1);
    // Started only now, so that the first event is surely the holder's and it holds the lease.
    waiting.start();
    // Committed in the other process while the holder lingers: only the waiting relay is nudged.
    const late = await write(backend.second, 1, nudging(waiting));
    await eventually(() => seen.length === 2);
    expect(seen.at(-1)).toBe(late[0]);
    // The holder published it before giving its lease up; had it given the lease up first, the
    // waiting relay, retrying every 50 ms, would have.
    expect(tapA.published).toHaveLength(2);
    expect(tapB.published).toHaveLength(0);
  });

  it('gives each database one relay per process, which stops with the last module that started it', async () => {
    const tap = new TapBus(consumer);
    const sut = OutboxRelay.shared(backend.first.client, tap, silent, FAST);
    relays.push(sut);
    expect(OutboxRelay.shared(backend.first.client, tap, silent, FAST)).toBe(sut);
    sut.start();
    sut.start();
    await sut.stop();
    // One of its two users is still there: it still publishes.
    await write(backend.first, 2, nudging(sut));
    await eventually(() => seen.length === 2);
    await sut.stop();
    await write(backend.first, 1, nudging(sut));
    // Once stopped it is not handed out again: the next caller gets a relay of its own, which
    // publishes the row; the stopped one, nudged first, published nothing more.
    const nextTap = new TapBus(consumer);
    const next = OutboxRelay.shared(backend.first.client, nextTap, silent, FAST);
    relays.push(next);
    expect(next).not.toBe(sut);
    next.start();
    await eventually(() => seen.length === 3);
    expect(tap.published).toHaveLength(2);
    expect(nextTap.published).toHaveLength(1);
  });

  it('takes over from a relay that died holding the lease once the lease runs out', async () => {
    const [dead] = await backend.first.client.$queryRaw<{ until: string }[]>`
      INSERT INTO events.event_outbox_relay (name, owner, lease_until)
      VALUES ('event_outbox', 'a-relay-that-died', now() + interval '800 milliseconds')
      RETURNING lease_until::text AS until`;
    const ids = await write(backend.first, 3);
    // Whether the dead relay's lease had run out, on the database's clock, as each event went out.
    const expiredAtPublish: boolean[] = [];
    const tap = new TapBus(consumer, {
      before: async () => {
        const [row] = await backend.first.client.$queryRaw<{ expired: boolean }[]>`
          SELECT now() >= ${dead?.until ?? 'infinity'}::timestamptz AS expired`;
        expiredAtPublish.push(row?.expired === true);
      },
    });
    relay(backend.first, tap).start();
    await eventually(() => seen.length === 3);
    expect(expiredAtPublish).toEqual([true, true, true]);
    expect(seen).toEqual(ids);
  });
});

describe('event outbox relayed to NATS JetStream', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let database: Database;
  let namespace: string;
  let natsUrl: string;
  let publisher: Bus;
  let consumer: Bus;
  let seen: string[];
  const relays: OutboxRelay[] = [];

  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = await openDatabase({ url: testDb.url, embeddedDir: '' });
  });

  afterAll(async () => {
    await database.close();
    await testDb.drop();
  });

  beforeEach(async () => {
    await database.client.$executeRaw`DELETE FROM events.event_outbox`;
    await database.client.$executeRaw`DELETE FROM events.event_outbox_relay`;
    ({ natsUrl } = await testServices());
    namespace = uniqueNamespace();
    publisher = await connectNatsBus({ servers: natsUrl, namespace, name: 'relay' });
    consumer = await connectNatsBus({ servers: natsUrl, namespace, name: 'consumer' });
    seen = [];
    await consumer.subscribe(RepositoryCreated, { durable: 'test' }, (event) => {
      seen.push(event.id);
      return Promise.resolve();
    });
  });

  afterEach(async () => {
    for (const sut of relays.splice(0)) await sut.stop();
    await consumer.close();
    await publisher.close();
    const nc = await connect({ servers: natsUrl });
    await (await nc.jetstreamManager()).streams.delete(`${namespace}_BERTH_EVENTS`);
    await nc.close();
  });

  function relay(bus: Bus): OutboxRelay {
    const sut = new OutboxRelay(database.client, bus, silent, FAST);
    relays.push(sut);
    return sut;
  }

  /** How many messages the stream holds: what its consumers will ever be handed. */
  async function streamMessages(): Promise<number> {
    const nc = await connect({ servers: natsUrl });
    try {
      return (await (await nc.jetstreamManager()).streams.info(`${namespace}_BERTH_EVENTS`)).state.messages;
    } finally {
      await nc.close();
    }
  }

  it('publishes again, under the same id, an event whose acknowledgement was lost; the stream keeps one', async () => {
    let lost = 0;
    const tap = new TapBus(publisher, {
      after: () => {
        if (lost < 2) {
          lost++;
          throw new Error('acknowledgement lost');
        }
      },
    });
    const ids = await write(database, 3);
    relay(tap).start();
    await eventually(() => seen.length >= 3);
    // Stamped at last: the relay publishes these rows no more, and the stream kept each once.
    await eventually(async () => (await unpublished(database)) === 0);
    expect(tap.published.length).toBeGreaterThan(3);
    expect(await streamMessages()).toBe(3);
    expect(seen).toEqual(ids);
  });

  it('republishes the events of a relay that died between publishing and stamping them', async () => {
    // The dead relay's work: its lease is still there, its events reached the stream, and their
    // rows were never stamped.
    await database.client.$executeRaw`
      INSERT INTO events.event_outbox_relay (name, owner, lease_until)
      VALUES ('event_outbox', 'a-relay-that-died', now() + interval '500 milliseconds')`;
    const ids = await write(database, 4);
    const rows = await database.client.$queryRaw<{ payload: RepositoryCreatedEvent }[]>`
      SELECT payload FROM events.event_outbox ORDER BY seq`;
    for (const row of rows) await publisher.publish(RepositoryCreated, row.payload);

    const restarted = new TapBus(publisher);
    relay(restarted).start();
    await eventually(async () => (await unpublished(database)) === 0);
    await eventually(() => seen.length >= 4);
    expect(restarted.published).toEqual(ids);
    expect(await streamMessages()).toBe(4);
    expect(seen).toEqual(ids);
  });
});
