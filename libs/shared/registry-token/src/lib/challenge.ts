import { formatScope, type ResourceScope } from './scope';

/**
 * The `WWW-Authenticate` value of a 401 from `/v2/`, as the Docker registry token spec has it:
 * where to get a token (`realm`), for which service, and the scope the request needed; with
 * `error="insufficient_scope"` when a token was presented but did not cover the request.
 */
export function bearerChallenge(options: {
  realm: string;
  service: string;
  scopes?: readonly ResourceScope[];
  insufficientScope?: boolean;
}): string {
  const parts = [`realm="${quote(options.realm)}"`, `service="${quote(options.service)}"`];
  if (options.scopes && options.scopes.length > 0) {
    parts.push(`scope="${quote(options.scopes.map(formatScope).join(' '))}"`);
  }
  if (options.insufficientScope === true) parts.push('error="insufficient_scope"');
  return `Bearer ${parts.join(',')}`;
}

function quote(value: string): string {
  return value.replace(/["\\]/g, '\\$&');
}
