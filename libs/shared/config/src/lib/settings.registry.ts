import { z } from 'zod';

/** What a leaf of the configuration schema declares about itself. */
interface LeafMeta {
  /** The environment variable that sets this leaf, besides its key in the YAML file. */
  readonly env: string;
  /** Whether the value is masked wherever the configuration is shown (logs, `verify-config`). */
  readonly secret: boolean;
}

const leaves = z.registry<LeafMeta>();

/**
 * Declares that the environment variable `name` sets this leaf. The environment's string is
 * parsed by the same `schema` as the file's value, so numbers and booleans must coerce.
 */
export function env<T extends z.ZodType>(name: string, schema: T): T {
  leaves.add(schema, { env: name, secret: false });
  return schema;
}

/** Like {@link env}, for a value that must never be shown: it is masked in logs and reports. */
export function secret<T extends z.ZodType>(name: string, schema: T): T {
  leaves.add(schema, { env: name, secret: true });
  return schema;
}

/** The path segment that stands for every item of an array. */
export const EACH = '*';

/** A leaf declared with {@link env} or {@link secret}, and where it sits in the schema. */
export interface DeclaredLeaf extends LeafMeta {
  /** Object keys from the root; {@link EACH} for the items of an array. */
  readonly path: readonly string[];
}

/**
 * Every leaf declared in `schema`, found by walking its objects, arrays and the wrappers that
 * defaults, optionality and transforms put around them. Unions and records are not entered:
 * their members have no fixed path.
 */
export function declaredLeaves(schema: z.ZodType, path: readonly string[] = []): DeclaredLeaf[] {
  const meta = leaves.get(schema);
  if (meta) return [{ ...meta, path }];
  if (
    schema instanceof z.ZodOptional ||
    schema instanceof z.ZodNullable ||
    schema instanceof z.ZodDefault ||
    schema instanceof z.ZodPrefault
  )
    return declaredLeaves(schema.unwrap() as z.ZodType, path);
  if (schema instanceof z.ZodPipe) return declaredLeaves(schema.in as z.ZodType, path);
  if (schema instanceof z.ZodArray) return declaredLeaves(schema.element as z.ZodType, [...path, EACH]);
  if (schema instanceof z.ZodObject)
    return Object.entries(schema.shape as Record<string, z.ZodType>).flatMap(([key, child]) =>
      declaredLeaves(child, [...path, key]),
    );
  return [];
}

/** A copy of `value` with the strings at `path` (which may hold {@link EACH}) replaced by `***`. */
export function masked(value: unknown, path: readonly string[]): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return typeof value === 'string' ? '***' : value;
  if (head === EACH) return Array.isArray(value) ? value.map((item) => masked(item, rest)) : value;
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !(head in value)) return value;
  const record = value as Record<string, unknown>;
  return { ...record, [head]: masked(record[head], rest) };
}
