import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBerth, startOidcProvider, type OidcProviderServer, type RunningBerth } from '@berth/testing';
import { api, apiJson, basicAuth } from './support/auth';
import { OciClient } from './support/oci-client';
import { SHAPES } from './support/shapes';

/**
 * Where the provider sends the browser back. The test plays the browser, so it reads code and
 * state off this URL and brings them to Berth's callback itself; nothing listens here.
 */
const REDIRECT_URI = 'http://127.0.0.1:9/api/v1/auth/oidc/callback';
const UI_CLIENT = { clientId: 'berth-ui', clientSecret: 'berth-ui-secret', redirectUris: [REDIRECT_URI] };
const CI_AUDIENCE = 'berth-ci';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

/** The claims of a JWT, unverified. */
function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<
    string,
    unknown
  >;
}

describe.each(SHAPES)('OpenID Connect: $label', (shape) => {
  let provider: OidcProviderServer;
  let berth: RunningBerth;
  let configDir: string;

  /** POSTs a form to /token. */
  const postToken = (form: Record<string, string>): Promise<Response> =>
    fetch(`${berth.authUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });

  /** Exchanges an ID token for a registry token with the scopes asked. */
  const exchange = (idToken: string, scope: string): Promise<Response> =>
    postToken({
      grant_type: TOKEN_EXCHANGE,
      subject_token: idToken,
      subject_token_type: ID_TOKEN_TYPE,
      service: 'berth',
      scope,
    });

  /** A CI job's ID token, as GitHub Actions would issue it. */
  const ciToken = (claims: Record<string, string>, aud = CI_AUDIENCE): Promise<string> =>
    provider.issueIdToken({ sub: `repo:${claims['repository'] ?? ''}`, aud, claims });

  /** Runs a browser login through Berth and the provider up to the callback's URL. */
  async function browserLogin(login: {
    sub: string;
    claims: Record<string, unknown>;
  }): Promise<{ callback: URL; cookie: string }> {
    const started = await fetch(`${berth.authUrl}/api/v1/auth/oidc/login`, { redirect: 'manual' });
    expect(started.status).toBe(302);
    const cookie = (started.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    expect(cookie).toMatch(/^berth_oidc_state=[\w-]{43}$/);
    const location = started.headers.get('location') ?? '';
    expect(location.startsWith(provider.issuer)).toBe(true);
    const back = new URL(await provider.completeLogin(location, login));
    const callback = new URL(`${berth.authUrl}/api/v1/auth/oidc/callback`);
    callback.search = back.search;
    return { callback, cookie };
  }

  beforeAll(async () => {
    provider = await startOidcProvider({ clients: [UI_CLIENT] });
    configDir = mkdtempSync(join(tmpdir(), 'berth-oidc-'));
    const configFile = join(configDir, 'berth.yaml');
    // JSON is YAML.
    writeFileSync(
      configFile,
      JSON.stringify({
        auth: {
          oidc: {
            issuer: provider.issuer,
            clientId: UI_CLIENT.clientId,
            clientSecret: UI_CLIENT.clientSecret,
            redirectUri: REDIRECT_URI,
          },
          oidcTrust: [
            {
              issuer: provider.issuer,
              audience: CI_AUDIENCE,
              claims: { repository: 'acme/app', ref: 'refs/heads/*' },
              robot: 'acme-app-ci',
              permissions: [{ project: 'ci', repositories: ['ci/app'], actions: ['pull', 'push'] }],
            },
          ],
        },
      }),
    );
    berth = await startBerth({ ...shape, env: { BERTH_CONFIG: configFile } });
    await apiJson(berth, 'POST', '/api/v1/projects', 201, { body: { name: 'ci', public: false } });
    await apiJson(berth, 'POST', '/api/v1/projects', 201, { body: { name: 'builds', public: false } });
    await apiJson(berth, 'POST', '/api/v1/projects/builds/members', 201, {
      body: { group: 'builders', role: 'developer' },
    });
  });

  afterAll(async () => {
    await berth.stop();
    await provider.stop();
    rmSync(configDir, { recursive: true, force: true });
  });

  describe('the browser login', () => {
    it('signs a new user in, creates it with its groups, and answers with API and refresh tokens', async () => {
      const { callback, cookie } = await browserLogin({
        sub: 'user-1',
        claims: { preferred_username: 'oscar', email: 'oscar@berth.test', groups: ['builders'] },
      });
      const response = await fetch(callback, { headers: { cookie } });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { username: string; token: string; refresh_token: string };
      expect(body.username).toBe('oscar');

      const me = await fetch(`${berth.authUrl}/api/v1/users/oscar`, {
        headers: { authorization: `Bearer ${body.token}` },
      });
      expect(await me.json()).toMatchObject({
        source: 'oidc',
        email: 'oscar@berth.test',
        groups: ['builders'],
      });

      const refreshed = await postToken({
        grant_type: 'refresh_token',
        refresh_token: body.refresh_token,
        service: 'berth',
        scope: 'repository:builds/app:pull,push',
      });
      const { access_token: registryToken } = (await refreshed.json()) as { access_token: string };
      expect(claimsOf(registryToken)['access']).toEqual([
        { type: 'repository', name: 'builds/app', actions: ['pull', 'push'] },
      ]);
    });

    it('refuses a callback replayed, or brought by another browser', async () => {
      const { callback, cookie } = await browserLogin({
        sub: 'user-2',
        claims: { preferred_username: 'pia' },
      });
      const foreign = await fetch(callback, { headers: { cookie: 'berth_oidc_state=someone-elses' } });
      expect(foreign.status).toBe(401);
      expect(foreign.headers.get('content-type')).toContain('application/problem+json');
      expect((await fetch(callback)).status).toBe(401);
      expect((await fetch(callback, { headers: { cookie } })).status).toBe(200);
      const replayed = await fetch(callback, { headers: { cookie } });
      expect(replayed.status).toBe(401);
    });

    it('never signs a provider user in as a local user of the same name', async () => {
      const { callback, cookie } = await browserLogin({
        sub: 'user-3',
        claims: { preferred_username: 'admin' },
      });
      const response = await fetch(callback, { headers: { cookie } });
      expect(response.status).toBe(409);
    });

    it('refuses a username claim that is no valid username', async () => {
      const { callback, cookie } = await browserLogin({
        sub: 'user-4',
        claims: { preferred_username: "x' OR 1=1 --" },
      });
      expect((await fetch(callback, { headers: { cookie } })).status).toBe(403);
    });

    it('passes on the provider’s refusal as a problem', async () => {
      const callback = new URL(`${berth.authUrl}/api/v1/auth/oidc/callback?error=access_denied&state=x`);
      const response = await fetch(callback);
      expect(response.status).toBe(401);
      const problem = (await response.json()) as { status: number; detail: string };
      expect(problem.status).toBe(401);
      expect(problem.detail).toContain('access_denied');
    });
  });

  describe('the CI token exchange', () => {
    it('trades a matching ID token for a registry token with the rule’s permissions', async () => {
      const idToken = await ciToken({ repository: 'acme/app', ref: 'refs/heads/main' });
      const response = await exchange(idToken, 'repository:ci/app:pull,push,delete repository:ci/other:pull');
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        token_type: 'Bearer',
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      });
      expect(body['refresh_token']).toBeUndefined();
      const claims = claimsOf(String(body['access_token']));
      expect(claims['sub']).toBe('oidc$acme-app-ci');
      expect(claims['access']).toEqual([{ type: 'repository', name: 'ci/app', actions: ['pull', 'push'] }]);
    });

    it('lets a CI job log in with its ID token as the password, and push and pull', async () => {
      const idToken = await ciToken({ repository: 'acme/app', ref: 'refs/heads/release' });
      const client = new OciClient(berth.url, { username: 'oidc', password: idToken });
      const { layers } = await client.pushImage('ci/app', 'build-1');
      const layer = layers[0];
      if (layer === undefined) throw new Error('no layer pushed');
      expect(await client.pulledDigest('ci/app', layer.digest)).toBe(layer.digest);
      // Straight to /v2/ with Basic, as clients that skip the token dance do.
      const direct = await fetch(`${berth.url}/v2/ci/app/tags/list`, {
        headers: { authorization: basicAuth({ username: 'oidc', password: idToken }) },
      });
      expect(direct.status).toBe(200);
    });

    it('refuses claims that match no rule, a wrong audience, and a forged token', async () => {
      const tag = await ciToken({ repository: 'acme/app', ref: 'refs/tags/v1' });
      const other = await ciToken({ repository: 'acme/other', ref: 'refs/heads/main' });
      const wrongAudience = await ciToken(
        { repository: 'acme/app', ref: 'refs/heads/main' },
        UI_CLIENT.clientId,
      );
      const genuine = await ciToken({ repository: 'acme/app', ref: 'refs/heads/main' });
      const [header, payload] = genuine.split('.');
      const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${payload ?? ''}.`;
      const widened = `${header ?? ''}.${Buffer.from(
        JSON.stringify({
          ...claimsOf(genuine),
          repository: 'acme/app',
          ref: 'refs/heads/x',
          aud: CI_AUDIENCE,
          sub: 'evil',
        }),
      ).toString('base64url')}.${genuine.split('.')[2] ?? ''}`;
      for (const idToken of [tag, other, wrongAudience, unsigned, widened]) {
        const response = await exchange(idToken, 'repository:ci/app:pull');
        expect(response.status).toBe(401);
        expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
      }
    });

    it('refuses a malformed exchange request with 400', async () => {
      const response = await postToken({ grant_type: TOKEN_EXCHANGE, subject_token: 'x', service: 'berth' });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_request' });
    });

    it('gives the workload no access to the management API', async () => {
      const idToken = await ciToken({ repository: 'acme/app', ref: 'refs/heads/main' });
      const response = await exchange(idToken, '');
      const { access_token: token } = (await response.json()) as { access_token: string };
      const projects = await fetch(`${berth.authUrl}/api/v1/robots`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(projects.status).toBe(401);
    });

    it('audits every exchange with the job behind it', async () => {
      const audit = await apiJson<{ items: { outcome: string; detail: Record<string, unknown> }[] }>(
        berth,
        'GET',
        '/api/v1/audit-logs?actor=oidc%24acme-app-ci&action=login',
        200,
      );
      expect(audit.items[0]).toMatchObject({
        outcome: 'success',
        detail: { method: 'oidc-id-token', issuer: provider.issuer, sub: 'repo:acme/app' },
      });
      const refusals = await api(berth, 'GET', '/api/v1/audit-logs?actor=oidc&action=login&outcome=failure');
      const { items } = (await refusals.json()) as { items: { detail: { reason: string } }[] };
      expect(items.map((item) => item.detail.reason)).toEqual(
        expect.arrayContaining(['no_matching_rule', 'invalid_token']),
      );
    });
  });
});
