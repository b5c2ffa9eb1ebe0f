/**
 * How result values are read, the same on both engines (the rules are listed in database.ts). PGlite already
 * reads int8 as number-or-bigint and interval as text; `pg` reads int8 as a string and interval as an object,
 * and both read date and timestamp (without time zone) through the Node process's local time zone. These
 * parsers make the two agree; test/storage/database.contract.ts checks every type on both.
 */

/** PostgreSQL type OIDs (pg_type.oid) whose reading is set here. */
export const OID = { INT8: 20, INT8_ARRAY: 1016, DATE: 1082, TIMESTAMP: 1114, INTERVAL: 1186 } as const;

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** int8 text as a number when it is exact as one (ids, counts), else as a bigint: never rounded. */
export function parseInt8(text: string): number | bigint {
  const value = BigInt(text);
  return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
}

/** The value as PostgreSQL wrote it, e.g. `2024-01-02` or `1 day 02:00:00`. */
export function asText(text: string): string {
  return text;
}

/** Result parsers for PGlite (its `parsers` option): int8 and interval already read as wanted there. */
export const PGLITE_PARSERS: Readonly<Record<number, (text: string) => unknown>> = {
  [OID.DATE]: asText,
  [OID.TIMESTAMP]: asText,
};

type NestedText = string | null | NestedText[];

function mapInt8s(value: NestedText): unknown {
  if (value === null) return null;
  return Array.isArray(value) ? value.map(mapInt8s) : parseInt8(value);
}

/**
 * `pg`'s `types` option for one pool (pg's global type table stays as it is): the overrides above, and pg's own
 * parser for every other type. `fallback` is pg's `types.getTypeParser`.
 */
export function pgTypeParsers(
  fallback: (oid: number, format?: 'text' | 'binary') => (text: string) => unknown,
): (oid: number, format?: 'text' | 'binary') => (text: string) => unknown {
  const int8Array = fallback(OID.INT8_ARRAY);
  const overrides: Readonly<Record<number, (text: string) => unknown>> = {
    [OID.INT8]: parseInt8,
    [OID.INT8_ARRAY]: (text) => mapInt8s(int8Array(text) as NestedText),
    [OID.DATE]: asText,
    [OID.TIMESTAMP]: asText,
    [OID.INTERVAL]: asText,
  };
  return (oid, format) => ((format ?? 'text') === 'text' && overrides[oid]) || fallback(oid, format);
}
