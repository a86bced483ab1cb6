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
  type NatsConnection,
  type Subscription,
} from 'nats';
import { Bus, type DeliveryInfo, type SubscribeOptions } from './bus';
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
    void (async () => {
      for await (const msg of messages) {
        try {
          const parsed = contract.payload.safeParse(JSON.parse(decoder.decode(msg.data)));
          // A payload that can never be handled is terminated rather than redelivered forever.
          if (!parsed.success) {
            this.report(parsed.error, contract.subject);
            msg.term();
            continue;
          }
          await handler(parsed.data, { attempt: msg.info.deliveryCount });
          msg.ack();
        } catch (error) {
          this.report(error, contract.subject);
          msg.nak(Math.min(30_000, 500 * 2 ** Math.min(msg.info.deliveryCount, 6)));
        }
      }
    })();
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

  private report(error: unknown, subject: string): void {
    this.options.reportError?.(error, { subject });
  }
}
