import { RevocableCache } from './revocable-cache';

interface Login {
  readonly subject: string;
}

const cache = (maxAgeMs = 30_000) =>
  new RevocableCache<Login>({ capacity: 10, maxAgeMs, subjectOf: (login) => login.subject });

describe('RevocableCache', () => {
  it('keeps a value under its key', () => {
    const sut = cache();
    sut.set('k', { subject: 'alice' }, Date.now());
    expect(sut.get('k')).toEqual({ subject: 'alice' });
    expect(sut.get('other')).toBeNull();
  });

  it('forgets the values of a revoked subject, and only those', () => {
    const sut = cache();
    const checkedAt = Date.now() - 1;
    sut.set('a', { subject: 'alice' }, checkedAt);
    sut.set('b', { subject: 'bob' }, checkedAt);
    sut.revoke('alice');
    expect(sut.get('a')).toBeNull();
    expect(sut.get('b')).toEqual({ subject: 'bob' });
  });

  it('never returns a value whose check began before a revocation, though stored after it', () => {
    const sut = cache();
    const checkedAt = Date.now() - 5;
    sut.revoke('alice');
    sut.set('a', { subject: 'alice' }, checkedAt);
    expect(sut.get('a')).toBeNull();
  });

  it('keeps nothing when its age limit is 0', () => {
    const sut = cache(0);
    sut.set('k', { subject: 'alice' }, Date.now());
    expect(sut.get('k')).toBeNull();
  });
});
