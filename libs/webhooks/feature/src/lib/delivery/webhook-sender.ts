import { lookup as dnsLookup } from 'node:dns/promises';
import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import { createSecureContext, rootCertificates, type ConnectionOptions, type SecureContext } from 'node:tls';
import { parseCidr } from '@berth/naming';
import {
  checkTargetAddress,
  checkTargetUrl,
  type AttemptOutcome,
  type TargetPolicy,
  type TargetRefusal,
} from '@berth/webhooks-core';

/** The `user-agent` of every delivery; fixed, so receivers can recognize Berth. */
export const WEBHOOK_USER_AGENT = 'Berth-Webhooks/1';

/** The default overall deadline of one delivery attempt: 10 seconds. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;

/** The default number of response body bytes read before the connection is cut: 64 KiB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** Idle kept-alive connections per host and port, at most. */
const MAX_IDLE_CONNECTIONS = 4;

/**
 * How long a kept-alive connection may stay idle before it is closed: under the 5 s that Node's
 * and most servers' keep-alive timeouts give, so that it is usually closed here first.
 */
const IDLE_TIMEOUT_MS = 4_000;

/** How much of the response body is kept for the delivery log: the first 1 KiB. */
export const RESPONSE_SNIPPET_BYTES = 1024;

/** One address a host name resolved to. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/**
 * Resolves a host name to every address it has, in the resolver's order. The sender checks each
 * one before it connects, and never resolves the name again for that attempt.
 */
export type HostLookup = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** How a {@link WebhookSender} reaches targets. */
export interface WebhookSenderOptions {
  /**
   * CIDRs an administrator allows although webhooks-core refuses them by default (loopback,
   * link-local, metadata, ...). Validated here: a malformed CIDR throws `CidrError`.
   */
  readonly allowedCidrs: readonly string[];
  /**
   * The one deadline of an attempt, covering DNS, connecting, TLS, sending and reading the
   * response (default {@link DEFAULT_WEBHOOK_TIMEOUT_MS}).
   */
  readonly timeoutMs?: number;
  /** Response body bytes read before the socket is destroyed (default {@link DEFAULT_MAX_RESPONSE_BYTES}). */
  readonly maxResponseBytes?: number;
  /** Resolves host names (default `dns.promises.lookup(host, { all: true, verbatim: true })`); tests inject one. */
  readonly lookup?: HostLookup;
  /**
   * PEM certificates trusted for https targets in addition to Node's bundled roots, for
   * receivers behind a private CA (and for tests). When empty, Node's default trust applies,
   * `NODE_EXTRA_CA_CERTS` included.
   */
  readonly extraCaCertificates?: readonly string[];
}

/** One delivery attempt: the target, the headers (signature and `content-type` among them) and the body. */
export interface WebhookRequest {
  readonly url: string;
  /**
   * Sent as given, names in the given case. The sender owns `host`, `content-length` and
   * `user-agent` and overrides any value given for them. The caller validates the rest: the API
   * must refuse hop-by-hop and framing headers (`connection`, `transfer-encoding`, ...) in a
   * subscription's custom headers.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** The rendered payload; sent as UTF-8, byte for byte. */
  readonly body: string;
}

/**
 * The receiver answered. The outcome is its status: a body that is cut off (too long, or not
 * finished by the deadline) still leaves a `response`.
 */
export interface SendResponse {
  readonly kind: 'response';
  readonly status: number;
  /** The `Retry-After` header as sent, or null. */
  readonly retryAfter: string | null;
  /** Milliseconds from the start of the attempt (DNS included) to the response headers. */
  readonly latencyMs: number;
  /**
   * The start of the body for the delivery log: at most the first {@link RESPONSE_SNIPPET_BYTES}
   * bytes decoded as UTF-8, a character cut in half dropped, invalid bytes and NUL replaced by
   * U+FFFD (PostgreSQL text holds no NUL).
   */
  readonly responseSnippet: string;
}

/** No response headers arrived within the deadline; the socket was destroyed. */
export interface SendTimeout {
  readonly kind: 'timeout';
  readonly latencyMs: number;
}

/** DNS, connecting, TLS or the exchange failed before a response arrived. */
export interface SendNetworkError {
  readonly kind: 'network-error';
  /** A short description for the delivery log, such as `connection refused (ECONNREFUSED)`. */
  readonly message: string;
  readonly latencyMs: number;
}

/**
 * The target is refused by the target policy: its URL, or an address its name resolved to. No
 * connection was made. Callers treat this as a permanent failure of the attempt, not as a
 * retryable one: mark the delivery failed with `message` as its error, rather than feeding it to
 * `classifyAttempt` (which would retry it for the whole window). {@link toAttemptOutcome} does
 * not accept it, so the compiler makes callers decide.
 */
