import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CidrError, parseCidr } from '@berth/webhooks-core';

const port = z.coerce.number().int().min(0).max(65535);
const seconds = z.coerce.number().int().positive();
const bool = z.union([
  z.boolean(),
  z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1'),
]);

const ldap = z.object({
  url: z.url({ protocol: /^ldaps?$/ }),
  bindDn: z.string().min(1),
  bindPassword: z.string().min(1),
  userBase: z.string().min(1),
  userFilter: z.string().includes('{username}').default('(uid={username})'),
  groupBase: z.string().min(1),
  groupFilter: z
    .string()
    .refine((f) => f.includes('{dn}') || f.includes('{username}'), 'must contain {dn} or {username}')
    .default('(member={dn})'),
  groupNameAttribute: z.string().min(1).default('cn'),
  emailAttribute: z.string().min(1).default('mail'),
  timeoutMs: z.coerce.number().int().positive().default(5000),
  startTls: bool.default(false),
});

const action = z.enum(['pull', 'push', 'delete']);

/**
 * A rule that lets a CI job trade an OIDC ID token from its platform for a registry token, with
 * no stored secret: tokens from `issuer` for `audience` whose claims match every pattern in
 * `claims` (globs: `*` within a `/` segment, `**` across) get `permissions`, in the name of
 * `oidc$<robot>`.
 */
const oidcTrust = z.object({
  issuer: z.url(),
  audience: z.string().min(1),
  /**
   * Required and never empty: a CI platform's issuer signs tokens for every job on it, so a rule
   * without claims (e.g. `repository`) would let anyone's job in.
   */
  claims: z
    .record(z.string(), z.string().min(1))
    .refine((claims) => Object.keys(claims).length > 0, 'must name at least one claim to match'),
  robot: z.string().regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/),
  permissions: z
    .array(
      z.object({
        project: z.string().min(1),
        repositories: z.array(z.string().min(1)).optional(),
        actions: z.array(action).min(1),
      }),
    )
    .min(1),
});

const oidcLogin = z.object({
  issuer: z.url(),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1).optional(),
  /** Where the provider sends users back: `<public URL>/api/v1/auth/oidc/callback`. */
  redirectUri: z.url(),
  scope: z.string().default('openid profile email'),
  usernameClaim: z.string().min(1).default('preferred_username'),
  groupsClaim: z.string().min(1).default('groups'),
  /** Whether a first login creates the user (otherwise an admin must create it first). */
  autoCreate: bool.default(true),
});

