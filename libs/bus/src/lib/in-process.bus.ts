import type { BroadcastContract, DomainEvent, EventContract, RpcContract } from '@berth/contracts';
import { OciError } from '@berth/oci';
import { Bus, type DeliveryInfo, type SubscribeOptions } from './bus';

/** Called with errors that a handler threw and that are not the spec's (they become `UNKNOWN`). */
export type BusErrorReporter = (error: unknown, context: { subject: string }) => void;

type Handler = (payload: unknown) => Promise<unknown>;
type EventHandler = (payload: DomainEvent, info: DeliveryInfo) => Promise<void>;

const MAX_RETRY_DELAY_MS = 30_000;

/**
 * The all-in-one bus: requests call the handler directly, events are handed to every durable
 * subscription group (one handler per group, as with JetStream) and retried with backoff until
 * the handler succeeds.
 *
 * `publish` resolves only once every group's handler has succeeded, so "accepted by the bus"
 * means "handled by every consumer" (ADR 0006, decision 3): the event outbox marks a row published
 * after that, and a crash before it replays the row on the next start. The bus itself keeps
 * nothing; an event published with no subscription group is handled by nobody. `close` makes
 * pending publishes reject.
 */
export class InProcessBus extends Bus {
  private readonly handlers = new Map<string, Handler>();
  private readonly groups = new Map<string, Map<string, EventHandler>>();
  private readonly listeners = new Map<string, ((payload: unknown) => void)[]>();
  /** Retry pauses in progress, with how to end them when the bus closes. */
  private readonly waiting = new Map<NodeJS.Timeout, (error: Error) => void>();
  private closed = false;
  /** Rejects when the bus closes, so that a publish waiting on a hung handler ends too. */
  private readonly closing: Promise<never>;
  private readonly closedError = new Error('bus closed');
  private signalClosing: (error: Error) => void = () => undefined;

  constructor(private readonly reportError: BusErrorReporter = () => undefined) {
    super();
    this.closing = new Promise<never>((_resolve, reject) => {
      this.signalClosing = reject;
    });
    // Observed here so that closing with nothing in flight is no unhandled rejection.
    this.closing.catch(() => undefined);
  }

  async request<Req, Res>(contract: RpcContract<Req, Res>, payload: Req): Promise<Res> {
    const handler = this.handlers.get(contract.subject);
    if (!handler) throw new OciError('UNKNOWN', `no handler for ${contract.subject}`);
    try {
      return (await handler(payload)) as Res;
    } catch (error) {
      if (error instanceof OciError) throw error;
      this.reportError(error, { subject: contract.subject });
      throw new OciError('UNKNOWN', 'internal error');
    }
  }

  handle<Req, Res>(contract: RpcContract<Req, Res>, handler: (payload: Req) => Promise<Res>): Promise<void> {
    if (this.handlers.has(contract.subject)) throw new Error(`${contract.subject} is already handled`);
    this.handlers.set(contract.subject, handler as Handler);
    return Promise.resolve();
  }

  async publish<P extends DomainEvent>(contract: EventContract<P>, payload: P): Promise<void> {
    if (this.closed) throw this.closedError;
    const handlers = [...(this.groups.get(contract.subject)?.values() ?? [])];
    await Promise.all(handlers.map((handler) => this.deliver(contract, handler, payload)));
  }

  subscribe<P extends DomainEvent>(
    contract: EventContract<P>,
    options: SubscribeOptions,
    handler: (payload: P, info: DeliveryInfo) => Promise<void>,
  ): Promise<void> {
    const group = this.groups.get(contract.subject) ?? new Map<string, EventHandler>();
    // Like a JetStream durable consumer, a second subscriber of the same group shares the work;
    // in one process that means the first one keeps it.
    if (!group.has(options.durable)) group.set(options.durable, handler as EventHandler);
    this.groups.set(contract.subject, group);
    return Promise.resolve();
  }

  broadcast<P>(contract: BroadcastContract<P>, payload: P): Promise<void> {
    for (const listener of this.listeners.get(contract.subject) ?? []) listener(payload);
    return Promise.resolve();
  }

  onBroadcast<P>(contract: BroadcastContract<P>, handler: (payload: P) => void): Promise<void> {
    this.listeners.set(contract.subject, [
      ...(this.listeners.get(contract.subject) ?? []),
      handler as (p: unknown) => void,
    ]);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    this.signalClosing(this.closedError);
    for (const [timer, reject] of this.waiting) {
      clearTimeout(timer);
      reject(this.closedError);
    }
    this.waiting.clear();
    return Promise.resolve();
  }

  /** Runs a group's handler until it succeeds, backing off between attempts; rejects on close. */
  private async deliver(
    contract: EventContract<DomainEvent>,
    handler: EventHandler,
    payload: DomainEvent,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) await this.pause(Math.min(MAX_RETRY_DELAY_MS, 100 * 2 ** (attempt - 2)));
      if (this.closed) throw this.closedError;
      try {
        await Promise.race([handler(payload, { attempt }), this.closing]);
        return;
      } catch (error) {
        if (error === this.closedError) throw error;
        this.reportError(error, { subject: contract.subject });
      }
    }
  }

  private pause(ms: number): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(timer);
        resolve();
      }, ms);
      this.waiting.set(timer, reject);
    });
  }
}
