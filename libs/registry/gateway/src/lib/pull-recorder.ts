import { randomUUID } from 'node:crypto';
import type { OnApplicationShutdown } from '@nestjs/common';
import { projectOf } from '@berth/naming';
import type { Bus } from '@berth/bus';
import { ArtifactsPulled, type ArtifactsPulledEvent } from '@berth/contracts';
import type { Logger } from 'pino';

/** One manifest served by a `GET`, as the gateway records it. */
export interface Pull {
  readonly repository: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** The tag it was pulled by; null when pulled by digest. */
  readonly tag: string | null;
  /** The caller's token subject; null when anonymous or auth is off. */
  readonly actor: string | null;
  readonly requestId: string | null;
}

/** How pulls are batched; the defaults are the production ones. */
export interface PullRecorderOptions {
  /** The longest a pull waits before its batch is published. */
  readonly flushIntervalMs?: number;
  /** A batch is published as soon as it has this many pulls. */
  readonly maxBatch?: number;
  /** Batches being published at once; beyond it, new batches are dropped (the bus is not keeping up). */
  readonly maxInFlight?: number;
  /** How long shutdown waits for the last batches to be published. */
  readonly shutdownWaitMs?: number;
}

/**
 * Turns manifest pulls into `berth.artifact.pulled.v1` events without slowing pulls down (ADR
 * 0006, decision 4): {@link PullRecorder.record} only appends to an array, and the batch is
 * published in the background, at the latest a second later or as soon as it holds 500 pulls.
 * Pulls never touch the database and no request waits on the bus.
 *
 * The price is durability: pull events are best effort. A batch whose publish fails, or that
 * finds too many batches still in flight (a bus that hangs), is logged and dropped, and a gateway
 * that crashes loses the pulls of its current batch. On an orderly shutdown (after the HTTP
 * server has stopped taking requests) the last batch is published.
 */
export class PullRecorder implements OnApplicationShutdown {
  private readonly flushIntervalMs: number;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private readonly shutdownWaitMs: number;
  private pending: { readonly pull: Pull; readonly at: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly bus: Bus,
    private readonly logger: Logger,
    options: PullRecorderOptions = {},
  ) {
    this.flushIntervalMs = options.flushIntervalMs ?? 1_000;
    this.maxBatch = options.maxBatch ?? 500;
    this.maxInFlight = options.maxInFlight ?? 4;
    this.shutdownWaitMs = options.shutdownWaitMs ?? 2_000;
  }

  /** Records a pull; returns at once. */
  record(pull: Pull): void {
    this.pending.push({ pull, at: Date.now() });
    if (this.pending.length >= this.maxBatch) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.flush();
      }, this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Publishes the last batch and waits (a little) for the batches still in flight. */
  async onApplicationShutdown(): Promise<void> {
    this.flush();
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.inFlight),
      new Promise((resolve) => {
        timer = setTimeout(resolve, this.shutdownWaitMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Starts publishing the current batch in the background. */
  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    if (this.inFlight.size >= this.maxInFlight) {
      this.logger.warn({ pulls: batch.length }, 'pull events dropped: the bus is not keeping up');
      return;
    }
    const publishing: Promise<void> = this.bus
      .publish(ArtifactsPulled, toEvent(batch))
      .catch((error: unknown) => {
        this.logger.warn({ err: error, pulls: batch.length }, 'pull events dropped: publish failed');
      })
      .finally(() => {
        this.inFlight.delete(publishing);
      });
    this.inFlight.add(publishing);
  }
}

function toEvent(batch: readonly { readonly pull: Pull; readonly at: number }[]): ArtifactsPulledEvent {
  return {
    id: randomUUID(),
    occurredAt: new Date().toISOString(),
    requestId: null,
    pulls: batch.map(({ pull, at }) => ({
      id: randomUUID(),
      occurredAt: new Date(at).toISOString(),
      requestId: pull.requestId,
      actor: pull.actor,
      project: projectOf(pull.repository),
      repository: pull.repository,
      digest: pull.digest,
      mediaType: pull.mediaType,
      size: pull.size,
      tag: pull.tag,
    })),
  };
}
