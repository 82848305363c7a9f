-- =============================================================================
-- 0031 realtime changes: change capture for Realtime's postgres_changes (issue 11,
-- decision 0017), the same on PostgreSQL and on embedded PGlite.
--
-- realtime.streamed_tables is the publication: only the tables listed there are
-- captured. Adding a row (service_role or the owner, in SQL) installs three
-- statement-level AFTER triggers on the table; deleting it drops them. Each
-- trigger writes the statement's rows into realtime.changes with one INSERT …
-- SELECT from the transition table and sends one NOTIFY whose payload is the
-- writing transaction's id. PostgreSQL folds identical notifications of one
-- transaction into one and delivers it at commit, so a transaction costs one
-- notification however many rows and statements it has, and the payload stays
-- tiny (NOTIFY's 8000-byte limit never matters: rows are read back from
-- realtime.changes, which is unlogged: no WAL, lost on a crash like the
-- notifications themselves).
--
-- realtime.visible_changes decides, in SQL, what each group of subscribers (one
-- group per distinct role + JWT claims) may see of a batch of changes: per group
-- and table it switches to the group's role and claims and evaluates the table's
-- SELECT policies on all the batch's row images in one query, and returns each
-- visible change with only the columns the role may SELECT. The server calls it
-- once per batch of notified transactions.
-- =============================================================================

create schema realtime;
comment on schema realtime is 'Realtime (issue 11): the streamed-table registry and captured changes. Not exposed over REST.';
revoke all on schema realtime from public;
grant usage on schema realtime to service_role;

create table realtime.streamed_tables (
  schema_name  text not null,
  table_name   text not null,
  primary_key  text[] not null default '{}',
  added_at     timestamptz not null default now(),
  primary key (schema_name, table_name)
);
comment on table realtime.streamed_tables is 'The tables whose changes postgres_changes subscribers can receive (Supabase''s supabase_realtime publication). Insert a row to stream a table, delete it to stop; primary_key is filled in.';
alter table realtime.streamed_tables enable row level security;
create policy "service_role manages the streamed tables" on realtime.streamed_tables
  for all to service_role using (true) with check (true);
grant select, insert, delete on realtime.streamed_tables to service_role;

create unlogged table realtime.changes (
  id           bigint generated always as identity primary key,
  xid          bigint not null default txid_current(),
  schema_name  text not null,
  table_name   text not null,
  op           text not null check (op in ('INSERT', 'UPDATE', 'DELETE')),
  -- INSERT, UPDATE: the new row. DELETE: null.
  record       jsonb,
  -- UPDATE: the primary key. DELETE: the whole deleted row, so that RLS and filters can
  -- be decided on it; only its primary key is ever delivered.
  old_record   jsonb,
  primary_key  text[] not null,
  changed_at   timestamptz not null default now()
);
comment on table realtime.changes is 'Captured row changes of the streamed tables, read back by the server on NOTIFY; the server deletes them after LOCONOMY_REALTIME_CHANGES_RETENTION_S.';
create index changes_xid_idx on realtime.changes (xid);
create index changes_changed_at_idx on realtime.changes (changed_at);
alter table realtime.changes enable row level security;
-- No policies and no grants: only the owner (the server) reads it.

create function realtime.capture() returns trigger
language plpgsql
security definer -- writers (authenticated…) have no privilege on realtime.changes
set search_path = pg_catalog
as $$
declare
  captured bigint;
begin
  if tg_op = 'INSERT' then
    insert into realtime.changes (schema_name, table_name, op, record, primary_key)
    select tg_table_schema, tg_table_name, 'INSERT', to_jsonb(n), tg_argv from realtime_new n;
  elsif tg_op = 'UPDATE' then
    insert into realtime.changes (schema_name, table_name, op, record, old_record, primary_key)
    select tg_table_schema, tg_table_name, 'UPDATE', r.j,
           (select jsonb_object_agg(k, r.j -> k) from unnest(tg_argv) k), tg_argv
    from (select to_jsonb(n) as j from realtime_new n) r;
  else
    insert into realtime.changes (schema_name, table_name, op, old_record, primary_key)
    select tg_table_schema, tg_table_name, 'DELETE', to_jsonb(o), tg_argv from realtime_old o;
  end if;
  get diagnostics captured = row_count;
  if captured > 0 then
    -- One notification per transaction: identical payloads are folded at commit.
    perform pg_notify('loconomy_realtime_changes', txid_current()::text);
  end if;
  return null;
