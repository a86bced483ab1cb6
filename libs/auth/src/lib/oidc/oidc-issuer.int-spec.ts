import {
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type JsonWebKey,
} from 'node:crypto';
import { getFreePort, startOidcProvider, type OidcProviderServer } from '@berth/testing';
import { OidcIssuer, pkcePair, type OidcErrorReason } from './oidc-issuer';

const REDIRECT_URI = 'http://127.0.0.1:9/oidc/callback';
const SECRET = 'correct horse battery staple';

/** Splits a compact JWS into its decoded header and payload and its raw parts. */
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

const refused = (reason: OidcErrorReason): unknown => expect.objectContaining({ name: 'OidcError', reason });

describe('OidcIssuer against a real OpenID Provider', () => {
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

  const issuer = () => new OidcIssuer({ issuer: provider.issuer });

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
      const sut = issuer();
      const token = await provider.issueIdToken({
        sub: 'repo:acme/app:ref:refs/heads/main',
        aud: 'berth',
        nonce: 'n-0S6_WzA2Mj',
        claims: { repository: 'acme/app', ref: 'refs/heads/main', groups: ['dev', 'ops'] },
      });

      const claims = await sut.verifyIdToken(token, { audience: 'berth', nonce: 'n-0S6_WzA2Mj' });

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
      const sut = issuer();
      const token = await provider.issueIdToken({ sub: 'alice', aud: clientId });

      expect(open(token).header['alg']).toBe(alg);
      await expect(sut.verifyIdToken(token, { audience: clientId })).resolves.toMatchObject({ sub: 'alice' });
    });

    it('refuses a token issued to another client', async () => {
      const sut = issuer();
      const token = await provider.issueIdToken({ sub: 'alice', aud: 'someone-else' });

      await expect(sut.verifyIdToken(token, { audience: 'berth' })).rejects.toEqual(
        refused('wrong_audience'),
      );
    });

    it('refuses a token of another provider', async () => {
      const sut = issuer();
      const token = await otherProvider.issueIdToken({ sub: 'alice', aud: 'berth' });

      await expect(sut.verifyIdToken(token, { audience: 'berth' })).rejects.toEqual(refused('wrong_issuer'));
    });

    it('refuses a token once it expired and the minute of leeway passed', async () => {
      const sut = issuer();
      const token = await provider.issueIdToken({ sub: 'alice', aud: 'berth', expiresIn: 1 });
      const { iat, exp } = (await sut.verifyIdToken(token, { audience: 'berth' })) as {
        iat: number;
        exp: number;
      };
      expect(exp - iat).toBe(1);

      await expect(sut.verifyIdToken(token, { audience: 'berth', now: exp + 59 })).resolves.toBeDefined();
      await expect(sut.verifyIdToken(token, { audience: 'berth', now: exp + 61 })).rejects.toEqual(
        refused('expired'),
      );
    });

    it('refuses a token issued more than a minute in the future', async () => {
      const sut = issuer();
      const token = await realToken();
      const { iat } = open(token).payload as { iat: number };

      await expect(sut.verifyIdToken(token, { audience: 'berth', now: iat - 61 })).rejects.toEqual(
        refused('not_yet_valid'),
      );
    });

    it('refuses a token whose payload was altered', async () => {
      const sut = issuer();
      const [header, , signature] = (await realToken()).split('.');
      const payload = { ...open(await realToken()).payload, repository: 'acme/secrets' };
      const tampered = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;

      await expect(sut.verifyIdToken(tampered, { audience: 'berth' })).rejects.toEqual(
        refused('bad_signature'),
      );
    });

    it('refuses an unsigned token (alg none)', async () => {
      const sut = issuer();
      const { payload } = open(await realToken());
      const unsigned = forge({ alg: 'none' }, payload, () => Buffer.alloc(0));

      await expect(sut.verifyIdToken(unsigned, { audience: 'berth' })).rejects.toEqual(
        refused('unsupported_algorithm'),
      );
    });

    it('refuses an HS256 token keyed with the provider’s public key (algorithm confusion)', async () => {
      const sut = issuer();
      const { payload } = open(await realToken());
      const jwk = await rsaJwk();
      const publicPem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      const confused = forge({ alg: 'HS256', kid: jwk.kid }, payload, (input) =>
        createHmac('sha256', publicPem).update(input).digest(),
      );

      await expect(sut.verifyIdToken(confused, { audience: 'berth' })).rejects.toEqual(
        refused('unsupported_algorithm'),
      );
    });

    it('refuses a token signed by a key the provider does not publish', async () => {
      const sut = issuer();
      const { payload } = open(await realToken());
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const rogue = forge({ alg: 'RS256', kid: 'rogue' }, payload, (input) =>
        sign('sha256', input, privateKey),
      );

      await expect(sut.verifyIdToken(rogue, { audience: 'berth' })).rejects.toEqual(refused('unknown_key'));
    });

    it('refuses a token that names the provider’s key but was signed by another', async () => {
      const sut = issuer();
      const { payload } = open(await realToken());
      const { kid } = await rsaJwk();
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const forged = forge({ alg: 'RS256', kid }, payload, (input) => sign('sha256', input, privateKey));

      await expect(sut.verifyIdToken(forged, { audience: 'berth' })).rejects.toEqual(
        refused('bad_signature'),
      );
    });

    it('refetches the keys for an unknown kid at most once every 30 seconds', async () => {
      const sut = issuer();
      const fetchSpy = jest.spyOn(globalThis, 'fetch');
      const jwksFetches = () =>
        fetchSpy.mock.calls.filter(([input]) => urlOf(input) === provider.jwksUri).length;
      const { payload } = open(await realToken());
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const rogue = forge({ alg: 'RS256', kid: 'rogue' }, payload, (input) =>
        sign('sha256', input, privateKey),
      );
      await sut.verifyIdToken(await realToken(), { audience: 'berth' });
      const before = jwksFetches();

      for (let i = 0; i < 3; i++) {
        await expect(sut.verifyIdToken(rogue, { audience: 'berth' })).rejects.toEqual(refused('unknown_key'));
      }
      expect(jwksFetches()).toBe(before);

      const later = Date.now() + 31_000;
      jest.spyOn(Date, 'now').mockReturnValue(later);
      const outcomes = await Promise.allSettled(
        [1, 2, 3].map(() => sut.verifyIdToken(rogue, { audience: 'berth', now: later / 1000 })),
      );
      expect(outcomes).toEqual(outcomes.map(() => ({ status: 'rejected', reason: refused('unknown_key') })));
      expect(jwksFetches()).toBe(before + 1);
    });

    it('refuses a token without the expected nonce', async () => {
      const sut = issuer();
      const token = await provider.issueIdToken({ sub: 'alice', aud: 'berth', nonce: 'issued-nonce' });

      await expect(sut.verifyIdToken(token, { audience: 'berth', nonce: 'expected-nonce' })).rejects.toEqual(
        refused('wrong_nonce'),
      );
    });

    it('refuses oversized tokens and tokens that are not compact JWS', async () => {
      const sut = issuer();
      const { payload } = open(await realToken());
      const padded = forge({ alg: 'RS256' }, { ...payload, pad: 'x'.repeat(16 * 1024) }, () =>
        Buffer.alloc(256),
      );

      for (const token of [padded, 'not-a-token', 'a.b', 'e30.e30.e30.e30', '!!.??.**']) {
        await expect(sut.verifyIdToken(token, { audience: 'berth' })).rejects.toEqual(refused('malformed'));
      }
    });
  });

  describe('authorization-code flow with PKCE', () => {
    /** Sends a user through the provider and returns what the client needs to redeem the code. */
    async function login(sut: OidcIssuer, clientId: string) {
      const pkce = pkcePair();
      const state = randomBytes(16).toString('base64url');
      const nonce = randomBytes(16).toString('base64url');
      const url = await sut.authorizationUrl({
        clientId,
        redirectUri: REDIRECT_URI,
        state,
        nonce,
        codeChallenge: pkce.challenge,
      });
      const callback = new URL(
        await provider.completeLogin(url, { sub: 'alice', claims: { email: 'alice@example.com' } }),
      );
      expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT_URI);
      expect(callback.searchParams.get('state')).toBe(state);
      const code = callback.searchParams.get('code');
      if (code === null) throw new Error(`no code in ${callback.href}`);
      return { code, nonce, verifier: pkce.verifier };
    }

    it('yields a verified ID token with the nonce for a confidential client', async () => {
      const sut = issuer();
      const { code, nonce, verifier } = await login(sut, 'berth');

      const result = await sut.exchangeCode({
        clientId: 'berth',
        clientSecret: SECRET,
        redirectUri: REDIRECT_URI,
        code,
        codeVerifier: verifier,
        nonce,
      });

      expect(result.claims).toMatchObject({ sub: 'alice', aud: 'berth', nonce, email: 'alice@example.com' });
      expect(typeof result.accessToken).toBe('string');
      await expect(sut.verifyIdToken(result.idToken, { audience: 'berth', nonce })).resolves.toMatchObject({
        sub: 'alice',
      });
    });

    it('yields a verified ID token for a public client, which sends only its client_id', async () => {
      const sut = issuer();
      const { code, nonce, verifier } = await login(sut, 'berth-cli');

      const result = await sut.exchangeCode({
        clientId: 'berth-cli',
        redirectUri: REDIRECT_URI,
        code,
        codeVerifier: verifier,
        nonce,
      });

      expect(result.claims).toMatchObject({ sub: 'alice', aud: 'berth-cli', nonce });
    });

    it('fails the exchange when the code verifier does not match the challenge', async () => {
      const sut = issuer();
      const { code } = await login(sut, 'berth');

      await expect(
        sut.exchangeCode({
          clientId: 'berth',
          clientSecret: SECRET,
          redirectUri: REDIRECT_URI,
          code,
          codeVerifier: pkcePair().verifier,
        }),
      ).rejects.toEqual(refused('exchange_failed'));
    });

    it('fails the exchange when the client secret is wrong', async () => {
      const sut = issuer();
      const { code, verifier } = await login(sut, 'berth');

      await expect(
        sut.exchangeCode({
          clientId: 'berth',
          clientSecret: 'wrong',
          redirectUri: REDIRECT_URI,
          code,
          codeVerifier: verifier,
        }),
      ).rejects.toEqual(refused('exchange_failed'));
    });

    it('refuses the ID token when the nonce is not the one sent', async () => {
      const sut = issuer();
      const { code, verifier } = await login(sut, 'berth');

      await expect(
        sut.exchangeCode({
          clientId: 'berth',
          clientSecret: SECRET,
          redirectUri: REDIRECT_URI,
          code,
          codeVerifier: verifier,
          nonce: 'another-nonce',
        }),
      ).rejects.toEqual(refused('wrong_nonce'));
    });
  });

  describe('discovery', () => {
    it('fails with discovery_failed when the issuer is unreachable', async () => {
      const unreachable = `http://127.0.0.1:${await getFreePort()}`;
      const sut = new OidcIssuer({ issuer: unreachable, timeoutMs: 2_000 });
      const { payload } = open(await realToken());
      const token = forge({ alg: 'RS256', kid: 'k' }, { ...payload, iss: unreachable }, () =>
        Buffer.alloc(256),
      );
      const params = {
        clientId: 'berth',
        redirectUri: REDIRECT_URI,
        state: 's',
        nonce: 'n',
        codeChallenge: 'c',
      };

      await expect(sut.authorizationUrl(params)).rejects.toEqual(refused('discovery_failed'));
      await expect(sut.verifyIdToken(token, { audience: 'berth' })).rejects.toEqual(
        refused('discovery_failed'),
      );
    });

    it('fails with discovery_failed when the discovery document names another issuer', async () => {
      const sut = new OidcIssuer({ issuer: `${provider.issuer}/` });
      const params = {
        clientId: 'berth',
        redirectUri: REDIRECT_URI,
        state: 's',
        nonce: 'n',
        codeChallenge: 'c',
      };

      await expect(sut.authorizationUrl(params)).rejects.toEqual(refused('discovery_failed'));
    });
  });
});
