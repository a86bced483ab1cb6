import { hashSecret } from '@berth/auth-core';
import { Bus } from '@berth/bus';
import { SubjectRevoked } from '@berth/contracts';
import type { z } from 'zod';
import type { AccountRepository } from '../account.repository';
import type { Auditor } from '../auditor';
import type { User } from '../model';
import type { SigningKeyRepository } from '../token/signing-key.repository';
import type { Caller } from './caller';
import { username as usernameSchema, type CreateUser, type UpdateUser, type UserResponse } from './dto';
import { Problem, type ViewOf } from '@berth/server';
import { BasicLogins } from './basic-logins';

/** A user as the API shows it. */
export type UserView = ViewOf<typeof UserResponse>;

/**
 * Managing users. System admins manage everyone; a user may read itself and change its own
 * password and email, never its admin flag.
 */
export class UsersService {
  constructor(
    private readonly accounts: AccountRepository,
    private readonly keys: SigningKeyRepository,
    private readonly auditor: Auditor,
    private readonly bus: Bus,
    private readonly logins: BasicLogins,
  ) {}

  async create(caller: Caller, input: z.infer<typeof CreateUser>): Promise<UserView> {
    requireAdmin(caller);
    const user = await this.accounts.create({
      username: input.username,
      passwordHash: await hashSecret(input.password),
      email: input.email ?? null,
      admin: input.admin ?? false,
      source: 'local',
    });
    if (!user) throw new Problem('conflict', `user "${input.username}" exists`);
    await this.auditor.change(caller, 'user.create', user.username, { admin: user.admin });
    return view(user);
  }

  async list(caller: Caller, page: number, pageSize: number): Promise<UserView[]> {
    requireAdmin(caller);
    return (await this.accounts.list((page - 1) * pageSize, pageSize)).map(view);
  }

  async get(caller: Caller, name: string): Promise<UserView> {
    this.requireSelfOrAdmin(caller, name);
    const user = await this.accounts.find(name);
    if (!user) throw notFound(name);
    return view(user);
  }

  async update(caller: Caller, name: string, input: z.infer<typeof UpdateUser>): Promise<UserView> {
    this.requireSelfOrAdmin(caller, name);
    if (input.admin !== undefined && !isAdmin(caller))
      throw new Problem('forbidden', 'only a system admin may change the admin flag');
    const existing = await this.accounts.find(name);
    if (!existing) throw notFound(name);
    if (input.password !== undefined && existing.source !== 'local')
      throw new Problem('conflict', `the password of a ${existing.source} user is kept by its directory`);
    const user = await this.accounts.update(name, {
      ...(input.password !== undefined && { passwordHash: await hashSecret(input.password) }),
      ...(input.email !== undefined && { email: input.email }),
      ...(input.admin !== undefined && { admin: input.admin }),
    });
    if (!user) throw notFound(name);
    if (input.password !== undefined || input.admin === false) await this.revoke(name);
    await this.auditor.change(caller, 'user.update', name, {
      fields: Object.keys(input)
        .filter((key) => key !== 'password')
        .concat(input.password ? ['password'] : []),
    });
    return view(user);
  }

  async delete(caller: Caller, name: string): Promise<void> {
    requireAdmin(caller);
    if (caller.subject === name) throw new Problem('conflict', 'an admin cannot delete its own account');
    if (!(await this.accounts.delete(name))) throw notFound(name);
    await this.revoke(name);
    await this.auditor.change(caller, 'user.delete', name);
  }

  private requireSelfOrAdmin(caller: Caller, name: string): void {
    if (!usernameSchema.safeParse(name).success) throw notFound(name);
    if (isAdmin(caller) || (caller.identity.kind === 'user' && caller.identity.username === name)) return;
    throw new Problem('forbidden', 'only a system admin may manage other users');
  }

  /** The user's refresh tokens die, and gateways forget its cached Basic credentials. */
  private async revoke(name: string): Promise<void> {
    await this.keys.revokeRefreshTokens(name);
    // Here at once; other replicas of auth, and the gateways, on the broadcast.
    this.logins.revoke(name);
    await this.bus.broadcast(SubjectRevoked, { subject: name });
  }
}

/** Whether the caller is a system admin. */
export function isAdmin(caller: Caller): boolean {
  return caller.principal.kind === 'user' && caller.principal.systemAdmin;
}

/** Refuses anyone but a system admin. */
export function requireAdmin(caller: Caller): void {
  if (!isAdmin(caller)) throw new Problem('forbidden', 'this needs a system admin');
}

function notFound(name: string): Problem {
  return new Problem('not-found', `no user "${name.slice(0, 100)}"`);
}

function view(user: User): UserView {
  return {
    username: user.username,
    email: user.email,
    admin: user.admin,
    source: user.source,
    groups: user.groups,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}
