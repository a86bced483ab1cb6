import {
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type JsonWebKey,
} from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getFreePort, startOidcProvider, type OidcProviderServer } from '@berth/testing';
import { calculatePKCECodeChallenge, randomPKCECodeVerifier } from 'openid-client';
import { OidcClient, type OidcErrorReason } from './oidc-client';

const REDIRECT_URI = 'http://127.0.0.1:9/oidc/callback';
const SECRET = 'correct horse battery staple';

/** Splits a compact JWS into its decoded header and payload. */
function open(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header = '', payload = ''] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}

/** Builds a compact JWS from the given parts, signed by `signer` over the signing input. */
function forge(header: object, payload: object, signer: (input: Buffer) => Buffer): string {
  const encode = (part: object): string => Buffer.from(JSON.stringify(part)).toString('base64url');
  const input = `${encode(header)}.${encode(payload)}`;
  return `${input}.${signer(Buffer.from(input)).toString('base64url')}`;
}

/** The URL that `fetch` was called with. */
function urlOf(input: string | URL | Request): string {
  if (typeof input === 'string') return input;
  return input instanceof URL ? input.href : input.url;
}

/** A server on 127.0.0.1 that answers every request with `body` as JSON. */
async function serveJson(body: () => unknown): Promise<{ url: string; server: Server }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body()));
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const refused = (reason: OidcErrorReason): unknown => expect.objectContaining({ name: 'OidcError', reason });

