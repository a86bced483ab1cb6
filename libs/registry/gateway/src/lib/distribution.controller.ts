import { All, Controller, Req, Res, UseFilters } from '@nestjs/common';
import { OciError } from '@berth/oci';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryAuth } from './auth/registry-auth';
import { BlobsHandler } from './blobs.handler';
import { ListingsHandler } from './listings.handler';
import { ManifestsHandler } from './manifests.handler';
import { OciErrorFilter } from './oci-error.filter';
import { parseRoute, type Route } from './route';
import { UploadsHandler } from './uploads.handler';

/**
 * The OCI Distribution API under `/v2`. Repository names contain slashes, which route patterns
 * cannot express, so one catch-all parses the path ({@link parseRoute}) and hands each
 * (route, method) pair to its handler.
 */
@Controller('v2')
@UseFilters(OciErrorFilter)
export class DistributionController {
  constructor(
    private readonly blobs: BlobsHandler,
    private readonly uploads: UploadsHandler,
    private readonly manifests: ManifestsHandler,
    private readonly listings: ListingsHandler,
    private readonly auth: RegistryAuth,
  ) {}

  @All()
  root(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.dispatch(request, reply);
  }

  @All('*')
  any(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.dispatch(request, reply);
  }

  private async dispatch(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    reply.header('docker-distribution-api-version', 'registry/2.0');
    const path = request.url.split('?', 1)[0] ?? '';
    const route = parseRoute(path);
    if (this.auth.enabled) await this.auth.authorize(request, route);
    await this.route(route, request, reply);
  }

  private async route(route: Route, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const method = request.method;
    const read = method === 'GET' || method === 'HEAD';
    switch (route.kind) {
      case 'base':
        if (!read) throw OciError.methodNotAllowed(method);
        await reply.code(200).header('content-type', 'application/json').send({});
        return;
      case 'catalog':
        if (method !== 'GET') throw OciError.methodNotAllowed(method);
        return this.listings.catalog(request, reply);
      case 'tags':
        if (method !== 'GET') throw OciError.methodNotAllowed(method);
        return this.listings.tags(request, reply, route.name);
      case 'referrers':
        if (method !== 'GET') throw OciError.methodNotAllowed(method);
        return this.listings.referrers(request, reply, route.name, route.digest);
      case 'manifest':
        if (read) return this.manifests.get(request, reply, route.name, route.reference);
        if (method === 'PUT') return this.manifests.put(request, reply, route.name, route.reference);
        if (method === 'DELETE') return this.manifests.delete(request, reply, route.name, route.reference);
        throw OciError.methodNotAllowed(method);
      case 'blob':
        if (read) return this.blobs.get(request, reply, route.name, route.digest);
        if (method === 'DELETE') return this.blobs.delete(request, reply, route.name, route.digest);
        throw OciError.methodNotAllowed(method);
      case 'uploads':
        if (method === 'POST') return this.uploads.start(request, reply, route.name);
        throw OciError.methodNotAllowed(method);
      case 'upload':
        if (method === 'PATCH') return this.uploads.patch(request, reply, route.name, route.id);
        if (method === 'PUT') return this.uploads.put(request, reply, route.name, route.id);
        if (method === 'GET') return this.uploads.status(reply, route.name, route.id);
        if (method === 'DELETE') return this.uploads.cancel(reply, route.name, route.id);
        throw OciError.methodNotAllowed(method);
    }
  }
}
