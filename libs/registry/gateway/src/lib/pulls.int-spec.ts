import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { InProcessBus } from '@berth/bus';
import { loadConfig } from '@berth/config';
import { ArtifactsPulled, ResolveManifest, type ArtifactsPulledEvent } from '@berth/contracts';
import { parseDigest } from '@berth/oci';
import { PlatformModule, startHttpApp } from '@berth/server';
import { RegistryStorage, createStorageDriver } from '@berth/storage';
import { eventually } from '@berth/testing';
import pino from 'pino';
import { GatewayModule } from './gateway.module';

const manifest = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json' }),
);
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
const mediaType = 'application/vnd.oci.image.manifest.v1+json';

@Module({})
class TestModule {}

describe('manifest pulls at the gateway', () => {
  let root: string;
  let bus: InProcessBus;
  let app: NestFastifyApplication;
  let url: string;
  let received: ArtifactsPulledEvent[];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-pulls-'));
    const storage = createStorageDriver({ driver: 'filesystem', root });
    await new RegistryStorage(storage).putBlob(parseDigest(digest), manifest);
    bus = new InProcessBus();
    await bus.handle(ResolveManifest, () =>
      Promise.resolve({ digest, mediaType, size: manifest.length, subjectDigest: null }),
    );
    // A consumer that takes the event and never finishes: the in-process publish hangs for ever.
    received = [];
    await bus.subscribe(ArtifactsPulled, { durable: 'stuck' }, (event) => {
      received.push(event);
      return new Promise(() => undefined);
    });
    const config = loadConfig({ BERTH_AUTH_MODE: 'none', BERTH_DATA_DIR: root });
    const logger = pino({ level: 'silent' });
    app = await startHttpApp(
      {
        module: TestModule,
        imports: [PlatformModule.register({ config, logger, bus, storage }), GatewayModule],
      },
      { host: '127.0.0.1', port: 0, logger },
    );
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app.close();
    await bus.close();
    await rm(root, { recursive: true, force: true });
  });

  it('records every GET as a pull and answers at once even when publishing hangs', async () => {
    const get = (reference: string) => fetch(`${url}/v2/team/app/manifests/${reference}`);
    const first = await Promise.all([...Array.from({ length: 20 }, () => get('v1')), get(digest)]);
    expect(first.map((response) => response.status)).toEqual(Array.from({ length: 21 }, () => 200));
    const head = await fetch(`${url}/v2/team/app/manifests/v1`, { method: 'HEAD' });
    expect(head.status).toBe(200);

    await eventually(() => received.length > 0, { timeoutMs: 5_000 });
    expect(received).toHaveLength(1);
    const pulls = received[0]?.pulls ?? [];
    expect(pulls).toHaveLength(21);
    expect(pulls.filter((p) => p.tag === 'v1')).toHaveLength(20);
    expect(pulls.find((p) => p.tag === null)).toMatchObject({
      repository: 'team/app',
      project: 'team',
      digest,
      mediaType,
      size: manifest.length,
      actor: null,
      requestId: expect.any(String) as unknown,
    });

    // The publish of that batch hangs for ever; pulls are answered all the same (a pull that
    // waited on it would never be).
    const again = await Promise.all(Array.from({ length: 20 }, () => get('v1')));
    expect(again.every((response) => response.status === 200)).toBe(true);
  });
});
