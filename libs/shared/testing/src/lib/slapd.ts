import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Attribute, Change, Client } from 'ldapts';
import { getFreePort } from './distribution';
import { spawnOwned } from './owned-child';

/** Debian's `slapd` package installs the server here, outside a non-root user's PATH. */
const SLAPD_BINARY = '/usr/sbin/slapd';

/** Where Debian keeps the schema files and the dynamically loaded backends. */
const SCHEMA_DIR = '/etc/ldap/schema';
const MODULE_DIR = '/usr/lib/ldap';

/** How long a freshly spawned slapd may take to accept a bind; it usually needs a few ms. */
const READY_TIMEOUT_MS = 10_000;

/** Starts are retried when another process took the free port between lookup and bind. */
const START_ATTEMPTS = 3;

const BASE_DN = 'dc=berth,dc=test';
const ROOT_DN = `cn=admin,${BASE_DN}`;
const SERVICE_DN = `cn=berth-service,${BASE_DN}`;
const USER_BASE = `ou=people,${BASE_DN}`;
const GROUP_BASE = `ou=groups,${BASE_DN}`;

/** A person in the test directory: an `inetOrgPerson` under {@link SlapdServer.userBase}. */
export interface SlapdUser {
  readonly uid: string;
  readonly password: string;
  /** The `mail` attribute; absent means the entry has none. */
  readonly mail?: string;
  /** The `cn` attribute; the uid when absent. */
  readonly cn?: string;
}

/** A `groupOfNames` under {@link SlapdServer.groupBase} whose members are given by uid. */
export interface SlapdGroup {
  readonly cn: string;
  /** Uids of users under {@link SlapdServer.userBase}; they need not exist (yet). */
  readonly members: readonly string[];
}

/** What the directory holds once {@link startSlapd} resolves, besides its base entries. */
export interface StartSlapdOptions {
  readonly users?: readonly SlapdUser[];
  readonly groups?: readonly SlapdGroup[];
}

/** A running OpenLDAP slapd that the caller owns. */
export interface SlapdServer {
  /** `ldap://127.0.0.1:<port>`, without a trailing slash. */
  readonly url: string;
  /** The suffix of the only database, e.g. `dc=berth,dc=test`. */
  readonly baseDn: string;
  /** A service account that may read every entry (but no password), as an application would use. */
  readonly bindDn: string;
  readonly bindPassword: string;
  /** Where users live: `ou=people,<baseDn>`. */
  readonly userBase: string;
  /** Where groups live: `ou=groups,<baseDn>`. */
  readonly groupBase: string;
  /** The DN that {@link addUser} gives the user with this uid. */
  userDn(uid: string): string;
  /** Adds a user; rejects when the uid is taken. */
  addUser(user: SlapdUser): Promise<void>;
  /** Adds a group; rejects when the cn is taken. */
  addGroup(group: SlapdGroup): Promise<void>;
  /** Adds the user with uid `uid` to the existing group `cn`. */
  addToGroup(cn: string, uid: string): Promise<void>;
  /** Kills slapd and removes its temporary directory. Safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Starts a real OpenLDAP slapd as a child process of the current user, listening on a free port of
 * 127.0.0.1, with an mdb database in a fresh temporary directory and Debian's core, cosine,
 * inetorgperson and nis schemas. The directory holds the base entry, `ou=people` and `ou=groups`,
 * a read-only service account, and the given users (with `{SSHA}` passwords) and groups (with
 * `member` set to user DNs). Access is as a real deployment would grant it: anonymous clients may
 * only bind, the service account reads everything but passwords, users read only themselves.
 *
 * Resolves once the server has accepted a bind and holds every entry; rejects, leaving nothing
 * behind, when `/usr/sbin/slapd` is missing or the server does not come up. Independent calls may
 * run at once.
 */
export async function startSlapd(options: StartSlapdOptions = {}): Promise<SlapdServer> {
  if (!existsSync(SLAPD_BINARY)) {
    throw new Error(`${SLAPD_BINARY} is missing: install Debian's slapd package`);
  }
  const rootPassword = randomBytes(18).toString('base64url');
  const bindPassword = randomBytes(18).toString('base64url');
  const running = await launch(rootPassword);
  const { url } = running;

  const server: SlapdServer = {
    url,
    baseDn: BASE_DN,
    bindDn: SERVICE_DN,
    bindPassword,
    userBase: USER_BASE,
    groupBase: GROUP_BASE,
    userDn,
    addUser: (user) => asRoot(url, rootPassword, (client) => client.add(userDn(user.uid), userEntry(user))),
    addGroup: (group) =>
      asRoot(url, rootPassword, (client) => client.add(groupDn(group.cn), groupEntry(group))),
    addToGroup: (cn, uid) =>
      asRoot(url, rootPassword, (client) =>
        client.modify(
          groupDn(cn),
          new Change({
            operation: 'add',
            modification: new Attribute({ type: 'member', values: [userDn(uid)] }),
          }),
        ),
      ),
    stop: running.stop,
  };

  try {
    await asRoot(url, rootPassword, async (client) => {
      await client.add(BASE_DN, { objectClass: ['dcObject', 'organization'], dc: 'berth', o: 'Berth' });
      await client.add(USER_BASE, { objectClass: 'organizationalUnit', ou: 'people' });
      await client.add(GROUP_BASE, { objectClass: 'organizationalUnit', ou: 'groups' });
      await client.add(SERVICE_DN, {
        objectClass: ['organizationalRole', 'simpleSecurityObject'],
        cn: 'berth-service',
        userPassword: ssha(bindPassword),
      });
      for (const user of options.users ?? []) await client.add(userDn(user.uid), userEntry(user));
      for (const group of options.groups ?? []) await client.add(groupDn(group.cn), groupEntry(group));
    });
  } catch (error) {
    await running.stop();
    throw error;
  }
  return server;
}

/** The DN of the user with this uid under `ou=people`. */
function userDn(uid: string): string {
  return `uid=${escapeDnValue(uid)},${USER_BASE}`;
}

function groupDn(cn: string): string {
  return `cn=${escapeDnValue(cn)},${GROUP_BASE}`;
}

function userEntry(user: SlapdUser): Record<string, string | string[]> {
  return {
    objectClass: 'inetOrgPerson',
    uid: user.uid,
    cn: user.cn ?? user.uid,
    sn: user.uid,
    userPassword: ssha(user.password),
    ...(user.mail === undefined ? {} : { mail: user.mail }),
  };
}

function groupEntry(group: SlapdGroup): Record<string, string | string[]> {
  // groupOfNames requires a member; the empty DN stands for "nobody", as many directories do it.
  const members = group.members.length === 0 ? [''] : group.members.map(userDn);
  return { objectClass: 'groupOfNames', cn: group.cn, member: members };
}

/** A salted SHA-1 hash in the `{SSHA}` scheme that slapd verifies without any module. */
function ssha(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password, 'utf8').update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

/** Escapes an attribute value for use in a DN string (RFC 4514, section 2.4). */
function escapeDnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/\0/g, '\\00')
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
}

