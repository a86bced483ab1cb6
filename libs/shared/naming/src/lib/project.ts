/** The project a one-segment repository name belongs to. */
export const DEFAULT_PROJECT = 'library';

/** The project of a repository: its first path segment, or `library` for a one-segment name. */
export function projectOf(repository: string): string {
  const slash = repository.indexOf('/');
  return slash === -1 ? DEFAULT_PROJECT : repository.slice(0, slash);
}
