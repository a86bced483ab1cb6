import {
  createRemoteJWKSet,
  customFetch as joseFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTVerifyGetKey,
} from 'jose';
import * as client from 'openid-client';

/** Berth as one client of one OpenID Provider, and how long it waits for the provider. */
export interface OidcClientSettings {
  /**
   * The issuer identifier. Discovery is at `${issuer}/.well-known/openid-configuration`, and the
   * discovery document must name this issuer; ID tokens must then carry the document's `issuer`
   * as `iss`, byte for byte.
   */
  readonly issuer: string;
  /** The client id at the provider, which is also the audience its ID tokens must name. */
  readonly clientId: string;
  /**
   * Makes the client confidential: it authenticates to the token endpoint with
   * `client_secret_basic`. Without one the client is public and sends only its `client_id`.
   */
  readonly clientSecret?: string;
  /** Limit for each request to the provider (discovery, JWKS, token), in milliseconds; 5,000 unless given. */
  readonly timeoutMs?: number;
}

/** The claims of an ID token that passed verification. */
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
  /** The provider publishes no usable key for the token's `kid` and `alg`, even after a refetch. */
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
  /** The token endpoint refused the code, could not be reached, or returned no valid ID token. */
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

/** What a successful authorization-code exchange yields. */
export interface RedeemedCode {
  readonly idToken: string;
  readonly accessToken: string;
  readonly claims: IdTokenClaims;
}

/** The signature algorithms Berth accepts; asymmetric only, so a public key never works as a secret. */
const SUPPORTED_ALGS = ['RS256', 'PS256', 'ES256'];

/** Clock skew tolerated between Berth and the provider for `exp`, `nbf` and `iat`, in seconds. */
const CLOCK_LEEWAY_SECONDS = 60;

/** Real ID tokens are a few KiB; a larger one is refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * An unknown `kid` triggers a JWKS refetch (the provider may have rotated keys) at most this often
 * after a successful fetch, so that a stream of forged tokens cannot turn Berth into a traffic
 * generator against the provider.
 */
const JWKS_COOLDOWN_MS = 30_000;

/** Discovery documents, key sets and token responses are small; a larger answer is refused. */
const MAX_DOCUMENT_BYTES = 1024 * 1024;

/** RSA keys below this many bits are not used: they no longer resist factoring. */
const MIN_RSA_BITS = 2048;

const DEFAULT_TIMEOUT_MS = 5_000;

interface Discovered {
  readonly configuration: client.Configuration;
  /** The issuer as the discovery document spells it, which every `iss` must equal. */
  readonly issuer: string;
  /** The provider's signing keys (jose's remote JWKS: cached, refetched for an unknown `kid`). */
  readonly keys: JWTVerifyGetKey;
}

/**
 * The relying-party side of OpenID Connect towards one provider, as one client of it:
 * openid-client does discovery and the authorization-code flow with PKCE (state, nonce, the token
 * exchange and the ID token's validation, signature included); jose verifies ID tokens that arrive
 * outside a login, such as a CI job's. Discovery and the keys are fetched on first use and cached;
 * a failed discovery is not cached, so the next call retries. One instance serves any number of
 * concurrent calls.
 */
export class OidcClient {
  readonly #settings: OidcClientSettings;
  readonly #timeoutMs: number;
  #discovery: Promise<Discovered> | undefined;

