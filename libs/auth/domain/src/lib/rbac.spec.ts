import {
  hasRight,
  matchesRepositoryPattern,
  otherProjectNamedBy,
  repositoryActions,
  strongerRole,
  type Principal,
  type ProjectRole,
} from './rbac';

const privateProject = { name: 'team', public: false };
const publicProject = { name: 'oss', public: true };
const user = (roles: [string, ProjectRole][], systemAdmin = false): Principal => ({
  kind: 'user',
  systemAdmin,
  roles: new Map(roles),
});

describe('RBAC', () => {
  it.each([
    ['admin', ['pull', 'push', 'delete']],
    ['maintainer', ['pull', 'push', 'delete']],
    ['developer', ['pull', 'push']],
    ['guest', ['pull']],
    ['limited-guest', ['pull']],
  ] as [ProjectRole, string[]][])('gives a %s of the project %j', (role, actions) => {
    expect(repositoryActions(user([['team', role]]), privateProject, 'team/app')).toEqual(actions);
  });

  it('gives nothing in a private project the user is not a member of, and pull in a public one', () => {
    expect(repositoryActions(user([['oss', 'developer']]), privateProject, 'team/app')).toEqual([]);
    expect(repositoryActions(user([]), publicProject, 'oss/lib')).toEqual(['pull']);
  });

  it('lets anonymous callers pull from public projects only', () => {
    expect(repositoryActions({ kind: 'anonymous' }, publicProject, 'oss/lib')).toEqual(['pull']);
    expect(repositoryActions({ kind: 'anonymous' }, privateProject, 'team/app')).toEqual([]);
    expect(repositoryActions({ kind: 'anonymous' }, null, 'new/app')).toEqual([]);
  });

  it('lets only a system admin push into a project that does not exist', () => {
    expect(repositoryActions(user([], true), null, 'new/app')).toEqual(['pull', 'push', 'delete']);
    expect(repositoryActions(user([['new', 'admin']]), null, 'new/app')).toEqual([]);
  });

  it('gives robots exactly their permissions, per repository glob', () => {
    const robot: Principal = {
      kind: 'robot',
      permissions: [
        { project: 'team', repositories: ['team/app-*'], actions: ['pull', 'push'] },
        { project: 'team', repositories: ['team/**'], actions: ['pull'] },
        { project: 'oss', actions: ['pull'] },
      ],
    };
    expect(repositoryActions(robot, privateProject, 'team/app-api')).toEqual(['pull', 'push']);
    expect(repositoryActions(robot, privateProject, 'team/tools/lint')).toEqual(['pull']);
    expect(repositoryActions(robot, publicProject, 'oss/anything')).toEqual(['pull']);
    expect(repositoryActions(robot, { name: 'other', public: false }, 'other/x')).toEqual([]);
  });

  it('lets a robot scoped to one project pull from every public project, and nothing more there', () => {
    const robot: Principal = { kind: 'robot', permissions: [{ project: 'team', actions: ['pull', 'push'] }] };
    expect(repositoryActions(robot, publicProject, 'oss/base')).toEqual(['pull']);
    expect(repositoryActions(robot, { name: 'other', public: false }, 'other/x')).toEqual([]);
    expect(repositoryActions(robot, null, 'new/x')).toEqual([]);
  });

  it('reads a robot pattern within its project, and a full name as before', () => {
    const robot: Principal = {
      kind: 'robot',
      permissions: [{ project: 'team', repositories: ['app', 'tools/*'], actions: ['push'] }],
    };
    expect(repositoryActions(robot, privateProject, 'team/app')).toEqual(['push']);
    expect(repositoryActions(robot, privateProject, 'team/tools/lint')).toEqual(['push']);
    expect(repositoryActions(robot, privateProject, 'team/other')).toEqual([]);
    expect(matchesRepositoryPattern('team/app', 'team', 'team/app')).toBe(true);
    expect(matchesRepositoryPattern('app', 'team', 'team/app/x')).toBe(false);
    expect(matchesRepositoryPattern('**', 'team', 'team/a/b')).toBe(true);
    // A one-segment name lives in library, and is its own path there.
    expect(matchesRepositoryPattern('ubuntu', 'library', 'ubuntu')).toBe(true);
    expect(matchesRepositoryPattern('library/ubuntu', 'library', 'ubuntu')).toBe(true);
    // For every project (`*`) a pattern is a full name.
    expect(matchesRepositoryPattern('team/*', '*', 'team/app')).toBe(true);
    expect(matchesRepositoryPattern('app', '*', 'team/app')).toBe(false);
  });

  it('tells which other project a robot pattern seems to name', () => {
    expect(otherProjectNamedBy('q/app', 'p')).toBe('q');
    expect(otherProjectNamedBy('p/app', 'p')).toBeNull();
    expect(otherProjectNamedBy('app', 'p')).toBeNull();
    expect(otherProjectNamedBy('q/app', '*')).toBeNull();
  });

  it('lets a system-level robot (project *) act in projects that exist, never create one', () => {
    const robot: Principal = { kind: 'robot', permissions: [{ project: '*', actions: ['pull', 'push'] }] };
    expect(repositoryActions(robot, privateProject, 'team/app')).toEqual(['pull', 'push']);
    expect(repositoryActions(robot, null, 'new/app')).toEqual([]);
  });

  it('grants management rights by role, all of them to system admins', () => {
    expect(hasRight(user([['team', 'admin']]), 'team', 'members')).toBe(true);
    expect(hasRight(user([['team', 'maintainer']]), 'team', 'members')).toBe(false);
    expect(hasRight(user([['team', 'admin']]), 'other', 'members')).toBe(false);
    expect(hasRight(user([], true), 'any', 'robots')).toBe(true);
    expect(hasRight({ kind: 'anonymous' }, 'team', 'project')).toBe(false);
    expect(strongerRole('guest', 'maintainer')).toBe('maintainer');
    expect(strongerRole('admin', 'guest')).toBe('admin');
    expect(strongerRole(undefined, 'guest')).toBe('guest');
  });
});
