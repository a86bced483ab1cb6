import {
  HttpCode,
  RequestMapping,
  RequestMethod,
  SetMetadata,
  createParamDecorator,
  type ExecutionContext,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';

/** The HTTP methods of the management API. */
export type ApiMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who may call a route: with credentials only, also anonymously, or anyone without checks. */
export type ApiAccess = 'credentials' | 'anonymous-too' | 'public';

/** The statuses a route answers on success. */
export type SuccessStatus = 200 | 201 | 202 | 204 | 302;

/** The problem statuses a route may answer with, beyond those its shape implies. */
export type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 413 | 429 | 503;

/**
 * One route of the management API, declared once: the controller serves it through
 * {@link Endpoint} (method, path and status come from here), its input is validated with these
 * schemas through {@link Input}, and the service's OpenAPI document is generated from it.
 */
export interface ApiRoute {
  readonly method: ApiMethod;
  /** The path in OpenAPI's form, parameters in braces: `/api/v1/users/{username}`. */
  readonly path: string;
  /** The group it is listed under in the document. */
  readonly tag: string;
  readonly summary: string;
  readonly description?: string;
  readonly access: ApiAccess;
  /** The path parameters, one per brace of `path`. */
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  readonly status: SuccessStatus;
  /** The body of the answer on success; none for 204 and redirects. */
  readonly response?: z.ZodType;
  /** The media types of that body, when it is not JSON. */
  readonly mediaTypes?: readonly string[];
  /** Problems it answers besides the implied ones (400 for input, 401/403/429 for callers, 404 for paths). */
  readonly problems?: readonly ProblemStatus[];
}

/** Declares a route, keeping the types of its schemas for {@link InputOf} and {@link OutputOf}. */
export function route<const R extends ApiRoute>(declaration: R): R {
  return declaration;
}

/** A type with every array and object made read-only, as an answer is only ever read. */
export type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** What an answer described by a response schema holds. */
export type ViewOf<S extends z.ZodType> = DeepReadonly<z.output<S>>;

type Part<R, K extends 'params' | 'query' | 'body'> = R extends {
  readonly [P in K]: infer S extends z.ZodType;
}
  ? { readonly [P in K]: z.output<S> }
  : unknown;

/** The validated input of a route: `params`, `query` and `body`, each when the route declares it. */
export type InputOf<R extends ApiRoute> = Part<R, 'params'> & Part<R, 'query'> & Part<R, 'body'>;

/** What a route's handler answers with on success: nothing, for a route without a body. */
export type OutputOf<R extends ApiRoute> = R extends { readonly response: infer S extends z.ZodType }
  ? ViewOf<S>
  : // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- the handler's return type, as `Promise<void>` is.
    void;

const ROUTE = Symbol('berth.api.route');

const METHODS: Readonly<Record<ApiMethod, RequestMethod>> = {
  get: RequestMethod.GET,
  post: RequestMethod.POST,
  put: RequestMethod.PUT,
  patch: RequestMethod.PATCH,
  delete: RequestMethod.DELETE,
};

/** A path in Nest's form: `/api/v1/users/{username}` becomes `/api/v1/users/:username`. */
export function nestPath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

/** A path in OpenAPI's form: `/api/v1/users/:username` becomes `/api/v1/users/{username}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/**
 * Serves a declared route with the decorated method: its HTTP method, path and success status
 * come from the declaration. The method takes the route's validated input first (see
 * {@link Input}) and answers with what its response schema describes, so a handler that does not
 * fit its declaration fails to compile.
 */
export function Endpoint<const R extends ApiRoute>(declaration: R) {
  return <T extends (input: InputOf<R>, ...context: never[]) => Promise<OutputOf<R>> | OutputOf<R>>(
    prototype: object,
    method: string | symbol,
    descriptor: TypedPropertyDescriptor<T>,
  ): void => {
    RequestMapping({ path: nestPath(declaration.path), method: METHODS[declaration.method] })(
      prototype,
      method,
      descriptor,
    );
    HttpCode(declaration.status)(prototype, method, descriptor);
    SetMetadata(ROUTE, declaration)(prototype, method, descriptor);
  };
}

/** The route a handler serves, if it was declared with {@link Endpoint}. */
export function routeOf(handler: object): ApiRoute | undefined {
  return Reflect.getMetadata(ROUTE, handler) as ApiRoute | undefined;
}

/**
 * Validates a request's parts against a route's schemas; a `ZodError` (answered as a 400 problem
 * that names each issue) for the first part that does not fit.
 */
function parseInput(
  declaration: ApiRoute,
  request: { readonly params: unknown; readonly query: unknown; readonly body: unknown },
): Record<string, unknown> {
  return {
    ...(declaration.params && { params: declaration.params.parse(request.params) }),
    ...(declaration.query && { query: declaration.query.parse(request.query) }),
    ...(declaration.body && { body: declaration.body.parse(request.body) }),
  };
}

/**
 * The validated input of the route the handler serves ({@link InputOf}): the one way the
 * management API reads path parameters, queries and bodies. It runs after the guards, so an
 * unknown caller hears 401 before its input is judged.
 */
export const Input = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  const declaration = routeOf(context.getHandler());
  if (!declaration) throw new Error('@Input() is for handlers declared with @Endpoint()');
  return parseInput(declaration, context.switchToHttp().getRequest<FastifyRequest>());
});