/** Runs `work` on a client bound as the root DN, which slapd lets past every access rule. */
async function asRoot(url: string, password: string, work: (client: Client) => Promise<void>): Promise<void> {
  const client = new Client({ url, timeout: READY_TIMEOUT_MS, connectTimeout: READY_TIMEOUT_MS });
  try {
    await client.bind(ROOT_DN, password);
    await work(client);
  } finally {
    await client.unbind();
  }
}

function slapdConfig(dir: string, rootPassword: string): string {
  return [
    ...['core', 'cosine', 'inetorgperson', 'nis'].map((name) => `include ${SCHEMA_DIR}/${name}.schema`),
    `modulepath ${MODULE_DIR}`,
    'moduleload back_mdb',
    // Like some directories in the field, accept a DN with an empty password as an unauthenticated
    // (anonymous) bind, so that tests see a client that forgets to refuse empty passwords.
    'allow bind_anon_dn',
    `pidfile ${join(dir, 'slapd.pid')}`,
    `argsfile ${join(dir, 'slapd.args')}`,
    'database mdb',
    // The map is a sparse file; a small one keeps many concurrent servers cheap.
    'maxsize 33554432',
    `suffix "${BASE_DN}"`,
    `rootdn "${ROOT_DN}"`,
    // A cleartext root password is fine for a throwaway server that only listens on loopback.
    `rootpw ${rootPassword}`,
    `directory ${join(dir, 'db')}`,
    // Without rules slapd lets anyone read everything, which would hide a client that searches
    // with the wrong credentials.
    'access to attrs=userPassword',
    '  by anonymous auth',
    '  by * none',
    'access to *',
    `  by dn.exact="${SERVICE_DN}" read`,
    '  by self read',
    '  by anonymous auth',
    '  by * none',
    '',
  ].join('\n');
}

interface Launched {
  readonly url: string;
  readonly stop: () => Promise<void>;
}

/** Spawns slapd over a fresh directory and waits until the root DN can bind. */
async function launch(rootPassword: string): Promise<Launched> {
  for (let attempt = 1; ; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'berth-slapd-'));
    await mkdir(join(dir, 'db'));
    const configPath = join(dir, 'slapd.conf');
    await writeFile(configPath, slapdConfig(dir, rootPassword), { mode: 0o600 });
    const port = await getFreePort();
    const url = `ldap://127.0.0.1:${port}`;
    // `-d 0` keeps slapd in the foreground (a debug level stops it from detaching) without logging.
    const { child, output, stop } = spawnOwned(SLAPD_BINARY, ['-f', configPath, '-h', `${url}/`, '-d', '0'], {
      cwd: dir,
      removeOnStop: dir,
    });

    try {
      await waitUntilReady(url, rootPassword, child, output);
      return { url, stop };
    } catch (error) {
      await stop();
      if (attempt < START_ATTEMPTS && /already in use/i.test(output())) continue;
      throw error;
    }
  }
}

/** Polls with a root bind until it succeeds; fails early if the child exits. */
async function waitUntilReady(
  url: string,
  rootPassword: string,
  child: ChildProcess,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`slapd exited during start (code ${child.exitCode}):\n${output()}`);
    }
    try {
      await asRoot(url, rootPassword, () => Promise.resolve());
      return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await new Promise((wake) => setTimeout(wake, 20));
  }
  throw new Error(`slapd did not become ready within ${READY_TIMEOUT_MS} ms (${lastError}):\n${output()}`);
}
