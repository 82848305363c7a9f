import { type SqlFragment, sql } from '../../db/sql.js';
import type { EmbedPlan, FilterPlan, OrderPlan, OutputItem, SelectPlan } from '../plan/types.js';
import type { Relation, Relationship } from '../schema/cache.js';
import { conditionSql, fieldRef, typeRef } from './expression.js';

/**
 * A SelectPlan as one SELECT: the level's columns, each embedding as a LEFT JOIN LATERAL that
 * builds its JSON in the database (json_agg for to-many, row_to_json for to-one), filters,
 * grouping, order and limits. Aliases are t0, t1… for relations and e1, e2… for embeddings.
 */

/** The column each embedding lateral exposes its JSON as. */
export const BODY = '__loco_body';

export class Aliases {
  #n = 0;
  next(prefix: string): string {
    this.#n += 1;
    return `${prefix}${this.#n}`;
  }
}

export interface SelectSql {
  /** The FROM item, already aliased (`"public"."listings" as "t0"`, a function call…). */
  readonly from: SqlFragment;
  /** The alias the level's columns are read from. */
  readonly alias: string;
  /** Extra conditions (the join to the parent). */
  readonly join?: readonly SqlFragment[];
  /** For the count query: `select 1`, only the laterals its filters need, no order or limit. */
  readonly countOnly?: boolean;
}

export function selectSql(plan: SelectPlan, target: SelectSql, aliases: Aliases): SqlFragment {
  const { alias } = target;
  const embedAliases = plan.embeds.map(() => aliases.next('e'));
  const neededByWhere = new Set<number>();
  collectEmbedRefs(plan.where, neededByWhere);
  plan.embeds.forEach((e, i) => {
    if (e.inner) neededByWhere.add(i);
  });

  const grouped = plan.grouped;
  const items =
    target.countOnly && !grouped
      ? sql`1`
      : sql.join(plan.items.map((item) => outputSql(item, alias, plan.embeds, embedAliases, grouped)));
  const laterals = plan.embeds
    .map((embed, i) =>
      target.countOnly && !grouped && !neededByWhere.has(i)
        ? sql.empty
        : lateralSql(embed, alias, embedAliases[i] as string, aliases),
    )
    .filter((f) => f !== sql.empty);

  const conditions: SqlFragment[] = [...(target.join ?? [])];
  for (const filter of plan.where) conditions.push(filterSql(filter, alias, embedAliases));
  plan.embeds.forEach((embed, i) => {
    if (embed.inner) conditions.push(sql`${sql.ident(embedAliases[i] as string, BODY)} is not null`);
  });

  let query = sql`select ${items} from ${target.from}`;
  if (laterals.length > 0) query = sql`${query} ${sql.join(laterals, sql` `)}`;
  if (conditions.length > 0) query = sql`${query} where ${sql.join(conditions, sql` and `)}`;
  if (grouped) {
    // json has no equality, so an embedding is grouped by its text (and output through min()).
    const keys = plan.items.flatMap((item, i) => {
      if (isAggregate(item)) return [];
      if (item.kind === 'embed') return [sql`(${sql.ident(embedAliases[item.embed] as string, BODY)})::text`];
      return [sql.int(i + 1)];
    });
    if (keys.length > 0) query = sql`${query} group by ${sql.join(keys)}`;
  }
  if (target.countOnly) return query;
  if (plan.order.length > 0) {
    query = sql`${query} order by ${sql.join(plan.order.map((o) => orderSql(o, alias, aliases)))}`;
  }
  // Literals, not parameters: with `limit $n` PostgreSQL's generic plan assumes a tenth of the
  // table is wanted, costs more than the custom plan, and the statement is planned again at
  // every execution (decision 0014, "Literal limits"). Both come parsed as integers.
  if (plan.limit !== undefined) query = sql`${query} limit ${sql.int(plan.limit)}`;
  if (plan.offset !== undefined && plan.offset > 0) query = sql`${query} offset ${sql.int(plan.offset)}`;
  return query;
}

function isAggregate(item: OutputItem): boolean {
  return item.kind === 'count' || (item.kind === 'column' && item.aggregate !== undefined);
}

