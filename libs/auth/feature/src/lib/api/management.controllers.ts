import { Controller, UseFilters, UseGuards } from '@nestjs/common';
import { Endpoint, Input, ProblemFilter, type InputOf, type ViewOf } from '@berth/server';
import { AuditRepository } from '../audit.repository';
import { AllowAnonymous, CallerGuard, CurrentCaller, type Caller } from './caller';
import type { AuditPageResponse } from './dto';
import { AuditRoutes, ProjectRoutes, RobotRoutes, UserRoutes } from './management.routes';
import { ProjectsService, type MemberView, type ProjectView } from './projects.service';
import { RobotsService, type RobotView } from './robots.service';
import { requireAdmin, UsersService, type UserView } from './users.service';

// Each handler serves the route it names (method, path and status are declared there) and takes
// that route's validated input first.

/** `/api/v1/users`: system admins manage users; a user reads and updates itself. */
@Controller()
@UseGuards(CallerGuard)
@UseFilters(ProblemFilter)
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Endpoint(UserRoutes.create)
  create(
    @Input() { body }: InputOf<typeof UserRoutes.create>,
    @CurrentCaller() caller: Caller,
  ): Promise<UserView> {
    return this.users.create(caller, body);
  }

  @Endpoint(UserRoutes.list)
  list(
    @Input() { query }: InputOf<typeof UserRoutes.list>,
    @CurrentCaller() caller: Caller,
  ): Promise<UserView[]> {
    return this.users.list(caller, query.page, query.pageSize);
  }

  @Endpoint(UserRoutes.get)
  get(
    @Input() { params }: InputOf<typeof UserRoutes.get>,
    @CurrentCaller() caller: Caller,
  ): Promise<UserView> {
    return this.users.get(caller, params.username);
  }

  @Endpoint(UserRoutes.update)
  update(
    @Input() { params, body }: InputOf<typeof UserRoutes.update>,
    @CurrentCaller() caller: Caller,
  ): Promise<UserView> {
    return this.users.update(caller, params.username, body);
  }

  @Endpoint(UserRoutes.delete)
  delete(
    @Input() { params }: InputOf<typeof UserRoutes.delete>,
    @CurrentCaller() caller: Caller,
  ): Promise<void> {
    return this.users.delete(caller, params.username);
  }
}

/** `/api/v1/projects` and their members. Anonymous callers see the public projects. */
@Controller()
@UseGuards(CallerGuard)
@UseFilters(ProblemFilter)
export class ProjectsController {
  constructor(private readonly projects: ProjectsService) {}

  @Endpoint(ProjectRoutes.create)
  create(
    @Input() { body }: InputOf<typeof ProjectRoutes.create>,
    @CurrentCaller() caller: Caller,
  ): Promise<ProjectView> {
    return this.projects.create(caller, body);
  }

  @Endpoint(ProjectRoutes.list)
  @AllowAnonymous()
  list(
    @Input() { query }: InputOf<typeof ProjectRoutes.list>,
    @CurrentCaller() caller: Caller,
  ): Promise<ProjectView[]> {
    return this.projects.list(caller, query.page, query.pageSize);
  }

  @Endpoint(ProjectRoutes.get)
  @AllowAnonymous()
  get(
    @Input() { params }: InputOf<typeof ProjectRoutes.get>,
    @CurrentCaller() caller: Caller,
  ): Promise<ProjectView> {
    return this.projects.get(caller, params.name);
  }

  @Endpoint(ProjectRoutes.update)
  update(
    @Input() { params, body }: InputOf<typeof ProjectRoutes.update>,
    @CurrentCaller() caller: Caller,
  ): Promise<ProjectView> {
    return this.projects.update(caller, params.name, body);
  }

  @Endpoint(ProjectRoutes.delete)
  delete(
    @Input() { params }: InputOf<typeof ProjectRoutes.delete>,
    @CurrentCaller() caller: Caller,
  ): Promise<void> {
    return this.projects.delete(caller, params.name);
  }

  @Endpoint(ProjectRoutes.members)
  members(
    @Input() { params }: InputOf<typeof ProjectRoutes.members>,
    @CurrentCaller() caller: Caller,
  ): Promise<MemberView[]> {
    return this.projects.members(caller, params.name);
  }

  @Endpoint(ProjectRoutes.addMember)
  addMember(
    @Input() { params, body }: InputOf<typeof ProjectRoutes.addMember>,
    @CurrentCaller() caller: Caller,
  ): Promise<MemberView> {
    return this.projects.addMember(caller, params.name, body);
  }

