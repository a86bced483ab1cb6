import { Catch, HttpException, Inject, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { discardRefusedBody } from './refused-body';
import { LOGGER } from './tokens';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { OciError } from '@berth/oci';

/** The kinds of problem the management API reports; each has its status and title. */
const PROBLEMS = {
  'bad-request': [400, 'Bad request'],
  unauthorized: [401, 'Authentication required'],
  forbidden: [403, 'Forbidden'],
  'not-found': [404, 'Not found'],
  conflict: [409, 'Conflict'],
  'payload-too-large': [413, 'Payload too large'],
  'too-many-requests': [429, 'Too many requests'],
  internal: [500, 'Internal error'],
  'service-unavailable': [503, 'Service unavailable'],
} as const satisfies Record<string, readonly [number, string]>;

/** A kind of problem. */
export type ProblemKind = keyof typeof PROBLEMS;

/**
 * A failure of the management API, answered as RFC 9457 problem details
 * (`application/problem+json`): `type`, `title`, `status`, `detail`, `instance`, plus extension
 * members (`errors` for validation failures).
 */
export class Problem extends Error {
  override readonly name = 'Problem';

  constructor(
    readonly kind: ProblemKind,
    readonly detail: string,
    readonly extensions: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }

  get status(): number {
    return PROBLEMS[this.kind][0];
  }

  /** The problem document for a request path. */
  toBody(instance: string): Record<string, unknown> {
    return {
      type: `https://berth.dev/problems/${this.kind}`,
      title: PROBLEMS[this.kind][1],
      status: this.status,
      detail: this.detail,
      instance,
      ...this.extensions,
    };
  }
}

/** The one place where failures of `/api/v1` and `/token`'s neighbours become problem details. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    if (reply.sent) return;
    const problem = this.toProblem(exception, request);
    // A body refused before it was read (too large, no credentials) is dropped after the answer.
    // Fastify marks a reply to a body it could not parse `connection: close`, and Node then closes
    // the socket while the client still sends, so the client reads a reset instead of the answer;
    // the refused body's lingering close below lets the client read it and end the connection.
    if (!request.raw.complete) reply.removeHeader('connection');
    reply.raw.once('finish', () => {
      discardRefusedBody(request.raw);
    });
    void reply
      .code(problem.status)
      .headers(problem.headers)
      .header('content-type', 'application/problem+json')
      .send(JSON.stringify(problem.toBody(request.url.split('?', 1)[0] ?? '')));
  }

  private toProblem(exception: unknown, request: FastifyRequest): Problem {
    if (exception instanceof Problem) return exception;
    if (exception instanceof ZodError) {
      return new Problem('bad-request', 'the request is not valid', {
        errors: exception.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
      });
    }
    if (exception instanceof HttpException) {
      const kind = kindOf(exception.getStatus());
      if (kind) return new Problem(kind, exception.message);
    }
    // A service asked over the bus refused (e.g. `UNAVAILABLE` while it cannot be reached): its
    // status carries over; only a failure the service did not explain is internal.
    if (exception instanceof OciError) {
      const kind = kindOf(exception.status);
      if (kind && kind !== 'internal') return new Problem(kind, exception.message);
    }
    const status = (exception as { statusCode?: unknown } | null)?.statusCode;
    if (status === 400) return new Problem('bad-request', (exception as Error).message);
    if (status === 413) return new Problem('payload-too-large', (exception as Error).message);
    this.logger.error({ reqId: request.id, err: exception, url: request.url }, 'management request failed');
    return new Problem('internal', 'internal error');
  }
}

function kindOf(status: number): ProblemKind | undefined {
  return (Object.keys(PROBLEMS) as ProblemKind[]).find((k) => PROBLEMS[k][0] === status);
}
