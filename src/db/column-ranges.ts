// The values each stored column can hold, and the zod numbers that feed them. Every number a request carries
// into the database is built here, bounded by its column's range, so validation never accepts a value that
// the database (or the Date between them) refuses: those answered 500 and were retried by Alchemy forever.
// tests/reliability/column-ranges.test.ts walks every route's request schemas and checks each number is
// registered here with bounds inside its column's range.
import { getTableName } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { z } from '../lib/zod.js';

export type Range = { readonly min: number; readonly max: number };

export const PG_INTEGER: Range = { min: -2_147_483_648, max: 2_147_483_647 };
// bigint columns in mode 'number' hold what a JS number holds exactly.
export const PG_BIGINT_AS_NUMBER: Range = { min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
// A timestamp in seconds since the epoch that JS Date, its ISO form (4-digit year) and PostgreSQL all
// round-trip: 1970-01-01 .. 9999-12-31T23:59:59Z. Beyond it postgres.js sends "+275760-..." and PostgreSQL
// answers "time zone displacement out of range", or new Date() is Invalid Date.
export const TIMESTAMP_SECONDS: Range = { min: 0, max: 253_402_300_799 };

/** What a request number is stored as: a column (`table.column`, its type, the unit given), or why not. */
export type StoredAs = { column: string; columnType: string; unit?: 'seconds' } | { notStored: string };

/** The registry the column-range test reads. */
export const storedAs = z.registry<StoredAs>();

/** The range of values a column of drizzle type `columnType` accepts, in the unit the request gives. */
export function columnTypeRange(columnType: string): Range {
  switch (columnType) {
    case 'PgInteger':
    case 'PgSerial':
      return PG_INTEGER;
    case 'PgBigInt53':
    case 'PgBigSerial53':
      return PG_BIGINT_AS_NUMBER;
    case 'PgTimestamp':
    case 'PgTimestampString':
      return TIMESTAMP_SECONDS;
    default:
      throw new Error(`no numeric range known for columns of type ${columnType}`);
  }
}

function bounded(
  schema: z.ZodNumber,
  column: AnyPgColumn,
  bounds: Partial<Range>,
  unit?: 'seconds',
): z.ZodNumber {
  const range = columnTypeRange(column.columnType);
  const min = Math.max(range.min, bounds.min ?? range.min);
  const max = Math.min(range.max, bounds.max ?? range.max);
  return schema
    .int()
    .min(min)
    .max(max)
    .register(storedAs, {
      column: `${getTableName(column.table)}.${column.name}`,
      columnType: column.columnType,
      ...(unit === undefined ? {} : { unit }),
    });
}

/** A JSON integer stored in `column`, within the column's range narrowed by `bounds`. */
export function intFor(column: AnyPgColumn, bounds: Partial<Range> = {}): z.ZodNumber {
  return bounded(z.number(), column, bounds);
}

/** An integer from a path or query string, stored in (or compared with) `column`. */
export function coercedIntFor(column: AnyPgColumn, bounds: Partial<Range> = {}): z.ZodCoercedNumber {
  return bounded(z.coerce.number() as unknown as z.ZodNumber, column, bounds);
}

/** Seconds since the epoch stored in the timestamp `column`. */
export function secondsFor(column: AnyPgColumn): z.ZodNumber {
  return bounded(z.number(), column, {}, 'seconds');
}

/** A number that never reaches the database (a page size, a status flag): says why. */
export function notStored<S extends z.ZodType>(schema: S, why: string): S {
  storedAs.add(schema, { notStored: why });
  return schema;
}
