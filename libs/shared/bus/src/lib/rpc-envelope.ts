import { OciError, isOciErrorCode } from '@berth/oci';

/** The reply of a request as it travels: the value, or the error in the spec's terms. */
export type RpcEnvelope<Res> =
  | { readonly ok: true; readonly value: Res }
  | {
      readonly ok: false;
      readonly error: { readonly code: string; readonly message: string; readonly detail?: unknown };
    };

/** Turns whatever a handler threw into an envelope; non-OCI errors are hidden behind `UNKNOWN`. */
export function errorEnvelope(error: unknown): RpcEnvelope<never> {
  if (error instanceof OciError) return { ok: false, error: error.toJSON() };
  return { ok: false, error: { code: 'UNKNOWN', message: 'internal error' } };
}

/** Unwraps an envelope, rethrowing its error as an `OciError`. */
export function openEnvelope<Res>(envelope: RpcEnvelope<Res>): Res {
  if (envelope.ok) return envelope.value;
  const { code, message, detail } = envelope.error;
  throw new OciError(isOciErrorCode(code) ? code : 'UNKNOWN', message, detail);
}
