import { ApiDocumentSchema, type ApiDocument } from '@berth/contracts';
import { apiDocument, route } from '@berth/server';
import { z } from 'zod';
import {
  AddMember,
  AuditPageResponse,
  AuditQuery,
  CreateProject,
  CreateRobot,
  CreateUser,
  LoginTokensResponse,
  MemberGroupPath,
  MemberResponse,
  MemberUserPath,
  NamePath,
  Pagination,
  ProjectResponse,
  RobotResponse,
  UpdateMember,
  UpdateProject,
  UpdateRobot,
  UpdateUser,
  UserPath,
  UserResponse,
} from './dto';

// Auth's part of `/api/v1`, each route declared once: the controllers serve these declarations
// (`@Endpoint`), validate their input with these schemas (`@Input`), and the document below is
// generated from them. Routes of other services are declared by those services.

/** `/api/v1/users`. */
export const UserRoutes = {
  create: route({
    method: 'post',
    path: '/api/v1/users',
    tag: 'users',
    summary: 'Create a user (system admin)',
    access: 'credentials',
    body: CreateUser,
    status: 201,
    response: UserResponse,
    problems: [409],
  }),
  list: route({
    method: 'get',
    path: '/api/v1/users',
    tag: 'users',
    summary: 'List users (system admin)',
    access: 'credentials',
    query: Pagination,
    status: 200,
    response: z.array(UserResponse),
  }),
  get: route({
    method: 'get',
    path: '/api/v1/users/{username}',
    tag: 'users',
    summary: 'Read a user (itself, or a system admin)',
    access: 'credentials',
    params: UserPath,
    status: 200,
    response: UserResponse,
  }),
  update: route({
    method: 'patch',
    path: '/api/v1/users/{username}',
    tag: 'users',
    summary: 'Change the password, email or admin flag of a user',
    access: 'credentials',
    params: UserPath,
    body: UpdateUser,
    status: 200,
    response: UserResponse,
  }),
  delete: route({
    method: 'delete',
    path: '/api/v1/users/{username}',
    tag: 'users',
    summary: 'Delete a user (system admin)',
    access: 'credentials',
    params: UserPath,
    status: 204,
  }),
};

/** `/api/v1/projects` and their members. */
export const ProjectRoutes = {
  create: route({
    method: 'post',
    path: '/api/v1/projects',
    tag: 'projects',
    summary: 'Create a project; its creator becomes its admin',
    access: 'credentials',
    body: CreateProject,
    status: 201,
    response: ProjectResponse,
    problems: [409],
  }),
  list: route({
    method: 'get',
    path: '/api/v1/projects',
    tag: 'projects',
    summary: 'List the projects the caller may see (anonymous callers: the public ones)',
    access: 'anonymous-too',
    query: Pagination,
    status: 200,
    response: z.array(ProjectResponse),
  }),
  get: route({
    method: 'get',
    path: '/api/v1/projects/{name}',
    tag: 'projects',
    summary: 'Read a project',
    access: 'anonymous-too',
    params: NamePath,
    status: 200,
    response: ProjectResponse,
  }),
  update: route({
    method: 'patch',
    path: '/api/v1/projects/{name}',
    tag: 'projects',
    summary: 'Make a project public or private (project admin)',
    access: 'credentials',
    params: NamePath,
    body: UpdateProject,
    status: 200,
    response: ProjectResponse,
  }),
  delete: route({
    method: 'delete',
    path: '/api/v1/projects/{name}',
    tag: 'projects',
    summary: 'Delete a project that holds no repositories (project admin)',
    access: 'credentials',
    params: NamePath,
    status: 204,
    problems: [409],
  }),
  members: route({
    method: 'get',
    path: '/api/v1/projects/{name}/members',
    tag: 'members',
    summary: "List a project's members (members above limited guest)",
    access: 'credentials',
    params: NamePath,
    status: 200,
    response: z.array(MemberResponse),
  }),
  addMember: route({
    method: 'post',
    path: '/api/v1/projects/{name}/members',
    tag: 'members',
    summary: 'Add a user or a directory group with a role (project admin)',
    access: 'credentials',
    params: NamePath,
    body: AddMember,
    status: 201,
    response: MemberResponse,
    problems: [409],
  }),
  updateUser: route({
    method: 'patch',
    path: '/api/v1/projects/{name}/members/users/{username}',
    tag: 'members',
    summary: "Change a user's role (project admin)",
    access: 'credentials',
    params: MemberUserPath,
    body: UpdateMember,
    status: 200,
    response: MemberResponse,
  }),
  updateGroup: route({
    method: 'patch',
    path: '/api/v1/projects/{name}/members/groups/{group}',
    tag: 'members',
    summary: "Change a group's role (project admin)",
    access: 'credentials',
    params: MemberGroupPath,
    body: UpdateMember,
    status: 200,
    response: MemberResponse,
  }),
  removeUser: route({
    method: 'delete',
    path: '/api/v1/projects/{name}/members/users/{username}',
    tag: 'members',
    summary: 'Remove a user from a project (project admin)',
    access: 'credentials',
    params: MemberUserPath,
    status: 204,
  }),
  removeGroup: route({
    method: 'delete',
    path: '/api/v1/projects/{name}/members/groups/{group}',
    tag: 'members',
    summary: 'Remove a group from a project (project admin)',
    access: 'credentials',
    params: MemberGroupPath,
    status: 204,
  }),
};

