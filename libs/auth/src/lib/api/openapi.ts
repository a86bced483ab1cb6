import { z } from 'zod';
import {
  AddMember,
  CreateProject,
  CreateRobot,
  CreateUser,
  UpdateMember,
  UpdateProject,
  UpdateRobot,
  UpdateUser,
} from './dto';

const schema = (type: z.ZodType): Record<string, unknown> =>
  z.toJSONSchema(type, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' });

const problem = { $ref: '#/components/schemas/Problem' };
const json = (ref: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } });
const jsonList = (ref: string) => ({
  'application/json': { schema: { type: 'array', items: { $ref: `#/components/schemas/${ref}` } } },
});
const problems: Record<string, unknown> = Object.fromEntries(
  (
    [
      ['400', 'Invalid input'],
      ['401', 'No or bad credentials'],
      ['403', 'Not allowed for this caller'],
      ['404', 'Not found (or not visible to the caller)'],
      ['409', 'Conflict with the current state'],
      ['429', 'Too many failed logins'],
    ] as const
  ).map(([status, description]) => [
    status,
    { description, content: { 'application/problem+json': { schema: problem } } },
  ]),
);
const page = [
  { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1, default: 1 } },
  { name: 'pageSize', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 25 } },
];
const path = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

function operation(
  tag: string,
  summary: string,
  options: { body?: string; ok?: [string, unknown]; params?: unknown[] } = {},
): Record<string, unknown> {
  const [status, content] = options.ok ?? ['204', undefined];
  return {
    tags: [tag],
    summary,
    ...(options.params && { parameters: options.params }),
    ...(options.body && { requestBody: { required: true, content: json(options.body) } }),
    responses: {
      [status]: content === undefined ? { description: 'Done' } : { description: 'OK', content },
      ...problems,
    },
  };
}

