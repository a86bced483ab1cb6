/**
 * A registry answered wrongly: an unexpected status, a missing header, or content that does not
 * match its digest. Any of these aborts the bench with a non-zero exit; missed speed targets do not.
 */
export class BenchFailure extends Error {
  override readonly name = 'BenchFailure';
  constructor(
    /** The request that failed, as `METHOD path`. */
    readonly request: string,
    /** What was wrong. */
    readonly problem: string,
    /** The start of the response body, when there was one. */
    readonly responseBody = '',
  ) {
    super(`${request}: ${problem}${responseBody === '' ? '' : `\n${responseBody}`}`);
  }
}
