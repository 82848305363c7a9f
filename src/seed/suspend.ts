import type { Transaction } from '../db/database.js';
import { sql } from '../db/sql.js';

/**
 * Bulk-load mode for a set of tables, inside the loading transaction: their user triggers are
 * disabled and their foreign keys, exclusion and unique constraints and secondary indexes are
 * dropped, then all of it is put back exactly as it was (definitions read from the catalog
 * with pg_get_constraintdef / pg_get_indexdef). Rebuilding an index once is much cheaper than
 * maintaining it for every row, and re-adding a foreign key checks it with one join instead of
 * one lookup (and row lock) per row; re-adding also re-validates everything that was loaded.
 *
 * The statements are formatted by PostgreSQL itself (format('%I'), regclass, pg_get_*def) into
 * a temporary table and executed by a temporary function, so no SQL is assembled here. It all
 * happens in the caller's transaction: if anything fails, the rollback restores the schema too.
 * Altering a table needs its owner, i.e. the role that ran the migrations.
 */

export interface RestoreStep {
  readonly seq: number;
  readonly phase: number;
  readonly kind: string;
  readonly name: string;
  readonly table: string;
}

export const PHASES = ['', 'index', 'unique constraint', 'exclusion constraint', 'foreign key', 'trigger'] as const;
/** The same, plural, for the step names in the log. */
export const PHASE_PLURALS = [
  '',
  'indexes',
  'unique constraints',
  'exclusion constraints',
  'foreign keys',
  'triggers',
] as const;

const SETUP = `
create temp table if not exists loconomy_demo_ddl (
  seq          integer generated always as identity primary key,
  phase        smallint not null,
  table_name   text not null,
  object_name  text not null,
  suspend_sql  text not null,
  restore_sql  text not null,
  restored     boolean not null default false
) on commit drop;

create or replace function pg_temp.loconomy_demo_exec(step integer, restoring boolean) returns void
language plpgsql as $fn$
declare
  statement text;
begin
  select case when restoring then restore_sql else suspend_sql end into strict statement
    from pg_temp.loconomy_demo_ddl where seq = step;
  execute statement;
  if restoring then
    update pg_temp.loconomy_demo_ddl set restored = true where seq = step;
  end if;
end $fn$;
`;

/** Puts `tables` (schema-qualified names) into bulk-load mode; returns the steps that undo it, in order. */
export async function suspendTables(tx: Transaction, tables: readonly string[]): Promise<RestoreStep[]> {
  await tx.exec(SETUP);
  await tx.query(sql`
    with target as (select unnest(${tables}::regclass[]) as rel)
    insert into pg_temp.loconomy_demo_ddl (phase, table_name, object_name, suspend_sql, restore_sql)
    select phase, table_name, object_name, suspend_sql, restore_sql from (
      -- 5: enabled user triggers (their effects are computed by the generator instead)
      select 5 as phase, t.tgrelid::regclass::text as table_name, t.tgname::text as object_name,
             format('alter table %s disable trigger %I', t.tgrelid::regclass, t.tgname) as suspend_sql,
             format('alter table %s enable %s trigger %I', t.tgrelid::regclass,
                    case t.tgenabled when 'A' then 'always' when 'R' then 'replica' else '' end, t.tgname) as restore_sql
        from pg_trigger t join target on target.rel = t.tgrelid
       where not t.tgisinternal and t.tgenabled <> 'D'
      union all
      -- 4: foreign keys of the loaded tables
      select 4, c.conrelid::regclass::text, c.conname::text,
             format('alter table %s drop constraint %I', c.conrelid::regclass, c.conname),
             format('alter table %s add constraint %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
        from pg_constraint c join target on target.rel = c.conrelid
       where c.contype = 'f'
      union all
      -- 2, 3: unique and exclusion constraints, unless a foreign key of another table needs them
      select case c.contype when 'x' then 3 else 2 end, c.conrelid::regclass::text, c.conname::text,
             format('alter table %s drop constraint %I', c.conrelid::regclass, c.conname),
             format('alter table %s add constraint %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
        from pg_constraint c join target on target.rel = c.conrelid
       where c.contype in ('u', 'x')
         and not exists (select 1 from pg_constraint f
                          where f.contype = 'f' and f.conindid = c.conindid
                            and f.conrelid not in (select rel from target))
      union all
      -- 1: indexes that back no constraint (primary keys stay)
      select 1, i.indrelid::regclass::text, ic.relname::text,
             format('drop index %s', i.indexrelid::regclass),
             pg_get_indexdef(i.indexrelid)
        from pg_index i join target on target.rel = i.indrelid
        join pg_class ic on ic.oid = i.indexrelid
       where not i.indisprimary
         and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid and c.conrelid = i.indrelid)
         and not exists (select 1 from pg_constraint f
                          where f.contype = 'f' and f.conindid = i.indexrelid
                            and f.conrelid not in (select rel from target))
    ) s
    order by phase desc, table_name, object_name`);
  const { rows } = await tx.query<{ seq: number; phase: number; name: string; table: string }>(sql`
    select seq, phase, object_name as name, table_name as "table" from pg_temp.loconomy_demo_ddl order by seq`);
  for (const row of rows) await tx.query(sql`select pg_temp.loconomy_demo_exec(${row.seq}::integer, false)`);
  return rows
    .map((row) => ({ ...row, kind: PHASES[row.phase] ?? 'object' }))
    .sort((a, b) => a.phase - b.phase || a.seq - b.seq);
}

/** Runs one restore step (rebuild an index, re-add and validate a constraint, re-enable a trigger). */
export async function restoreStep(tx: Transaction, step: RestoreStep): Promise<void> {
  await tx.query(sql`select pg_temp.loconomy_demo_exec(${step.seq}::integer, true)`);
}
