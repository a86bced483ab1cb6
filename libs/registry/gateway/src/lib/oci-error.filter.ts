import { Catch, Inject, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { OciError } from '@berth/oci';
import { LOGGER, discardRefusedBody } from '@berth/server';
import { StorageError } from '@berth/storage';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AuthError } from './auth/registry-auth';

/**
 * The one place where failures of the `/v2` API become responses: an `OciError` turns into the
 * spec's body `{"errors":[{"code","message","detail"}]}` with its status; anything else is logged
 * and answered as `UNKNOWN` (500) without internals. HEAD responses carry no body.
 */
@Catch()
export class OciErrorFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    const error = this.toOciError(exception, request);
    if (reply.sent) return;
    reply.code(error.status).header('docker-distribution-api-version', 'registry/2.0');
    if (error instanceof AuthError) void reply.headers(error.headers);
    if (request.method === 'HEAD') {
      void reply.header('content-length', '0').send();
    } else {
      void reply.header('content-type', 'application/json').send({ errors: [error.toJSON()] });
    }
    // A body refused before it was read (too large, a bad range, no credentials) is dropped after
    // the answer, so that the client reads the answer rather than a reset connection.
    discardRefusedBody(request.raw);
  }

  private toOciError(exception: unknown, request: FastifyRequest): OciError {
    if (exception instanceof OciError) {
      if (exception.code === 'UNKNOWN')
        this.logger.error({ reqId: request.id, err: exception }, 'request failed');
      return exception;
    }
    const log = { reqId: request.id, err: exception, method: request.method, url: request.url };
    if (exception instanceof StorageError) this.logger.error(log, 'storage failure');
    else this.logger.error(log, 'unexpected failure');
    return new OciError('UNKNOWN', 'internal error');
  }
}