  constructor(settings: OidcClientSettings) {
    this.#settings = settings;
    this.#timeoutMs = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /**
   * Verifies an ID token issued by this provider to this client and returns its claims. The
   * signature must be RS256, PS256 or ES256 by a key in the provider's JWKS; `iss` must equal the
   * discovered issuer exactly; `aud` must contain the client id (and `azp`, when present on a
   * token with several audiences, must equal it); `exp`, `nbf` and `iat` must hold at
   * `expected.now` (seconds since the epoch, the current time unless given) with 60 seconds of
   * leeway; and `nonce` must equal `expected.nonce` when one is expected. Rejects with an
   * {@link OidcError} naming the first check that failed.
   */
  async verifyIdToken(
    token: string,
    expected: { nonce?: string; now?: number } = {},
  ): Promise<IdTokenClaims> {
    const { header, claims: unverified } = decodeToken(token);
    const { alg, kid } = header;
    if (typeof alg !== 'string' || !SUPPORTED_ALGS.includes(alg)) {
      throw new OidcError('unsupported_algorithm', `alg ${JSON.stringify(alg)} is not accepted`);
    }
    if (kid !== undefined && typeof kid !== 'string') throw new OidcError('malformed', 'kid is not a string');
    const { issuer, keys } = await this.#discover();
    // Checked before the signature so that tokens of other issuers never make Berth fetch keys.
    if (unverified.iss !== issuer) {
      throw new OidcError('wrong_issuer', `iss ${JSON.stringify(unverified.iss)} is not ${issuer}`);
    }
    const now = expected.now ?? Date.now() / 1000;
    try {
      await jwtVerify(token, keys, {
        issuer,
        audience: this.#settings.clientId,
        algorithms: SUPPORTED_ALGS,
        clockTolerance: CLOCK_LEEWAY_SECONDS,
        currentDate: new Date(now * 1000),
        requiredClaims: ['sub', 'iat', 'exp'],
      });
    } catch (error) {
      throw verificationFailure(error);
    }
    // jose checked the signature, `iss`, `aud`, `exp` and `nbf`; what OpenID Connect adds is here.
    checkAuthorizedParty(unverified, this.#settings.clientId);
    if (now + CLOCK_LEEWAY_SECONDS < unverified.iat) {
      throw new OidcError('not_yet_valid', `the token was issued in the future, at ${unverified.iat}`);
    }
    if (expected.nonce !== undefined && unverified.nonce !== expected.nonce) {
      throw new OidcError('wrong_nonce', 'the nonce is not the one sent with the authorization request');
    }
    return unverified;
  }

  /**
   * The URL of the provider's authorization endpoint that starts a login for this client: the
   * authorization-code flow with PKCE (`S256`), the given `state` and `nonce`, and `scope`
   * (`openid` unless given; it must include `openid`).
   */
  async authorizationUrl(params: {
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
    const { configuration } = await this.#discover();
    if (configuration.serverMetadata().authorization_endpoint === undefined) {
      throw new OidcError('discovery_failed', 'the discovery document names no authorization_endpoint');
    }
    return client.buildAuthorizationUrl(configuration, {
      redirect_uri: params.redirectUri,
      scope,
      state: params.state,
      nonce: params.nonce,
      code_challenge: params.codeChallenge,
      code_challenge_method: 'S256',
    }).href;
  }

  /**
   * Finishes a login at its callback: `callbackUrl` is the redirect URI with the query the
   * provider sent the browser back with. Checks the authorization response (its `state`, and its
   * `iss` when the provider sends one), redeems the code with the PKCE verifier, and validates the
   * returned ID token, its signature by the provider's keys and `expected.nonce` included. Rejects
   * with `exchange_failed` when the provider refuses the code or returns no ID token, and with the
   * failed check's reason when the ID token does not validate.
   */
  async redeem(
    callbackUrl: URL,
    expected: { codeVerifier: string; state: string; nonce: string },
  ): Promise<RedeemedCode> {
    const { configuration } = await this.#discover();
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: expected.codeVerifier,
        expectedState: expected.state,
        expectedNonce: expected.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      throw exchangeFailure(error);
    }
    const claims = tokens.claims();
    if (tokens.id_token === undefined || claims === undefined) {
      throw new OidcError('exchange_failed', 'the token endpoint returned no id_token');
    }
    return { idToken: tokens.id_token, accessToken: tokens.access_token, claims: { ...claims } };
  }

  #discover(): Promise<Discovered> {
    this.#discovery ??= this.#performDiscovery().catch((error: unknown) => {
      this.#discovery = undefined;
      throw error;
    });
    return this.#discovery;
  }

  async #performDiscovery(): Promise<Discovered> {
    const { issuer, clientId, clientSecret } = this.#settings;
    let issuerUrl: URL;
    try {
      issuerUrl = new URL(issuer);
    } catch (error) {
      throw new OidcError('discovery_failed', `issuer ${JSON.stringify(issuer)} is not a URL`, {
        cause: error,
      });
    }
    const insecure = isLoopbackHttp(issuerUrl);
    let configuration: client.Configuration;
    try {
      configuration = await client.discovery(
        issuerUrl,
        clientId,
        { [client.clockTolerance]: CLOCK_LEEWAY_SECONDS },
        clientSecret === undefined ? client.None() : client.ClientSecretBasic(clientSecret),
        {
          timeout: this.#timeoutMs / 1000,
          [client.customFetch]: boundedFetch,
          execute: [
            // openid-client talks to providers over https only. A provider on this machine's
            // loopback interface may speak plain http, since nothing it says crosses a network:
            // a provider run beside Berth, and the tests' provider. (openid-client marks this
            // documented option deprecated only so that it stands out.)
            // eslint-disable-next-line @typescript-eslint/no-deprecated -- loopback only, see above
            ...(insecure ? [client.allowInsecureRequests] : []),
            // Also verify the signature of ID tokens from the token endpoint, not only their
            // claims: a code flow never yields a token that verifyIdToken would refuse.
            client.enableNonRepudiationChecks,
          ],
        },
      );
    } catch (error) {
      throw new OidcError('discovery_failed', `could not discover ${issuer}: ${describe(error)}`, {
        cause: error,
      });
    }
    const metadata = configuration.serverMetadata();
    if (metadata.jwks_uri === undefined) {
      throw new OidcError('discovery_failed', 'the discovery document names no jwks_uri');
    }
    const jwksUri = new URL(metadata.jwks_uri);
    if (jwksUri.protocol !== 'https:' && !(insecure && isLoopbackHttp(jwksUri))) {
      throw new OidcError('discovery_failed', `the jwks_uri ${jwksUri.href} is not https`);
    }
    const remote = createRemoteJWKSet(jwksUri, {
      timeoutDuration: this.#timeoutMs,
      cooldownDuration: JWKS_COOLDOWN_MS,
      [joseFetch]: boundedFetch,
    });
    return { configuration, issuer: metadata.issuer, keys: usableKeys(remote) };
  }
}

