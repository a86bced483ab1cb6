import { DigestHasher, digestOf, isDigest, parseDigest } from './digest';
import { OciError } from './errors';

describe('digests', () => {
  const sha256 = `sha256:${'a'.repeat(64)}`;
  const sha512 = `sha512:${'b'.repeat(128)}`;

  it.each([sha256, sha512])('accepts %s', (value) => {
    expect(parseDigest(value)).toBe(value);
  });

  it.each([
    ['empty', ''],
    ['no algorithm', 'a'.repeat(64)],
    ['unknown algorithm', `md5:${'a'.repeat(32)}`],
    ['upper-case hex', `sha256:${'A'.repeat(64)}`],
    ['short hex', 'sha256:abc'],
    ['sha512 length on sha256', `sha256:${'a'.repeat(128)}`],
    ['trailing garbage', `${sha256}x`],
    ['path traversal', 'sha256:../../etc/passwd'],
  ])('refuses %s with DIGEST_INVALID', (_label, value) => {
    let caught: unknown;
    try {
      parseDigest(value);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OciError);
    expect((caught as OciError).code).toBe('DIGEST_INVALID');
    expect((caught as OciError).status).toBe(400);
    expect(isDigest(value)).toBe(false);
  });

  it('hashes streamed chunks to the same digest as the whole', () => {
    const sut = new DigestHasher('sha256');
    sut.update(Buffer.from('hello '));
    sut.update(Buffer.from('world'));
    expect(sut.size).toBe(11);
    expect(sut.digest()).toBe(digestOf(Buffer.from('hello world')));
    expect(digestOf(Buffer.from(''))).toBe(
      'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});
