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
 * the handler succeeds. Events live in memory only: an event published while the process dies is
 * lost, which the all-in-one accepts until the database-backed event log (issue 4) replaces it.
 */
export class InProcessBus extends Bus {
  private readonly handlers = new Map<string, Handler>();
  private readonly groups = new Map<string, Map<string, EventHandler>>();
  private readonly listeners = new Map<string, ((payload: unknown) => void)[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly reportError: BusErrorReporter = () => undefined) {
    super();
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
    for (const handler of this.groups.get(contract.subject)?.values() ?? [])
      this.deliver(contract, handler, payload, 1);
    return Promise.resolve();
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
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    return Promise.resolve();
  }

  private deliver(
    contract: EventContract<DomainEvent>,
    handler: EventHandler,
    payload: DomainEvent,
    attempt: number,
  ): void {
    const delay = attempt === 1 ? 0 : Math.min(MAX_RETRY_DELAY_MS, 100 * 2 ** (attempt - 2));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed) return;
      handler(payload, { attempt }).catch((error: unknown) => {
        this.reportError(error, { subject: contract.subject });
        this.deliver(contract, handler, payload, attempt + 1);
      });
    }, delay);
    this.timers.add(timer);
  }
}
