import { Injectable } from '@nestjs/common';
import { parseScopes, ScopeError, type ResourceScope } from '@berth/registry-token';
import { Broadcast, Bus, BusController, Rpc } from '@berth/bus';
import {
  AuthorizeBasic,
  AuthorizeProjectCaller,
  EnsureProject,
  GetSigningKeys,
  SubjectRevoked,
  VisibleProjects,
  type PayloadOfBroadcast,
  type RequestOf,
} from '@berth/contracts';
import { Problem } from '@berth/server';
import { AccessService } from './access.service';
import { BasicLogins } from './api/basic-logins';
import { CallerAuthentication } from './api/caller';
import { ProjectsService } from './api/projects.service';
import { CredentialsService } from './credentials.service';
import { parseAuthorization } from './http';
import { subjectOf, type Identity } from './model';
import { KeyRing } from './token/key-ring';

/**
 * The auth subjects on the bus: what gateways and the other services ask auth (keys, Basic
 * credentials, a project's existence, catalog visibility, a management caller). Served only once
 * the signing keys are loaded ({@link AuthModule} calls {@link BusController.serve}), so that no
 * gateway is ever told there are none.
 */
@Injectable()
export class AuthBusController extends BusController {
  constructor(
    bus: Bus,
    private readonly keyRing: KeyRing,
    private readonly credentials: CredentialsService,
    private readonly access: AccessService,
    private readonly callers: CallerAuthentication,
    private readonly projects: ProjectsService,
    private readonly logins: BasicLogins,
  ) {
    super(bus);
  }

  override onModuleInit(): Promise<void> {
    return Promise.resolve();
  }

  @Broadcast(SubjectRevoked)
  revoked({ subject }: PayloadOfBroadcast<typeof SubjectRevoked>): void {
    // From any replica of auth: the API forgets a revoked subject's remembered Basic logins.
    this.logins.revoke(subject);
  }

  @Rpc(GetSigningKeys)
  signingKeys(_request: RequestOf<typeof GetSigningKeys>) {
    return Promise.resolve({
      keys: this.keyRing.jwks().map((k) => ({ ...k, kid: String(k.kid), kty: String(k.kty) })),
    });
  }

  @Rpc(AuthorizeBasic)
  async authorizeBasic(request: RequestOf<typeof AuthorizeBasic>) {
    const context = { sourceAddress: request.sourceAddress, requestId: request.requestId };
    const result = await this.credentials.authenticate(request.username, request.password, context);
    if (!result.ok) return result;
    let scopes: ResourceScope[];
    try {
      scopes = request.scopes.flatMap(parseScopes);
    } catch (error) {
      if (!(error instanceof ScopeError)) throw error;
      scopes = [];
    }
    const access = (await this.access.grant(result.identity, scopes)).map((scope) => ({
      ...scope,
      actions: [...scope.actions],
    }));
    return { ok: true as const, subject: subjectOf(result.identity), access };
  }

  @Rpc(EnsureProject)
  ensureProject({ project, subject, sourceAddress, requestId }: RequestOf<typeof EnsureProject>) {
    return this.access.ensureProject(project, subject, { sourceAddress, requestId });
  }

  @Rpc(VisibleProjects)
  async visibleProjects({ subject }: RequestOf<typeof VisibleProjects>) {
    const identity = await this.access.identityOf(subject);
    return identity ? this.access.visibleProjects(identity) : { all: false, projects: [] };
  }

  @Rpc(AuthorizeProjectCaller)
  async authorizeProjectCaller(request: RequestOf<typeof AuthorizeProjectCaller>) {
    const context = { sourceAddress: request.sourceAddress, requestId: request.requestId };
    let identity: Identity;
    try {
      identity = await this.callers.identifyAuthorization(
        parseAuthorization(request.authorization ?? undefined),
        context,
      );
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      return { ok: false as const, status: error.status, detail: error.detail, headers: error.headers };
    }
    const caller = {
      identity,
      principal: await this.access.principalOf(identity),
      subject: subjectOf(identity),
      ...context,
    };
    return {
      ok: true as const,
      subject: caller.subject,
      ...(await this.projects.access(caller, request.project, request.right)),
    };
  }
}
