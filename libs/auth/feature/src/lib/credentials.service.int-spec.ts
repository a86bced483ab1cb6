import { hashGeneratedSecret, hashSecret } from '@berth/auth-core';
import { openDatabase, type Database } from '@berth/db';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import pino from 'pino';
import { AccountRepository } from './account.repository';
import { AuditRepository } from './audit.repository';
import { Auditor } from './auditor';
import { CredentialsService } from './credentials.service';
import { RobotRepository } from './robot.repository';
import { LoginRateLimiter, type RateLimits } from './token/rate-limiter';

const logger = pino({ level: 'silent' });
const LIMITS: RateLimits = { windowSeconds: 60, failuresPerAccount: 3, failuresPerAddress: 5 };
const PERMISSIONS = [{ project: 'team', actions: ['pull', 'push'] }] as const;

describe('CredentialsService on PostgreSQL', () => {
  let testDb: TestDatabase;
  let database: Database;
  let accounts: AccountRepository;
  let robots: RobotRepository;
  let audit: AuditRepository;
  let sut: CredentialsService;
  /** A source address of the test's own, so that one test's failures never limit another's. */
  let address: string;
  let addresses = 0;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = await openDatabase({ url: testDb.url, embeddedDir: '' });
    accounts = new AccountRepository(database.client);
    robots = new RobotRepository(database.client);
    audit = new AuditRepository(database.client);

    await accounts.create({
      username: 'alice',
      passwordHash: await hashSecret('correct horse'),
      email: 'alice@example.com',
      admin: false,
      source: 'local',
      groups: ['devs'],
    });
    await accounts.create({
      username: 'root',
      passwordHash: await hashSecret('root password'),
      email: null,
      admin: true,
      source: 'local',
    });
    const robot = (name: string, secretHash: string | null, expiresAt: Date | null) =>
      robots.create({
        name,
        description: null,
        secretHash,
        permissions: PERMISSIONS,
        expiresAt,
        createdBy: 'root',
      });
    await robot('ci', hashGeneratedSecret('ci-secret'), null);
    await robot('expired', hashGeneratedSecret('expired-secret'), new Date(Date.now() - 1000));
    await robot('secretless', null, null);
  });

  afterAll(async () => {
    await database.close();
    await testDb.drop();
  });

  beforeEach(() => {
    // A limiter of the test's own, as each auth replica keeps its own.
    sut = new CredentialsService(
      accounts,
      robots,
      new LoginRateLimiter(LIMITS),
      new Auditor(audit, logger),
      null,
    );
    address = `203.0.113.${++addresses}`;
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  const context = () => ({ sourceAddress: address, requestId: `req-${addresses}` });
  const invalid = { ok: false, reason: 'invalid', retryAfterSeconds: null };

  /** The login records of this test's address, oldest first. */
  async function loginsFrom(from = address) {
    const { entries } = await audit.query({ action: 'login' }, 0, 200);
    return entries.filter((entry) => entry.sourceAddress === from).reverse();
  }

  describe('local users', () => {
    it('signs a user in with its password, with its admin flag and groups', async () => {
      expect(await sut.authenticate('alice', 'correct horse', context())).toEqual({
        ok: true,
        identity: { kind: 'user', username: 'alice', admin: false, groups: ['devs'] },
      });
      expect(await sut.authenticate('root', 'root password', context())).toEqual({
        ok: true,
        identity: { kind: 'user', username: 'root', admin: true, groups: [] },
      });
      // The caller audits what a success was used for; a success itself leaves no failure behind.
      expect(await loginsFrom()).toEqual([]);
    });

    it('refuses a wrong password and an unknown user alike, and audits each failure', async () => {
      expect(await sut.authenticate('alice', 'wrong', context())).toEqual(invalid);
      expect(await sut.authenticate('mallory', 'correct horse', context())).toEqual(invalid);
      expect(await sut.authenticate('alice', '', context())).toEqual(invalid);
      expect(await sut.authenticate('', 'correct horse', context())).toEqual(invalid);
      expect(await sut.authenticate('a'.repeat(257), 'correct horse', context())).toEqual(invalid);

      const logins = await loginsFrom();
      expect(logins.map((entry) => entry.actor)).toEqual(['alice', 'mallory', 'alice', '', 'a'.repeat(256)]);
      for (const entry of logins)
        expect(entry).toMatchObject({
          outcome: 'failure',
          resource: null,
          detail: { reason: 'invalid_credentials', requestId: context().requestId },
        });
    });

    it('takes a name or password holding text PostgreSQL cannot store as simply invalid, and audits it storably', async () => {
      expect(await sut.authenticate('ali\u0000ce', 'correct horse', context())).toEqual(invalid);
      expect(await sut.authenticate('alice', 'correct\u0000horse', context())).toEqual(invalid);
      expect(await sut.authenticate('\ud800alice', 'correct horse', context())).toEqual(invalid);
      expect((await loginsFrom()).map((entry) => [entry.actor, entry.outcome])).toEqual([
        ['ali\ufffdce', 'failure'],
        ['alice', 'failure'],
        ['\ufffdalice', 'failure'],
      ]);
    });
  });

  describe('robots', () => {
    it('signs a robot in with its secret, with its permissions', async () => {
      expect(await sut.authenticate('robot$ci', 'ci-secret', context())).toEqual({
        ok: true,
        identity: { kind: 'robot', name: 'ci', permissions: PERMISSIONS },
      });
    });

    it('refuses a wrong secret, an expired robot, one without a secret and an unknown one', async () => {
      expect(await sut.authenticate('robot$ci', 'wrong-secret', context())).toEqual(invalid);
      expect(await sut.authenticate('robot$expired', 'expired-secret', context())).toEqual(invalid);
      expect(await sut.authenticate('robot$secretless', 'anything', context())).toEqual(invalid);
      expect(await sut.authenticate('robot$nobody', 'ci-secret', context())).toEqual(invalid);
      // A robot's name is no user's: `ci` alone is nobody.
      expect(await sut.authenticate('ci', 'ci-secret', context())).toEqual(invalid);
      expect((await loginsFrom()).map((entry) => [entry.actor, entry.outcome])).toEqual([
        ['robot$ci', 'failure'],
        ['robot$expired', 'failure'],
        ['robot$secretless', 'failure'],
        ['robot$nobody', 'failure'],
        ['ci', 'failure'],
      ]);
    });
  });

  describe('rate limiting', () => {
    it('refuses an account after its failures, even the right password, until the window has passed', async () => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'queueMicrotask'] });
      // From different addresses: the account's count is what stops them.
      for (let i = 0; i < LIMITS.failuresPerAccount; i++)
        expect(
          await sut.authenticate('alice', `guess ${i}`, {
            sourceAddress: `${address}-${i}`,
            requestId: null,
          }),
        ).toEqual(invalid);

      expect(await sut.authenticate('alice', 'correct horse', context())).toEqual({
        ok: false,
        reason: 'rate_limited',
        retryAfterSeconds: LIMITS.windowSeconds,
      });
      jest.setSystemTime(Date.now() + 20_000);
      expect(await sut.authenticate('ALICE', 'correct horse', context())).toEqual({
        ok: false,
        reason: 'rate_limited',
        retryAfterSeconds: LIMITS.windowSeconds - 20,
      });
      // Other accounts are not slowed down.
      expect((await sut.authenticate('root', 'root password', context())).ok).toBe(true);

      jest.setSystemTime(Date.now() + (LIMITS.windowSeconds - 20) * 1000);
      expect((await sut.authenticate('alice', 'correct horse', context())).ok).toBe(true);
      expect((await loginsFrom()).map((entry) => [entry.actor, entry.outcome, entry.detail])).toEqual([
        ['alice', 'denied', { reason: 'rate_limited', requestId: context().requestId }],
        ['ALICE', 'denied', { reason: 'rate_limited', requestId: context().requestId }],
      ]);
    });

    it('refuses an address that sprays one password over many accounts, and no other address', async () => {
      for (let i = 0; i < LIMITS.failuresPerAddress; i++)
        expect(await sut.authenticate(`user${i}`, 'Summer2024!', context())).toEqual(invalid);

      const limited = await sut.authenticate('alice', 'correct horse', context());
      expect(limited).toMatchObject({ ok: false, reason: 'rate_limited' });
      expect(limited.ok ? null : limited.retryAfterSeconds).toBeGreaterThan(0);
      expect(await sut.authenticate('robot$ci', 'ci-secret', context())).toMatchObject({
        reason: 'rate_limited',
      });
      expect(
        (
          await sut.authenticate('alice', 'correct horse', {
            ...context(),
            sourceAddress: `${address}-other`,
          })
        ).ok,
      ).toBe(true);
    });

    it("forgives an account's failures when it signs in, but not its address's", async () => {
      const other = `${address}-b`;
      for (let i = 0; i < LIMITS.failuresPerAccount - 1; i++)
        await sut.authenticate('alice', 'wrong', { sourceAddress: other, requestId: null });
      expect((await sut.authenticate('alice', 'correct horse', context())).ok).toBe(true);
      // Its count starts again: as many failures as before do not limit it.
      for (let i = 0; i < LIMITS.failuresPerAccount - 1; i++)
        await sut.authenticate('alice', 'wrong', { sourceAddress: other, requestId: null });
      expect((await sut.authenticate('alice', 'correct horse', context())).ok).toBe(true);
      // The address that failed four times is one failure from its limit of five.
      await sut.authenticate('nobody', 'wrong', { sourceAddress: other, requestId: null });
      expect(
        await sut.authenticate('root', 'root password', { sourceAddress: other, requestId: null }),
      ).toMatchObject({
        reason: 'rate_limited',
      });
    });
  });
});
