import { createHmac, sign } from 'node:crypto';
import { bearerChallenge } from './challenge';
import {
  generateSigningKey,
  signToken,
  toJwk,
  TokenError,
  TokenVerifier,
  type SigningKey,
  type TokenFailure,
} from './token';

const issuer = 'berth-token-service';
const audience = 'berth-registry';
const access = [{ type: 'repository' as const, name: 'a/b', actions: ['pull' as const] }];
/** A fixed clock for the tests that move time: tokens are issued and checked against it. */
const T = Date.UTC(2030, 0, 1);
const seconds = (ms: number) => Math.floor(ms / 1000);

async function failureOf(work: () => Promise<unknown>): Promise<TokenFailure | 'accepted' | 'other'> {
  try {
    await work();
    return 'accepted';
  } catch (error) {
    return error instanceof TokenError ? error.reason : 'other';
  }
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decoded(part: string | undefined): Record<string, unknown> {
  return JSON.parse(Buffer.from(part ?? '', 'base64url').toString()) as Record<string, unknown>;
}

/**
 * Signs a header and payload as Berth's token service did before it used jose: node:crypto's
 * ECDSA over SHA-256 with the raw r‖s signature. It also makes tokens with claims the service
 * would never sign, to show that the verifier refuses them even when the signature holds.
 */
function signByHand(
  payload: Record<string, unknown>,
  signer: SigningKey,
  header: Record<string, unknown> = { alg: 'ES256', typ: 'JWT', kid: signer.kid },
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = sign('sha256', Buffer.from(input), { key: signer.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

describe('registry tokens', () => {
  const key = generateSigningKey();
  const sut = new TokenVerifier({ issuer, audience });
  sut.setKeys([toJwk(key)]);
  const claimsAt = (now: number, overrides: Record<string, unknown> = {}) => ({
    iss: issuer,
    sub: 'robot$ci',
    aud: audience,
    access,
    iat: seconds(now),
    nbf: seconds(now),
    exp: seconds(now) + 300,
    jti: 'a-jti',
    ...overrides,
  });
  const issue = async (overrides: { iss?: string; aud?: string } = {}, ttlSeconds = 300, now?: number) =>
    (
      await signToken({ iss: issuer, aud: audience, sub: 'robot$ci', access, ...overrides }, key, {
        ttlSeconds,
        now,
      })
    ).token;

  it('verifies a token it signed and returns its claims', async () => {
    const claims = await sut.verify(await issue());
    expect(claims).toMatchObject({ iss: issuer, aud: audience, sub: 'robot$ci', access });
    expect(claims.exp - claims.iat).toBe(300);
    expect(claims.nbf).toBe(claims.iat);
    expect(typeof claims.jti).toBe('string');
  });

  it('signs the compact form it always has: header {alg, typ, kid}, the claims as they are', async () => {
    const { token, claims } = await signToken({ iss: issuer, aud: audience, sub: 'robot$ci', access }, key, {
      ttlSeconds: 300,
    });
    const [header, payload, signature] = token.split('.');
    expect(header).toBe(b64({ alg: 'ES256', typ: 'JWT', kid: key.kid }));
    expect(payload).toBe(b64(claims));
    expect(Buffer.from(signature ?? '', 'base64url')).toHaveLength(64);
  });

  it('verifies a token signed the way the service signed them before jose', async () => {
    const token = signByHand(claimsAt(T), key);
    expect(await sut.verify(token, T)).toMatchObject(claimsAt(T));
  });

  it('refuses alg none', async () => {
    const [, payload] = (await issue()).split('.');
    const unsigned = `${b64({ alg: 'none', typ: 'JWT', kid: key.kid })}.${payload}.`;
    expect(await failureOf(() => sut.verify(unsigned))).toBe('unsupported_algorithm');
  });

  it('refuses HS256 signed with the public key as the secret (algorithm confusion)', async () => {
    const [, payload] = (await issue()).split('.');
    const header = b64({ alg: 'HS256', typ: 'JWT', kid: key.kid });
    for (const secret of [
      key.publicKey.export({ type: 'spki', format: 'pem' }),
      JSON.stringify(toJwk(key)),
    ]) {
      const mac = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
      expect(await failureOf(() => sut.verify(`${header}.${payload}.${mac}`))).toBe('unsupported_algorithm');
    }
  });

  it('refuses other asymmetric algorithms even over a valid ES256 signature', async () => {
    const token = signByHand(claimsAt(Date.now()), key, { alg: 'ES384', typ: 'JWT', kid: key.kid });
    expect(await failureOf(() => sut.verify(token))).toBe('unsupported_algorithm');
  });

  it('refuses a tampered payload', async () => {
    const [header, payload, signature] = (await issue()).split('.');
    const widened = b64({
      ...decoded(payload),
      access: [{ type: 'repository', name: 'a/b', actions: ['pull', 'push'] }],
    });
    expect(await failureOf(() => sut.verify(`${header}.${widened}.${signature}`))).toBe('bad_signature');
  });

  it('refuses a truncated or altered signature', async () => {
    const token = await issue();
    const [header, payload, signature = ''] = token.split('.');
    const flipped = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    expect(await failureOf(() => sut.verify(`${header}.${payload}.${flipped}`))).toBe('bad_signature');
    expect(await failureOf(() => sut.verify(`${header}.${payload}.${signature.slice(0, 40)}`))).toBe(
      'bad_signature',
    );
  });

  it('refuses an unknown kid, a missing kid, and a key that rotated out', async () => {
    const other = generateSigningKey();
    const foreign = (
      await signToken({ iss: issuer, aud: audience, sub: 'x', access }, other, { ttlSeconds: 60 })
    ).token;
    expect(await failureOf(() => sut.verify(foreign))).toBe('unknown_key');

    // With one trusted key, a header that names none must not fall back to it.
    const unnamed = signByHand(claimsAt(Date.now()), key, { alg: 'ES256', typ: 'JWT' });
    expect(await failureOf(() => sut.verify(unnamed))).toBe('unknown_key');
    const numbered = signByHand(claimsAt(Date.now()), key, { alg: 'ES256', typ: 'JWT', kid: 7 });
    expect(await failureOf(() => sut.verify(numbered))).toBe('unknown_key');

    const rotating = new TokenVerifier({ issuer, audience });
    expect(await failureOf(() => rotating.verify(foreign))).toBe('unknown_key');
    rotating.setKeys([toJwk(key), toJwk(other)]);
    expect(await failureOf(() => rotating.verify(foreign))).toBe('accepted');
    rotating.setKeys([toJwk(key)]);
    expect(await failureOf(() => rotating.verify(foreign))).toBe('unknown_key');
  });

  it('keeps only P-256 keys with a kid, and the later of two with the same kid', async () => {
    const replaced = generateSigningKey();
    const replacement = { ...generateSigningKey(), kid: replaced.kid };
    const verifier = new TokenVerifier({ issuer, audience });
    verifier.setKeys([
      { kty: 'RSA', kid: 'rsa', n: 'AQAB', e: 'AQAB' },
      { ...toJwk(generateSigningKey()), kid: undefined },
      toJwk(replaced),
      toJwk(replacement),
    ]);
    const byReplacement = signByHand(claimsAt(Date.now()), replacement);
    expect(await failureOf(() => verifier.verify(byReplacement))).toBe('accepted');
    const byReplaced = signByHand(claimsAt(Date.now()), replaced);
    expect(await failureOf(() => verifier.verify(byReplaced))).toBe('bad_signature');
  });

  it('refuses a signature by another key that claims a known kid', async () => {
    const impostor = { ...generateSigningKey(), kid: key.kid };
    const forged = (
      await signToken({ iss: issuer, aud: audience, sub: 'x', access }, impostor, { ttlSeconds: 60 })
    ).token;
    expect(await failureOf(() => sut.verify(forged))).toBe('bad_signature');
  });

  it('accepts exp and nbf within the 30 s leeway and refuses them beyond it', async () => {
    const token = await issue({}, 60, T);
    const expiry = T + 60_000;
    expect(await failureOf(() => sut.verify(token, expiry + 29_000))).toBe('accepted');
    expect(await failureOf(() => sut.verify(token, expiry + 30_000))).toBe('expired');
    expect(await failureOf(() => sut.verify(token, T + 3600_000))).toBe('expired');
    expect(await failureOf(() => sut.verify(token, T - 30_000))).toBe('accepted');
    expect(await failureOf(() => sut.verify(token, T - 31_000))).toBe('not_yet_valid');
    expect(await failureOf(() => sut.verify(token, T - 3600_000))).toBe('not_yet_valid');
  });

  it('takes its leeway from the options', async () => {
    const strict = new TokenVerifier({ issuer, audience, leewaySeconds: 0 });
    strict.setKeys([toJwk(key)]);
    const token = await issue({}, 60, T);
    expect(await failureOf(() => strict.verify(token, T + 59_000))).toBe('accepted');
    expect(await failureOf(() => strict.verify(token, T + 60_000))).toBe('expired');
    expect(await failureOf(() => strict.verify(token, T - 1_000))).toBe('not_yet_valid');
  });

  it('refuses a token without exp as expired, and an nbf or iat that is not a number as malformed', async () => {
    const { exp: _exp, ...noExp } = claimsAt(T);
    expect(await failureOf(() => sut.verify(signByHand(noExp, key), T))).toBe('expired');
    expect(await failureOf(() => sut.verify(signByHand(claimsAt(T, { exp: 'never' }), key), T))).toBe(
      'expired',
    );
    expect(await failureOf(() => sut.verify(signByHand(claimsAt(T, { nbf: 'now' }), key), T))).toBe(
      'malformed',
    );
    expect(await failureOf(() => sut.verify(signByHand(claimsAt(T, { iat: 'now' }), key), T))).toBe(
      'malformed',
    );
  });

  it('refuses a wrong or missing issuer', async () => {
    expect(await failureOf(async () => sut.verify(await issue({ iss: 'someone-else' })))).toBe(
      'wrong_issuer',
    );
    const { iss: _iss, ...noIssuer } = claimsAt(T);
    expect(await failureOf(() => sut.verify(signByHand(noIssuer, key), T))).toBe('wrong_issuer');
  });

  it('refuses a wrong or missing audience, and accepts an audience list that names it', async () => {
    expect(await failureOf(async () => sut.verify(await issue({ aud: 'another-registry' })))).toBe(
      'wrong_audience',
    );
    const { aud: _aud, ...noAudience } = claimsAt(T);
    expect(await failureOf(() => sut.verify(signByHand(noAudience, key), T))).toBe('wrong_audience');
    const listed = signByHand(claimsAt(T, { aud: ['another-registry', audience] }), key);
    expect(await sut.verify(listed, T)).toMatchObject({ aud: ['another-registry', audience] });
    const others = signByHand(claimsAt(T, { aud: ['another-registry', 'a-third'] }), key);
    expect(await failureOf(() => sut.verify(others, T))).toBe('wrong_audience');
  });

  it('refuses a validly signed token over 16 KiB before reading it', async () => {
    const wide = Array.from({ length: 400 }, (_, i) => ({
      type: 'repository',
      name: `team/app-${i}`,
      actions: ['pull'],
    }));
    const token = signByHand(claimsAt(T, { access: wide }), key);
    expect(token.length).toBeGreaterThan(16_384);
    expect(await failureOf(() => sut.verify(token, T))).toBe('malformed');
    const narrow = signByHand(claimsAt(T, { access: wide.slice(0, 100) }), key);
    expect(narrow.length).toBeLessThan(16_384);
    expect(await failureOf(() => sut.verify(narrow, T))).toBe('accepted');
  });

  it.each([
    ['no access', { access: undefined }],
    ['access that is not a list', { access: 'repository:a/b:pull' }],
    ['no sub', { sub: undefined }],
    ['a sub that is not a string', { sub: 42 }],
  ])('refuses a validly signed token with %s as malformed', async (_, overrides) => {
    const token = signByHand(claimsAt(T, overrides), key);
    expect(await failureOf(() => sut.verify(token, T))).toBe('malformed');
  });

  it('refuses a payload that is not a JSON object, and a header that is not JSON', async () => {
    const header = { alg: 'ES256', typ: 'JWT', kid: key.kid };
    for (const payload of ['[1,2]', '"text"', 'not json']) {
      const input = `${b64(header)}.${Buffer.from(payload).toString('base64url')}`;
      const signature = sign('sha256', Buffer.from(input), {
        key: key.privateKey,
        dsaEncoding: 'ieee-p1363',
      });
      expect(await failureOf(() => sut.verify(`${input}.${signature.toString('base64url')}`))).toBe(
        'malformed',
      );
    }
    const [, payload, signature] = (await issue()).split('.');
    const badHeader = Buffer.from('{"alg":').toString('base64url');
    expect(await failureOf(() => sut.verify(`${badHeader}.${payload}.${signature}`))).toBe('malformed');
  });

  it.each(['', 'a.b', 'a.b.c.d', '!!!.???.***', `${b64({ alg: 'ES256', kid: 'k' })}.not-json.sig`])(
    'refuses malformed token %j without throwing anything else',
    async (token) => {
      expect(['malformed', 'unknown_key']).toContain(await failureOf(() => sut.verify(token)));
    },
  );
});

describe('bearerChallenge', () => {
  it('names realm, service and scope, and insufficient_scope when a token fell short', () => {
    expect(
      bearerChallenge({
        realm: 'https://berth.example/token',
        service: 'berth',
        scopes: [{ type: 'repository', name: 'a/b', actions: ['pull', 'push'] }],
        insufficientScope: true,
      }),
    ).toBe(
      'Bearer realm="https://berth.example/token",service="berth",scope="repository:a/b:pull,push",error="insufficient_scope"',
    );
  });
});
