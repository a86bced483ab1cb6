import { isIP } from 'node:net';

/** A parsed CIDR. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** A CIDR in the configuration is malformed; `cidr` is the offending value. */
export class CidrError extends Error {
  override readonly name = 'CidrError';
  constructor(
    readonly cidr: string,
    reason: string,
  ) {
    super(`invalid CIDR "${cidr.slice(0, 100)}": ${reason}`);
  }
}

/**
 * Parses `address/prefix` (IPv4 or IPv6); a bare address stands for itself (/32 or /128). Host
 * bits below the prefix are ignored, as routers do.
 */
export function parseCidr(value: string): Cidr {
  const [address = '', prefixText, extra] = value.trim().split('/');
  if (extra !== undefined) throw new CidrError(value, 'more than one "/"');
  const version = isIP(address);
  if (version === 0 || address.includes('%')) throw new CidrError(value, 'not an IPv4 or IPv6 address');
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const bits = version === 4 ? 32 : 128;
  if (prefixText === undefined) return { address, prefix: bits, family };
  if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
    throw new CidrError(value, `the prefix length must be a whole number from 0 to ${bits}`);
  }
  return { address, prefix: Number(prefixText), family };
}
