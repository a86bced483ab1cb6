import { hashGeneratedSecret, type RobotPermission } from '@berth/auth-core';
import { openDatabase, type Database } from '@berth/db';
import type { Action, ResourceScope } from '@berth/registry-token';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import pino from 'pino';
import { AccessService } from './access.service';
import { AccountRepository } from './account.repository';
import { AuditRepository } from './audit.repository';
import { Auditor } from './auditor';
import type { Identity } from './model';
import { ProjectRepository } from './project.repository';
import { RobotRepository } from './robot.repository';

const logger = pino({ level: 'silent' });
const context = { sourceAddress: '192.0.2.7', requestId: 'req-42' };

const repo = (name: string, ...actions: Action[]): ResourceScope => ({ type: 'repository', name, actions });
const CATALOG: ResourceScope = { type: 'registry', name: 'catalog', actions: ['*'] };

const user = (username: string, groups: readonly string[] = [], admin = false): Identity => ({
  kind: 'user',
  username,
  admin,
  groups,
});
const ANONYMOUS: Identity = { kind: 'anonymous' };
/** Robot `ci` of project `team`: pull and push on `app` and `tools/*` (patterns read within the project). */
const CI_PERMISSIONS: readonly RobotPermission[] = [
  { project: 'team', repositories: ['app', 'tools/*'], actions: ['pull', 'push'] },
];
const CI: Identity = { kind: 'robot', name: 'ci', permissions: CI_PERMISSIONS };

