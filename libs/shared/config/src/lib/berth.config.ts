import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CidrError, parseCidr } from '@berth/naming';
import { EACH, declaredLeaves, env, masked, secret } from './settings.registry';

// Every object is strict: a key the schema does not know (a typo in the YAML file) is a problem
// reported with its path, not silently dropped. Each leaf that the environment can set names its
// variable where it is declared; the variable map and the secrets are derived from the schema.

const port = z.coerce.number().int().min(0).max(65535);
const seconds = z.coerce.number().int().positive();
const bool = z.union([
  z.boolean(),
  z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1'),
]);

const ldap = z.strictObject({
  // The LDAP URL has always been masked with the other `url`s; it stays so.
  url: secret('BERTH_LDAP_URL', z.url({ protocol: /^ldaps?$/ })),
  bindDn: env('BERTH_LDAP_BIND_DN', z.string().min(1)),
  bindPassword: secret('BERTH_LDAP_BIND_PASSWORD', z.string().min(1)),
  userBase: env('BERTH_LDAP_USER_BASE', z.string().min(1)),
  userFilter: env('BERTH_LDAP_USER_FILTER', z.string().includes('{username}').default('(uid={username})')),
  groupBase: env('BERTH_LDAP_GROUP_BASE', z.string().min(1)),
  groupFilter: env(
    'BERTH_LDAP_GROUP_FILTER',
    z
      .string()
      .refine((f) => f.includes('{dn}') || f.includes('{username}'), 'must contain {dn} or {username}')
      .default('(member={dn})'),
  ),
  groupNameAttribute: env('BERTH_LDAP_GROUP_NAME_ATTRIBUTE', z.string().min(1).default('cn')),
  emailAttribute: env('BERTH_LDAP_EMAIL_ATTRIBUTE', z.string().min(1).default('mail')),
  timeoutMs: env('BERTH_LDAP_TIMEOUT_MS', z.coerce.number().int().positive().default(5000)),
  startTls: env('BERTH_LDAP_START_TLS', bool.default(false)),
});

const action = z.enum(['pull', 'push', 'delete']);

/**
 * A rule that lets a CI job trade an OIDC ID token from its platform for a registry token, with
 * no stored secret: tokens from `issuer` for `audience` whose claims match every pattern in
 * `claims` (globs: `*` within a `/` segment, `**` across) get `permissions`, in the name of
 * `oidc$<robot>`.
 */
const oidcTrust = z.strictObject({
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
      z.strictObject({
        project: z.string().min(1),
        repositories: z.array(z.string().min(1)).optional(),
        actions: z.array(action).min(1),
      }),
    )
    .min(1),
});

const oidcLogin = z.strictObject({
  issuer: env('BERTH_OIDC_ISSUER', z.url()),
  clientId: env('BERTH_OIDC_CLIENT_ID', z.string().min(1)),
  clientSecret: secret('BERTH_OIDC_CLIENT_SECRET', z.string().min(1).optional()),
  /** Where the provider sends users back: `<public URL>/api/v1/auth/oidc/callback`. */
  redirectUri: env('BERTH_OIDC_REDIRECT_URI', z.url()),
  scope: env('BERTH_OIDC_SCOPE', z.string().default('openid profile email')),
  usernameClaim: env('BERTH_OIDC_USERNAME_CLAIM', z.string().min(1).default('preferred_username')),
  groupsClaim: env('BERTH_OIDC_GROUPS_CLAIM', z.string().min(1).default('groups')),
  /** Whether a first login creates the user (otherwise an admin must create it first). */
  autoCreate: env('BERTH_OIDC_AUTO_CREATE', bool.default(true)),
});

