import { constants, createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';

/** Where Berth finds an OpenID Provider and how long it waits for it. */
export interface OidcIssuerSettings {
  /**
   * The issuer identifier, compared byte for byte with the discovery document's `issuer` and with
   * every ID token's `iss`. Discovery is at `${issuer}/.well-known/openid-configuration` (without
   * doubling a trailing slash).
   */
  readonly issuer: string;
  /** Limit for each request to the provider (discovery, JWKS, token), in milliseconds; 5,000 unless given. */
  readonly timeoutMs?: number;
}

/** The claims of an ID token that passed {@link OidcIssuer.verifyIdToken}. */
export interface IdTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  nonce?: string;
  [claim: string]: unknown;
}

/** Why an OpenID Connect operation failed; each maps to one check. */
export type OidcErrorReason =
  /** The discovery document or the JWKS could not be fetched or made no sense. */
  | 'discovery_failed'
  /** The token is not a JWS of three base64url JSON parts with the required claims, or too large. */
  | 'malformed'
  /** The token's `alg` is not RS256, PS256 or ES256 (so `none` and HMAC are refused). */
  | 'unsupported_algorithm'
  /** The provider publishes no key for the token's `kid` and `alg`, even after a refetch. */
  | 'unknown_key'
  | 'bad_signature'
  /** `exp` has passed, beyond the leeway. */
  | 'expired'
  /** `nbf` or `iat` lies in the future, beyond the leeway. */
  | 'not_yet_valid'
  | 'wrong_issuer'
  /** `aud` lacks the client, or `azp` names another party of a multi-audience token. */
  | 'wrong_audience'
  | 'wrong_nonce'
  /** The token endpoint refused the code, could not be reached, or returned no ID token. */
  | 'exchange_failed';

/** An OpenID Connect check or exchange that failed; `reason` says which. */
export class OidcError extends Error {
  override readonly name = 'OidcError';

  constructor(
    readonly reason: OidcErrorReason,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`${reason}: ${detail}`, options);
  }
}

/** The signature algorithms Berth accepts; asymmetric only, so a public key never works as a secret. */
type SupportedAlg = 'RS256' | 'PS256' | 'ES256';
const SUPPORTED_ALGS: ReadonlySet<unknown> = new Set<SupportedAlg>(['RS256', 'PS256', 'ES256']);

function isSupportedAlg(alg: unknown): alg is SupportedAlg {
  return SUPPORTED_ALGS.has(alg);
}

/** Clock skew tolerated between Berth and the provider for `exp`, `nbf` and `iat`, in seconds. */
const CLOCK_LEEWAY_SECONDS = 60;

/** Real ID tokens are a few KiB; a larger one is refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * An unknown `kid` triggers a JWKS refetch (the provider may have rotated keys) at most this often,
 * so that a stream of forged tokens cannot turn Berth into a traffic generator against the provider.
 */
const JWKS_REFETCH_INTERVAL_MS = 30_000;

/** Discovery documents and key sets are small; a larger answer is refused. */
const MAX_DOCUMENT_BYTES = 1024 * 1024;

/** RSA keys below this many bits are ignored: they no longer resist factoring. */
const MIN_RSA_BITS = 2048;

const DEFAULT_TIMEOUT_MS = 5_000;

const BASE64URL = /^[A-Za-z0-9_-]*$/;

interface Discovery {
  readonly jwksUri: string;
  readonly authorizationEndpoint: string | undefined;
  readonly tokenEndpoint: string | undefined;
}

interface VerificationKey {
  readonly kid: string | undefined;
  readonly key: KeyObject;
  /** The JWK's `alg`, when it restricts the key to one algorithm. */
  readonly alg: string | undefined;
}

interface KeySet {
  readonly keys: readonly VerificationKey[];
  readonly fetchedAt: number;
}

/**
 * The relying-party side of OpenID Connect towards one provider: verifies ID tokens and runs the
 * authorization-code flow with PKCE. Discovery and the provider's keys are fetched on first use
 * and cached; the keys are refetched when a token names a key id the cache lacks, at most once
 * every 30 seconds. One instance serves any number of concurrent calls.
 */
