import { startBerth, startSlapd, type RunningBerth, type SlapdServer } from '@berth/testing';
import { api, apiJson, basicAuth } from './support/auth';
import { OciClient, errorCodes, type Credentials } from './support/oci-client';
import { SHAPES } from './support/shapes';

const ALICE: Credentials = { username: 'alice', password: 'alice-ldap-secret' };
const BOB: Credentials = { username: 'bob', password: 'bob-ldap-secret' };
/** Exists in the directory and, with another password, as a local user. */
const LOCAL_CAROL: Credentials = { username: 'carol', password: 'carol-local-password' };

/** The access a Basic login gets from the token endpoint for one repository scope. */
async function grantedActions(berth: RunningBerth, as: Credentials, repository: string): Promise<unknown> {
  const url = new URL(`${berth.authUrl}/token`);
  url.searchParams.set('service', 'berth');
  url.searchParams.set('scope', `repository:${repository}:pull,push,delete`);
  const response = await fetch(url, { headers: { authorization: basicAuth(as) } });
  expect(response.status).toBe(200);
  const { token } = (await response.json()) as { token: string };
  const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
    access: { actions: string[] }[];
  };
  return claims.access.flatMap((entry) => entry.actions);
}

describe.each(SHAPES)('LDAP login: $label', (shape) => {
  let slapd: SlapdServer;
  let berth: RunningBerth;

  beforeAll(async () => {
    slapd = await startSlapd({
      users: [
        { uid: 'alice', password: ALICE.password, mail: 'alice@berth.test' },
        { uid: 'bob', password: BOB.password },
        { uid: 'carol', password: 'carol-ldap-password' },
      ],
      groups: [
        { cn: 'platform', members: ['alice'] },
        { cn: 'auditors', members: ['bob'] },
      ],
    });
    berth = await startBerth({
      ...shape,
      env: {
        BERTH_LDAP_URL: slapd.url,
        BERTH_LDAP_BIND_DN: slapd.bindDn,
        BERTH_LDAP_BIND_PASSWORD: slapd.bindPassword,
        BERTH_LDAP_USER_BASE: slapd.userBase,
        BERTH_LDAP_GROUP_BASE: slapd.groupBase,
      },
    });
    await apiJson(berth, 'POST', '/api/v1/projects', 201, { body: { name: 'platform', public: false } });
    await apiJson(berth, 'POST', '/api/v1/projects/platform/members', 201, {
      body: { group: 'platform', role: 'developer' },
    });
    await apiJson(berth, 'POST', '/api/v1/projects/platform/members', 201, {
      body: { group: 'auditors', role: 'guest' },
    });
    await apiJson(berth, 'POST', '/api/v1/users', 201, { body: LOCAL_CAROL });
  });

  afterAll(async () => {
    await berth.stop();
    await slapd.stop();
  });

  it('gives a directory user the role of their directory group, and pushes and pulls with it', async () => {
    expect(await grantedActions(berth, ALICE, 'platform/app')).toEqual(['pull', 'push']);
    const alice = new OciClient(berth.url, ALICE);
    const { layers } = await alice.pushImage('platform/app', 'v1');
    const layer = layers[0];
    if (layer === undefined) throw new Error('no layer pushed');
    expect(await alice.pulledDigest('platform/app', layer.digest)).toBe(layer.digest);
  });

  it('maps another group to a lesser role', async () => {
    expect(await grantedActions(berth, BOB, 'platform/app')).toEqual(['pull']);
  });

  it('creates the account at the first login with the email and groups from the directory', async () => {
    await grantedActions(berth, ALICE, 'platform/app');
    const account = await apiJson<Record<string, unknown>>(berth, 'GET', '/api/v1/users/alice', 200);
    expect(account).toMatchObject({
      username: 'alice',
      email: 'alice@berth.test',
      source: 'ldap',
      groups: ['platform'],
    });
  });

  it('reads the groups again at every login', async () => {
    await slapd.addToGroup('platform', 'bob');
    expect(await grantedActions(berth, BOB, 'platform/app')).toEqual(['pull', 'push']);
  });

  it('refuses a wrong directory password like any other', async () => {
    const response = await api(berth, 'GET', '/token?service=berth', {
      as: { username: 'alice', password: 'not-her-password' },
    });
    expect(response.status).toBe(401);
    expect(await errorCodes(response)).toEqual(['UNAUTHORIZED']);
  });

  it('keeps a local user local: the directory password of the same name does not log in', async () => {
    const viaDirectory = await api(berth, 'GET', '/token?service=berth', {
      as: { username: 'carol', password: 'carol-ldap-password' },
    });
    expect(viaDirectory.status).toBe(401);
    const local = await api(berth, 'GET', '/token?service=berth', { as: LOCAL_CAROL });
    expect(local.status).toBe(200);
  });

  it('does not let the API change a directory user’s password', async () => {
    const response = await api(berth, 'PATCH', '/api/v1/users/alice', {
      body: { password: 'a-new-password' },
    });
    expect(response.status).toBe(409);
  });

  // Last: it stops the directory.
  it('answers 503 while the directory is down, and local logins keep working', async () => {
    await slapd.stop();
    const token = await api(berth, 'GET', '/token?service=berth', {
      as: { username: 'dave', password: 'dave-password' },
    });
    expect(token.status).toBe(503);
    expect(token.headers.get('retry-after')).toBe('30');
    expect(await errorCodes(token)).toEqual(['UNAVAILABLE']);
    const v2 = await fetch(`${berth.url}/v2/platform/app/tags/list`, {
      headers: { authorization: basicAuth({ username: 'dave', password: 'dave-password' }) },
    });
    expect(v2.status).toBe(503);
    expect(await errorCodes(v2)).toEqual(['UNAVAILABLE']);
    const apiCall = await api(berth, 'GET', '/api/v1/projects', {
      as: { username: 'dave', password: 'dave-password' },
    });
    expect(apiCall.status).toBe(503);
    expect(apiCall.headers.get('content-type')).toContain('application/problem+json');
    expect((await api(berth, 'GET', '/token?service=berth', { as: LOCAL_CAROL })).status).toBe(200);
    const audit = await apiJson<{ items: { actor: string; detail: Record<string, unknown> }[] }>(
      berth,
      'GET',
      '/api/v1/audit-logs?actor=dave&action=login',
      200,
    );
    expect(audit.items[0]?.detail).toMatchObject({ reason: 'directory_unavailable' });
  });
});
