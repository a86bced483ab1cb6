// A real OpenID Provider (panva's oidc-provider) for Berth's tests, run as a child process by
// oidc-provider.ts: the library is ESM-only and cannot be loaded by Jest's CommonJS runtime.
//
// Usage: node oidc-provider.mjs '<JSON settings>'. Settings are `{ clients, claims }` as built by
// oidc-provider.ts. The process listens on a free port of 127.0.0.1, prints one JSON line
// `{"issuer":"http://127.0.0.1:<port>"}` once it serves requests, and exits when its stdin closes,
// so that it never outlives the test process that started it, even when that one is killed.
//
// Besides the provider's own endpoints it serves two that a real deployment would implement:
//   POST /interaction/<uid>  JSON `{ sub, claims?, expiresIn? }`: the login and consent "form";
//                            logs `sub` in, grants what was asked, answers 303 to the provider.
//   POST /__test/clients     JSON `{ clientId }`: registers a public client with that id (used
//                            when a test wants an ID token for an audience it did not configure).
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

/** Where the provider sends a client that the test registered on the fly; nothing listens there. */
const AUTO_CLIENT_REDIRECT_URI = 'http://127.0.0.1/berth-oidc-callback';

/** The ID token lifetime when a login does not ask for another one. */
const DEFAULT_ID_TOKEN_TTL_SECONDS = 3600;

/** Request bodies of the test endpoints are tiny; anything larger is a bug in the caller. */
const MAX_BODY_BYTES = 64 * 1024;

const settings = JSON.parse(process.argv[2] ?? '{}');
const claimNames = new Set(settings.claims ?? []);

/** What each login asked for, by the id of the grant it created; read when tokens are issued. */
const logins = new Map();

/** Clients registered through POST /__test/clients, by client id, as stored client metadata. */
const autoClients = new Map();

const server = createServer((req, res) => {
  handler(req, res);
});
let handler = (_req, res) => {
  res.writeHead(503).end();
};

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, configuration());
  const providerCallback = provider.callback();
  handler = (req, res) => {
    route(provider, req, res, providerCallback).catch((error) => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(error) });
      else res.destroy();
    });
  };
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.stdin.on('close', () => process.exit(0));
process.stdin.resume();

function configuration() {
  return {
    clients: (settings.clients ?? []).map((client) => ({
      client_id: client.clientId,
      ...(client.clientSecret === undefined
        ? { token_endpoint_auth_method: 'none' }
        : { client_secret: client.clientSecret, token_endpoint_auth_method: 'client_secret_basic' }),
      redirect_uris: client.redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: client.idTokenSigningAlg ?? 'RS256',
    })),
    adapter: MapAdapter,
    findAccount,
    // Every claim an account has goes into every ID token, as CI providers do with theirs; the
    // provider drops claims it was not told about, so the test helper declares them all here.
    claims: { openid: ['sub', ...claimNames] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    jwks: { keys: signingKeys() },
    pkce: { required: () => true },
    responseTypes: ['code'],
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 600,
      IdToken: (ctx) => logins.get(ctx.oidc.entities.Grant?.jti)?.expiresIn ?? DEFAULT_ID_TOKEN_TTL_SECONDS,
      Interaction: 600,
      Session: 600,
    },
  };
}

/** One RSA key (RS256 and PS256) and one P-256 key (ES256), fresh for every process. */
function signingKeys() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [
    { ...rsa, kid: `rsa-${randomUUID()}`, use: 'sig' },
    { ...ec, kid: `ec-${randomUUID()}`, use: 'sig' },
  ];
}

/** The account is whoever the login named; its claims are those the login asked for. */
function findAccount(ctx, sub, token) {
  const grantId = token?.grantId ?? ctx.oidc.entities.Grant?.jti;
  const login = grantId === undefined ? undefined : logins.get(grantId);
  return { accountId: sub, claims: () => ({ ...login?.claims, sub }) };
}