export interface SendRefused {
  readonly kind: 'refused';
  readonly reason: TargetRefusal;
  readonly message: string;
}

/** What became of one delivery attempt. */
export type SendResult = SendResponse | SendTimeout | SendNetworkError | SendRefused;

/** A result in which a request was attempted: everything but {@link SendRefused}. */
export type AttemptedSend = Exclude<SendResult, SendRefused>;

/** The input of webhooks-core's `classifyAttempt` for an attempted send. */
export function toAttemptOutcome(result: AttemptedSend): AttemptOutcome {
  switch (result.kind) {
    case 'response':
      return { kind: 'response', status: result.status, retryAfter: result.retryAfter };
    case 'timeout':
      return { kind: 'timeout' };
    case 'network-error':
      return { kind: 'network-error', message: result.message };
  }
}

/**
 * Makes the HTTP request of a webhook delivery, and is the only code that does. For each send:
 *
 * 1. `checkTargetUrl` (http or https, no credentials, an IP literal host checked as an address);
 * 2. resolve the host name once and `checkTargetAddress` every address; one refused address
 *    refuses the target, since an answer that mixes public and metadata addresses is an attack;
 * 3. connect only to the checked addresses: the request's `lookup` answers from them instead of
 *    resolving again, so a DNS answer that changes after the check (rebinding) is never used.
 *    `Host`, TLS SNI and the certificate check use the URL's host name;
 * 4. POST, never follow redirects (a 3xx is an answer like any other), read at most
 *    `maxResponseBytes` of the body and destroy the socket beyond that;
 * 5. one deadline for all of it; at the deadline the socket is destroyed.
 *
 * Connections are kept alive between attempts to the same host and port, so that a busy
 * subscription does not pay a TCP (and TLS) handshake per delivery, nor its receiver an accept.
 * Pinning still holds: a pooled connection was opened to an address that passed the check, under
 * the same policy, and every attempt resolves and checks its host before it may use one. A capped
 * or timed-out response destroys its socket, which is then never reused. A kept connection that
 * the receiver closed while it was idle fails the next request before any answer; that request is
 * sent once more on a fresh connection within the same deadline, so that a receiver's idle timeout
 * never shows up as a failed attempt (the receiver may see the delivery twice, under one
 * `webhook-id`, as at-least-once allows).
 *
 * When several addresses pass the check they are all offered to Node's connect, which tries them
 * in order (with its happy-eyeballs fallback between IPv6 and IPv4); none other is ever reached.
 */
export class WebhookSender {
  private readonly policy: TargetPolicy;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly lookup: HostLookup;
  private readonly secureContext: SecureContext | undefined;
  /** Kept-alive connections, per host and port (see the class comment). */
  private readonly agents = {
    http: new HttpAgent({ keepAlive: true, maxFreeSockets: MAX_IDLE_CONNECTIONS, timeout: IDLE_TIMEOUT_MS }),
    https: new HttpsAgent({
      keepAlive: true,
      maxFreeSockets: MAX_IDLE_CONNECTIONS,
      timeout: IDLE_TIMEOUT_MS,
    }),
  };

