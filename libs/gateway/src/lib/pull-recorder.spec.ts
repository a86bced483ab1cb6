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

async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('PullRecorder', () => {
  let bus: ScriptedBus;
  const logger = pino({ level: 'silent' });

  beforeEach(() => {
    bus = new ScriptedBus();
  });

  it('publishes N pulls as events that hold N entries, with every field of each pull', async () => {
    const sut = new PullRecorder(bus, logger, { flushIntervalMs: 20, maxBatch: 500 });
    for (let i = 0; i < 7; i++) sut.record(pull(i));
    expect(bus.published).toEqual([]);
    await eventually(() => bus.published.length === 1);
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
    const sut = new PullRecorder(bus, logger, { flushIntervalMs: 10, maxBatch: 10, maxInFlight: 2 });
    const started = performance.now();
    for (let i = 0; i < 1_000; i++) sut.record(pull(i));
    expect(performance.now() - started).toBeLessThan(500);
    // Two batches hang in flight; the other 98 were dropped, not queued.
    expect(bus.published).toHaveLength(2);
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
    await eventually(() => warnings.length === 1);
    expect(String(warnings[0])).toContain('pull events dropped');
    bus.mode = 'ok';
    sut.record(pull(2));
    await eventually(() => bus.published.length === 2);
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
    await expect(sut.onApplicationShutdown()).resolves.toBeUndefined();
  });
});
