import { OciError } from './errors';
import { parseReference, parseRepositoryName, parseTag } from './names';

function codeOf(work: () => unknown): string | undefined {
  try {
    work();
    return undefined;
  } catch (error) {
    return error instanceof OciError ? error.code : 'not an OciError';
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

  it.each(['', '-lead', '.lead', 'a+b', 'a/b', 't'.repeat(129), 'sp ace'])(
    'refuses tag %j with TAG_INVALID',
    (tag) => {
      expect(codeOf(() => parseTag(tag))).toBe('TAG_INVALID');
    },
  );

  it('reads a colon as a digest reference and validates it', () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    expect(parseReference(digest)).toEqual({ kind: 'digest', digest });
    expect(parseReference('v1')).toEqual({ kind: 'tag', tag: 'v1' });
    expect(codeOf(() => parseReference('sha256:nothex'))).toBe('DIGEST_INVALID');
  });
});
