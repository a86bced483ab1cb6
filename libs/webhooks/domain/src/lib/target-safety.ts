import { BlockList, isIP, SocketAddress } from 'node:net';
import { parseCidr } from '@berth/naming';

/**
 * Where webhooks may be sent. Targets are checked twice: the URL when a subscription is saved
 * ({@link checkTargetUrl}), and every resolved address right before connecting
 * ({@link checkTargetAddress}). The delivery must connect to the very address it checked (pin
 * it; never resolve again), or a DNS answer that changes in between (DNS rebinding) slips past.
 *
 * Refused unless an allowed CIDR contains the address: loopback, link-local (which holds the
 * cloud metadata address 169.254.169.254), unspecified, multicast and reserved addresses, the
 * metadata addresses that sit elsewhere (AWS `fd00:ec2::254`, Alibaba `100.100.100.200`, Azure's
 * `168.63.129.16`), the same IPv4 ranges written as IPv4-mapped IPv6 (`::ffff:169.254.169.254`)
 * or through the NAT64 prefix (`64:ff9b::a9fe:a9fe`), and deprecated IPv4-compatible IPv6.
 * Private ranges (RFC 1918, RFC 4193 `fc00::/7`, CGNAT) are allowed, as in Harbor: on-premises
 * CI usually lives there, and this guard is about the registry's own host and cloud, not about
 * the network it serves.
 */
export interface TargetPolicy {
  /** CIDRs (or single addresses) an administrator allows even though they are refused by default. */
  readonly allowedCidrs: readonly string[];
}

/** Why a target was refused. */
export type TargetRefusal =
  | 'invalid-url'
  | 'unsupported-scheme'
  | 'credentials-in-url'
  | 'missing-host'
  | 'too-long'
  | 'invalid-address'
  | 'blocked-address';

/** A refused target: the reason, and a message for the API's answer or the delivery log. */
export interface TargetRefused {
  readonly ok: false;
  readonly reason: TargetRefusal;
  readonly message: string;
}

/** The longest target URL accepted. */
export const MAX_TARGET_URL_LENGTH = 2048;

/**
 * Checks a target URL when a subscription is saved: http or https only, no user name or
 * password (secrets belong in the signing secret or custom headers, not in a URL that shows in
 * logs), a host, at most {@link MAX_TARGET_URL_LENGTH} characters. A host that is an IP address
 * (in any spelling the URL parser normalizes, such as `http://2130706433/`) or `localhost` is
 * checked as {@link checkTargetAddress} would check it; other host names are checked when
 * resolved, at delivery. Returns the parsed URL when it passes.
 */
