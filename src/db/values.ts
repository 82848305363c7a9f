import pg from 'pg';
import utils from 'pg/lib/utils.js';

/**
 * One value semantics for both backends: node-postgres's. Parameters are prepared by pg's own
 * prepareValue and results parsed by pg's own type parsers (pg.types), so a row reads the
 * same whether it came from PostgreSQL or PGlite:
 *
 *   int2/int4/float/oid -> number     int8, numeric, money -> string (no precision loss)
 *   bool -> boolean                   json/jsonb -> parsed value
 *   timestamptz/timestamp/date -> Date   uuid, text, enums, geography -> string
 *   arrays of built-in types -> JS arrays; arrays of enums/domains -> the '{a,b}' literal
 *   bytea -> Buffer                   interval -> pg's interval object      NULL -> null
 *
 * See docs/decisions/0001-node-postgres-value-semantics.md.
 */

/** A parameter as text (or null), exactly as node-postgres would send it. */
export function toParam(value: unknown): string | null {
  const prepared = utils.prepareValue(value);
  if (prepared === null || prepared === undefined) return null;
  // pg sends Buffers as binary parameters; the text form of bytea is the same value.
  if (Buffer.isBuffer(prepared)) return `\\x${prepared.toString('hex')}`;
  return prepared;
}

/** Parses one text-format result value by its type oid, as node-postgres does. */
export function parseValue(text: string | null, typeOid: number): unknown {
  if (text === null) return null;
  return pg.types.getTypeParser(typeOid, 'text')(text);
}
