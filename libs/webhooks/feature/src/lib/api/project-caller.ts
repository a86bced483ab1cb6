import { Injectable, createParamDecorator, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Bus } from '@berth/bus';
import { AuthorizeProjectCaller } from '@berth/contracts';
import { Problem, type ProblemKind } from '@berth/server';
import type { FastifyRequest } from 'fastify';

/** Problem kinds by the HTTP status auth answered a refusal with. */
const REFUSALS: Readonly<Record<number, ProblemKind>> = {
  401: 'unauthorized',
  429: 'too-many-requests',
  503: 'service-unavailable',
};

/**
 * The caller of a project's webhook API, as auth judges it: whoever it is, it must hold the
 * project's `policies` right (project admins and maintainers, and system admins). A project the
 * caller may not see is answered as missing, so its existence does not leak.
 */
export async function requireProjectMaintainer(
  bus: Bus,
  request: FastifyRequest,
  project: string,
): Promise<string> {
  const answer = await bus.request(AuthorizeProjectCaller, {
    authorization: request.headers.authorization ?? null,
    project,
    right: 'policies',
    sourceAddress: request.ip,
    requestId: request.id,
  });
  if (!answer.ok)
    throw new Problem(REFUSALS[answer.status] ?? 'unauthorized', answer.detail, {}, answer.headers);
  if (answer.subject === '')
    throw new Problem(
      'unauthorized',
      'credentials are required',
      {},
      { 'www-authenticate': 'Basic realm="berth"' },
    );
  if (!answer.visible) throw new Problem('not-found', `no project "${project.slice(0, 100)}"`);
  if (!answer.allowed)
    throw new Problem(
      'forbidden',
      `managing the webhooks of "${project}" needs a project admin or maintainer`,
    );
  return answer.subject;
}

const actors = new WeakMap<object, string>();

/**
 * Lets a request through `/api/v1/projects/{project}/webhooks` only for a caller who manages the
 * project's webhooks (see {@link requireProjectMaintainer}); {@link Actor} then names it.
 */
@Injectable()
export class ProjectMaintainerGuard implements CanActivate {
  constructor(private readonly bus: Bus) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest<{ Params: { project?: string } }>>();
    actors.set(request, await requireProjectMaintainer(this.bus, request, request.params.project ?? ''));
    return true;
  }
}

/** The subject of the caller that {@link ProjectMaintainerGuard} let through. */
export const Actor = createParamDecorator((_data: unknown, context: ExecutionContext): string => {
  const actor = actors.get(context.switchToHttp().getRequest<object>());
  if (actor === undefined) throw new Error('ProjectMaintainerGuard did not run');
  return actor;
});
