import { generateSigningKey, signToken } from '@berth/registry-token';
import { startBerth, type RunningBerth } from '@berth/testing';
import { api, apiJson, basicAuth, provisionRobot } from './support/auth';
import { OciClient, errorCodes, randomBlob, repoName, type Credentials } from './support/oci-client';
import { SHAPES } from './support/shapes';

/** Asks the token endpoint (GET flavour) for scopes, as someone or anonymously. */
async function tokenFor(
  berth: RunningBerth,
  as: Credentials | null,
  scopes: readonly string[],
): Promise<{ status: number; token: string; body: Record<string, unknown> }> {
  const url = new URL(`${berth.authUrl}/token`);
  url.searchParams.set('service', 'berth');
  for (const scope of scopes) url.searchParams.append('scope', scope);
  const response = await fetch(url, { headers: as ? { authorization: basicAuth(as) } : {} });
  const body = (await response.json()) as Record<string, unknown>;
  return { status: response.status, token: typeof body['token'] === 'string' ? body['token'] : '', body };
}

/** Sends a /v2 request with a bearer token (or none). */
function v2(berth: RunningBerth, method: string, path: string, token?: string): Promise<Response> {
  return fetch(`${berth.url}${path}`, {
    method,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
}

/** The claims of a JWT, unverified (to tamper with them). */
function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<
    string,
    unknown
  >;
}

describe.each(SHAPES)('identity and access: $label', (shape) => {
  let berth: RunningBerth;
  let robot: Credentials;
  let pusher: OciClient;

  const createUser = (username: string, admin = false): Promise<unknown> =>
    apiJson(berth, 'POST', '/api/v1/users', 201, {
      body: { username, password: `${username}-password`, admin },
    });
  const user = (username: string): Credentials => ({ username, password: `${username}-password` });

  beforeAll(async () => {
    berth = await startBerth(shape);
    robot = await provisionRobot(berth);
    pusher = new OciClient(berth.url, robot);
  });

  afterAll(async () => {
    await berth.stop();
  });

  describe('the challenge', () => {
    it('answers /v2/ without credentials with 401 UNAUTHORIZED and a Bearer challenge', async () => {
      const response = await v2(berth, 'GET', '/v2/');
      expect(response.status).toBe(401);
      expect(await errorCodes(response)).toEqual(['UNAUTHORIZED']);
      expect(response.headers.get('www-authenticate')).toBe(
        `Bearer realm="${berth.authUrl}/token",service="berth"`,
      );
    });

    it('names the scope a repository request needs', async () => {
      const name = repoName();
      const response = await v2(berth, 'PUT', `/v2/${name}/manifests/v1`);
      expect(response.headers.get('www-authenticate')).toContain(`scope="repository:${name}:push"`);
      const head = await v2(berth, 'HEAD', `/v2/${name}/manifests/v1`);
      expect(head.status).toBe(401);
      expect(head.headers.get('www-authenticate')).toContain(`scope="repository:${name}:pull"`);
    });

    it('asks for pull,push on an upload and for pull on a mount source, so a client that follows it mounts', async () => {
      const from = repoName();
      const to = repoName();
      const blob = randomBlob();
      await pusher.pushBlob(from, blob);
      const mount = `/v2/${to}/blobs/uploads/?mount=${blob.digest}&from=${from}`;
      const challenged = await v2(berth, 'POST', mount);
      expect(challenged.status).toBe(401);
      const scope = /scope="([^"]*)"/.exec(challenged.headers.get('www-authenticate') ?? '')?.[1] ?? '';
      expect(scope).toBe(`repository:${to}:pull,push repository:${from}:pull`);
      const plain = await v2(berth, 'POST', `/v2/${to}/blobs/uploads/`);
      expect(plain.headers.get('www-authenticate')).toContain(`scope="repository:${to}:pull,push"`);
      const token = await tokenFor(berth, robot, scope.split(' '));
      const mounted = await v2(berth, 'POST', mount, token.token);
      expect(mounted.status).toBe(201);
      expect(mounted.headers.get('docker-content-digest')).toBe(blob.digest);
      // A token without pull on the source still gets an upload session: the spec's fallback.
      const pushOnly = await tokenFor(berth, robot, [`repository:${to}:push`]);
      expect((await v2(berth, 'POST', mount, pushOnly.token)).status).toBe(202);
    });

    it('lets any valid token, even an anonymous one, through /v2/ (the login check)', async () => {
      const anonymous = await tokenFor(berth, null, []);
      expect(anonymous.status).toBe(200);
      expect((await v2(berth, 'GET', '/v2/', anonymous.token)).status).toBe(200);
      const login = await tokenFor(berth, robot, []);
      expect(login.body).toMatchObject({ access_token: login.token, expires_in: 300 });
      expect(typeof login.body['issued_at']).toBe('string');
    });

    it('accepts Basic credentials sent straight to /v2/', async () => {
      const name = repoName();
      await pusher.pushImage(name, 'v1');
      const response = await fetch(`${berth.url}/v2/${name}/tags/list`, {
        headers: { authorization: basicAuth(robot) },
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ name, tags: ['v1'] });
      const wrong = await fetch(`${berth.url}/v2/${name}/tags/list`, {
        headers: { authorization: basicAuth({ ...robot, password: 'nope' }) },
      });
      expect(wrong.status).toBe(401);
    });
  });

  describe('tokens', () => {
    it('grants only what RBAC allows: a partial grant is no error', async () => {
      const granted = await tokenFor(berth, robot, ['repository:e2e/x:pull,push', 'repository:other/y:pull']);
      expect(granted.status).toBe(200);
      expect(claimsOf(granted.token)['access']).toEqual([
        { type: 'repository', name: 'e2e/x', actions: ['pull', 'push'] },
      ]);
    });

    it('refuses a token for repository A on repository B, and a push with a pull-only token', async () => {
      const a = repoName();
      const b = repoName();
      await pusher.pushImage(b, 'v1');
      const forA = await tokenFor(berth, robot, [`repository:${a}:pull,push`]);
      const onB = await v2(berth, 'GET', `/v2/${b}/tags/list`, forA.token);
      expect(onB.status).toBe(401);
      expect(await errorCodes(onB)).toEqual(['DENIED']);
      expect(onB.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
      const pullOnly = await tokenFor(berth, robot, [`repository:${b}:pull`]);
      expect((await v2(berth, 'GET', `/v2/${b}/tags/list`, pullOnly.token)).status).toBe(200);
      const push = await v2(berth, 'POST', `/v2/${b}/blobs/uploads/`, pullOnly.token);
      expect(push.status).toBe(401);
      expect(await errorCodes(push)).toEqual(['DENIED']);
    });

    it('refuses forged tokens: alg none, a tampered payload, an unknown key', async () => {
      const name = repoName();
      const real = await tokenFor(berth, robot, [`repository:${name}:pull`]);
      const [header = '', payload = ''] = real.token.split('.');
      const widened = Buffer.from(
        JSON.stringify({
          ...claimsOf(real.token),
          access: [{ type: 'repository', name, actions: ['pull', 'push'] }],
        }),
      ).toString('base64url');
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${widened}.`;
      const tampered = `${header}.${widened}.${real.token.split('.')[2] ?? ''}`;
      const foreign = (
        await signToken(
          {
            iss: 'berth-token-service',
            sub: robot.username,
            aud: 'berth',
            access: [{ type: 'repository', name, actions: ['push'] }],
          },
          generateSigningKey(),
          { ttlSeconds: 300 },
        )
      ).token;
      for (const token of [none, tampered, foreign, `${header}.${payload}`, 'garbage']) {
        const response = await v2(berth, 'POST', `/v2/${name}/blobs/uploads/`, token);
        expect(response.status).toBe(401);
        expect(await errorCodes(response)).toEqual(['UNAUTHORIZED']);
      }
    });

    it('refuses scopes with a host:port in the name, and garbage, with 400', async () => {
      for (const scope of [
        'repository:localhost:5000/app:pull',
        'garbage',
        'repository::pull',
        'cluster:x:pull',
      ]) {
        const response = await tokenFor(berth, robot, [scope]);
        expect(response.status).toBe(400);
      }
    });

    it('speaks OAuth2 on POST /token, with refresh tokens', async () => {
      const form = new URLSearchParams({
        grant_type: 'password',
        username: robot.username,
        password: robot.password,
        service: 'berth',
        client_id: 'e2e',
        access_type: 'offline',
        scope: 'repository:e2e/app:pull',
      });
      const first = await fetch(`${berth.authUrl}/token`, { method: 'POST', body: form });
      expect(first.status).toBe(200);
      const issued = (await first.json()) as { access_token: string; refresh_token: string; scope: string };
      expect(issued.scope).toBe('repository:e2e/app:pull');
      const refreshed = await fetch(`${berth.authUrl}/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: issued.refresh_token,
          service: 'berth',
          client_id: 'e2e',
        }),
      });
      expect(refreshed.status).toBe(200);
      const bad = await fetch(`${berth.authUrl}/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'password',
          username: robot.username,
          password: 'wrong',
          client_id: 'e2e',
        }),
      });
      expect(bad.status).toBe(401);
      expect(await bad.json()).toMatchObject({ error: 'invalid_grant' });
    });

    it('answers SQL-ish and overlong usernames with 401, never 500', async () => {
      for (const username of ["admin' OR '1'='1", 'x'.repeat(10_000), 'robot$', 'robot$../../etc']) {
        const response = await tokenFor(berth, { username, password: 'whatever' }, []);
        expect(response.status).toBe(401);
      }
    });
  });

  describe('robots', () => {
    it('refuses a revoked robot at once, over the token endpoint and Basic alike', async () => {
      const made = await apiJson<{ username: string; secret: string }>(berth, 'POST', '/api/v1/robots', 201, {
        body: { name: 'short-lived', permissions: [{ project: 'e2e', actions: ['pull'] }] },
      });
      const credentials = { username: made.username, password: made.secret };
      const name = repoName();
      await pusher.pushImage(name, 'v1');
      const viaBasic = () =>
        fetch(`${berth.url}/v2/${name}/tags/list`, { headers: { authorization: basicAuth(credentials) } });
      expect((await viaBasic()).status).toBe(200);
      expect((await tokenFor(berth, credentials, [])).status).toBe(200);
      await apiJson(berth, 'DELETE', '/api/v1/robots/short-lived', 204);
      expect((await tokenFor(berth, credentials, [])).status).toBe(401);
      expect((await viaBasic()).status).toBe(401);
    });

    it('rotates a secret: the old one stops working, the new one works', async () => {
      const made = await apiJson<{ username: string; secret: string }>(berth, 'POST', '/api/v1/robots', 201, {
        body: {
          name: 'rotating',
          permissions: [{ project: 'e2e', repositories: ['e2e/app-*'], actions: ['pull'] }],
        },
      });
      const rotated = await apiJson<{ secret: string }>(berth, 'POST', '/api/v1/robots/rotating/secret', 200);
      expect(rotated.secret).not.toBe(made.secret);
      expect((await tokenFor(berth, { username: made.username, password: made.secret }, [])).status).toBe(
        401,
      );
      const fresh = await tokenFor(berth, { username: made.username, password: rotated.secret }, [
        'repository:e2e/app-one:pull',
        'repository:e2e/other:pull',
      ]);
      expect(claimsOf(fresh.token)['access']).toEqual([
        { type: 'repository', name: 'e2e/app-one', actions: ['pull'] },
      ]);
      const listed = await apiJson<{ name: string; secret?: string }[]>(berth, 'GET', '/api/v1/robots', 200);
      expect(listed.map((r) => r.name)).toEqual(expect.arrayContaining(['e2e', 'rotating']));
      expect(listed.every((r) => r.secret === undefined)).toBe(true);
    });

    it('lets a robot scoped to its own project pull from a public project, as anonymous callers may', async () => {
      await apiJson(berth, 'POST', '/api/v1/projects', 201, { body: { name: 'base', public: true } });
      const admin = new OciClient(berth.url, berth.admin);
      await admin.pushImage('base/os', 'v1');
      const ci = new OciClient(berth.url, robot);
      expect((await ci.request('GET', '/v2/base/os/manifests/v1')).status).toBe(200);
      const token = await tokenFor(berth, robot, ['repository:base/os:pull,push']);
      expect(claimsOf(token.token)['access']).toEqual([
        { type: 'repository', name: 'base/os', actions: ['pull'] },
      ]);
      const upload = await ci.request('POST', '/v2/base/os/blobs/uploads/');
      expect(upload.status).toBe(401);
    });

    it('reads repository patterns within their project, and refuses one that names another project', async () => {
      const made = await apiJson<{ username: string; secret: string }>(berth, 'POST', '/api/v1/robots', 201, {
        body: {
          name: 'scoped',
          permissions: [{ project: 'e2e', repositories: ['app', 'team/*'], actions: ['push', 'pull'] }],
        },
      });
      const granted = await tokenFor(berth, { username: made.username, password: made.secret }, [
        'repository:e2e/app:pull,push',
        'repository:e2e/team/api:push',
        'repository:e2e/other:push',
      ]);
      expect(claimsOf(granted.token)['access']).toEqual([
        { type: 'repository', name: 'e2e/app', actions: ['pull', 'push'] },
        { type: 'repository', name: 'e2e/team/api', actions: ['push'] },
      ]);
      const scoped = new OciClient(berth.url, { username: made.username, password: made.secret });
      await scoped.pushImage('e2e/app', 'v1');

      const refused = await api(berth, 'POST', '/api/v1/robots', {
        body: {
          name: 'confused',
          permissions: [{ project: 'e2e', repositories: ['library/app'], actions: ['push'] }],
        },
      });
      expect(refused.status).toBe(400);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect(((await refused.json()) as { detail: string }).detail).toContain('names project "library"');
      const update = await api(berth, 'PATCH', '/api/v1/robots/scoped', {
        body: { permissions: [{ project: 'e2e', repositories: ['library/*'], actions: ['pull'] }] },
      });
      expect(update.status).toBe(400);
      // A first segment that is no project is a path within the project.
      await apiJson(berth, 'POST', '/api/v1/robots', 201, {
        body: {
          name: 'nested',
          permissions: [{ project: 'e2e', repositories: ['tools/lint'], actions: ['pull'] }],
        },
      });
    });

    it('refuses an expired robot', async () => {
      const made = await apiJson<{ username: string; secret: string }>(berth, 'POST', '/api/v1/robots', 201, {
        body: {
          name: 'expiring',
          expiresAt: new Date(Date.now() + 3600_000).toISOString(),
          permissions: [{ project: 'e2e', actions: ['pull'] }],
        },
      });
      const credentials = { username: made.username, password: made.secret };
      expect((await tokenFor(berth, credentials, [])).status).toBe(200);
      // A creation refuses an expiry in the past; a change may set one, as if the time had passed.
      await apiJson(berth, 'PATCH', '/api/v1/robots/expiring', 200, {
        body: { expiresAt: new Date(Date.now() - 60_000).toISOString() },
      });
      expect((await tokenFor(berth, credentials, [])).status).toBe(401);
    });
  });

  describe('projects and roles', () => {
    beforeAll(async () => {
      for (const name of ['owner', 'maint', 'dev', 'guest', 'limited', 'outsider']) await createUser(name);
      await apiJson(berth, 'POST', '/api/v1/projects', 201, {
        body: { name: 'team', public: false },
        as: user('owner'),
      });
      for (const [username, role] of [
        ['maint', 'maintainer'],
        ['dev', 'developer'],
        ['guest', 'guest'],
        ['limited', 'limited-guest'],
      ] as const) {
        await apiJson(berth, 'POST', '/api/v1/projects/team/members', 201, {
          body: { username, role },
          as: user('owner'),
        });
      }
    });

    it.each([
      ['owner', ['pull', 'push', 'delete']],
      ['maint', ['pull', 'push', 'delete']],
      ['dev', ['pull', 'push']],
      ['guest', ['pull']],
      ['limited', ['pull']],
      ['outsider', []],
    ])('grants %s what its role allows in the project', async (username, actions) => {
      const granted = await tokenFor(berth, user(username), ['repository:team/app:pull,push,delete']);
      expect(claimsOf(granted.token)['access']).toEqual(
        actions.length === 0 ? [] : [{ type: 'repository', name: 'team/app', actions }],
      );
    });

    it('lets a project admin manage members, and nobody below it', async () => {
      const asDev = await api(berth, 'POST', '/api/v1/projects/team/members', {
        body: { username: 'outsider', role: 'guest' },
        as: user('dev'),
      });
      expect(asDev.status).toBe(403);
      expect(asDev.headers.get('content-type')).toContain('application/problem+json');
      expect(await asDev.json()).toMatchObject({ status: 403, title: 'Forbidden' });
      expect((await api(berth, 'GET', '/api/v1/projects/team/members', { as: user('guest') })).status).toBe(
        200,
      );
      expect((await api(berth, 'GET', '/api/v1/projects/team/members', { as: user('limited') })).status).toBe(
        403,
      );
      expect((await api(berth, 'GET', '/api/v1/projects/team', { as: user('outsider') })).status).toBe(404);
      await apiJson(berth, 'PATCH', '/api/v1/projects/team/members/users/guest', 200, {
        body: { role: 'developer' },
        as: user('owner'),
      });
      const promoted = await tokenFor(berth, user('guest'), ['repository:team/app:push']);
      expect(claimsOf(promoted.token)['access']).toEqual([
        { type: 'repository', name: 'team/app', actions: ['push'] },
      ]);
      await apiJson(berth, 'PATCH', '/api/v1/projects/team/members/users/guest', 200, {
        body: { role: 'guest' },
        as: user('owner'),
      });
    });

    it('lets only a system admin push into a project that does not exist, which creates it private', async () => {
      const project = `auto${Date.now()}`;
      const denied = await tokenFor(berth, user('dev'), [`repository:${project}/app:push`]);
      expect(claimsOf(denied.token)['access']).toEqual([]);
      const admin = new OciClient(berth.url, berth.admin);
      await admin.pushImage(`${project}/app`, 'v1');
      expect(await apiJson(berth, 'GET', `/api/v1/projects/${project}`, 200)).toMatchObject({
        name: project,
        public: false,
      });
    });

    it("issues a system admin's token for a project that does not exist without creating it", async () => {
      const project = `tokenonly${Date.now()}`;
      const granted = await tokenFor(berth, berth.admin, [`repository:${project}/app:pull,push`]);
      expect(claimsOf(granted.token)['access']).toEqual([
        { type: 'repository', name: `${project}/app`, actions: ['pull', 'push'] },
      ]);
      expect((await api(berth, 'GET', `/api/v1/projects/${project}`)).status).toBe(404);
      // A script that creates the project through the API after asking for a token is not refused.
      await apiJson(berth, 'POST', '/api/v1/projects', 201, { body: { name: project, public: true } });
      // The first write into a project that nobody made yet creates it (a system admin's).
      const later = `firstwrite${Date.now()}`;
      const upload = await fetch(`${berth.url}/v2/${later}/app/blobs/uploads/`, {
        method: 'POST',
        headers: { authorization: basicAuth(berth.admin) },
      });
      expect(upload.status).toBe(202);
      expect(await apiJson(berth, 'GET', `/api/v1/projects/${later}`, 200)).toMatchObject({ public: false });
    });

    it('lets anonymous callers pull from public projects only, and never push', async () => {
      await apiJson(berth, 'POST', '/api/v1/projects', 201, { body: { name: 'oss', public: true } });
      const admin = new OciClient(berth.url, berth.admin);
      await admin.pushImage('oss/tool', 'v1');
      const anonymous = await tokenFor(berth, null, [
        'repository:oss/tool:pull,push',
        'repository:team/app:pull',
      ]);
      expect(claimsOf(anonymous.token)['access']).toEqual([
        { type: 'repository', name: 'oss/tool', actions: ['pull'] },
      ]);
      expect((await v2(berth, 'GET', '/v2/oss/tool/tags/list', anonymous.token)).status).toBe(200);
      expect((await v2(berth, 'POST', '/v2/oss/tool/blobs/uploads/', anonymous.token)).status).toBe(401);
    });

    it('shows each caller only what it may see in _catalog', async () => {
      const admin = new OciClient(berth.url, berth.admin);
      await admin.pushImage('team/secret', 'v1');
      await admin.pushImage('oss/visible', 'v1');
      const catalog = async (as: Credentials | null) => {
        const token = await tokenFor(berth, as, ['registry:catalog:*']);
        const response = await v2(berth, 'GET', '/v2/_catalog', token.token);
        return ((await response.json()) as { repositories: string[] }).repositories;
      };
      expect(await catalog(user('dev'))).toEqual(expect.arrayContaining(['team/secret', 'oss/visible']));
      const outsider = await catalog(user('outsider'));
      expect(outsider).toContain('oss/visible');
      expect(outsider.some((name) => name.startsWith('team/') || name.startsWith('e2e/'))).toBe(false);
      expect((await catalog(null)).every((name) => name.startsWith('oss/') || name.startsWith('base/'))).toBe(
        true,
      );
      expect(await catalog(berth.admin)).toEqual(expect.arrayContaining(['team/secret', 'oss/visible']));
    });

    it('refuses to delete a project that still has repositories', async () => {
      const response = await api(berth, 'DELETE', '/api/v1/projects/oss');
      expect(response.status).toBe(409);
    });

    it('answers bad management input with problem details, never 500', async () => {
      const cases: [string, string, unknown, number][] = [
        ['POST', '/api/v1/users', { username: "x'; DROP TABLE account; --", password: 'long-enough' }, 400],
        ['POST', '/api/v1/users', { username: 'y'.repeat(500), password: 'long-enough' }, 400],
        ['POST', '/api/v1/projects', { name: '../etc', public: true }, 400],
        ['POST', '/api/v1/robots', { name: 'r', permissions: [] }, 400],
        ['POST', '/api/v1/robots', { name: 'r', permissions: [{ project: 'e2e', actions: ['own'] }] }, 400],
        ['GET', `/api/v1/users/${'z'.repeat(90)}`, undefined, 404],
        ['GET', '/api/v1/audit-logs?page=-1', undefined, 400],
      ];
      for (const [method, path, body, status] of cases) {
        const response = await api(berth, method, path, { body });
        expect({ path, status: response.status }).toEqual({ path, status });
        expect(response.headers.get('content-type')).toContain('application/problem+json');
      }
      const noAuth = await api(berth, 'GET', '/api/v1/users', { as: null });
      expect(noAuth.status).toBe(401);
      const notAdmin = await api(berth, 'GET', '/api/v1/audit-logs', { as: user('dev') });
      expect(notAdmin.status).toBe(403);
    });

    it('remembers a Basic login on the API, and forgets it at once when the password changes', async () => {
      await createUser('changer');
      const projects = (as: Credentials) => api(berth, 'GET', '/api/v1/projects', { as });
      expect((await projects(user('changer'))).status).toBe(200);
      expect((await projects(user('changer'))).status).toBe(200);
      expect((await projects({ username: 'changer', password: 'not-the-password' })).status).toBe(401);
      await apiJson(berth, 'PATCH', '/api/v1/users/changer', 200, {
        body: { password: 'changer-new-password' },
        as: user('changer'),
      });
      expect((await projects(user('changer'))).status).toBe(401);
      expect((await projects({ username: 'changer', password: 'changer-new-password' })).status).toBe(200);
    });

    it('audits logins, grants, denials and changes, with filters and pages', async () => {
      await tokenFor(berth, { username: 'dev', password: 'wrong password' }, []);
      const failures = await apiJson<{ items: { actor: string; outcome: string; sourceAddress: string }[] }>(
        berth,
        'GET',
        '/api/v1/audit-logs?action=login&actor=dev',
        200,
      );
      expect(failures.items[0]).toMatchObject({
        actor: 'dev',
        outcome: 'failure',
        sourceAddress: expect.any(String) as unknown,
      });
      const changes = await apiJson<{ items: { action: string }[]; hasMore: boolean }>(
        berth,
        'GET',
        '/api/v1/audit-logs?action=member.add&pageSize=2',
        200,
      );
      expect(changes.items).toHaveLength(2);
      expect(changes.hasMore).toBe(true);
      const denials = await apiJson<{ items: unknown[] }>(
        berth,
        'GET',
        '/api/v1/audit-logs?outcome=denied',
        200,
      );
      expect(denials.items.length).toBeGreaterThan(0);
    });
  });

  it('publishes the OpenAPI document of all of /api/v1, merged from each service, and a docs page', async () => {
    type Document = {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
      'x-berth-missing-parts'?: string[];
    };
    const fetchDocument = async (path: string): Promise<Document> => {
      const response = await fetch(`${berth.authUrl}${path}`);
      expect(response.status).toBe(200);
      return (await response.json()) as Document;
    };
    const document = await fetchDocument('/api/v1/openapi.json');
    expect(document.openapi).toBe('3.1.0');
    expect(document['x-berth-missing-parts']).toBeUndefined();
    const webhookPaths = [
      '/api/v1/projects/{project}/webhooks',
      '/api/v1/projects/{project}/webhooks/{id}',
      '/api/v1/projects/{project}/webhooks/{id}/secret',
      '/api/v1/projects/{project}/webhooks/{id}/deliveries',
      '/api/v1/projects/{project}/webhooks/{id}/deliveries/{deliveryId}',
      '/api/v1/projects/{project}/webhooks/{id}/deliveries/{deliveryId}/redeliver',
    ];
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/users',
        '/api/v1/projects/{name}/members',
        '/api/v1/robots/{name}/secret',
        '/api/v1/audit-logs',
        ...webhookPaths,
      ]),
    );
    expect(Object.keys(document.components.schemas)).toEqual(
      expect.arrayContaining(['User', 'CreateRobot', 'Webhook', 'CreateWebhook', 'Delivery', 'Problem']),
    );

    // Each service's own part holds only its own routes; webhooks' comes from the webhooks service.
    const own = await fetchDocument('/api/v1/openapi/auth.json');
    expect(Object.keys(own.paths)).toContain('/api/v1/users');
    expect(Object.keys(own.paths).filter((path) => path.includes('/webhooks'))).toEqual([]);
    const webhooks = await fetchDocument('/api/v1/openapi/webhooks.json');
    expect(Object.keys(webhooks.paths).sort()).toEqual([...webhookPaths].sort());
    expect((await fetch(`${berth.authUrl}/api/v1/openapi/nothing.json`)).status).toBe(404);

    const page = await fetch(`${berth.authUrl}/api/v1/docs`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('swagger-ui-bundle.js');
    expect((await fetch(`${berth.authUrl}/api/v1/docs/assets/swagger-ui-bundle.js`)).status).toBe(200);
    expect((await fetch(`${berth.authUrl}/api/v1/docs/assets/other.js`)).status).toBe(404);
  });
});

describe('brute force (all-in-one)', () => {
  let berth: RunningBerth;

  beforeAll(async () => {
    berth = await startBerth({
      shape: 'all-in-one',
      env: {
        BERTH_AUTH_RATE_LIMIT_FAILURES_PER_ADDRESS: '5',
        BERTH_AUTH_RATE_LIMIT_FAILURES_PER_ACCOUNT: '3',
      },
    });
  });

  afterAll(async () => {
    await berth.stop();
  });

  it('rate limits a password spray by source address, and audits it', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      statuses.push((await tokenFor(berth, { username: `victim${i}`, password: 'Password1' }, [])).status);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    const limited = await tokenFor(berth, berth.admin, []);
    expect(limited.status).toBe(429);
    const response = await fetch(`${berth.authUrl}/token?service=berth`, {
      headers: { authorization: basicAuth(berth.admin) },
    });
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    const viaV2 = await fetch(`${berth.url}/v2/`, { headers: { authorization: basicAuth(berth.admin) } });
    expect(viaV2.status).toBe(429);
  });
});