function collectEmbedRefs(filters: readonly FilterPlan[], into: Set<number>): void {
  for (const f of filters) {
    if (f.kind === 'embedded') into.add(f.embed);
    else if (f.kind === 'logic') collectEmbedRefs(f.children, into);
  }
}

function outputSql(
  item: OutputItem,
  alias: string,
  embeds: readonly EmbedPlan[],
  embedAliases: readonly string[],
  grouped: boolean,
): SqlFragment {
  if (item.kind === 'column' && isPlainColumn(item)) return plainColumnSql(alias, item.name);
  const name = sql.ident(item.name);
  switch (item.kind) {
    case 'column': {
      let expr = fieldRef(alias, item.field);
      if (item.cast) expr = sql`(${expr})::${typeRef(item.cast)}`;
      if (item.aggregate) {
        expr = aggregateSql(item.aggregate.fn, expr);
        if (item.aggregate.cast) expr = sql`(${expr})::${typeRef(item.aggregate.cast)}`;
      }
      return sql`${expr} as ${name}`;
    }
    case 'count':
      return item.cast
        ? sql`(pg_catalog.count(*))::${typeRef(item.cast)} as ${name}`
        : sql`pg_catalog.count(*) as ${name}`;
    case 'embed': {
      let body = sql.ident(embedAliases[item.embed] as string, BODY);
      if (grouped) body = sql`(pg_catalog.min((${body})::text))::json`;
      return (embeds[item.embed] as EmbedPlan).toOne
        ? sql`${body} as ${name}`
        : sql`coalesce(${body}, '[]'::json) as ${name}`;
    }
    case 'spread': {
      const column = sql.ident(embedAliases[item.embed] as string, item.column);
      return (embeds[item.embed] as EmbedPlan).toOne
        ? sql`${column} as ${name}`
        : sql`coalesce(${column}, '[]'::json) as ${name}`;
    }
  }
}

/** A column output under its own name: no path, cast, aggregate or computed field. */
function isPlainColumn(item: Extract<OutputItem, { kind: 'column' }>): boolean {
  return (
    item.name === item.field.name &&
    item.field.path.length === 0 &&
    !item.field.computed &&
    !item.cast &&
    !item.aggregate
  );
}

/**
 * `"t0"."title" as "title"`, made once per alias and column: `select=*` names every column of a
 * table on every request, and these pieces were a large share of a read's allocations.
 */
function plainColumnSql(alias: string, column: string): SqlFragment {
  let columns = plainColumns.get(alias);
  if (columns === undefined) {
    if (plainColumns.size >= 100) plainColumns.clear(); // aliases are t0, t1…: a few
    columns = new Map();
    plainColumns.set(alias, columns);
  }
  let fragment = columns.get(column);
  if (fragment === undefined) {
    fragment = sql`${sql.ident(alias, column)} as ${sql.ident(column)}`;
    if (columns.size >= 10_000) columns.clear(); // columns of the schema cache's relations
    columns.set(column, fragment);
  }
  return fragment;
}

const plainColumns = new Map<string, Map<string, SqlFragment>>();

function aggregateSql(fn: string, expr: SqlFragment): SqlFragment {
  switch (fn) {
    case 'count':
      return sql`pg_catalog.count(${expr})`;
    case 'sum':
      return sql`pg_catalog.sum(${expr})`;
    case 'avg':
      return sql`pg_catalog.avg(${expr})`;
    case 'min':
      return sql`pg_catalog.min(${expr})`;
    default:
      return sql`pg_catalog.max(${expr})`;
  }
}

/** The join between a parent row (alias) and an embedded relation's rows (childAlias). */
export function joinConditions(
  relationship: Relationship,
  parentAlias: string,
  childAlias: string,
  aliases: Aliases,
): SqlFragment[] {
  const pairs = (left: string, leftColumns: readonly string[], right: string, rightColumns: readonly string[]) =>
    leftColumns.map((c, i) => sql`${sql.ident(left, c)} = ${sql.ident(right, rightColumns[i] as string)}`);
  const { junction } = relationship;
  if (!junction) return pairs(childAlias, relationship.targetColumns, parentAlias, relationship.sourceColumns);
  const j = aliases.next('j');
  const on = [
    ...pairs(j, junction.targetColumns, childAlias, relationship.targetColumns),
    ...pairs(j, junction.sourceColumns, parentAlias, relationship.sourceColumns),
  ];
  return [
    sql`exists (select 1 from ${sql.ident(junction.relation.schema, junction.relation.name)} as ${sql.ident(j)} where ${sql.join(on, sql` and `)})`,
  ];
}

