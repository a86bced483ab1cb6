import { createHash } from 'node:crypto';
import { hashGeneratedSecret } from '@berth/auth-core';
import { openDatabase, type Database } from '@berth/db';
import { TokenVerifier, type Action, type ResourceScope } from '@berth/registry-token';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import pino from 'pino';
import { AccessService } from '../access.service';
import { AccountRepository } from '../account.repository';
import { AuditRepository } from '../audit.repository';
import { Auditor } from '../auditor';
import type { Identity } from '../model';
import { ProjectRepository } from '../project.repository';
import { RobotRepository } from '../robot.repository';
import { KeyRing } from './key-ring';
import { SigningKeyRepository } from './signing-key.repository';
import { TokenService, type TokenOptions } from './token.service';

const logger = pino({ level: 'silent' });
const OPTIONS: TokenOptions = {
  issuer: 'berth-token-service',
  service: 'registry.example.com',
  ttlSeconds: 300,
  refreshTtlSeconds: 3600,
};
const request = {
  sourceAddress: '198.51.100.4',
  requestId: 'req-7',
  clientId: 'docker',
  offline: false,
};

const repo = (name: string, ...actions: Action[]): ResourceScope => ({ type: 'repository', name, actions });
const ALICE: Identity = { kind: 'user', username: 'alice', admin: false, groups: [] };
const ROBOT: Identity = { kind: 'robot', name: 'ci', permissions: [{ project: 'team', actions: ['pull'] }] };

/** The claims and header of a compact JWT, read without verifying it. */
function decode(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [header = '', claims = ''] = token.split('.');
  const read = (part: string) =>
    JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: read(header), claims: read(claims) };
}

