import { OciError, parseRepositoryName, type RepositoryName } from '@berth/oci';

/** What a `/v2/…` path addresses. Repository names may contain slashes, so the path is parsed from its end. */
export type Route =
  | { readonly kind: 'base' }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'tags'; readonly name: RepositoryName }
  | { readonly kind: 'manifest'; readonly name: RepositoryName; readonly reference: string }
  | { readonly kind: 'blob'; readonly name: RepositoryName; readonly digest: string }
  | { readonly kind: 'uploads'; readonly name: RepositoryName }
  | { readonly kind: 'upload'; readonly name: RepositoryName; readonly id: string }
  | { readonly kind: 'referrers'; readonly name: RepositoryName; readonly digest: string };

const PATTERN =
  /^\/v2\/(.+)\/(?:(tags\/list)|manifests\/([^/]+)|blobs\/uploads\/([^/]*)|blobs\/([^/]+)|referrers\/([^/]+))$/;

/**
 * Parses the path of a `/v2/` URL (without its query). Throws `NAME_INVALID` for a repository
 * name that breaks the grammar (traversal, upper case, too long) and `NAME_UNKNOWN` (404) for a
 * path that is no endpoint of the API.
 */
export function parseRoute(path: string): Route {
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw new OciError('NAME_INVALID', 'malformed percent-encoding in path');
  }
  const match = PATTERN.exec(decoded);
  if (!match) throw new OciError('NAME_UNKNOWN', 'no such endpoint', { path: decoded.slice(0, 300) });
  const [, rawName = '', tags, reference, uploadId, blobDigest, referrersDigest] = match;
  const name = parseRepositoryName(rawName);
  if (tags !== undefined) return { kind: 'tags', name };
  if (reference !== undefined) return { kind: 'manifest', name, reference };
  if (uploadId !== undefined)
    return uploadId === '' ? { kind: 'uploads', name } : { kind: 'upload', name, id: uploadId };
  if (blobDigest !== undefined) return { kind: 'blob', name, digest: blobDigest };
  return { kind: 'referrers', name, digest: referrersDigest ?? '' };
}
