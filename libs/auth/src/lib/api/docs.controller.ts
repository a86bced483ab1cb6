import { createReadStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { Controller, Get, Header, NotFoundException, Param, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { openApiDocument } from './openapi';

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

/**
 * The management API's documentation: the OpenAPI document and Swagger UI over it. Public on
 * purpose: it describes the API, and holds no data.
 */
@Controller('api/v1')
export class DocsController {
  private readonly document = openApiDocument();

  @Get('openapi.json')
  openApi(): Record<string, unknown> {
    return this.document;
  }

  @Get('docs')
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return PAGE;
  }

  @Get('docs/assets/:file')
  async asset(@Param('file') file: string, @Res() reply: FastifyReply): Promise<void> {
    const type = ASSETS[file];
    if (type === undefined) throw new NotFoundException();
    // Resolved, never required: requiring swagger-ui-dist loads its 40 MB bundle into the process.
    const root = dirname(require.resolve('swagger-ui-dist/package.json'));
    await reply
      .header('content-type', type)
      .header('cache-control', 'public, max-age=86400')
      .send(createReadStream(join(root, file)));
  }
}
