import { type SqlFragment, sql } from '../../db/sql.js';
import type { SelectPlan, Source } from '../plan/types.js';
import { typeRef } from './expression.js';
import { Aliases, relationRef, selectSql } from './select.js';

/**
 * The one statement of a read: the page as a JSON array built in the database (returned as
 * text, passed to the client unchanged), how many rows it has, and — for Prefer: count=exact —
 * the total without limit and offset.
 */
export function readSql(source: Source, select: SelectPlan, options: { count: boolean }): SqlFragment {
  const aliases = new Aliases();
  const root = 't0';
  const from = sourceSql(source, root);
  const page = selectSql(select, { from, alias: root }, aliases);
  const total = options.count
    ? sql`, (select pg_catalog.count(*) from (${selectSql(select, { from: sourceSql(source, root), alias: root, countOnly: true }, new Aliases())}) as "_c") as "total"`
    : sql.empty;
  return sql`select pg_catalog.count(*)::int as "page_total", coalesce(pg_catalog.json_agg("_t"), '[]')::text as "body"${total} from (${page}) as "_t"`;
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
    return { from: sql.empty, fn: sql`${name}(${JSON.stringify(args.get('') ?? {})})` };
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
      return sql`select coalesce(pg_catalog.json_agg("_v"), '[]')::text as "body" from ${from}${fn} as "_v"`;
  }
}
