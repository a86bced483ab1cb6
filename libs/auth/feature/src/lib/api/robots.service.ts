import { randomBytes } from 'node:crypto';
import { hashGeneratedSecret, hasRight, otherProjectNamedBy, type RobotPermission } from '@berth/auth-core';
import type { Bus } from '@berth/bus';
import { SubjectRevoked } from '@berth/contracts';
import type { z } from 'zod';
import type { Auditor } from '../auditor';
import { ROBOT_PREFIX, type Robot } from '../model';
import type { ProjectRepository } from '../project.repository';
import type { RobotRepository } from '../robot.repository';
import type { SigningKeyRepository } from '../token/signing-key.repository';
import type { Caller } from './caller';
import { componentName, type CreateRobot, type RobotResponse, type UpdateRobot } from './dto';
import { Problem, type ViewOf } from '@berth/server';
import { isAdmin } from './users.service';
import { BasicLogins } from './basic-logins';

/** A robot as the API shows it; `secret` only in the answers that create or rotate it. */
export type RobotView = ViewOf<typeof RobotResponse>;

/**
 * Managing robot accounts. A system admin may give a robot any permission, `*` (every project)
 * included; a project admin may create and manage robots whose permissions stay within projects
 * it administers. The secret is shown once, at creation and at each rotation; revoking deletes the
 * robot, so its next login fails at once and the tokens it holds die with their short life.
 */
export class RobotsService {
  constructor(
    private readonly robots: RobotRepository,
    private readonly keys: SigningKeyRepository,
    private readonly auditor: Auditor,
    private readonly bus: Bus,
    private readonly logins: BasicLogins,
    private readonly projects: ProjectRepository,
  ) {}

  async create(caller: Caller, input: z.infer<typeof CreateRobot>): Promise<RobotView> {
    this.requireOver(caller, input.permissions);
    await this.requireMatchable(input.permissions);
    const expiresAt = input.expiresAt === undefined ? null : new Date(input.expiresAt);
    if (expiresAt !== null && expiresAt <= new Date())
      throw new Problem('bad-request', 'expiresAt is in the past');
    const secret = newSecret();
    const robot = await this.robots.create({
      name: input.name,
      description: input.description ?? null,
      secretHash: hashGeneratedSecret(secret),
      permissions: input.permissions,
      expiresAt,
      createdBy: caller.subject,
    });
    if (!robot) throw new Problem('conflict', `robot "${input.name}" exists`);
    await this.auditor.change(caller, 'robot.create', robot.name, { permissions: input.permissions });
    return { ...view(robot), secret };
  }

  async list(caller: Caller, page: number, pageSize: number): Promise<RobotView[]> {
    const administered = isAdmin(caller) ? null : this.administered(caller);
    if (administered?.length === 0) return [];
    return (await this.robots.list((page - 1) * pageSize, pageSize, administered)).map(view);
  }

  async get(caller: Caller, name: string): Promise<RobotView> {
    return view(await this.manageable(caller, name));
  }

  async update(caller: Caller, name: string, input: z.infer<typeof UpdateRobot>): Promise<RobotView> {
    await this.manageable(caller, name);
    if (input.permissions) {
      this.requireOver(caller, input.permissions);
      await this.requireMatchable(input.permissions);
    }
    const robot = await this.robots.update(name, {
      ...(input.description !== undefined && { description: input.description }),
      ...(input.permissions !== undefined && { permissions: input.permissions }),
      ...(input.expiresAt !== undefined && {
        expiresAt: input.expiresAt === null ? null : new Date(input.expiresAt),
      }),
    });
    if (!robot) throw notFound(name);
    await this.revoke(name);
    await this.auditor.change(caller, 'robot.update', name, { fields: Object.keys(input) });
    return view(robot);
  }

  async rotate(caller: Caller, name: string): Promise<RobotView> {
    await this.manageable(caller, name);
    const secret = newSecret();
    const robot = await this.robots.update(name, { secretHash: hashGeneratedSecret(secret) });
    if (!robot) throw notFound(name);
    await this.revoke(name);
    await this.auditor.change(caller, 'robot.rotate', name);
    return { ...view(robot), secret };
  }

  async delete(caller: Caller, name: string): Promise<void> {
    await this.manageable(caller, name);
    if (!(await this.robots.delete(name))) throw notFound(name);
    await this.revoke(name);
    await this.auditor.change(caller, 'robot.delete', name);
  }

  private async manageable(caller: Caller, name: string): Promise<Robot> {
    const robot = componentName.safeParse(name).success ? await this.robots.find(name) : null;
    if (!robot) throw notFound(name);
    if (!isAdmin(caller) && !this.covers(caller, robot.permissions)) throw notFound(name);
    return robot;
  }

  private requireOver(caller: Caller, permissions: readonly RobotPermission[]): void {
    if (!this.covers(caller, permissions))
      throw new Problem('forbidden', 'a robot may only get permissions in projects its creator administers');
  }

  /**
   * Refuses a repository pattern that names another existing project (`q/app` in a permission
   * for `p`): patterns are read within their project, so it could only ever match `p/q/app`,
   * which is rarely what was meant. A first segment that is no project is a path within `p`.
   */
  private async requireMatchable(permissions: readonly RobotPermission[]): Promise<void> {
    const named = new Map<string, { project: string; pattern: string }>();
    for (const permission of permissions) {
      for (const pattern of permission.repositories ?? []) {
        const other = otherProjectNamedBy(pattern, permission.project);
        if (other !== null && other !== permission.project && !named.has(other))
          named.set(other, { project: permission.project, pattern });
      }
    }
    if (named.size === 0) return;
    const existing = await this.projects.findMany([...named.keys()]);
    for (const [other, { project, pattern }] of named) {
      if (existing.has(other))
        throw new Problem(
          'bad-request',
          `repository pattern "${pattern}" of project "${project}" names project "${other}": ` +
            `patterns are read within their project (write "app" or "team/*"), or as "${project}/…"`,
        );
    }
  }

  private covers(caller: Caller, permissions: readonly RobotPermission[]): boolean {
    return permissions.every((p) =>
      p.project === '*' ? isAdmin(caller) : hasRight(caller.principal, p.project, 'robots'),
    );
  }

  private administered(caller: Caller): string[] {
    if (caller.principal.kind !== 'user') return [];
    const principal = caller.principal;
    return [...principal.roles.keys()].filter((project) => hasRight(principal, project, 'robots'));
  }

  private async revoke(name: string): Promise<void> {
    const subject = `${ROBOT_PREFIX}${name}`;
    await this.keys.revokeRefreshTokens(subject);
    // Here at once; other replicas of auth, and the gateways, on the broadcast.
    this.logins.revoke(subject);
    await this.bus.broadcast(SubjectRevoked, { subject });
  }
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function notFound(name: string): Problem {
  return new Problem('not-found', `no robot "${name.slice(0, 100)}"`);
}

function view(robot: Robot): RobotView {
  return {
    name: robot.name,
    username: `${ROBOT_PREFIX}${robot.name}`,
    description: robot.description,
    permissions: robot.permissions,
    expiresAt: robot.expiresAt?.toISOString() ?? null,
    createdBy: robot.createdBy,
    createdAt: robot.createdAt.toISOString(),
  };
}
