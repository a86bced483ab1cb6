import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DynamicModule } from '@nestjs/common';
import { LogController } from 'fastify';
import type { Logger } from 'pino';

/** The largest JSON body the management routes read (blob and manifest bodies are streamed). */
const JSON_BODY_LIMIT = 1024 * 1024;

/**
 * Creates the Fastify-based Nest application of a process and starts listening. Request bodies
 * are not parsed by Fastify: the OCI routes stream them (blob bytes go straight to storage), and
 * other routes get JSON (or, for the OAuth2 token endpoint, a form) parsed here within a size limit. Request ids come from `X-Request-Id` or
 * are generated, and follow the request across the bus.
 */
export async function startHttpApp(
  module: DynamicModule,
  options: { host: string; port: number; logger: Logger },
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    loggerInstance: options.logger,
    // Access lines only at debug: at info they would cost every pull a log write.
    logController: new LogController({ disableRequestLogging: !options.logger.isLevelEnabled('debug') }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    exposeHeadRoutes: false,
    bodyLimit: JSON_BODY_LIMIT,
    // Uploads can be slow and long; the client's pace is the limit, not a server timer.
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
  });
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- Nest types its options as a class but reads them as a plain object.
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, {
    bodyParser: false,
    logger: ['error', 'warn'],
  });
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (request, payload, done) => {
    if (request.url.startsWith('/v2/')) {
      done(null, undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    payload.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > JSON_BODY_LIMIT) {
        payload.destroy();
        done(Object.assign(new Error('request body too large'), { statusCode: 413 }), undefined);
        return;
      }
      chunks.push(chunk);
    });
    payload.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text === '') {
        done(null, undefined);
        return;
      }
      if (request.headers['content-type']?.startsWith('application/x-www-form-urlencoded') === true) {
        done(null, formFields(text));
        return;
      }
      try {
        done(null, JSON.parse(text) as unknown);
      } catch {
        done(Object.assign(new Error('request body is not valid JSON'), { statusCode: 400 }), undefined);
      }
    });
    payload.on('error', (error) => {
      done(error, undefined);
    });
  });
  app.enableShutdownHooks();
  await app.listen(options.port, options.host);
  return app;
}

/** A form body as an object; a repeated field becomes an array. */
function formFields(text: string): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const previous = fields[key];
    fields[key] =
      previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  return fields;
}
