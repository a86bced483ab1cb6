import type { IncomingMessage } from 'node:http';

/**
 * How much of a refused body is read and dropped so that the connection stays usable: enough for
 * a manifest a little over its 4 MiB limit or a JSON body past its 1 MiB, little enough that a
 * client pushing a large blob at a refusal costs the server next to nothing.
 */
export const REFUSED_BODY_DRAIN_BYTES = 16 * 1024 * 1024;

/** How long a connection lingers, half-closed, for a client still sending a refused body. */
export const REFUSED_BODY_LINGER_MS = 10_000;

/**
 * Lets a client whose body was refused before it was read (a 413, a 416, a 401 on a PATCH) read
 * the answer instead of a reset. Call it once the answer is sent. What the client still sends is
 * read and dropped: up to `drainBytes` the connection then stays open for its next request; past
 * that the server half-closes it (the client reads the answer and an end of stream) and keeps
 * dropping what arrives for up to `lingerMs` before it closes the socket, as nginx's lingering
 * close does. Destroying the socket instead, while the client still writes, makes the client's
 * kernel discard the answer it had not read yet: the client sees EPIPE or ECONNRESET and no status.
 */
export function discardRefusedBody(
  request: IncomingMessage,
  drainBytes: number = REFUSED_BODY_DRAIN_BYTES,
  lingerMs: number = REFUSED_BODY_LINGER_MS,
): void {
  if (request.complete || request.destroyed) return;
  const socket = request.socket;
  let dropped = 0;
  let timer: NodeJS.Timeout | undefined;
  const onData = (chunk: Buffer): void => {
    dropped += chunk.length;
    if (dropped <= drainBytes || timer !== undefined) return;
    socket.end();
    timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
  };
  request.on('data', onData);
  request.once('close', () => {
    clearTimeout(timer);
    request.off('data', onData);
  });
  request.resume();
}

/**
 * Reads a request body of at most `limit` bytes into memory; null, once more has arrived, without
 * reading further or destroying anything, so that the caller answers and then lets
 * {@link discardRefusedBody} deal with the rest. (Leaving a `for await` loop over the request
 * early would destroy it, and with it the socket.) Rejects if the client goes away mid-body.
 */
export function readBodyWithin(request: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      settle();
      request.pause();
      resolve(null);
    };
    const onEnd = (): void => {
      settle();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      settle();
      reject(error);
    };
    const onClose = (): void => {
      settle();
      if (!request.complete) reject(new Error('client disconnected before the body was complete'));
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('close', onClose);
  });
}
