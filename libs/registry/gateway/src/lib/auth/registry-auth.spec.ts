import { InProcessBus } from '@berth/bus';
import { loadConfig } from '@berth/config';
import {
  AuthorizeBasic,
  EnsureProject,
  GetSigningKeys,
  SigningKeysChanged,
  SubjectRevoked,
  type RequestOf,
  type ResponseOf,
} from '@berth/contracts';
import { OciError } from '@berth/oci';
import {
  generateSigningKey,
  signToken,
  toJwk,
  type Action,
  type ResourceScope,
  type SigningKey,
} from '@berth/registry-token';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { parseRoute } from '../route';
import { AuthError, RegistryAuth, wantedScopes, type Grant } from './registry-auth';

const ISSUER = 'berth-token-service';
const SERVICE = 'registry.example.com';
const REALM = 'https://registry.example.com/token';
const BASIC_CACHE_SECONDS = 30;
const DIGEST = `sha256:${'b'.repeat(64)}`;

/** A repository scope, mutable as the bus contracts carry it. */
const repo = (name: string, ...actions: Action[]) => ({ type: 'repository' as const, name, actions });

/** What the gateway made of one request. */
type Outcome =
  | {
      /** The grant, or null with auth off (then nothing is authorized). */
      readonly grant: Grant | null;
      readonly subject: string | null;
      readonly actor: string | null;
      /** Whether the grant covers pushing into the request's repository. */
      readonly mayPush: boolean;
    }
  | { readonly error: unknown };

type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/** The challenge a refused request carries, with its code and status. */
function refusal(outcome: Outcome): {
  code: string;
  status: number;
  headers: Readonly<Record<string, string>>;
} {
  if (!('error' in outcome) || !(outcome.error instanceof AuthError))
    throw new Error(`expected an AuthError, got ${JSON.stringify(outcome)}`);
  return { code: outcome.error.code, status: outcome.error.status, headers: outcome.error.headers };
}

function granted(outcome: Outcome): Grant | null {
  if ('error' in outcome) throw new Error(`expected a grant, got ${String(outcome.error)}`);
  return outcome.grant;
}

const challenge = (scope?: string, insufficient = false): string =>
  `Bearer realm="${REALM}",service="${SERVICE}"` +
  (scope === undefined ? '' : `,scope="${scope}"`) +
  (insufficient ? ',error="insufficient_scope"' : '');

// Typed: Jest's asymmetric matchers are typed `any`.
const anyString: unknown = expect.any(String);

const basic = (username: string, password: string): string =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

