import type { RobotPermission } from '@berth/auth-core';
import type { PrismaClient } from '@berth/db';
import type { Robot } from './model';

interface RobotRow {
  name: string;
  description: string | null;
  secretHash: string | null;
  permissions: unknown;
  expiresAt: Date | null;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A robot with the hash its secret is checked against. */
export interface RobotWithSecret extends Robot {
  readonly secretHash: string | null;
}

/** Robot accounts. */
export class RobotRepository {
  constructor(private readonly db: PrismaClient) {}

  async find(name: string): Promise<RobotWithSecret | null> {
    const row = await this.db.robot.findUnique({ where: { name } });
    return row ? toRobot(row) : null;
  }

  /** One page of robots by name, optionally only those with a permission in one of `projects`. */
  async list(offset: number, limit: number, projects: readonly string[] | null): Promise<Robot[]> {
    const rows =
      projects === null
        ? await this.db.robot.findMany({ orderBy: { name: 'asc' }, skip: offset, take: limit })
        : await this.db.$queryRaw<RobotRow[]>`
            SELECT name, description, secret_hash AS "secretHash", permissions, expires_at AS "expiresAt",
                   created_by AS "createdBy", created_at AS "createdAt", updated_at AS "updatedAt"
            FROM auth.robot r
            WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(r.permissions) p
                          WHERE p->>'project' = ANY(${[...projects]}::text[]))
            ORDER BY name OFFSET ${offset} LIMIT ${limit}`;
    return rows.map(toRobot);
  }

  /** Creates a robot; null when the name is taken. */
  async create(robot: {
    name: string;
    description: string | null;
    secretHash: string | null;
    permissions: readonly RobotPermission[];
    expiresAt: Date | null;
    createdBy: string;
  }): Promise<Robot | null> {
    const rows = await this.db.$queryRaw<RobotRow[]>`
      INSERT INTO auth.robot (name, description, secret_hash, permissions, expires_at, created_by)
      VALUES (${robot.name}, ${robot.description}, ${robot.secretHash}, ${JSON.stringify(robot.permissions)}::jsonb,
              ${robot.expiresAt}, ${robot.createdBy})
      ON CONFLICT (name) DO NOTHING
      RETURNING name, description, secret_hash AS "secretHash", permissions, expires_at AS "expiresAt",
                created_by AS "createdBy", created_at AS "createdAt", updated_at AS "updatedAt"`;
    const row = rows[0];
    return row ? toRobot(row) : null;
  }

  async update(
    name: string,
    changes: {
      secretHash?: string;
      description?: string | null;
      permissions?: readonly RobotPermission[];
      expiresAt?: Date | null;
    },
  ): Promise<Robot | null> {
    const result = await this.db.robot.updateMany({
      where: { name },
      data: {
        ...(changes.secretHash !== undefined && { secretHash: changes.secretHash }),
        ...(changes.description !== undefined && { description: changes.description }),
        ...(changes.permissions !== undefined && {
          permissions: changes.permissions.map((p) => ({ ...p })),
        }),
        ...(changes.expiresAt !== undefined && { expiresAt: changes.expiresAt }),
        updatedAt: new Date(),
      },
    });
    return result.count === 0 ? null : this.find(name);
  }

  async delete(name: string): Promise<boolean> {
    return (await this.db.robot.deleteMany({ where: { name } })).count > 0;
  }
}

function toRobot(row: RobotRow): RobotWithSecret {
  return {
    name: row.name,
    description: row.description,
    secretHash: row.secretHash,
    permissions: Array.isArray(row.permissions) ? (row.permissions as RobotPermission[]) : [],
    expiresAt: row.expiresAt,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
