import { isDeepStrictEqual } from 'node:util';
import { RequestMethod, type Type } from '@nestjs/common';
import { METHOD_METADATA, MODULE_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ApiDocumentSchema, type ApiDocument } from '@berth/contracts';
import { z } from 'zod';
import {
  createDocument,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathItemObject,
  type ZodOpenApiResponsesObject,
} from 'zod-openapi';
import {
  openApiPath,
  type ApiAccess,
  type ApiRoute,
  type ProblemStatus,
  type SuccessStatus,
} from './api-route';

/** RFC 9457 problem details, as every management route answers a failure. */
export const ProblemDetails = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .meta({ description: 'For invalid input: each issue, and where in the input it is' }),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });

const PROBLEMS: Readonly<Record<ProblemStatus, string>> = {
  400: 'The input is not valid',
  401: 'No or bad credentials',
  403: 'Not allowed for this caller',
  404: 'Not found, or not visible to the caller',
  409: 'Conflict with the current state',
  413: 'The body is too large',
  429: 'Too many failed logins; wait as `Retry-After` says',
  503: 'A service or directory it needs cannot be reached; try again later',
};

const SUCCESSES: Readonly<Record<SuccessStatus, string>> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'Done',
  302: 'Redirected',
};

/** How callers authenticate to the management API; every part declares them alike. */
const SECURITY_SCHEMES = {
  basic: { type: 'http', scheme: 'basic', description: 'A user, or `robot$<name>` and its secret' },
  bearer: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A token from `/token` or from the OpenID login',
  },
} as const;

const SECURITY: Readonly<Record<ApiAccess, Record<string, string[]>[]>> = {
  credentials: [{ basic: [] }, { bearer: [] }],
  // The empty requirement: anonymous callers are served too (and see only public things).
  'anonymous-too': [{ basic: [] }, { bearer: [] }, {}],
  public: [],
};

/** A group of routes in a document. */
export interface ApiTag {
  readonly name: string;
  readonly description: string;
}

/** One service's part of `/api/v1`: what its document says about itself, and its routes. */
export interface ApiPart {
  readonly title: string;
  readonly description: string;
  readonly tags: readonly ApiTag[];
  readonly routes: readonly ApiRoute[];
}

/** The version of the management API, in every document. */
const VERSION = 'v1';

/**
 * Generates the OpenAPI 3.1 document of a service's routes: operations, parameters and bodies
 * from their schemas (a schema with a `meta({ id })` becomes a component), the problems each
 * route implies, and the security schemes. Throws if a route is declared twice or its path
 * parameters do not match its `params`.
 */
export function apiDocument(part: ApiPart): ApiDocument {
  const paths: Record<string, ZodOpenApiPathItemObject> = {};
  for (const declaration of part.routes) {
    checkParams(declaration);
    const item = (paths[declaration.path] ??= {});
    if (item[declaration.method])
      throw new Error(`${declaration.method.toUpperCase()} ${declaration.path} is declared twice`);
    item[declaration.method] = operation(declaration);
  }
  return ApiDocumentSchema.parse(
    createDocument({
      openapi: '3.1.0',
      info: { title: part.title, version: VERSION, description: part.description },
      tags: part.tags.map((tag) => ({ ...tag })),
      paths,
      components: { securitySchemes: SECURITY_SCHEMES },
    }),
  );
}

function operation(declaration: ApiRoute): ZodOpenApiOperationObject {
  const { params, query, body } = declaration;
  return {
    tags: [declaration.tag],
    summary: declaration.summary,
    ...(declaration.description !== undefined && { description: declaration.description }),
    security: SECURITY[declaration.access],
    ...((params ?? query) && {
      requestParams: { ...(params && { path: params }), ...(query && { query }) },
    }),
    ...(body && {
      requestBody: {
        // A body that may be left out is one its schema accepts as absent.
        required: !body.safeParse(undefined).success,
        content: { 'application/json': { schema: body } },
      },
    }),
    responses: responses(declaration),
  };
}

