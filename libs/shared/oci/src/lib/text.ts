/**
 * Whether PostgreSQL can store `value`: it holds no U+0000 (refused in `text`, and as `\u0000` in
 * `jsonb`) and no unpaired surrogate (refused as a `\ud800`-style escape in `jsonb`, and not
 * Unicode at all). Every string a client sends that may reach the database is checked with this
 * at the edge, so that such input is a clear 4xx instead of a failed statement.
 */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed();
}

/**
 * A pagination cursor (`last`) that PostgreSQL can compare, selecting exactly the names the raw
 * one would. Stored names are ASCII, so the cursor is cut at its first U+0000 (nothing sorts
 * between `ab` and `ab\0…` but `ab` itself, which both exclude), and an unpaired surrogate, like
 * any character past ASCII, becomes one that sorts after every ASCII character (U+FFFD).
 */
export function storableCursor(value: string): string {
  const nul = value.indexOf('\u0000');
  return (nul === -1 ? value : value.slice(0, nul)).toWellFormed();
}

/** Every string key and value in a parsed JSON value, depth first. */
export function* jsonStrings(value: unknown): Generator<string> {
  if (typeof value === 'string') {
    yield value;
  } else if (Array.isArray(value)) {
    for (const item of value) yield* jsonStrings(item);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      yield key;
      yield* jsonStrings(item);
    }
  }
}

/**
 * Whether JSON text may hold a string PostgreSQL cannot store. Both kinds can only arrive as
 * escapes (`\u0000`, `\ud800`…: a raw NUL is not valid JSON, and bytes that are not UTF-8 decode
 * to U+FFFD), so text without one needs no walk of its parsed value; a hit may be a false alarm
 * (`\\u0000` is a backslash and text) that {@link jsonStrings} settles.
 */
export function mayHoldUnstorableText(json: string): boolean {
  return /\\u(?:0000|[dD][89a-fA-F])/.test(json);
}

/** Whether a parsed JSON value holds only strings PostgreSQL can store (keys included). */
export function isStorableJson(value: unknown): boolean {
  for (const text of jsonStrings(value)) if (!isStorableText(text)) return false;
  return true;
}
