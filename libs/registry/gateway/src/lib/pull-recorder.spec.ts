import { InProcessBus } from '@berth/bus';
import {
  ArtifactsPulled,
  type ArtifactsPulledEvent,
  type DomainEvent,
  type EventContract,
} from '@berth/contracts';
import pino from 'pino';
import { PullRecorder, type Pull } from './pull-recorder';

const digest = `sha256:${'a'.repeat(64)}`;

function pull(i: number, overrides: Partial<Pull> = {}): Pull {
  return {
    repository: i % 2 === 0 ? 'team/app' : 'ubuntu',
    digest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 1234,
    tag: i % 2 === 0 ? 'v1' : null,
    actor: i % 2 === 0 ? 'alice' : null,
    requestId: `req-${i}`,
    ...overrides,
  };
}

/** A bus whose publishes the test controls: they succeed, fail, or hang. */
class ScriptedBus extends InProcessBus {
  readonly published: ArtifactsPulledEvent[] = [];
  mode: 'ok' | 'fail' | 'hang' = 'ok';

  override publish<P extends DomainEvent>(contract: EventContract<P>, payload: P): Promise<void> {
    expect(contract.subject).toBe(ArtifactsPulled.subject);
    this.published.push(ArtifactsPulled.payload.parse(payload));
    if (this.mode === 'fail') return Promise.reject(new Error('bus down'));
    if (this.mode === 'hang') return new Promise(() => undefined);
    return Promise.resolve();
  }
}

describe('PullRecorder', () => {
  let bus: ScriptedBus;
  const logger = pino({ level: 'silent' });

  beforeEach(() => {
    // The batches are cut by a timer: fake timers let each test say how much time passes.
    jest.useFakeTimers();
    bus = new ScriptedBus();
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('publishes N pulls as events that hold N entries, with every field of each pull', async () => {
    const sut = new PullRecorder(bus, logger, { flushIntervalMs: 20, maxBatch: 500 });
    for (let i = 0; i < 7; i++) sut.record(pull(i));
    await jest.advanceTimersByTimeAsync(19);
    expect(bus.published).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(bus.published).toHaveLength(1);
    const event = bus.published[0]!;
    expect(event.requestId).toBeNull();
    expect(event.pulls).toHaveLength(7);
    expect(event.pulls[0]).toEqual({
      id: expect.any(String) as unknown,
      occurredAt: expect.any(String) as unknown,
      requestId: 'req-0',
      actor: 'alice',
      project: 'team',
      repository: 'team/app',
      digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 1234,
      tag: 'v1',
    });
    expect(event.pulls[1]).toMatchObject({
      project: 'library',
      repository: 'ubuntu',
      tag: null,
      actor: null,
    });
    expect(new Set(event.pulls.map((p) => p.id)).size).toBe(7);
  });

  it('publishes a full batch at once, without waiting for the interval', () => {
    const sut = new PullRecorder(bus, logger, { flushIntervalMs: 60_000, maxBatch: 500 });
    for (let i = 0; i < 1_250; i++) sut.record(pull(i));
    expect(bus.published.map((e) => e.pulls.length)).toEqual([500, 500]);
  });

  it('never makes a pull wait when the bus hangs, and drops batches beyond those in flight', () => {
    bus.mode = 'hang';
    const dropped: string[] = [];
    const sut = new PullRecorder(
      bus,
      pino({ level: 'warn' }, { write: (line: string) => dropped.push(line) }),
      { flushIntervalMs: 10, maxBatch: 10, maxInFlight: 2 },
    );
    // `record` returns before anything is published: with no time passing and the bus hung,
    // every one of the 1,000 pulls was taken.
    for (let i = 0; i < 1_000; i++) sut.record(pull(i));
    // Two batches hang in flight; the other 98 were dropped (and said so), not queued.
    expect(bus.published).toHaveLength(2);
    expect(dropped).toHaveLength(98);
    expect(dropped.every((line) => line.includes('pull events dropped'))).toBe(true);
  });

  it('logs and drops a batch whose publish fails, and goes on with the next', async () => {
    bus.mode = 'fail';
    const warnings: unknown[] = [];
    const sut = new PullRecorder(
      bus,
      pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) }),
      {
        flushIntervalMs: 10,
      },
    );
    sut.record(pull(1));
    await jest.advanceTimersByTimeAsync(10);
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0])).toContain('pull events dropped');
    bus.mode = 'ok';
    sut.record(pull(2));
    await jest.advanceTimersByTimeAsync(10);
    expect(bus.published).toHaveLength(2);
    expect(bus.published[1]?.pulls.map((p) => p.requestId)).toEqual(['req-2']);
  });

  it('publishes the last batch on shutdown', async () => {
    const sut = new PullRecorder(bus, logger, { flushIntervalMs: 60_000 });
    sut.record(pull(1));
    sut.record(pull(2));
    await sut.onApplicationShutdown();
    expect(bus.published.map((e) => e.pulls.length)).toEqual([2]);
  });

  it('does not wait for ever on shutdown when the bus hangs', async () => {
    bus.mode = 'hang';
    const sut = new PullRecorder(bus, logger, { flushIntervalMs: 60_000, shutdownWaitMs: 50 });
    sut.record(pull(1));
    let done = false;
    const shutdown = sut.onApplicationShutdown().then(() => {
      done = true;
    });
    await jest.advanceTimersByTimeAsync(49);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await shutdown;
    expect(done).toBe(true);
  });
});
