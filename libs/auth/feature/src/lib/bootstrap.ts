import { randomBytes } from 'node:crypto';
import { hashSecret } from '@berth/auth-core';
import type { AccountRepository } from './account.repository';
import type { ProjectRepository } from './project.repository';

/** What the first start did. */
export interface Bootstrap {
  /** The admin's password when it was generated (to print once), else null. */
  readonly generatedPassword: string | null;
  readonly created: boolean;
}

/**
 * Secure by default: the first start (no account at all) creates the system admin `admin`, with
 * the configured password or a generated one that the caller prints once, and the private
 * project `library` that one-segment names belong to. Replicas race here; the unique username
 * lets exactly one win.
 */
export async function bootstrapAdmin(
  accounts: AccountRepository,
  projects: ProjectRepository,
  configuredPassword: string | undefined,
): Promise<Bootstrap> {
  if (await accounts.any()) return { generatedPassword: null, created: false };
  const password = configuredPassword ?? randomBytes(18).toString('base64url');
  const created = await accounts.create({
    username: 'admin',
    passwordHash: await hashSecret(password),
    email: null,
    admin: true,
    source: 'local',
  });
  if (!created) return { generatedPassword: null, created: false };
  await projects.ensure('library');
  return { generatedPassword: configuredPassword === undefined ? password : null, created: true };
}