const schema = z.strictObject({
  dataDir: env('BERTH_DATA_DIR', z.string().min(1).default('./data')),
  http: z
    .strictObject({
      host: env('BERTH_HTTP_HOST', z.string().min(1).default('0.0.0.0')),
      port: env('BERTH_HTTP_PORT', port.default(5000)),
      /** Redirect blob GETs to the storage's presigned URL when the driver offers one. */
      redirectBlobs: env('BERTH_HTTP_REDIRECT_BLOBS', bool.default(false)),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: env(
        'BERTH_LOG_LEVEL',
        z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      ),
      /** `auto`: pretty lines when stdout is a terminal, JSON lines otherwise. */
      format: env('BERTH_LOG_FORMAT', z.enum(['auto', 'json', 'pretty']).default('auto')),
    })
    .prefault({}),
  database: z
    .strictObject({
      /** A PostgreSQL URL; unset means the embedded PGlite under `<dataDir>/pg`. */
      url: secret('BERTH_DATABASE_URL', z.url({ protocol: /^postgres(ql)?$/ }).optional()),
    })
    .prefault({}),
  bus: z
    .strictObject({
      kind: env('BERTH_BUS', z.enum(['in-process', 'nats']).default('in-process')),
      natsUrl: env('BERTH_NATS_URL', z.string().min(1).default('nats://127.0.0.1:4222')),
      namespace: env(
        'BERTH_NATS_NAMESPACE',
        z
          .string()
          .regex(/^[A-Za-z0-9_-]*$/)
          .default(''),
      ),
    })
    .prefault({}),
  storage: z
    .strictObject({
      driver: env('BERTH_STORAGE_DRIVER', z.enum(['filesystem', 's3']).default('filesystem')),
      /** Filesystem root; defaults to `<dataDir>/blobs`. */
      root: env('BERTH_STORAGE_ROOT', z.string().min(1).optional()),
      s3: z
        .strictObject({
          endpoint: env('BERTH_S3_ENDPOINT', z.url().optional()),
          region: env('BERTH_S3_REGION', z.string().min(1).default('us-east-1')),
          bucket: env('BERTH_S3_BUCKET', z.string().min(3).optional()),
          accessKey: secret('BERTH_S3_ACCESS_KEY', z.string().min(1).optional()),
          secretKey: secret('BERTH_S3_SECRET_KEY', z.string().min(1).optional()),
          prefix: env('BERTH_S3_PREFIX', z.string().default('')),
        })
        .prefault({}),
    })
    .prefault({}),
  uploads: z
    .strictObject({
      /** An upload session untouched for this long is abandoned and swept. */
      ttlSeconds: env('BERTH_UPLOAD_TTL_SECONDS', seconds.default(24 * 3600)),
      sweepIntervalSeconds: env('BERTH_UPLOAD_SWEEP_INTERVAL_SECONDS', seconds.default(600)),
    })
    .prefault({}),
  auth: z
    .strictObject({
      /**
       * `token`: every `/v2/` request needs a token from the token service (the default). `none`:
       * no authentication at all, for benchmarks and throwaway local use only.
       */
      mode: env('BERTH_AUTH_MODE', z.enum(['token', 'none']).default('token')),
      /** The `service` of the challenge and the `aud` of tokens. */
      service: env('BERTH_AUTH_SERVICE', z.string().min(1).default('berth')),
      /** The `iss` of tokens. */
      issuer: env('BERTH_AUTH_ISSUER', z.string().min(1).default('berth-token-service')),
      /** The token endpoint clients are sent to; unset means `<the request's origin>/token`. */
      realm: env('BERTH_AUTH_REALM', z.url().optional()),
      tokenTtlSeconds: env('BERTH_AUTH_TOKEN_TTL_SECONDS', seconds.default(300)),
      refreshTokenTtlSeconds: env('BERTH_AUTH_REFRESH_TOKEN_TTL_SECONDS', seconds.default(30 * 24 * 3600)),
      /** A signing key is replaced after this long; the old one is published until its tokens expire. */
      keyRotationSeconds: env('BERTH_AUTH_KEY_ROTATION_SECONDS', seconds.default(30 * 24 * 3600)),
      /** The first start's admin password; unset means one is generated and printed once. */
      adminPassword: secret('BERTH_ADMIN_PASSWORD', z.string().min(8).optional()),
      /** How long a gateway trusts a Basic credential it had checked. */
      basicCacheSeconds: env(
        'BERTH_AUTH_BASIC_CACHE_SECONDS',
        z.coerce.number().int().nonnegative().default(30),
      ),
      rateLimit: z
        .strictObject({
          windowSeconds: env('BERTH_AUTH_RATE_LIMIT_WINDOW_SECONDS', seconds.default(300)),
          /** Failed logins per account within the window before that account is refused. */
          failuresPerAccount: env('BERTH_AUTH_RATE_LIMIT_FAILURES_PER_ACCOUNT', seconds.default(10)),
          /** Failed logins per source address within the window before that address is refused. */
          failuresPerAddress: env('BERTH_AUTH_RATE_LIMIT_FAILURES_PER_ADDRESS', seconds.default(30)),
        })
        .prefault({}),
      ldap: ldap.optional(),
      oidc: oidcLogin.optional(),
      oidcTrust: z.array(oidcTrust).default([]),
    })
    .prefault({}),
  webhooks: z
    .strictObject({
      /**
       * The registry's public base URL, for links in webhook payloads (`resource_url`, a
       * CloudEvent's `source`); unset means `http://localhost:<http.port>`.
       */
      publicUrl: env('BERTH_PUBLIC_URL', z.url({ protocol: /^https?$/ }).optional()),
      /**
       * The key (32 bytes, base64) that encrypts webhook secrets and headers at rest. Unset: the
       * all-in-one generates one into `<dataDir>/webhook-secret.key`; the distributed shape needs it.
       */
      secretKey: secret(
        'BERTH_WEBHOOK_SECRET_KEY',
        z
          .string()
          .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
          .optional(),
      ),
      /** How long a delivery is retried before it is marked failed, counted from its event. */
      retryWindowSeconds: env('BERTH_WEBHOOK_RETRY_WINDOW_SECONDS', seconds.default(24 * 3600)),
      /** How long one attempt may take, connect to last byte read. */
      timeoutSeconds: env('BERTH_WEBHOOK_TIMEOUT_SECONDS', seconds.max(120).default(10)),
      /** How many deliveries (to different subscriptions) each webhooks instance sends at once. */
      concurrency: env('BERTH_WEBHOOK_CONCURRENCY', seconds.max(1000).default(32)),
      /**
       * Address ranges that targets may resolve to although they are loopback, link-local or
       * cloud metadata addresses (refused by default), e.g. `10.0.0.0/8,127.0.0.1/32`.
       */
      allowedCidrs: env(
        'BERTH_WEBHOOK_ALLOWED_CIDRS',
        z
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
      ),
    })
    .prefault({}),
  cache: z
    .strictObject({
      /** How many resolved manifest references each metadata instance keeps in memory. */
      manifestEntries: env(
        'BERTH_CACHE_MANIFEST_ENTRIES',
        z.coerce.number().int().nonnegative().default(10_000),
      ),
      /** How many bytes of manifest bodies each gateway keeps in memory (they are immutable). */
      manifestBodyBytes: env(
        'BERTH_CACHE_MANIFEST_BODY_BYTES',
        z.coerce
          .number()
          .int()
          .nonnegative()
          .default(16 * 1024 * 1024),
      ),
    })
    .prefault({}),
});

