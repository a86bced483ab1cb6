import type { BroadcastContract, DomainEvent, EventContract, RpcContract } from '@berth/contracts';

/** Context a handler receives along with the request or event. */
export interface DeliveryInfo {
  /** How many times this event has been delivered (1 on the first try). */
  readonly attempt: number;
}

/** An event with its contract, as a batch carries it. */
export interface BusEvent {
  readonly contract: EventContract<DomainEvent>;
  readonly payload: DomainEvent;
}

/** Options of a durable subscription. */
export interface SubscribeOptions {
  /** The consumer's durable name: instances with the same name share the work. */
  readonly durable: string;
  /** How long the handler may take before the event is redelivered. */
  readonly ackWaitMs?: number;
}

/**
 * The one interface through which services talk: request/reply (load-balanced among instances of
 * the serving service), durable events (at-least-once, acknowledged after the handler succeeds)
 * and broadcasts (to every instance, best effort). Two implementations: NATS/JetStream for the
 * distributed shape and in-process for the all-in-one. Bytes of blobs never travel here.
 *
 * Errors a handler throws as `OciError` reach the requester as `OciError` with the same code;
 * any other error reaches it as `UNKNOWN`, with the detail kept in the serving process's log.
 */
export abstract class Bus {
  /** Sends a request and waits for the reply. */
  abstract request<Req, Res>(contract: RpcContract<Req, Res>, payload: Req): Promise<Res>;

  /** Serves a request subject. */
  abstract handle<Req, Res>(
    contract: RpcContract<Req, Res>,
    handler: (payload: Req) => Promise<Res>,
  ): Promise<void>;

  /** Publishes an event and resolves once the bus has durably accepted it. */
  abstract publish<P extends DomainEvent>(contract: EventContract<P>, payload: P): Promise<void>;

  /**
   * Publishes events in order and resolves once the bus has durably accepted every one; a
   * subscriber of {@link Bus.subscribeBatch} may be handed them at once. If it rejects, the events
   * before the one that failed may have been accepted: publishing them again is safe (consumers
   * are idempotent by event id, and the stream de-duplicates by it). By default, one at a time.
   */
  async publishAll(events: readonly BusEvent[]): Promise<void> {
    for (const { contract, payload } of events) await this.publish(contract, payload);
  }

  /** Consumes an event durably: it is acknowledged only when `handler` resolves. */
  abstract subscribe<P extends DomainEvent>(
    contract: EventContract<P>,
    options: SubscribeOptions,
    handler: (payload: P, info: DeliveryInfo) => Promise<void>,
  ): Promise<void>;

  /**
   * Consumes the events of several contracts durably, in order per contract, handing `handler`
   * as many at once as the bus has at hand: the in-process bus hands over what one
   * {@link Bus.publishAll} published, so that a consumer stores them in one statement; over NATS,
   * those that arrive within a few milliseconds of each other, or while the last batch was handled.
   * They are acknowledged only when `handler` resolves, and handed again, all of them, if it
   * rejects. By default, one at a time. `info.attempt` is the batch's.
   */
  async subscribeBatch(
    contracts: readonly EventContract<DomainEvent>[],
    options: SubscribeOptions,
    handler: (events: readonly BusEvent[], info: DeliveryInfo) => Promise<void>,
  ): Promise<void> {
    for (const contract of contracts) {
      await this.subscribe(contract, options, (payload, info) => handler([{ contract, payload }], info));
    }
  }

  /** Sends a notice to every instance that listens. */
  abstract broadcast<P>(contract: BroadcastContract<P>, payload: P): Promise<void>;

  /** Listens for notices. */
  abstract onBroadcast<P>(contract: BroadcastContract<P>, handler: (payload: P) => void): Promise<void>;

  /** Drains and closes; pending requests fail. */
  abstract close(): Promise<void>;
}