end
$$;
comment on function realtime.capture() is 'Statement trigger of a streamed table (arguments: its primary key columns): records the rows in realtime.changes and notifies the transaction id.';
revoke execute on function realtime.capture() from public;

create function realtime.streamed_tables_sync() returns trigger
language plpgsql
security definer -- installing a trigger takes the table owner; service_role may register
set search_path = pg_catalog
as $$
declare
  rel regclass;
  pk text[];
  args text;
begin
  if tg_op = 'DELETE' then
    rel := to_regclass(format('%I.%I', old.schema_name, old.table_name));
    if rel is not null then
      execute format('drop trigger if exists realtime_capture_insert on %s', rel);
      execute format('drop trigger if exists realtime_capture_update on %s', rel);
      execute format('drop trigger if exists realtime_capture_delete on %s', rel);
    end if;
    return old;
  end if;
  if new.schema_name in ('realtime', 'pg_catalog', 'information_schema') then
    raise exception 'tables of schema % cannot be streamed', new.schema_name using errcode = '42501';
  end if;
  rel := to_regclass(format('%I.%I', new.schema_name, new.table_name));
  if rel is null or (select c.relkind from pg_class c where c.oid = rel) not in ('r', 'p') then
    raise exception 'table %.% does not exist', new.schema_name, new.table_name using errcode = '42P01';
  end if;
  select array_agg(a.attname::text order by array_position(i.indkey::int2[], a.attnum))
    into pk
    from pg_index i
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey::int2[])
   where i.indrelid = rel and i.indisprimary;
  if pk is null then
    raise exception 'table %.% has no primary key', new.schema_name, new.table_name
      using errcode = '55000', hint = 'postgres_changes identifies rows by their primary key';
  end if;
  new.primary_key := pk;
  select string_agg(quote_literal(c), ', ') into args from unnest(pk) c;
  execute format('create or replace trigger realtime_capture_insert after insert on %s '
                 'referencing new table as realtime_new for each statement execute function realtime.capture(%s)', rel, args);
  execute format('create or replace trigger realtime_capture_update after update on %s '
                 'referencing new table as realtime_new for each statement execute function realtime.capture(%s)', rel, args);
  execute format('create or replace trigger realtime_capture_delete after delete on %s '
                 'referencing old table as realtime_old for each statement execute function realtime.capture(%s)', rel, args);
  return new;
end
$$;
revoke execute on function realtime.streamed_tables_sync() from public;

create trigger streamed_tables_register before insert on realtime.streamed_tables
  for each row execute function realtime.streamed_tables_sync();
create trigger streamed_tables_unregister after delete on realtime.streamed_tables
  for each row execute function realtime.streamed_tables_sync();

-- What each group of subscribers may see of a batch of changes. subscriber_groups is a
-- JSON array of {"role": …, "claims": {…}}; a row comes back for each (change, group)
-- the group's role may SELECT, with the columns it may read. Each change is judged on
-- its own version of the row (the new row; for a DELETE the deleted one), not on what
-- the table holds when the batch runs, so a row inserted and deleted at once is still
-- delivered as both: the table's SELECT policies (permissive ones OR-ed, restrictive
-- ones AND-ed, those that apply to the role) are evaluated on the row image as the
-- group's role with its claims, one query per (group, table) for the whole batch.
-- Not SECURITY DEFINER: the server (the owner) calls it, and it switches role per group
-- with set_config, which only the session user's roles allow; nobody else may execute it.
create function realtime.visible_changes(change_ids bigint[], subscriber_groups jsonb)
returns table (change_id bigint, group_index integer, record jsonb, old_record jsonb, columns jsonb)
language plpgsql
as $$
declare
  g record;
  t record;
  rel regclass;
  readable text[];
  cols jsonb;
  predicate text;
  visible bigint[];
  batch jsonb;