export class OidcIssuer {
  readonly #issuer: string;
  readonly #timeoutMs: number;
  #discovery: Promise<Discovery> | undefined;
  #keySet: KeySet | undefined;
  #keySetInFlight: Promise<KeySet> | undefined;
  /** When the last JWKS request started, successful or not; refetches are spaced from it. */
  #lastFetchStartedAt = Number.NEGATIVE_INFINITY;

  constructor(settings: OidcIssuerSettings) {
    this.#issuer = settings.issuer;
    this.#timeoutMs = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /**
   * Verifies an ID token issued by this provider for `expected.audience` and returns its claims.
   * The signature must be RS256, PS256 or ES256 by a key in the provider's JWKS; `iss` must equal
   * the issuer exactly; `aud` must contain the audience (and `azp`, when present on a token with
   * several audiences, must equal it); `exp`, `nbf` and `iat` must hold at `expected.now` (seconds
   * since the epoch, the current time unless given) with 60 seconds of leeway; and `nonce` must
   * equal `expected.nonce` when one is expected. Rejects with an {@link OidcError} naming the
   * first check that failed.
   */
  async verifyIdToken(
    token: string,
    expected: { audience: string; nonce?: string; now?: number },
  ): Promise<IdTokenClaims> {
    const { header, claims, signingInput, signature } = parseToken(token);
    const alg = header['alg'];
    if (!isSupportedAlg(alg)) {
      throw new OidcError('unsupported_algorithm', `alg ${JSON.stringify(alg)} is not accepted`);
    }
    // Checked before the signature so that tokens of other issuers never make Berth fetch keys.
    if (claims.iss !== this.#issuer) {
      throw new OidcError('wrong_issuer', `iss ${JSON.stringify(claims.iss)} is not ${this.#issuer}`);
    }
    const kid = header['kid'];
    if (kid !== undefined && typeof kid !== 'string') throw new OidcError('malformed', 'kid is not a string');
    const keys = await this.#keysFor(kid, alg);
    if (!keys.some((key) => verifySignature(alg, key, signingInput, signature))) {
      throw new OidcError('bad_signature', 'the signature does not match the token');
    }

    checkAudience(claims, expected.audience);
    checkTimes(claims, expected.now ?? Date.now() / 1000);
    if (expected.nonce !== undefined && claims.nonce !== expected.nonce) {
      throw new OidcError('wrong_nonce', 'the nonce is not the one sent with the authorization request');
    }
    return claims;
  }

  /**
   * The URL of the provider's authorization endpoint that starts a login for this client: the
   * authorization-code flow with PKCE (`S256`), the given `state` and `nonce`, and `scope`
   * (`openid` unless given; it must include `openid`).
   */
  async authorizationUrl(params: {
    clientId: string;
    redirectUri: string;
    scope?: string;
    state: string;
    nonce: string;
    codeChallenge: string;
  }): Promise<string> {
    const scope = params.scope ?? 'openid';
    if (!scope.split(' ').includes('openid')) {
      throw new TypeError(`scope ${JSON.stringify(scope)} lacks openid, so no ID token would be issued`);
    }
    const { authorizationEndpoint } = await this.#discover();
    if (authorizationEndpoint === undefined) {
      throw new OidcError('discovery_failed', 'the discovery document names no authorization_endpoint');
    }
    const url = new URL(authorizationEndpoint);
    // `set` keeps any query the provider put in its endpoint, as OAuth 2.0 requires.
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', params.clientId);
    url.searchParams.set('redirect_uri', params.redirectUri);
    url.searchParams.set('scope', scope);
    url.searchParams.set('state', params.state);
    url.searchParams.set('nonce', params.nonce);
    url.searchParams.set('code_challenge', params.codeChallenge);
    url.searchParams.set('code_challenge_method', 'S256');
    return url.href;
  }

  /**
   * Redeems an authorization code at the token endpoint, authenticating with `client_secret_basic`
   * when there is a secret and sending only `client_id` otherwise, and verifies the returned ID
   * token for `clientId` (and `nonce`, when given). Rejects with `exchange_failed` when the
   * provider refuses the code or returns no ID token, and with the verification's reason when the
   * ID token does not verify.
   */
  async exchangeCode(params: {
    clientId: string;
    clientSecret?: string;
    redirectUri: string;
    code: string;
    codeVerifier: string;
    nonce?: string;
  }): Promise<{ idToken: string; accessToken: string | null; claims: IdTokenClaims }> {
    const { tokenEndpoint } = await this.#discover();
    if (tokenEndpoint === undefined) {
      throw new OidcError('discovery_failed', 'the discovery document names no token_endpoint');
    }
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.code,
      redirect_uri: params.redirectUri,
      code_verifier: params.codeVerifier,
    });
    const headers: Record<string, string> = {
      accept: 'application/json',
      'content-type': 'application/x-www-form-urlencoded',
    };
    if (params.clientSecret === undefined) {
      form.set('client_id', params.clientId);
    } else {
      // RFC 6749, section 2.3.1: both parts are form-encoded before they are joined.
      const credentials = `${formEncode(params.clientId)}:${formEncode(params.clientSecret)}`;
      headers['authorization'] = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
    }

