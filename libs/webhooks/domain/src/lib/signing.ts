import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signing in the Standard Webhooks scheme (https://www.standardwebhooks.com/, spec 1.0):
 *
 *     webhook-id:        <delivery id, the same on every retry>
 *     webhook-timestamp: <Unix seconds of this attempt>
 *     webhook-signature: v1,<base64 HMAC-SHA256("<id>.<timestamp>.<raw body>")> [v1,<…> …]
 *
 * The HMAC key is the base64-decoded part of a `whsec_…` secret. While a rotated secret overlaps
 * with its successor, each delivery carries one signature per secret, space-separated, and a
 * receiver accepts the delivery if any of them verifies.
 */
export const WEBHOOK_HEADERS = {
  id: 'webhook-id',
  timestamp: 'webhook-timestamp',
  signature: 'webhook-signature',
} as const;

/** The prefix that marks a Standard Webhooks symmetric secret. */
export const SECRET_PREFIX = 'whsec_';

/** The shortest key the spec allows (192 bits). */
export const MIN_SECRET_BYTES = 24;

/** The longest key the spec allows (512 bits). */
export const MAX_SECRET_BYTES = 64;

/** The default tolerance between a delivery's timestamp and the receiver's clock. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;
const HEADER_SAFE_ID = /^[\x21-\x7e]{1,256}$/;
const DIGITS = /^[0-9]{1,15}$/;

/** A signing secret is not a Standard Webhooks secret (bad base64, or a key of the wrong size). */
export class WebhookSecretError extends Error {
  override readonly name = 'WebhookSecretError';
}

/**
 * A fresh secret in the Standard Webhooks form: `whsec_` and the base64 of `byteLength` random
 * bytes (32 unless asked otherwise; 24 to 64 allowed).
 */
export function generateSecret(byteLength = 32): string {
  if (!Number.isInteger(byteLength) || byteLength < MIN_SECRET_BYTES || byteLength > MAX_SECRET_BYTES) {
    throw new WebhookSecretError(
      `a secret has ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes, not ${byteLength}`,
    );
  }
  return SECRET_PREFIX + randomBytes(byteLength).toString('base64');
}

/**
 * The HMAC key of a secret: the base64 after the optional `whsec_` prefix, decoded. Standard
 * base64 only (padding optional); a key shorter than 24 or longer than 64 bytes is refused.
 * Errors never repeat the secret.
 */
export function parseSecret(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (encoded === '' || !BASE64.test(encoded)) {
    throw new WebhookSecretError('a secret is "whsec_" followed by standard base64 (A-Z a-z 0-9 + /)');
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
    throw new WebhookSecretError(
      `a secret must decode to ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes; this one has ${key.length}`,
    );
  }
  return key;
}

/** What {@link sign} signs. */
export interface SignInput {
  /** The delivery id: the same on every retry of the delivery, no `.` and no whitespace. */
  readonly id: string;
  /** Unix seconds of this attempt (not of the event). */
  readonly timestamp: number;
  /** The exact bytes that will be sent. */
  readonly body: string | Uint8Array;
  /** The subscription's secrets: the current one, and while a rotation overlaps, the old ones. */
  readonly secrets: readonly string[];
}

/** The three Standard Webhooks headers of one delivery attempt. */
// A type alias, not an interface, so that it fits wherever a header record does (fetch, verify).
export type WebhookSignatureHeaders = {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
};

/**
 * Signs one delivery attempt with every given secret, in order. Throws a
 * {@link WebhookSecretError} for a bad secret, and a plain `Error` for an id that is not
 * header-safe or contains a `.` (the spec forbids it: the dot separates the signed parts), or a
 * timestamp that is not a non-negative integer.
 */
export function sign(input: SignInput): WebhookSignatureHeaders {
  if (!HEADER_SAFE_ID.test(input.id) || input.id.includes('.')) {
    throw new Error('a webhook id is 1 to 256 visible ASCII characters, without "."');
  }
  if (!Number.isSafeInteger(input.timestamp) || input.timestamp < 0) {
    throw new Error('a webhook timestamp is a non-negative integer of Unix seconds');
  }
  if (input.secrets.length === 0) throw new WebhookSecretError('signing needs at least one secret');
  const signatures = input.secrets.map(
    (secret) => `v1,${hmac(parseSecret(secret), input.id, String(input.timestamp), input.body)}`,
  );
  return {
    [WEBHOOK_HEADERS.id]: input.id,
    [WEBHOOK_HEADERS.timestamp]: String(input.timestamp),
    [WEBHOOK_HEADERS.signature]: signatures.join(' '),
  };
}

/** Why a delivery failed verification. */
export type VerifyFailureReason =
  'missing-header' | 'duplicate-header' | 'bad-timestamp' | 'too-old' | 'too-new' | 'no-matching-signature';

/** The outcome of {@link verifyWebhook}. */
export type VerifyResult =
  | { readonly ok: true; readonly id: string; readonly timestamp: number }
  | { readonly ok: false; readonly reason: VerifyFailureReason; readonly message: string };

/**
 * Request headers, as Node's `IncomingMessage.headers` (or any record, looked up
 * case-insensitively) or a Fetch API `Headers`.
 */
export type WebhookHeaderSource =
  { get(name: string): string | null } | Readonly<Record<string, string | readonly string[] | undefined>>;

/** What {@link verifyWebhook} checks. */
export interface VerifyInput {
  readonly headers: WebhookHeaderSource;
  /**
   * The raw request body, exactly as received. Verify before parsing: JSON parsed and
   * re-serialized is rarely byte-identical, and any change breaks the signature.
   */
  readonly body: string | Uint8Array;
  /** The secret, or the secrets accepted during a rotation (`whsec_…` or bare base64). */
  readonly secrets: string | readonly string[];
  /** How far the timestamp may be from `now`, either way (default 300 seconds). */
  readonly toleranceSeconds?: number;
  /** The receiver's clock (default: now). */
  readonly now?: Date;
}

/**
 * Verifies a delivery the way a receiver should: all three headers present, the timestamp within
 * the tolerance of `now` (against replays), and at least one `v1` signature equal, in constant
 * time, to the HMAC under one of the secrets. Signatures of other schemes (such as `v1a`) are
 * skipped. A bad secret is a configuration error and throws a {@link WebhookSecretError}; every
 * verification failure is a result, never an exception.
 *
 * After it passes, use `webhook-id` (the result's `id`) to drop deliveries already processed.
 */
export function verifyWebhook(input: VerifyInput): VerifyResult {
  const secrets = typeof input.secrets === 'string' ? [input.secrets] : input.secrets;
  if (secrets.length === 0) throw new WebhookSecretError('verification needs at least one secret');
  const keys = secrets.map(parseSecret);
  const tolerance = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0) throw new Error('toleranceSeconds must be >= 0');

  const id = header(input.headers, WEBHOOK_HEADERS.id);
  if (!id.ok) return id;
  const timestamp = header(input.headers, WEBHOOK_HEADERS.timestamp);
  if (!timestamp.ok) return timestamp;
  const signatures = header(input.headers, WEBHOOK_HEADERS.signature, ' ');
  if (!signatures.ok) return signatures;

  if (!DIGITS.test(timestamp.value)) {
    return fail('bad-timestamp', 'webhook-timestamp is not an integer of Unix seconds');
  }
  const sentAt = Number(timestamp.value);
  const now = Math.floor((input.now ?? new Date()).getTime() / 1000);
  if (now - sentAt > tolerance) return fail('too-old', `webhook-timestamp is more than ${tolerance}s old`);
  if (sentAt - now > tolerance) {
    return fail('too-new', `webhook-timestamp is more than ${tolerance}s in the future`);
  }

  const expected = keys.map((key) => Buffer.from(hmac(key, id.value, timestamp.value, input.body)));
  const matched = signatures.value
    .split(' ')
    // Node joins a header sent twice with ", ", which leaves a comma after the first signature.
    .map((entry) => entry.replace(/,$/, ''))
    .filter((entry) => entry.startsWith('v1,'))
    .some((entry) => {
      const given = Buffer.from(entry.slice(3));
      // Every candidate is compared, so the time taken does not reveal which secret matched.
      return expected.reduce(
        (found, candidate) =>
          (candidate.length === given.length && timingSafeEqual(candidate, given)) || found,
        false,
      );
    });
  if (!matched) return fail('no-matching-signature', 'no v1 signature matches the secret');
  return { ok: true, id: id.value, timestamp: sentAt };
}

function hmac(key: Buffer, id: string, timestamp: string, body: string | Uint8Array): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
}

function fail(reason: VerifyFailureReason, message: string): VerifyResult & { ok: false } {
  return { ok: false, reason, message };
}

/**
 * One header's value, looked up case-insensitively. A header sent more than once is joined with
 * `join` when its values are lists (the signature header), and refused otherwise.
 */
function header(
  source: WebhookHeaderSource,
  name: string,
  join?: string,
): { readonly ok: true; readonly value: string } | (VerifyResult & { ok: false }) {
  let values: readonly string[];
  if (typeof source.get === 'function') {
    const value = (source as { get(name: string): string | null }).get(name);
    values = value === null ? [] : [value];
  } else {
    const record = source as Readonly<Record<string, string | readonly string[] | undefined>>;
    values = Object.keys(record)
      .filter((key) => key.toLowerCase() === name)
      .flatMap((key) => record[key] ?? []);
  }
  values = values.map((value) => value.trim()).filter((value) => value !== '');
  if (values.length === 0) return fail('missing-header', `the ${name} header is missing`);
  if (values.length > 1 && join === undefined) {
    return fail('duplicate-header', `the ${name} header appears more than once`);
  }
  return { ok: true, value: values.join(join ?? '') };
}
