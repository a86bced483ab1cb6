import { createReadStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { Controller, Header, Inject, Res, UseFilters } from '@nestjs/common';
import { Bus } from '@berth/bus';
import { API_DOCUMENT_PARTS, type ApiDocument, type ApiDocumentPart } from '@berth/contracts';
import { OciError } from '@berth/oci';
import {
  Endpoint,
  Input,
  LOGGER,
  Problem,
  ProblemFilter,
  mergeApiDocuments,
  type InputOf,
} from '@berth/server';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { DocsRoutes, MANAGEMENT_API, authApiDocument } from './management.routes';

/** The Swagger UI files we serve, by name. */
const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Berth API</title>
<link rel="stylesheet" href="/api/v1/docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/api/v1/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/api/v1/openapi.json', dom_id: '#ui' });</script></body></html>`;

/** The name of auth's own part in `/api/v1/openapi/{service}.json`. */
const OWN_PART = 'auth';

/**
 * The management API's documentation: the OpenAPI document of all of `/api/v1` and Swagger UI
 * over it. Auth serves `/api/v1`, so it serves the whole document too: its own part, generated
 * from its route declarations, merged with the part each other service generates from its own
 * and answers over the bus (in the all-in-one, the in-process bus). A part whose service cannot
 * be reached is left out, and the document says so. Public on purpose: it describes the API, and
 * holds no data.
 */
@Controller()
@UseFilters(ProblemFilter)
export class DocsController {
  private readonly own = authApiDocument();

  constructor(
    private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @Endpoint(DocsRoutes.document)
  async document(): Promise<ApiDocument> {
    const answers = await Promise.all(
      API_DOCUMENT_PARTS.map(async (part) => ({ part, document: await this.fetch(part) })),
    );
    const missing = answers.filter((answer) => answer.document === null).map(({ part }) => part.service);
    const merged = mergeApiDocuments(
      {
        ...MANAGEMENT_API,
        description:
          missing.length === 0
            ? MANAGEMENT_API.description
            : `${MANAGEMENT_API.description}\n\nNot included, as the service could not be reached just now: ${missing.join(', ')}.`,
      },
      [this.own, ...answers.flatMap(({ document }) => (document ? [document] : []))],
    );
    return missing.length === 0 ? merged : { ...merged, 'x-berth-missing-parts': missing };
  }

  @Endpoint(DocsRoutes.part)
  async part(@Input() { params }: InputOf<typeof DocsRoutes.part>): Promise<ApiDocument> {
    if (params.service === OWN_PART) return this.own;
    const part = API_DOCUMENT_PARTS.find(({ service }) => service === params.service);
    if (!part)
      throw new Problem('not-found', `no part of the API is named "${params.service.slice(0, 100)}"`);
    // Unreachable, the bus's error answers it: 503.
    return this.bus.request(part.contract, {});
  }

  @Endpoint(DocsRoutes.page)
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return PAGE;
  }

  @Endpoint(DocsRoutes.asset)
  async asset(
    @Input() { params }: InputOf<typeof DocsRoutes.asset>,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const type = ASSETS[params.file];
    if (type === undefined) throw new Problem('not-found', `no file "${params.file.slice(0, 100)}"`);
    // Resolved, never required: requiring swagger-ui-dist loads its 40 MB bundle into the process.
    const root = dirname(require.resolve('swagger-ui-dist/package.json'));
    await reply
      .header('content-type', type)
      .header('cache-control', 'public, max-age=86400')
      .send(createReadStream(join(root, params.file)));
  }

  /** A service's part, or null (logged) when the service cannot be reached. */
  private async fetch(part: ApiDocumentPart): Promise<ApiDocument | null> {
    try {
      return await this.bus.request(part.contract, {});
    } catch (error) {
      if (!(error instanceof OciError)) throw error;
      this.logger.warn({ err: error, service: part.service }, 'a part of the API document is missing');
      return null;
    }
  }
}