/**
 * The key for a token's header from the provider's JWKS, refusing RSA keys that are too short.
 * A JWKS that cannot be fetched is a discovery failure, not a fault of the token.
 */
function usableKeys(remote: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    let key: Awaited<ReturnType<JWTVerifyGetKey>>;
    try {
      key = await remote(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
        throw error;
      }
      throw new OidcError('discovery_failed', `could not fetch the JWKS: ${describe(error)}`, {
        cause: error,
      });
    }
    const { algorithm } = key as { algorithm?: { modulusLength?: unknown } };
    const bits = algorithm?.modulusLength;
    if (typeof bits === 'number' && bits < MIN_RSA_BITS) {
      throw new OidcError(
        'unknown_key',
        `the provider's key ${JSON.stringify(header.kid)} has only ${bits} bits`,
      );
    }
    return key;
  };
}

/** The {@link OidcError} for what jose refused about a token. */
function verificationFailure(error: unknown): OidcError {
  if (error instanceof OidcError) return error;
  if (error instanceof errors.JWTExpired) return new OidcError('expired', error.message, { cause: error });
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return new OidcError('wrong_issuer', error.message, { cause: error });
      case 'aud':
        return new OidcError('wrong_audience', error.message, { cause: error });
      case 'nbf':
      case 'iat':
        return new OidcError('not_yet_valid', error.message, { cause: error });
      default:
        return new OidcError('malformed', error.message, { cause: error });
    }
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new OidcError('bad_signature', 'the signature does not match the token', { cause: error });
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new OidcError('unknown_key', 'the provider publishes no key for the token’s kid and alg', {
      cause: error,
    });
  }
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return new OidcError('unknown_key', 'several keys of the provider fit and the token names no kid', {
      cause: error,
    });
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new OidcError('unsupported_algorithm', error.message, { cause: error });
  }
  if (error instanceof errors.JOSEError) return new OidcError('malformed', error.message, { cause: error });
  throw error;
}

