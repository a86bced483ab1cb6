import type { FastifyRequest } from 'fastify';
import { Passport } from 'passport';
import { BasicStrategy, BearerStrategy, RequestStrategy, type Verified } from './http-strategies';
import type { Identity } from './model';

/** A Passport of its own, so that the strategies under test are not registered globally. */
type Authenticator = InstanceType<typeof Passport>;

const alice: Identity = { kind: 'user', username: 'alice', admin: false, groups: [] };

interface Outcome {
  readonly error: unknown;
  readonly identity: unknown;
}

/** Runs the strategies through Passport itself, as @nestjs/passport's guard does, without a session. */
function authenticate(passport: Authenticator, names: string[], authorization?: string): Promise<Outcome> {
  const request = { headers: authorization === undefined ? {} : { authorization } };
  return new Promise((settle, reject) => {
    const middleware = passport.authenticate(
      names,
      { session: false },
      (error: unknown, identity: unknown) => {
        settle({ error, identity });
      },
    ) as (request: unknown, response: unknown, next: (error?: unknown) => void) => void;
    middleware(request, {}, reject);
  });
}

const basic = (credentials: string): string => `Basic ${Buffer.from(credentials).toString('base64')}`;

describe('Berth’s Passport strategies', () => {
  let sut: Authenticator;
  let basicSeen: [string, string][];
  let bearerSeen: string[];

  beforeEach(() => {
    sut = new Passport();
    basicSeen = [];
    bearerSeen = [];
    sut.use(
      'basic',
      new BasicStrategy((_request: FastifyRequest, username: string, password: string, done: Verified) => {
        basicSeen.push([username, password]);
        if (password === 'refused') done(new Error('refused'));
        else if (password === 'thrown-value') done('not an error');
        else done(null, password === 'unknown' ? false : alice);
      }),
    );
    sut.use(
      'bearer',
      new BearerStrategy((_request: FastifyRequest, token: string, done: Verified) => {
        bearerSeen.push(token);
        done(null, alice);
      }),
    );
  });

  it('hands Basic credentials to the verify callback, a password with colons whole', async () => {
    const outcome = await authenticate(sut, ['basic', 'bearer'], basic('alice:pass:word:'));

    expect(outcome).toEqual({ error: null, identity: alice });
    expect(basicSeen).toEqual([['alice', 'pass:word:']]);
    expect(bearerSeen).toEqual([]);
  });

  it('leaves a bearer token to the bearer strategy', async () => {
    const outcome = await authenticate(sut, ['basic', 'bearer'], 'Bearer abc.def.ghi');

    expect(outcome).toEqual({ error: null, identity: alice });
    expect(basicSeen).toEqual([]);
    expect(bearerSeen).toEqual(['abc.def.ghi']);
  });

  it('proves nothing for no header, a header neither reads, or credentials the callback rejects', async () => {
    for (const authorization of [
      undefined,
      'Digest x',
      'Basic bm8tY29sb24=',
      'Bearer ',
      basic('alice:unknown'),
    ]) {
      expect(await authenticate(sut, ['basic', 'bearer'], authorization)).toEqual({
        error: null,
        identity: false,
      });
    }
    expect(basicSeen).toEqual([['alice', 'unknown']]);
    expect(bearerSeen).toEqual([]);
  });

  it('ends with the callback’s error, an Error even when the callback gave another value', async () => {
    const refused = await authenticate(sut, ['basic', 'bearer'], basic('alice:refused'));
    expect(refused.error).toEqual(new Error('refused'));
    const odd = await authenticate(sut, ['basic'], basic('alice:thrown-value'));
    expect(odd.error).toBeInstanceOf(Error);
    expect((odd.error as Error).cause).toBe('not an error');
  });

  it('hands the whole request to a request strategy', async () => {
    sut.use(
      'request',
      new RequestStrategy((request: FastifyRequest, done: Verified) => {
        done(null, request.headers.authorization === 'x' ? alice : false);
      }),
    );

    expect(await authenticate(sut, ['request'], 'x')).toEqual({ error: null, identity: alice });
    expect(await authenticate(sut, ['request'], 'y')).toEqual({ error: null, identity: false });
  });
});
