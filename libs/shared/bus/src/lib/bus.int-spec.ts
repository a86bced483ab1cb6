import { randomUUID } from 'node:crypto';
import {
  BlobPushed,
  RepositoryChanged,
  RepositoryCreated,
  StatBlob,
  type BlobPushedEvent,
  type DomainEvent,
  type EventContract,
} from '@berth/contracts';
import { OciError } from '@berth/oci';
import { eventually, testServices, uniqueNamespace } from '@berth/testing';
import { connect } from 'nats';
import type { Bus, BusEvent } from './bus';
import { InProcessBus } from './in-process.bus';
import { NatsBus } from './nats.bus';

const digest = `sha256:${'e'.repeat(64)}`;

/** A `BusEvent` of `contract`, which `pushed` payloads fit (repository events carry a subset). */
function busEvent(contract: EventContract<DomainEvent>, repository: string): BusEvent {
  return { contract, payload: pushed(repository) };
}

/** The repository of a `busEvent`. */
function repositoryOf(event: BusEvent): string {
  return (event.payload as BlobPushedEvent).repository;
}

function pushed(repository: string): BlobPushedEvent {
  return {
    id: randomUUID(),
    occurredAt: new Date().toISOString(),
    requestId: null,
    actor: null,
    project: 'library',
    repository,
    digest,
    size: 1,
  };
}

interface Pair {
  /** Two buses on the same transport: a "server" instance and a "client" instance. */
  readonly server: Bus;
  readonly client: Bus;
  close(): Promise<void>;
}

const transports: [string, () => Promise<Pair>][] = [
  [
    'in-process',
    () => {
      const bus = new InProcessBus();
      return Promise.resolve({ server: bus, client: bus, close: () => bus.close() });
    },
  ],
  [
    'NATS',
    async () => {
      const { natsUrl } = await testServices();
      const namespace = uniqueNamespace();
      const server = await NatsBus.connect({ servers: natsUrl, namespace, name: 'test-server' });
      const client = await NatsBus.connect({ servers: natsUrl, namespace, name: 'test-client' });
      return {
        server,
        client,
        close: async () => {
          await client.close();
          await server.close();
          const nc = await connect({ servers: natsUrl });
          await (await nc.jetstreamManager()).streams.delete(`${namespace}_BERTH_EVENTS`);
          await nc.close();
        },
      };
    },
  ],
];

