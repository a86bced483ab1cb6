import { isIP } from 'node:net';
import type { Client, Entry } from 'ldapts';

/** ldapts (~5 MB) is loaded only when a directory is configured. */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy, see above
const ldapts = (): typeof import('ldapts') => require('ldapts') as typeof import('ldapts');

/** How Berth reaches an LDAP directory and finds users and their groups in it. */
export interface LdapSettings {
  /** `ldap://host:port` or `ldaps://host:port`. */
  readonly url: string;
  /** The service account that searches for users and groups; it needs read access to both. */
  readonly bindDn: string;
  readonly bindPassword: string;
  /** Where users are searched (whole subtree). */
  readonly userBase: string;
  /**
   * The filter that finds a user, with `{username}` where the escaped username goes, e.g.
   * `(uid={username})`. When it has the form `(attribute={username})` somewhere, the directory's
   * own spelling of that attribute becomes the username (see {@link LdapIdentity.username}).
   */
  readonly userFilter: string;
  /** Where groups are searched (whole subtree). */
  readonly groupBase: string;
  /**
   * The filter that finds a user's groups, with `{dn}` (the user's DN) and/or `{username}`, both
   * escaped, e.g. `(member={dn})` for `groupOfNames` or `(memberUid={username})` for `posixGroup`.
   */
  readonly groupFilter: string;
  /** The attribute of a group entry that holds its name, e.g. `cn`. */
  readonly groupNameAttribute: string;
  /** The attribute of a user entry that holds the email address, e.g. `mail`. */
  readonly emailAttribute: string;
  /** Limit for connecting and for each operation, in milliseconds. */
  readonly timeoutMs: number;
  /** Whether to upgrade `ldap://` connections with StartTLS before binding. */
  readonly startTls: boolean;
}

/** The defaults of the settings that most directories share (OpenLDAP with `groupOfNames`). */
export const LDAP_SETTING_DEFAULTS = {
  userFilter: '(uid={username})',
  groupFilter: '(member={dn})',
  groupNameAttribute: 'cn',
  emailAttribute: 'mail',
  timeoutMs: 5_000,
  startTls: false,
} as const satisfies Partial<LdapSettings>;

/** A user whose password the directory accepted. */
export interface LdapIdentity {
  /**
   * The username as the directory spells it when the user filter names the attribute it matches
   * (`(uid={username})` gives the entry's `uid`), so that `Alice` and `alice ` do not become
   * accounts of their own; otherwise the username as given.
   */
  readonly username: string;
  /** The DN of the user's entry. */
  readonly dn: string;
  /** The first value of the email attribute, or null when the entry has none. */
  readonly email: string | null;
  /** Names of the groups the user is in, sorted, without duplicates. */
  readonly groups: string[];
}

/**
 * The directory could not give an answer: it is unreachable, timed out, refused the service
 * account, or rejected a search (e.g. a base DN that does not exist). Callers tell this apart from
 * a denied login (`null`), which is the user's fault, not the operator's.
 */
export class LdapUnavailableError extends Error {
  override readonly name = 'LdapUnavailableError';

  constructor(
    /** The directory's URL. */
    readonly url: string,
    /** What was being done when it failed, e.g. `service bind`. */
    readonly step: string,
    cause: unknown,
  ) {
    super(`LDAP directory ${url} is unavailable (${step}): ${describe(cause)}`, { cause });
  }
}

/**
 * Longest username sent to the directory. No real account name is longer, and a bound keeps
 * oversized filters away from the server.
 */
const MAX_USERNAME_LENGTH = 256;

/** Finds `(attribute={username})` in a user filter. */
const USERNAME_ATTRIBUTE = /\(\s*([A-Za-z][\w-]*)\s*=\s*\{username\}\s*\)/;

/**
 * Checks passwords against an LDAP directory and reads the user's email and groups.
 *
 * A login takes two connections: one bound as the service account, which finds the user and
 * later the groups, and one on which the user's own DN binds with the password; the user's bind
 * decides, and groups are read with the service account's rights, not the user's. Both are
 * always unbound before {@link authenticate} settles.
 */
export class LdapDirectory {
  private readonly usernameAttribute: string | null;

  constructor(private readonly settings: LdapSettings) {
    if (!settings.userFilter.includes('{username}')) {
      throw new Error('the LDAP user filter must contain {username}');
    }
    if (!settings.groupFilter.includes('{dn}') && !settings.groupFilter.includes('{username}')) {
      throw new Error('the LDAP group filter must contain {dn} or {username}');
    }
    this.usernameAttribute = USERNAME_ATTRIBUTE.exec(settings.userFilter)?.[1] ?? null;
  }

  /**
   * Checks `password` for `username`. Resolves the identity when exactly one entry matches the
   * user filter and binding as it with the password succeeds; resolves `null` when the username
   * is empty or longer than 256 characters, the password is empty (an LDAP bind with an empty
   * password is an unauthenticated bind that some servers accept), no entry or several match, or the
   * directory rejects the password. The username and DN are escaped (RFC 4515) before they go
   * into a filter, so they cannot change its meaning.
   *
   * @throws LdapUnavailableError when the directory cannot answer (see the class).
   */
  async authenticate(username: string, password: string): Promise<LdapIdentity | null> {
    if (username.length === 0 || username.length > MAX_USERNAME_LENGTH || password.length === 0) {
      return null;
    }
    const service = await this.connect('service bind', this.settings.bindDn, this.settings.bindPassword);
    try {
      const user = await this.findUser(service, username);
      // An empty DN would turn the bind below into an anonymous one.
      if (!user || user.dn === '') return null;
      if (!(await this.passwordMatches(user.dn, password))) return null;
      const canonical = this.canonicalUsername(user, username);
      const groups = await this.groupsOf(service, canonical, user.dn);
      return {
        username: canonical,
        dn: user.dn,
        email: firstValue(user[this.settings.emailAttribute]),
        groups,
      };
    } finally {
      await close(service);
    }
  }

