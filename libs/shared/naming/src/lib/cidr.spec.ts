import { CidrError, parseCidr } from './cidr';

describe('parseCidr', () => {
  it('reads IPv4 and IPv6 CIDRs, and a bare address as a single host', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr(' fd00::/8 ')).toEqual({ address: 'fd00::', prefix: 8, family: 'ipv6' });
    expect(parseCidr('169.254.169.254')).toEqual({ address: '169.254.169.254', prefix: 32, family: 'ipv4' });
    expect(parseCidr('::1')).toEqual({ address: '::1', prefix: 128, family: 'ipv6' });
    expect(parseCidr('0.0.0.0/0')).toEqual({ address: '0.0.0.0', prefix: 0, family: 'ipv4' });
  });

  it.each([
    ['10.0.0.0/33', 'the prefix length must be a whole number from 0 to 32'],
    ['::/129', 'the prefix length must be a whole number from 0 to 128'],
    ['10.0.0.0/', 'the prefix length'],
    ['10.0.0.0/-1', 'the prefix length'],
    ['10.0.0.0/8.5', 'the prefix length'],
    ['10.0.0.0/8/16', 'more than one "/"'],
    ['10.0.0/8', 'not an IPv4 or IPv6 address'],
    ['example.com/24', 'not an IPv4 or IPv6 address'],
    ['fe80::1%eth0/64', 'not an IPv4 or IPv6 address'],
    ['', 'not an IPv4 or IPv6 address'],
  ])('refuses %p with a clear reason', (value, reason) => {
    expect(() => parseCidr(value)).toThrow(CidrError);
    expect(() => parseCidr(value)).toThrow(reason);
  });

  it('names the offending value', () => {
    expect(() => parseCidr('10.0.0.0/99')).toThrow('invalid CIDR "10.0.0.0/99"');
  });
});
