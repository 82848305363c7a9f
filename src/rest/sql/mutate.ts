import { type SqlFragment, sql } from '../../db/sql.js';
import type { MutatePlan } from '../plan/mutate.js';
import type { FilterPlan, SelectPlan } from '../plan/types.js';
import { type BodyFormat, bodySql } from './body.js';
import { Aliases, filterSql, orderSql, relationRef, selectSql } from './select.js';

/**
 * A write as one statement. Rows enter as one JSON parameter read by
 * json_populate_record(set) against the table's own row type, so PostgreSQL converts every
 * value. With a representation, the write is a CTE named t0 and the response JSON is built by
 * the same select (embeddings included) a read would use.
 */

const TARGET = '_m';

export function mutateSql(plan: MutatePlan, format: BodyFormat = 'json'): SqlFragment[] {
  const returning = returningList(plan);
  const writes = writeStatements(plan, returning);
  if (plan.returning === 'minimal') return writes;
  const select = plan.returning === 'representation' ? (plan.select as SelectPlan) : pkSelect(plan);
  const ctes = writes.map((w, i) => sql`${sql.ident(`_w${i}`)} as (${w})`);
  const union = sql.join(
    writes.map((_, i) => sql`select * from ${sql.ident(`_w${i}`)}`),
    sql` union all `,
  );
  const page = selectSql(select, { from: sql`"t0"`, alias: 't0' }, new Aliases());
  const inserted = plan.onConflict
    ? sql`, (select pg_catalog.count(*) from "t0" where "t0"."_inserted")::int as "inserted"`
    : sql.empty;
  return [
    sql`with ${sql.join(ctes)}, "t0" as (${union}) select pg_catalog.count(*)::int as "page_total", ${bodySql(format, select)} as "body"${inserted} from (${page}) as "_t"`,
  ];
}

function writeStatements(plan: MutatePlan, returning: SqlFragment): SqlFragment[] {
  const table = sql`${relationRef(plan.relation)} as ${sql.ident(TARGET)}`;
  const type = relationRef(plan.relation);
  const where = plan.limited ? limitedWhere(plan) : whereClause(plan.where, TARGET);
  switch (plan.kind) {
    case 'insert':
      return plan.groups.map((group) => {
        const columns = sql.join(group.columns.map((c) => sql.ident(c)));
        const source =
          group.columns.length === 0
            ? sql`default values`
            : sql`(${columns}) select ${columns} from pg_catalog.json_populate_recordset(null::${type}, ${JSON.stringify(group.rows)}::json)`;
        let conflict = sql.empty;
        if (plan.onConflict) {
          const target = sql.join(plan.onConflict.columns.map((c) => sql.ident(c)));
          // Every listed column is set from the proposed row, as PostgREST does; one this group
          // leaves out (missing=default) took its default there, so it is set to its default.
          const given = new Set(group.columns);
          const updates = [
            ...group.columns.map((c) => sql`${sql.ident(c)} = excluded.${sql.ident(c)}`),
            ...plan.columns.filter((c) => !given.has(c)).map((c) => sql`${sql.ident(c)} = default`),
          ];
          conflict =
            plan.onConflict.action === 'nothing' || updates.length === 0
              ? sql` on conflict (${target}) do nothing`
              : sql` on conflict (${target}) do update set ${sql.join(updates)}`;
        }
        return sql`insert into ${table} ${source}${conflict}${returning}`;
      });
    case 'update': {
      const sets = plan.columns.map((c) => sql`${sql.ident(c)} = ${sql.ident('_b', c)}`);
      return [
        sql`update ${table} set ${sql.join(sets)} from pg_catalog.json_populate_record(null::${type}, ${JSON.stringify(plan.values ?? {})}::json) as "_b"${where}${returning}`,
      ];
    }
    case 'delete':
      return [sql`delete from ${table}${where}${returning}`];
  }
}

function whereClause(filters: readonly FilterPlan[], alias: string): SqlFragment {
  if (filters.length === 0) return sql.empty;
  return sql` where ${sql.join(
    filters.map((f) => filterSql(f, alias, [])),
    sql` and `,
  )}`;
}

/** The rows of a limited write: the first `limit` by `order`, picked by ctid in one subquery. */
function limitedWhere(plan: MutatePlan): SqlFragment {
  const { order, limit, offset } = plan.limited as NonNullable<MutatePlan['limited']>;
  const pick = '_l';
  let rows = sql`select ${sql.ident(pick)}.ctid from ${relationRef(plan.relation)} as ${sql.ident(pick)}${whereClause(plan.where, pick)}`;
  rows = sql`${rows} order by ${sql.join(order.map((o) => orderSql(o, pick, new Aliases())))} limit ${sql.int(limit)}`;
  if (offset !== undefined && offset > 0) rows = sql`${rows} offset ${sql.int(offset)}`; // literals: see selectSql
  return sql` where ${sql.ident(TARGET)}.ctid = any (array(${rows}))`;
}

/**
 * The columns the response needs of the written rows (RETURNING needs SELECT on each). An
 * upsert also returns whether each row was inserted (xmax is 0 on a new row version that no
 * update wrote), for its 201-or-200 status.
 */
function returningList(plan: MutatePlan): SqlFragment {
  const inserted = plan.onConflict ? [sql`(${sql.ident(TARGET)}.xmax = 0) as "_inserted"`] : [];
  if (plan.returning === 'minimal') return inserted.length > 0 ? sql` returning ${sql.join(inserted)}` : sql.empty;
  const needed = new Set<string>(plan.returning === 'headers-only' ? plan.relation.primaryKey : []);
  if (plan.returning === 'representation' && plan.select) collectColumns(plan.select, needed);
  const columns = [...[...needed].map((c) => sql.ident(TARGET, c)), ...inserted];
  if (columns.length === 0) return sql` returning 1 as "_one"`;
  return sql` returning ${sql.join(columns)}`;
}

function collectColumns(select: SelectPlan, into: Set<string>): void {
  for (const item of select.items) if (item.kind === 'column') into.add(item.field.name);
  for (const embed of select.embeds) for (const c of embed.relationship.sourceColumns) into.add(c);
  for (const order of select.order) {
    if (order.via) for (const c of order.via.relationship.sourceColumns) into.add(c);
    else into.add(order.field.name);
  }
  for (const filter of select.where) if (filter.kind === 'condition') into.add(filter.condition.field.name);
}

function pkSelect(plan: MutatePlan): SelectPlan {
  return {
    items: plan.relation.primaryKey.map((c) => ({ kind: 'column' as const, field: { name: c, path: [] }, name: c })),
    embeds: [],
    where: [],
    order: [],
    grouped: false,
  };
}