/** The OpenAPI 3 description of the management API, served at `/api/v1/openapi.json`. */
export function openApiDocument(): Record<string, unknown> {
  const user = [path('username')];
  const project = [path('name')];
  const robot = [path('name')];
  const hook = [path('project'), path('id')];
  return {
    openapi: '3.0.3',
    info: {
      title: 'Berth management API',
      version: 'v1',
      description:
        'Users, projects, members, robot accounts, webhooks, the audit log, and sign-in with an OpenID ' +
        'provider. ' +
        'Authenticate with HTTP Basic (a user or `robot$<name>`) or a bearer token from `/token` or ' +
        'the OpenID login. Errors are RFC 9457 problem details.',
    },
    servers: [{ url: '/' }],
    security: [{ basic: [] }, { bearer: [] }],
    paths: {
      '/api/v1/users': {
        post: operation('users', 'Create a user (system admin)', {
          body: 'CreateUser',
          ok: ['201', json('User')],
        }),
        get: operation('users', 'List users (system admin)', { params: page, ok: ['200', jsonList('User')] }),
      },
      '/api/v1/users/{username}': {
        get: operation('users', 'Read a user (itself or a system admin)', {
          params: user,
          ok: ['200', json('User')],
        }),
        patch: operation('users', 'Change password, email or admin flag', {
          params: user,
          body: 'UpdateUser',
          ok: ['200', json('User')],
        }),
        delete: operation('users', 'Delete a user (system admin)', { params: user }),
      },
      '/api/v1/projects': {
        post: operation('projects', 'Create a project; its creator becomes its admin', {
          body: 'CreateProject',
          ok: ['201', json('Project')],
        }),
        get: operation('projects', 'List the projects the caller may see', {
          params: page,
          ok: ['200', jsonList('Project')],
        }),
      },
      '/api/v1/projects/{name}': {
        get: operation('projects', 'Read a project', { params: project, ok: ['200', json('Project')] }),
        patch: operation('projects', 'Make a project public or private (project admin)', {
          params: project,
          body: 'UpdateProject',
          ok: ['200', json('Project')],
        }),
        delete: operation('projects', 'Delete an empty project (project admin)', { params: project }),
      },
      '/api/v1/projects/{name}/members': {
        get: operation('members', 'List members', { params: project, ok: ['200', jsonList('Member')] }),
        post: operation('members', 'Add a user or group with a role (project admin)', {
          params: project,
          body: 'AddMember',
          ok: ['201', json('Member')],
        }),
      },
      '/api/v1/projects/{name}/members/users/{username}': {
        patch: operation('members', "Change a user's role", {
          params: [...project, ...user],
          body: 'UpdateMember',
          ok: ['200', json('Member')],
        }),
        delete: operation('members', 'Remove a user', { params: [...project, ...user] }),
      },
      '/api/v1/projects/{name}/members/groups/{group}': {
        patch: operation('members', "Change a group's role", {
          params: [...project, path('group')],
          body: 'UpdateMember',
          ok: ['200', json('Member')],
        }),
        delete: operation('members', 'Remove a group', { params: [...project, path('group')] }),
      },
      '/api/v1/robots': {
        post: operation('robots', 'Create a robot; the answer holds its secret, shown once', {
          body: 'CreateRobot',
          ok: ['201', json('RobotWithSecret')],
        }),
        get: operation('robots', 'List the robots the caller manages', {
          params: page,
          ok: ['200', jsonList('Robot')],
        }),
      },
      '/api/v1/robots/{name}': {
        get: operation('robots', 'Read a robot', { params: robot, ok: ['200', json('Robot')] }),
        patch: operation('robots', "Change a robot's description, permissions or expiry", {
          params: robot,
          body: 'UpdateRobot',
          ok: ['200', json('Robot')],
        }),
        delete: operation('robots', 'Revoke (delete) a robot', { params: robot }),
      },
      '/api/v1/robots/{name}/secret': {
        post: operation('robots', "Rotate a robot's secret; the answer holds the new one, shown once", {
          params: robot,
          ok: ['200', json('RobotWithSecret')],
        }),
      },
      '/api/v1/audit-logs': {
        get: operation('audit', 'Read the audit log, newest first (system admin)', {
          params: [
            ...page,
            ...['actor', 'action', 'outcome', 'since', 'until'].map((name) => ({
              name,
              in: 'query',
              schema: { type: 'string' },
            })),
          ],
          ok: ['200', json('AuditPage')],
        }),
      },
      '/api/v1/projects/{project}/webhooks': {
        get: operation('webhooks', "List a project's webhooks (project admin or maintainer)", {
          params: [path('project')],
          ok: ['200', jsonList('Webhook')],
        }),
        post: operation('webhooks', 'Create a webhook; the answer holds its secret, shown once', {
          params: [path('project')],
          body: 'CreateWebhook',
          ok: ['201', json('WebhookWithSecret')],
        }),
      },
      '/api/v1/projects/{project}/webhooks/{id}': {
        get: operation('webhooks', 'Read a webhook', { params: hook, ok: ['200', json('Webhook')] }),
        patch: operation(
          'webhooks',
          "Change a webhook's target, events, format, filters, headers or enabled",
          {
            params: hook,
            body: 'UpdateWebhook',
            ok: ['200', json('Webhook')],
          },
        ),
        delete: operation('webhooks', 'Delete a webhook and its deliveries', { params: hook }),
      },
      '/api/v1/projects/{project}/webhooks/{id}/secret': {
        post: operation('webhooks', 'Rotate the secret; the old one also signs for overlapSeconds (24 h)', {
          params: hook,
          ok: ['200', json('RotatedSecret')],
        }),
      },
      '/api/v1/projects/{project}/webhooks/{id}/deliveries': {
        get: operation('webhooks', "A webhook's deliveries, newest first", {
          params: [
            ...hook,
            ...page,
            {
              name: 'status',
              in: 'query',
              schema: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
            },
          ],
          ok: ['200', jsonList('Delivery')],
        }),
      },
      '/api/v1/projects/{project}/webhooks/{id}/deliveries/{deliveryId}': {
        get: operation('webhooks', 'A delivery with its body and every attempt', {
          params: [...hook, path('deliveryId')],
          ok: ['200', json('Delivery')],
        }),
      },
      '/api/v1/projects/{project}/webhooks/{id}/deliveries/{deliveryId}/redeliver': {
        post: operation('webhooks', 'Send a delivery again, with the same webhook-id', {
          params: [...hook, path('deliveryId')],
          ok: ['202', json('Delivery')],
        }),
      },
      '/api/v1/auth/oidc/login': {
        get: {
          tags: ['login'],
          summary:
            'Start a sign-in with the OpenID provider (auth.oidc): redirects there, with a cookie that ' +
            'binds the login to this browser',
          security: [],
          responses: {
            '302': { description: 'To the provider' },
            '404': problems['404'],
            '503': { description: 'The provider cannot be reached' },
          },
        },
      },
      '/api/v1/auth/oidc/callback': {
        get: {
          tags: ['login'],
          summary:
            'Where the provider sends the browser back: finishes the login and answers with a Berth ' +
            'token for the API and a refresh token for `/token`',
          security: [],
          parameters: ['code', 'state', 'error'].map((name) => ({
            name,
            in: 'query',
            schema: { type: 'string' },
          })),
          responses: { '200': { description: 'Signed in', content: json('LoginTokens') }, ...problems },
        },
      },
    },
    components: {
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic' },
        bearer: { type: 'http', scheme: 'bearer' },
      },
      schemas: {
        CreateUser: schema(CreateUser),
        UpdateUser: schema(UpdateUser),
        CreateProject: schema(CreateProject),
        UpdateProject: schema(UpdateProject),
        AddMember: schema(AddMember),
        UpdateMember: schema(UpdateMember),
        CreateRobot: schema(CreateRobot),
        UpdateRobot: schema(UpdateRobot),
        User: object({
          username: 'string',
          email: 'string',
          admin: 'boolean',
          source: 'string',
          createdAt: 'string',
        }),
        Project: object({ name: 'string', public: 'boolean', createdAt: 'string', updatedAt: 'string' }),
        Member: object({
          kind: 'string',
          username: 'string',
          group: 'string',
          role: 'string',
          createdAt: 'string',
        }),
        Robot: object({
          name: 'string',
          username: 'string',
          description: 'string',
          expiresAt: 'string',
          createdBy: 'string',
        }),
        RobotWithSecret: object({
          name: 'string',
          username: 'string',
          secret: 'string',
          expiresAt: 'string',
        }),
        CreateWebhook: object({
          name: 'string',
          url: 'string',
          events: 'array',
          format: 'string',
          secret: 'string',
          headers: 'object',
          repositories: 'array',
          tags: 'array',
          enabled: 'boolean',
        }),
        UpdateWebhook: object({
          url: 'string',
          events: 'array',
          format: 'string',
          headers: 'object',
          repositories: 'array',
          tags: 'array',
          enabled: 'boolean',
        }),
        Webhook: object({
          id: 'string',
          name: 'string',
          url: 'string',
          events: 'array',
          format: 'string',
          headers: 'array',
          enabled: 'boolean',
          disabledReason: 'string',
          failing: 'object',
        }),
        WebhookWithSecret: object({ id: 'string', name: 'string', secret: 'string' }),
        RotatedSecret: object({ secret: 'string', previousSecretValidUntil: 'string' }),
        Delivery: object({
          id: 'string',
          eventId: 'string',
          eventType: 'string',
          status: 'string',
          attempts: 'integer',
          lastResponseCode: 'integer',
          lastError: 'string',
          lastLatencyMs: 'integer',
          nextAttemptAt: 'string',
          deliveredAt: 'string',
        }),
        LoginTokens: object({
          username: 'string',
          token: 'string',
          access_token: 'string',
          token_type: 'string',
          expires_in: 'integer',
          issued_at: 'string',
          refresh_token: 'string',
        }),
        AuditPage: object({ items: 'array', page: 'integer', pageSize: 'integer', hasMore: 'boolean' }),
        Problem: object({
          type: 'string',
          title: 'string',
          status: 'integer',
          detail: 'string',
          instance: 'string',
        }),
      },
    },
  };
}

function object(fields: Record<string, string>): Record<string, unknown> {
  return {
    type: 'object',
    properties: Object.fromEntries(
      Object.entries(fields).map(([name, type]) => [
        name,
        type === 'array' ? { type, items: { type: 'object' } } : { type },
      ]),
    ),
  };
}
