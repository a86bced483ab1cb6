import { bearerChallenge } from './challenge';
import { generateSigningKey, signToken, toJwk, TokenError, TokenVerifier, type TokenFailure } from './token';

const issuer = 'berth-token-service';
const audience = 'berth-registry';
const access = [{ type: 'repository' as const, name: 'a/b', actions: ['pull' as const] }];

function failureOf(work: () => unknown): TokenFailure | 'accepted' | 'other' {
  try {
    work();
    return 'accepted';
  } catch (error) {
    return error instanceof TokenError ? error.reason : 'other';
  }
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('registry tokens', () => {
  const key = generateSigningKey();
  const sut = new TokenVerifier({ issuer, audience });
  sut.setKeys([toJwk(key)]);
  const issue = (overrides: { iss?: string; aud?: string } = {}, ttlSeconds = 300, now?: number) =>
    signToken({ iss: issuer, aud: audience, sub: 'robot$ci', access, ...overrides }, key, { ttlSeconds, now })
      .token;

  it('verifies a token it signed and returns its claims', () => {
    const claims = sut.verify(issue());
    expect(claims).toMatchObject({ iss: issuer, aud: audience, sub: 'robot$ci', access });
    expect(claims.exp - claims.iat).toBe(300);
  });

  it('refuses alg none', () => {
    const [, payload] = issue().split('.');
    const unsigned = `${b64({ alg: 'none', typ: 'JWT', kid: key.kid })}.${payload}.`;
    expect(failureOf(() => sut.verify(unsigned))).toBe('unsupported_algorithm');
  });

  it('refuses HS256 signed with the public key (algorithm confusion)', () => {
    const [, payload] = issue().split('.');
    expect(failureOf(() => sut.verify(`${b64({ alg: 'HS256', kid: key.kid })}.${payload}.AAAA`))).toBe(
      'unsupported_algorithm',
    );
  });

  it('refuses a tampered payload', () => {
    const [header, payload, signature] = issue().split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Record<string, unknown>;
    const widened = b64({
      ...claims,
      access: [{ type: 'repository', name: 'a/b', actions: ['pull', 'push'] }],
    });
    expect(failureOf(() => sut.verify(`${header}.${widened}.${signature}`))).toBe('bad_signature');
  });

  it('refuses an unknown kid, and a key that rotated out', () => {
    const other = generateSigningKey();
    const foreign = signToken({ iss: issuer, aud: audience, sub: 'x', access }, other, {
      ttlSeconds: 60,
    }).token;
    expect(failureOf(() => sut.verify(foreign))).toBe('unknown_key');

    const rotating = new TokenVerifier({ issuer, audience });
    rotating.setKeys([toJwk(key), toJwk(other)]);
    expect(failureOf(() => rotating.verify(foreign))).toBe('accepted');
    rotating.setKeys([toJwk(key)]);
    expect(failureOf(() => rotating.verify(foreign))).toBe('unknown_key');
  });

  it('refuses a signature by another key that claims a known kid', () => {
    const impostor = { ...generateSigningKey(), kid: key.kid };
    const forged = signToken({ iss: issuer, aud: audience, sub: 'x', access }, impostor, {
      ttlSeconds: 60,
    }).token;
    expect(failureOf(() => sut.verify(forged))).toBe('bad_signature');
  });

  it('refuses expired and not-yet-valid tokens, beyond the leeway', () => {
    const hourAgo = Date.now() - 3600_000;
    expect(failureOf(() => sut.verify(issue({}, 60, hourAgo)))).toBe('expired');
    const inAnHour = Date.now() + 3600_000;
    expect(failureOf(() => sut.verify(issue({}, 60, inAnHour)))).toBe('not_yet_valid');
  });

  it('refuses a wrong issuer or audience', () => {
    expect(failureOf(() => sut.verify(issue({ iss: 'someone-else' })))).toBe('wrong_issuer');
    expect(failureOf(() => sut.verify(issue({ aud: 'another-registry' })))).toBe('wrong_audience');
  });

  it.each(['', 'a.b', 'a.b.c.d', '!!!.???.***', `${b64({ alg: 'ES256', kid: 'k' })}.not-json.sig`])(
    'refuses malformed token %j without throwing anything else',
    (token) => {
      expect(['malformed', 'unknown_key']).toContain(failureOf(() => sut.verify(token)));
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
