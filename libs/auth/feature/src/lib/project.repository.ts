import type { ProjectRole } from '@berth/auth-core';
import type { PrismaClient } from '@berth/db';
import type { Member, MemberKind, Project } from './model';

const PROJECT_FIELDS = { name: true, public: true, createdAt: true, updatedAt: true } as const;

/** Projects and their members. */
export class ProjectRepository {
  constructor(private readonly db: PrismaClient) {}

  async find(name: string): Promise<Project | null> {
    return this.db.project.findUnique({ where: { name }, select: PROJECT_FIELDS });
  }

  /** The named projects that exist, in one query (token grants name several at once). */
  async findMany(names: readonly string[]): Promise<Map<string, Project>> {
    if (names.length === 0) return new Map();
    const rows = await this.db.project.findMany({
      where: { name: { in: [...names] } },
      select: PROJECT_FIELDS,
    });
    return new Map(rows.map((row) => [row.name, row]));
  }

  /**
   * One page of projects by name: all of them (`visibleTo` null), or the public ones plus those
   * named in `visibleTo`.
   */
  async list(offset: number, limit: number, visibleTo: readonly string[] | null): Promise<Project[]> {
    return this.db.project.findMany({
      where: visibleTo === null ? {} : { OR: [{ public: true }, { name: { in: [...visibleTo] } }] },
      orderBy: { name: 'asc' },
      skip: offset,
      take: limit,
      select: PROJECT_FIELDS,
    });
  }

  /** The names of every public project. */
  async publicNames(): Promise<string[]> {
    const rows = await this.db.project.findMany({ where: { public: true }, select: { name: true } });
    return rows.map((row) => row.name);
  }

  /**
   * Creates a project, with its first admin member if one is given; null when the name is taken.
   */
  async create(name: string, isPublic: boolean, admin: string | null): Promise<Project | null> {
    return this.db.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ id: number }[]>`
        INSERT INTO auth.project (name, public) VALUES (${name}, ${isPublic})
        ON CONFLICT (name) DO NOTHING RETURNING id`;
      const id = rows[0]?.id;
      if (id === undefined) return null;
      if (admin !== null)
        await tx.projectMember.create({ data: { projectId: id, kind: 'user', name: admin, role: 'admin' } });
      return tx.project.findUnique({ where: { id }, select: PROJECT_FIELDS });
    });
  }

  /** Creates a project unless it exists; true when this call created it. */
  async ensure(name: string): Promise<boolean> {
    const rows = await this.db.$queryRaw<{ id: number }[]>`
      INSERT INTO auth.project (name, public) VALUES (${name}, false)
      ON CONFLICT (name) DO NOTHING RETURNING id`;
    return rows.length > 0;
  }

  async update(name: string, changes: { public?: boolean }): Promise<Project | null> {
    const result = await this.db.project.updateMany({
      where: { name },
      data: { ...(changes.public !== undefined && { public: changes.public }), updatedAt: new Date() },
    });
    return result.count === 0 ? null : this.find(name);
  }

  async delete(name: string): Promise<boolean> {
    return (await this.db.project.deleteMany({ where: { name } })).count > 0;
  }

  /**
   * The roles a user holds, directly or through its groups, per project; where both give a role,
   * both are returned and the caller keeps the stronger.
   */
  async rolesOf(
    username: string,
    groups: readonly string[],
  ): Promise<{ project: string; role: ProjectRole }[]> {
    const rows = await this.db.projectMember.findMany({
      where: {
        OR: [
          { kind: 'user', name: username },
          ...(groups.length > 0 ? [{ kind: 'group', name: { in: [...groups] } }] : []),
        ],
      },
      select: { role: true, project: { select: { name: true } } },
    });
    return rows.map((row) => ({ project: row.project.name, role: row.role as ProjectRole }));
  }

  async members(project: string): Promise<Member[] | null> {
    const row = await this.db.project.findUnique({
      where: { name: project },
      select: { members: { orderBy: [{ kind: 'asc' }, { name: 'asc' }] } },
    });
    return row ? row.members.map(toMember) : null;
  }

  /** Adds a member; `exists` when it already is one, `no_project` when the project is gone. */
  async addMember(
    project: string,
    member: { kind: MemberKind; name: string; role: ProjectRole },
  ): Promise<Member | 'exists' | 'no_project'> {
    const rows = await this.db.$queryRaw<{ created_at: Date }[]>`
      INSERT INTO auth.project_member (project_id, kind, name, role)
      SELECT id, ${member.kind}, ${member.name}, ${member.role} FROM auth.project WHERE name = ${project}
      ON CONFLICT (project_id, kind, name) DO NOTHING
      RETURNING created_at`;
    const row = rows[0];
    if (row) return { ...member, createdAt: row.created_at };
    return (await this.find(project)) ? 'exists' : 'no_project';
  }

  async updateMember(
    project: string,
    kind: MemberKind,
    name: string,
    role: ProjectRole,
  ): Promise<Member | null> {
    const result = await this.db.projectMember.updateMany({
      where: { kind, name, project: { name: project } },
      data: { role },
    });
    if (result.count === 0) return null;
    const row = await this.db.projectMember.findFirst({ where: { kind, name, project: { name: project } } });
    return row ? toMember(row) : null;
  }

  async removeMember(project: string, kind: MemberKind, name: string): Promise<boolean> {
    const result = await this.db.projectMember.deleteMany({
      where: { kind, name, project: { name: project } },
    });
    return result.count > 0;
  }
}

function toMember(row: { kind: string; name: string; role: string; createdAt: Date }): Member {
  return {
    kind: row.kind as MemberKind,
    name: row.name,
    role: row.role as ProjectRole,
    createdAt: row.createdAt,
  };
}