describe('AccessService on PostgreSQL', () => {
  let testDb: TestDatabase;
  let database: Database;
  let accounts: AccountRepository;
  let projects: ProjectRepository;
  let robots: RobotRepository;
  let audit: AuditRepository;
  let sut: AccessService;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = await openDatabase({ url: testDb.url, embeddedDir: '' });
    accounts = new AccountRepository(database.client);
    projects = new ProjectRepository(database.client);
    robots = new RobotRepository(database.client);
    audit = new AuditRepository(database.client);
    sut = new AccessService(accounts, projects, robots, new Auditor(audit, logger));

    // `team` (private) with members, `open` (public) and `secret` (private) without any.
    await projects.create('team', false, null);
    await projects.create('open', true, null);
    await projects.create('secret', false, null);
    await projects.addMember('team', { kind: 'user', name: 'alice', role: 'developer' });
    await projects.addMember('team', { kind: 'user', name: 'bob', role: 'guest' });
    await projects.addMember('team', { kind: 'user', name: 'carol', role: 'guest' });
    await projects.addMember('team', { kind: 'group', name: 'devs', role: 'maintainer' });
    for (const [username, admin] of [
      ['alice', false],
      ['bob', false],
      ['carol', false],
      ['dave', false],
      ['root', true],
    ] as const)
      await accounts.create({ username, passwordHash: null, email: null, admin, source: 'local' });
    await accounts.update('carol', { groups: ['devs'] });
    const robot = (name: string, permissions: readonly RobotPermission[], expiresAt: Date | null) =>
      robots.create({
        name,
        description: null,
        secretHash: hashGeneratedSecret(`${name}-secret`),
        permissions,
        expiresAt,
        createdBy: 'root',
      });
    await robot('ci', CI_PERMISSIONS, null);
    await robot('old', [{ project: 'team', actions: ['pull'] }], new Date(Date.now() - 1000));
  });

  afterAll(async () => {
    await database.close();
    await testDb.drop();
  });

  const projectCount = async (): Promise<number> => database.client.project.count();

  describe('grant', () => {
    it('grants a member what its role allows of what was asked, and no more', async () => {
      const asked = [repo('team/app', 'pull', 'push', 'delete')];
      expect(await sut.grant(user('alice'), asked)).toEqual([repo('team/app', 'pull', 'push')]);
      expect(await sut.grant(user('bob'), asked)).toEqual([repo('team/app', 'pull')]);
    });

    it("takes the stronger of a user's own role and its groups' roles", async () => {
      const asked = [repo('team/app', 'pull', 'push', 'delete')];
      // Carol is a guest herself and a maintainer through `devs`.
      expect(await sut.grant(user('carol', ['devs']), asked)).toEqual([
        repo('team/app', 'pull', 'push', 'delete'),
      ]);
      // A directory user with no membership of its own gets the group's role.
      expect(await sut.grant(user('erin', ['devs']), asked)).toEqual([
        repo('team/app', 'pull', 'push', 'delete'),
      ]);
      expect(await sut.grant(user('erin', ['ops']), asked)).toEqual([]);
    });

    it('grants pull in a public project to every caller, robots included, and nothing in a private one', async () => {
      const asked = [repo('open/base', 'pull', 'push'), repo('secret/x', 'pull')];
      expect(await sut.grant(user('dave'), asked)).toEqual([repo('open/base', 'pull')]);
      expect(await sut.grant(ANONYMOUS, asked)).toEqual([repo('open/base', 'pull')]);
      // A robot whose permissions name only `team` still pulls public base images.
      expect(await sut.grant(CI, asked)).toEqual([repo('open/base', 'pull')]);
      expect(await sut.grant(ANONYMOUS, [repo('team/app', 'pull')])).toEqual([]);
    });

    it('grants part of a request across scopes, the catalog to everyone, and merges a repeated scope', async () => {
      const granted = await sut.grant(user('alice'), [
        repo('team/app', 'pull'),
        repo('secret/x', 'pull'),
        repo('open/y', 'pull', 'push'),
        CATALOG,
        repo('team/app', 'push', 'delete'),
      ]);
      expect(granted).toEqual([repo('team/app', 'pull', 'push'), repo('open/y', 'pull'), CATALOG]);
      expect(await sut.grant(ANONYMOUS, [CATALOG])).toEqual([CATALOG]);
    });

    it('gives a system admin everything, in projects that do not exist too, and creates none', async () => {
      const before = await projectCount();
      const asked = [repo('team/app', 'pull', 'push', 'delete'), repo('newproj/app', 'pull', 'push')];
      expect(await sut.grant(user('root', [], true), asked)).toEqual(asked);
      expect(await projects.find('newproj')).toBeNull();
      expect(await projectCount()).toBe(before);
      // Nobody else may write into a project that does not exist.
      expect(await sut.grant(user('alice'), [repo('newproj/app', 'pull', 'push')])).toEqual([]);
    });

    it("reads a robot's repository patterns within its project, and keeps the full form working", async () => {
      const asked = (name: string) => [repo(name, 'pull', 'push', 'delete')];
      expect(await sut.grant(CI, asked('team/app'))).toEqual([repo('team/app', 'pull', 'push')]);
      expect(await sut.grant(CI, asked('team/tools/lint'))).toEqual([
        repo('team/tools/lint', 'pull', 'push'),
      ]);
      expect(await sut.grant(CI, asked('team/tools/lint/deep'))).toEqual([]);
      expect(await sut.grant(CI, asked('team/other'))).toEqual([]);
      const legacy: Identity = {
        kind: 'robot',
        name: 'legacy',
        permissions: [{ project: 'team', repositories: ['team/app'], actions: ['pull'] }],
      };
      expect(await sut.grant(legacy, asked('team/app'))).toEqual([repo('team/app', 'pull')]);
      // A system-level robot reaches every project that exists, and none that does not.
      const everywhere: Identity = {
        kind: 'workload',
        name: 'deploy',
        permissions: [{ project: '*', actions: ['pull'] }],
      };
      expect(await sut.grant(everywhere, [...asked('secret/x'), ...asked('nowhere/x')])).toEqual([
        repo('secret/x', 'pull'),
      ]);
    });
  });

  describe('ensureProject', () => {
    it('says a project that exists exists, and changes nothing', async () => {
      const before = await projectCount();
      expect(await sut.ensureProject('team', 'alice', context)).toEqual({ exists: true, created: false });
      expect(await sut.ensureProject('team', '', context)).toEqual({ exists: true, created: false });
      expect(await projectCount()).toBe(before);
    });

    it('creates a missing project only for a system admin, private, with an audit record of the first push', async () => {
      expect(await sut.ensureProject('fresh', 'root', context)).toEqual({ exists: true, created: true });
      expect(await projects.find('fresh')).toMatchObject({ name: 'fresh', public: false });
      expect(await sut.ensureProject('fresh', 'root', context)).toEqual({ exists: true, created: false });

      const { entries } = await audit.query({ action: 'project.create' }, 0, 10);
      expect(entries.filter((entry) => entry.resource === 'fresh')).toEqual([
        expect.objectContaining({
          actor: 'root',
          sourceAddress: '192.0.2.7',
          outcome: 'success',
          detail: { reason: 'first push', requestId: 'req-42' },
        }),
      ]);
    });

    it('creates nothing for anyone else: a user, a robot, anonymous, an unknown or a demoted admin', async () => {
      const before = await projectCount();
      await accounts.create({
        username: 'former',
        passwordHash: null,
        email: null,
        admin: true,
        source: 'local',
      });
      await accounts.update('former', { admin: false });
      for (const subject of ['alice', 'robot$ci', 'oidc$deploy', '', 'nobody', 'former'])
        expect(await sut.ensureProject('wanted', subject, context)).toEqual({
          exists: false,
          created: false,
        });
      expect(await projects.find('wanted')).toBeNull();
      expect(await projectCount()).toBe(before);
    });

    it('creates a project once when two first pushes race', async () => {
      const results = await Promise.all([
        sut.ensureProject('raced', 'root', context),
        sut.ensureProject('raced', 'root', context),
      ]);
      expect(results.filter((result) => result.created)).toHaveLength(1);
      expect(results.every((result) => result.exists)).toBe(true);
      const { entries } = await audit.query({ action: 'project.create' }, 0, 10);
      expect(entries.filter((entry) => entry.resource === 'raced')).toHaveLength(1);
    });
  });

  describe('identityOf', () => {
    it('finds the identity behind a subject as it is now', async () => {
      expect(await sut.identityOf('')).toEqual(ANONYMOUS);
      expect(await sut.identityOf('carol')).toEqual(user('carol', ['devs']));
      expect(await sut.identityOf('robot$ci')).toEqual(CI);
      // Gone: unknown, expired, or a workload that lives only in its tokens.
      expect(await sut.identityOf('nobody')).toBeNull();
      expect(await sut.identityOf('robot$old')).toBeNull();
      expect(await sut.identityOf('robot$nobody')).toBeNull();
      expect(await sut.identityOf('oidc$deploy')).toBeNull();
    });
  });

  describe('visibleProjects', () => {
    it('shows public projects to everyone, members their projects, and admins and global robots all', async () => {
      const onlyPublic = { all: false, projects: ['open'] };
      expect(await sut.visibleProjects(ANONYMOUS)).toEqual(onlyPublic);
      expect(await sut.visibleProjects(user('dave'))).toEqual(onlyPublic);
      expect(await sut.visibleProjects(user('alice'))).toEqual({ all: false, projects: ['open', 'team'] });
      expect(await sut.visibleProjects(user('erin', ['devs']))).toEqual({
        all: false,
        projects: ['open', 'team'],
      });
      expect(await sut.visibleProjects(CI)).toEqual({ all: false, projects: ['open', 'team'] });
      expect(await sut.visibleProjects(user('root', [], true))).toEqual({ all: true, projects: [] });
      expect(
        await sut.visibleProjects({
          kind: 'robot',
          name: 'all',
          permissions: [{ project: '*', actions: ['pull'] }],
        }),
      ).toEqual({ all: true, projects: [] });
    });
  });
});