  @Endpoint(ProjectRoutes.updateUser)
  updateUser(
    @Input() { params, body }: InputOf<typeof ProjectRoutes.updateUser>,
    @CurrentCaller() caller: Caller,
  ): Promise<MemberView> {
    return this.projects.updateMember(caller, params.name, 'user', params.username, body);
  }

  @Endpoint(ProjectRoutes.updateGroup)
  updateGroup(
    @Input() { params, body }: InputOf<typeof ProjectRoutes.updateGroup>,
    @CurrentCaller() caller: Caller,
  ): Promise<MemberView> {
    return this.projects.updateMember(caller, params.name, 'group', params.group, body);
  }

  @Endpoint(ProjectRoutes.removeUser)
  removeUser(
    @Input() { params }: InputOf<typeof ProjectRoutes.removeUser>,
    @CurrentCaller() caller: Caller,
  ): Promise<void> {
    return this.projects.removeMember(caller, params.name, 'user', params.username);
  }

  @Endpoint(ProjectRoutes.removeGroup)
  removeGroup(
    @Input() { params }: InputOf<typeof ProjectRoutes.removeGroup>,
    @CurrentCaller() caller: Caller,
  ): Promise<void> {
    return this.projects.removeMember(caller, params.name, 'group', params.group);
  }
}

/** `/api/v1/robots`: robot accounts, their secrets and their revocation. */
@Controller()
@UseGuards(CallerGuard)
@UseFilters(ProblemFilter)
export class RobotsController {
  constructor(private readonly robots: RobotsService) {}

  @Endpoint(RobotRoutes.create)
  create(
    @Input() { body }: InputOf<typeof RobotRoutes.create>,
    @CurrentCaller() caller: Caller,
  ): Promise<RobotView> {
    return this.robots.create(caller, body);
  }

  @Endpoint(RobotRoutes.list)
  list(
    @Input() { query }: InputOf<typeof RobotRoutes.list>,
    @CurrentCaller() caller: Caller,
  ): Promise<RobotView[]> {
    return this.robots.list(caller, query.page, query.pageSize);
  }

  @Endpoint(RobotRoutes.get)
  get(
    @Input() { params }: InputOf<typeof RobotRoutes.get>,
    @CurrentCaller() caller: Caller,
  ): Promise<RobotView> {
    return this.robots.get(caller, params.name);
  }

  @Endpoint(RobotRoutes.update)
  update(
    @Input() { params, body }: InputOf<typeof RobotRoutes.update>,
    @CurrentCaller() caller: Caller,
  ): Promise<RobotView> {
    return this.robots.update(caller, params.name, body);
  }

  @Endpoint(RobotRoutes.rotate)
  rotate(
    @Input() { params }: InputOf<typeof RobotRoutes.rotate>,
    @CurrentCaller() caller: Caller,
  ): Promise<RobotView> {
    return this.robots.rotate(caller, params.name);
  }

  @Endpoint(RobotRoutes.delete)
  delete(
    @Input() { params }: InputOf<typeof RobotRoutes.delete>,
    @CurrentCaller() caller: Caller,
  ): Promise<void> {
    return this.robots.delete(caller, params.name);
  }
}

/** One page of the audit log. */
export type AuditPage = ViewOf<typeof AuditPageResponse>;

/** `/api/v1/audit-logs`: system admins read the audit log, newest first, with filters. */
@Controller()
@UseGuards(CallerGuard)
@UseFilters(ProblemFilter)
export class AuditLogsController {
  constructor(private readonly audit: AuditRepository) {}

  @Endpoint(AuditRoutes.list)
  async list(
    @Input() { query }: InputOf<typeof AuditRoutes.list>,
    @CurrentCaller() caller: Caller,
  ): Promise<AuditPage> {
    requireAdmin(caller);
    const { page, pageSize, since, until, ...filter } = query;
    const { entries, more } = await this.audit.query(
      {
        ...filter,
        ...(since !== undefined && { since: new Date(since) }),
        ...(until !== undefined && { until: new Date(until) }),
      },
      (page - 1) * pageSize,
      pageSize,
    );
    return {
      items: entries.map((entry) => ({ ...entry, occurredAt: entry.occurredAt.toISOString() })),
      page,
      pageSize,
      hasMore: more,
    };
  }
}