describe.each(transports)('bus over %s', (_name, open) => {
  let sut: Pair;

  beforeEach(async () => {
    sut = await open();
  });

  afterEach(async () => {
    await sut.close();
  });

  it('answers requests with the handler value', async () => {
    await sut.server.handle(StatBlob, (request) => Promise.resolve({ digest: request.digest, size: 42 }));
    await expect(sut.client.request(StatBlob, { repository: 'a/b', digest })).resolves.toEqual({
      digest,
      size: 42,
    });
  });

  it('carries OciErrors across with their code and hides other errors behind UNKNOWN', async () => {
    let calls = 0;
    await sut.server.handle(StatBlob, () => {
      calls++;
      if (calls === 1) throw new OciError('BLOB_UNKNOWN', 'nope', { digest });
      throw new Error('database password is hunter2');
    });
    await expect(sut.client.request(StatBlob, { repository: 'a/b', digest })).rejects.toMatchObject({
      code: 'BLOB_UNKNOWN',
      message: 'nope',
    });
    const hidden = sut.client.request(StatBlob, { repository: 'a/b', digest });
    await expect(hidden).rejects.toMatchObject({ code: 'UNKNOWN' });
    await expect(hidden).rejects.not.toMatchObject({
      message: expect.stringContaining('hunter2') as unknown,
    });
  });

  it('delivers events to a durable subscriber and redelivers until the handler succeeds', async () => {
    const seen: { id: string; attempt: number }[] = [];
    await sut.server.subscribe(BlobPushed, { durable: 'test', ackWaitMs: 2_000 }, (event, info) => {
      seen.push({ id: event.id, attempt: info.attempt });
      if (seen.length === 1) return Promise.reject(new Error('receiver down'));
      return Promise.resolve();
    });
    const event = pushed('a/b');
    await sut.client.publish(BlobPushed, event);
    await eventually(() => seen.length >= 2);
    expect(seen.map((s) => s.id)).toEqual([event.id, event.id]);
    expect(seen[1]?.attempt).toBeGreaterThan(seen[0]?.attempt ?? 0);
  });

  it('hands a batch subscriber the events of several contracts, each contract in order', async () => {
    const seen: string[] = [];
    await sut.server.subscribeBatch([BlobPushed, RepositoryCreated], { durable: 'batch' }, (events) => {
      seen.push(...events.map((event) => `${event.contract.subject} ${repositoryOf(event)}`));
      return Promise.resolve();
    });
    await sut.client.publishAll([
      busEvent(BlobPushed, 'a'),
      busEvent(RepositoryCreated, 'b'),
      busEvent(BlobPushed, 'c'),
    ]);
    await eventually(() => seen.length >= 3);
    expect(seen.filter((entry) => entry.startsWith(BlobPushed.subject))).toEqual([
      `${BlobPushed.subject} a`,
      `${BlobPushed.subject} c`,
    ]);
    expect(seen).toContain(`${RepositoryCreated.subject} b`);
  });

  it('gathers events published together into batches, and hands a failed batch again', async () => {
    const batches: string[][] = [];
    let failNext = false;
    await sut.server.subscribeBatch(
      [BlobPushed, RepositoryCreated],
      { durable: 'gather', ackWaitMs: 2_000 },
      (events) => {
        batches.push(events.map((event) => `${event.contract.subject} ${repositoryOf(event)}`));
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('database down'));
        }
        return Promise.resolve();
      },
    );
    const named = (event: BusEvent): string => `${event.contract.subject} ${repositoryOf(event)}`;
    const events = Array.from({ length: 10 }, (_, i) =>
      busEvent(i % 2 === 0 ? BlobPushed : RepositoryCreated, `r${i}`),
    );
    await sut.client.publishAll(events);
    await eventually(() => batches.flat().length >= 10);
    // Everything arrived, each contract in order, in fewer batches than events.
    for (const contract of [BlobPushed, RepositoryCreated]) {
      const mine = (list: string[]): string[] =>
        list.filter((entry) => entry.startsWith(`${contract.subject} `));
      expect(mine(batches.flat())).toEqual(mine(events.map(named)));
    }
    expect(batches.length).toBeLessThan(events.length);

    failNext = true;
    const more = [busEvent(BlobPushed, 'x'), busEvent(RepositoryCreated, 'y')];
    const before = batches.length;
    await sut.client.publishAll(more);
    await eventually(() => new Set(batches.slice(before + 1).flat()).size >= 2);
    // The batch that failed: every one of its events was handed again.
    const failed = batches[before] ?? [];
    expect(failed.length).toBeGreaterThan(0);
    expect(batches.slice(before + 1).flat()).toEqual(expect.arrayContaining(failed));
  });

  it('broadcasts to every listener', async () => {
    const heard: string[] = [];
    await sut.server.onBroadcast(RepositoryChanged, ({ repository }) => heard.push(`server:${repository}`));
    await sut.client.onBroadcast(RepositoryChanged, ({ repository }) => heard.push(`client:${repository}`));
    await sut.client.broadcast(RepositoryChanged, { repository: 'x/y' });
    await eventually(() => heard.length === (sut.server === sut.client ? 2 : 2));
    expect(heard.sort()).toEqual(['client:x/y', 'server:x/y']);
  });
});

