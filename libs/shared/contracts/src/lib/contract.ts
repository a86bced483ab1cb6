import { randomUUID } from 'node:crypto';
import { projectOf } from '@berth/naming';
import type { z } from 'zod';

/**
 * A request/reply exchange on the bus: a subject, the request's and the reply's runtime schemas.
 * Requests are checked against `request` when they arrive from another process.
 */
export interface RpcContract<Req, Res> {
  readonly subject: string;
  readonly request: z.ZodType<Req>;
  readonly response: z.ZodType<Res>;
  /** How long a requester waits for the reply; long for work proportional to a blob's size. */
  readonly timeoutMs: number;
}

/**
 * A durable domain event: its subject (`berth.<noun>.<verb>.v<version>`) and payload schema.
 * Events are published once, where a change commits, and consumed with acknowledgements.
 */
export interface EventContract<P extends DomainEvent> {
  readonly subject: string;
  readonly payload: z.ZodType<P>;
}

/** Fields every event carries. */
export interface DomainEvent {
  /** Unique id, also the de-duplication key on the stream. */
  readonly id: string;
  /** ISO 8601 time of the commit. */
  readonly occurredAt: string;
  /** The request that caused it, for tracing across services. */
  readonly requestId: string | null;
}

/** The request or reply type of a contract. */
export type RequestOf<C> = C extends RpcContract<infer Req, unknown> ? Req : never;
export type ResponseOf<C> = C extends RpcContract<unknown, infer Res> ? Res : never;
/** The payload type of an event contract. */
export type PayloadOf<C> = C extends EventContract<infer P> ? P : never;
/** The payload type of a broadcast contract. */
export type PayloadOfBroadcast<C> = C extends BroadcastContract<infer P> ? P : never;

/** Declares a request/reply contract. */
export function rpc<Req, Res>(
  subject: string,
  request: z.ZodType<Req>,
  response: z.ZodType<Res>,
  options: { timeoutMs?: number } = {},
): RpcContract<Req, Res> {
  return { subject, request, response, timeoutMs: options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS };
}

/** The reply timeout of an ordinary request. */
export const DEFAULT_RPC_TIMEOUT_MS = 30_000;

/** Declares an event contract. */
export function event<P extends DomainEvent>(subject: string, payload: z.ZodType<P>): EventContract<P> {
  return { subject, payload };
}

/**
 * A fan-out notice to every running instance (not load-balanced, not durable): used to drop
 * caches. Losing one is harmless because the receivers bound their caches in time.
 */
export interface BroadcastContract<P> {
  readonly subject: string;
  readonly payload: z.ZodType<P>;
}

/** Declares a broadcast contract. */
export function broadcast<P>(subject: string, payload: z.ZodType<P>): BroadcastContract<P> {
  return { subject, payload };
}

/** The fields every event about a repository carries (see {@link eventEnvelope}). */
export interface RepositoryEvent extends DomainEvent {
  /**
   * Who caused it: the token subject of the caller (a username, `robot$name`, `oidc$name`), or
   * null for an anonymous caller or when auth is off.
   */
  readonly actor: string | null;
  /** The repository's project: its first path segment, or `library` for a one-segment name. */
  readonly project: string;
  readonly repository: string;
}

/** The common fields of a new event about a repository, stamped now with a fresh id. */
export function eventEnvelope(
  repository: string,
  requestId: string | null,
  actor: string | null,
): RepositoryEvent {
  return {
    id: randomUUID(),
    occurredAt: new Date().toISOString(),
    requestId,
    actor,
    project: projectOf(repository),
    repository,
  };
}
