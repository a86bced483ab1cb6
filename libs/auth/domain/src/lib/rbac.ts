import { matchesGlob } from '@berth/naming';
import type { Action } from '@berth/registry-token';

/** A member's role in a project, as in Harbor. */
export type ProjectRole = 'admin' | 'maintainer' | 'developer' | 'guest' | 'limited-guest';

/** Rights over a project's management API (beyond pulling and pushing). */
export type ManagementRight = 'project' | 'members' | 'robots' | 'policies';

/** The repository actions each role grants in its project. */
export const ROLE_ACTIONS: Readonly<Record<ProjectRole, readonly Action[]>> = {
  admin: ['pull', 'push', 'delete'],
  maintainer: ['pull', 'push', 'delete'],
  developer: ['pull', 'push'],
  guest: ['pull'],
  'limited-guest': ['pull'],
};

/** The management rights each role grants in its project. */
export const ROLE_RIGHTS: Readonly<Record<ProjectRole, readonly ManagementRight[]>> = {
  admin: ['project', 'members', 'robots', 'policies'],
  maintainer: ['policies'],
  developer: [],
  guest: [],
  'limited-guest': [],
};

/** A robot account's permission: actions on some (or all) repositories of one project. */
export interface RobotPermission {
  /** A project name, or `*` for every project that exists (system-level robots). */
  readonly project: string;
  /**
   * Globs over repository names (`*` within a segment, `**` across segments); none means all. For
   * one project they are read within it (`app`, `team/*` for `p/app`, `p/team/x`), and one that
   * starts with the project's name and a slash as a full name (`p/app`); see
   * {@link matchesRepositoryPattern}. For `*` they are full names.
   */
  readonly repositories?: readonly string[];
  readonly actions: readonly Action[];
}

/**
 * A repository's name within its project: without the project's segment (`p/team/app` is
 * `team/app` in `p`); a one-segment name of `library` is its own path.
 */
export function pathInProject(repository: string, project: string): string {
  return repository.startsWith(`${project}/`) ? repository.slice(project.length + 1) : repository;
}

/**
 * Whether a robot's repository pattern for `project` matches `repository` (of that project). A
 * pattern is read within the project (`app`, `team/*`), unless it starts with the project's name
 * and a slash, which makes it a full name (`p/app`, kept working as robots were first written).
 * For `*` (every project) a pattern is a full name.
 */
export function matchesRepositoryPattern(pattern: string, project: string, repository: string): boolean {
  if (project === '*') return matchesGlob(pattern, repository);
  return matchesGlob(pathInProject(pattern, project), pathInProject(repository, project));
}

/**
 * The project a robot's pattern for `project` seems to name instead: the first segment of a
 * pattern read within the project, if it has more than one segment (`q/app` in `p`), else null.
 * Whether that is a mistake depends on whether such a project exists, which the caller knows.
 */
export function otherProjectNamedBy(pattern: string, project: string): string | null {
  if (project === '*' || pattern.startsWith(`${project}/`)) return null;
  const slash = pattern.indexOf('/');
  return slash === -1 ? null : pattern.slice(0, slash);
}

/** Who is asking, as far as access goes. */
export type Principal =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'user'; readonly systemAdmin: boolean; readonly roles: ReadonlyMap<string, ProjectRole> }
  | { readonly kind: 'robot'; readonly permissions: readonly RobotPermission[] };

/** What access decisions need to know about a project. */
export interface ProjectFacts {
  readonly name: string;
  readonly public: boolean;
}

/**
 * The actions a principal may take on a repository of `project` (null: the project does not
 * exist). Everyone may pull from public projects, anonymous callers nothing more; users get
 * their role's actions; system admins get everything, and may push into a project that does not
 * exist yet (the first write creates it, private); robots get what their permissions name.
 */
export function repositoryActions(
  principal: Principal,
  project: ProjectFacts | null,
  repository: string,
): Action[] {
  switch (principal.kind) {
    case 'anonymous':
      return project?.public === true ? ['pull'] : [];
    case 'user': {
      if (principal.systemAdmin) return ['pull', 'push', 'delete'];
      if (!project) return [];
      const role = principal.roles.get(project.name);
      const actions = new Set<Action>(role ? ROLE_ACTIONS[role] : []);
      if (project.public) actions.add('pull');
      return [...actions];
    }
    case 'robot': {
      if (!project) return [];
      // Public pull is for every caller, as in Harbor: a CI robot scoped to its own project still
      // pulls public base images (Docker sends its credentials to the whole registry).
      const actions = new Set<Action>(project.public ? ['pull'] : []);
      for (const permission of principal.permissions) {
        if (permission.project !== '*' && permission.project !== project.name) continue;
        const patterns = permission.repositories ?? [];
        const matches = (pattern: string) =>
          matchesRepositoryPattern(pattern, permission.project, repository);
        if (patterns.length > 0 && !patterns.some(matches)) continue;
        for (const action of permission.actions) actions.add(action);
      }
      return [...actions];
    }
  }
}

/** Roles from the strongest to the weakest. */
export const ROLE_ORDER: readonly ProjectRole[] = [
  'admin',
  'maintainer',
  'developer',
  'guest',
  'limited-guest',
];

/** The stronger of two roles (a user may hold one directly and another through a group). */
export function strongerRole(a: ProjectRole | undefined, b: ProjectRole): ProjectRole {
  return a !== undefined && ROLE_ORDER.indexOf(a) <= ROLE_ORDER.indexOf(b) ? a : b;
}

/** Whether a principal holds a management right on a project (system admins hold all of them). */
export function hasRight(principal: Principal, project: string, right: ManagementRight): boolean {
  if (principal.kind !== 'user') return false;
  if (principal.systemAdmin) return true;
  const role = principal.roles.get(project);
  return role !== undefined && ROLE_RIGHTS[role].includes(right);
}
