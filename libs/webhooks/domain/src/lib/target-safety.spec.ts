import { CidrError } from '@berth/naming';
import {
  checkTargetAddress,
  checkTargetUrl,
  MAX_TARGET_URL_LENGTH,
  type TargetPolicy,
} from './target-safety';

const DEFAULTS: TargetPolicy = { allowedCidrs: [] };
const LOOPBACK_ALLOWED: TargetPolicy = { allowedCidrs: ['127.0.0.0/8'] };

describe('checkTargetAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['169.254.169.254', 'link-local'],
    ['169.254.0.1', 'link-local'],
    ['100.100.100.200', 'Alibaba'],
    ['168.63.129.16', 'Azure'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['fd00:ec2::254', 'AWS'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'link-local (cloud metadata) via NAT64'],
    ['64:ff9b::127.0.0.1', 'loopback via NAT64'],
    ['::7f00:1', 'IPv4-compatible'],
  ])('refuses %s by default (%s)', (ip, label) => {
    const sut = checkTargetAddress(ip, DEFAULTS);
    expect(sut).toMatchObject({ ok: false, reason: 'blocked-address' });
    expect(!sut.ok && sut.message).toContain(label);
  });

  it.each([
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.10',
    '100.64.0.1',
    '8.8.8.8',
    '100.100.100.201',
    '169.253.255.255',
    '169.255.0.0',
    'fd12:3456:789a::1',
    'fd00:ec2::253',
    '2001:db8::1',
    '::ffff:10.0.0.1',
    '64:ff9b::808:808',
  ])('allows %s by default: private networks are where on-premises CI lives', (ip) => {
    expect(checkTargetAddress(ip, DEFAULTS)).toEqual({ ok: true });
  });

  it('names the range in its message', () => {
    const sut = checkTargetAddress('169.254.169.254', DEFAULTS);
    expect(!sut.ok && sut.message).toBe(
      '169.254.169.254 is refused: link-local (cloud metadata) (169.254.0.0/16); webhooks reach it only if an administrator allows a CIDR that contains it',
    );
  });

  it('lets an allowed CIDR through, in its IPv4-mapped form too, and nothing beyond it', () => {
    expect(checkTargetAddress('127.0.0.1', LOOPBACK_ALLOWED)).toEqual({ ok: true });
    expect(checkTargetAddress('127.8.9.10', LOOPBACK_ALLOWED)).toEqual({ ok: true });
    expect(checkTargetAddress('::ffff:127.0.0.1', LOOPBACK_ALLOWED)).toEqual({ ok: true });
    expect(checkTargetAddress('::1', LOOPBACK_ALLOWED)).toMatchObject({ ok: false });
    expect(checkTargetAddress('169.254.169.254', LOOPBACK_ALLOWED)).toMatchObject({ ok: false });
  });

  it('lets a single allowed address through, and not its neighbours', () => {
    const policy = { allowedCidrs: ['169.254.10.10', '::1/128'] };
    expect(checkTargetAddress('169.254.10.10', policy)).toEqual({ ok: true });
    expect(checkTargetAddress('169.254.10.11', policy)).toMatchObject({ ok: false });
    expect(checkTargetAddress('::1', policy)).toEqual({ ok: true });
  });

  it('refuses what is not an IP address', () => {
    expect(checkTargetAddress('example.com', DEFAULTS)).toMatchObject({
      ok: false,
      reason: 'invalid-address',
    });
    expect(checkTargetAddress('', DEFAULTS)).toMatchObject({ ok: false, reason: 'invalid-address' });
    expect(checkTargetAddress('1.2.3', DEFAULTS)).toMatchObject({ ok: false, reason: 'invalid-address' });
  });

  it('throws on a malformed allowed CIDR rather than guessing', () => {
    expect(() => checkTargetAddress('10.0.0.1', { allowedCidrs: ['10.0.0.0/40'] })).toThrow(CidrError);
  });
});

describe('checkTargetUrl', () => {
  it('accepts http and https URLs and returns them parsed', () => {
    const sut = checkTargetUrl('https://ci.example.com:8443/hooks/berth?token=x', DEFAULTS);
    expect(sut.ok && sut.url.host).toBe('ci.example.com:8443');
    expect(checkTargetUrl('http://jenkins.internal/generic-webhook-trigger/invoke', DEFAULTS).ok).toBe(true);
    expect(checkTargetUrl('http://10.1.2.3:8080/hook', DEFAULTS).ok).toBe(true);
  });

  it.each([
    ['ftp://ci.example.com/hook', 'unsupported-scheme'],
    ['file:///etc/passwd', 'unsupported-scheme'],
    ['javascript:alert(1)', 'unsupported-scheme'],
    ['gopher://127.0.0.1:6379/_INFO', 'unsupported-scheme'],
    ['not a url', 'invalid-url'],
    ['/relative/path', 'invalid-url'],
    ['https://user:pass@ci.example.com/hook', 'credentials-in-url'],
    ['https://token@ci.example.com/hook', 'credentials-in-url'],
    [`https://ci.example.com/${'a'.repeat(MAX_TARGET_URL_LENGTH)}`, 'too-long'],
  ])('refuses %s (%s)', (url, reason) => {
    expect(checkTargetUrl(url, DEFAULTS)).toMatchObject({ ok: false, reason });
  });

  it.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://127.0.0.1:5000/',
    'http://[::1]/hook',
    'http://[::ffff:169.254.169.254]/',
    'http://[fd00:ec2::254]/',
    'http://2130706433/',
    'http://0x7f.1/',
    'http://0/',
    'http://127.0.0.1./',
    'http://localhost:8080/hook',
    'http://LOCALHOST./hook',
    'http://app.localhost/hook',
  ])('refuses %s, whose host is a blocked address however it is spelled', (url) => {
    expect(checkTargetUrl(url, DEFAULTS)).toMatchObject({ ok: false, reason: 'blocked-address' });
  });

  it('accepts a blocked literal address that an administrator allowed', () => {
    expect(checkTargetUrl('http://127.0.0.1:5000/hook', LOOPBACK_ALLOWED).ok).toBe(true);
    expect(checkTargetUrl('http://localhost:5000/hook', LOOPBACK_ALLOWED).ok).toBe(true);
  });

  it('leaves host names to the delivery-time address check', () => {
    expect(checkTargetUrl('http://metadata.google.internal/', DEFAULTS).ok).toBe(true);
  });
});
