import { createHmac } from 'node:crypto';
import {
  DEFAULT_TOLERANCE_SECONDS,
  generateSecret,
  parseSecret,
  sign,
  verifyWebhook,
  WebhookSecretError,
  type VerifyInput,
} from './signing';

/** The secret and vector of the Standard Webhooks reference libraries' own test suite. */
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const SECRET = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
const OLD_SECRET = 'whsec_' + Buffer.alloc(24, 9).toString('base64');
const ID = '01J9Z7V1N1D2ZB0D3QH0TKD5R7';
const TIMESTAMP = 1_700_000_000;
const NOW = new Date(TIMESTAMP * 1000);
const BODY = '{"type":"PUSH_ARTIFACT","occur_at":1700000000}';

/** The signature computed by hand, independently of the code under test. */
function expectedSignature(secret: string, id: string, timestamp: number, body: string | Buffer): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const mac = createHmac('sha256', key);
  mac.update(`${id}.${timestamp}.`);
  mac.update(body);
  return `v1,${mac.digest('base64')}`;
}

function messageOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected an error');
}

function signed(overrides: Partial<VerifyInput> = {}): VerifyInput {
  return {
    headers: sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] }),
    body: BODY,
    secrets: [SECRET],
    now: NOW,
    ...overrides,
  };
}

describe('secrets', () => {
  it('generates whsec_ secrets of 32 random bytes by default', () => {
    const sut = generateSecret();
    expect(sut).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(parseSecret(sut)).toHaveLength(32);
    expect(generateSecret()).not.toBe(sut);
  });

  it('generates secrets of 24 to 64 bytes on request, and no other size', () => {
    expect(parseSecret(generateSecret(24))).toHaveLength(24);
    expect(parseSecret(generateSecret(64))).toHaveLength(64);
    expect(() => generateSecret(16)).toThrow(WebhookSecretError);
    expect(() => generateSecret(65)).toThrow(WebhookSecretError);
    expect(() => generateSecret(24.5)).toThrow(WebhookSecretError);
  });

  it('reads a secret with or without the whsec_ prefix', () => {
    const bare = SPEC.secret.slice('whsec_'.length);
    expect(parseSecret(bare).equals(parseSecret(SPEC.secret))).toBe(true);
    expect(parseSecret(SPEC.secret).equals(Buffer.from(bare, 'base64'))).toBe(true);
  });

  it('reads unpadded base64', () => {
    const padded = Buffer.alloc(32, 1).toString('base64');
    expect(padded.endsWith('=')).toBe(true);
    expect(parseSecret(padded.replace(/=+$/, '')).equals(Buffer.alloc(32, 1))).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['just the prefix', 'whsec_'],
    ['not base64', 'whsec_this is not base64!!'],
    ['base64url characters', 'whsec_' + Buffer.alloc(32, 0xfb).toString('base64url')],
    ['stray padding', 'whsec_' + 'A'.repeat(31) + '=='],
  ])('refuses a secret that is %s', (_label, secret) => {
    expect(() => parseSecret(secret)).toThrow(WebhookSecretError);
  });

  it('refuses keys shorter than 24 bytes or longer than 64, without echoing the secret', () => {
    const short = Buffer.alloc(16, 3).toString('base64');
    expect(() => parseSecret(short)).toThrow('a secret must decode to 24 to 64 bytes; this one has 16');
    expect(messageOf(() => parseSecret(short))).not.toContain(short);
    expect(() => parseSecret(Buffer.alloc(65).toString('base64'))).toThrow(WebhookSecretError);
  });
});

