import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { AuditRepository } from '../audit.repository';
import type { AuditEntry } from '../model';
import { AllowAnonymous, CallerGuard, CurrentCaller, type Caller } from './caller';
import {
  AddMember,
  AuditQuery,
  CreateProject,
  CreateRobot,
  CreateUser,
  Pagination,
  UpdateMember,
  UpdateProject,
  UpdateRobot,
  UpdateUser,
} from './dto';
import { ProblemFilter } from '@berth/server';
import { ProjectsService, type MemberView, type ProjectView } from './projects.service';
import { RobotsService, type RobotView } from './robots.service';
import { requireAdmin, UsersService, type UserView } from './users.service';

/** `/api/v1/users`: system admins manage users; a user reads and updates itself. */
@Controller('api/v1/users')
@UseGuards(CallerGuard)
@UseFilters(ProblemFilter)
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  create(@CurrentCaller() caller: Caller, @Body() body: unknown): Promise<UserView> {
    return this.users.create(caller, CreateUser.parse(body));
  }

  @Get()
  list(@CurrentCaller() caller: Caller, @Query() query: unknown): Promise<UserView[]> {
    const { page, pageSize } = Pagination.parse(query);
    return this.users.list(caller, page, pageSize);
  }

  @Get(':username')
  get(@CurrentCaller() caller: Caller, @Param('username') username: string): Promise<UserView> {
    return this.users.get(caller, username);
  }

  @Patch(':username')
  update(
    @CurrentCaller() caller: Caller,
    @Param('username') username: string,
    @Body() body: unknown,
  ): Promise<UserView> {
    return this.users.update(caller, username, UpdateUser.parse(body));
  }

  @Delete(':username')
  @HttpCode(204)
  delete(@CurrentCaller() caller: Caller, @Param('username') username: string): Promise<void> {
    return this.users.delete(caller, username);
  }
}

/** `/api/v1/projects` and their members. Anonymous callers see the public projects. */
@Controller('api/v1/projects')
@UseGuards(CallerGuard)
@UseFilters(ProblemFilter)
export class ProjectsController {
  constructor(private readonly projects: ProjectsService) {}

  @Post()
  create(@CurrentCaller() caller: Caller, @Body() body: unknown): Promise<ProjectView> {
    return this.projects.create(caller, CreateProject.parse(body));
  }

  @Get()
  @AllowAnonymous()
  list(@CurrentCaller() caller: Caller, @Query() query: unknown): Promise<ProjectView[]> {
    const { page, pageSize } = Pagination.parse(query);
    return this.projects.list(caller, page, pageSize);
  }

  @Get(':name')
  @AllowAnonymous()
  get(@CurrentCaller() caller: Caller, @Param('name') name: string): Promise<ProjectView> {
    return this.projects.get(caller, name);
  }

  @Patch(':name')
  update(
    @CurrentCaller() caller: Caller,
    @Param('name') name: string,
    @Body() body: unknown,
  ): Promise<ProjectView> {
    return this.projects.update(caller, name, UpdateProject.parse(body));
  }

  @Delete(':name')
  @HttpCode(204)
  delete(@CurrentCaller() caller: Caller, @Param('name') name: string): Promise<void> {
    return this.projects.delete(caller, name);
  }

  @Get(':name/members')
  members(@CurrentCaller() caller: Caller, @Param('name') name: string): Promise<MemberView[]> {
    return this.projects.members(caller, name);
  }

  @Post(':name/members')
  addMember(
    @CurrentCaller() caller: Caller,
    @Param('name') name: string,
    @Body() body: unknown,
  ): Promise<MemberView> {
    return this.projects.addMember(caller, name, AddMember.parse(body));
  }

  @Patch(':name/members/users/:username')
  updateUser(
    @CurrentCaller() caller: Caller,
    @Param('name') name: string,
    @Param('username') username: string,
    @Body() body: unknown,
  ): Promise<MemberView> {
    return this.projects.updateMember(caller, name, 'user', username, UpdateMember.parse(body));
  }

  @Patch(':name/members/groups/:group')
  updateGroup(
    @CurrentCaller() caller: Caller,
    @Param('name') name: string,
    @Param('group') group: string,
    @Body() body: unknown,
  ): Promise<MemberView> {
    return this.projects.updateMember(caller, name, 'group', group, UpdateMember.parse(body));
  }

  @Delete(':name/members/users/:username')
  @HttpCode(204)
  removeUser(
    @CurrentCaller() caller: Caller,
    @Param('name') name: string,
    @Param('username') username: string,
  ): Promise<void> {
    return this.projects.removeMember(caller, name, 'user', username);
  }

  @Delete(':name/members/groups/:group')
  @HttpCode(204)
  removeGroup(
    @CurrentCaller() caller: Caller,
    @Param('name') name: string,
    @Param('group') group: string,
  ): Promise<void> {
    return this.projects.removeMember(caller, name, 'group', group);
  }
}

/** `/api/v1/robots`: robot accounts, their secrets and their revocation. */
@Controller('api/v1/robots')
@UseGuards(CallerGuard)
@UseFilters(ProblemFilter)
export class RobotsController {
  constructor(private readonly robots: RobotsService) {}

  @Post()
  create(@CurrentCaller() caller: Caller, @Body() body: unknown): Promise<RobotView> {
    return this.robots.create(caller, CreateRobot.parse(body));
  }

  @Get()
  list(@CurrentCaller() caller: Caller, @Query() query: unknown): Promise<RobotView[]> {
    const { page, pageSize } = Pagination.parse(query);
    return this.robots.list(caller, page, pageSize);
  }

  @Get(':name')
  get(@CurrentCaller() caller: Caller, @Param('name') name: string): Promise<RobotView> {
    return this.robots.get(caller, name);
  }

  @Patch(':name')
  update(
    @CurrentCaller() caller: Caller,
    @Param('name') name: string,
    @Body() body: unknown,
  ): Promise<RobotView> {
    return this.robots.update(caller, name, UpdateRobot.parse(body));
  }

  @Post(':name/secret')
  @HttpCode(200)
  rotate(@CurrentCaller() caller: Caller, @Param('name') name: string): Promise<RobotView> {
    return this.robots.rotate(caller, name);
  }

  @Delete(':name')
  @HttpCode(204)
  delete(@CurrentCaller() caller: Caller, @Param('name') name: string): Promise<void> {
    return this.robots.delete(caller, name);
  }
}

/** One page of the audit log. */
export interface AuditPage {
  readonly items: readonly AuditEntry[];
  readonly page: number;
  readonly pageSize: number;
  readonly hasMore: boolean;
}

/** `/api/v1/audit-logs`: system admins read the audit log, newest first, with filters. */
@Controller('api/v1/audit-logs')
@UseGuards(CallerGuard)
@UseFilters(ProblemFilter)
export class AuditLogsController {
  constructor(private readonly audit: AuditRepository) {}

  @Get()
  async list(@CurrentCaller() caller: Caller, @Query() query: unknown): Promise<AuditPage> {
    requireAdmin(caller);
    const { page, pageSize, since, until, ...filter } = AuditQuery.parse(query);
    const { entries, more } = await this.audit.query(
      {
        ...filter,
        ...(since !== undefined && { since: new Date(since) }),
        ...(until !== undefined && { until: new Date(until) }),
      },
      (page - 1) * pageSize,
      pageSize,
    );
    return { items: entries, page, pageSize, hasMore: more };
  }
}