async function route(provider, req, res, providerCallback) {
  const { pathname } = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method === 'POST' && pathname.startsWith('/interaction/')) {
    await interact(provider, req, res);
  } else if (req.method === 'POST' && pathname === '/__test/clients') {
    await registerClient(provider, req, res);
  } else {
    providerCallback(req, res);
  }
}

/** Logs the requested subject in and grants everything the client asked for, in one step. */
async function interact(provider, req, res) {
  const body = await readJson(req);
  const problem = loginProblem(body);
  if (problem !== undefined) {
    sendJson(res, 400, { error: 'invalid_request', error_description: problem });
    return;
  }
  const { prompt, params, grantId } = await provider.interactionDetails(req, res);
  const grant =
    (grantId === undefined ? undefined : await provider.Grant.find(grantId)) ??
    new provider.Grant({ accountId: body.sub, clientId: params.client_id });
  if (typeof params.scope === 'string') grant.addOIDCScope(params.scope);
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const savedGrantId = await grant.save();
  logins.set(savedGrantId, { claims: body.claims ?? {}, expiresIn: body.expiresIn });
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: body.sub }, consent: { grantId: savedGrantId } },
    { mergeWithLastSubmission: false },
  );
}

/** Why a login body cannot be honoured, or undefined when it can. */
function loginProblem(body) {
  if (typeof body?.sub !== 'string' || body.sub === '') return 'sub must be a non-empty string';
  if (body.claims !== undefined && (typeof body.claims !== 'object' || body.claims === null)) {
    return 'claims must be an object';
  }
  const unknown = Object.keys(body.claims ?? {}).filter((name) => !claimNames.has(name));
  if (unknown.length > 0) {
    // Silently dropped claims would make tests pass for the wrong reason.
    return `the provider was not started with these claims: ${unknown.join(', ')}`;
  }
  const { expiresIn } = body;
  if (expiresIn !== undefined && !(Number.isInteger(expiresIn) && expiresIn > 0)) {
    return 'expiresIn must be a positive integer';
  }
  return undefined;
}

async function registerClient(provider, req, res) {
  const body = await readJson(req);
  const clientId = body?.clientId;
  if (typeof clientId !== 'string' || clientId === '') {
    sendJson(res, 400, {
      error: 'invalid_request',
      error_description: 'clientId must be a non-empty string',
    });
    return;
  }
  if ((settings.clients ?? []).some((client) => client.clientId === clientId)) {
    sendJson(res, 409, { error: 'invalid_request', error_description: `${clientId} is configured` });
    return;
  }
  autoClients.set(clientId, {
    client_id: clientId,
    token_endpoint_auth_method: 'none',
    redirect_uris: [AUTO_CLIENT_REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  });
  // Proves the metadata valid now rather than at the first authorization request.
  await provider.Client.find(clientId);
  sendJson(res, 200, { clientId, redirectUri: AUTO_CLIENT_REDIRECT_URI });
}

async function readJson(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** Everything the provider stores lives in this process; clients come from {@link autoClients}. */
const store = new Map();

/**
 * A storage adapter over a Map. The provider's built-in one is an LRU of 1,000 entries shared by
 * every model, which would evict the clients that tests register once they issue many tokens.
 */
class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    if (this.model === 'Client') {
      autoClients.set(id, payload);
      return;
    }
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(this.key(id), { id, payload, expiresAt });
  }

  async find(id) {
    if (this.model === 'Client') return autoClients.get(id);
    const entry = store.get(this.key(id));
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(this.key(id));
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.uid === uid) return this.find(entry.id);
    }
    return undefined;
  }

  async findByUserCode() {
    return undefined;
  }

  async consume(id) {
    const payload = await this.find(id);
    if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    if (this.model === 'Client') autoClients.delete(id);
    else store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, entry] of store) {
      if (entry.payload.grantId === grantId) store.delete(key);
    }
  }
}
