import { OciError } from './errors';

/** An inclusive byte range `[start, end]` within an object. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * Parses an upload's `Content-Range: <start>-<end>` (the spec's form, no `bytes ` unit; the unit
 * is tolerated). Throws `RANGE_INVALID` when malformed or reversed.
 */
export function parseContentRange(value: string): ByteRange {
  const match = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d+|\*))?$/.exec(value.trim());
  if (!match) throw new OciError('RANGE_INVALID', `invalid Content-Range "${value.slice(0, 100)}"`);
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw new OciError('RANGE_INVALID', `invalid Content-Range "${value.slice(0, 100)}"`);
  return { start, end };
}

/**
 * Parses a blob GET's `Range: bytes=<start>-<end>` against an object of `size` bytes. Supports one
 * range, including open-ended (`500-`) and suffix (`-500`) forms. Returns `null` for a header that
 * is not a single byte range (the whole blob is served, as RFC 9110 allows), and throws
 * `RANGE_INVALID` (416) when the range cannot be satisfied.
 */
export function parseRangeHeader(value: string, size: number): ByteRange | null {
  const match = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) throw unsatisfiable(size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
    if (match[2] !== '' && Number(match[2]) < start) return null;
  }
  if (start >= size || !Number.isSafeInteger(start)) throw unsatisfiable(size);
  return { start, end };
}

function unsatisfiable(size: number): OciError {
  return new OciError('RANGE_INVALID', 'requested range not satisfiable', { size });
}
