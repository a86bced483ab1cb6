import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CidrError } from '@berth/naming';
import { classifyAttempt } from '@berth/webhooks-core';
import {
  toAttemptOutcome,
  WebhookSender,
  type HostLookup,
  type SendResult,
  type WebhookSenderOptions,
} from './webhook-sender';

/** What a test receiver saw of one request. */
interface Received {
  readonly method: string;
  readonly path: string;
  readonly rawHeaders: readonly string[];
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  /** The TLS server name the client sent, for https receivers. */
  readonly servername: string | null;
}

type Handler = (req: IncomingMessage, res: ServerResponse, received: Received) => void;

/** A real receiver on 127.0.0.1 that records every request, body included, before `handler` answers. */
class Receiver {
  /** TCP connections accepted so far. */
  connections = 0;

  private constructor(
    readonly received: readonly Received[],
    private readonly server: Server,
    readonly port: number,
    readonly origin: string,
  ) {
    server.on('connection', () => {
      this.connections++;
    });
  }

  static async start(handler: Handler, tls?: { key: string; cert: string }): Promise<Receiver> {
    const received: Received[] = [];
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        // An https receiver's socket is a TLSSocket, which knows the SNI name the client sent.
        const socket = req.socket;
        const servername = 'servername' in socket ? socket.servername : null;
        const entry: Received = {
          method: req.method ?? '',
          path: req.url ?? '',
          rawHeaders: req.rawHeaders,
          headers: req.headers,
          body: Buffer.concat(chunks),
          servername: typeof servername === 'string' ? servername : null,
        };
        received.push(entry);
        handler(req, res, entry);
      });
    };
    const server = tls === undefined ? createServer(listener) : createHttpsServer(tls, listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new Receiver(
      received,
      server,
      port,
      `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    );
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }
}

/** A lookup answering from `answer(hostname, call)` (call counts from 1), counting its calls. */
function countingLookup(answer: (hostname: string, call: number) => readonly string[]): {
  lookup: HostLookup;
  calls: () => number;
} {
  let calls = 0;
  const lookup: HostLookup = (hostname) => {
    calls += 1;
    const addresses = answer(hostname, calls);
    return Promise.resolve(addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  };
  return { lookup, calls: () => calls };
}

/** A port on 127.0.0.1 that nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

function expectKind<K extends SendResult['kind']>(
  result: SendResult,
  kind: K,
): Extract<SendResult, { kind: K }> {
  expect(result).toMatchObject({ kind });
  return result as Extract<SendResult, { kind: K }>;
}

// Typed wrappers: Jest's asymmetric matchers are typed `any`.
const containing = (text: string): unknown => expect.stringContaining(text);
const matching = (pattern: RegExp): unknown => expect.stringMatching(pattern);
const anyString: unknown = expect.any(String);

const LOOPBACK: WebhookSenderOptions = { allowedCidrs: ['127.0.0.0/8'] };
const JSON_HEADERS = { 'content-type': 'application/json' };

describe('WebhookSender against real HTTP receivers', () => {
  const receivers: Receiver[] = [];
  const receiver = async (handler: Handler): Promise<Receiver> => {
    const started = await Receiver.start(handler);
    receivers.push(started);
    return started;
  };

  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((started) => started.stop()));
  });

  describe('responses', () => {
    it('POSTs the headers and body byte for byte, with Host, content-length and its user-agent', async () => {
      const target = await receiver((_req, res, received) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(received.body);
      });
      const body = JSON.stringify({ type: 'PUSH_ARTIFACT', note: 'héllo ✓ 🚢', nul: '\u0001' });
      const sut = new WebhookSender(LOOPBACK);

      const result = await sut.send({
        url: `${target.origin}/hooks/in?project=team#fragment`,
        headers: {
          'content-type': 'application/json',
          'webhook-id': 'msg_1',
          'X-Custom-Header': 'Value With  Spaces',
          'User-Agent': 'spoofed',
          host: 'evil.example',
          'Content-Length': '1',
        },
        body,
      });

      const response = expectKind(result, 'response');
      expect(response.status).toBe(200);
      expect(response.retryAfter).toBeNull();
      expect(response.responseSnippet).toBe(body);
      expect(response.latencyMs).toBeGreaterThanOrEqual(0);
      expect(target.received).toHaveLength(1);
      const [received] = target.received;
      expect(received?.method).toBe('POST');
      expect(received?.path).toBe('/hooks/in?project=team');
      expect(received?.body.equals(Buffer.from(body, 'utf8'))).toBe(true);
      expect(received?.headers).toMatchObject({
        host: `127.0.0.1:${target.port}`,
        'user-agent': 'Berth-Webhooks/1',
        'content-length': String(Buffer.byteLength(body)),
        'content-type': 'application/json',
        'webhook-id': 'msg_1',
        'x-custom-header': 'Value With  Spaces',
        // The connection is kept for the next delivery to this receiver.
        connection: 'keep-alive',
      });
      // The custom header's name arrives in the case it was given; each owned header once.
      expect(received?.rawHeaders).toContain('X-Custom-Header');
      const names = (received?.rawHeaders ?? [])
        .filter((_, index) => index % 2 === 0)
        .map((n) => n.toLowerCase());
      for (const owned of ['host', 'user-agent', 'content-length']) {
        expect(names.filter((name) => name === owned)).toHaveLength(1);
      }
    });

    it('returns a 410, which webhooks-core turns into disabling the subscription', async () => {
      const target = await receiver((_req, res) => res.writeHead(410).end('gone'));
      const sut = new WebhookSender(LOOPBACK);

      const result = expectKind(
        await sut.send({ url: target.origin, headers: JSON_HEADERS, body: '{}' }),
        'response',
      );

      expect(result).toMatchObject({ status: 410, responseSnippet: 'gone' });
      expect(classifyAttempt(toAttemptOutcome(result))).toEqual({
        action: 'disable',
        reason: 'the receiver answered 410 Gone',
      });
    });

    it('returns a 503 with its Retry-After, which webhooks-core honours', async () => {
      const target = await receiver((_req, res) => res.writeHead(503, { 'retry-after': '120' }).end());
      const sut = new WebhookSender(LOOPBACK);

      const result = expectKind(
        await sut.send({ url: target.origin, headers: JSON_HEADERS, body: '{}' }),
        'response',
      );

      expect(result).toMatchObject({ status: 503, retryAfter: '120', responseSnippet: '' });
      expect(classifyAttempt(toAttemptOutcome(result))).toMatchObject({
        action: 'retry',
        retryAfterMs: 120_000,
      });
    });

    it('does not follow a redirect: a 302 is the answer', async () => {
      const elsewhere = await receiver((_req, res) => res.writeHead(200).end());
      const target = await receiver((_req, res) =>
        res.writeHead(302, { location: `${elsewhere.origin}/x` }).end(),
      );
      const sut = new WebhookSender(LOOPBACK);

      const result = await sut.send({ url: target.origin, headers: JSON_HEADERS, body: '{}' });

      expect(result).toMatchObject({ kind: 'response', status: 302 });
      expect(target.received).toHaveLength(1);
      expect(elsewhere.received).toHaveLength(0);
    });

    it('keeps at most the first KiB of the body, never half a character', async () => {
      const body = `${'a'.repeat(1023)}é and more`;
      const target = await receiver((_req, res) => res.writeHead(500).end(body));
      const sut = new WebhookSender(LOOPBACK);

      const result = expectKind(
        await sut.send({ url: target.origin, headers: JSON_HEADERS, body: '{}' }),
        'response',
      );

      expect(result.responseSnippet).toBe('a'.repeat(1023));
    });
  });

  describe('deadlines and limits', () => {
    it('times out a receiver that never answers after timeoutMs and closes its socket', async () => {
      let socketClosed!: Promise<void>;
      const target = await receiver((req) => {
        socketClosed = new Promise((resolve) =>
          req.socket.once('close', () => {
            resolve();
          }),
        );
      });
      const sut = new WebhookSender({ ...LOOPBACK, timeoutMs: 300 });

      // The receiver never answers: only the deadline can end the send.
      const result = await sut.send({ url: target.origin, headers: JSON_HEADERS, body: '{}' });

      // Not before the deadline (a timer may fire a millisecond early).
      expect(expectKind(result, 'timeout').latencyMs).toBeGreaterThanOrEqual(295);
      await socketClosed;
    });

    it('counts DNS in the deadline: a lookup that hangs is a timeout', async () => {
      const sut = new WebhookSender({
        ...LOOPBACK,
        timeoutMs: 200,
        lookup: () => new Promise(() => undefined),
      });

      // The lookup never ends: only the deadline can end the send.
      const result = await sut.send({ url: 'http://slow-dns.test/', headers: JSON_HEADERS, body: '{}' });

      expect(result.kind).toBe('timeout');
    });

    it('keeps the status of a receiver that answers and then stalls its body, cut at the deadline', async () => {
      const target = await receiver((_req, res) => {
        res.writeHead(202, { 'content-type': 'text/plain' });
        res.write('accepted, then silence');
      });
      const sut = new WebhookSender({ ...LOOPBACK, timeoutMs: 300 });

      // The body never ends: only the deadline can end the send.
      const result = await sut.send({ url: target.origin, headers: JSON_HEADERS, body: '{}' });

      expect(result).toMatchObject({
        kind: 'response',
        status: 202,
        responseSnippet: 'accepted, then silence',
      });
      // The latency is the time to the status, which came before the deadline, not the time to the cut.
      expect(expectKind(result, 'response').latencyMs).toBeLessThan(300);
    });

    it('reads at most maxResponseBytes of a 50 MB answer, returns at once and destroys the socket', async () => {
      const total = 50 * 1024 * 1024;
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let streamed!: Promise<{ written: number; finished: boolean }>;
      const target = await receiver((_req, res) => {
        let written = 0;
        streamed = new Promise((resolve) =>
          res.once('close', () => {
            resolve({ written, finished: res.writableFinished });
          }),
        );
        res.on('error', () => undefined);
        res.writeHead(200, { 'content-length': String(total) });
        const pump = (): void => {
          while (written < total) {
            written += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
      });
      // A deadline past the test's own timeout: the send can only end by the size limit.
      const sut = new WebhookSender({ ...LOOPBACK, timeoutMs: 600_000, maxResponseBytes: 64 * 1024 });

      const result = expectKind(
        await sut.send({ url: target.origin, headers: JSON_HEADERS, body: '{}' }),
        'response',
      );

      expect(result.status).toBe(200);
      expect(result.responseSnippet).toBe('x'.repeat(1024));
      const { written, finished } = await streamed;
      expect(finished).toBe(false);
      // What the kernel's socket buffers took before the close, not the 50 MB.
      expect(written).toBeLessThan(total / 2);
    });
  });

  describe('connections', () => {
    it('keeps the connection to a receiver for the next delivery', async () => {
      const target = await receiver((_req, res) => res.writeHead(204).end());
      const sut = new WebhookSender(LOOPBACK);

      for (let n = 0; n < 3; n++) {
        const result = await sut.send({
          url: `${target.origin}/hook`,
          headers: JSON_HEADERS,
          body: `{"n":${n}}`,
        });
        expect(result).toMatchObject({ kind: 'response', status: 204 });
      }

      expect(target.received).toHaveLength(3);
      expect(target.connections).toBe(1);
      sut.close();
    });

    it('sends again on a new connection when the kept one was closed by the receiver, in one attempt', async () => {
      // The second request arrives on the kept connection, which the receiver then drops unanswered,
      // as a receiver whose idle timeout ran out at that instant does.
      let requests = 0;
      const target = await receiver((req, res) => {
        requests++;
        if (requests === 2) req.socket.destroy();
        else res.writeHead(204).end();
      });
      const sut = new WebhookSender(LOOPBACK);
      const send = () => sut.send({ url: `${target.origin}/hook`, headers: JSON_HEADERS, body: '{}' });

      expect(await send()).toMatchObject({ kind: 'response', status: 204 });
      expect(await send()).toMatchObject({ kind: 'response', status: 204 });

      expect(target.received).toHaveLength(3);
      expect(target.connections).toBe(2);
      sut.close();
    });
  });

  describe('network errors', () => {
    it('reports a refused connection', async () => {
      const port = await closedPort();
      const sut = new WebhookSender(LOOPBACK);

      const result = await sut.send({ url: `http://127.0.0.1:${port}/`, headers: JSON_HEADERS, body: '{}' });

      expect(result).toMatchObject({ kind: 'network-error', message: 'connection refused (ECONNREFUSED)' });
      expect(expectKind(result, 'network-error').latencyMs).toBeGreaterThanOrEqual(0);
    });

    it('reports a receiver that closes the connection without answering', async () => {
      const target = await receiver((req) => req.socket.destroy());
      const sut = new WebhookSender(LOOPBACK);

      const result = await sut.send({ url: target.origin, headers: JSON_HEADERS, body: '{}' });

      expect(result).toMatchObject({ kind: 'network-error', message: containing('ECONNRESET') });
    });

    it('reports a failed DNS lookup', async () => {
      const lookup: HostLookup = () =>
        Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' }));
      const sut = new WebhookSender({ ...LOOPBACK, lookup });

      const result = await sut.send({ url: 'http://nowhere.test/', headers: JSON_HEADERS, body: '{}' });

      expect(result).toMatchObject({
        kind: 'network-error',
        message: 'DNS lookup failed: host not found (ENOTFOUND)',
      });
    });

    it('reports a header value Node refuses to send, instead of throwing', async () => {
      const target = await receiver((_req, res) => res.writeHead(200).end());
      const sut = new WebhookSender(LOOPBACK);

      const result = await sut.send({ url: target.origin, headers: { 'x-bad': 'a\r\nb' }, body: '{}' });

      expect(result).toMatchObject({
        kind: 'network-error',
        message: containing('ERR_INVALID_CHAR'),
      });
      expect(target.received).toHaveLength(0);
    });
  });

  describe('target safety', () => {
    it('refuses loopback unless a CIDR allows it, and connects nowhere', async () => {
      const target = await receiver((_req, res) => res.writeHead(200).end());
      const sut = new WebhookSender({ allowedCidrs: [] });

      const literal = await sut.send({ url: target.origin, headers: JSON_HEADERS, body: '{}' });
      const named = await sut.send({
        url: `http://localhost:${target.port}/`,
        headers: JSON_HEADERS,
        body: '{}',
      });

      expect(literal).toMatchObject({ kind: 'refused', reason: 'blocked-address' });
      expect(named).toMatchObject({ kind: 'refused', reason: 'blocked-address' });
      expect(target.received).toHaveLength(0);
    });

    it('refuses a name that resolves to the metadata address', async () => {
      const { lookup } = countingLookup(() => ['169.254.169.254']);
      const sut = new WebhookSender({ ...LOOPBACK, lookup });

      const result = await sut.send({
        url: 'http://metadata.test/latest',
        headers: JSON_HEADERS,
        body: '{}',
      });

      expect(result).toMatchObject({
        kind: 'refused',
        reason: 'blocked-address',
        message: containing('169.254.169.254'),
      });
    });

    it('refuses a name whose answer mixes a public and a refused address', async () => {
      const { lookup } = countingLookup(() => ['93.184.216.34', '127.0.0.1']);
      const sut = new WebhookSender({ allowedCidrs: [], lookup });

      const result = await sut.send({ url: 'http://mixed.test/', headers: JSON_HEADERS, body: '{}' });

      expect(result).toMatchObject({ kind: 'refused', reason: 'blocked-address' });
    });

    it('connects to the address it checked, however DNS answers afterwards (rebinding)', async () => {
      const target = await receiver((_req, res) => res.writeHead(204).end());
      const { lookup, calls } = countingLookup((_hostname, call) =>
        call === 1 ? ['127.0.0.1'] : ['169.254.169.254'],
      );
      const sut = new WebhookSender({ ...LOOPBACK, lookup });
      const url = `http://rebind.test:${target.port}/hook`;

      const first = await sut.send({ url, headers: JSON_HEADERS, body: '{"n":1}' });

      expect(first).toMatchObject({ kind: 'response', status: 204 });
      expect(calls()).toBe(1);
      expect(target.received).toHaveLength(1);
      expect(target.received[0]?.headers.host).toBe(`rebind.test:${target.port}`);

      const second = await sut.send({ url, headers: JSON_HEADERS, body: '{"n":2}' });

      expect(second).toMatchObject({ kind: 'refused', reason: 'blocked-address' });
      expect(calls()).toBe(2);
      expect(target.received).toHaveLength(1);
    });

    it.each([
      ['ftp://127.0.0.1/hook', 'unsupported-scheme'],
      ['http://user:pw@hooks.test/', 'credentials-in-url'],
      ['not a url', 'invalid-url'],
    ])('refuses %s (%s) before any lookup', async (url, reason) => {
      const { lookup, calls } = countingLookup(() => ['127.0.0.1']);
      const sut = new WebhookSender({ ...LOOPBACK, lookup });

      const result = await sut.send({ url, headers: JSON_HEADERS, body: '{}' });

      expect(result).toEqual({ kind: 'refused', reason, message: anyString });
      expect(calls()).toBe(0);
    });

    it('refuses a malformed allowed CIDR when constructed', () => {
      expect(() => new WebhookSender({ allowedCidrs: ['10.0.0.0/33'] })).toThrow(CidrError);
    });
  });

  describe('https', () => {
    let dir: string;
    let tls: { key: string; cert: string };

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'berth-webhook-sender-'));
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=hooks.test',
          '-addext',
          'subjectAltName=DNS:hooks.test',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      tls = {
        key: readFileSync(join(dir, 'key.pem'), 'utf8'),
        cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
      };
    });

    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    const httpsReceiver = async (): Promise<Receiver> => {
      const started = await Receiver.start((_req, res) => res.writeHead(200).end('ok'), tls);
      receivers.push(started);
      return started;
    };

    it('refuses a self-signed certificate as a network error', async () => {
      const target = await httpsReceiver();
      const { lookup } = countingLookup(() => ['127.0.0.1']);
      const sut = new WebhookSender({ ...LOOPBACK, lookup });

      const result = await sut.send({
        url: `https://hooks.test:${target.port}/`,
        headers: JSON_HEADERS,
        body: '{}',
      });

      expect(result).toMatchObject({
        kind: 'network-error',
        message: matching(/^TLS error: .*\(DEPTH_ZERO_SELF_SIGNED_CERT\)$/),
      });
      expect(target.received).toHaveLength(0);
    });

    it('connects to the pinned address with the host name as SNI and in the certificate check', async () => {
      const target = await httpsReceiver();
      const { lookup, calls } = countingLookup(() => ['127.0.0.1']);
      const sut = new WebhookSender({ ...LOOPBACK, lookup, extraCaCertificates: [tls.cert] });

      const result = await sut.send({
        url: `https://hooks.test:${target.port}/in`,
        headers: JSON_HEADERS,
        body: '{}',
      });

      expect(result).toMatchObject({ kind: 'response', status: 200, responseSnippet: 'ok' });
      expect(calls()).toBe(1);
      expect(target.received[0]).toMatchObject({ servername: 'hooks.test', path: '/in' });
      expect(target.received[0]?.headers.host).toBe(`hooks.test:${target.port}`);
    });

    it('refuses a certificate issued for another name than the URL names', async () => {
      const target = await httpsReceiver();
      const { lookup } = countingLookup(() => ['127.0.0.1']);
      const sut = new WebhookSender({ ...LOOPBACK, lookup, extraCaCertificates: [tls.cert] });

      const result = await sut.send({
        url: `https://other.test:${target.port}/`,
        headers: JSON_HEADERS,
        body: '{}',
      });

      expect(result).toMatchObject({
        kind: 'network-error',
        message: containing('ERR_TLS_CERT_ALTNAME_INVALID'),
      });
      expect(target.received).toHaveLength(0);
    });
  });
});
