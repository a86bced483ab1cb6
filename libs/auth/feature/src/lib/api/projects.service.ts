import { hasRight, type ManagementRight } from '@berth/auth-core';
import type { Bus } from '@berth/bus';
import { ListRepositories } from '@berth/contracts';
import type { z } from 'zod';
import type { Auditor } from '../auditor';
import type { Member, MemberKind, Project } from '../model';
import type { ProjectRepository } from '../project.repository';
import type { Caller } from './caller';
import {
  componentName,
  type AddMember,
  type CreateProject,
  type MemberResponse,
  type ProjectResponse,
  type UpdateMember,
} from './dto';
import { Problem, type ViewOf } from '@berth/server';
import { isAdmin } from './users.service';

/** A project as the API shows it. */
export type ProjectView = ViewOf<typeof ProjectResponse>;

/** A member as the API shows it. */
export type MemberView = ViewOf<typeof MemberResponse>;

/**
 * Managing projects and their members. Any user may create a project and becomes its admin;
 * project admins manage it and its members; everyone sees the public projects and those they
 * belong to; only an empty project can be deleted.
 */
export class ProjectsService {
  constructor(
    private readonly projects: ProjectRepository,
    private readonly auditor: Auditor,
    private readonly bus: Bus,
  ) {}

  async create(caller: Caller, input: z.infer<typeof CreateProject>): Promise<ProjectView> {
    if (caller.identity.kind !== 'user') throw new Problem('forbidden', 'only users create projects');
    const project = await this.projects.create(
      input.name,
      input.public,
      isAdmin(caller) ? null : caller.subject,
    );
    if (!project) throw new Problem('conflict', `project "${input.name}" exists`);
    await this.auditor.change(caller, 'project.create', input.name, { public: input.public });
    return view(project);
  }

  async list(caller: Caller, page: number, pageSize: number): Promise<ProjectView[]> {
    const visibleTo = isAdmin(caller) ? null : [...this.memberships(caller)];
    return (await this.projects.list((page - 1) * pageSize, pageSize, visibleTo)).map(view);
  }

  async get(caller: Caller, name: string): Promise<ProjectView> {
    return view(await this.visible(caller, name));
  }

  async update(caller: Caller, name: string, input: { public: boolean }): Promise<ProjectView> {
    await this.require(caller, name, 'project');
    const project = await this.projects.update(name, input);
    if (!project) throw notFound(name);
    await this.auditor.change(caller, 'project.update', name, { public: input.public });
    return view(project);
  }

  async delete(caller: Caller, name: string): Promise<void> {
    await this.require(caller, name, 'project');
    const { repositories } = await this.bus.request(ListRepositories, {
      limit: 1,
      last: null,
      projects: [name],
    });
    if (repositories.length > 0)
      throw new Problem('conflict', `project "${name}" still has repositories; delete them first`);
    if (!(await this.projects.delete(name))) throw notFound(name);
    await this.auditor.change(caller, 'project.delete', name);
  }

  async members(caller: Caller, name: string): Promise<MemberView[]> {
    await this.visible(caller, name);
    const role = caller.principal.kind === 'user' ? caller.principal.roles.get(name) : undefined;
    if (!isAdmin(caller) && (role === undefined || role === 'limited-guest'))
      throw new Problem('forbidden', 'only members (above limited guest) see the members');
    return ((await this.projects.members(name)) ?? []).map(memberView);
  }

  async addMember(caller: Caller, name: string, input: z.infer<typeof AddMember>): Promise<MemberView> {
    await this.require(caller, name, 'members');
    const member =
      'username' in input
        ? { kind: 'user' as const, name: input.username }
        : { kind: 'group' as const, name: input.group };
    const added = await this.projects.addMember(name, { ...member, role: input.role });
    if (added === 'no_project') throw notFound(name);
    if (added === 'exists')
      throw new Problem('conflict', `${member.kind} "${member.name}" is a member already`);
    await this.auditor.change(caller, 'member.add', name, { ...member, role: input.role });
    return memberView(added);
  }

  async updateMember(
    caller: Caller,
    name: string,
    kind: MemberKind,
    member: string,
    input: z.infer<typeof UpdateMember>,
  ): Promise<MemberView> {
    await this.require(caller, name, 'members');
    const updated = await this.projects.updateMember(name, kind, member, input.role);
    if (!updated) throw new Problem('not-found', `no ${kind} member "${member.slice(0, 100)}"`);
    await this.auditor.change(caller, 'member.update', name, { kind, name: member, role: input.role });
    return memberView(updated);
  }

  async removeMember(caller: Caller, name: string, kind: MemberKind, member: string): Promise<void> {
    await this.require(caller, name, 'members');
    if (!(await this.projects.removeMember(name, kind, member)))
      throw new Problem('not-found', `no ${kind} member "${member.slice(0, 100)}"`);
    await this.auditor.change(caller, 'member.remove', name, { kind, name: member });
  }

  /** The project if the caller may see it (a private project one is not part of is "not found"). */
  /** Whether the caller may see a project, and whether it holds `right` there. */
  async access(
    caller: Caller,
    name: string,
    right: ManagementRight,
  ): Promise<{ visible: boolean; allowed: boolean }> {
    try {
      await this.visible(caller, name);
    } catch (error) {
      if (error instanceof Problem) return { visible: false, allowed: false };
      throw error;
    }
    return { visible: true, allowed: hasRight(caller.principal, name, right) };
  }

  private async visible(caller: Caller, name: string): Promise<Project> {
    const project = componentName.safeParse(name).success ? await this.projects.find(name) : null;
    if (!project || !(project.public || isAdmin(caller) || this.memberships(caller).has(name)))
      throw notFound(name);
    return project;
  }

  private async require(caller: Caller, name: string, right: ManagementRight): Promise<void> {
    await this.visible(caller, name);
    if (!hasRight(caller.principal, name, right))
      throw new Problem('forbidden', `managing the ${right} of "${name}" needs a project admin`);
  }

  private memberships(caller: Caller): Set<string> {
    return new Set(caller.principal.kind === 'user' ? caller.principal.roles.keys() : []);
  }
}

function notFound(name: string): Problem {
  return new Problem('not-found', `no project "${name.slice(0, 100)}"`);
}

function view(project: Project): ProjectView {
  return {
    name: project.name,
    public: project.public,
    createdAt: project.createdAt.toISOString(),
    updatedAt: project.updatedAt.toISOString(),
  };
}

function memberView(member: Member): MemberView {
  return {
    kind: member.kind,
    ...(member.kind === 'user' ? { username: member.name } : { group: member.name }),
    role: member.role,
    createdAt: member.createdAt.toISOString(),
  };
}