export function checkTargetUrl(
  url: string,
  policy: TargetPolicy,
): { readonly ok: true; readonly url: URL } | TargetRefused {
  if (url.length > MAX_TARGET_URL_LENGTH) {
    return refuse('too-long', `the URL is longer than ${MAX_TARGET_URL_LENGTH} characters`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refuse('invalid-url', 'not an absolute URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return refuse('unsupported-scheme', `only http and https targets are allowed, not ${parsed.protocol}`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    return refuse('credentials-in-url', 'the URL must not carry a user name or password');
  }
  if (parsed.hostname === '') return refuse('missing-host', 'the URL has no host');
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  const literal = isIP(host) !== 0 ? host : isLocalhost(host) ? '127.0.0.1' : null;
  if (literal !== null) {
    const address = checkTargetAddress(literal, policy);
    if (!address.ok) return address;
  }
  return { ok: true, url: parsed };
}

/**
 * Checks one resolved address right before connecting: refused if a default-blocked range holds
 * it and no allowed CIDR does (see {@link TargetPolicy}). An allowed IPv4 CIDR also covers that
 * range's IPv4-mapped IPv6 form. Throws a `CidrError` (of `@berth/naming`) if the policy holds a malformed CIDR
 * (validate the configuration at boot with {@link parseCidr} so that never happens).
 */
export function checkTargetAddress(ip: string, policy: TargetPolicy): { readonly ok: true } | TargetRefused {
  const address = ip.replace(/%.*$/, '');
  const version = isIP(address);
  if (version === 0) return refuse('invalid-address', `"${ip.slice(0, 100)}" is not an IP address`);
  // One parsed address for every list: a list given a string parses it again for each check.
  const socketAddress = new SocketAddress({ address, family: version === 4 ? 'ipv4' : 'ipv6' });
  if (allowList(policy).check(socketAddress) || !ANY_BLOCKED.check(socketAddress)) return { ok: true };
  const blocked = BLOCKED.find((range) => range.list.check(socketAddress));
  if (blocked === undefined) return { ok: true };
  return refuse(
    'blocked-address',
    `${address} is refused: ${blocked.label} (${blocked.cidr}); webhooks reach it only if an administrator allows a CIDR that contains it`,
  );
}

function refuse(reason: TargetRefusal, message: string): TargetRefused {
  return { ok: false, reason, message };
}

function isLocalhost(host: string): boolean {
  const lower = host.toLowerCase();
  return lower === 'localhost' || lower.endsWith('.localhost');
}

/**
 * The allowed CIDRs of each policy, parsed once: a sender checks every attempt's addresses
 * against the same policy object (policies are read-only).
 */
const allowLists = new WeakMap<TargetPolicy, BlockList>();

function allowList(policy: TargetPolicy): BlockList {
  const known = allowLists.get(policy);
  if (known !== undefined) return known;
  const list = new BlockList();
  for (const value of policy.allowedCidrs) {
    const cidr = parseCidr(value);
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  allowLists.set(policy, list);
  return list;
}

/** The IPv4 ranges refused by default, with what they are. */
const BLOCKED_IPV4: readonly (readonly [cidr: string, label: string])[] = [
  ['0.0.0.0/8', 'unspecified ("this network")'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local (cloud metadata)'],
  ['100.100.100.200/32', 'cloud metadata (Alibaba Cloud)'],
  ['168.63.129.16/32', 'cloud platform (Azure WireServer)'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved or broadcast'],
];

/** The IPv6 ranges refused by default, with what they are. */
const BLOCKED_IPV6: readonly (readonly [cidr: string, label: string])[] = [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'IPv4-compatible IPv6 (deprecated)'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
  ['fd00:ec2::254/128', 'cloud metadata (AWS)'],
];

/**
 * Every default-blocked range, one block list each so that a refusal can name its range. BlockList
 * matches an IPv4 rule against IPv4-mapped IPv6 addresses by itself; the NAT64 forms
 * (`64:ff9b::/96` + the IPv4 address) are added explicitly.
 */
const BLOCKED: readonly { readonly cidr: string; readonly label: string; readonly list: BlockList }[] = [
  ...BLOCKED_IPV4,
  ...BLOCKED_IPV6,
  ...BLOCKED_IPV4.map(([cidr, label]) => [nat64(cidr), `${label} via NAT64`] as const),
].map(([cidr, label]) => {
  const parsed = parseCidr(cidr);
  const list = new BlockList();
  list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  return { cidr, label, list };
});

/** All of {@link BLOCKED} in one list: most addresses are in none, and one check says so. */
const ANY_BLOCKED = new BlockList();
for (const { cidr } of BLOCKED) {
  const parsed = parseCidr(cidr);
  ANY_BLOCKED.addSubnet(parsed.address, parsed.prefix, parsed.family);
}

/** The NAT64 (RFC 6052 well-known prefix) form of an IPv4 CIDR: `64:ff9b::a9fe:0/112`. */
function nat64(cidr: string): string {
  const { address, prefix } = parseCidr(cidr);
  const [a = 0, b = 0, c = 0, d = 0] = address.split('.').map(Number);
  const hex = (high: number, low: number): string => ((high << 8) | low).toString(16);
  return `64:ff9b::${hex(a, b)}:${hex(c, d)}/${96 + prefix}`;
}
