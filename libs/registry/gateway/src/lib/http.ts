import type { FastifyReply, FastifyRequest } from 'fastify';

/** The request id that follows this request across the bus. */
export function requestId(request: FastifyRequest): string {
  return request.id;
}

/** A single query parameter (the first if repeated), or undefined. */
export function queryParam(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Every value of a repeated query parameter. */
export function queryParams(request: FastifyRequest, name: string): string[] {
  const value = (request.query as Record<string, string | string[] | undefined>)[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** A request header as one string. */
export function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Whether the request carries a body (a positive Content-Length or chunked transfer). */
export function hasBody(request: FastifyRequest): boolean {
  const length = header(request, 'content-length');
  if (length !== undefined) return Number(length) > 0;
  return header(request, 'transfer-encoding') !== undefined;
}

/** Sends an empty response with the given status. */
export async function sendEmpty(reply: FastifyReply, status: number): Promise<void> {
  await reply.code(status).header('content-length', '0').send();
}

/** The `Range` header value of an upload that has received `offset` bytes. */
export function uploadRange(offset: number): string {
  return `0-${Math.max(0, offset - 1)}`;
}
