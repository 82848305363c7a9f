import { type SqlFragment, sql } from '../../db/sql.js';
import { RawBody } from '../parse/raw.js';
import type { SelectPlan, Source } from '../plan/types.js';
import { type BodyFormat, bodySql } from './body.js';
import { typeRef } from './expression.js';
import { Aliases, relationRef, selectSql } from './select.js';

/**
 * The one statement of a read: the page as a JSON array built in the database (returned as
 * text, passed to the client unchanged), how many rows it has, and — for Prefer: count=exact —
 * the total without limit and offset.
 */
export interface ReadCount {
  /** Count every row (exact), or at most `upTo` + 1 of them (Prefer: count=estimated). */
  readonly upTo?: number;
}

export function readSql(
  source: Source,
  select: SelectPlan,
  options: { count?: ReadCount; format?: BodyFormat },
): SqlFragment {
  const aliases = new Aliases();
  const root = 't0';
  const from = sourceSql(source, root);
  const page = selectSql(select, { from, alias: root }, aliases);
  let total = sql.empty;
  if (options.count) {
    let rows = countRowsSql(source, select);
    if (options.count.upTo !== undefined) rows = sql`${rows} limit ${sql.int(options.count.upTo + 1)}`; // a literal: see selectSql
    total = sql`, (select pg_catalog.count(*) from (${rows}) as "_c") as "total"`;
  }
  const body = bodySql(options.format ?? 'json', select);
  return sql`select pg_catalog.count(*)::int as "page_total", ${body} as "body"${total} from (${page}) as "_t"`;
}

/** Every row of the read without limit and offset (`select 1 …`): what a count counts. */
function countRowsSql(source: Source, select: SelectPlan): SqlFragment {
  return selectSql(select, { from: sourceSql(source, 't0'), alias: 't0', countOnly: true }, new Aliases());
}

/** Prefer: count=planned: the planner's row estimate for the count query, read from EXPLAIN. */
export function plannedCountSql(source: Source, select: SelectPlan): SqlFragment {
  return sql`explain (format json) ${countRowsSql(source, select)}`;
}

/** `"public"."listings" as "t0"`, or a function call with its arguments read from one JSON parameter. */
export function sourceSql(source: Source, alias: string): SqlFragment {
  if (source.kind === 'relation') return sql`${relationRef(source.relation)} as ${sql.ident(alias)}`;
  const call = callSql(source);
  return sql`${call.from}${call.fn} as ${sql.ident(alias)}`;
}

/**
 * A function call with named arguments: `json_to_record($1) as "_args"("a" int4, …), fn("a" =>
 * "_args"."a", …)`. Reading the arguments from one JSON object with their declared types lets
 * PostgreSQL convert strings, numbers, arrays and objects as it would in SQL.
 */
export function callSql(source: Extract<Source, { kind: 'call' }>): { from: SqlFragment; fn: SqlFragment } {
  const { routine, args } = source;
  const name = sql.ident(routine.schema, routine.name);
  if (source.singleObject) {
    // The whole body as the one argument: JSON text, or a raw text/xml/bytea body as it came.
    const body = args.get('');
    const value = body instanceof RawBody ? body.value : JSON.stringify(body ?? {});
    const param = routine.params[0];
    return { from: sql.empty, fn: param ? sql`${name}(${value}::${typeRef(param.pgType)})` : sql`${name}(${value})` };
  }
  const given = routine.params.filter((p) => args.has(p.name));
  if (given.length === 0) return { from: sql.empty, fn: sql`${name}()` };
  const body: Record<string, unknown> = {};
  for (const p of given) body[p.name] = args.get(p.name);
  const columns = sql.join(given.map((p) => sql`${sql.ident(p.name)} ${typeRef(p.pgType)}`));
  const named = sql.join(given.map((p) => sql`${sql.ident(p.name)} => ${sql.ident('_args', p.name)}`));
  return {
    from: sql`pg_catalog.json_to_record(${JSON.stringify(body)}::json) as "_args"(${columns}), `,
    fn: sql`${name}(${named})`,
  };
}

/** A call of a function returning a scalar (or a set of them, or void), its value as JSON text. */
export function scalarCallSql(source: Extract<Source, { kind: 'call' }>, mode: 'one' | 'set' | 'void'): SqlFragment {
  const { from, fn } = callSql(source);
  switch (mode) {
    case 'void':
      return sql`select 1 from ${from}${fn} as "_v"`;
    case 'one':
      return sql`select pg_catalog.to_json("_v")::text as "body" from ${from}${fn} as "_v"`;
    case 'set':
      return sql`select pg_catalog.count(*)::int as "page_total", coalesce(pg_catalog.json_agg("_v"), '[]')::text as "body" from ${from}${fn} as "_v"`;
  }
}
