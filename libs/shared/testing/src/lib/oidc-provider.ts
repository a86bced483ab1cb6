import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { spawnOwned } from './owned-child';

/**
 * The script that runs the provider. oidc-provider is ESM-only, so it runs in a child `node`
 * rather than inside Jest's CommonJS module system.
 */
const PROVIDER_SCRIPT = join(__dirname, 'oidc-provider.mjs');

/** How long a freshly spawned provider may take to announce its issuer and serve discovery. */
const READY_TIMEOUT_MS = 15_000;

/** A login that bounces between the provider's pages more often than this is stuck in a loop. */
const MAX_LOGIN_HOPS = 10;

/** Each request to the provider gets this long; it answers loopback requests in milliseconds. */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Claims that every provider may put into ID tokens without being told: common profile claims and
 * those that CI systems (GitHub Actions, GitLab CI) put into their workload identity tokens.
 */
export const DEFAULT_OIDC_TEST_CLAIMS: readonly string[] = [
  'name',
  'preferred_username',
  'email',
  'email_verified',
  'groups',
  'actor',
  'environment',
  'event_name',
  'job_workflow_ref',
  'namespace_path',
  'project_path',
  'ref',
  'ref_type',
  'repository',
  'repository_id',
  'repository_owner',
  'run_id',
  'sha',
  'workflow',
];

/** Claims the provider sets itself; a login cannot choose them. */
const RESERVED_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'nbf',
  'jti',
  'nonce',
  'azp',
  'sid',
  'auth_time',
  'acr',
  'amr',
  'at_hash',
  'c_hash',
  's_hash',
]);

/** The ID token signature algorithms the provider has keys for. */
export type OidcTestSigningAlg = 'RS256' | 'PS256' | 'ES256';

/** A client registered with the provider from the start. */
export interface OidcTestClient {
  readonly clientId: string;
  /**
   * Makes the client confidential: it authenticates to the token endpoint with
   * `client_secret_basic`. Without one the client is public and sends only its `client_id`.
   */
  readonly clientSecret?: string;
  readonly redirectUris: readonly string[];
  /** How the provider signs this client's ID tokens; RS256 unless given. */
  readonly idTokenSigningAlg?: OidcTestSigningAlg;
}

/** What {@link startOidcProvider} configures. */
export interface StartOidcProviderOptions {
  readonly clients?: readonly OidcTestClient[];
  /**
   * Names of claims that logins may give besides {@link DEFAULT_OIDC_TEST_CLAIMS}. The provider
   * refuses a login with a claim it was not started with rather than silently dropping it.
   */
  readonly claims?: readonly string[];
}

/** Who logs in at the provider, and what the ID tokens issued for that login say. */
export interface OidcTestLogin {
  /** The `sub` of the ID token. */
  readonly sub: string;
  /** Further claims of the ID token; each value must survive JSON. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** The ID token's lifetime (`exp - iat`) in whole seconds; one hour unless given. */
  readonly expiresIn?: number;
}

/** What {@link OidcProviderServer.issueIdToken} asks the provider for. */
export interface IssueIdTokenOptions extends OidcTestLogin {
  /**
   * The audience, which the provider sets to the client id. A client configured at start is used
   * with its secret and first redirect URI; any other id is registered as a public client.
   */
  readonly aud: string;
  /** The `nonce` claim; a random one unless given. */
  readonly nonce?: string;
}

