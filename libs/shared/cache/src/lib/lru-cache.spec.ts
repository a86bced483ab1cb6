import { LruCache } from './lru-cache';

describe('LruCache', () => {
  it('evicts the least recently used entry beyond its capacity', () => {
    const sut = new LruCache<string, number>(2);
    sut.set('a', 1);
    sut.set('b', 2);
    sut.get('a');
    sut.set('c', 3);
    expect([sut.get('a'), sut.get('b'), sut.get('c')]).toEqual([1, undefined, 3]);
  });

  it('keeps the total weight under its bound and refuses values heavier than it', () => {
    const sut = new LruCache<string, Buffer>({ capacity: 100, weigh: (b) => b.length, maxWeight: 10 });
    sut.set('a', Buffer.alloc(6));
    sut.set('b', Buffer.alloc(6));
    expect(sut.get('a')).toBeUndefined();
    expect(sut.get('b')?.length).toBe(6);
    sut.set('huge', Buffer.alloc(11));
    expect(sut.get('huge')).toBeUndefined();
    expect(sut.get('b')?.length).toBe(6);
  });

  it('forgets entries older than its age limit, and by predicate', () => {
    const sut = new LruCache<string, number>(10, -1);
    sut.set('old', 1);
    expect(sut.get('old')).toBeUndefined();
    const other = new LruCache<string, number>(10);
    other.set('r/a', 1);
    other.set('s/a', 2);
    other.deleteWhere((k) => k.startsWith('r/'));
    expect([other.get('r/a'), other.get('s/a')]).toEqual([undefined, 2]);
  });
});
