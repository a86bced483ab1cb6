import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, ENVIRONMENT_KEYS, loadConfig, loadSettings, redactSettings } from './berth.config';

describe('loadConfig', () => {
  it('gives the all-in-one defaults with no settings', () => {
    const sut = loadConfig({});
    expect(sut.http.port).toBe(5000);
    expect(sut.database.url).toBeNull();
    expect(sut.bus.kind).toBe('in-process');
    expect(sut.storage).toEqual({
      driver: 'filesystem',
      root: expect.stringMatching(/data\/blobs$/) as unknown,
    });
  });

  it('reads BERTH_* variables', () => {
    const sut = loadConfig({
      BERTH_HTTP_PORT: '6000',
      BERTH_BUS: 'nats',
      BERTH_DATABASE_URL: 'postgres://u@h:5432/db',
      BERTH_STORAGE_DRIVER: 's3',
      BERTH_S3_ENDPOINT: 'http://127.0.0.1:9000',
      BERTH_S3_BUCKET: 'berth',
      BERTH_S3_ACCESS_KEY: 'k',
      BERTH_S3_SECRET_KEY: 's',
    });
    expect(sut.http.port).toBe(6000);
    expect(sut.bus.kind).toBe('nats');
    expect(sut.storage.driver).toBe('s3');
  });

  it('names every bad key at once', () => {
    let caught: unknown;
    try {
      loadConfig({
        BERTH_HTTP_PORT: 'eighty',
        BERTH_BUS: 'carrier-pigeon',
        BERTH_HTTPPORT: '1',
        BERTH_STORAGE_DRIVER: 's3',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as ConfigError).message;
    expect(message).toContain('BERTH_HTTP_PORT');
    expect(message).toContain('BERTH_BUS');
    expect(message).toContain('BERTH_HTTPPORT: unknown setting');
    expect(message).toContain('storage.s3.bucket');
  });

  it('reads LDAP settings with their defaults', () => {
    const sut = loadConfig({
      BERTH_LDAP_URL: 'ldap://directory.example:389',
      BERTH_LDAP_BIND_DN: 'cn=berth,dc=example',
      BERTH_LDAP_BIND_PASSWORD: 'hunter2-bind',
      BERTH_LDAP_USER_BASE: 'ou=people,dc=example',
      BERTH_LDAP_GROUP_BASE: 'ou=groups,dc=example',
      BERTH_LDAP_START_TLS: 'true',
    });
    expect(sut.auth.ldap).toMatchObject({
      userFilter: '(uid={username})',
      groupFilter: '(member={dn})',
      startTls: true,
      timeoutMs: 5000,
    });
  });

  it('names the LDAP settings that are missing, and a user filter without {username}', () => {
    expect(() =>
      loadConfig({ BERTH_LDAP_URL: 'ldap://directory.example', BERTH_LDAP_USER_FILTER: '(uid=alice)' }),
    ).toThrow(/auth\.ldap\.bindDn[\s\S]*auth\.ldap\.userFilter \(BERTH_LDAP_USER_FILTER\)/);
    expect(() => loadConfig({ BERTH_LDAP_URL: 'http://directory.example' })).toThrow(/auth\.ldap\.url/);
  });

  it('reads OIDC trust rules from the file and refuses a rule without permissions', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-config-'));
    const file = join(dir, 'berth.yaml');
    writeFileSync(
      file,
      [
        'auth:',
        '  oidcTrust:',
        '    - issuer: https://token.actions.githubusercontent.com',
        '      audience: berth',
        '      claims: { repository: acme/app, ref: "refs/heads/*" }',
        '      robot: acme-app',
        '      permissions: [{ project: ci, actions: [pull, push] }]',
      ].join('\n'),
    );
    expect(loadConfig({ BERTH_CONFIG: file }).auth.oidcTrust).toEqual([
      {
        issuer: 'https://token.actions.githubusercontent.com',
        audience: 'berth',
        claims: { repository: 'acme/app', ref: 'refs/heads/*' },
        robot: 'acme-app',
        permissions: [{ project: 'ci', actions: ['pull', 'push'] }],
      },
    ]);
    writeFileSync(
      file,
      'auth:\n  oidcTrust:\n    - { issuer: https://ci.example, audience: berth, robot: x, permissions: [] }\n',
    );
    expect(() => loadConfig({ BERTH_CONFIG: file })).toThrow(
      /auth\.oidcTrust\.0\.claims[\s\S]*auth\.oidcTrust\.0\.permissions/,
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('names the webhook CIDR setting when one of its ranges is malformed', () => {
    expect(
      loadConfig({ BERTH_WEBHOOK_ALLOWED_CIDRS: '10.0.0.0/8, 127.0.0.1/32' }).webhooks.allowedCidrs,
    ).toEqual(['10.0.0.0/8', '127.0.0.1/32']);
    expect(() => loadConfig({ BERTH_WEBHOOK_ALLOWED_CIDRS: '10.0.0.0/8,10.0.0.0/99' })).toThrow(
      /webhooks\.allowedCidrs \(BERTH_WEBHOOK_ALLOWED_CIDRS\)/,
    );
  });
});

/** The variables and keys as they were written out by hand before the schema declared them. */
const ENVIRONMENT_KEYS_BEFORE: Record<string, readonly string[]> = {
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

const WEBHOOK_KEY = Buffer.alloc(32, 7).toString('base64');

/** A valid value for every variable, as the environment gives it and as the settings hold it. */
const EVERY_VARIABLE: Record<string, readonly [string, unknown]> = {
  BERTH_DATA_DIR: ['/srv/berth', '/srv/berth'],
  BERTH_HTTP_HOST: ['127.0.0.1', '127.0.0.1'],
  BERTH_HTTP_PORT: ['6000', 6000],
  BERTH_HTTP_REDIRECT_BLOBS: ['1', true],
  BERTH_LOG_LEVEL: ['debug', 'debug'],
  BERTH_LOG_FORMAT: ['pretty', 'pretty'],
  BERTH_DATABASE_URL: ['postgres://u:pw@db:5432/berth', 'postgres://u:pw@db:5432/berth'],
  BERTH_BUS: ['nats', 'nats'],
  BERTH_NATS_URL: ['nats://nats:4222', 'nats://nats:4222'],
  BERTH_NATS_NAMESPACE: ['staging', 'staging'],
  BERTH_STORAGE_DRIVER: ['s3', 's3'],
  BERTH_STORAGE_ROOT: ['/srv/blobs', '/srv/blobs'],
  BERTH_S3_ENDPOINT: ['http://minio:9000', 'http://minio:9000'],
  BERTH_S3_REGION: ['eu-west-1', 'eu-west-1'],
  BERTH_S3_BUCKET: ['berth-blobs', 'berth-blobs'],
  BERTH_S3_ACCESS_KEY: ['access-key-1', 'access-key-1'],
  BERTH_S3_SECRET_KEY: ['secret-key-1', 'secret-key-1'],
  BERTH_S3_PREFIX: ['registry/', 'registry/'],
  BERTH_UPLOAD_TTL_SECONDS: ['3600', 3600],
  BERTH_UPLOAD_SWEEP_INTERVAL_SECONDS: ['60', 60],
  BERTH_CACHE_MANIFEST_ENTRIES: ['500', 500],
  BERTH_CACHE_MANIFEST_BODY_BYTES: ['1048576', 1048576],
  BERTH_AUTH_MODE: ['none', 'none'],
  BERTH_AUTH_SERVICE: ['registry.example', 'registry.example'],
  BERTH_AUTH_ISSUER: ['berth-tokens', 'berth-tokens'],
  BERTH_AUTH_REALM: ['https://registry.example/token', 'https://registry.example/token'],
  BERTH_AUTH_TOKEN_TTL_SECONDS: ['120', 120],
  BERTH_AUTH_REFRESH_TOKEN_TTL_SECONDS: ['7200', 7200],
  BERTH_AUTH_KEY_ROTATION_SECONDS: ['86400', 86400],
  BERTH_ADMIN_PASSWORD: ['admin-password-1', 'admin-password-1'],
  BERTH_AUTH_BASIC_CACHE_SECONDS: ['0', 0],
  BERTH_AUTH_RATE_LIMIT_WINDOW_SECONDS: ['60', 60],
  BERTH_AUTH_RATE_LIMIT_FAILURES_PER_ACCOUNT: ['5', 5],
  BERTH_AUTH_RATE_LIMIT_FAILURES_PER_ADDRESS: ['15', 15],
  BERTH_LDAP_URL: ['ldaps://directory.example', 'ldaps://directory.example'],
  BERTH_LDAP_BIND_DN: ['cn=berth,dc=example', 'cn=berth,dc=example'],
  BERTH_LDAP_BIND_PASSWORD: ['bind-password-1', 'bind-password-1'],
  BERTH_LDAP_USER_BASE: ['ou=people,dc=example', 'ou=people,dc=example'],
  BERTH_LDAP_USER_FILTER: ['(cn={username})', '(cn={username})'],
  BERTH_LDAP_GROUP_BASE: ['ou=groups,dc=example', 'ou=groups,dc=example'],
  BERTH_LDAP_GROUP_FILTER: ['(memberUid={username})', '(memberUid={username})'],
  BERTH_LDAP_GROUP_NAME_ATTRIBUTE: ['ou', 'ou'],
  BERTH_LDAP_EMAIL_ATTRIBUTE: ['email', 'email'],
  BERTH_LDAP_START_TLS: ['true', true],
  BERTH_LDAP_TIMEOUT_MS: ['2500', 2500],
  BERTH_OIDC_ISSUER: ['https://login.example', 'https://login.example'],
  BERTH_OIDC_CLIENT_ID: ['berth', 'berth'],
  BERTH_OIDC_CLIENT_SECRET: ['client-secret-1', 'client-secret-1'],
  BERTH_OIDC_REDIRECT_URI: [
    'https://registry.example/api/v1/auth/oidc/callback',
    'https://registry.example/api/v1/auth/oidc/callback',
  ],
  BERTH_OIDC_SCOPE: ['openid email', 'openid email'],
  BERTH_OIDC_USERNAME_CLAIM: ['email', 'email'],
  BERTH_OIDC_GROUPS_CLAIM: ['roles', 'roles'],
  BERTH_OIDC_AUTO_CREATE: ['false', false],
  BERTH_PUBLIC_URL: ['https://registry.example', 'https://registry.example'],
  BERTH_WEBHOOK_SECRET_KEY: [WEBHOOK_KEY, WEBHOOK_KEY],
  BERTH_WEBHOOK_RETRY_WINDOW_SECONDS: ['600', 600],
  BERTH_WEBHOOK_TIMEOUT_SECONDS: ['5', 5],
  BERTH_WEBHOOK_CONCURRENCY: ['8', 8],
  BERTH_WEBHOOK_ALLOWED_CIDRS: ['10.0.0.0/8, 192.168.0.0/16', ['10.0.0.0/8', '192.168.0.0/16']],
};

const everyVariable = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(EVERY_VARIABLE).map(([name, [value]]) => [name, value]));

function at(value: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], value);
}

function problemsOf(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe('the configuration file', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-config-'));
    file = join(dir, 'berth.yaml');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('names every unknown key by its path, at every depth, with every other problem at once', () => {
    writeFileSync(
      file,
      [
        'dataDri: /srv/berth',
        'http: { prot: 6000, port: eighty }',
        'auth:',
        '  oidcTrsut: []',
        '  oidcTrust:',
        '    - issuer: https://ci.example',
        '      audience: berth',
        '      claims: { repository: acme/app }',
        '      robto: acme-app',
        '      robot: acme-app',
        '      permissions: [{ project: ci, actions: [pull], action: push }]',
      ].join('\n'),
    );

    const sut = problemsOf(() => loadSettings({ BERTH_CONFIG: file, BERTH_BUS: 'carrier-pigeon' }));

    expect(sut).toEqual(
      expect.arrayContaining([
        'dataDri: unknown key',
        'http.prot: unknown key',
        'auth.oidcTrsut: unknown key',
        'auth.oidcTrust.0.robto: unknown key',
        'auth.oidcTrust.0.permissions.0.action: unknown key',
        expect.stringMatching(/^http\.port \(BERTH_HTTP_PORT\): /) as unknown,
        expect.stringMatching(/^bus\.kind \(BERTH_BUS\): /) as unknown,
      ]),
    );
    expect(sut).toHaveLength(7);
  });

  it('takes the keys it knows, with the environment winning', () => {
    writeFileSync(file, 'http: { port: 6000, host: 127.0.0.1 }\nlog: { format: json }\n');

    const sut = loadSettings({ BERTH_CONFIG: file, BERTH_HTTP_PORT: '7000' });

    expect(sut.http).toEqual({ host: '127.0.0.1', port: 7000, redirectBlobs: false });
    expect(sut.log).toEqual({ level: 'info', format: 'json' });
  });
});

describe('the environment', () => {
  it('maps each variable to the key it has always set, derived from the schema', () => {
    const { BERTH_LOG_FORMAT, ...before } = ENVIRONMENT_KEYS;

    expect(before).toEqual(ENVIRONMENT_KEYS_BEFORE);
    expect(BERTH_LOG_FORMAT).toEqual(['log', 'format']);
  });

  it('sets its key from every variable', () => {
    expect(Object.keys(EVERY_VARIABLE).sort()).toEqual(Object.keys(ENVIRONMENT_KEYS).sort());

    const sut = loadSettings(everyVariable());

    for (const [name, [, expected]] of Object.entries(EVERY_VARIABLE))
      expect({ name, value: at(sut, ENVIRONMENT_KEYS[name] ?? []) }).toEqual({ name, value: expected });
  });

  it('tolerates the variables of tests and benchmarks, and refuses other unknown ones', () => {
    expect(() => loadSettings({ BERTH_TEST_POSTGRES_URL: 'x', BERTH_BENCH_ROUNDS: '3' })).not.toThrow();
    expect(problemsOf(() => loadSettings({ BERTH_LOG_FORMT: 'json' }))).toEqual([
      'BERTH_LOG_FORMT: unknown setting',
    ]);
  });

  it('chooses the log format automatically unless told', () => {
    expect(loadSettings({}).log.format).toBe('auto');
    expect(problemsOf(() => loadSettings({ BERTH_LOG_FORMAT: 'xml' }))).toEqual([
      expect.stringMatching(/^log\.format \(BERTH_LOG_FORMAT\): /),
    ]);
  });
});

describe('redactSettings', () => {
  it('masks every secret, what was masked by name before included, and nothing else', () => {
    const settings = loadSettings(everyVariable());

    const sut = redactSettings(settings);

    const secrets = [
      'BERTH_DATABASE_URL',
      'BERTH_S3_ACCESS_KEY',
      'BERTH_S3_SECRET_KEY',
      'BERTH_ADMIN_PASSWORD',
      'BERTH_LDAP_URL',
      'BERTH_LDAP_BIND_PASSWORD',
      'BERTH_OIDC_CLIENT_SECRET',
      'BERTH_WEBHOOK_SECRET_KEY',
    ];
    for (const [name, [, value]] of Object.entries(EVERY_VARIABLE))
      expect({ name, value: at(sut, ENVIRONMENT_KEYS[name] ?? []) }).toEqual({
        name,
        value: secrets.includes(name) ? '***' : value,
      });
    expect(at(settings, ['database', 'url'])).toBe('postgres://u:pw@db:5432/berth');
  });
});