begin
  perform set_config('search_path', 'pg_catalog', true);
  -- Read as the owner, before any role switch.
  select coalesce(jsonb_agg(to_jsonb(ch) order by ch.id), '[]')
    into batch from realtime.changes ch where ch.id = any (change_ids);

  for g in select (e.ordinality - 1)::integer as idx, e.value ->> 'role' as role_name,
                  coalesce(e.value -> 'claims', '{}') as claims
             from jsonb_array_elements(subscriber_groups) with ordinality e
  loop
    for t in select b.schema_name, b.table_name, format('%I.%I', b.schema_name, b.table_name) as qualified,
                    array_agg(b.id order by b.id) as ids,
                    array_agg(case when b.op = 'DELETE' then b.old_record else b.record end order by b.id) as images,
                    min(b.primary_key) as pk
               from jsonb_to_recordset(batch) as b(id bigint, schema_name text, table_name text, op text, record jsonb, old_record jsonb, primary_key text[]) group by b.schema_name, b.table_name
    loop
      perform set_config('role', 'none', true);
      rel := to_regclass(t.qualified);
      continue when rel is null;
      -- As the owner: the columns the role may read, and its SELECT policies as one predicate.
      select coalesce(jsonb_agg(jsonb_build_object('name', a.attname, 'type', ty.typname) order by a.attnum), '[]'),
             coalesce(array_agg(a.attname::text), '{}')
        into cols, readable
        from pg_attribute a join pg_type ty on ty.oid = a.atttypid
       where a.attrelid = rel and a.attnum > 0 and not a.attisdropped
         and has_column_privilege(g.role_name, rel, a.attnum, 'SELECT');
      continue when not (t.pk <@ readable); -- a row it cannot identify, it cannot see
      if exists (select 1 from pg_class cl where cl.oid = rel and cl.relrowsecurity)
         and not exists (select 1 from pg_roles r where r.rolname = g.role_name and r.rolbypassrls) then
        select '(' || coalesce(string_agg('(' || coalesce(pg_get_expr(p.polqual, p.polrelid), 'false') || ')', ' or ')
                                 filter (where p.polpermissive), 'false') || ')'
               || coalesce(' and ' || string_agg('(' || coalesce(pg_get_expr(p.polqual, p.polrelid), 'false') || ')', ' and ')
                                 filter (where not p.polpermissive), '')
          into predicate
          from pg_policy p
         where p.polrelid = rel and p.polcmd in ('r', '*')
           and ('{0}'::oid[] @> p.polroles
                or exists (select 1 from unnest(p.polroles) pr where pg_has_role(g.role_name, pr, 'member')));
      else
        predicate := 'true';
      end if;

      perform set_config('role', g.role_name, true);
      perform set_config('request.jwt.claims', g.claims::text, true);
      begin
        execute format('select coalesce(array_agg(realtime_change_id), ''{}'') '
                       'from unnest($1::bigint[], $2::jsonb[]) as realtime_batch_rows(realtime_change_id, realtime_image), '
                       'lateral jsonb_populate_record(null::%s, realtime_image) as %I where %s',
                       t.qualified, t.table_name, predicate)
          into visible using t.ids, t.images;
      exception when others then
        visible := '{}'; -- a policy that fails for this role hides the rows from it, not from everyone
      end;
      perform set_config('role', 'none', true);

      return query
        select b.id, g.idx,
               case when b.op <> 'DELETE' then
                 (select coalesce(jsonb_object_agg(kv.key, kv.value), '{}')
                    from jsonb_each(b.record) kv where kv.key = any (readable)) end,
               case when b.op <> 'INSERT' then
                 (select coalesce(jsonb_object_agg(k, b.old_record -> k), '{}') from unnest(t.pk) k) end,
               cols
          from jsonb_to_recordset(batch) as b(id bigint, schema_name text, table_name text, op text, record jsonb, old_record jsonb, primary_key text[])
         where b.id = any (visible)
         order by b.id;
    end loop;
  end loop;
  perform set_config('role', 'none', true);
end
$$;
comment on function realtime.visible_changes(bigint[], jsonb) is 'For the server only: which of a batch of captured changes each group of subscribers (role + JWT claims) may SELECT, judged on the changed row, with the columns it may read (decision 0017).';
revoke execute on function realtime.visible_changes(bigint[], jsonb) from public;

-- What marketplace apps watch live: messages, read state, notifications, bookings.
insert into realtime.streamed_tables (schema_name, table_name) values
  ('public', 'messages'),
  ('public', 'conversation_participants'),
  ('public', 'notifications'),
  ('public', 'bookings'),
  ('public', 'booking_status_history');
