import { createHash } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

/** What the client does with a successful (2xx) response body. */
export type BodyMode = 'discard' | 'buffer' | 'sha256';

/** One HTTP/1.1 request. */
export interface HttpRequest {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** An absolute `http:` URL. */
  readonly url: URL;
  readonly headers?: OutgoingHttpHeaders;
  /**
   * A buffer (its length is sent as Content-Length) or a stream (the caller sets Content-Length,
   * because registries reject chunked transfer encoding on blob uploads inconsistently).
   */
  readonly body?: Buffer | Readable;
  /** Defaults to `discard`. */
  readonly read?: BodyMode;
}

/** A response whose body has been fully consumed. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /**
   * The body for `buffer` mode, and for every non-2xx response (capped at
   * {@link ERROR_BODY_LIMIT} bytes) so failures can be explained; otherwise empty.
   */
  readonly body: Buffer;
  /** `sha256:<hex>` of the body in `sha256` mode for a 2xx response; otherwise null. */
  readonly digest: string | null;
  /** Bytes received in the body. */
  readonly bytes: number;
}

const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * A minimal HTTP/1.1 client on `node:http` with one keep-alive agent. The bench uses it for both
 * registries so client overhead is identical; `node:http` costs less CPU per request than the
 * WHATWG-stream based global `fetch`, which matters when client and server share two cores.
 */
export class HttpClient {
  private readonly agent: Agent;

  /**
   * `maxSockets` should be at least the highest concurrency the caller will use. A request whose
   * connection carries no bytes in either direction for `idleTimeoutMs` fails, so a registry that
   * hangs ends the bench with an error instead of stalling it; a slow but moving transfer is fine.
   */
  constructor(
    maxSockets: number,
    private readonly idleTimeoutMs: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  /**
   * Sends a request and consumes the response body according to `read`. A request whose body can
   * be sent again (none, or a buffer) is retried once when it failed on a kept-alive connection
   * the server had just closed; that race is the client's, not the registry's, and must not end
   * the bench. Streamed uploads are never retried.
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    try {
      return await this.attempt(req);
    } catch (error) {
      if (!(error instanceof StaleConnectionError)) throw error;
      if (req.body !== undefined && !Buffer.isBuffer(req.body)) throw error.cause;
      return this.attempt(req);
    }
  }

  private async attempt(req: HttpRequest): Promise<HttpResponse> {
    const headers: OutgoingHttpHeaders = { ...req.headers };
    if (Buffer.isBuffer(req.body)) headers['content-length'] = req.body.length;
    else if (
      req.body === undefined &&
      (req.method === 'PUT' || req.method === 'POST' || req.method === 'PATCH')
    ) {
      headers['content-length'] = 0;
    }
    const outgoing = httpRequest(req.url, { method: req.method, headers, agent: this.agent });
    outgoing.setTimeout(this.idleTimeoutMs, () => {
      outgoing.destroy(new Error(`connection idle for ${this.idleTimeoutMs / 1000} s, no response`));
    });
    const responded = new Promise<HttpResponse>((resolve, reject) => {
      outgoing.once('error', (error: NodeJS.ErrnoException) => {
        const stale = outgoing.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
        reject(stale ? new StaleConnectionError(error) : error);
      });
      outgoing.once('response', (res) => {
        const status = res.statusCode ?? 0;
        const success = status >= 200 && status < 300;
        const mode: BodyMode = success ? (req.read ?? 'discard') : 'buffer';
        const hash = mode === 'sha256' ? createHash('sha256') : null;
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          if (hash) hash.update(chunk);
          else if (mode === 'buffer' && (success || bytes < ERROR_BODY_LIMIT)) chunks.push(chunk);
          bytes += chunk.length;
        });
        res.once('error', reject);
        res.once('end', () => {
          resolve({
            status,
            headers: res.headers,
            body: Buffer.concat(chunks),
            digest: hash ? `sha256:${hash.digest('hex')}` : null,
            bytes,
          });
        });
      });
    });
    if (req.body === undefined || Buffer.isBuffer(req.body)) {
      outgoing.end(req.body);
      return responded;
    }
    // A server may answer (e.g. with an error) before it has read the whole upload; the response
    // then wins and the aborted upload stream's error is secondary.
    const sent = pipeline(req.body, outgoing);
    const [response] = await Promise.all([responded, sent.catch(() => undefined)]);
    return response;
  }

  /** Closes idle keep-alive connections so the process can exit. */
  close(): void {
    this.agent.destroy();
  }
}

/** A request failed because the server closed the kept-alive connection it was sent on. */
class StaleConnectionError extends Error {
  override readonly name = 'StaleConnectionError';
  constructor(override readonly cause: Error) {
    super(`kept-alive connection closed by the server: ${cause.message}`);
  }
}
