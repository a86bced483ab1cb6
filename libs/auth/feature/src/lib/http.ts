import type { FastifyRequest } from 'fastify';
import type { RequestContext } from './access.service';

/** Credentials of an `Authorization` header. */
export type PresentedCredentials =
  | { readonly kind: 'none' }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  | { readonly kind: 'bearer'; readonly token: string }
  | { readonly kind: 'malformed' };

/** Reads the `Authorization` header: Basic (RFC 7617, UTF-8), Bearer, or nothing. */
export function presentedCredentials(request: FastifyRequest): PresentedCredentials {
  return parseAuthorization(request.headers.authorization);
}

/** Parses the value of an `Authorization` header. */
export function parseAuthorization(value: string | undefined): PresentedCredentials {
  if (value === undefined || value === '') return { kind: 'none' };
  const space = value.indexOf(' ');
  const scheme = value.slice(0, space === -1 ? undefined : space).toLowerCase();
  const rest = space === -1 ? '' : value.slice(space + 1).trim();
  if (scheme === 'bearer' && rest !== '') return { kind: 'bearer', token: rest };
  if (scheme !== 'basic' || rest.length > 8192) return { kind: 'malformed' };
  const decoded = Buffer.from(rest, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return { kind: 'malformed' };
  return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The audit context of a request. */
export function contextOf(request: FastifyRequest): RequestContext {
  return { sourceAddress: request.ip, requestId: request.id };
}

/** Every value of a query or form parameter. */
export function paramValues(source: unknown, name: string): string[] {
  if (source === null || typeof source !== 'object') return [];
  const value = (source as Record<string, unknown>)[name];
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** The first value of a query or form parameter. */
export function paramValue(source: unknown, name: string): string | undefined {
  return paramValues(source, name)[0];
}