    let response: Response;
    let text: string;
    try {
      response = await fetch(tokenEndpoint, {
        method: 'POST',
        headers,
        body: form,
        redirect: 'error',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await readBounded(response);
    } catch (error) {
      throw new OidcError('exchange_failed', `the token endpoint did not answer: ${describe(error)}`, {
        cause: error,
      });
    }
    const body = parseJson(text);
    if (response.status !== 200 || !isRecord(body)) {
      throw new OidcError(
        'exchange_failed',
        `the token endpoint answered HTTP ${response.status}${oauthError(body)}`,
      );
    }
    const idToken = body['id_token'];
    const accessToken = body['access_token'];
    if (typeof idToken !== 'string') {
      throw new OidcError('exchange_failed', 'the token endpoint returned no id_token');
    }
    const claims = await this.verifyIdToken(idToken, {
      audience: params.clientId,
      ...(params.nonce === undefined ? {} : { nonce: params.nonce }),
    });
    return { idToken, accessToken: typeof accessToken === 'string' ? accessToken : null, claims };
  }

  /** The discovery document, fetched once; a failed fetch is not cached, so the next call retries. */
  #discover(): Promise<Discovery> {
    this.#discovery ??= this.#fetchDiscovery().catch((error: unknown) => {
      this.#discovery = undefined;
      throw error;
    });
    return this.#discovery;
  }

  async #fetchDiscovery(): Promise<Discovery> {
    const url = `${this.#issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const document = await this.#fetchJson(url, 'the discovery document');
    // OpenID Connect Discovery 1.0, section 4.3: a document naming another issuer is not this one's.
    if (document['issuer'] !== this.#issuer) {
      throw new OidcError(
        'discovery_failed',
        `the discovery document names issuer ${JSON.stringify(document['issuer'])}, not ${this.#issuer}`,
      );
    }
    const jwksUri = document['jwks_uri'];
    if (typeof jwksUri !== 'string') {
      throw new OidcError('discovery_failed', 'the discovery document names no jwks_uri');
    }
    const authorizationEndpoint = document['authorization_endpoint'];
    const tokenEndpoint = document['token_endpoint'];
    return {
      jwksUri,
      authorizationEndpoint: typeof authorizationEndpoint === 'string' ? authorizationEndpoint : undefined,
      tokenEndpoint: typeof tokenEndpoint === 'string' ? tokenEndpoint : undefined,
    };
  }

  /**
   * The keys that may have signed a token with this `kid` and `alg`. Without a `kid` the provider
   * must publish exactly one key for the algorithm, as OpenID Connect Core 10.1 requires.
   */
  async #keysFor(kid: string | undefined, alg: SupportedAlg): Promise<readonly VerificationKey[]> {
    let keySet = this.#keySet ?? (await this.#fetchKeySet());
    let keys = selectKeys(keySet, kid, alg);
    if (keys.length === 0) {
      // The provider may have rotated its keys; a refetch under way answers that for every caller.
      const inFlight = this.#keySetInFlight;
      if (inFlight !== undefined || Date.now() - this.#lastFetchStartedAt >= JWKS_REFETCH_INTERVAL_MS) {
        keySet = await (inFlight ?? this.#fetchKeySet());
        keys = selectKeys(keySet, kid, alg);
      }
    }
    if (keys.length === 0) {
      const named = kid === undefined ? ' (and the token names no kid)' : ` with kid ${JSON.stringify(kid)}`;
      throw new OidcError('unknown_key', `the provider publishes no ${alg} key${named}`);
    }
    return keys;
  }

  /**
   * Fetches the JWKS; concurrent callers share one request, and only a success replaces the cache.
   * While nothing is cached every call may fetch, so a provider that was down is retried at once.
   */
  #fetchKeySet(): Promise<KeySet> {
    this.#keySetInFlight ??= (async () => {
      this.#lastFetchStartedAt = Date.now();
      try {
        const { jwksUri } = await this.#discover();
        const document = await this.#fetchJson(jwksUri, 'the JWKS');
        const keySet = { keys: parseKeySet(document), fetchedAt: Date.now() };
        this.#keySet = keySet;
        return keySet;
      } finally {
        this.#keySetInFlight = undefined;
      }
    })();
    return this.#keySetInFlight;
  }

  async #fetchJson(url: string, what: string): Promise<Record<string, unknown>> {
    let document: unknown;
    try {
      const response = await fetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      document = JSON.parse(await readBounded(response));
    } catch (error) {
      throw new OidcError('discovery_failed', `could not fetch ${what} from ${url}: ${describe(error)}`, {
        cause: error,
      });
    }
    if (!isRecord(document))
      throw new OidcError('discovery_failed', `${what} at ${url} is not a JSON object`);
    return document;
  }
}

