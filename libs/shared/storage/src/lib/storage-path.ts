import { InvalidPathError } from './storage.error';

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * Checks the path grammar every driver relies on: absolute, `/`-separated, no empty, `.` or `..`
 * segment, only `[A-Za-z0-9._-]` in a segment. `/` alone names the root (for list and walk).
 * Throws {@link InvalidPathError}.
 */
export function validateStoragePath(driver: string, path: string): void {
  if (path === '/') return;
  if (!path.startsWith('/') || path.endsWith('/') || path.length > 1024)
    throw new InvalidPathError(driver, path);
  for (const segment of path.slice(1).split('/')) {
    if (!SEGMENT.test(segment) || segment === '.' || segment === '..')
      throw new InvalidPathError(driver, path);
  }
}