/** `/api/v1/robots`. */
export const RobotRoutes = {
  create: route({
    method: 'post',
    path: '/api/v1/robots',
    tag: 'robots',
    summary: 'Create a robot; the answer holds its secret, shown once',
    access: 'credentials',
    body: CreateRobot,
    status: 201,
    response: RobotResponse,
    problems: [409],
  }),
  list: route({
    method: 'get',
    path: '/api/v1/robots',
    tag: 'robots',
    summary: 'List the robots the caller manages',
    access: 'credentials',
    query: Pagination,
    status: 200,
    response: z.array(RobotResponse),
  }),
  get: route({
    method: 'get',
    path: '/api/v1/robots/{name}',
    tag: 'robots',
    summary: 'Read a robot',
    access: 'credentials',
    params: NamePath,
    status: 200,
    response: RobotResponse,
  }),
  update: route({
    method: 'patch',
    path: '/api/v1/robots/{name}',
    tag: 'robots',
    summary: "Change a robot's description, permissions or expiry",
    access: 'credentials',
    params: NamePath,
    body: UpdateRobot,
    status: 200,
    response: RobotResponse,
  }),
  rotate: route({
    method: 'post',
    path: '/api/v1/robots/{name}/secret',
    tag: 'robots',
    summary: "Rotate a robot's secret; the answer holds the new one, shown once",
    access: 'credentials',
    params: NamePath,
    status: 200,
    response: RobotResponse,
  }),
  delete: route({
    method: 'delete',
    path: '/api/v1/robots/{name}',
    tag: 'robots',
    summary: 'Revoke (delete) a robot: its next login fails',
    access: 'credentials',
    params: NamePath,
    status: 204,
  }),
};

/** `/api/v1/audit-logs`. */
export const AuditRoutes = {
  list: route({
    method: 'get',
    path: '/api/v1/audit-logs',
    tag: 'audit',
    summary: 'Read the audit log, newest first, with filters (system admin)',
    access: 'credentials',
    query: AuditQuery,
    status: 200,
    response: AuditPageResponse,
  }),
};

/**
 * `/api/v1/auth/oidc`: sign-in with the OpenID provider. Served by the OIDC login controller,
 * which answers through the raw reply (a redirect with a cookie) and so is not an `@Endpoint`;
 * the route test holds it to these declarations.
 */