/**
 * A PKCE code verifier (32 random bytes, base64url) and its `S256` code challenge (RFC 7636). The
 * verifier stays with Berth until the code exchange; the challenge goes into the authorization URL.
 */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier, 'ascii').digest('base64url') };
}

interface ParsedToken {
  readonly header: Record<string, unknown>;
  readonly claims: IdTokenClaims;
  readonly signingInput: Buffer;
  readonly signature: Buffer;
}

/** Splits and decodes a compact JWS; refuses anything that is not shaped like an ID token. */
function parseToken(token: string): ParsedToken {
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new OidcError('malformed', `the token is longer than ${MAX_TOKEN_LENGTH} characters`);
  }
  const parts = token.split('.');
  const [headerPart, payloadPart, signaturePart] = parts;
  if (
    parts.length !== 3 ||
    headerPart === undefined ||
    payloadPart === undefined ||
    signaturePart === undefined ||
    !parts.every((part) => BASE64URL.test(part))
  ) {
    throw new OidcError('malformed', 'the token is not a compact JWS');
  }
  const header = decodeJson(headerPart, 'header');
  // RFC 7515, section 4.1.11: extensions Berth does not understand must make the token invalid.
  if ('crit' in header) throw new OidcError('malformed', 'the header has critical extensions');
  const payload = decodeJson(payloadPart, 'payload');
  return {
    header,
    claims: toIdTokenClaims(payload),
    signingInput: Buffer.from(`${headerPart}.${payloadPart}`, 'ascii'),
    signature: Buffer.from(signaturePart, 'base64url'),
  };
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new OidcError('malformed', `the ${what} is not JSON`);
  }
  if (!isRecord(value)) throw new OidcError('malformed', `the ${what} is not a JSON object`);
  return value;
}

/** Checks the types of the claims OpenID Connect Core 2 requires, so later checks can trust them. */
function toIdTokenClaims(payload: Record<string, unknown>): IdTokenClaims {
  const { iss, sub, aud, exp, iat, nonce, nbf, azp } = payload;
  const audOk =
    (typeof aud === 'string' && aud !== '') ||
    (Array.isArray(aud) && aud.length > 0 && aud.every((entry) => typeof entry === 'string'));
  if (
    typeof iss !== 'string' ||
    typeof sub !== 'string' ||
    sub === '' ||
    !audOk ||
    !isFiniteNumber(exp) ||
    !isFiniteNumber(iat) ||
    (nbf !== undefined && !isFiniteNumber(nbf)) ||
    (nonce !== undefined && typeof nonce !== 'string') ||
    (azp !== undefined && typeof azp !== 'string')
  ) {
    throw new OidcError('malformed', 'the payload lacks a required claim or has one of the wrong type');
  }
  return payload as IdTokenClaims;
}

function checkAudience(claims: IdTokenClaims, audience: string): void {
  const audiences = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
  if (!audiences.includes(audience)) {
    throw new OidcError('wrong_audience', `aud ${JSON.stringify(claims.aud)} does not include ${audience}`);
  }
  const { azp } = claims;
  if (audiences.length > 1 && azp !== undefined && azp !== audience) {
    throw new OidcError('wrong_audience', `azp ${JSON.stringify(azp)} is not ${audience}`);
  }
}

