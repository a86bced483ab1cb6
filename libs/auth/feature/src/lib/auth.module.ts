import { Inject, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { Bus } from '@berth/bus';
import type { AuthConfig, BerthConfig } from '@berth/config';
import { SigningKeysChanged } from '@berth/contracts';
import { DATABASE, type Database } from '@berth/db';
import { CONFIG, LOGGER, Readiness } from '@berth/server';
import type { Logger } from 'pino';
import { AccessService } from './access.service';
import { AccountRepository } from './account.repository';
import { AuditRepository } from './audit.repository';
import { Auditor } from './auditor';
import { AuthBusController } from './auth.bus-controller';
import { AUTH_CONFIG, OIDC_LOGIN } from './auth.tokens';
import { bootstrapAdmin } from './bootstrap';
import { BasicLogins } from './api/basic-logins';
import { BasicCallerStrategy, BearerCallerStrategy, CallerAuthentication, CallerGuard } from './api/caller';
import { DocsController } from './api/docs.controller';
import {
  AuditLogsController,
  ProjectsController,
  RobotsController,
  UsersController,
} from './api/management.controllers';
import { ProblemFilter } from '@berth/server';
import { ProjectsService } from './api/projects.service';
import { RobotsService } from './api/robots.service';
import { UsersService } from './api/users.service';
import { CredentialsService } from './credentials.service';
import { LdapDirectory } from './ldap/ldap.directory';
import { OidcLoginController } from './oidc/oidc-login.controller';
import { OidcLoginRepository } from './oidc/oidc-login.repository';
import { OidcLoginService } from './oidc/oidc-login.service';
import { OidcLoginStrategy } from './oidc/oidc-login.strategy';
import { WorkloadTrust } from './oidc/workload-trust';
import { ProjectRepository } from './project.repository';
import { RobotRepository } from './robot.repository';
import { KeyRing } from './token/key-ring';
import { LoginRateLimiter } from './token/rate-limiter';
import { SigningKeyRepository } from './token/signing-key.repository';
import { TokenController } from './token/token.controller';
import { TokenService } from './token/token.service';

/** How often each replica reloads the keys (and rotates them when due). */
const KEY_REFRESH_MS = 60_000;

const repository = <T>(make: (database: Database) => T) => ({ inject: [DATABASE], useFactory: make });

/**
 * The auth service as a module: the token endpoint, the management API, and the bus subjects the
 * gateway asks (keys, Basic credentials, catalog visibility). It owns users, projects, members,
 * robots, signing keys and the audit log.
 */
@Module({
  // The logins are Passport strategies; every request carries its credentials, so no session.
  imports: [PassportModule.register({ session: false })],
  controllers: [
    TokenController,
    UsersController,
    ProjectsController,
    RobotsController,
    AuditLogsController,
    DocsController,
    OidcLoginController,
  ],
  providers: [
    { provide: AUTH_CONFIG, inject: [CONFIG], useFactory: (config: BerthConfig) => config.auth },
    { provide: AccountRepository, ...repository((db) => new AccountRepository(db.client)) },
    { provide: ProjectRepository, ...repository((db) => new ProjectRepository(db.client)) },
    { provide: RobotRepository, ...repository((db) => new RobotRepository(db.client)) },
    { provide: AuditRepository, ...repository((db) => new AuditRepository(db.client)) },
    { provide: SigningKeyRepository, ...repository((db) => new SigningKeyRepository(db.client)) },
    {
      provide: Auditor,
      inject: [AuditRepository, LOGGER],
      useFactory: (audit: AuditRepository, logger: Logger) =>
        new Auditor(audit, logger.child({ module: 'audit' })),
    },
    {
      provide: LoginRateLimiter,
      inject: [AUTH_CONFIG],
      useFactory: (config: AuthConfig) => new LoginRateLimiter(config.rateLimit),
    },
    {
      provide: CredentialsService,
      inject: [AccountRepository, RobotRepository, LoginRateLimiter, Auditor, AUTH_CONFIG],
      useFactory: (
        accounts: AccountRepository,
        robots: RobotRepository,
        limiter: LoginRateLimiter,
        auditor: Auditor,
        config: AuthConfig,
      ) =>
        new CredentialsService(
          accounts,
          robots,
          limiter,
          auditor,
          config.ldap ? new LdapDirectory(config.ldap) : null,
          config.oidcTrust.length > 0 ? new WorkloadTrust(config.oidcTrust) : null,
        ),
    },
    {
      provide: AccessService,
      inject: [AccountRepository, ProjectRepository, RobotRepository, Auditor],
      useFactory: (a: AccountRepository, p: ProjectRepository, r: RobotRepository, auditor: Auditor) =>
        new AccessService(a, p, r, auditor),
    },
    {
      provide: KeyRing,
      inject: [SigningKeyRepository, AUTH_CONFIG, LOGGER],
      useFactory: (keys: SigningKeyRepository, config: AuthConfig, logger: Logger) =>
        new KeyRing(
          keys,
          {
            rotationSeconds: config.keyRotationSeconds,
            tokenTtlSeconds: config.tokenTtlSeconds,
            issuer: config.issuer,
            audience: config.service,
          },
          logger.child({ module: 'auth' }),
        ),
    },
    {
      provide: TokenService,
      inject: [KeyRing, SigningKeyRepository, AccessService, Auditor, AUTH_CONFIG],
      useFactory: (
        ring: KeyRing,
        keys: SigningKeyRepository,
        access: AccessService,
        auditor: Auditor,
        config: AuthConfig,
      ) =>
        new TokenService(ring, keys, access, auditor, {
          issuer: config.issuer,
          service: config.service,
          ttlSeconds: config.tokenTtlSeconds,
          refreshTtlSeconds: config.refreshTokenTtlSeconds,
        }),
    },
    {
      provide: UsersService,
      inject: [AccountRepository, SigningKeyRepository, Auditor, Bus, BasicLogins],
      useFactory: (
        a: AccountRepository,
        k: SigningKeyRepository,
        auditor: Auditor,
        bus: Bus,
        logins: BasicLogins,
      ) => new UsersService(a, k, auditor, bus, logins),
    },
    {
      provide: ProjectsService,
      inject: [ProjectRepository, Auditor, Bus],
      useFactory: (p: ProjectRepository, auditor: Auditor, bus: Bus) => new ProjectsService(p, auditor, bus),
    },
    {
      provide: RobotsService,
      inject: [RobotRepository, SigningKeyRepository, Auditor, Bus, BasicLogins, ProjectRepository],
      useFactory: (
        r: RobotRepository,
        k: SigningKeyRepository,
        auditor: Auditor,
        bus: Bus,
        logins: BasicLogins,
        p: ProjectRepository,
      ) => new RobotsService(r, k, auditor, bus, logins, p),
    },
    {
      provide: OIDC_LOGIN,
      inject: [AUTH_CONFIG, DATABASE, AccountRepository, Auditor],
      useFactory: (config: AuthConfig, database: Database, accounts: AccountRepository, auditor: Auditor) =>
        config.oidc
          ? new OidcLoginService(config.oidc, new OidcLoginRepository(database.client), accounts, auditor)
          : null,
    },
    {
      provide: BasicLogins,
      inject: [AUTH_CONFIG],
      useFactory: (config: AuthConfig) => new BasicLogins(config.basicCacheSeconds * 1000),
    },
    CallerAuthentication,
    BasicCallerStrategy,
    BearerCallerStrategy,
    OidcLoginStrategy,
    CallerGuard,
    ProblemFilter,
    AuthBusController,
  ],
})
export class AuthModule implements OnModuleInit, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(DATABASE) private readonly database: Database,
    @Inject(AUTH_CONFIG) private readonly config: AuthConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly bus: Bus,
    private readonly readiness: Readiness,
    private readonly keyRing: KeyRing,
    private readonly accounts: AccountRepository,
    private readonly projects: ProjectRepository,
    private readonly controller: AuthBusController,
  ) {}

  async onModuleInit(): Promise<void> {
    const { generatedPassword, created } = await bootstrapAdmin(
      this.accounts,
      this.projects,
      this.config.adminPassword,
    );
    if (generatedPassword !== null) {
      // Printed once, plainly, to the terminal of whoever started Berth: it is not stored anywhere.
      process.stdout.write(
        `\n  Berth created the system admin.\n  username: admin\n  password: ${generatedPassword}\n` +
          '  Keep it now: it is not shown again (set BERTH_ADMIN_PASSWORD to choose it).\n\n',
      );
    } else if (created) {
      this.logger.info('created the system admin "admin" with BERTH_ADMIN_PASSWORD');
    }
    if (this.config.mode === 'none')
      this.logger.warn('BERTH_AUTH_MODE=none: the registry accepts every request without credentials');
    await this.keyRing.refresh();
    this.timer = setInterval(() => {
      this.keyRing.refresh().then(
        (changed) => (changed ? this.bus.broadcast(SigningKeysChanged, {}) : undefined),
        (error: unknown) => {
          this.logger.error({ err: error }, 'signing key refresh failed');
        },
      );
    }, KEY_REFRESH_MS);
    this.timer.unref();
    await this.bus.broadcast(SigningKeysChanged, {});
    await this.controller.serve();
    this.readiness.add('auth-database', async () => {
      await this.database.client.$queryRaw`SELECT 1`;
    });
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}
