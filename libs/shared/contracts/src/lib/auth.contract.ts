import { z } from 'zod';
import { broadcast, rpc } from './contract';

/** A granted resource scope, as in a token's `access` claim. */
const resourceScope = z.object({
  type: z.enum(['repository', 'registry']),
  name: z.string().min(1).max(255),
  actions: z.array(z.enum(['pull', 'push', 'delete', '*'])),
});

/** A public signing key as a JWK (EC P-256). */
const jwk = z
  .object({ kty: z.string(), kid: z.string(), crv: z.string().optional(), x: z.string().optional() })
  .catchall(z.unknown());

/** The token service's public keys, for gateways to verify tokens locally. */
export const GetSigningKeys = rpc('berth.rpc.auth.keys.v1', z.object({}), z.object({ keys: z.array(jwk) }));

/**
 * Checks Basic credentials sent straight to `/v2/` (clients that skip the token dance) and says
 * what they grant for the requested scopes. A refusal is an answer, not an error; `rate_limited`
 * comes with the seconds to wait, and `unavailable` means a directory (LDAP) could not answer.
 */
export const AuthorizeBasic = rpc(
  'berth.rpc.auth.basic.v1',
  z.object({
    username: z.string().max(1024),
    password: z.string().max(4096),
    /** Scope strings in the token spec's grammar, e.g. `repository:team/app:pull,push`. */
    scopes: z.array(z.string().max(1024)).max(16),
    sourceAddress: z.string().nullable(),
    requestId: z.string().nullable(),
  }),
  z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), subject: z.string(), access: z.array(resourceScope) }),
    z.object({
      ok: z.literal(false),
      reason: z.enum(['invalid', 'rate_limited', 'unavailable']),
      retryAfterSeconds: z.number().int().nonnegative().nullable(),
    }),
  ]),
);

/**
 * The projects whose repositories a subject (a token's `sub`; empty for anonymous) may see in
 * `_catalog`: every project (`all`) or the named ones.
 */
export const VisibleProjects = rpc(
  'berth.rpc.auth.visible-projects.v1',
  z.object({ subject: z.string().max(1024) }),
  z.object({ all: z.boolean(), projects: z.array(z.string()) }),
);

/**
 * Who calls another service's part of the management API (e.g. `/api/v1/projects/{p}/webhooks`),
 * and what it may do in a project: auth checks the request's `Authorization` header exactly as
 * for its own API (Basic, or a bearer token; rate limited and audited) and answers whether the
 * caller may see the project and whether it holds `right` there. A refusal of the credentials is
 * an answer with the HTTP status and headers to send.
 */
export const AuthorizeProjectCaller = rpc(
  'berth.rpc.auth.project-caller.v1',
  z.object({
    authorization: z.string().max(16_384).nullable(),
    project: z.string().max(256),
    right: z.enum(['project', 'members', 'robots', 'policies']),
    sourceAddress: z.string().nullable(),
    requestId: z.string().nullable(),
  }),
  z.discriminatedUnion('ok', [
    z.object({
      ok: z.literal(true),
      /** The caller's subject; empty for anonymous. */
      subject: z.string(),
      /** The project exists and the caller may see it. */
      visible: z.boolean(),
      /** The caller holds the right in the project. */
      allowed: z.boolean(),
    }),
    z.object({
      ok: z.literal(false),
      status: z.number().int(),
      detail: z.string(),
      headers: z.record(z.string(), z.string()),
    }),
  ]),
);

/**
 * The first write into a project (an upload start, a mount, a manifest PUT) makes sure it exists:
 * a project that does not is created, private, when `subject` (the write's token `sub`) is a
 * system admin, the only caller whose token may grant push there. Issuing that token created
 * nothing. `exists` is false when the project neither existed nor could be created by `subject`.
 */
export const EnsureProject = rpc(
  'berth.rpc.auth.project.ensure.v1',
  z.object({
    project: z.string().min(1).max(256),
    subject: z.string().max(1024),
    sourceAddress: z.string().nullable(),
    requestId: z.string().nullable(),
  }),
  z.object({ exists: z.boolean(), created: z.boolean() }),
);

/** The token service's signing keys changed: gateways fetch them again. */
export const SigningKeysChanged = broadcast('berth.cast.auth.keys-changed.v1', z.object({}));

/**
 * A subject lost access (robot revoked or rotated, user deleted or its password changed):
 * gateways forget the Basic credentials they cached for it.
 */
export const SubjectRevoked = broadcast(
  'berth.cast.auth.subject-revoked.v1',
  z.object({ subject: z.string() }),
);
