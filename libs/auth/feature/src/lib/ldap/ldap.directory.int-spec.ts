import { startSlapd, type SlapdServer } from '@berth/testing';
import {
  LDAP_SETTING_DEFAULTS,
  LdapDirectory,
  LdapUnavailableError,
  type LdapSettings,
} from './ldap.directory';

const ALICE = { uid: 'alice', password: 'alice-secret', mail: 'alice@berth.test', cn: 'Alice Liddell' };
const BOB = { uid: 'bob', password: 'bob-secret', mail: 'bob@berth.test' };
/** In no group and without an email address. */
const CAROL = { uid: 'carol', password: 'carol-secret' };
/** A legitimate name with filter metacharacters, which escaping must keep working. */
const OBRIEN = { uid: 'o(brien)*', password: 'obrien-secret' };

describe('LdapDirectory against OpenLDAP', () => {
  let slapd: SlapdServer;
  let sut: LdapDirectory;

  const settingsFor = (server: SlapdServer): LdapSettings => ({
    ...LDAP_SETTING_DEFAULTS,
    url: server.url,
    bindDn: server.bindDn,
    bindPassword: server.bindPassword,
    userBase: server.userBase,
    groupBase: server.groupBase,
  });

  beforeAll(async () => {
    slapd = await startSlapd({
      users: [ALICE, BOB, CAROL, OBRIEN],
      groups: [
        { cn: 'developers', members: ['alice', 'bob'] },
        { cn: 'admins', members: ['alice'] },
        { cn: 'odd-names', members: ['o(brien)*'] },
      ],
    });
    sut = new LdapDirectory(settingsFor(slapd));
  });

  afterAll(async () => {
    await slapd.stop();
  });

  it('returns the username, DN, email and groups of a user whose password matches', async () => {
    await expect(sut.authenticate('alice', ALICE.password)).resolves.toEqual({
      username: 'alice',
      dn: slapd.userDn('alice'),
      email: 'alice@berth.test',
      groups: ['admins', 'developers'],
    });
  });

  it("returns the directory's spelling of the username, not the one typed", async () => {
    const identity = await sut.authenticate(' ALICE ', ALICE.password);

    expect(identity?.username).toBe('alice');
  });

  it('refuses a wrong password', async () => {
    await expect(sut.authenticate('alice', BOB.password)).resolves.toBeNull();
  });

  it('refuses an unknown user', async () => {
    await expect(sut.authenticate('mallory', ALICE.password)).resolves.toBeNull();
  });

  it('refuses an empty password, which LDAP would treat as an unauthenticated bind that succeeds', async () => {
    await expect(sut.authenticate('alice', '')).resolves.toBeNull();
  });

  it.each(['*', 'alice)(uid=*', '*)(|(uid=*', 'a*', 'alice\\', 'alice\0', '*)(uid=alice'])(
    'refuses the filter injection %j with any real password',
    async (username) => {
      for (const user of [ALICE, BOB, CAROL, OBRIEN]) {
        await expect(sut.authenticate(username, user.password)).resolves.toBeNull();
      }
    },
  );

  it('logs in a user whose name contains filter metacharacters', async () => {
    await expect(sut.authenticate('o(brien)*', OBRIEN.password)).resolves.toMatchObject({
      username: 'o(brien)*',
      email: null,
      groups: ['odd-names'],
    });
  });

  it('refuses an overlong username without an error', async () => {
    await expect(sut.authenticate('a'.repeat(10_000), ALICE.password)).resolves.toBeNull();
  });

  it('returns no groups for a user in none', async () => {
    await expect(sut.authenticate('carol', CAROL.password)).resolves.toMatchObject({
      username: 'carol',
      email: null,
      groups: [],
    });
  });

  it('sees users and group memberships added after the start', async () => {
    await slapd.addUser({ uid: 'dave', password: 'dave-secret', mail: 'dave@berth.test' });
    await slapd.addToGroup('developers', 'dave');

    await expect(sut.authenticate('dave', 'dave-secret')).resolves.toMatchObject({
      groups: ['developers'],
    });
  });

  it('throws LdapUnavailableError when the service account cannot bind', async () => {
    const misconfigured = new LdapDirectory({ ...settingsFor(slapd), bindPassword: 'not-the-password' });

    await expect(misconfigured.authenticate('alice', ALICE.password)).rejects.toBeInstanceOf(
      LdapUnavailableError,
    );
  });

  it('throws LdapUnavailableError when the user base does not exist', async () => {
    const misconfigured = new LdapDirectory({
      ...settingsFor(slapd),
      userBase: 'ou=nobody,dc=berth,dc=test',
    });

    await expect(misconfigured.authenticate('alice', ALICE.password)).rejects.toBeInstanceOf(
      LdapUnavailableError,
    );
  });

  it('throws LdapUnavailableError when the directory is down', async () => {
    const other = await startSlapd({ users: [ALICE] });
    const directory = new LdapDirectory(settingsFor(other));
    await expect(directory.authenticate('alice', ALICE.password)).resolves.not.toBeNull();

    await other.stop();

    await expect(directory.authenticate('alice', ALICE.password)).rejects.toBeInstanceOf(
      LdapUnavailableError,
    );
  });
});
