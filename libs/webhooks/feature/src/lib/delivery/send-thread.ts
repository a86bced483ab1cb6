import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BatchSending, OutgoingBatch, RetryOptions, SentBatch } from './batch-sender';
import type { WebhookSenderOptions } from './webhook-sender';

/** What the send thread is started with: everything but a `lookup`, which cannot cross threads. */
export interface SendThreadOptions {
  readonly sender: Omit<WebhookSenderOptions, 'lookup'>;
  readonly retry: RetryOptions;
}

/** A batch for the send thread, numbered so that its answer finds its caller. */
export interface ToSendThread {
  readonly seq: number;
  readonly batch: OutgoingBatch;
}

/** The send thread's answer: the sent batch, or why sending it broke. */
export type FromSendThread =
  { readonly seq: number; readonly sent: SentBatch } | { readonly seq: number; readonly error: string };

/**
 * The send thread's heap limits. A batch holds at most a few dozen payloads of a few KiB and as
 * many response snippets of 1 KiB, so its heap stays small; the limits keep it so.
 */
const RESOURCE_LIMITS = { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 };

/**
 * Sends batches on a worker thread of its own. Signing, the HTTP exchanges (sockets, TLS,
 * parsing) and classifying then cost the thread that routes and claims nothing but passing the
 * batch and its answer: in the all-in-one, that thread also serves pushes and runs the embedded
 * database, and the machine's other cores are otherwise idle. The thread starts with the first
 * batch. If it dies, the batches it held reject (their subscriptions stay leased, and are sent
 * again under the same ids once the lease runs out) and the next batch starts a new one.
 */
export class ThreadedBatchSender implements BatchSending {
  private worker: Worker | null = null;
  private readonly waiting = new Map<
    number,
    { readonly resolve: (sent: SentBatch) => void; readonly reject: (error: Error) => void }
  >();
  private seq = 0;

  constructor(private readonly options: SendThreadOptions) {}

  send(batch: OutgoingBatch): Promise<SentBatch> {
    const worker = this.worker ?? this.start();
    const seq = ++this.seq;
    return new Promise<SentBatch>((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      worker.postMessage({ seq, batch } satisfies ToSendThread);
    });
  }

  /** Stops the thread, closing its connections; a batch still in it rejects. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker !== null) await worker.terminate();
    this.fail(new Error('the webhook send thread was closed'));
  }

  private start(): Worker {
    const { filename, execArgv } = workerEntry();
    const worker = new Worker(filename, {
      workerData: this.options,
      resourceLimits: RESOURCE_LIMITS,
      ...(execArgv === undefined ? {} : { execArgv }),
    });
    // Its sends keep the process alive through the pending promises' owners, not by themselves.
    worker.unref();
    worker.on('message', (message: FromSendThread) => {
      const caller = this.waiting.get(message.seq);
      if (caller === undefined) return;
      this.waiting.delete(message.seq);
      if ('sent' in message) caller.resolve(message.sent);
      else caller.reject(new Error(message.error));
    });
    const died = (error: Error): void => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.fail(error);
    };
    worker.on('error', died);
    worker.on('exit', (code) => {
      died(new Error(`the webhook send thread exited with code ${code}`));
    });
    this.worker = worker;
    return worker;
  }

  private fail(error: Error): void {
    const callers = [...this.waiting.values()];
    this.waiting.clear();
    for (const caller of callers) caller.reject(error);
  }
}

/**
 * The worker's file beside this one: compiled JavaScript as `npm start` runs, or TypeScript when
 * this module itself runs from source (the tests), through the same SWC hook as the bench.
 */
function workerEntry(): { filename: string; execArgv?: string[] } {
  if (!__filename.endsWith('.ts')) return { filename: join(__dirname, 'send-worker.js') };
  return {
    filename: join(__dirname, 'send-worker.ts'),
    execArgv: [...process.execArgv, '--require', '@swc-node/register'],
  };
}
