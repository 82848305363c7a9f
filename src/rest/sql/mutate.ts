import { type SqlFragment, sql } from '../../db/sql.js';
import type { MutatePlan } from '../plan/mutate.js';
import type { SelectPlan } from '../plan/types.js';
import { Aliases, filterSql, relationRef, selectSql } from './select.js';

/**
 * A write as one statement. Rows enter as one JSON parameter read by
 * json_populate_record(set) against the table's own row type, so PostgreSQL converts every
 * value. With a representation, the write is a CTE named t0 and the response JSON is built by
 * the same select (embeddings included) a read would use.
 */

const TARGET = '_m';

export function mutateSql(plan: MutatePlan): SqlFragment[] {
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
  return [
    sql`with ${sql.join(ctes)}, "t0" as (${union}) select pg_catalog.count(*)::int as "page_total", coalesce(pg_catalog.json_agg("_t"), '[]')::text as "body" from (${page}) as "_t"`,
  ];
}

function writeStatements(plan: MutatePlan, returning: SqlFragment): SqlFragment[] {
  const table = sql`${relationRef(plan.relation)} as ${sql.ident(TARGET)}`;
  const type = relationRef(plan.relation);
  const where =
    plan.where.length > 0
      ? sql` where ${sql.join(
          plan.where.map((f) => filterSql(f, TARGET, [])),
          sql` and `,
        )}`
      : sql.empty;
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
          const updates = group.columns.map((c) => sql`${sql.ident(c)} = excluded.${sql.ident(c)}`);
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

/** The columns the response needs of the written rows (RETURNING needs SELECT on each). */
function returningList(plan: MutatePlan): SqlFragment {
  if (plan.returning === 'minimal') return sql.empty;
  const needed = new Set<string>(plan.returning === 'headers-only' ? plan.relation.primaryKey : []);
  if (plan.returning === 'representation' && plan.select) collectColumns(plan.select, needed);
  if (needed.size === 0) return sql` returning 1 as "_one"`;
  return sql` returning ${sql.join([...needed].map((c) => sql.ident(TARGET, c)))}`;
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
