import { repositoryActions, strongerRole, type Principal, type ProjectRole } from '@berth/auth-core';
import { projectOf } from '@berth/naming';
import { grantAccess, type Action, type ResourceScope } from '@berth/registry-token';
import type { Auditor } from './auditor';
import { ROBOT_PREFIX, WORKLOAD_PREFIX, type Identity } from './model';
import type { ProjectRepository } from './project.repository';
import type { RobotRepository } from './robot.repository';
import type { AccountRepository } from './account.repository';

/** Where a request came from, for the audit log. */
export interface RequestContext {
  readonly sourceAddress: string | null;
  readonly requestId: string | null;
}

/**
 * RBAC over the stored projects, members and robots: what an identity may do, and what it may
 * see. Every decision goes through `repositoryActions` of auth-core, so the rules live in one place.
 */
export class AccessService {
  constructor(
    private readonly accounts: AccountRepository,
    private readonly projects: ProjectRepository,
    private readonly robots: RobotRepository,
    private readonly auditor: Auditor,
  ) {}

  /** The principal of an identity: a user's roles come from its memberships and its groups'. */
  async principalOf(identity: Identity): Promise<Principal> {
    switch (identity.kind) {
      case 'anonymous':
        return { kind: 'anonymous' };
      case 'robot':
      case 'workload':
        return { kind: 'robot', permissions: identity.permissions };
      case 'user': {
        const roles = new Map<string, ProjectRole>();
        if (!identity.admin) {
          for (const { project, role } of await this.projects.rolesOf(identity.username, identity.groups))
            roles.set(project, strongerRole(roles.get(project), role));
        }
        return { kind: 'user', systemAdmin: identity.admin, roles };
      }
    }
  }

  /**
   * What to grant an identity of what it asked: the intersection with what RBAC allows (a partial
   * grant is not an error). Every project named is read in one query. A system admin may push
   * into a project that does not exist yet; asking for that creates nothing (the first write does,
   * through {@link ensureProject}). Everyone may ask for the catalog; it only lists what its
   * caller may see.
   */
  async grant(identity: Identity, requested: readonly ResourceScope[]): Promise<ResourceScope[]> {
    const names = [
      ...new Set(requested.filter((s) => s.type === 'repository').map((s) => projectOf(s.name))),
    ];
    const [principal, projects] = await Promise.all([
      this.principalOf(identity),
      this.projects.findMany(names),
    ]);
    return grantAccess(requested, (scope): readonly Action[] =>
      scope.type === 'registry'
        ? ['*']
        : repositoryActions(principal, projects.get(projectOf(scope.name)) ?? null, scope.name),
    );
  }

  /**
   * Makes sure the project a write goes into exists: true if it did, or if `subject` is (still)
   * a system admin, who creates it here, private, with an audit record of the first push.
   */
  async ensureProject(
    project: string,
    subject: string,
    context: RequestContext,
  ): Promise<{ exists: boolean; created: boolean }> {
    if (await this.projects.find(project)) return { exists: true, created: false };
    const identity = await this.identityOf(subject);
    if (identity?.kind !== 'user' || !identity.admin) return { exists: false, created: false };
    const created = await this.projects.ensure(project);
    if (created) {
      await this.auditor.record({
        actor: subject,
        sourceAddress: context.sourceAddress,
        action: 'project.create',
        resource: project,
        outcome: 'success',
        detail: { reason: 'first push', requestId: context.requestId },
      });
    }
    return { exists: true, created };
  }

  /**
   * The identity behind a token's subject as it is now (a deleted user or a revoked or expired
   * robot is gone), or null. A workload's subject gives null: it exists only in its registry tokens.
   */
  async identityOf(subject: string, now = new Date()): Promise<Identity | null> {
    if (subject === '') return { kind: 'anonymous' };
    if (subject.startsWith(WORKLOAD_PREFIX)) return null;
    if (subject.startsWith(ROBOT_PREFIX)) {
      const robot = await this.robots.find(subject.slice(ROBOT_PREFIX.length));
      if (!robot || (robot.expiresAt !== null && robot.expiresAt <= now)) return null;
      return { kind: 'robot', name: robot.name, permissions: robot.permissions };
    }
    const user = await this.accounts.find(subject);
    return user ? { kind: 'user', username: user.username, admin: user.admin, groups: user.groups } : null;
  }

  /** The projects whose repositories an identity may see: all, or the named ones. */
  async visibleProjects(identity: Identity): Promise<{ all: boolean; projects: string[] }> {
    const visible = new Set(await this.projects.publicNames());
    switch (identity.kind) {
      case 'anonymous':
        break;
      case 'robot':
      case 'workload':
        for (const permission of identity.permissions) {
          if (permission.project === '*') return { all: true, projects: [] };
          visible.add(permission.project);
        }
        break;
      case 'user': {
        if (identity.admin) return { all: true, projects: [] };
        const principal = await this.principalOf(identity);
        if (principal.kind === 'user') for (const project of principal.roles.keys()) visible.add(project);
      }
    }
    return { all: false, projects: [...visible].sort() };
  }
}
