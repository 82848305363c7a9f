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
  const extra = request?.settings ? Object.entries(request.settings) : [];
  const values: unknown[] = [
    role,
    JSON.stringify(claims),
    request?.method ?? '',
    request?.path ?? '',
    JSON.stringify(request?.headers ?? {}),
    searchPath,
  ];
  for (const [name, value] of extra) values.push(name, value);
  return prepared(contextText(extra.length), values);
}

/**
 * The statement's text depends only on how many settings it sets, so it is compiled once per
 * count (every request runs it: building it was 1–2 % of a small request's CPU). Counts are few
 * (the settings' names are fixed by code); past TEXTS_CACHED it is compiled each time.
 */
function contextText(extra: number): string {
  if (extra >= TEXTS_CACHED) return contextStatement(extra).text;
  let text = texts[extra];
  if (text === undefined) {
    text = contextStatement(extra).text;
    texts[extra] = text;
  }
  return text;
}

/** How many settings counts' texts are kept. */
export const TEXTS_CACHED = 32;
const texts: (string | undefined)[] = [];

/** The request context statement with `extra` settings, for its text (the values are placeholders). */
function contextStatement(extra: number): Query {
  const settings = Array.from({ length: extra }, () => sql`, set_config(${''}, ${''}, true)`);
  return sql`select
    set_config('role', ${''}, true),
    set_config('request.jwt.claims', ${''}, true),
    set_config('request.method', ${''}, true),
    set_config('request.path', ${''}, true),
    set_config('request.headers', ${''}, true),
    set_config('search_path', ${''}, true)${sql.join(settings, sql``)}`;
}

/**
 * Transaction-local settings given as a map (PostGraphile's pgSettings: role, claims, search_path
 * and the role's own settings), in one prepared statement whose text depends only on their number.
 * At least one setting: a context of none is no statement at all.
 */
export function settingsContext(settings: Readonly<Record<string, string>>): Query {
  const values: string[] = [];
  for (const name in settings) values.push(name, settings[name] as string);
  const count = values.length / 2;
  let text = settingsTexts[count];
  if (text === undefined) {
    text = `select ${Array.from({ length: count }, (_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`;
    if (count < TEXTS_CACHED) settingsTexts[count] = text;
  }
  return prepared(text, values);
}

const settingsTexts: (string | undefined)[] = [];

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