/** The rows of a relationship for one parent row: the target joined to it, or a computed relationship's call. */
function relatedRows(
  relationship: Relationship,
  target: Relation,
  parentAlias: string,
  child: string,
  aliases: Aliases,
) {
  const { computed } = relationship;
  if (computed) {
    return { from: sql`${relationRef(computed)}(${sql.ident(parentAlias)}) as ${sql.ident(child)}`, join: [] };
  }
  return {
    from: sql`${relationRef(target)} as ${sql.ident(child)}`,
    join: joinConditions(relationship, parentAlias, child, aliases),
  };
}

function lateralSql(embed: EmbedPlan, parentAlias: string, embedAlias: string, aliases: Aliases): SqlFragment {
  const child = aliases.next('t');
  const rows = aliases.next('_r');
  const inner = selectSql(
    embed.select,
    { alias: child, ...relatedRows(embed.relationship, embed.target, parentAlias, child, aliases) },
    aliases,
  );
  const body = embed.toOne
    ? sql`pg_catalog.row_to_json(${sql.ident(rows)}) as ${sql.ident(BODY)}${embed.spread ? sql`, ${sql.ident(rows)}.*` : sql.empty}`
    : sql`pg_catalog.json_agg(${sql.ident(rows)}) as ${sql.ident(BODY)}${embed.spread ? spreadArrays(embed, rows) : sql.empty}`;
  return sql`left join lateral (select ${body} from (${inner}) as ${sql.ident(rows)}) as ${sql.ident(embedAlias)} on true`;
}

/** A to-many spread: each of the embedded level's columns as the array of its values, in order. */
function spreadArrays(embed: EmbedPlan, rows: string): SqlFragment {
  const columns = embed.select.items.map(
    (item) => sql`pg_catalog.json_agg(${sql.ident(rows, item.name)}) as ${sql.ident(item.name)}`,
  );
  return columns.length === 0 ? sql.empty : sql`, ${sql.join(columns)}`;
}

export function relationRef(relation: Pick<Relation, 'schema' | 'name'>): SqlFragment {
  return sql.ident(relation.schema, relation.name);
}

export function filterSql(filter: FilterPlan, alias: string, embedAliases: readonly string[]): SqlFragment {
  switch (filter.kind) {
    case 'condition':
      return conditionSql(alias, filter.condition);
    case 'embedded': {
      const body = sql.ident(embedAliases[filter.embed] as string, BODY);
      return filter.present ? sql`${body} is not null` : sql`${body} is null`;
    }
    case 'logic': {
      const parts = filter.children.map((c) => filterSql(c, alias, embedAliases));
      const joined = sql`(${sql.join(parts, filter.op === 'and' ? sql` and ` : sql` or `)})`;
      return filter.negate ? sql`not ${joined}` : joined;
    }
  }
}

export function orderSql(order: OrderPlan, alias: string, aliases: Aliases): SqlFragment {
  let expr: SqlFragment;
  if (order.via) {
    const o = aliases.next('o');
    const { from, join } = relatedRows(order.via.relationship, order.via.target, alias, o, aliases);
    const where = join.length > 0 ? sql` where ${sql.join(join, sql` and `)}` : sql.empty;
    expr = sql`(select ${fieldRef(o, order.field)} from ${from}${where} limit 1)`;
  } else expr = fieldRef(alias, order.field);
  const direction = order.direction === 'desc' ? sql` desc` : order.direction === 'asc' ? sql` asc` : sql.empty;
  const nulls = order.nulls === 'first' ? sql` nulls first` : order.nulls === 'last' ? sql` nulls last` : sql.empty;
  return sql`${expr}${direction}${nulls}`;
}