/**
 * The effective configuration in the shape of the YAML file, defaults applied: what
 * `berth verify-config` prints (masked), and what {@link resolveConfig} turns into a
 * {@link BerthConfig}.
 */
export type BerthSettings = z.output<typeof schema>;

/** Berth's whole configuration, validated. Every service reads the parts it needs. */
export interface BerthConfig {
  readonly dataDir: string;
  readonly http: BerthSettings['http'];
  readonly log: LogConfig;
  readonly database: { readonly url: string | null; readonly embeddedDir: string };
  readonly bus: BerthSettings['bus'];
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
  readonly uploads: BerthSettings['uploads'];
  readonly cache: BerthSettings['cache'];
  readonly webhooks: WebhooksConfig;
  readonly auth: AuthConfig;
}

/** The logger's settings: its level, and `auto`, `json` or `pretty` lines. */
export type LogConfig = BerthSettings['log'];
/** The webhooks service's settings. */
export type WebhooksConfig = BerthSettings['webhooks'];

/** The token service's and the gateway's authentication settings. */
export type AuthConfig = BerthSettings['auth'];
/** LDAP login settings. */
export type LdapConfig = z.infer<typeof ldap>;
/** OIDC login settings (authorization-code flow for people). */
export type OidcLoginConfig = z.infer<typeof oidcLogin>;
/** One OIDC ID-token exchange rule (for CI jobs). */
export type OidcTrustRule = z.infer<typeof oidcTrust>;