const schema = z.object({
  dataDir: z.string().min(1).default('./data'),
  http: z
    .object({
      host: z.string().min(1).default('0.0.0.0'),
      port: port.default(5000),
      /** Redirect blob GETs to the storage's presigned URL when the driver offers one. */
      redirectBlobs: bool.default(false),
    })
    .prefault({}),
  log: z
    .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .prefault({}),
  database: z
    .object({
      /** A PostgreSQL URL; unset means the embedded PGlite under `<dataDir>/pg`. */
      url: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    })
    .prefault({}),
  bus: z
    .object({
      kind: z.enum(['in-process', 'nats']).default('in-process'),
      natsUrl: z.string().min(1).default('nats://127.0.0.1:4222'),
      namespace: z
        .string()
        .regex(/^[A-Za-z0-9_-]*$/)
        .default(''),
    })
    .prefault({}),
  storage: z
    .object({
      driver: z.enum(['filesystem', 's3']).default('filesystem'),
      /** Filesystem root; defaults to `<dataDir>/blobs`. */
      root: z.string().min(1).optional(),
      s3: z
        .object({
          endpoint: z.url().optional(),
          region: z.string().min(1).default('us-east-1'),
          bucket: z.string().min(3).optional(),
          accessKey: z.string().min(1).optional(),
          secretKey: z.string().min(1).optional(),
          prefix: z.string().default(''),
        })
        .prefault({}),
    })
    .prefault({}),
  uploads: z
    .object({
      /** An upload session untouched for this long is abandoned and swept. */
      ttlSeconds: seconds.default(24 * 3600),
      sweepIntervalSeconds: seconds.default(600),
    })
    .prefault({}),
  auth: z
    .object({
      /**
       * `token`: every `/v2/` request needs a token from the token service (the default). `none`:
       * no authentication at all, for benchmarks and throwaway local use only.
       */
      mode: z.enum(['token', 'none']).default('token'),
      /** The `service` of the challenge and the `aud` of tokens. */
      service: z.string().min(1).default('berth'),
      /** The `iss` of tokens. */
      issuer: z.string().min(1).default('berth-token-service'),
      /** The token endpoint clients are sent to; unset means `<the request's origin>/token`. */
      realm: z.url().optional(),
      tokenTtlSeconds: seconds.default(300),
      refreshTokenTtlSeconds: seconds.default(30 * 24 * 3600),
      /** A signing key is replaced after this long; the old one is published until its tokens expire. */
      keyRotationSeconds: seconds.default(30 * 24 * 3600),
      /** The first start's admin password; unset means one is generated and printed once. */
      adminPassword: z.string().min(8).optional(),
      /** How long a gateway trusts a Basic credential it had checked. */
      basicCacheSeconds: z.coerce.number().int().nonnegative().default(30),
      rateLimit: z
        .object({
          windowSeconds: seconds.default(300),
          /** Failed logins per account within the window before that account is refused. */
          failuresPerAccount: seconds.default(10),
          /** Failed logins per source address within the window before that address is refused. */
          failuresPerAddress: seconds.default(30),
        })
        .prefault({}),
      ldap: ldap.optional(),
      oidc: oidcLogin.optional(),
      oidcTrust: z.array(oidcTrust).default([]),
    })
    .prefault({}),
  webhooks: z
    .object({
      /**
       * The registry's public base URL, for links in webhook payloads (`resource_url`, a
       * CloudEvent's `source`); unset means `http://localhost:<http.port>`.
       */
      publicUrl: z.url({ protocol: /^https?$/ }).optional(),
      /**
       * The key (32 bytes, base64) that encrypts webhook secrets and headers at rest. Unset: the
       * all-in-one generates one into `<dataDir>/webhook-secret.key`; the distributed shape needs it.
       */
      secretKey: z
        .string()
        .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
        .optional(),
      /** How long a delivery is retried before it is marked failed, counted from its event. */
      retryWindowSeconds: seconds.default(24 * 3600),
      /** How long one attempt may take, connect to last byte read. */
      timeoutSeconds: seconds.max(120).default(10),
      /** How many deliveries (to different subscriptions) each webhooks instance sends at once. */
      concurrency: seconds.max(1000).default(32),
      /**
       * Address ranges that targets may resolve to although they are loopback, link-local or
       * cloud metadata addresses (refused by default), e.g. `10.0.0.0/8,127.0.0.1/32`.
       */
      allowedCidrs: z
        .union([z.array(z.string()), z.string().transform((v) => v.split(',').map((c) => c.trim()))])
        .transform((list) => list.filter((c) => c !== ''))
        .superRefine((list, context) => {
          for (const cidr of list) {
            try {
              parseCidr(cidr);
            } catch (error) {
              if (!(error instanceof CidrError)) throw error;
              context.addIssue({ code: 'custom', message: error.message });
            }
          }
        })
        .default([]),
    })
    .prefault({}),
  cache: z
    .object({
      /** How many resolved manifest references each metadata instance keeps in memory. */
      manifestEntries: z.coerce.number().int().nonnegative().default(10_000),
      /** How many bytes of manifest bodies each gateway keeps in memory (they are immutable). */
      manifestBodyBytes: z.coerce
        .number()
        .int()
        .nonnegative()
        .default(16 * 1024 * 1024),
    })
    .prefault({}),
});

type Parsed = z.infer<typeof schema>;

/** Berth's whole configuration, validated. Every service reads the parts it needs. */
export interface BerthConfig {
  readonly dataDir: string;
  readonly http: Parsed['http'];
  readonly log: Parsed['log'];
  readonly database: { readonly url: string | null; readonly embeddedDir: string };
  readonly bus: Parsed['bus'];
  readonly storage:
    | { readonly driver: 'filesystem'; readonly root: string }
    | {
        readonly driver: 's3';
        readonly endpoint: string;
        readonly region: string;
        readonly bucket: string;
        readonly accessKey: string;
        readonly secretKey: string;
        readonly prefix: string;
      };
  readonly uploads: Parsed['uploads'];
  readonly cache: Parsed['cache'];
  readonly webhooks: WebhooksConfig;
  readonly auth: AuthConfig;
}

/** The webhooks service's settings. */
export type WebhooksConfig = Parsed['webhooks'];

/** The token service's and the gateway's authentication settings. */
export type AuthConfig = Parsed['auth'];
/** LDAP login settings. */
export type LdapConfig = z.infer<typeof ldap>;
/** OIDC login settings (authorization-code flow for people). */
export type OidcLoginConfig = z.infer<typeof oidcLogin>;
/** One OIDC ID-token exchange rule (for CI jobs). */
export type OidcTrustRule = z.infer<typeof oidcTrust>;

/**
 * Each environment variable and the configuration key it sets. Environment wins over the YAML
 * file named by `BERTH_CONFIG`.
 */
