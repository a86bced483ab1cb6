import type { BroadcastContract, DomainEvent, EventContract, RpcContract } from '@berth/contracts';
import { ALL_EVENTS } from '@berth/contracts';
import { OciError } from '@berth/oci';
import {
  AckPolicy,
  DeliverPolicy,
  Events,
  RetentionPolicy,
  StorageType,
  connect,
  nanos,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
  type Subscription,
} from 'nats';
import { BatchGatherer } from './batch-gatherer';
import { Bus, type BusEvent, type DeliveryInfo, type SubscribeOptions } from './bus';
import type { BusErrorReporter } from './in-process.bus';
import { errorEnvelope, openEnvelope, type RpcEnvelope } from './rpc-envelope';

/** How to reach NATS. */
export interface NatsBusOptions {
  /** Server URLs, comma-separated. */
  readonly servers: string;
  /**
   * Prefix of every subject and of the stream's name, so that several Berth installations (or
   * test runs) can share one NATS. Empty for none.
   */
  readonly namespace: string;
  /** The connection's name, shown by the server's monitoring. */
  readonly name: string;
  /** How long events are kept on the stream. */
  readonly eventRetentionMs?: number;
  readonly reportError?: BusErrorReporter;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * How long a batch subscriber's first event waits for others: long enough for the events that
 * one commit published one after the other (each publish awaits the server's acknowledgement).
 */
const BATCH_WINDOW_MS = 3;

/** Events of one contract handed to a batch subscriber and not yet handled, at most. */
const BATCH_IN_FLIGHT = 32;

/** An event of a batch subscription, with the message that acknowledges it. */
interface Received {
  readonly contract: EventContract<DomainEvent>;
  readonly payload: DomainEvent;
  readonly msg: JsMsg;
}

/** How long a failed event waits before it is handed again: 1 s, doubling, at most 30 s. */
function redeliveryDelayMs(msg: JsMsg): number {
  return Math.min(30_000, 500 * 2 ** Math.min(msg.info.deliveryCount, 6));
}

/**
 * The distributed bus: core NATS request/reply (queue groups balance requests across instances),
 * a JetStream stream for durable events (published with the event id as de-duplication key,
 * consumed through durable pull consumers with explicit acks) and plain subjects for broadcasts.
 */
export class NatsBus extends Bus {
  private readonly subscriptions: Subscription[] = [];
  private readonly consumers: ConsumerMessages[] = [];
  /**
   * Whether the connection is up. A request sent while NATS is down is buffered by the client and
   * its answer lost, so it would hang for its whole timeout (30 s) even after NATS is back: while
   * disconnected, requests fail at once instead.
   */
  private connected = true;
  /**
   * Abandons each request waiting for its answer. When the connection drops, an answer on its way
   * is lost with it: those requests fail at once too, instead of at the end of their timeout.
   */
  private readonly waiting = new Set<() => void>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: NatsBusOptions,
  ) {
    super();
  }

  /** Connects and makes sure the event stream exists. A failure here fails the caller's boot. */
  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const nc = await connect({
      servers: options.servers.split(','),
      name: options.name,
      maxReconnectAttempts: -1,
    });
    try {
      const jsm = await nc.jetstreamManager();
      const bus = new NatsBus(nc, nc.jetstream(), jsm, options);
      await bus.ensureStream();
      void bus.watchConnection();
      return bus;
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  /** Follows the connection's state until it closes. */
  private async watchConnection(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === Events.Disconnect) {
        this.connected = false;
        for (const abandon of this.waiting) abandon();
        this.waiting.clear();
      } else if (status.type === Events.Reconnect) this.connected = true;
    }
  }

  /** The name of the JetStream stream that holds the events. */
  get streamName(): string {
    const prefix = this.options.namespace.replace(/[^A-Za-z0-9_-]/g, '_');
    return prefix === '' ? 'BERTH_EVENTS' : `${prefix}_BERTH_EVENTS`;
  }

  async request<Req, Res>(contract: RpcContract<Req, Res>, payload: Req): Promise<Res> {
    const disconnected = (): OciError =>
      new OciError('UNAVAILABLE', `service unavailable: ${contract.subject} (bus disconnected)`);
    if (!this.connected) throw disconnected();
    let abandon = (): void => undefined;
    const abandoned = new Promise<never>((_resolve, reject) => {
      abandon = () => {
        reject(disconnected());
      };
    });
    this.waiting.add(abandon);
    let reply;
    try {
      reply = await Promise.race([
        this.nc.request(this.subject(contract.subject), encoder.encode(JSON.stringify(payload)), {
          timeout: contract.timeoutMs,
        }),
        abandoned,
      ]);
    } catch (error) {
      if (error instanceof OciError) throw error;
      // No responder, or none answered in time: the service is unavailable, not broken (503).
      this.report(error, contract.subject);
      throw new OciError('UNAVAILABLE', `service unavailable: ${contract.subject}`);
    } finally {
      this.waiting.delete(abandon);
    }
    return openEnvelope(JSON.parse(decoder.decode(reply.data)) as RpcEnvelope<Res>);
  }

  handle<Req, Res>(contract: RpcContract<Req, Res>, handler: (payload: Req) => Promise<Res>): Promise<void> {
    const subscription = this.nc.subscribe(this.subject(contract.subject), {
      queue: 'berth',
      callback: (error, msg) => {
        if (error) {
          this.report(error, contract.subject);
          return;
        }
        void (async () => {
          let envelope: RpcEnvelope<Res>;
          try {
            const parsed = contract.request.safeParse(JSON.parse(decoder.decode(msg.data)));
            if (!parsed.success) throw new OciError('UNKNOWN', `malformed request on ${contract.subject}`);
            envelope = { ok: true, value: await handler(parsed.data) };
          } catch (caught) {
            if (!(caught instanceof OciError)) this.report(caught, contract.subject);
            envelope = errorEnvelope(caught);
          }
          msg.respond(encoder.encode(JSON.stringify(envelope)));
        })();
      },
    });
    this.subscriptions.push(subscription);
    return this.nc.flush();
  }