describe('sign', () => {
  it("reproduces the Standard Webhooks reference libraries' test vector", () => {
    const sut = sign({ id: SPEC.id, timestamp: SPEC.timestamp, body: SPEC.body, secrets: [SPEC.secret] });
    expect(sut).toEqual({
      'webhook-id': SPEC.id,
      'webhook-timestamp': String(SPEC.timestamp),
      'webhook-signature': SPEC.signature,
    });
  });

  it('signs "<id>.<timestamp>.<body>" with HMAC-SHA256 keyed by the decoded secret', () => {
    const sut = sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] });
    expect(sut['webhook-signature']).toBe(expectedSignature(SECRET, ID, TIMESTAMP, BODY));
  });

  it('signs raw bytes exactly, including bytes that are not UTF-8', () => {
    const body = Buffer.from([0x7b, 0xff, 0x00, 0xc3, 0x7d]);
    const sut = sign({ id: ID, timestamp: TIMESTAMP, body, secrets: [SECRET] });
    expect(sut['webhook-signature']).toBe(expectedSignature(SECRET, ID, TIMESTAMP, body));
  });

  it('signs a string body as its UTF-8 bytes', () => {
    const body = '{"repository":"équipe/app","tag":"v1 ✓"}';
    const asString = sign({ id: ID, timestamp: TIMESTAMP, body, secrets: [SECRET] });
    const asBytes = sign({
      id: ID,
      timestamp: TIMESTAMP,
      body: Buffer.from(body, 'utf8'),
      secrets: [SECRET],
    });
    expect(asString).toEqual(asBytes);
  });

  it('carries one signature per secret, space-separated, in order, while a rotation overlaps', () => {
    const sut = sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET, OLD_SECRET] });
    expect(sut['webhook-signature']).toBe(
      `${expectedSignature(SECRET, ID, TIMESTAMP, BODY)} ${expectedSignature(OLD_SECRET, ID, TIMESTAMP, BODY)}`,
    );
  });

  it.each([
    ['empty', ''],
    ['containing a dot', 'msg.1'],
    ['containing a space', 'msg 1'],
    ['containing a newline', 'msg\n1'],
    ['too long', 'm'.repeat(257)],
  ])('refuses an id that is %s', (_label, id) => {
    expect(() => sign({ id, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] })).toThrow(/webhook id/);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses the timestamp %s', (timestamp) => {
    expect(() => sign({ id: ID, timestamp, body: BODY, secrets: [SECRET] })).toThrow(/webhook timestamp/);
  });

  it('refuses to sign without a secret, or with a bad one', () => {
    expect(() => sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [] })).toThrow(WebhookSecretError);
    expect(() => sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: ['whsec_short'] })).toThrow(
      WebhookSecretError,
    );
  });
});

