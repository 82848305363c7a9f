import { type SqlFragment, sql } from '../../db/sql.js';
import type { Field } from '../parse/field.js';
import { type Condition, OPERATORS } from '../parse/filter.js';
import type { TypeName } from '../schema/cache.js';

/**
 * The smallest SQL pieces of a plan: a column reference with its JSON path, a cast, a
 * filter condition. Names go through sql.ident, values become parameters; the operator
 * text comes from the closed OPERATORS table, never from the request.
 */

export function typeRef(type: TypeName): SqlFragment {
  return type.schema === '' ? sql.ident(type.name) : sql.ident(type.schema, type.name);
}

/** `"t0"."data"->'a'->>'b'` with the keys as parameters (digits as array indexes). */
export function fieldRef(alias: string, field: Field): SqlFragment {
  let expr = field.computed
    ? sql`${sql.ident(field.computed.schema, field.computed.name)}(${sql.ident(alias)})`
    : sql.ident(alias, field.name);
  for (const step of field.path) {
    const key = /^-?\d+$/.test(step.key) ? sql`${Number(step.key)}::int` : sql`${step.key}::text`;
    expr = step.arrow === '->' ? sql`${expr}->${key}` : sql`${expr}->>${key}`;
  }
  return expr;
}

/** `*` is the wildcard of like/ilike in PostgREST URLs (% would need escaping in a URL). */
function likePattern(value: string): string {
  return value.replaceAll('*', '%');
}

const FTS_FUNCTIONS = {
  fts: sql.raw('pg_catalog.to_tsquery'),
  plfts: sql.raw('pg_catalog.plainto_tsquery'),
  phfts: sql.raw('pg_catalog.phraseto_tsquery'),
  wfts: sql.raw('pg_catalog.websearch_to_tsquery'),
} as const;

const SQL_OPERATOR: Record<string, SqlFragment> = {
  eq: sql.raw('='),
  neq: sql.raw('<>'),
  gt: sql.raw('>'),
  gte: sql.raw('>='),
  lt: sql.raw('<'),
  lte: sql.raw('<='),
  like: sql.raw('like'),
  ilike: sql.raw('ilike'),
  match: sql.raw('~'),
  imatch: sql.raw('~*'),
  cs: sql.raw('@>'),
  cd: sql.raw('<@'),
  ov: sql.raw('&&'),
  sl: sql.raw('<<'),
  sr: sql.raw('>>'),
  nxr: sql.raw('&<'),
  nxl: sql.raw('&>'),
  adj: sql.raw('-|-'),
};

export function conditionSql(alias: string, condition: Condition): SqlFragment {
  const expr = fieldRef(alias, condition.field);
  const positive = positiveCondition(expr, condition);
  return condition.negate ? sql`not (${positive})` : positive;
}

function positiveCondition(expr: SqlFragment, c: Condition): SqlFragment {
  const { op } = c;
  if (!(op in OPERATORS)) throw new TypeError(`unknown operator ${op}`);
  if (op === 'in') return sql`${expr} = any (${[...(c.value as readonly string[])]})`;
  if (op === 'is') {
    switch (c.value) {
      case 'null':
        return sql`${expr} is null`;
      case 'not_null':
        return sql`${expr} is not null`;
      case 'true':
        return sql`${expr} is true`;
      case 'false':
        return sql`${expr} is false`;
      default:
        return sql`${expr} is unknown`;
    }
  }
  if (op === 'isdistinct') return sql`${expr} is distinct from ${c.value as string}`;
  if (op === 'fts' || op === 'plfts' || op === 'phfts' || op === 'wfts') {
    const fn = FTS_FUNCTIONS[op];
    const query = c.config
      ? sql`${fn}(${c.config}::regconfig, ${c.value as string})`
      : sql`${fn}(${c.value as string})`;
    return sql`${expr} @@ ${query}`;
  }
  const operator = SQL_OPERATOR[op] as SqlFragment;
  const like = op === 'like' || op === 'ilike';
  if (c.quantifier) {
    const values = (c.value as readonly string[]).map((v) => (like ? likePattern(v) : v));
    return c.quantifier === 'any' ? sql`${expr} ${operator} any (${values})` : sql`${expr} ${operator} all (${values})`;
  }
  const value = like ? likePattern(c.value as string) : (c.value as string);
  return sql`${expr} ${operator} ${value}`;
}
