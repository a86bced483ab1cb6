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
/**
 * A moment, as every answer writes it (`Date.toISOString`). Answers are not validated, so the
 * document says `date-time` without the long pattern that checking input needs.
 */
const instant = z.string().meta({ format: 'date-time' });

export const CreateUser = z
  .strictObject({
    username,
    password,
    email: z.email().max(254).optional(),
    admin: z.boolean().optional(),
  })
  .meta({ id: 'CreateUser' });

export const UpdateUser = z
  .strictObject({
    password: password.optional(),
    email: z.email().max(254).nullable().optional(),
    admin: z.boolean().optional().meta({ description: 'Only a system admin may change it' }),
  })
  .meta({ id: 'UpdateUser' });

/** A user as the API shows it (never its password). */
export const UserResponse = z
  .object({
    username: z.string(),
    email: z.string().nullable(),
    admin: z.boolean(),
    source: z.enum(['local', 'ldap', 'oidc']).meta({ description: 'Where the user signs in' }),
    groups: z.array(z.string()).meta({ description: 'Directory groups seen at the last LDAP or OIDC login' }),
    createdAt: instant,
    updatedAt: instant,
  })
  .meta({ id: 'User' });

export const CreateProject = z
  .strictObject({ name: componentName, public: z.boolean().default(false) })
  .meta({ id: 'CreateProject' });
export const UpdateProject = z.strictObject({ public: z.boolean() }).meta({ id: 'UpdateProject' });

/** A project as the API shows it. */
export const ProjectResponse = z
  .object({ name: z.string(), public: z.boolean(), createdAt: instant, updatedAt: instant })
  .meta({ id: 'Project' });

export const AddMember = z
  .union([z.strictObject({ username, role }), z.strictObject({ group: z.string().min(1).max(256), role })])
  .meta({ id: 'AddMember', description: 'A user or a directory group, with its role' });
export const UpdateMember = z.strictObject({ role }).meta({ id: 'UpdateMember' });

/** A member as the API shows it: `username` for a user, `group` for a directory group. */
export const MemberResponse = z
  .object({
    kind: z.enum(['user', 'group']),
    username: z.string().optional(),
    group: z.string().optional(),
    role,
    createdAt: instant,
  })
  .meta({ id: 'Member' });

export const RobotPermissionDto = z
  .strictObject({
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
      .optional()
      .meta({
        description:
          'Globs over repository names within the project (`app`, `team/*`; the full `p/app` works too); none means all',
      }),
    actions: z.array(action).min(1),
  })
  .meta({ id: 'RobotPermission' });

export const CreateRobot = z
  .strictObject({
    name: componentName,
    description: z.string().max(1024).optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    permissions: z.array(RobotPermissionDto).min(1).max(100),
  })
  .meta({ id: 'CreateRobot' });

export const UpdateRobot = z
  .strictObject({
    description: z.string().max(1024).nullable().optional(),
    expiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
    permissions: z.array(RobotPermissionDto).min(1).max(100).optional(),
  })
  .meta({ id: 'UpdateRobot' });

/** A robot as the API shows it; `secret` only in the answers that create or rotate it. */
export const RobotResponse = z
  .object({
    name: z.string(),
    username: z.string().meta({ description: 'The name to log in with: `robot$<name>`' }),
    description: z.string().nullable(),
    permissions: z.array(
      z.object({
        project: z.string().meta({ description: 'A project, or `*` for every project' }),
        repositories: z.array(z.string()).optional(),
        // `*` (every action) is in the grammar of scopes, though the API grants it to no robot.
        actions: z.array(z.enum(['pull', 'push', 'delete', '*'])),
      }),
    ),
    expiresAt: instant.nullable(),
    createdBy: z.string(),
    createdAt: instant,
    secret: z
      .string()
      .optional()
      .meta({ description: 'Only in the answer that created or rotated it: it is shown once' }),
  })
  .meta({ id: 'Robot' });

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

/** One entry of the audit log. */
export const AuditEntryResponse = z
  .object({
    id: z.string(),
    occurredAt: instant,
    actor: z.string().meta({ description: 'The subject that acted, or empty for an anonymous caller' }),
    sourceAddress: z.string().nullable(),
    action: z.string().meta({ examples: ['robot.create'] }),
    resource: z.string().nullable(),
    outcome: z.enum(['success', 'failure', 'denied']),
    detail: z.unknown().meta({ description: 'What the action was about, by action' }),
  })
  .meta({ id: 'AuditEntry' });

/** One page of the audit log, newest first. */
export const AuditPageResponse = z
  .object({
    items: z.array(AuditEntryResponse),
    page: z.number().int(),
    pageSize: z.number().int(),
    hasMore: z.boolean(),
  })
  .meta({ id: 'AuditPage' });

/** What a finished OpenID login answers: the same tokens as `/token`. */
export const LoginTokensResponse = z
  .object({
    username: z.string(),
    token: z.string(),
    access_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int(),
    issued_at: instant,
    refresh_token: z.string().meta({ description: 'For `grant_type=refresh_token` at `/token`' }),
  })
  .meta({ id: 'LoginTokens' });

/** The path parameters of a user's routes. */
export const UserPath = z.object({ username: z.string() });
/** The path parameters of a project's (or a robot's) routes. */
export const NamePath = z.object({ name: z.string() });
/** The path parameters of a user member's routes. */
export const MemberUserPath = NamePath.extend({ username: z.string() });
/** The path parameters of a group member's routes. */
export const MemberGroupPath = NamePath.extend({ group: z.string() });