describe('RegistryAuth over the in-process bus', () => {
  const key = generateSigningKey();
  const rotated = generateSigningKey();
  const stranger = generateSigningKey();
  const logger = pino({ level: 'silent' });
  const config = loadConfig({
    BERTH_AUTH_ISSUER: ISSUER,
    BERTH_AUTH_SERVICE: SERVICE,
    BERTH_AUTH_REALM: REALM,
    BERTH_AUTH_BASIC_CACHE_SECONDS: String(BASIC_CACHE_SECONDS),
  });

  let bus: InProcessBus;
  let app: FastifyInstance;
  let sut: RegistryAuth;
  /** What the route made of each request, in order. */
  const outcomes: Outcome[] = [];
  /** The keys auth publishes now. */
  let published: SigningKey[];
  /** What the handlers registered on the bus for auth's subjects were asked. */
  let keyRequests: number;
  let basicRequests: RequestOf<typeof AuthorizeBasic>[];
  let ensureRequests: RequestOf<typeof EnsureProject>[];
  /** How auth answers a Basic check. */
  let answerBasic: (request: RequestOf<typeof AuthorizeBasic>) => ResponseOf<typeof AuthorizeBasic>;
  /** The projects that exist. */
  let projects: Set<string>;

  beforeEach(async () => {
    published = [key];
    keyRequests = 0;
    basicRequests = [];
    ensureRequests = [];
    projects = new Set(['team']);
    answerBasic = ({ username, password }) =>
      password === `${username}-password`
        ? { ok: true, subject: username, access: [repo('team/app', 'pull', 'push')] }
        : { ok: false, reason: 'invalid', retryAfterSeconds: null };

    bus = new InProcessBus();
    await bus.handle(GetSigningKeys, () => {
      keyRequests++;
      return Promise.resolve({ keys: published.map((k) => ({ ...toJwk(k), kid: k.kid, kty: 'EC' })) });
    });
    await bus.handle(AuthorizeBasic, (request) => {
      basicRequests.push(request);
      return Promise.resolve(answerBasic(request));
    });
    await bus.handle(EnsureProject, (request) => {
      ensureRequests.push(request);
      return Promise.resolve({ exists: projects.has(request.project), created: false });
    });
    sut = new RegistryAuth(bus, config, logger);
    await sut.onModuleInit();

    // Does with each request what the gateway does: authorize it (when auth is on), then, for a
    // write, make sure its project exists.
    app = Fastify();
    app.all('/v2/*', async (request, reply) => {
      try {
        const route = parseRoute(request.url.split('?')[0] ?? '');
        const grant = sut.enabled ? await sut.authorize(request, route) : null;
        const writes =
          (route.kind === 'uploads' && request.method === 'POST') ||
          (route.kind === 'manifest' && request.method === 'PUT');
        if ('name' in route && writes) await sut.ensureProject(request, route.name);
        outcomes.push({
          grant,
          subject: sut.subjectOf(request),
          actor: sut.actorOf(request),
          mayPush: 'name' in route && sut.allows(request, route.name, 'push'),
        });
      } catch (error) {
        outcomes.push({ error });
      }
      return reply.code(204).send();
    });
    await app.ready();
    // The clock is fake from here; what carries the requests (ticks, immediates) is not.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'queueMicrotask'] });
  });

  afterEach(async () => {
    jest.useRealTimers();
    await app.close();
    await bus.close();
  });

  /** What the gateway made of a request to `url`. */
  async function call(method: Method, url: string, authorization?: string): Promise<Outcome> {
    outcomes.splice(0);
    await app.inject({ method, url, headers: authorization === undefined ? {} : { authorization } });
    const [outcome] = outcomes;
    if (outcome === undefined) throw new Error('the request reached no handler');
    return outcome;
  }

  /** A `Bearer` header with a token from the token service (or as the options say). */
  async function bearer(
    access: readonly ResourceScope[],
    options: { key?: SigningKey; ttlSeconds?: number; iss?: string; aud?: string; sub?: string } = {},
  ): Promise<string> {
    const { token } = await signToken(
      { iss: options.iss ?? ISSUER, sub: options.sub ?? 'alice', aud: options.aud ?? SERVICE, access },
      options.key ?? key,
      { ttlSeconds: options.ttlSeconds ?? 300 },
    );
    return `Bearer ${token}`;
  }

  const PULL_APP = [repo('team/app', 'pull')];
  const MANIFEST = '/v2/team/app/manifests/v1';

  describe('Bearer tokens', () => {
    it('accepts a token signed by a published key, fetching the keys once for many tokens', async () => {
      expect(await call('GET', MANIFEST, await bearer(PULL_APP))).toEqual({
        grant: { subject: 'alice', access: PULL_APP },
        subject: 'alice',
        actor: 'alice',
        mayPush: false,
      });
      expect(granted(await call('GET', MANIFEST, await bearer(PULL_APP, { sub: 'robot$ci' })))?.subject).toBe(
        'robot$ci',
      );
      // The base endpoint needs no scope, only a valid token; an anonymous token is one.
      expect(await call('GET', '/v2/', await bearer([], { sub: '' }))).toMatchObject({
        subject: '',
        actor: null,
      });
      expect(keyRequests).toBe(1);
    });

    it('fetches the keys again for an unknown key id, but at most every five seconds', async () => {
      const early = await call('GET', MANIFEST, await bearer(PULL_APP, { key: rotated }));
      expect(refusal(early)).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
      expect(keyRequests).toBe(1);

      // Auth rotated its key: a token of the new one is refused until the gateway may ask again.
      published = [key, rotated];
      expect(refusal(await call('GET', MANIFEST, await bearer(PULL_APP, { key: rotated }))).code).toBe(
        'UNAUTHORIZED',
      );
      expect(keyRequests).toBe(1);
      jest.advanceTimersByTime(4_999);
      expect(refusal(await call('GET', MANIFEST, await bearer(PULL_APP, { key: rotated }))).code).toBe(
        'UNAUTHORIZED',
      );
      expect(keyRequests).toBe(1);
      jest.advanceTimersByTime(1);
      expect(granted(await call('GET', MANIFEST, await bearer(PULL_APP, { key: rotated })))?.subject).toBe(
        'alice',
      );
      expect(keyRequests).toBe(2);

      // A forged key id right after costs no fetch.
      expect(refusal(await call('GET', MANIFEST, await bearer(PULL_APP, { key: stranger }))).code).toBe(
        'UNAUTHORIZED',
      );
      expect(keyRequests).toBe(2);
    });

    it('fetches the keys again when auth announces a change, and forgets tokens of keys it no longer publishes', async () => {
      const old = await bearer(PULL_APP);
      expect(granted(await call('GET', MANIFEST, old))).not.toBeNull();
      published = [rotated];
      await bus.broadcast(SigningKeysChanged, {});

      expect(refusal(await call('GET', MANIFEST, old)).code).toBe('UNAUTHORIZED');
      expect(granted(await call('GET', MANIFEST, await bearer(PULL_APP, { key: rotated })))).not.toBeNull();
      expect(keyRequests).toBe(2);
    });

    it('refuses an expired token, one it accepted before too, once the leeway is over', async () => {
      const token = await bearer(PULL_APP, { ttlSeconds: 60 });
      expect(granted(await call('GET', MANIFEST, token))).not.toBeNull();
      // Verified tokens are remembered, but only until they expire; then verified again, with
      // the verifier's 30 seconds of leeway for clock skew.
      jest.advanceTimersByTime((60 + 29) * 1000);
      expect(granted(await call('GET', MANIFEST, token))).not.toBeNull();
      jest.advanceTimersByTime(1000);
      expect(refusal(await call('GET', MANIFEST, token))).toEqual({
        code: 'UNAUTHORIZED',
        status: 401,
        headers: { 'www-authenticate': challenge('repository:team/app:pull') },
      });
    });

    it('refuses a token of another issuer or audience, and what is not a token at all', async () => {
      for (const authorization of [
        await bearer(PULL_APP, { iss: 'someone-else' }),
        await bearer(PULL_APP, { aud: 'other-registry' }),
        'Bearer not.a.token',
        'Bearer ',
        'Token abc',
      ])
        expect(refusal(await call('GET', MANIFEST, authorization)).code).toBe('UNAUTHORIZED');
    });

    it('answers a valid token without the scope with DENIED and an insufficient_scope challenge', async () => {
      expect(refusal(await call('PUT', MANIFEST, await bearer(PULL_APP)))).toEqual({
        code: 'DENIED',
        status: 401,
        headers: { 'www-authenticate': challenge('repository:team/app:push', true) },
      });
      expect(refusal(await call('GET', '/v2/team/other/tags/list', await bearer(PULL_APP)))).toMatchObject({
        code: 'DENIED',
        headers: { 'www-authenticate': challenge('repository:team/other:pull', true) },
      });
      expect(
        refusal(await call('DELETE', `/v2/team/app/manifests/${DIGEST}`, await bearer(PULL_APP))).code,
      ).toBe('DENIED');
      // A refused write never gets as far as its project.
      expect(ensureRequests).toEqual([]);
    });

    it('challenges a request without credentials with where to get a token and the scope it needs', async () => {
      expect(refusal(await call('GET', MANIFEST))).toEqual({
        code: 'UNAUTHORIZED',
        status: 401,
        headers: { 'www-authenticate': challenge('repository:team/app:pull') },
      });
      expect(refusal(await call('GET', '/v2/')).headers).toEqual({ 'www-authenticate': challenge() });
      expect(refusal(await call('GET', '/v2/_catalog')).headers).toEqual({
        'www-authenticate': challenge('registry:catalog:*'),
      });
    });
  });

  describe('the scopes a challenge asks for', () => {
    it('asks for pull,push on any upload, and for pull on the repository a mount comes from', async () => {
      const asked = async (method: Method, url: string) =>
        refusal(await call(method, url)).headers['www-authenticate'];
      expect(await asked('POST', '/v2/team/app/blobs/uploads/')).toBe(
        challenge('repository:team/app:pull,push'),
      );
      expect(await asked('PATCH', '/v2/team/app/blobs/uploads/0f1e')).toBe(
        challenge('repository:team/app:pull,push'),
      );
      expect(await asked('POST', `/v2/team/app/blobs/uploads/?mount=${DIGEST}&from=other/base`)).toBe(
        challenge('repository:team/app:pull,push repository:other/base:pull'),
      );
      // A mount from itself, or from a name that is none, adds nothing.
      expect(await asked('POST', `/v2/team/app/blobs/uploads/?mount=${DIGEST}&from=team/app`)).toBe(
        challenge('repository:team/app:pull,push'),
      );
      expect(await asked('POST', `/v2/team/app/blobs/uploads/?mount=${DIGEST}&from=Not..A/Name`)).toBe(
        challenge('repository:team/app:pull,push'),
      );
    });

    it('asks for what the route needs everywhere else', () => {
      const wanted = (path: string, method: string) => wantedScopes(parseRoute(path), method, null);
      expect(wanted(MANIFEST, 'GET')).toEqual([repo('team/app', 'pull')]);
      expect(wanted(MANIFEST, 'PUT')).toEqual([repo('team/app', 'push')]);
      expect(wanted(`/v2/team/app/blobs/${DIGEST}`, 'DELETE')).toEqual([repo('team/app', 'delete')]);
      expect(wanted('/v2/_catalog', 'GET')).toEqual([{ type: 'registry', name: 'catalog', actions: ['*'] }]);
      expect(wanted('/v2/', 'GET')).toEqual([]);
    });

    it('enforces only what the route needs: push alone starts an upload or a mount', async () => {
      const push = await bearer([repo('team/app', 'push')]);
      expect(granted(await call('POST', '/v2/team/app/blobs/uploads/', push))).not.toBeNull();
      const mount = await call('POST', `/v2/team/app/blobs/uploads/?mount=${DIGEST}&from=other/base`, push);
      expect(mount).toMatchObject({ mayPush: true });
    });
  });

  describe('Basic credentials', () => {
    it('has auth check them once, and remembers the grant per credentials and scopes', async () => {
      const alice = basic('alice', 'alice-password');
      expect(await call('GET', MANIFEST, alice)).toMatchObject({
        grant: { subject: 'alice', access: [repo('team/app', 'pull', 'push')] },
      });
      expect(basicRequests).toEqual([
        {
          username: 'alice',
          password: 'alice-password',
          scopes: ['repository:team/app:pull'],
          sourceAddress: '127.0.0.1',
          requestId: anyString,
        },
      ]);
      await call('GET', MANIFEST, alice);
      expect(basicRequests).toHaveLength(1);
      // Other scopes are another question.
      expect(granted(await call('PUT', MANIFEST, alice))?.subject).toBe('alice');
      expect(basicRequests.map((r) => r.scopes)).toEqual([
        ['repository:team/app:pull'],
        ['repository:team/app:push'],
      ]);
    });

    it('challenges refused credentials, and asks again each time', async () => {
      expect(refusal(await call('GET', MANIFEST, basic('alice', 'wrong')))).toEqual({
        code: 'UNAUTHORIZED',
        status: 401,
        headers: { 'www-authenticate': challenge('repository:team/app:pull') },
      });
      await call('GET', MANIFEST, basic('alice', 'wrong'));
      expect(basicRequests).toHaveLength(2);
      // Without a colon there is nothing to ask.
      const noColon = `Basic ${Buffer.from('alice').toString('base64')}`;
      expect(refusal(await call('GET', MANIFEST, noColon)).code).toBe('UNAUTHORIZED');
      expect(basicRequests).toHaveLength(2);
    });

    it("forgets a revoked subject's remembered grants at once, and only that subject's", async () => {
      const alice = basic('alice', 'alice-password');
      const bob = basic('bob', 'bob-password');
      await call('GET', MANIFEST, alice);
      await call('GET', MANIFEST, bob);
      jest.advanceTimersByTime(1);
      await bus.broadcast(SubjectRevoked, { subject: 'alice' });
      jest.advanceTimersByTime(1);

      await call('GET', MANIFEST, bob);
      expect(basicRequests.map((r) => r.username)).toEqual(['alice', 'bob']);
      await call('GET', MANIFEST, alice);
      await call('GET', MANIFEST, alice);
      expect(basicRequests.map((r) => r.username)).toEqual(['alice', 'bob', 'alice']);
    });

    it('lets a revocation that comes while auth checks win over the answer', async () => {
      const alice = basic('alice', 'alice-password');
      const answer = answerBasic;
      answerBasic = (request) => {
        // The password changes while the check is under way.
        void bus.broadcast(SubjectRevoked, { subject: request.username });
        return answer(request);
      };
      expect(granted(await call('GET', MANIFEST, alice))?.subject).toBe('alice');
      answerBasic = answer;
      jest.advanceTimersByTime(1);
      await call('GET', MANIFEST, alice);
      expect(basicRequests).toHaveLength(2);
      jest.advanceTimersByTime(1);
      await call('GET', MANIFEST, alice);
      expect(basicRequests).toHaveLength(2);
    });

    it('asks again once the Basic cache time is over', async () => {
      const alice = basic('alice', 'alice-password');
      await call('GET', MANIFEST, alice);
      jest.advanceTimersByTime(BASIC_CACHE_SECONDS * 1000);
      await call('GET', MANIFEST, alice);
      expect(basicRequests).toHaveLength(1);
      jest.advanceTimersByTime(1);
      await call('GET', MANIFEST, alice);
      expect(basicRequests).toHaveLength(2);
    });

    it("passes auth's rate limit and an unreachable directory on, each with a Retry-After", async () => {
      answerBasic = () => ({ ok: false, reason: 'rate_limited', retryAfterSeconds: 42 });
      expect(refusal(await call('GET', MANIFEST, basic('alice', 'guess')))).toEqual({
        code: 'TOOMANYREQUESTS',
        status: 429,
        headers: { 'retry-after': '42' },
      });
      answerBasic = () => ({ ok: false, reason: 'unavailable', retryAfterSeconds: null });
      expect(refusal(await call('GET', MANIFEST, basic('alice', 'alice-password')))).toEqual({
        code: 'UNAVAILABLE',
        status: 503,
        headers: { 'retry-after': '30' },
      });
    });
  });

  describe('ensureProject', () => {
    const push = (...repositories: string[]) =>
      bearer(repositories.map((name) => repo(name, 'pull', 'push')));

    it('asks auth about a project once a minute, whatever writes go into it', async () => {
      const token = await push('team/app', 'team/tool');
      expect(granted(await call('PUT', MANIFEST, token))).not.toBeNull();
      expect(ensureRequests).toEqual([
        {
          project: 'team',
          subject: 'alice',
          sourceAddress: '127.0.0.1',
          requestId: anyString,
        },
      ]);
      await call('POST', '/v2/team/app/blobs/uploads/', token);
      await call('PUT', '/v2/team/tool/manifests/v2', token);
      jest.advanceTimersByTime(60_000);
      await call('PUT', MANIFEST, token);
      expect(ensureRequests).toHaveLength(1);
      jest.advanceTimersByTime(1);
      await call('PUT', MANIFEST, token);
      expect(ensureRequests).toHaveLength(2);
      // Reads never ask.
      await call('GET', MANIFEST, token);
      expect(ensureRequests).toHaveLength(2);
    });

    it('refuses a write into a project auth says does not exist, and asks again next time', async () => {
      const token = await push('newproj/app');
      const outcome = await call('PUT', '/v2/newproj/app/manifests/v1', token);
      if (!('error' in outcome)) throw new Error('the write was let through');
      expect(outcome.error).toBeInstanceOf(OciError);
      expect(outcome.error).toMatchObject({ code: 'NAME_UNKNOWN', status: 404 });
      // Created meanwhile (an admin's first push): the next write finds it.
      projects.add('newproj');
      expect(granted(await call('POST', '/v2/newproj/app/blobs/uploads/', token))).not.toBeNull();
      expect(ensureRequests.map((r) => r.project)).toEqual(['newproj', 'newproj']);
    });

    it('asks nothing with auth off, where every request may do everything', async () => {
      sut = new RegistryAuth(bus, loadConfig({ BERTH_AUTH_MODE: 'none' }), logger);
      expect(sut.enabled).toBe(false);
      expect(await call('PUT', MANIFEST)).toEqual({ grant: null, subject: null, actor: null, mayPush: true });
      expect(ensureRequests).toEqual([]);
      expect(keyRequests).toBe(0);
    });
  });
});
