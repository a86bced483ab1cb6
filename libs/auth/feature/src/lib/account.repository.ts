import type { PrismaClient } from '@berth/db';
import type { AccountSource, User } from './model';

interface AccountRow {
  username: string;
  passwordHash: string | null;
  email: string | null;
  admin: boolean;
  source: string;
  groups: unknown;
  createdAt: Date;
  updatedAt: Date;
}

/** A user with the hash its password is checked against (local accounts only). */
export interface UserWithSecret extends User {
  readonly passwordHash: string | null;
}

/** The accounts table: people who sign in. */
export class AccountRepository {
  constructor(private readonly db: PrismaClient) {}

  /** Whether any account exists (the first start creates the admin). */
  async any(): Promise<boolean> {
    return (await this.db.account.findFirst({ select: { id: true } })) !== null;
  }

  async find(username: string): Promise<UserWithSecret | null> {
    const row = await this.db.account.findUnique({ where: { username } });
    return row ? toUser(row) : null;
  }

  /** One page of users by name. */
  async list(offset: number, limit: number): Promise<User[]> {
    const rows = await this.db.account.findMany({ orderBy: { username: 'asc' }, skip: offset, take: limit });
    return rows.map(toUser);
  }

  /** Creates an account; null when the username is taken. */
  async create(user: {
    username: string;
    passwordHash: string | null;
    email: string | null;
    admin: boolean;
    source: AccountSource;
    groups?: readonly string[];
  }): Promise<User | null> {
    const rows = await this.db.$queryRaw<AccountRow[]>`
      INSERT INTO auth.account (username, password_hash, email, admin, source, groups)
      VALUES (${user.username}, ${user.passwordHash}, ${user.email}, ${user.admin}, ${user.source},
              ${JSON.stringify(user.groups ?? [])}::jsonb)
      ON CONFLICT (username) DO NOTHING
      RETURNING username, password_hash AS "passwordHash", email, admin, source, groups,
                created_at AS "createdAt", updated_at AS "updatedAt"`;
    const row = rows[0];
    return row ? toUser(row) : null;
  }

  /** Changes an account; null when there is none. */
  async update(
    username: string,
    changes: { passwordHash?: string; email?: string | null; admin?: boolean; groups?: readonly string[] },
  ): Promise<User | null> {
    const result = await this.db.account.updateMany({
      where: { username },
      data: {
        ...(changes.passwordHash !== undefined && { passwordHash: changes.passwordHash }),
        ...(changes.email !== undefined && { email: changes.email }),
        ...(changes.admin !== undefined && { admin: changes.admin }),
        ...(changes.groups !== undefined && { groups: [...changes.groups] }),
        updatedAt: new Date(),
      },
    });
    return result.count === 0 ? null : this.find(username);
  }

  /** Deletes an account and its direct memberships; false when there was none. */
  async delete(username: string): Promise<boolean> {
    const [, deleted] = await this.db.$transaction([
      this.db.projectMember.deleteMany({ where: { kind: 'user', name: username } }),
      this.db.account.deleteMany({ where: { username } }),
    ]);
    return deleted.count > 0;
  }
}

function toUser(row: AccountRow): UserWithSecret {
  return {
    username: row.username,
    passwordHash: row.passwordHash,
    email: row.email,
    admin: row.admin,
    source: row.source as AccountSource,
    groups: Array.isArray(row.groups) ? row.groups.filter((g): g is string => typeof g === 'string') : [],
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