describe('verifyWebhook', () => {
  it('accepts a delivery it signed, and returns its id and timestamp', () => {
    expect(verifyWebhook(signed())).toEqual({ ok: true, id: ID, timestamp: TIMESTAMP });
  });

  it("accepts the Standard Webhooks reference vector, with the secret's prefix or without", () => {
    const headers = {
      'webhook-id': SPEC.id,
      'webhook-timestamp': String(SPEC.timestamp),
      'webhook-signature': SPEC.signature,
    };
    const now = new Date(SPEC.timestamp * 1000 + 10_000);
    for (const secrets of [SPEC.secret, SPEC.secret.slice('whsec_'.length)]) {
      expect(verifyWebhook({ headers, body: SPEC.body, secrets, now }).ok).toBe(true);
    }
  });

  it('accepts a raw Buffer body', () => {
    expect(verifyWebhook(signed({ body: Buffer.from(BODY) })).ok).toBe(true);
  });

  it('reads headers case-insensitively from a record, and from a Fetch API Headers object', () => {
    const headers = sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] });
    const record = {
      'Webhook-Id': headers['webhook-id'],
      'WEBHOOK-TIMESTAMP': headers['webhook-timestamp'],
      'Webhook-Signature': headers['webhook-signature'],
      'content-type': 'application/json',
    };
    expect(verifyWebhook(signed({ headers: record })).ok).toBe(true);
    expect(verifyWebhook(signed({ headers: new Headers(headers) })).ok).toBe(true);
  });

  it('reads a signature header sent as several values', () => {
    const headers = sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] });
    const split = { ...headers, 'webhook-signature': ['v1,bm90IGl0', headers['webhook-signature']] };
    expect(verifyWebhook(signed({ headers: split })).ok).toBe(true);
  });

  it('reads a signature header that Node joined from two lines', () => {
    const headers = sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] });
    const joined = { ...headers, 'webhook-signature': `${headers['webhook-signature']}, v1,bm90IGl0` };
    expect(verifyWebhook(signed({ headers: joined })).ok).toBe(true);
    const joinedFirst = { ...headers, 'webhook-signature': `v1,bm90IGl0, ${headers['webhook-signature']}` };
    expect(verifyWebhook(signed({ headers: joinedFirst })).ok).toBe(true);
  });

  it('accepts either secret while a rotation overlaps', () => {
    const headers = sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET, OLD_SECRET] });
    expect(verifyWebhook(signed({ headers, secrets: [SECRET] })).ok).toBe(true);
    expect(verifyWebhook(signed({ headers, secrets: OLD_SECRET })).ok).toBe(true);
    const oldOnly = sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [OLD_SECRET] });
    expect(verifyWebhook(signed({ headers: oldOnly, secrets: [OLD_SECRET, SECRET] })).ok).toBe(true);
    expect(verifyWebhook(signed({ headers: oldOnly, secrets: [SECRET] }))).toMatchObject({
      ok: false,
      reason: 'no-matching-signature',
    });
  });

  it('skips signatures of other schemes and finds the v1 one among them', () => {
    const headers = sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] });
    const v1 = headers['webhook-signature'];
    const mixed = { ...headers, 'webhook-signature': `v1a,aGVsbG8=  v2,${v1.slice(3)} ${v1}` };
    expect(verifyWebhook(signed({ headers: mixed })).ok).toBe(true);
    const noV1 = { ...headers, 'webhook-signature': `v1a,${v1.slice(3)} v2,${v1.slice(3)}` };
    expect(verifyWebhook(signed({ headers: noV1 }))).toMatchObject({ reason: 'no-matching-signature' });
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const)(
    'fails with missing-header when %s is absent or blank',
    (name) => {
      const headers = sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] });
      const absent = Object.fromEntries(Object.entries(headers).filter(([key]) => key !== name));
      const blank = { ...headers, [name]: '  ' };
      for (const variant of [absent, blank]) {
        const sut = verifyWebhook(signed({ headers: variant }));
        expect(sut).toEqual({
          ok: false,
          reason: 'missing-header',
          message: `the ${name} header is missing`,
        });
      }
    },
  );

  it('fails with duplicate-header when the id or timestamp is sent twice', () => {
    const headers = sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] });
    const sut = verifyWebhook(signed({ headers: { ...headers, 'webhook-id': [ID, 'other'] } }));
    expect(sut).toMatchObject({ ok: false, reason: 'duplicate-header' });
  });

  it.each(['hello', '-1', '1e9', '1700000000.5', '0x6553f100', '9'.repeat(16)])(
    'fails with bad-timestamp for %p',
    (timestamp) => {
      const headers = {
        ...sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] }),
        'webhook-timestamp': timestamp,
      };
      expect(verifyWebhook(signed({ headers }))).toMatchObject({ ok: false, reason: 'bad-timestamp' });
    },
  );

  it('enforces the tolerance both ways, 300 seconds by default, inclusive', () => {
    const at = (seconds: number): Date => new Date((TIMESTAMP + seconds) * 1000);
    expect(DEFAULT_TOLERANCE_SECONDS).toBe(300);
    expect(verifyWebhook(signed({ now: at(300) })).ok).toBe(true);
    expect(verifyWebhook(signed({ now: at(-300) })).ok).toBe(true);
    expect(verifyWebhook(signed({ now: at(301) }))).toMatchObject({ ok: false, reason: 'too-old' });
    expect(verifyWebhook(signed({ now: at(-301) }))).toMatchObject({ ok: false, reason: 'too-new' });
    expect(verifyWebhook(signed({ now: at(60), toleranceSeconds: 30 }))).toMatchObject({ reason: 'too-old' });
  });

  it('checks the timestamp before the signature, so a replayed delivery fails as too old', () => {
    expect(verifyWebhook(signed({ now: new Date((TIMESTAMP + 3600) * 1000) }))).toMatchObject({
      reason: 'too-old',
    });
  });

  it('refuses a delivery whose timestamp or id was changed after signing', () => {
    const headers = sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] });
    const later = { ...headers, 'webhook-timestamp': String(TIMESTAMP + 1) };
    const otherId = { ...headers, 'webhook-id': 'another-id' };
    expect(verifyWebhook(signed({ headers: later }))).toMatchObject({ reason: 'no-matching-signature' });
    expect(verifyWebhook(signed({ headers: otherId }))).toMatchObject({ reason: 'no-matching-signature' });
  });

  it('refuses a tampered body, a wrong secret and a truncated signature', () => {
    expect(verifyWebhook(signed({ body: BODY.replace('1700000000', '1700000001') }))).toMatchObject({
      reason: 'no-matching-signature',
    });
    expect(verifyWebhook(signed({ secrets: [generateSecret()] }))).toMatchObject({
      reason: 'no-matching-signature',
    });
    const headers = sign({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] });
    for (const signature of [headers['webhook-signature'].slice(0, 10), 'v1,', 'v1']) {
      const sut = verifyWebhook(signed({ headers: { ...headers, 'webhook-signature': signature } }));
      expect(sut).toMatchObject({ reason: 'no-matching-signature' });
    }
  });

  it('fails on a body that was parsed and re-serialized: receivers must verify the raw bytes', () => {
    const body = '{ "type": "PUSH_ARTIFACT", "occur_at": 1700000000 }';
    const headers = sign({ id: ID, timestamp: TIMESTAMP, body, secrets: [SECRET] });
    const reserialized = JSON.stringify(JSON.parse(body));
    expect(verifyWebhook({ headers, body, secrets: SECRET, now: NOW }).ok).toBe(true);
    expect(verifyWebhook({ headers, body: reserialized, secrets: SECRET, now: NOW }).ok).toBe(false);
  });

  it('throws on a misconfigured secret instead of reporting a failed delivery', () => {
    expect(() => verifyWebhook(signed({ secrets: ['not-a-secret'] }))).toThrow(WebhookSecretError);
    expect(() => verifyWebhook(signed({ secrets: [] }))).toThrow(WebhookSecretError);
    expect(() => verifyWebhook(signed({ toleranceSeconds: -1 }))).toThrow('toleranceSeconds');
  });

  it('defaults to the current clock', () => {
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = sign({ id: ID, timestamp, body: BODY, secrets: [SECRET] });
    expect(verifyWebhook({ headers, body: BODY, secrets: SECRET }).ok).toBe(true);
  });
});
