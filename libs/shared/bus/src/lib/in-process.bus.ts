import type { BroadcastContract, DomainEvent, EventContract, RpcContract } from '@berth/contracts';
import { OciError } from '@berth/oci';
import { Bus, type BusEvent, type DeliveryInfo, type SubscribeOptions } from './bus';

/** Called with errors that a handler threw and that are not the spec's (they become `UNKNOWN`). */
export type BusErrorReporter = (error: unknown, context: { subject: string }) => void;

type Handler = (payload: unknown) => Promise<unknown>;

/** A durable subscription group's handler: of one event at a time, or of a batch. */
type Consumer =
  | { readonly batch: false; readonly handle: (payload: DomainEvent, info: DeliveryInfo) => Promise<void> }
  | {
      readonly batch: true;
      readonly handle: (events: readonly BusEvent[], info: DeliveryInfo) => Promise<void>;
    };

const MAX_RETRY_DELAY_MS = 30_000;

/**
 * The all-in-one bus: requests call the handler directly, events are handed to every durable
 * subscription group (one handler per group, as with JetStream) and retried with backoff until
 * the handler succeeds. A group subscribed with `subscribeBatch` is handed the events of one
 * `publishAll` at once; groups go on in parallel, each through its events in order.
 *
 * `publish` resolves only once every group's handler has succeeded, so "accepted by the bus"
 * means "handled by every consumer" (ADR 0006, decision 3): the event outbox marks a row published
 * after that, and a crash before it replays the row on the next start. The bus itself keeps
 * nothing; an event published with no subscription group is handled by nobody. `close` makes
 * pending publishes reject.
 */
export class InProcessBus extends Bus {
  private readonly handlers = new Map<string, Handler>();
  /** Each subject's durable subscription groups, by durable name. */
  private readonly groups = new Map<string, Map<string, Consumer>>();
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

  publish<P extends DomainEvent>(contract: EventContract<P>, payload: P): Promise<void> {
    return this.publishAll([{ contract, payload }]);
  }

  override async publishAll(events: readonly BusEvent[]): Promise<void> {
    if (this.closed) throw this.closedError;
    const work = new Map<Consumer, BusEvent[]>();
    for (const event of events) {
      for (const consumer of this.groups.get(event.contract.subject)?.values() ?? []) {
        const list = work.get(consumer);
        if (list === undefined) work.set(consumer, [event]);
        else list.push(event);
      }
    }
    await Promise.all(
      [...work].map(async ([consumer, list]) => {
        if (consumer.batch) {
          const subjects = [...new Set(list.map((event) => event.contract.subject))].join(',');
          await this.deliver(subjects, (info) => consumer.handle(list, info));
          return;
        }
        for (const { contract, payload } of list) {
          await this.deliver(contract.subject, (info) => consumer.handle(payload, info));
        }
      }),
    );
  }

  subscribe<P extends DomainEvent>(
    contract: EventContract<P>,
    options: SubscribeOptions,
    handler: (payload: P, info: DeliveryInfo) => Promise<void>,
  ): Promise<void> {
    const handle = handler as (payload: DomainEvent, info: DeliveryInfo) => Promise<void>;
    this.join(contract.subject, options.durable, { batch: false, handle });
    return Promise.resolve();
  }

  override subscribeBatch(
    contracts: readonly EventContract<DomainEvent>[],
    options: SubscribeOptions,
    handler: (events: readonly BusEvent[], info: DeliveryInfo) => Promise<void>,
  ): Promise<void> {
    // One consumer for all the contracts, so that a publish's events reach it together.
    const consumer: Consumer = { batch: true, handle: handler };
    for (const contract of contracts) this.join(contract.subject, options.durable, consumer);
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

  /**
   * Adds a consumer to a subject's durable group. Like a JetStream durable consumer, a second
   * subscriber of the same group shares the work; in one process that means the first one keeps it.
   */
  private join(subject: string, durable: string, consumer: Consumer): void {
    const group = this.groups.get(subject) ?? new Map<string, Consumer>();
    if (!group.has(durable)) group.set(durable, consumer);
    this.groups.set(subject, group);
  }

  /** Runs a group's handler until it succeeds, backing off between attempts; rejects on close. */
  private async deliver(subject: string, handle: (info: DeliveryInfo) => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) await this.pause(Math.min(MAX_RETRY_DELAY_MS, 100 * 2 ** (attempt - 2)));
      if (this.closed) throw this.closedError;
      try {
        await Promise.race([handle({ attempt }), this.closing]);
        return;
      } catch (error) {
        if (error === this.closedError) throw error;
        this.reportError(error, { subject });
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
