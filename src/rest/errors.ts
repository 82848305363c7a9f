import { ApiError } from '../errors.js';
import type { SchemaCache } from './schema/cache.js';

/**
 * PostgreSQL errors as the HTTP API answers them: PostgREST's SQLSTATE → status table
 * (docs/errors.md), plus RAISE with SQLSTATE 'PTxyz' choosing status xyz, as PostgREST allows.
 */
export function statusForSqlState(code: string, authenticated: boolean): number {
  if (/^PT\d{3}$/.test(code)) return Number(code.slice(2));
  switch (code) {
    case '23503':
    case '23505':
      return 409;
    case '25006':
      return 405;
    case 'P0001':
      return 400;
    case '42883':
    case '42P01':
      return 404;
    case '42P17':
      return 500;
    case '42501':
      return authenticated ? 403 : 401;
    case '53400':
      return 500;
    case '57P01':
      return 503;
  }
  const cls = code.slice(0, 2);
  if (cls === '08' || cls === '53') return 503;
  if (cls === '0L' || cls === '0P' || cls === '28') return 403;
  if (['09', '25', '2D', '38', '39', '3B', '40', '54', '55', '57', '58', 'F0', 'HV', 'P0', 'XX'].includes(cls))
    return 500;
  return 400;
}

interface PgErrorLike {
  code?: unknown;
  message?: unknown;
  detail?: unknown;
  hint?: unknown;
  schema?: unknown;
  table?: unknown;
  dataType?: unknown;
  constraint?: unknown;
}

/** True for an error that came from the PostgreSQL server (it has a five-character SQLSTATE). */
export function isDatabaseError(error: unknown): error is PgErrorLike & { code: string; message: string } {
  const e = error as PgErrorLike;
  return typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.message === 'string';
}

/**
 * The ApiError for a PostgreSQL error, as PostgREST shapes it. A check violation (23514) of a
 * constraint the schema cache knows also says what the limit is: the constraint's comment, or
 * else its definition, after the message (`…violates check constraint "listings_title_check":
 * title must be 3 to 200 characters`), so a client can show the fix without reading the schema.
 */
export function fromDatabaseError(
  error: PgErrorLike & { code: string; message: string },
  authenticated: boolean,
  cache?: SchemaCache,
): ApiError {
  const status = statusForSqlState(error.code, authenticated);
  const headers: Record<string, string> = status === 401 ? { 'www-authenticate': 'Bearer' } : {};
  const rule = error.code === '23514' && cache ? checkRule(error, cache) : undefined;
  return ApiError.fromDatabase(
    status,
    {
      code: error.code,
      message: rule ? `${error.message}: ${rule}` : error.message,
      details: typeof error.detail === 'string' ? error.detail : null,
      hint: typeof error.hint === 'string' ? error.hint : null,
    },
    headers,
  );
}

/** What a violated check constraint requires, in words when it has a comment. */
function checkRule(error: PgErrorLike, cache: SchemaCache): string | undefined {
  const { schema, table, dataType, constraint } = error;
  if (typeof schema !== 'string' || typeof constraint !== 'string') return undefined;
  const owner = typeof table === 'string' ? table : typeof dataType === 'string' ? dataType : undefined;
  if (owner === undefined) return undefined;
  const check = cache.check(schema, owner, constraint);
  if (!check) return undefined;
  return check.comment ?? `the value must satisfy ${check.definition}`;
}
