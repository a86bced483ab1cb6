import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@berth/config';
import { MissingWebhooksKeyError, SecretBox, webhooksKey } from './secret-box';

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));

  it('opens what it sealed, and seals the same text differently each time', () => {
    const sealed = box.seal('whsec_secret');
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain('whsec_secret');
    expect(box.open(sealed)).toBe('whsec_secret');
    expect(box.seal('whsec_secret')).not.toBe(sealed);
  });

  it('refuses a tampered value, and a value sealed with another key', () => {
    const sealed = box.seal('whsec_secret');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3] ?? '', 'base64url');
    body[0] = (body[0] ?? 0) ^ 1;
    expect(() => box.open([parts[0], parts[1], parts[2], body.toString('base64url')].join('.'))).toThrow();
    expect(() => new SecretBox(randomBytes(32)).open(sealed)).toThrow();
    expect(() => box.open('plain')).toThrow('not a sealed value');
  });
});

describe('webhooksKey', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-key-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes the configured key', () => {
    const key = randomBytes(32);
    expect(webhooksKey(loadConfig({ BERTH_WEBHOOK_SECRET_KEY: key.toString('base64') }))).toEqual(key);
  });

  it('generates one key for the all-in-one, kept private in its data dir', () => {
    const config = loadConfig({ BERTH_DATA_DIR: dir });
    const first = webhooksKey(config);
    expect(first).toHaveLength(32);
    expect(webhooksKey(config)).toEqual(first);
    const file = join(dir, 'webhook-secret.key');
    expect(Buffer.from(readFileSync(file, 'utf8'), 'base64')).toEqual(first);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('demands a key in the distributed shape', () => {
    expect(() => webhooksKey(loadConfig({ BERTH_DATABASE_URL: 'postgres://127.0.0.1/berth' }))).toThrow(
      MissingWebhooksKeyError,
    );
  });

  it('refuses a configured key that is not 32 bytes', () => {
    expect(() => loadConfig({ BERTH_WEBHOOK_SECRET_KEY: 'c2hvcnQ=' })).toThrow(/BERTH_WEBHOOK_SECRET_KEY/);
  });
});
