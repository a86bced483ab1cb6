import { Injectable } from '@nestjs/common';
import { Bus } from '@berth/bus';
import { ListReferrers, ListRepositories, ListTags, VisibleProjects } from '@berth/contracts';
import {
  MediaType,
  OciError,
  isStorableText,
  parseDigest,
  storableCursor,
  type RepositoryName,
} from '@berth/oci';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryAuth } from './auth/registry-auth';
import { queryParam } from './http';

/** The most names one page holds, whatever `n` asks for; the `Link` header leads on. */
export const MAX_PAGE_SIZE = 10_000;

/** Content discovery: tags, the catalog and referrers. */
@Injectable()
export class ListingsHandler {
  constructor(
    private readonly bus: Bus,
    private readonly auth: RegistryAuth,
  ) {}

  /** `GET /v2/<name>/tags/list?n=&last=`: tags in lexical order, paginated with `Link`. */
  async tags(request: FastifyRequest, reply: FastifyReply, name: RepositoryName): Promise<void> {
    const { limit, last } = pagination(request);
    const page = await this.bus.request(ListTags, { repository: name, limit, last });
    const lastTag = page.tags.at(-1);
    if (page.more && lastTag !== undefined)
      reply.header('link', nextLink(`/v2/${name}/tags/list`, limit, lastTag));
    await reply.code(200).header('content-type', 'application/json').send({ name, tags: page.tags });
  }

  /**
   * `GET /v2/_catalog?n=&last=`: repository names in lexical order, paginated with `Link`; only
   * those of projects the caller may see.
   */
  async catalog(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { limit, last } = pagination(request);
    const subject = this.auth.subjectOf(request);
    let projects: string[] | null = null;
    if (subject !== null) {
      const visible = await this.bus.request(VisibleProjects, { subject });
      projects = visible.all ? null : visible.projects;
    }
    const page = await this.bus.request(ListRepositories, { limit, last, projects });
    const lastName = page.repositories.at(-1);
    if (page.more && lastName !== undefined) reply.header('link', nextLink('/v2/_catalog', limit, lastName));
    await reply
      .code(200)
      .header('content-type', 'application/json')
      .send({ repositories: page.repositories });
  }

  /**
   * `GET /v2/<name>/referrers/<digest>?artifactType=`: an image index of the manifests whose
   * subject is the digest; empty (never 404) for an unknown digest. A long list comes in pages
   * (bounded in bytes), each with a `Link` to the next, as the spec allows.
   */
  async referrers(
    request: FastifyRequest,
    reply: FastifyReply,
    name: RepositoryName,
    rawDigest: string,
  ): Promise<void> {
    const digest = parseDigest(rawDigest);
    const artifactType = queryParam(request, 'artifactType') ?? null;
    const last = queryParam(request, 'last');
    const after = last === undefined || last === '' ? null : parseDigest(last);
    // No stored manifest has an artifact type PostgreSQL cannot store, so such a filter matches none.
    const page =
      artifactType !== null && !isStorableText(artifactType)
        ? { referrers: [], more: false }
        : await this.bus.request(ListReferrers, { repository: name, digest, artifactType, after });
    if (artifactType !== null) reply.header('oci-filters-applied', 'artifactType');
    const lastReferrer = page.referrers.at(-1);
    if (page.more && lastReferrer !== undefined) {
      const query = new URLSearchParams({
        ...(artifactType !== null && { artifactType }),
        last: lastReferrer.digest,
      });
      reply.header('link', `</v2/${name}/referrers/${digest}?${query.toString()}>; rel="next"`);
    }
    await reply
      .code(200)
      .header('content-type', MediaType.OciIndex)
      // A Buffer, so that Fastify keeps the media type exactly (it adds a charset to strings).
      .send(
        Buffer.from(
          JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: page.referrers }),
        ),
      );
  }
}

function pagination(request: FastifyRequest): { limit: number; last: string | null } {
  const n = queryParam(request, 'n');
  let limit = MAX_PAGE_SIZE;
  if (n !== undefined && n !== '') {
    if (!/^\d{1,9}$/.test(n))
      throw new OciError('PAGINATION_NUMBER_INVALID', `invalid n "${n.slice(0, 20)}"`);
    limit = Math.min(Number(n), MAX_PAGE_SIZE);
  }
  const last = queryParam(request, 'last');
  return { limit, last: last === undefined || last === '' ? null : storableCursor(last) };
}

function nextLink(path: string, limit: number, last: string): string {
  return `<${path}?n=${limit}&last=${encodeURIComponent(last)}>; rel="next"`;
}
