// The entry of the send thread (see ThreadedBatchSender): it sends the batches it is given with
// its own BatchSender, on its own event loop, and answers each with what became of it.
import { parentPort, workerData } from 'node:worker_threads';
import { BatchSender } from './batch-sender';
import type { SendThreadOptions, ToSendThread, FromSendThread } from './send-thread';
import { WebhookSender } from './webhook-sender';

const port = parentPort;
if (port === null) throw new Error('send-worker runs as a worker thread only');
const options = workerData as SendThreadOptions;
const sender = new BatchSender(new WebhookSender(options.sender), options.retry);

port.on('message', (message: ToSendThread) => {
  sender.send(message.batch).then(
    (sent) => {
      port.postMessage({ seq: message.seq, sent } satisfies FromSendThread);
    },
    (error: unknown) => {
      port.postMessage({
        seq: message.seq,
        error: error instanceof Error ? error.message : String(error),
      } satisfies FromSendThread);
    },
  );
});