describe('in-process bus publish', () => {
  let sut: InProcessBus;
  /** Handler failures the bus reported: it reports each one before it pauses to retry. */
  let reported: number;

  beforeEach(() => {
    reported = 0;
    sut = new InProcessBus(() => {
      reported++;
    });
  });

  afterEach(async () => {
    await sut.close();
  });

  it('resolves only once every durable subscription group has handled the event', async () => {
    const handled: string[] = [];
    let release!: () => void;
    const slow = new Promise<void>((resolve) => {
      release = resolve;
    });
    await sut.subscribe(BlobPushed, { durable: 'fast' }, () => {
      handled.push('fast');
      return Promise.resolve();
    });
    await sut.subscribe(BlobPushed, { durable: 'slow' }, async () => {
      await slow;
      handled.push('slow');
    });
    let published = false;
    const publishing = sut.publish(BlobPushed, pushed('a/b')).then(() => {
      published = true;
    });
    await eventually(() => handled.includes('fast'));
    // The in-process bus involves no timer here: once the queued callbacks have all run (the
    // next turn of the event loop), a publish that did not wait for "slow" would have resolved.
    await new Promise((turn) => setImmediate(turn));
    expect(published).toBe(false);
    release();
    await publishing;
    expect(handled.sort()).toEqual(['fast', 'slow']);
  });

  it('hands a batch subscriber the events of one publishAll at once, and the others one by one', async () => {
    const batches: string[][] = [];
    const single: string[] = [];
    await sut.subscribeBatch([BlobPushed, RepositoryCreated], { durable: 'batch' }, (events) => {
      batches.push(events.map(repositoryOf));
      return Promise.resolve();
    });
    await sut.subscribe(BlobPushed, { durable: 'single' }, (event) => {
      single.push(event.repository);
      return Promise.resolve();
    });
    await sut.publishAll([
      busEvent(BlobPushed, 'a'),
      busEvent(RepositoryCreated, 'b'),
      busEvent(BlobPushed, 'c'),
    ]);
    expect(batches).toEqual([['a', 'b', 'c']]);
    expect(single).toEqual(['a', 'c']);
    await sut.publish(RepositoryCreated, pushed('d'));
    expect(batches).toEqual([['a', 'b', 'c'], ['d']]);
  });

  it('hands a failed batch again, whole, until its handler succeeds', async () => {
    const attempts: { attempt: number; repositories: string[] }[] = [];
    await sut.subscribeBatch([BlobPushed], { durable: 'flaky' }, (events, info) => {
      attempts.push({ attempt: info.attempt, repositories: events.map(repositoryOf) });
      return info.attempt < 2 ? Promise.reject(new Error('not yet')) : Promise.resolve();
    });
    await sut.publishAll([busEvent(BlobPushed, 'a'), busEvent(BlobPushed, 'b')]);
    expect(attempts).toEqual([
      { attempt: 1, repositories: ['a', 'b'] },
      { attempt: 2, repositories: ['a', 'b'] },
    ]);
  });

  it('resolves after a failing handler has succeeded on a retry', async () => {
    const attempts: number[] = [];
    await sut.subscribe(BlobPushed, { durable: 'flaky' }, (_event, info) => {
      attempts.push(info.attempt);
      return info.attempt < 3 ? Promise.reject(new Error('not yet')) : Promise.resolve();
    });
    await sut.publish(BlobPushed, pushed('a/b'));
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('resolves at once when nobody subscribes, and rejects pending publishes when it closes', async () => {
    await expect(sut.publish(BlobPushed, pushed('a/b'))).resolves.toBeUndefined();
    await sut.subscribe(BlobPushed, { durable: 'down' }, () => Promise.reject(new Error('down')));
    const pending = sut.publish(BlobPushed, pushed('a/b'));
    // Closed while the failed delivery waits for its retry.
    await eventually(() => reported === 1);
    await sut.close();
    await expect(pending).rejects.toThrow('bus closed');
    await expect(sut.publish(BlobPushed, pushed('a/b'))).rejects.toThrow('bus closed');
  });

  it('ends a publish that waits on a handler that never finishes when it closes', async () => {
    let called = false;
    await sut.subscribe(BlobPushed, { durable: 'hung' }, () => {
      called = true;
      return new Promise(() => undefined);
    });
    const pending = sut.publish(BlobPushed, pushed('a/b'));
    await eventually(() => called);
    await sut.close();
    await expect(pending).rejects.toThrow('bus closed');
  });
});

describe('NATS bus durability', () => {
  it('keeps events published while no subscriber runs and delivers them when one starts', async () => {
    const { natsUrl } = await testServices();
    const namespace = uniqueNamespace();
    const publisher = await NatsBus.connect({ servers: natsUrl, namespace, name: 'publisher' });
    const events = [pushed('a'), pushed('b'), pushed('c')];
    for (const event of events) await publisher.publish(BlobPushed, event);
    // The same id again is de-duplicated by the stream.
    await publisher.publish(BlobPushed, events[0] ?? pushed('z'));

    const consumer = await NatsBus.connect({ servers: natsUrl, namespace, name: 'late-consumer' });
    const seen: string[] = [];
    await consumer.subscribe(BlobPushed, { durable: 'late' }, (event) => {
      seen.push(event.id);
      return Promise.resolve();
    });
    await eventually(() => seen.length >= 3);
    expect(seen).toEqual(events.map((e) => e.id));
    await consumer.close();
    await publisher.close();
    const nc = await connect({ servers: natsUrl });
    // Every publish was acknowledged before the consumer started: the stream holds what it will
    // ever deliver, and the event published twice is in it once.
    const stream = await (await nc.jetstreamManager()).streams.info(`${namespace}_BERTH_EVENTS`);
    expect(stream.state.messages).toBe(events.length);
    await (await nc.jetstreamManager()).streams.delete(`${namespace}_BERTH_EVENTS`);
    await nc.close();
  });

  it('fails to connect to a server that is not there', async () => {
    await expect(
      NatsBus.connect({ servers: 'nats://127.0.0.1:1', namespace: '', name: 'nowhere' }),
    ).rejects.toThrow();
  });
});
