import { isStorableJson, isStorableText, mayHoldUnstorableText, storableCursor } from './text';

describe('isStorableText', () => {
  it.each(['', 'plain', 'ünïcødé', '😀 paired surrogates'])('accepts %j', (value) => {
    expect(isStorableText(value)).toBe(true);
  });

  it.each(['a\u0000b', '\ud800', 'x\udfffy', '\ud83d'])('refuses %j', (value) => {
    expect(isStorableText(value)).toBe(false);
  });
});

describe('storableCursor', () => {
  it('cuts a cursor at its first U+0000', () => {
    expect(storableCursor('abc\u0000zzz')).toBe('abc');
  });

  it('replaces an unpaired surrogate and keeps the rest', () => {
    expect(storableCursor('ab\ud800c')).toBe('ab\ufffdc');
  });

  it('leaves an ordinary cursor alone', () => {
    expect(storableCursor('team/app')).toBe('team/app');
  });
});

describe('isStorableJson', () => {
  it('checks keys as well as values, at any depth', () => {
    expect(isStorableJson({ a: [{ b: 'ok' }], n: 1, z: null })).toBe(true);
    expect(isStorableJson({ a: [{ b: 'bad\u0000' }] })).toBe(false);
    expect(isStorableJson({ a: { ['\ud800']: 'key' } })).toBe(false);
  });
});

describe('mayHoldUnstorableText', () => {
  it('spots the escapes that parse into unstorable text', () => {
    expect(mayHoldUnstorableText(String.raw`{"a":"\u0000"}`)).toBe(true);
    expect(mayHoldUnstorableText(String.raw`{"a":"\uD800"}`)).toBe(true);
    expect(mayHoldUnstorableText(String.raw`{"a":"\udc00"}`)).toBe(true);
  });

  it('passes text without them', () => {
    expect(mayHoldUnstorableText(String.raw`{"a":"\u00e9 \ue000"}`)).toBe(false);
  });
});