  private async findUser(service: Client, username: string): Promise<Entry | null> {
    const attributes = [this.settings.emailAttribute];
    if (this.usernameAttribute !== null) attributes.push(this.usernameAttribute);
    const { searchEntries } = await this.unavailableOnError('user search', () =>
      service.search(this.settings.userBase, {
        scope: 'sub',
        filter: fill(this.settings.userFilter, { username }),
        attributes,
        // Two are enough to tell "exactly one" from "ambiguous" without reading a whole directory.
        sizeLimit: 2,
        timeLimit: this.timeLimitSeconds(),
      }),
    );
    const [entry, ...others] = searchEntries;
    return entry !== undefined && others.length === 0 ? entry : null;
  }

  private async passwordMatches(dn: string, password: string): Promise<boolean> {
    let client: Client;
    try {
      client = await this.connect('user bind', dn, password);
    } catch (error) {
      if (error instanceof LdapUnavailableError && isDenial(error.cause)) return false;
      throw error;
    }
    await close(client);
    return true;
  }

  private async groupsOf(service: Client, username: string, dn: string): Promise<string[]> {
    const attribute = this.settings.groupNameAttribute;
    const { searchEntries } = await this.unavailableOnError('group search', () =>
      service.search(this.settings.groupBase, {
        scope: 'sub',
        filter: fill(this.settings.groupFilter, { username, dn }),
        attributes: [attribute],
        timeLimit: this.timeLimitSeconds(),
      }),
    );
    const names = searchEntries.flatMap((entry) => {
      const name = firstValue(entry[attribute]);
      return name === null ? [] : [name];
    });
    return [...new Set(names)].sort();
  }

  /** The directory's spelling of the username: the value that matches what the user typed. */
  private canonicalUsername(entry: Entry, username: string): string {
    if (this.usernameAttribute === null) return username;
    const values = allValues(entry[this.usernameAttribute]);
    const typed = normalize(username);
    return values.find((value) => normalize(value) === typed) ?? values[0] ?? username;
  }

  /** Opens a client, upgrades it to TLS if configured, and binds; closes it again on failure. */
  private async connect(step: string, dn: string, password: string): Promise<Client> {
    const client = new (ldapts().Client)({
      url: this.settings.url,
      timeout: this.settings.timeoutMs,
      connectTimeout: this.settings.timeoutMs,
    });
    try {
      if (this.settings.startTls) {
        const host = new URL(this.settings.url).hostname.replace(/^\[|\]$/g, '');
        // The upgraded socket checks the certificate against `host`; SNI takes names only.
        await client.startTLS(isIP(host) === 0 ? { host, servername: host } : { host });
      }
      await client.bind(dn, password);
      return client;
    } catch (error) {
      await close(client);
      throw new LdapUnavailableError(this.settings.url, step, error);
    }
  }

  private async unavailableOnError<T>(step: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw new LdapUnavailableError(this.settings.url, step, error);
    }
  }

  /** The server-side limit of a search; LDAP counts it in whole seconds. */
  private timeLimitSeconds(): number {
    return Math.max(1, Math.ceil(this.settings.timeoutMs / 1000));
  }
}

/** Whether a failed bind means "wrong credentials" rather than "directory in trouble". */
function isDenial(error: unknown): boolean {
  const { InvalidCredentialsError, InappropriateAuthError } = ldapts();
  return error instanceof InvalidCredentialsError || error instanceof InappropriateAuthError;
}

/** Replaces `{name}` placeholders with RFC 4515-escaped values, in one pass. */
function fill(template: string, values: { readonly username: string; readonly dn?: string }): string {
  // A replacer function, unlike a replacement string, gives `$&` and friends no special meaning.
  return template.replace(/\{(username|dn)\}/g, (placeholder, name: 'username' | 'dn') => {
    const value = values[name];
    return value === undefined ? placeholder : ldapts().Filter.escape(value);
  });
}

function allValues(value: Entry[string] | undefined): string[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => (typeof item === 'string' ? item : item.toString('utf8')));
}

function firstValue(value: Entry[string] | undefined): string | null {
  return allValues(value)[0] ?? null;
}

/** Approximates LDAP's caseIgnoreMatch: case and surrounding or repeated spaces do not count. */
function normalize(value: string): string {
  return value.trim().replace(/ +/g, ' ').toLowerCase();
}

/** Unbinds and drops the socket. The answer is already known, so a failed unbind changes nothing. */
async function close(client: Client): Promise<void> {
  await client.unbind().catch(() => undefined);
}

function describe(error: unknown): string {
  // ldapts's result code errors carry little more than the code, so the class name tells the story.
  return error instanceof Error ? `${error.name}: ${error.message.trim()}` : String(error);
}