  async publish<P extends DomainEvent>(contract: EventContract<P>, payload: P): Promise<void> {
    await this.js.publish(this.subject(contract.subject), encoder.encode(JSON.stringify(payload)), {
      msgID: payload.id,
    });
  }

  async subscribe<P extends DomainEvent>(
    contract: EventContract<P>,
    options: SubscribeOptions,
    handler: (payload: P, info: DeliveryInfo) => Promise<void>,
  ): Promise<void> {
    const messages = await this.consume(contract, options);
    void (async () => {
      for await (const msg of messages) {
        const payload = this.parse(contract, msg);
        if (payload === null) continue;
        try {
          await handler(payload, { attempt: msg.info.deliveryCount });
          msg.ack();
        } catch (error) {
          this.report(error, contract.subject);
          msg.nak(redeliveryDelayMs(msg));
        }
      }
    })();
  }

  /**
   * Each contract has its durable consumer, as with {@link NatsBus.subscribe}; their messages meet
   * in one {@link BatchGatherer}, so that the events of a commit, published one after the other,
   * reach `handler` together, and a busy consumer gets as many at once as arrived while it
   * handled the last batch. A contract's events stay in order: a batch is handled only after the
   * one before it, and each consumer hands over at most {@link BATCH_IN_FLIGHT} events at a time.
   * A batch is acknowledged when `handler` resolves; if it rejects, each of its events is handed
   * again later.
   */
  override async subscribeBatch(
    contracts: readonly EventContract<DomainEvent>[],
    options: SubscribeOptions,
    handler: (events: readonly BusEvent[], info: DeliveryInfo) => Promise<void>,
  ): Promise<void> {
    const gatherer = new BatchGatherer<Received>(BATCH_WINDOW_MS, async (received) => {
      try {
        await handler(
          received.map(({ contract, payload }) => ({ contract, payload })),
          { attempt: Math.max(...received.map(({ msg }) => msg.info.deliveryCount)) },
        );
        for (const { msg } of received) msg.ack();
      } catch (error) {
        this.report(error, [...new Set(received.map(({ contract }) => contract.subject))].join(' '));
        for (const { msg } of received) msg.nak(redeliveryDelayMs(msg));
      }
    });
    for (const contract of contracts) {
      const messages = await this.consume(contract, options);
      void (async () => {
        const handedOver: Promise<void>[] = [];
        for await (const msg of messages) {
          const payload = this.parse(contract, msg);
          if (payload === null) continue;
          handedOver.push(gatherer.add({ contract, payload, msg }));
          if (handedOver.length >= BATCH_IN_FLIGHT) await handedOver.shift();
        }
      })();
    }
  }

  broadcast<P>(contract: BroadcastContract<P>, payload: P): Promise<void> {
    this.nc.publish(this.subject(contract.subject), encoder.encode(JSON.stringify(payload)));
    return Promise.resolve();
  }

  onBroadcast<P>(contract: BroadcastContract<P>, handler: (payload: P) => void): Promise<void> {
    const subscription = this.nc.subscribe(this.subject(contract.subject), {
      callback: (error, msg) => {
        if (error) return;
        const parsed = contract.payload.safeParse(JSON.parse(decoder.decode(msg.data)));
        if (parsed.success) handler(parsed.data);
      },
    });
    this.subscriptions.push(subscription);
    return this.nc.flush();
  }

  async close(): Promise<void> {
    for (const messages of this.consumers) await messages.close();
    if (!this.nc.isClosed()) await this.nc.drain();
  }

  private subject(subject: string): string {
    return this.options.namespace === '' ? subject : `${this.options.namespace}.${subject}`;
  }

  private async ensureStream(): Promise<void> {
    const config = {
      name: this.streamName,
      subjects: ALL_EVENTS.map((event) => this.subject(event.subject)),
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(this.options.eventRetentionMs ?? 7 * 24 * 3600_000),
      duplicate_window: nanos(120_000),
    };
    try {
      await this.jsm.streams.info(this.streamName);
      await this.jsm.streams.update(this.streamName, config);
    } catch {
      await this.jsm.streams.add(config);
    }
  }

  /** The durable pull consumer of `contract` for `options.durable`, created if missing. */
  private async consume(
    contract: EventContract<DomainEvent>,
    options: SubscribeOptions,
  ): Promise<ConsumerMessages> {
    const durable = `${options.durable}-${contract.subject.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    await this.jsm.consumers.add(this.streamName, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: this.subject(contract.subject),
      ack_wait: nanos(options.ackWaitMs ?? 30_000),
    });
    const consumer = await this.js.consumers.get(this.streamName, durable);
    const messages = await consumer.consume({ max_messages: 64 });
    this.consumers.push(messages);
    return messages;
  }

  /**
   * A message's event, or null for one that can never be handled (not JSON, or not the contract's
   * shape): it is reported and terminated rather than redelivered forever.
   */
  private parse<P extends DomainEvent>(contract: EventContract<P>, msg: JsMsg): P | null {
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(msg.data));
    } catch (error) {
      this.report(error, contract.subject);
      msg.term();
      return null;
    }
    const parsed = contract.payload.safeParse(json);
    if (parsed.success) return parsed.data;
    this.report(parsed.error, contract.subject);
    msg.term();
    return null;
  }

  private report(error: unknown, subject: string): void {
    this.options.reportError?.(error, { subject });
  }
}