export const ENVIRONMENT_KEYS: Readonly<Record<string, readonly string[]>> = {
  BERTH_DATA_DIR: ['dataDir'],
  BERTH_HTTP_HOST: ['http', 'host'],
  BERTH_HTTP_PORT: ['http', 'port'],
  BERTH_HTTP_REDIRECT_BLOBS: ['http', 'redirectBlobs'],
  BERTH_LOG_LEVEL: ['log', 'level'],
  BERTH_DATABASE_URL: ['database', 'url'],
  BERTH_BUS: ['bus', 'kind'],
  BERTH_NATS_URL: ['bus', 'natsUrl'],
  BERTH_NATS_NAMESPACE: ['bus', 'namespace'],
  BERTH_STORAGE_DRIVER: ['storage', 'driver'],
  BERTH_STORAGE_ROOT: ['storage', 'root'],
  BERTH_S3_ENDPOINT: ['storage', 's3', 'endpoint'],
  BERTH_S3_REGION: ['storage', 's3', 'region'],
  BERTH_S3_BUCKET: ['storage', 's3', 'bucket'],
  BERTH_S3_ACCESS_KEY: ['storage', 's3', 'accessKey'],
  BERTH_S3_SECRET_KEY: ['storage', 's3', 'secretKey'],
  BERTH_S3_PREFIX: ['storage', 's3', 'prefix'],
  BERTH_UPLOAD_TTL_SECONDS: ['uploads', 'ttlSeconds'],
  BERTH_UPLOAD_SWEEP_INTERVAL_SECONDS: ['uploads', 'sweepIntervalSeconds'],
  BERTH_CACHE_MANIFEST_ENTRIES: ['cache', 'manifestEntries'],
  BERTH_CACHE_MANIFEST_BODY_BYTES: ['cache', 'manifestBodyBytes'],
  BERTH_AUTH_MODE: ['auth', 'mode'],
  BERTH_AUTH_SERVICE: ['auth', 'service'],
  BERTH_AUTH_ISSUER: ['auth', 'issuer'],
  BERTH_AUTH_REALM: ['auth', 'realm'],
  BERTH_AUTH_TOKEN_TTL_SECONDS: ['auth', 'tokenTtlSeconds'],
  BERTH_AUTH_REFRESH_TOKEN_TTL_SECONDS: ['auth', 'refreshTokenTtlSeconds'],
  BERTH_AUTH_KEY_ROTATION_SECONDS: ['auth', 'keyRotationSeconds'],
  BERTH_ADMIN_PASSWORD: ['auth', 'adminPassword'],
  BERTH_AUTH_BASIC_CACHE_SECONDS: ['auth', 'basicCacheSeconds'],
  BERTH_AUTH_RATE_LIMIT_WINDOW_SECONDS: ['auth', 'rateLimit', 'windowSeconds'],
  BERTH_AUTH_RATE_LIMIT_FAILURES_PER_ACCOUNT: ['auth', 'rateLimit', 'failuresPerAccount'],
  BERTH_AUTH_RATE_LIMIT_FAILURES_PER_ADDRESS: ['auth', 'rateLimit', 'failuresPerAddress'],
  BERTH_LDAP_URL: ['auth', 'ldap', 'url'],
  BERTH_LDAP_BIND_DN: ['auth', 'ldap', 'bindDn'],
  BERTH_LDAP_BIND_PASSWORD: ['auth', 'ldap', 'bindPassword'],
  BERTH_LDAP_USER_BASE: ['auth', 'ldap', 'userBase'],
  BERTH_LDAP_USER_FILTER: ['auth', 'ldap', 'userFilter'],
  BERTH_LDAP_GROUP_BASE: ['auth', 'ldap', 'groupBase'],
  BERTH_LDAP_GROUP_FILTER: ['auth', 'ldap', 'groupFilter'],
  BERTH_LDAP_GROUP_NAME_ATTRIBUTE: ['auth', 'ldap', 'groupNameAttribute'],
  BERTH_LDAP_EMAIL_ATTRIBUTE: ['auth', 'ldap', 'emailAttribute'],
  BERTH_LDAP_START_TLS: ['auth', 'ldap', 'startTls'],
  BERTH_LDAP_TIMEOUT_MS: ['auth', 'ldap', 'timeoutMs'],
  BERTH_OIDC_ISSUER: ['auth', 'oidc', 'issuer'],
  BERTH_OIDC_CLIENT_ID: ['auth', 'oidc', 'clientId'],
  BERTH_OIDC_CLIENT_SECRET: ['auth', 'oidc', 'clientSecret'],
  BERTH_OIDC_REDIRECT_URI: ['auth', 'oidc', 'redirectUri'],
  BERTH_OIDC_SCOPE: ['auth', 'oidc', 'scope'],
  BERTH_OIDC_USERNAME_CLAIM: ['auth', 'oidc', 'usernameClaim'],
  BERTH_OIDC_GROUPS_CLAIM: ['auth', 'oidc', 'groupsClaim'],
  BERTH_OIDC_AUTO_CREATE: ['auth', 'oidc', 'autoCreate'],
  BERTH_PUBLIC_URL: ['webhooks', 'publicUrl'],
  BERTH_WEBHOOK_SECRET_KEY: ['webhooks', 'secretKey'],
  BERTH_WEBHOOK_RETRY_WINDOW_SECONDS: ['webhooks', 'retryWindowSeconds'],
  BERTH_WEBHOOK_TIMEOUT_SECONDS: ['webhooks', 'timeoutSeconds'],
  BERTH_WEBHOOK_CONCURRENCY: ['webhooks', 'concurrency'],
  BERTH_WEBHOOK_ALLOWED_CIDRS: ['webhooks', 'allowedCidrs'],
};

