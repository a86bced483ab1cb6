import { signToken } from '@berth/registry-token';
import { openDatabase, type Database } from '@berth/db';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import pino from 'pino';
import { KeyRing } from './key-ring';
import { SigningKeyRepository } from './signing-key.repository';

const options = { rotationSeconds: 3600, tokenTtlSeconds: 300, issuer: 'iss', audience: 'aud' };
const logger = pino({ level: 'silent' });

describe('KeyRing on PostgreSQL', () => {
  let testDb: TestDatabase;
  let database: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = await openDatabase({ url: testDb.url, embeddedDir: '' });
  });

  afterAll(async () => {
    await database.close();
    await testDb.drop();
  });

  beforeEach(async () => {
    await database.client.signingKey.deleteMany();
  });

  const ring = () => new KeyRing(new SigningKeyRepository(database.client), options, logger);
  const tokenFrom = async (sut: KeyRing) =>
    (
      await signToken({ iss: 'iss', sub: 'robot$ci', aud: 'aud', access: [] }, sut.current(), {
        ttlSeconds: 300,
      })
    ).token;

  it('makes exactly one signing key when replicas start at once, and they all sign with it', async () => {
    const replicas = [ring(), ring(), ring()];
    await Promise.all(replicas.map((r) => r.refresh()));
    expect(await database.client.signingKey.count()).toBe(1);
    const kids = new Set(replicas.map((r) => r.current().kid));
    expect(kids.size).toBe(1);
    expect((await replicas[2]?.verifier.verify(await tokenFrom(replicas[0] ?? ring())))?.sub).toBe(
      'robot$ci',
    );
  });

  it('rotates when due, keeps the old key published until its tokens expire, then drops it', async () => {
    const sut = ring();
    const start = new Date();
    await sut.refresh(start);
    const oldKid = sut.current().kid;
    const oldToken = await tokenFrom(sut);

    const changed = await sut.refresh(new Date(start.getTime() + 3601_000));
    expect(changed).toBe(true);
    expect(sut.current().kid).not.toBe(oldKid);
    expect(sut.jwks().map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, sut.current().kid]));
    expect((await sut.verifier.verify(oldToken)).sub).toBe('robot$ci');

    // Once the old key's last tokens have lived out their life and the leeway, it goes.
    await sut.refresh(new Date(start.getTime() + 3601_000 + 361_000));
    expect(sut.jwks().map((k) => k.kid)).toEqual([sut.current().kid]);
    await expect(sut.verifier.verify(oldToken)).rejects.toThrow(/unknown_key/);
  });

  it('does not rotate a key that is not due', async () => {
    const sut = ring();
    await sut.refresh();
    const kid = sut.current().kid;
    expect(await sut.refresh()).toBe(false);
    expect(sut.current().kid).toBe(kid);
  });
});