  /** Throws `CidrError` for a malformed allowed CIDR and `RangeError` for a bad limit. */
  constructor(options: WebhookSenderOptions) {
    for (const cidr of options.allowedCidrs) parseCidr(cidr);
    this.policy = { allowedCidrs: [...options.allowedCidrs] };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs <= 0) {
      throw new RangeError('timeoutMs must be a positive whole number of milliseconds');
    }
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    if (!Number.isInteger(this.maxResponseBytes) || this.maxResponseBytes < 0) {
      throw new RangeError('maxResponseBytes must be a whole number of bytes');
    }
    this.lookup = options.lookup ?? lookupAll;
    const extraCas = options.extraCaCertificates ?? [];
    this.secureContext =
      extraCas.length > 0 ? createSecureContext({ ca: [...rootCertificates, ...extraCas] }) : undefined;
  }

  /** Sends one delivery attempt. Never rejects: every failure is a {@link SendResult}. */
  async send(request: WebhookRequest): Promise<SendResult> {
    const checked = checkTargetUrl(request.url, this.policy);
    if (!checked.ok) return { kind: 'refused', reason: checked.reason, message: checked.message };
    const { url } = checked;

    const startedAt = performance.now();
    const elapsed = (): number => Math.round(performance.now() - startedAt);
    const deadline = new Deadline(this.timeoutMs);
    try {
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      const resolved = await Promise.race([
        this.resolve(host, elapsed),
        new Promise<typeof EXPIRED>((resolve) => {
          deadline.onExpiry(() => {
            resolve(EXPIRED);
          });
        }),
      ]);
      if (resolved === EXPIRED) return { kind: 'timeout', latencyMs: elapsed() };
      if (resolved.kind !== 'resolved') return resolved;
      return await this.exchange(url, host, resolved.addresses, request, deadline, elapsed, 'pooled');
    } finally {
      deadline.clear();
    }
  }

  /** Closes the kept-alive connections; sends after this open new ones. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** Every address of `host`, each one checked, or why not. Never rejects. */
  private async resolve(
    host: string,
    elapsed: () => number,
  ): Promise<
    | { readonly kind: 'resolved'; readonly addresses: readonly ResolvedAddress[] }
    | SendRefused
    | SendNetworkError
  > {
    let addresses: readonly ResolvedAddress[];
    if (isIP(host) !== 0) {
      addresses = [{ address: host, family: isIP(host) === 6 ? 6 : 4 }];
    } else {
      try {
        addresses = await this.lookup(host);
      } catch (error) {
        return {
          kind: 'network-error',
          message: `DNS lookup failed: ${describeError(error)}`,
          latencyMs: elapsed(),
        };
      }
      if (addresses.length === 0) {
        return {
          kind: 'network-error',
          message: `DNS lookup found no address for ${host}`,
          latencyMs: elapsed(),
        };
      }
    }
    for (const { address } of addresses) {
      const verdict = checkTargetAddress(address, this.policy);
      if (!verdict.ok) {
        return {
          kind: 'refused',
          reason: verdict.reason,
          message: `${host} resolves to a refused address: ${verdict.message}`,
        };
      }
    }
    return { kind: 'resolved', addresses };
  }

  /**
   * The HTTP exchange itself, over a kept-alive connection (`pooled`) or a new one (`fresh`) to
   * one of the checked `addresses`.
   */
  private exchange(
    url: URL,
    host: string,
    addresses: readonly ResolvedAddress[],
    request: WebhookRequest,
    deadline: Deadline,
    elapsed: () => number,
    connection: 'pooled' | 'fresh',
  ): Promise<SendResult> {
    if (deadline.expired) return Promise.resolve({ kind: 'timeout', latencyMs: elapsed() });
    const body = Buffer.from(request.body, 'utf8');
    const secure = url.protocol === 'https:';
    // https passes `secureContext` on to tls.connect; its RequestOptions type omits it.
    const options: RequestOptions & Pick<ConnectionOptions, 'secureContext'> = {
      method: 'POST',
      host,
      port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: outgoingHeaders(url, request.headers, body.length),
      agent: connection === 'fresh' ? false : secure ? this.agents.https : this.agents.http,
      lookup: pinnedLookup(addresses),
    };
    if (secure) {
      options.rejectUnauthorized = true;
      // SNI and the certificate check name the URL's host. An IP literal gets no SNI (RFC 6066
      // forbids it) and its certificate is checked against the IP, Node's default.
      if (isIP(host) === 0) options.servername = host.replace(/\.$/, '');
      if (this.secureContext !== undefined) options.secureContext = this.secureContext;
    }

    let req: ClientRequest;
    try {
      req = (secure ? httpsRequest : httpRequest)(options);
    } catch (error) {
      // Node validates header names and values synchronously (no CR or LF, for one).
      return Promise.resolve({ kind: 'network-error', message: describeError(error), latencyMs: elapsed() });
    }

    return new Promise<SendResult>((resolve) => {
      let settled = false;
      let answered: { status: number; retryAfter: string | null; latencyMs: number } | null = null;
      const snippet = new SnippetBuffer(Math.min(RESPONSE_SNIPPET_BYTES, this.maxResponseBytes));
      let bodyBytes = 0;

      const settle = (result: SendResult): void => {
        if (settled) return;
        settled = true;
        deadline.off(onDeadline);
        resolve(result);
      };
      const settleAnswered = (): void => {
        if (answered !== null) settle({ kind: 'response', ...answered, responseSnippet: snippet.text() });
      };
      const onDeadline = (): void => {
        req.destroy();
        if (answered !== null) settleAnswered();
        else settle({ kind: 'timeout', latencyMs: elapsed() });
      };
      deadline.onExpiry(onDeadline);

      req.on('response', (res: IncomingMessage) => {
        answered = {
          status: res.statusCode ?? 0,
          retryAfter: res.headers['retry-after'] ?? null,
          latencyMs: elapsed(),
        };
        res.on('data', (chunk: Buffer) => {
          snippet.add(chunk);
          bodyBytes += chunk.length;
          if (bodyBytes >= this.maxResponseBytes) {
            // Enough read: a receiver streaming gigabytes costs us no more than this.
            req.destroy();
            settleAnswered();
          }
        });
        res.on('end', settleAnswered);
        // A body cut off by the receiver or by us still leaves the status: the receiver answered.
        res.on('error', settleAnswered);
        res.on('close', settleAnswered);
      });
      req.on('error', (error) => {
        if (answered !== null) settleAnswered();
        else if (connection === 'pooled' && req.reusedSocket && errorCode(error) === 'ECONNRESET') {
          // The receiver closed the kept connection while it was idle: not an answer, send again.
          if (settled) return;
          settled = true;
          deadline.off(onDeadline);
          resolve(this.exchange(url, host, addresses, request, deadline, elapsed, 'fresh'));
        } else settle({ kind: 'network-error', message: describeError(error), latencyMs: elapsed() });
      });
      req.end(body);
    });
  }
}