describe('TokenService on PostgreSQL', () => {
  let testDb: TestDatabase;
  let database: Database;
  let accounts: AccountRepository;
  let keys: SigningKeyRepository;
  let audit: AuditRepository;
  let ring: KeyRing;
  let sut: TokenService;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = await openDatabase({ url: testDb.url, embeddedDir: '' });
    accounts = new AccountRepository(database.client);
    const projects = new ProjectRepository(database.client);
    const robots = new RobotRepository(database.client);
    keys = new SigningKeyRepository(database.client);
    audit = new AuditRepository(database.client);
    const auditor = new Auditor(audit, logger);
    ring = new KeyRing(
      keys,
      {
        rotationSeconds: 86_400,
        tokenTtlSeconds: OPTIONS.ttlSeconds,
        issuer: OPTIONS.issuer,
        audience: OPTIONS.service,
      },
      logger,
    );
    await ring.refresh();
    sut = new TokenService(
      ring,
      keys,
      new AccessService(accounts, projects, robots, auditor),
      auditor,
      OPTIONS,
    );

    await projects.create('team', false, null);
    await projects.addMember('team', { kind: 'user', name: 'alice', role: 'developer' });
    await accounts.create({
      username: 'alice',
      passwordHash: null,
      email: null,
      admin: false,
      source: 'local',
    });
    await robots.create({
      name: 'ci',
      description: null,
      secretHash: hashGeneratedSecret('secret'),
      permissions: [{ project: 'team', actions: ['pull'] }],
      expiresAt: null,
      createdBy: 'alice',
    });
  });

  afterAll(async () => {
    jest.useRealTimers();
    await database.close();
    await testDb.drop();
  });

  /** The audit records of `token.grant` for an actor, newest first. */
  const grantsOf = async (actor: string) =>
    (await audit.query({ actor, action: 'token.grant' }, 0, 50)).entries;

  it('signs a short-lived token with the current key, for the subject, the service and what was granted', async () => {
    const before = Math.floor(Date.now() / 1000);
    const issued = await sut.issue(ALICE, [repo('team/app', 'pull', 'push')], request);

    const { header, claims } = decode(issued.token);
    expect(header).toEqual({ alg: 'ES256', typ: 'JWT', kid: ring.current().kid });
    expect(claims).toMatchObject({
      iss: OPTIONS.issuer,
      sub: 'alice',
      aud: OPTIONS.service,
      access: [repo('team/app', 'pull', 'push')],
    });
    const iat = Number(claims['iat']);
    expect(iat).toBeGreaterThanOrEqual(before);
    expect(claims['nbf']).toBe(iat);
    expect(claims['exp']).toBe(iat + OPTIONS.ttlSeconds);
    expect(typeof claims['jti']).toBe('string');
    expect(issued).toMatchObject({ expiresIn: OPTIONS.ttlSeconds, refreshToken: null });
    expect(issued.issuedAt).toBe(new Date(iat * 1000).toISOString());

    // A gateway holding the published keys accepts it.
    const verifier = new TokenVerifier({ issuer: OPTIONS.issuer, audience: OPTIONS.service });
    verifier.setKeys(ring.jwks());
    await expect(verifier.verify(issued.token)).resolves.toMatchObject({
      sub: 'alice',
      access: issued.access,
    });
    // Two tokens are never the same token.
    const again = await sut.issue(ALICE, [repo('team/app', 'pull')], request);
    expect(decode(again.token).claims['jti']).not.toBe(claims['jti']);
  });

  it('grants part of what was asked, and audits what was asked and what was granted', async () => {
    const issued = await sut.issue(
      ALICE,
      [repo('team/app', 'pull', 'push', 'delete'), repo('secret/x', 'pull')],
      { ...request, requestId: 'req-partial' },
    );
    expect(issued.access).toEqual([repo('team/app', 'pull', 'push')]);
    expect(decode(issued.token).claims['access']).toEqual([repo('team/app', 'pull', 'push')]);

    const [entry] = (await grantsOf('alice')).filter(
      (e) => (e.detail as { requestId?: string }).requestId === 'req-partial',
    );
    expect(entry).toMatchObject({
      sourceAddress: '198.51.100.4',
      resource: 'repository:team/app:pull,push,delete repository:secret/x:pull',
      outcome: 'success',
      detail: {
        requested: ['repository:team/app:pull,push,delete', 'repository:secret/x:pull'],
        granted: ['repository:team/app:pull,push'],
        clientId: 'docker',
        requestId: 'req-partial',
      },
    });
  });

  it('still issues a token when nothing asked for is granted, with no access, audited as a denial', async () => {
    const issued = await sut.issue({ kind: 'anonymous' }, [repo('team/app', 'pull')], {
      ...request,
      requestId: 'req-denied',
    });
    expect(issued.access).toEqual([]);
    expect(decode(issued.token).claims).toMatchObject({ sub: '', access: [] });

    const [entry] = (await grantsOf('anonymous')).filter(
      (e) => (e.detail as { requestId?: string }).requestId === 'req-denied',
    );
    expect(entry).toMatchObject({ outcome: 'denied', resource: 'repository:team/app:pull' });
  });

  it('audits a login that asks for no scope as a success, with no resource', async () => {
    const issued = await sut.issue(ROBOT, [], { ...request, requestId: 'req-login' });
    expect(issued.access).toEqual([]);
    const [entry] = (await grantsOf('robot$ci')).filter(
      (e) => (e.detail as { requestId?: string }).requestId === 'req-login',
    );
    expect(entry).toMatchObject({ outcome: 'success', resource: null });
  });

  it('gives a refresh token for offline use to users and robots, stored only as its hash, that stands for them', async () => {
    const forUser = await sut.issue(ALICE, [], { ...request, offline: true });
    const forRobot = await sut.issue(ROBOT, [], { ...request, offline: true, clientId: null });
    const refresh = forUser.refreshToken;
    if (refresh === null || forRobot.refreshToken === null) throw new Error('no refresh token');

    const hash = createHash('sha256').update(refresh).digest('base64url');
    const rows = await database.client.$queryRaw<
      { hash: string; subject: string; client_id: string | null }[]
    >`
      SELECT hash, subject, client_id FROM auth.refresh_token WHERE subject = 'alice'`;
    expect(rows).toEqual([{ hash, subject: 'alice', client_id: 'docker' }]);
    expect(JSON.stringify(rows)).not.toContain(refresh);

    expect(await sut.redeem(refresh)).toEqual(ALICE);
    expect(await sut.redeem(forRobot.refreshToken)).toEqual(ROBOT);
    expect(await sut.redeem('not-a-refresh-token')).toBeNull();
    expect(await sut.redeem('x'.repeat(513))).toBeNull();

    // None unless asked for, and none for a workload, which has no stored identity to stand for.
    expect((await sut.issue(ALICE, [], request)).refreshToken).toBeNull();
    const workload: Identity = { kind: 'workload', name: 'deploy', permissions: [] };
    expect((await sut.issue(workload, [], { ...request, offline: true })).refreshToken).toBeNull();
  });

  it('redeems nothing for a refresh token that expired, or whose subject is gone', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'queueMicrotask'] });
    const expiring = (await sut.issue(ALICE, [], { ...request, offline: true })).refreshToken;
    if (expiring === null) throw new Error('no refresh token');

    jest.setSystemTime(Date.now() + OPTIONS.refreshTtlSeconds * 1000 - 1);
    expect(await sut.redeem(expiring)).toEqual(ALICE);
    jest.setSystemTime(Date.now() + 1);
    expect(await sut.redeem(expiring)).toBeNull();
    jest.useRealTimers();

    await accounts.create({
      username: 'temp',
      passwordHash: null,
      email: null,
      admin: false,
      source: 'local',
    });
    const temp: Identity = { kind: 'user', username: 'temp', admin: false, groups: [] };
    const renewed = (await sut.issue(temp, [], { ...request, offline: true })).refreshToken;
    if (renewed === null) throw new Error('no refresh token');
    expect(await sut.redeem(renewed)).toEqual(temp);
    await accounts.delete('temp');
    expect(await sut.redeem(renewed)).toBeNull();
  });
});
