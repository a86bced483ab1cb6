import { OciError } from '@berth/oci';
import { parseRoute } from './route';

describe('parseRoute', () => {
  const digest = `sha256:${'a'.repeat(64)}`;

  it.each([
    ['/v2/', { kind: 'base' }],
    ['/v2/_catalog', { kind: 'catalog' }],
    ['/v2/a/b/tags/list', { kind: 'tags', name: 'a/b' }],
    ['/v2/a/b/manifests/latest', { kind: 'manifest', name: 'a/b', reference: 'latest' }],
    [`/v2/a/blobs/${digest}`, { kind: 'blob', name: 'a', digest }],
    ['/v2/a/blobs/uploads/', { kind: 'uploads', name: 'a' }],
    ['/v2/a/blobs/uploads/123', { kind: 'upload', name: 'a', id: '123' }],
    [`/v2/a/referrers/${digest}`, { kind: 'referrers', name: 'a', digest }],
    ['/v2/blobs/manifests/tags/list', { kind: 'tags', name: 'blobs/manifests' }],
  ])('routes %s', (path, route) => {
    expect(parseRoute(path)).toEqual(route);
  });

  it.each(['/v2/../x/manifests/a', '/v2/A/manifests/a', '/v2/a%2F..%2Fb/manifests/a'])(
    'refuses the name in %s',
    (path) => {
      expect(() => parseRoute(path)).toThrow(OciError);
    },
  );

  it('answers 404 for a path that is no endpoint', () => {
    let caught: unknown;
    try {
      parseRoute('/v2/a/b');
    } catch (error) {
      caught = error;
    }
    expect((caught as OciError).status).toBe(404);
  });
});