/** The default {@link HostLookup}: the system resolver, every address, in its order. */
async function lookupAll(hostname: string): Promise<readonly ResolvedAddress[]> {
  const answers = await dnsLookup(hostname, { all: true, verbatim: true });
  return answers.map(({ address }) => ({ address, family: isIP(address) === 6 ? 6 : 4 }));
}

/**
 * A `lookup` for `net.connect` that answers only with the checked addresses and never asks DNS.
 * Node calls it with `all: true` when it tries several addresses (happy eyeballs).
 */
function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    const usable = family === 0 ? addresses : addresses.filter((candidate) => candidate.family === family);
    const first = usable[0];
    if (first === undefined) {
      const error: NodeJS.ErrnoException = new Error(`no checked IPv${family} address for ${hostname}`);
      error.code = 'ENOTFOUND';
      callback(error, '', 0);
    } else if (options.all === true) {
      callback(
        null,
        usable.map(({ address, family: addressFamily }) => ({ address, family: addressFamily })),
      );
    } else {
      callback(null, first.address, first.family);
    }
  };
}

/** Header names the sender sets itself, whatever the caller passes. */
const OWNED_HEADERS = new Set(['host', 'content-length', 'user-agent']);

function outgoingHeaders(
  url: URL,
  custom: Readonly<Record<string, string>>,
  contentLength: number,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    // The URL's host (and port, when not the default), not the address connected to.
    host: url.host,
    'user-agent': WEBHOOK_USER_AGENT,
    'content-length': String(contentLength),
  };
  for (const [name, value] of Object.entries(custom)) {
    if (!OWNED_HEADERS.has(name.toLowerCase())) headers[name] = value;
  }
  return headers;
}

const EXPIRED = Symbol('expired');

/**
 * The one deadline of an attempt: a timer, and the one thing to do when it passes (the step of
 * the attempt under way). Lighter than an AbortController and its event target, which every
 * attempt paid for.
 */
class Deadline {
  private passed = false;
  private listener: (() => void) | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(ms: number) {
    this.timer = setTimeout(() => {
      this.passed = true;
      const listener = this.listener;
      this.listener = null;
      listener?.();
    }, ms);
  }

  get expired(): boolean {
    return this.passed;
  }

  /** Calls `listener` when the deadline passes (at once if it has), instead of the one before. */
  onExpiry(listener: () => void): void {
    if (this.passed) listener();
    else this.listener = listener;
  }

  /** Forgets `listener`, unless another took its place. */
  off(listener: () => void): void {
    if (this.listener === listener) this.listener = null;
  }

  /** Stops the timer: the attempt is over. */
  clear(): void {
    clearTimeout(this.timer);
    this.listener = null;
  }
}

/** Keeps the first `limit` bytes of a body, copied so the stream's larger chunks can be freed. */
class SnippetBuffer {
  private readonly chunks: Buffer[] = [];
  private length = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    if (this.length >= this.limit) return;
    const part = Buffer.from(chunk.subarray(0, this.limit - this.length));
    this.chunks.push(part);
    this.length += part.length;
  }

  text(): string {
    // StringDecoder holds back a trailing, incomplete character instead of mangling it.
    return new StringDecoder('utf8').write(Buffer.concat(this.chunks)).replace(/\0/g, '\uFFFD');
  }
}

/** Short, stable descriptions of the usual failures, by error code. */
const DESCRIPTIONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset or closed before a response',
  EPIPE: 'connection closed while sending',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'temporary DNS failure',
};

/** The longest error message kept for the delivery log. */
const MAX_MESSAGE_LENGTH = 200;

/** A short message for the delivery log: what failed and Node's or OpenSSL's error code. */
function describeError(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  let text: string;
  if (code !== undefined && code in DESCRIPTIONS) text = `${DESCRIPTIONS[code] ?? code} (${code})`;
  else if (code?.startsWith('HPE_')) text = `invalid HTTP response: ${message} (${code})`;
  else if (code !== undefined && /CERT|SSL|TLS|EPROTO/.test(code)) text = `TLS error: ${message} (${code})`;
  else text = code === undefined ? message : `${message} (${code})`;
  return text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : text;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
