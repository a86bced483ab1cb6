import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DynamicModule } from '@nestjs/common';
import { LogController } from 'fastify';
import { isStorableJson, isStorableText, mayHoldUnstorableText } from '@berth/oci';
import type { Logger } from 'pino';
import { Problem, ProblemFilter } from './problem';
import { readBodyWithin } from './refused-body';

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
  // What fails before a controller runs (a body that cannot be parsed, an unknown route) is answered
  // as problem details too; `/v2` has its own filter, and its bodies are never parsed here.
  app.useGlobalFilters(new ProblemFilter(options.logger));
  const fastify = app.getHttpAdapter().getInstance();
  // The OCI routes check each parameter themselves (by the spec's grammars); every other route's
  // path and query may reach PostgreSQL as they are, so text it cannot store is refused here.
  fastify.addHook('onRequest', (request, reply, done) => {
    if (request.url.startsWith('/v2/') || isStorableUrl(request.url)) {
      done();
      return;
    }
    void reply
      .code(400)
      .header('content-type', 'application/problem+json')
      .send(JSON.stringify(unstorable('the request URL').toBody(request.url.split('?', 1)[0] ?? '')));
  });
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (request, _payload, done) => {
    if (request.url.startsWith('/v2/')) {
      done(null, undefined);
      return;
    }
    readBodyWithin(request.raw, JSON_BODY_LIMIT).then(
      (bytes) => {
        if (bytes === null) {
          // The problem filter answers 413 and drops the rest of the body (see discardRefusedBody).
          done(Object.assign(new Error('request body too large'), { statusCode: 413 }), undefined);
          return;
        }
        const [error, body] = parseBody(bytes.toString('utf8'), request.headers['content-type']);
        done(error, body);
      },
      (error: unknown) => {
        done(error instanceof Error ? error : new Error(String(error)), undefined);
      },
    );
  });
  app.enableShutdownHooks();
  await app.listen(options.port, options.host);
  return app;
}

/** Whether a URL's decoded path and query hold only text PostgreSQL can store. */
function isStorableUrl(url: string): boolean {
  const query = url.indexOf('?');
  try {
    if (!isStorableText(decodeURIComponent(query === -1 ? url : url.slice(0, query)))) return false;
  } catch {
    // A malformed escape is the router's to answer, as before.
    return true;
  }
  if (query === -1) return true;
  for (const [key, value] of new URLSearchParams(url.slice(query + 1)))
    if (!isStorableText(key) || !isStorableText(value)) return false;
  return true;
}

/** The 400 for input that PostgreSQL could not store (U+0000, an unpaired surrogate). */
function unstorable(where: string): Problem {
  return new Problem(
    'bad-request',
    `${where} contains text that cannot be stored: U+0000 or an unpaired surrogate`,
  );
}

/**
 * A management request's body: a form for the OAuth2 token endpoint, else JSON; an error with the
 * status to answer when it is not valid or holds text PostgreSQL cannot store.
 */
function parseBody(text: string, contentType: string | undefined): [Error | null, unknown] {
  if (text === '') return [null, undefined];
  if (contentType?.startsWith('application/x-www-form-urlencoded') === true) {
    const fields = formFields(text);
    return isStorableJson(fields) ? [null, fields] : [unstorable('the form'), undefined];
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [Object.assign(new Error('request body is not valid JSON'), { statusCode: 400 }), undefined];
  }
  if (mayHoldUnstorableText(text) && !isStorableJson(body)) return [unstorable('the JSON body'), undefined];
  return [null, body];
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
