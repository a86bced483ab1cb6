import { startS3Server, type S3ServerHandle } from '@berth/testing';
import { Client, type BucketItem } from 'minio';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { runDriverSuite } from '../testing/driver-suite';
import { createStorageDriver, openStorageDriver } from './create-storage-driver';
import type { S3StorageConfig } from './storage.config';

const MiB = 1024 * 1024;

let server: S3ServerHandle;

beforeAll(async () => {
  server = await startS3Server();
});

afterAll(async () => {
  await server.stop();
});

/** A configuration for a bucket of its own on the test server. */
function configFor(prefix: string): S3StorageConfig {
  return {
    driver: 's3',
    endpoint: server.endpoint,
    region: server.region,
    bucket: `suite-${randomBytes(6).toString('hex')}`,
    accessKey: server.accessKey,
    secretKey: server.secretKey,
    prefix,
  };
}

function clientFor(config: S3StorageConfig): Client {
  const url = new URL(config.endpoint);
  return new Client({
    endPoint: url.hostname,
    port: Number(url.port),
    useSSL: false,
    region: config.region,
    accessKey: config.accessKey,
    secretKey: config.secretKey,
  });
}

/** Every key of the bucket: under the prefix as a storage path, elsewhere as `outside:<key>`. */
async function bucketKeys(config: S3StorageConfig, keyPrefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of clientFor(config).listObjectsV2(
    config.bucket,
    '',
    true,
  ) as AsyncIterable<BucketItem>) {
    if (item.name === undefined) continue;
    keys.push(
      item.name.startsWith(keyPrefix) ? `/${item.name.slice(keyPrefix.length)}` : `outside:${item.name}`,
    );
  }
  return keys;
}

for (const [title, prefix, keyPrefix] of [
  ['S3Driver', 'berth', 'berth/'],
  ['S3Driver without a prefix', '', ''],
] as const) {
  runDriverSuite(title, async () => {
    const config = configFor(prefix);
    // openStorageDriver creates the bucket, which is part of what is tested.
    const driver = await openStorageDriver(config);
    return {
      driver,
      cleanup: async () => {
        await clientFor(config)
          .removeBucket(config.bucket)
          .catch(() => undefined);
      },
      leftovers: () => bucketKeys(config, keyPrefix),
    };
  });
}

describe('S3Driver on its own', () => {
  it('writes objects whose sizes straddle a part boundary, byte for byte', async () => {
    const config = configFor('edges');
    const sut = await openStorageDriver(config);
    for (const size of [8 * MiB - 1, 8 * MiB, 8 * MiB + 1, 16 * MiB, 16 * MiB + 1]) {
      const content = randomBytes(size);
      // Chunks of 1 MiB, so that the source ends exactly on a part boundary for some sizes.
      const chunks = Array.from({ length: Math.ceil(size / MiB) }, (_, i) =>
        content.subarray(i * MiB, (i + 1) * MiB),
      );
      expect(await sut.write('/edge', Readable.from(chunks))).toBe(size);
      expect((await sut.getContent('/edge')).equals(content)).toBe(true);
    }
    await sut.delete('/');
    expect(await bucketKeys(config, '')).toEqual([]);
  });

  it('keeps its keys under the prefix, however the prefix is spelled', async () => {
    for (const prefix of ['tenant/berth', '/tenant/berth/', 'tenant/berth/']) {
      const config = configFor(prefix);
      const sut = await openStorageDriver(config);
      await sut.putContent('/blobs/object', Buffer.from('x'));
      expect(await bucketKeys(config, '')).toEqual(['/tenant/berth/blobs/object']);
      expect(await sut.list('/')).toEqual(['/blobs']);
      await sut.delete('/');
    }
  });

  it('leaves keys outside its prefix alone', async () => {
    const config = configFor('berth');
    const sut = await openStorageDriver(config);
    const client = clientFor(config);
    await client.putObject(config.bucket, 'berthx/object', Buffer.from('neighbour'));
    await client.putObject(config.bucket, 'other', Buffer.from('neighbour'));
    await sut.putContent('/object', Buffer.from('x'));
    expect(await sut.list('/')).toEqual(['/object']);
    await sut.delete('/');
    expect((await bucketKeys(config, '')).sort()).toEqual(['/berthx/object', '/other']);
  });

  it('rejects an endpoint that is not a plain http(s) URL', () => {
    expect(() => createStorageDriver({ ...configFor(''), endpoint: 'ftp://127.0.0.1:21' })).toThrow(
      TypeError,
    );
    expect(() => createStorageDriver({ ...configFor(''), endpoint: 'http://127.0.0.1:9000/path' })).toThrow(
      TypeError,
    );
  });
});