const SECRET_KEYS = new Set([
  'secretKey',
  'accessKey',
  'url',
  'adminPassword',
  'bindPassword',
  'clientSecret',
]);

/** The configuration was invalid; `problems` names every bad key at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Reads and validates the configuration from the environment and the optional YAML file named by
 * `BERTH_CONFIG`. Throws {@link ConfigError} listing every bad or unknown key; callers exit
 * non-zero with it. This is the only place that reads `process.env`.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): BerthConfig {
  const problems: string[] = [];
  let raw: Record<string, unknown> = {};
  const file = env['BERTH_CONFIG'];
  if (file !== undefined && file !== '') {
    try {
      const parsed: unknown = parseYaml(readFileSync(file, 'utf8'));
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
        raw = parsed as Record<string, unknown>;
      else if (parsed !== null && parsed !== undefined)
        problems.push(`BERTH_CONFIG (${file}): must be a YAML mapping`);
    } catch (error) {
      problems.push(`BERTH_CONFIG (${file}): ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  for (const name of Object.keys(env)) {
    if (!name.startsWith('BERTH_') || name === 'BERTH_CONFIG') continue;
    const path = ENVIRONMENT_KEYS[name];
    const value = env[name];
    if (value === undefined) continue;
    if (!path) {
      // Unknown BERTH_* keys are most likely typos; other services' keys are listed here too.
      if (!isKnownForeignKey(name)) problems.push(`${name}: unknown setting`);
      continue;
    }
    if (value !== '') setPath(raw, path, value);
  }
  problems.push(...s3Problems(raw));
  const result = schema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = issue.path.join('.');
      const envName = Object.entries(ENVIRONMENT_KEYS).find(([, p]) => p.join('.') === key)?.[0];
      problems.push(`${key}${envName ? ` (${envName})` : ''}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  const config = result.data;
  const dataDir = resolve(config.dataDir);
  const s3 = config.storage.s3;
  return {
    dataDir,
    http: config.http,
    log: config.log,
    database: { url: config.database.url ?? null, embeddedDir: resolve(dataDir, 'pg') },
    bus: config.bus,
    storage:
      config.storage.driver === 'filesystem'
        ? { driver: 'filesystem', root: resolve(config.storage.root ?? resolve(dataDir, 'blobs')) }
        : {
            driver: 's3',
            endpoint: s3.endpoint ?? '',
            region: s3.region,
            bucket: s3.bucket ?? '',
            accessKey: s3.accessKey ?? '',
            secretKey: s3.secretKey ?? '',
            prefix: s3.prefix,
          },
    uploads: config.uploads,
    cache: config.cache,
    webhooks: config.webhooks,
    auth: config.auth,
  };
}

/** The configuration with secrets replaced, for logs. */
export function redactConfig(config: BerthConfig): unknown {
  return JSON.parse(
    JSON.stringify(config, (key, value: unknown) =>
      SECRET_KEYS.has(key) && typeof value === 'string' ? '***' : value,
    ),
  );
}

/** Settings read by tooling around Berth rather than by the services. */
function isKnownForeignKey(name: string): boolean {
  return name.startsWith('BERTH_TEST_') || name.startsWith('BERTH_BENCH_');
}

/** S3 settings that the S3 driver needs; checked apart so they are reported with every other problem. */
function s3Problems(raw: Record<string, unknown>): string[] {
  const storage = raw['storage'] as { driver?: unknown; s3?: Record<string, unknown> } | undefined;
  if (storage?.driver !== 's3') return [];
  return (['endpoint', 'bucket', 'accessKey', 'secretKey'] as const)
    .filter((key) => storage.s3?.[key] === undefined)
    .map((key) => {
      const envName =
        Object.entries(ENVIRONMENT_KEYS).find(([, p]) => p.join('.') === `storage.s3.${key}`)?.[0] ?? '';
      return `storage.s3.${key} (${envName}): is required when storage.driver is s3`;
    });
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: string): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] ?? ''] = value;
}
