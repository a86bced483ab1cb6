import type { BroadcastContract, DomainEvent, EventContract, RpcContract } from '@berth/contracts';

/** Context a handler receives along with the request or event. */
export interface DeliveryInfo {
  /** How many times this event has been delivered (1 on the first try). */
  readonly attempt: number;
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

  /** Consumes an event durably: it is acknowledged only when `handler` resolves. */
  abstract subscribe<P extends DomainEvent>(
    contract: EventContract<P>,
    options: SubscribeOptions,
    handler: (payload: P, info: DeliveryInfo) => Promise<void>,
  ): Promise<void>;

  /** Sends a notice to every instance that listens. */
  abstract broadcast<P>(contract: BroadcastContract<P>, payload: P): Promise<void>;

  /** Listens for notices. */
  abstract onBroadcast<P>(contract: BroadcastContract<P>, handler: (payload: P) => void): Promise<void>;

  /** Drains and closes; pending requests fail. */
  abstract close(): Promise<void>;
}
