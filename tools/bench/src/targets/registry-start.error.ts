/** A registry did not come up; the message says why and carries the tail of its output. */
export class RegistryStartError extends Error {
  override readonly name = 'RegistryStartError';
}
