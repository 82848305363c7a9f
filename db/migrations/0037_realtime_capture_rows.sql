-- =============================================================================
-- 0037 realtime capture rows: realtime.capture() (0031) recorded `to_jsonb(n)` of
-- the transition table aliased `n` (and `o` for deletes). On a streamed table
-- with a column named n (or o) that names the column, not the row, so the
-- captured "row" was that column's value and every delivery of the table failed.
-- `n.*` / `o.*` always mean the whole row.
-- =============================================================================

create or replace function realtime.capture() returns trigger
language plpgsql
security definer -- writers (authenticated…) have no privilege on realtime.changes
set search_path = pg_catalog
as $$
declare
  captured bigint;
begin
  if tg_op = 'INSERT' then
    insert into realtime.changes (schema_name, table_name, op, record, primary_key)
    select tg_table_schema, tg_table_name, 'INSERT', to_jsonb(n.*), tg_argv from realtime_new n;
  elsif tg_op = 'UPDATE' then
    insert into realtime.changes (schema_name, table_name, op, record, old_record, primary_key)
    select tg_table_schema, tg_table_name, 'UPDATE', r.j,
           (select jsonb_object_agg(k, r.j -> k) from unnest(tg_argv) k), tg_argv
    from (select to_jsonb(n.*) as j from realtime_new n) r;
  else
    insert into realtime.changes (schema_name, table_name, op, old_record, primary_key)
    select tg_table_schema, tg_table_name, 'DELETE', to_jsonb(o.*), tg_argv from realtime_old o;
  end if;
  get diagnostics captured = row_count;
  if captured > 0 then
    -- One notification per transaction: identical payloads are folded at commit.
    perform pg_notify('loconomy_realtime_changes', txid_current()::text);
  end if;
  return null;
end
$$;
