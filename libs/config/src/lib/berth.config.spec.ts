import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, redactConfig } from './berth.config';

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
    expect(JSON.stringify(redactConfig(sut))).not.toContain('"s"');
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

  it('reads LDAP settings with their defaults, and redacts the bind password', () => {
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
    expect(JSON.stringify(redactConfig(sut))).not.toContain('hunter2-bind');
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