const LEAVES = declaredLeaves(schema);

/**
 * Each environment variable and the configuration key it sets, derived from the variables the
 * schema's leaves declare. Environment wins over the YAML file named by `BERTH_CONFIG`.
 */
export const ENVIRONMENT_KEYS: Readonly<Record<string, readonly string[]>> = environmentKeys();

function environmentKeys(): Record<string, readonly string[]> {
  const keys: Record<string, readonly string[]> = {};
  for (const { env: name, path } of LEAVES) {
    // Both are mistakes in the schema above, caught when the module loads rather than at a user's boot.
    if (path.includes(EACH)) throw new Error(`${name}: a variable cannot set an item of a list`);
    if (name in keys) throw new Error(`${name}: declared twice`);
    keys[name] = path;
  }
  return keys;
}

const ENVIRONMENT_NAMES = new Map(
  Object.entries(ENVIRONMENT_KEYS).map(([name, path]) => [path.join('.'), name]),
);

/** The configuration was invalid; `problems` names every bad key at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Reads and validates the configuration from the environment and the optional YAML file named by
 * `BERTH_CONFIG`, and resolves it for the services (see {@link resolveConfig}). Throws
 * {@link ConfigError} listing every bad or unknown key; callers exit non-zero with it.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): BerthConfig {
  return resolveConfig(loadSettings(env));
}

/**
 * Reads and validates the configuration from the environment and the optional YAML file named by
 * `BERTH_CONFIG`, and returns it in the file's shape with defaults applied. Throws
 * {@link ConfigError} listing every problem at once: values that do not parse, unknown keys in the
 * file (at any depth, by path) and unknown `BERTH_*` variables. This is the only place that reads
 * `process.env`.
 */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): BerthSettings {
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
  if (!result.success) problems.push(...result.error.issues.flatMap(describeIssue));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}

/**
 * Turns validated settings into what the services read: absolute directories (the embedded
 * database and filesystem blobs under `dataDir` unless set), and the chosen storage driver's fields.
 */
export function resolveConfig(settings: BerthSettings): BerthConfig {
  const dataDir = resolve(settings.dataDir);
  const s3 = settings.storage.s3;
  return {
    dataDir,
    http: settings.http,
    log: settings.log,
    database: { url: settings.database.url ?? null, embeddedDir: resolve(dataDir, 'pg') },
    bus: settings.bus,
    storage:
      settings.storage.driver === 'filesystem'
        ? { driver: 'filesystem', root: resolve(settings.storage.root ?? resolve(dataDir, 'blobs')) }
        : {
            driver: 's3',
            endpoint: s3.endpoint ?? '',
            region: s3.region,
            bucket: s3.bucket ?? '',
            accessKey: s3.accessKey ?? '',
            secretKey: s3.secretKey ?? '',
            prefix: s3.prefix,
          },
    uploads: settings.uploads,
    cache: settings.cache,
    webhooks: settings.webhooks,
    auth: settings.auth,
  };
}

/** The settings with every value declared secret replaced by `***`, for logs and reports. */
export function redactSettings(settings: BerthSettings): BerthSettings {
  return LEAVES.filter((leaf) => leaf.secret).reduce<unknown>(
    (value, leaf) => masked(value, leaf.path),
    settings,
  ) as BerthSettings;
}

/** One zod issue as problems: a path, the variable that sets it if any, and what is wrong. */
function describeIssue(issue: z.core.$ZodIssue): string[] {
  const key = issue.path.join('.');
  if (issue.code === 'unrecognized_keys')
    return issue.keys.map((unknown) => `${key === '' ? unknown : `${key}.${unknown}`}: unknown key`);
  const envName = ENVIRONMENT_NAMES.get(key);
  return [`${key}${envName ? ` (${envName})` : ''}: ${issue.message}`];
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
      const envName = ENVIRONMENT_NAMES.get(`storage.s3.${key}`) ?? '';
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