/** The {@link OidcError} for a failed authorization-code exchange: the failed check, if it was one. */
function exchangeFailure(error: unknown): OidcError {
  if (error instanceof client.ClientError) {
    const claim = failedClaim(error);
    if (error.code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED') {
      switch (claim ?? '') {
        case 'nonce':
          return new OidcError('wrong_nonce', 'the ID token’s nonce is not the one sent', { cause: error });
        case 'iss':
          return new OidcError('wrong_issuer', 'the ID token names another issuer', { cause: error });
        case 'aud':
        case 'azp':
          return new OidcError('wrong_audience', 'the ID token is for another client', { cause: error });
        default:
          break;
      }
    }
    if (error.code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED') {
      return claim === 'exp'
        ? new OidcError('expired', 'the ID token has expired', { cause: error })
        : new OidcError('not_yet_valid', `the ID token's ${claim ?? 'time'} lies ahead`, { cause: error });
    }
    if (error.code === 'OAUTH_KEY_SELECTION_FAILED') {
      return new OidcError('unknown_key', 'the provider publishes no key for the ID token', { cause: error });
    }
    if (error.code === 'OAUTH_UNSUPPORTED_OPERATION') {
      return new OidcError('unsupported_algorithm', describe(error), { cause: error });
    }
  }
  if (error instanceof client.ResponseBodyError) {
    const description = error.error_description === undefined ? '' : `: ${error.error_description}`;
    return new OidcError(
      'exchange_failed',
      `the token endpoint answered HTTP ${error.status} (${error.error}${description})`,
      { cause: error },
    );
  }
  return new OidcError('exchange_failed', describe(error), { cause: error });
}

/** The claim an openid-client check names in the chain of causes of its error. */
function failedClaim(error: Error): string | undefined {
  let cause: unknown = error.cause;
  for (let depth = 0; depth < 3 && typeof cause === 'object' && cause !== null; depth++) {
    const { claim } = cause as { claim?: unknown };
    if (typeof claim === 'string') return claim;
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The header and claims of a compact JWS, unverified; refuses anything not shaped like an ID token. */
function decodeToken(token: string): { header: Record<string, unknown>; claims: IdTokenClaims } {
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new OidcError('malformed', `the token is longer than ${MAX_TOKEN_LENGTH} characters`);
  }
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token);
    payload = decodeJwt(token);
  } catch (error) {
    throw new OidcError('malformed', 'the token is not a compact JWS', { cause: error });
  }
  return { header, claims: toIdTokenClaims(payload) };
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

/** OpenID Connect Core 3.1.3.7: a token for several parties names the one it was issued to. */
function checkAuthorizedParty(claims: IdTokenClaims, clientId: string): void {
  const { aud, azp } = claims;
  if (Array.isArray(aud) && aud.length > 1 && azp !== undefined && azp !== clientId) {
    throw new OidcError('wrong_audience', `azp ${JSON.stringify(azp)} is not ${clientId}`);
  }
}

/** Whether a URL is plain http to this machine's loopback interface. */
function isLoopbackHttp(url: URL): boolean {
  return (
    url.protocol === 'http:' &&
    (url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname))
  );
}

/**
 * `fetch` that refuses an answer larger than {@link MAX_DOCUMENT_BYTES}, for openid-client and
 * jose alike: the provider is trusted with its keys, not with Berth's memory.
 */
async function boundedFetch(url: string, init: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > MAX_DOCUMENT_BYTES) {
    await response.body?.cancel();
    throw new Error(`${url} answered with more than ${MAX_DOCUMENT_BYTES} bytes`);
  }
  if (response.body === null) return response;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<unknown>) {
    // fetch bodies are byte streams; the check turns the DOM typing's `any` into bytes.
    if (!(chunk instanceof Uint8Array)) throw new Error(`${url} did not answer with bytes`);
    size += chunk.byteLength;
    if (size > MAX_DOCUMENT_BYTES)
      throw new Error(`${url} answered with more than ${MAX_DOCUMENT_BYTES} bytes`);
    chunks.push(chunk);
  }
  return new Response(Buffer.concat(chunks), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
