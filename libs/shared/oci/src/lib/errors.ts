/**
 * The error codes of the OCI Distribution Specification (plus the few that Distribution and the
 * spec's main branch added), each with the HTTP status a registry answers with. This is the one
 * registry of wire error codes; the gateway turns an {@link OciError} into the spec's body
 * `{"errors":[{"code","message","detail"}]}` with this status.
 */
export const OCI_ERROR_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 415,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  MANIFEST_TOO_LARGE: 413,
  PAGINATION_NUMBER_INVALID: 400,
  UNAVAILABLE: 503,
  UNKNOWN: 500,
} as const;

/** One of the spec's error codes. */
export type OciErrorCode = keyof typeof OCI_ERROR_STATUS;

const DEFAULT_MESSAGES: Record<OciErrorCode, string> = {
  BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UPLOAD_INVALID: 'blob upload invalid',
  BLOB_UPLOAD_UNKNOWN: 'blob upload unknown to registry',
  DIGEST_INVALID: 'provided digest did not match uploaded content',
  MANIFEST_BLOB_UNKNOWN: 'manifest references a manifest or blob unknown to registry',
  MANIFEST_INVALID: 'manifest invalid',
  MANIFEST_UNKNOWN: 'manifest unknown to registry',
  NAME_INVALID: 'invalid repository name',
  NAME_UNKNOWN: 'repository name not known to registry',
  SIZE_INVALID: 'provided length did not match content length',
  UNAUTHORIZED: 'authentication required',
  DENIED: 'requested access to the resource is denied',
  UNSUPPORTED: 'the operation is unsupported',
  TOOMANYREQUESTS: 'too many requests',
  RANGE_INVALID: 'invalid content range',
  MANIFEST_TOO_LARGE: 'manifest too large',
  PAGINATION_NUMBER_INVALID: 'invalid number of results requested',
  UNAVAILABLE: 'service unavailable',
  UNKNOWN: 'unknown error',
};

/**
 * A failure that the OCI Distribution API reports to the client. It carries the spec's code, a
 * human message and an optional machine-readable detail. Throw it from anywhere below the
 * gateway; the gateway's one error map renders it.
 */
export class OciError extends Error {
  override readonly name = 'OciError';

  constructor(
    readonly code: OciErrorCode,
    message?: string,
    readonly detail?: unknown,
    private readonly statusOverride?: number,
  ) {
    super(message ?? DEFAULT_MESSAGES[code]);
  }

  /** An `UNSUPPORTED` error for an HTTP method a route does not offer (405). */
  static methodNotAllowed(method: string): OciError {
    return new OciError('UNSUPPORTED', `method ${method} is not supported here`, undefined, 405);
  }

  /** The HTTP status for this error: the spec's for its code, unless the situation prescribes another. */
  get status(): number {
    return this.statusOverride ?? OCI_ERROR_STATUS[this.code];
  }

  /** The error as one entry of the spec's `errors` array. */
  toJSON(): { code: OciErrorCode; message: string; detail?: unknown } {
    return this.detail === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, detail: this.detail };
  }
}

/** Whether a value is one of the spec's error codes (for errors that crossed the bus as JSON). */
export function isOciErrorCode(value: unknown): value is OciErrorCode {
  return typeof value === 'string' && Object.hasOwn(OCI_ERROR_STATUS, value);
}