describe('OidcClient against a real OpenID Provider', () => {
  let provider: OidcProviderServer;
  let otherProvider: OidcProviderServer;

  beforeAll(async () => {
    [provider, otherProvider] = await Promise.all([
      startOidcProvider({
        clients: [
          { clientId: 'berth', clientSecret: SECRET, redirectUris: [REDIRECT_URI] },
          { clientId: 'berth-cli', redirectUris: [REDIRECT_URI] },
          { clientId: 'berth-ps', redirectUris: [REDIRECT_URI], idTokenSigningAlg: 'PS256' },
          { clientId: 'berth-es', redirectUris: [REDIRECT_URI], idTokenSigningAlg: 'ES256' },
        ],
      }),
      startOidcProvider(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([provider.stop(), otherProvider.stop()]);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  /** Berth as the client `clientId` of the provider (a confidential one for `berth`). */
  const clientOf = (
    clientId = 'berth',
    clientSecret: string | undefined = clientId === 'berth' ? SECRET : undefined,
  ) =>
    new OidcClient({
      issuer: provider.issuer,
      clientId,
      ...(clientSecret !== undefined && { clientSecret }),
    });

  /** A real token from the provider, for tests that alter it. */
  const realToken = () =>
    provider.issueIdToken({ sub: 'alice', aud: 'berth', claims: { repository: 'acme/app' } });

  async function rsaJwk(): Promise<JsonWebKey & { kid: string }> {
    const jwks = (await (await fetch(provider.jwksUri)).json()) as { keys: (JsonWebKey & { kid: string })[] };
    const key = jwks.keys.find((candidate) => candidate.kty === 'RSA');
    if (key === undefined) throw new Error('the provider publishes no RSA key');
    return key;
  }

  describe('verifyIdToken', () => {
    it('verifies an ID token of the provider and returns its claims, custom ones included', async () => {
      const sut = clientOf();
      const token = await provider.issueIdToken({
        sub: 'repo:acme/app:ref:refs/heads/main',
        aud: 'berth',
        nonce: 'n-0S6_WzA2Mj',
        claims: { repository: 'acme/app', ref: 'refs/heads/main', groups: ['dev', 'ops'] },
      });

      const claims = await sut.verifyIdToken(token, { nonce: 'n-0S6_WzA2Mj' });

      expect(open(token).header['alg']).toBe('RS256');
      expect(claims).toMatchObject({
        iss: provider.issuer,
        sub: 'repo:acme/app:ref:refs/heads/main',
        aud: 'berth',
        nonce: 'n-0S6_WzA2Mj',
        repository: 'acme/app',
        ref: 'refs/heads/main',
        groups: ['dev', 'ops'],
      });
      expect(claims.exp).toBeGreaterThan(claims.iat);
    });

    it.each([
      ['PS256', 'berth-ps'],
      ['ES256', 'berth-es'],
    ])('verifies %s signatures', async (alg, clientId) => {
      const sut = clientOf(clientId);
      const token = await provider.issueIdToken({ sub: 'alice', aud: clientId });

      expect(open(token).header['alg']).toBe(alg);
      await expect(sut.verifyIdToken(token)).resolves.toMatchObject({ sub: 'alice' });
    });

    it('refuses a token issued to another client', async () => {
      const sut = clientOf();
      const token = await provider.issueIdToken({ sub: 'alice', aud: 'someone-else' });

      await expect(sut.verifyIdToken(token)).rejects.toEqual(refused('wrong_audience'));
    });

    it('refuses a token of another provider, without fetching that provider’s keys', async () => {
      const sut = clientOf();
      const token = await otherProvider.issueIdToken({ sub: 'alice', aud: 'berth' });
      const fetchSpy = jest.spyOn(globalThis, 'fetch');

      await expect(sut.verifyIdToken(token)).rejects.toEqual(refused('wrong_issuer'));
      expect(fetchSpy.mock.calls.map(([input]) => urlOf(input))).not.toContain(otherProvider.jwksUri);
      expect(fetchSpy.mock.calls.map(([input]) => urlOf(input))).not.toContain(provider.jwksUri);
    });

    it('refuses a token once it expired and the minute of leeway passed', async () => {
      const sut = clientOf();
      const token = await provider.issueIdToken({ sub: 'alice', aud: 'berth', expiresIn: 1 });
      const { iat, exp } = await sut.verifyIdToken(token);
      expect(exp - iat).toBe(1);

      await expect(sut.verifyIdToken(token, { now: exp + 59 })).resolves.toBeDefined();
      await expect(sut.verifyIdToken(token, { now: exp + 61 })).rejects.toEqual(refused('expired'));
    });

    it('refuses a token issued more than a minute in the future', async () => {
      const sut = clientOf();
      const token = await realToken();
      const { iat } = open(token).payload as { iat: number };

      await expect(sut.verifyIdToken(token, { now: iat - 59 })).resolves.toBeDefined();
      await expect(sut.verifyIdToken(token, { now: iat - 61 })).rejects.toEqual(refused('not_yet_valid'));
    });

    it('refuses a token whose payload was altered', async () => {
      const sut = clientOf();
      const [header, , signature] = (await realToken()).split('.');
      const payload = { ...open(await realToken()).payload, repository: 'acme/secrets' };
      const tampered = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;

      await expect(sut.verifyIdToken(tampered)).rejects.toEqual(refused('bad_signature'));
    });

    it('refuses an unsigned token (alg none)', async () => {
      const sut = clientOf();
      const { payload } = open(await realToken());
      const unsigned = forge({ alg: 'none' }, payload, () => Buffer.alloc(0));

      await expect(sut.verifyIdToken(unsigned)).rejects.toEqual(refused('unsupported_algorithm'));
    });

    it('refuses an HS256 token keyed with the provider’s public key (algorithm confusion)', async () => {
      const sut = clientOf();
      const { payload } = open(await realToken());
      const jwk = await rsaJwk();
      const publicPem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      const confused = forge({ alg: 'HS256', kid: jwk.kid }, payload, (input) =>
        createHmac('sha256', publicPem).update(input).digest(),
      );

      await expect(sut.verifyIdToken(confused)).rejects.toEqual(refused('unsupported_algorithm'));
    });

    it('refuses a token signed by a key the provider does not publish', async () => {
      const sut = clientOf();
      const { payload } = open(await realToken());
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const rogue = forge({ alg: 'RS256', kid: 'rogue' }, payload, (input) =>
        sign('sha256', input, privateKey),
      );

      await expect(sut.verifyIdToken(rogue)).rejects.toEqual(refused('unknown_key'));
    });

    it('refuses a token that names the provider’s key but was signed by another', async () => {
      const sut = clientOf();
      const { payload } = open(await realToken());
      const { kid } = await rsaJwk();
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const forged = forge({ alg: 'RS256', kid }, payload, (input) => sign('sha256', input, privateKey));

      await expect(sut.verifyIdToken(forged)).rejects.toEqual(refused('bad_signature'));
    });

    it('refuses a token with critical header extensions it does not understand', async () => {
      const sut = clientOf();
      const { payload } = open(await realToken());
      const { kid } = await rsaJwk();
      const critical = forge({ alg: 'RS256', kid, crit: ['berth-x'], 'berth-x': true }, payload, () =>
        Buffer.alloc(256),
      );

      await expect(sut.verifyIdToken(critical)).rejects.toEqual(refused('malformed'));
    });

    it('refetches the keys for an unknown kid at most once every 30 seconds', async () => {
      const sut = clientOf();
      const fetchSpy = jest.spyOn(globalThis, 'fetch');
      const jwksFetches = () =>
        fetchSpy.mock.calls.filter(([input]) => urlOf(input) === provider.jwksUri).length;
      const { payload } = open(await realToken());
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const rogue = forge({ alg: 'RS256', kid: 'rogue' }, payload, (input) =>
        sign('sha256', input, privateKey),
      );
      await sut.verifyIdToken(await realToken());
      const before = jwksFetches();
      expect(before).toBe(1);

      for (let i = 0; i < 3; i++) {
        await expect(sut.verifyIdToken(rogue)).rejects.toEqual(refused('unknown_key'));
      }
      expect(jwksFetches()).toBe(before);

      const later = Date.now() + 31_000;
      jest.spyOn(Date, 'now').mockReturnValue(later);
      const outcomes = await Promise.allSettled(
        [1, 2, 3].map(() => sut.verifyIdToken(rogue, { now: later / 1000 })),
      );
      expect(outcomes).toEqual(outcomes.map(() => ({ status: 'rejected', reason: refused('unknown_key') })));
      expect(jwksFetches()).toBe(before + 1);
    });

    it('picks up a key the provider published after the keys were fetched', async () => {
      // The provider's second key (EC) stands for a rotated-in key: the client first sees a key
      // set without it, then, past the cooldown, the provider's real one.
      const sut = clientOf('berth-es');
      const token = await provider.issueIdToken({ sub: 'alice', aud: 'berth-es' });
      const { kid } = open(token).header as { kid: string };
      const realFetch = globalThis.fetch.bind(globalThis);
      let rotated = false;
      jest.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
        const response = await realFetch(input, init);
        if (rotated || urlOf(input) !== provider.jwksUri) return response;
        const { keys } = (await response.json()) as { keys: { kid: string }[] };
        return Response.json({ keys: keys.filter((key) => key.kid !== kid) });
      });
      await expect(sut.verifyIdToken(token)).rejects.toEqual(refused('unknown_key'));

      rotated = true;
      const later = Date.now() + 31_000;
      jest.spyOn(Date, 'now').mockReturnValue(later);
      await expect(sut.verifyIdToken(token, { now: later / 1000 })).resolves.toMatchObject({ sub: 'alice' });
    });

    it('refuses a token without the expected nonce', async () => {
      const sut = clientOf();
      const token = await provider.issueIdToken({ sub: 'alice', aud: 'berth', nonce: 'issued-nonce' });

      await expect(sut.verifyIdToken(token, { nonce: 'expected-nonce' })).rejects.toEqual(
        refused('wrong_nonce'),
      );
    });

    it('refuses oversized tokens and tokens that are not compact JWS', async () => {
      const sut = clientOf();
      const { payload } = open(await realToken());
      const padded = forge({ alg: 'RS256' }, { ...payload, pad: 'x'.repeat(16 * 1024) }, () =>
        Buffer.alloc(256),
      );
      const noSubject = forge({ alg: 'RS256' }, { ...payload, sub: '' }, () => Buffer.alloc(256));

      for (const token of [padded, noSubject, 'not-a-token', 'a.b', 'e30.e30.e30.e30', '!!.??.**']) {
        await expect(sut.verifyIdToken(token)).rejects.toEqual(refused('malformed'));
      }
    });
  });

  describe('authorization-code flow with PKCE', () => {
    /** Sends a user through the provider and returns what the client needs to redeem the code. */
    async function login(sut: OidcClient) {
      const codeVerifier = randomPKCECodeVerifier();
      const state = randomBytes(16).toString('base64url');
      const nonce = randomBytes(16).toString('base64url');
      const url = await sut.authorizationUrl({
        redirectUri: REDIRECT_URI,
        state,
        nonce,
        codeChallenge: await calculatePKCECodeChallenge(codeVerifier),
      });
      const callback = new URL(
        await provider.completeLogin(url, { sub: 'alice', claims: { email: 'alice@example.com' } }),
      );
      expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT_URI);
      expect(callback.searchParams.get('state')).toBe(state);
      expect(callback.searchParams.get('code')).not.toBeNull();
      return { callback, state, nonce, codeVerifier };
    }

    it('sends the browser to the provider with the code flow, PKCE S256, state and nonce', async () => {
      const sut = clientOf();
      const url = new URL(
        await sut.authorizationUrl({
          redirectUri: REDIRECT_URI,
          scope: 'openid email',
          state: 'the-state',
          nonce: 'the-nonce',
          codeChallenge: 'the-challenge',
        }),
      );

      expect(url.href.startsWith(provider.issuer)).toBe(true);
      expect(Object.fromEntries(url.searchParams)).toEqual({
        client_id: 'berth',
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: 'openid email',
        state: 'the-state',
        nonce: 'the-nonce',
        code_challenge: 'the-challenge',
        code_challenge_method: 'S256',
      });
      await expect(
        sut.authorizationUrl({
          redirectUri: REDIRECT_URI,
          scope: 'email',
          state: 's',
          nonce: 'n',
          codeChallenge: 'c',
        }),
      ).rejects.toThrow(TypeError);
    });

    it('yields a verified ID token with the nonce for a confidential client', async () => {
      const sut = clientOf();
      const { callback, state, nonce, codeVerifier } = await login(sut);

      const result = await sut.redeem(callback, { codeVerifier, state, nonce });

      expect(result.claims).toMatchObject({ sub: 'alice', aud: 'berth', nonce, email: 'alice@example.com' });
      expect(typeof result.accessToken).toBe('string');
      await expect(sut.verifyIdToken(result.idToken, { nonce })).resolves.toMatchObject({ sub: 'alice' });
    });

    it('yields a verified ID token for a public client, which sends only its client_id', async () => {
      const sut = clientOf('berth-cli');
      const { callback, state, nonce, codeVerifier } = await login(sut);

      const result = await sut.redeem(callback, { codeVerifier, state, nonce });

      expect(result.claims).toMatchObject({ sub: 'alice', aud: 'berth-cli', nonce });
    });

    it('fails the exchange when the code verifier does not match the challenge', async () => {
      const sut = clientOf();
      const { callback, state, nonce } = await login(sut);

      await expect(
        sut.redeem(callback, { codeVerifier: randomPKCECodeVerifier(), state, nonce }),
      ).rejects.toEqual(refused('exchange_failed'));
    });

    it('fails the exchange when the client secret is wrong', async () => {
      const { callback, state, nonce, codeVerifier } = await login(clientOf());
      const sut = clientOf('berth', 'wrong');

      await expect(sut.redeem(callback, { codeVerifier, state, nonce })).rejects.toEqual(
        refused('exchange_failed'),
      );
    });

    it('redeems a code once: a replayed callback fails', async () => {
      const sut = clientOf();
      const { callback, state, nonce, codeVerifier } = await login(sut);
      await sut.redeem(callback, { codeVerifier, state, nonce });

      await expect(sut.redeem(callback, { codeVerifier, state, nonce })).rejects.toEqual(
        refused('exchange_failed'),
      );
    });

    it('refuses an authorization response with another state', async () => {
      const sut = clientOf();
      const { callback, nonce, codeVerifier } = await login(sut);

      await expect(sut.redeem(callback, { codeVerifier, state: 'another-state', nonce })).rejects.toEqual(
        refused('exchange_failed'),
      );
    });

    it('refuses an authorization response that names another issuer (mix-up)', async () => {
      const sut = clientOf();
      const { callback, state, nonce, codeVerifier } = await login(sut);
      expect(callback.searchParams.get('iss')).toBe(provider.issuer);
      callback.searchParams.set('iss', otherProvider.issuer);

      await expect(sut.redeem(callback, { codeVerifier, state, nonce })).rejects.toEqual(
        refused('exchange_failed'),
      );
    });

    it('refuses the ID token when the nonce is not the one sent', async () => {
      const sut = clientOf();
      const { callback, state, codeVerifier } = await login(sut);

      await expect(sut.redeem(callback, { codeVerifier, state, nonce: 'another-nonce' })).rejects.toEqual(
        refused('wrong_nonce'),
      );
    });
  });

  describe('discovery', () => {
    const params = { redirectUri: REDIRECT_URI, state: 's', nonce: 'n', codeChallenge: 'c' };

    it('fails with discovery_failed when the issuer is unreachable, and retries on the next call', async () => {
      const unreachable = `http://127.0.0.1:${await getFreePort()}`;
      const sut = new OidcClient({ issuer: unreachable, clientId: 'berth', timeoutMs: 2_000 });
      const { payload } = open(await realToken());
      const token = forge({ alg: 'RS256', kid: 'k' }, { ...payload, iss: unreachable }, () =>
        Buffer.alloc(256),
      );
      const fetchSpy = jest.spyOn(globalThis, 'fetch');

      await expect(sut.authorizationUrl(params)).rejects.toEqual(refused('discovery_failed'));
      await expect(sut.verifyIdToken(token)).rejects.toEqual(refused('discovery_failed'));
      expect(fetchSpy).toHaveBeenCalledTimes(2);
    });

    it('fails with discovery_failed when the discovery document names another issuer', async () => {
      const impostor = await serveJson(() => ({ issuer: provider.issuer, jwks_uri: provider.jwksUri }));
      try {
        const sut = new OidcClient({ issuer: impostor.url, clientId: 'berth' });

        await expect(sut.authorizationUrl(params)).rejects.toEqual(refused('discovery_failed'));
      } finally {
        await new Promise((closed) => impostor.server.close(closed));
      }
    });

    it('speaks plain http only to a provider on the loopback interface', async () => {
      const sut = new OidcClient({ issuer: 'http://192.0.2.1', clientId: 'berth' });
      const fetchSpy = jest.spyOn(globalThis, 'fetch');

      await expect(sut.authorizationUrl(params)).rejects.toEqual(refused('discovery_failed'));
      expect(fetchSpy).not.toHaveBeenCalled();
    });

    it('refuses a discovery document larger than a mebibyte', async () => {
      const padded = await serveJson(() => ({ issuer: padded.url, pad: 'x'.repeat(1024 * 1024) }));
      try {
        const sut = new OidcClient({ issuer: padded.url, clientId: 'berth' });

        await expect(sut.authorizationUrl(params)).rejects.toEqual(refused('discovery_failed'));
      } finally {
        await new Promise((closed) => padded.server.close(closed));
      }
    });
  });
});
