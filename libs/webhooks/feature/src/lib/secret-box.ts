import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BerthConfig } from '@berth/config';

const VERSION = 'v1';

/**
 * Seals what the webhooks service must read back but the database must not hold in clear
 * (subscription secrets, extra headers): AES-256-GCM with a random 96-bit nonce, as
 * `v1.<nonce>.<tag>.<ciphertext>` in base64url. Opening fails loudly on a wrong key or a value
 * that was tampered with.
 */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the webhooks key must be 32 bytes');
  }

  seal(plain: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [VERSION, nonce, cipher.getAuthTag(), body]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  open(sealed: string): string {
    const [version, nonce, tag, body] = sealed.split('.');
    if (version !== VERSION || nonce === undefined || tag === undefined || body === undefined)
      throw new Error('not a sealed value');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(nonce, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }
}

/** The webhooks key has nowhere to come from: the distributed shape must be given one. */
export class MissingWebhooksKeyError extends Error {
  override readonly name = 'MissingWebhooksKeyError';
  constructor() {
    super(
      'BERTH_WEBHOOK_SECRET_KEY is required with an external database: every webhooks instance must ' +
        'seal and open secrets with the same key (generate one with `openssl rand -base64 32`)',
    );
  }
}

/**
 * The key that seals webhook secrets: `webhooks.secretKey` when set. Otherwise the all-in-one
 * (embedded database) keeps a generated key in `<dataDir>/webhook-secret.key` (mode 0600) beside
 * its data; the distributed shape has no single disk to keep one on, so it must be configured.
 */
export function webhooksKey(config: BerthConfig): Buffer {
  if (config.webhooks.secretKey !== undefined) return Buffer.from(config.webhooks.secretKey, 'base64');
  if (config.database.url !== null) throw new MissingWebhooksKeyError();
  const file = join(config.dataDir, 'webhook-secret.key');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    // `wx`: of two processes starting at once, one writes and the other reads what it wrote.
    try {
      writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
  return key;
}
