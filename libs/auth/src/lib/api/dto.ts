import { z } from 'zod';

/** Usernames: letters, digits and `._@-`, starting with a letter or digit; never `robot$…`. */
export const username = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'letters, digits and ._@- only, starting with a letter or digit');

/** Project and robot names: one lower-case path component of a repository name. */
export const componentName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/, 'lower-case letters and digits, separated by . _ or -');

const password = z.string().min(8, 'at least 8 characters').max(256);
const role = z.enum(['admin', 'maintainer', 'developer', 'guest', 'limited-guest']);
const action = z.enum(['pull', 'push', 'delete']);

export const CreateUser = z.strictObject({
  username,
  password,
  email: z.email().max(254).optional(),
  admin: z.boolean().optional(),
});

export const UpdateUser = z.strictObject({
  password: password.optional(),
  email: z.email().max(254).nullable().optional(),
  admin: z.boolean().optional(),
});

export const CreateProject = z.strictObject({ name: componentName, public: z.boolean().default(false) });
export const UpdateProject = z.strictObject({ public: z.boolean() });

export const AddMember = z.union([
  z.strictObject({ username, role }),
  z.strictObject({ group: z.string().min(1).max(256), role }),
]);
export const UpdateMember = z.strictObject({ role });

export const RobotPermissionDto = z.strictObject({
  project: z.union([componentName, z.literal('*')]),
  repositories: z
    .array(
      z
        .string()
        .min(1)
        .max(255)
        .regex(/^[a-z0-9._*/-]+$/, 'a glob over repository names'),
    )
    .max(100)
    .optional(),
  actions: z.array(action).min(1),
});

export const CreateRobot = z.strictObject({
  name: componentName,
  description: z.string().max(1024).optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  permissions: z.array(RobotPermissionDto).min(1).max(100),
});

export const UpdateRobot = z.strictObject({
  description: z.string().max(1024).nullable().optional(),
  expiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
  permissions: z.array(RobotPermissionDto).min(1).max(100).optional(),
});

export const Pagination = z.object({
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(100).default(25),
});

export const AuditQuery = Pagination.extend({
  actor: z.string().max(256).optional(),
  action: z.string().max(64).optional(),
  outcome: z.enum(['success', 'failure', 'denied']).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
});