function responses(declaration: ApiRoute): ZodOpenApiResponsesObject {
  const { response, mediaTypes = ['application/json'] } = declaration;
  const problems = new Set<ProblemStatus>(declaration.problems);
  if (declaration.params ?? declaration.query ?? declaration.body) problems.add(400);
  if (declaration.access !== 'public') for (const status of [401, 403, 429] as const) problems.add(status);
  if (declaration.params) problems.add(404);
  // A body that is not JSON (a page, a file) is described as text of its media types.
  const answer = response ?? (declaration.mediaTypes ? z.string() : undefined);
  const success = {
    description: SUCCESSES[declaration.status],
    ...(answer && {
      content: Object.fromEntries(mediaTypes.map((type) => [type, { schema: answer }])),
    }),
  };
  return {
    [declaration.status]: success,
    ...Object.fromEntries(
      [...problems]
        .sort((a, b) => a - b)
        .map((status) => [
          status,
          {
            description: PROBLEMS[status],
            content: { 'application/problem+json': { schema: ProblemDetails } },
          },
        ]),
    ),
  };
}

function checkParams(declaration: ApiRoute): void {
  const inPath = [...declaration.path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]).sort();
  const declared = Object.keys(declaration.params?.shape ?? {}).sort();
  if (!isDeepStrictEqual(inPath, declared))
    throw new Error(
      `${declaration.method.toUpperCase()} ${declaration.path} declares params ${declared.join(', ') || 'none'}`,
    );
}

/** The operations an OpenAPI path item may hold. */
const OPERATIONS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/**
 * Merges the parts of `/api/v1` into one document under `info`: their paths, tags and components.
 * Throws if two parts declare the same operation, or the same component differently; a component
 * both declare alike (the problem schema, the security schemes) is kept once. The parts are not
 * changed.
 */
export function mergeApiDocuments(
  info: { readonly title: string; readonly description: string },
  parts: readonly ApiDocument[],
): ApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  const components: Record<string, Record<string, unknown>> = {};
  const tags = new Map<string, NonNullable<ApiDocument['tags']>[number]>();
  for (const part of parts) {
    for (const [path, item] of Object.entries(part.paths)) {
      const merged = (paths[path] ??= {});
      for (const [key, value] of Object.entries(item)) {
        if (key in merged && (OPERATIONS.has(key) || !isDeepStrictEqual(merged[key], value)))
          throw new Error(`two parts of the API declare ${key} of ${path}`);
        merged[key] = value;
      }
    }
    for (const [section, named] of Object.entries(part.components ?? {})) {
      const merged = (components[section] ??= {});
      for (const [name, value] of Object.entries(named)) {
        if (name in merged && !isDeepStrictEqual(merged[name], value))
          throw new Error(`two parts of the API declare the ${section} component ${name} differently`);
        merged[name] = value;
      }
    }
    for (const tag of part.tags ?? []) if (!tags.has(tag.name)) tags.set(tag.name, tag);
  }
  return {
    openapi: '3.1.0',
    info: { title: info.title, version: VERSION, description: info.description },
    tags: [...tags.values()],
    paths,
    components,
  };
}

/** A method of a controller class, with the class. */
export interface ControllerMethod {
  readonly controller: Type;
  readonly handler: object;
}

/** The methods of every controller of a module (route handlers among them). */
export function controllerMethodsOf(module: Type): ControllerMethod[] {
  const controllers = (Reflect.getMetadata(MODULE_METADATA.CONTROLLERS, module) ?? []) as Type[];
  return controllers.flatMap((controller) =>
    Object.values(Object.getOwnPropertyDescriptors(controller.prototype as object)).flatMap(
      // Only plain methods: a getter is not a handler, and reading it would run it.
      ({ value }: PropertyDescriptor) =>
        typeof value === 'function' ? [{ controller, handler: value as object }] : [],
    ),
  );
}

/**
 * Every route the controllers of a module serve, as `METHOD /path` with OpenAPI's path form, read
 * from Nest's own route metadata: what a test compares with the module's document.
 */
export function servedRoutes(module: Type): string[] {
  return controllerMethodsOf(module).flatMap(({ controller, handler }) => {
    const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
    if (method === undefined) return [];
    return pathsIn(Reflect.getMetadata(PATH_METADATA, controller)).flatMap((prefix) =>
      pathsIn(Reflect.getMetadata(PATH_METADATA, handler)).map(
        (path) => `${RequestMethod[method]} ${openApiPath(joinPath(prefix, path))}`,
      ),
    );
  });
}

/** Every operation of a document, as `METHOD /path`. */
export function documentedRoutes(document: ApiDocument): string[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => OPERATIONS.has(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
}

function pathsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return [typeof value === 'string' ? value : '/'];
}

function joinPath(prefix: string, path: string): string {
  const segments = [prefix, path].map((p) => p.replace(/^\/+|\/+$/g, '')).filter((p) => p !== '');
  return `/${segments.join('/')}`;
}
