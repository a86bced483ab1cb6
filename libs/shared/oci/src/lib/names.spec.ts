import { OciError } from './errors';
import { parseReference, parseRepositoryName, parseTag, referenceOrNull } from './names';

function codeOf(work: () => unknown): string | undefined {
  try {
    work();
    return undefined;
  } catch (error) {
    return error instanceof OciError ? error.code : 'not an OciError';
  }
}

function detailOf(work: () => unknown): unknown {
  try {
    work();
    return undefined;
  } catch (error) {
    return error instanceof OciError ? error.detail : 'not an OciError';
  }
}

describe('repository names', () => {
  it.each(['library/ubuntu', 'a', 'a/b/c/d', 'my-app', 'my_app', 'my__app', 'a.b', 'a---b', 'x9/y8'])(
    'accepts %s',
    (name) => {
      expect(parseRepositoryName(name)).toBe(name);
    },
  );

  it.each([
    ['traversal', 'a/../b'],
    ['dot segment', 'a/./b'],
    ['upper case', 'Library/app'],
    ['leading slash', '/library'],
    ['trailing slash', 'library/'],
    ['empty component', 'a//b'],
    ['leading separator', '-a'],
    ['triple underscore', 'a___b'],
    ['over 255 characters', 'a'.repeat(256)],
    ['host:port', 'localhost:5000/app'],
    ['empty', ''],
  ])('refuses %s with NAME_INVALID', (_label, name) => {
    expect(codeOf(() => parseRepositoryName(name))).toBe('NAME_INVALID');
  });
});

describe('tags and references', () => {
  it.each(['latest', 'v1.0.0', '_x', 'A-b_c.d', 't'.repeat(128)])('accepts tag %s', (tag) => {
    expect(parseTag(tag)).toBe(tag);
  });

  it.each(['', '-lead', '.lead', 'a+b', 'a/b', 't'.repeat(129), 'sp ace', 'nul\u0000'])(
    'refuses to store a manifest under tag %j with MANIFEST_INVALID naming the tag',
    (tag) => {
      expect(codeOf(() => parseTag(tag))).toBe('MANIFEST_INVALID');
      expect(detailOf(() => parseTag(tag))).toEqual({ tag });
    },
  );

  it('reads a colon as a digest reference and validates it', () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    expect(parseReference(digest)).toEqual({ kind: 'digest', digest });
    expect(parseReference('v1')).toEqual({ kind: 'tag', tag: 'v1' });
    expect(codeOf(() => parseReference('sha256:nothex'))).toBe('DIGEST_INVALID');
  });

  it('reads a reference that no manifest can have as none', () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    expect(referenceOrNull(digest)).toEqual({ kind: 'digest', digest });
    expect(referenceOrNull('v1')).toEqual({ kind: 'tag', tag: 'v1' });
    for (const reference of ['.INVALID_MANIFEST_NAME', 'sha256:nothex', 't'.repeat(129), '', 'a\u0000'])
      expect(referenceOrNull(reference)).toBeNull();
  });
});
