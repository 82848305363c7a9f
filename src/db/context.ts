import type { DatabaseRole, Queryable, RequestInfo } from './database.js';
import { prepared } from './prepared.js';
import { type Query, sql } from './sql.js';

/**
 * The PostgREST request context, set at the start of a transaction so that RLS policies and
 * functions see the caller: the role (a parameter of set_config, never interpolated), the JWT
 * claims in request.jwt.claims, the request line and headers, and the search_path. All
 * settings are transaction-local, so nothing leaks to the next request on the connection.
 * One statement: set_config('role', …, true) is SET LOCAL ROLE, as PostgREST does it. Every
 * value is a parameter, so its text varies only with the number of settings: prepared.
 */
export function requestContext(
  role: DatabaseRole,
  claims: object,
  request: RequestInfo | undefined,
  searchPath: string,
): Query {
  const extra = Object.entries(request?.settings ?? {}).map(
    ([name, value]) => sql`, set_config(${name}, ${value}, true)`,
  );
  return prepared(sql`select
    set_config('role', ${role}, true),
    set_config('request.jwt.claims', ${JSON.stringify(claims)}, true),
    set_config('request.method', ${request?.method ?? ''}, true),
    set_config('request.path', ${request?.path ?? ''}, true),
    set_config('request.headers', ${JSON.stringify(request?.headers ?? {})}, true),
    set_config('search_path', ${searchPath}, true)${sql.join(extra, sql``)}`);
}

/** Runs the request context statement in `tx` on its own (PGlite; the PostgreSQL backend sends it with the first statement). */
export async function enterRequestContext(
  tx: Queryable,
  role: DatabaseRole,
  claims: object,
  request: RequestInfo | undefined,
  searchPath: string,
): Promise<void> {
  await tx.query(requestContext(role, claims, request, searchPath));
}

/** The search_path value for a list of schema names, each quoted: "public", "extensions". */
export function searchPathValue(schemas: readonly string[]): string {
  return schemas.map((name) => sql.ident(name).text).join(', ');
}
