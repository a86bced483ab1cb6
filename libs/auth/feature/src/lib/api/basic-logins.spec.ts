import type { Identity } from '../model';
import { BasicLogins } from './basic-logins';

const alice: Identity = { kind: 'user', username: 'alice', admin: false, groups: [] };

describe('BasicLogins', () => {
  it('remembers what a check proved, for exactly the credentials checked', () => {
    const sut = new BasicLogins(30_000);
    sut.remember('alice', 'secret', alice, Date.now());
    expect(sut.get('alice', 'secret')).toEqual(alice);
    expect(sut.get('alice', 'Secret')).toBeNull();
    expect(sut.get('alic', 'esecret')).toBeNull();
  });

  it('forgets a revoked subject, also when its check began before the revocation', () => {
    const sut = new BasicLogins(30_000);
    const checkedAt = Date.now() - 5;
    sut.revoke('alice');
    sut.remember('alice', 'secret', alice, checkedAt);
    expect(sut.get('alice', 'secret')).toBeNull();
  });

  it('keeps nothing when the cache is off, and never a CI workload', () => {
    const off = new BasicLogins(0);
    off.remember('alice', 'secret', alice, Date.now());
    expect(off.get('alice', 'secret')).toBeNull();
    const sut = new BasicLogins(30_000);
    sut.remember('ci', 'id-token', { kind: 'workload', name: 'ci', permissions: [] }, Date.now());
    expect(sut.get('ci', 'id-token')).toBeNull();
  });
});