export const OidcLoginRoutes = {
  login: route({
    method: 'get',
    path: '/api/v1/auth/oidc/login',
    tag: 'login',
    summary: 'Start a sign-in with the OpenID provider (auth.oidc)',
    description:
      'Redirects the browser to the provider, with a cookie that binds the login to this browser. ' +
      'Answers 404 when no provider is configured.',
    access: 'public',
    status: 302,
    problems: [404, 503],
  }),
  callback: route({
    method: 'get',
    path: '/api/v1/auth/oidc/callback',
    tag: 'login',
    summary: 'Where the provider sends the browser back: finishes the login',
    description: 'Answers with a Berth token for the API and a refresh token for `/token`.',
    access: 'public',
    query: z.object({
      code: z.string().optional(),
      state: z.string().optional(),
      error: z.string().optional(),
    }),
    status: 200,
    response: LoginTokensResponse,
    problems: [401, 404, 503],
  }),
};

const OpenApiDocument = ApiDocumentSchema.meta({
  id: 'OpenApiDocument',
  description: 'An OpenAPI 3.1 document',
});

/** `/api/v1/openapi.json` and the Swagger UI over it. */
export const DocsRoutes = {
  document: route({
    method: 'get',
    path: '/api/v1/openapi.json',
    tag: 'docs',
    summary: 'This document: every part of `/api/v1`, merged',
    access: 'public',
    status: 200,
    response: OpenApiDocument,
  }),
  part: route({
    method: 'get',
    path: '/api/v1/openapi/{service}.json',
    tag: 'docs',
    summary: "One service's part of `/api/v1` (`auth`, `webhooks`), as that service generates it",
    access: 'public',
    params: z.object({ service: z.string() }),
    status: 200,
    response: OpenApiDocument,
    problems: [503],
  }),
  page: route({
    method: 'get',
    path: '/api/v1/docs',
    tag: 'docs',
    summary: 'Swagger UI over this document',
    access: 'public',
    status: 200,
    response: z.string(),
    mediaTypes: ['text/html'],
  }),
  asset: route({
    method: 'get',
    path: '/api/v1/docs/assets/{file}',
    tag: 'docs',
    summary: "Swagger UI's script and style sheet",
    access: 'public',
    params: z.object({ file: z.string() }),
    status: 200,
    mediaTypes: ['text/css', 'text/javascript'],
  }),
};

/** What the merged document of `/api/v1` says about itself. */
export const MANAGEMENT_API = {
  title: 'Berth management API',
  description:
    'Berth’s `/api/v1`, merged from the document each service generates from its own routes. ' +
    'Authenticate with HTTP Basic (a user, or `robot$<name>`) or a bearer token from `/token` or ' +
    'the OpenID login. Errors are RFC 9457 problem details.',
};

/** Auth's part of `/api/v1`, generated from the declarations above. */
export function authApiDocument(): ApiDocument {
  return apiDocument({
    title: 'Berth management API: identity and access',
    description:
      'Users, projects and their members, robot accounts, the audit log, and sign-in with an ' +
      'OpenID provider; served by the auth service.',
    tags: [
      { name: 'users', description: 'Local, LDAP and OpenID users' },
      { name: 'projects', description: 'Projects: the first segment of repository names' },
      { name: 'members', description: 'Users and directory groups with a role in a project' },
      { name: 'robots', description: 'Robot accounts for CI' },
      { name: 'audit', description: 'Who did what, and who was refused' },
      { name: 'login', description: 'Sign-in with an OpenID provider' },
      { name: 'docs', description: 'This document' },
    ],
    routes: [
      ...Object.values(UserRoutes),
      ...Object.values(ProjectRoutes),
      ...Object.values(RobotRoutes),
      ...Object.values(AuditRoutes),
      ...Object.values(OidcLoginRoutes),
      ...Object.values(DocsRoutes),
    ],
  });
}