function checkTimes(claims: IdTokenClaims, now: number): void {
  if (now - CLOCK_LEEWAY_SECONDS >= claims.exp) {
    throw new OidcError('expired', `the token expired at ${claims.exp}`);
  }
  const { nbf } = claims;
  if (typeof nbf === 'number' && now + CLOCK_LEEWAY_SECONDS < nbf) {
    throw new OidcError('not_yet_valid', `the token is not valid before ${nbf}`);
  }
  if (now + CLOCK_LEEWAY_SECONDS < claims.iat) {
    throw new OidcError('not_yet_valid', `the token was issued in the future, at ${claims.iat}`);
  }
}

/** The usable signature keys of a JWKS; keys Berth cannot use are skipped, not fatal. */
function parseKeySet(document: Record<string, unknown>): VerificationKey[] {
  const { keys } = document;
  if (!Array.isArray(keys)) throw new OidcError('discovery_failed', 'the JWKS has no keys array');
  const usable: VerificationKey[] = [];
  for (const jwk of keys) {
    if (!isRecord(jwk) || (jwk['use'] !== undefined && jwk['use'] !== 'sig')) continue;
    if (jwk['kty'] !== 'RSA' && jwk['kty'] !== 'EC') continue;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk, format: 'jwk' });
    } catch {
      continue;
    }
    const kid = jwk['kid'];
    const alg = jwk['alg'];
    usable.push({
      kid: typeof kid === 'string' ? kid : undefined,
      key,
      alg: typeof alg === 'string' ? alg : undefined,
    });
  }
  return usable;
}

function selectKeys(keySet: KeySet, kid: string | undefined, alg: SupportedAlg): VerificationKey[] {
  const compatible = keySet.keys.filter((candidate) => keyFits(candidate, alg));
  if (kid !== undefined) return compatible.filter((candidate) => candidate.kid === kid);
  return compatible.length === 1 ? compatible : [];
}

/** Whether a key can verify `alg`; the key type must match, so no key serves two families. */
function keyFits(candidate: VerificationKey, alg: SupportedAlg): boolean {
  if (candidate.alg !== undefined && candidate.alg !== alg) return false;
  const { key } = candidate;
  switch (alg) {
    case 'RS256':
    case 'PS256':
      return (
        key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS
      );
    case 'ES256':
      return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  }
}

function verifySignature(
  alg: SupportedAlg,
  candidate: VerificationKey,
  signingInput: Buffer,
  signature: Buffer,
): boolean {
  const { key } = candidate;
  try {
    switch (alg) {
      case 'RS256':
        return verify('sha256', signingInput, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case 'PS256':
        return verify(
          'sha256',
          signingInput,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
          signature,
        );
      case 'ES256':
        // JWS carries the raw r||s pair (RFC 7518, section 3.4), not DER.
        return (
          signature.length === 64 &&
          verify('sha256', signingInput, { key, dsaEncoding: 'ieee-p1363' }, signature)
        );
    }
  } catch {
    return false;
  }
}

/** Reads a response body as UTF-8, refusing more than {@link MAX_DOCUMENT_BYTES}. */
async function readBounded(response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > MAX_DOCUMENT_BYTES) {
    await response.body?.cancel();
    throw new Error(`the answer is larger than ${MAX_DOCUMENT_BYTES} bytes`);
  }
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<unknown>) {
    // fetch bodies are byte streams; the check turns the DOM typing's `any` into bytes.
    if (!(chunk instanceof Uint8Array)) throw new Error('the answer is not a byte stream');
    size += chunk.byteLength;
    if (size > MAX_DOCUMENT_BYTES) throw new Error(`the answer is larger than ${MAX_DOCUMENT_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `application/x-www-form-urlencoded` encoding of one value. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/** The OAuth error of a token endpoint answer, for messages; empty when there is none. */
function oauthError(body: unknown): string {
  if (!isRecord(body) || typeof body['error'] !== 'string') return '';
  const description = body['error_description'];
  return ` (${body['error']}${typeof description === 'string' ? `: ${description}` : ''})`;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
}

/** The JSON value of `text`, or undefined when it is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