/** A running OpenID Provider that the caller owns. */
export interface OidcProviderServer {
  /** `http://127.0.0.1:<port>`, without a trailing slash, exactly as the tokens' `iss`. */
  readonly issuer: string;
  /** Where the provider publishes its public signing keys. */
  readonly jwksUri: string;
  /**
   * Runs the provider's authorization-code flow with PKCE for client `aud` as `sub` and returns
   * the ID token the token endpoint hands out: signed by the provider with a key in its JWKS.
   */
  issueIdToken(options: IssueIdTokenOptions): Promise<string>;
  /**
   * Plays the browser of a user who opens `authorizationUrl`, logs in as `login.sub` and consents
   * to everything asked. Returns the URL the provider finally redirects to: the client's redirect
   * URI with `code` and `state`, or with `error` when the provider refused the request. Rejects
   * when the provider answers with an error page instead of a redirect.
   */
  completeLogin(authorizationUrl: string, login: OidcTestLogin): Promise<string>;
  /** Kills the provider. Safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Starts a real OpenID Provider (oidc-provider) in a child `node` process, listening on a free
 * port of 127.0.0.1, with fresh RSA and P-256 signing keys, the given clients, and a login step
 * that tests drive through {@link OidcProviderServer.completeLogin} instead of a browser. Every
 * claim a login gives ends up in its ID tokens. PKCE is required of every client, and only the
 * authorization-code flow is enabled.
 *
 * Resolves once the provider serves its discovery document; rejects, leaving no process behind,
 * when it does not. Independent calls may run at once.
 */
export async function startOidcProvider(options: StartOidcProviderOptions = {}): Promise<OidcProviderServer> {
  const clients = options.clients ?? [];
  const extraClaims = options.claims ?? [];
  const reserved = extraClaims.filter((name) => RESERVED_CLAIMS.has(name));
  if (reserved.length > 0) throw new TypeError(`claims the provider sets itself: ${reserved.join(', ')}`);
  const settings = { clients, claims: [...new Set([...DEFAULT_OIDC_TEST_CLAIMS, ...extraClaims])] };

  const running = await launch(JSON.stringify(settings));
  try {
    const discovery = await discover(running.issuer);
    const completeLogin = (authorizationUrl: string, login: OidcTestLogin): Promise<string> =>
      followLogin(running.issuer, authorizationUrl, login);
    return {
      issuer: running.issuer,
      jwksUri: discovery.jwksUri,
      completeLogin,
      issueIdToken: (issue) => issueIdToken(running.issuer, discovery, clients, completeLogin, issue),
      stop: running.stop,
    };
  } catch (error) {
    await running.stop();
    throw error;
  }
}

interface Discovery {
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  readonly jwksUri: string;
}

/** Reads the endpoints from the discovery document; also proves that the provider answers. */
async function discover(issuer: string): Promise<Discovery> {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`, {
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const body: unknown = await response.json();
  if (
    !response.ok ||
    !isRecord(body) ||
    body['issuer'] !== issuer ||
    typeof body['authorization_endpoint'] !== 'string' ||
    typeof body['token_endpoint'] !== 'string' ||
    typeof body['jwks_uri'] !== 'string'
  ) {
    throw new Error(`unexpected discovery document (HTTP ${response.status}): ${JSON.stringify(body)}`);
  }
  return {
    authorizationEndpoint: body['authorization_endpoint'],
    tokenEndpoint: body['token_endpoint'],
    jwksUri: body['jwks_uri'],
  };
}

async function issueIdToken(
  issuer: string,
  discovery: Discovery,
  clients: readonly OidcTestClient[],
  completeLogin: (authorizationUrl: string, login: OidcTestLogin) => Promise<string>,
  options: IssueIdTokenOptions,
): Promise<string> {
  const configured = clients.find((client) => client.clientId === options.aud);
  const redirectUri = configured?.redirectUris[0] ?? (await registerClient(issuer, options.aud));
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');

  const authorization = new URL(discovery.authorizationEndpoint);
  authorization.search = new URLSearchParams({
    response_type: 'code',
    client_id: options.aud,
    redirect_uri: redirectUri,
    scope: 'openid',
    state,
    nonce: options.nonce ?? randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const callback = new URL(await completeLogin(authorization.href, options));
  const code = callback.searchParams.get('code');
  if (code === null || callback.searchParams.get('state') !== state) {
    throw new Error(`the provider did not return a code: ${callback.href}`);
  }

  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
  });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (configured?.clientSecret === undefined) {
    form.set('client_id', options.aud);
  } else {
    const credentials = `${encodeURIComponent(options.aud)}:${encodeURIComponent(configured.clientSecret)}`;
    headers['authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  const response = await fetch(discovery.tokenEndpoint, {
    method: 'POST',
    headers,
    body: form,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const body: unknown = await response.json();
  if (!response.ok || !isRecord(body) || typeof body['id_token'] !== 'string') {
    throw new Error(`the token endpoint answered HTTP ${response.status}: ${JSON.stringify(body)}`);
  }
  return body['id_token'];
}

/** Registers a public client with this id and returns its redirect URI. */
async function registerClient(issuer: string, clientId: string): Promise<string> {
  const response = await fetch(`${issuer}/__test/clients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const body: unknown = await response.json();
  if (!response.ok || !isRecord(body) || typeof body['redirectUri'] !== 'string') {
    throw new Error(`could not register client ${clientId}: ${JSON.stringify(body)}`);
  }
  return body['redirectUri'];
}

/**
 * Follows the provider's redirects with a fresh cookie jar, as a new browser would, and posts the
 * login wherever the provider asks for an interaction.
 */
async function followLogin(issuer: string, authorizationUrl: string, login: OidcTestLogin): Promise<string> {
  const origin = new URL(issuer).origin;
  const cookies = new Map<string, string>();
  let url = new URL(authorizationUrl);
  for (let hop = 0; hop < MAX_LOGIN_HOPS; hop++) {
    const atProvider =
      url.origin === origin && (url.pathname.startsWith('/auth') || url.pathname.startsWith('/interaction/'));
    if (!atProvider) return url.href;

    const interaction = url.pathname.startsWith('/interaction/');
    const headers: Record<string, string> = {};
    if (cookies.size > 0) {
      headers['cookie'] = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    }
    if (interaction) headers['content-type'] = 'application/json';
    const response = await fetch(url, {
      method: interaction ? 'POST' : 'GET',
      headers,
      ...(interaction
        ? { body: JSON.stringify({ sub: login.sub, claims: login.claims, expiresIn: login.expiresIn }) }
        : {}),
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    storeCookies(cookies, response.headers.getSetCookie());
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || location === null) {
      throw new Error(`${url.pathname} answered HTTP ${response.status} instead of a redirect: ${text}`);
    }
    url = new URL(location, url);
  }
  throw new Error(`the login did not reach the client after ${MAX_LOGIN_HOPS} redirects`);
}

/** Keeps what a browser would keep; the provider deletes a cookie by expiring it. */
function storeCookies(cookies: Map<string, string>, setCookies: readonly string[]): void {
  for (const setCookie of setCookies) {
    const [pair = '', ...attributes] = setCookie.split(';');
    const separator = pair.indexOf('=');
    if (separator <= 0) continue;
    const name = pair.slice(0, separator).trim();
    const value = pair.slice(separator + 1).trim();
    const expires = attributes
      .map((attribute) => /^\s*expires=(.*)$/i.exec(attribute)?.[1])
      .find((date) => date !== undefined);
    const expired = expires !== undefined && Date.parse(expires) <= Date.now();
    if (value === '' || expired) cookies.delete(name);
    else cookies.set(name, value);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Launched {
  readonly issuer: string;
  readonly stop: () => Promise<void>;
}

/** Spawns the provider script and waits for the line that names its issuer. */
async function launch(settings: string): Promise<Launched> {
  // stdin stays a pipe: the child exits when it closes, so it dies with this process.
  const { child, output, stop } = spawnOwned(process.execPath, [PROVIDER_SCRIPT, settings], {
    stdin: 'pipe',
    ownStdout: true,
  });

  try {
    const issuer = await readIssuer(child, output);
    // Keep draining stdout, so that the child never blocks on a full pipe.
    child.stdout?.resume();
    return { issuer, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Resolves with the issuer from the child's first line of output. */
async function readIssuer(child: ChildProcess, output: () => string): Promise<string> {
  const stdout = child.stdout;
  if (stdout === null) throw new Error('the provider has no stdout');
  return new Promise<string>((resolveIssuer, reject) => {
    let line = '';
    const cleanUp = (): void => {
      clearTimeout(timer);
      stdout.removeListener('data', onData);
      child.removeListener('exit', onExit);
    };
    const timer = setTimeout(() => {
      cleanUp();
      reject(new Error(`the OpenID Provider did not start within ${READY_TIMEOUT_MS} ms:\n${output()}`));
    }, READY_TIMEOUT_MS);
    const onExit = (code: number | null): void => {
      cleanUp();
      reject(new Error(`the OpenID Provider exited during start (code ${code}):\n${output()}`));
    };
    const onData = (chunk: Buffer): void => {
      line += chunk.toString('utf8');
      const end = line.indexOf('\n');
      if (end < 0) return;
      cleanUp();
      const issuer = parseAnnouncement(line.slice(0, end));
      if (issuer === undefined) reject(new Error(`unexpected first line from the OpenID Provider: ${line}`));
      else resolveIssuer(issuer);
    };
    stdout.on('data', onData);
    child.once('exit', onExit);
  });
}

/** The issuer from the child's `{"issuer": …}` line, or undefined when the line is not that. */
function parseAnnouncement(line: string): string | undefined {
  try {
    const announced: unknown = JSON.parse(line);
    return isRecord(announced) && typeof announced['issuer'] === 'string' ? announced['issuer'] : undefined;
  } catch {
    return undefined;
  }
}
