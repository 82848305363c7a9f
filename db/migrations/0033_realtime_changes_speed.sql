-- =============================================================================
-- 0033 realtime changes, speed: realtime.visible_changes (migration 0031) redone so
-- that a batch costs little per group of subscribers (issue 11's 300 changes/s at 500
-- RLS subscribers; decision 0017, "Then: speed"). Same signature, same answers:
--
--  * the batch's row images become rows of the table's type once per table per batch
--    (0031 ran jsonb_populate_record again for every group);
--  * the readable columns and the SELECT policy predicate are looked up once per
--    (role, table) per batch, not once per group;
--  * per group only the predicate is evaluated, one statement with the group's role and
--    claims, on the converted rows;
--  * the groups of one role run inside one subtransaction; only if one of them fails
--    (a policy that raises for some claims) are that role's groups redone one by one,
--    each in its own, so a failure still hides the rows from the failing group only.
--
-- Why still one statement per group rather than one per role joining all its groups:
-- policies call their helpers as `(select app.current_user_id())`, an InitPlan that
-- PostgreSQL evaluates once per statement, so a statement setting the claims row by row
-- would judge every group with the first group's identity. One statement per group is
-- what makes the claims the ones the policy sees.
-- =============================================================================

-- Which of `rows` (rows of the table `rel`, in the batch's order) each group of
-- subscribers may see: for each group with at least one, the 1-based positions, and
-- for its role the columns it may read. Polymorphic so that the rows keep their table
-- type across the call (plpgsql cannot declare a variable of a type known at run time).
-- Not SECURITY DEFINER: it switches role per group with set_config, which only the
-- session user's roles allow; nobody but the owner (the server) may execute it.
create function realtime.visible_rows(rows anyarray, rel regclass, primary_key text[], subscriber_groups jsonb)
returns table (group_index integer, positions integer[], readable text[], all_readable boolean, columns jsonb)
language plpgsql
as $$
declare
  r record;
  i integer;
  alias text;
  column_list text;
  cols jsonb;
  readable_cols text[];
  every_column boolean;
  predicate text;
  statement text;
  visible integer[];
  found_groups integer[];
  found_positions integer[];
  failed boolean;
begin
  perform set_config('search_path', 'pg_catalog', true);
  perform set_config('role', 'none', true);
  -- The row source is aliased as the table, with the table's own column names, so the
  -- policy text (pg_get_expr prints columns bare or prefixed with the table's name) applies.
  select c.relname, string_agg(quote_ident(a.attname), ', ' order by a.attnum)
    into alias, column_list
    from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
   where c.oid = rel
   group by c.relname;

  for r in select e.value ->> 'role' as role_name,
                  array_agg((e.ordinality - 1)::integer order by e.ordinality) as indexes,
                  array_agg(coalesce(e.value -> 'claims', '{}') order by e.ordinality) as claims
             from jsonb_array_elements(subscriber_groups) with ordinality e
            group by 1
  loop
    perform set_config('role', 'none', true);
    -- As the owner, once for all the role's groups: the columns it may read…
    select coalesce(jsonb_agg(jsonb_build_object('name', a.attname, 'type', a.typname) order by a.attnum)
                      filter (where a.readable), '[]'),
           coalesce(array_agg(a.attname::text order by a.attnum) filter (where a.readable), '{}'),
           coalesce(bool_and(a.readable), true)
      into cols, readable_cols, every_column
      from (select a.attname, a.attnum, ty.typname,
                   has_column_privilege(r.role_name, rel, a.attnum, 'SELECT') as readable
              from pg_attribute a join pg_type ty on ty.oid = a.atttypid
             where a.attrelid = rel and a.attnum > 0 and not a.attisdropped) a;
    continue when not (primary_key <@ readable_cols); -- a row it cannot identify, it cannot see
    -- …and its SELECT policies as one predicate (permissive OR-ed, restrictive AND-ed).
    if exists (select 1 from pg_class cl where cl.oid = rel and cl.relrowsecurity)
       and not exists (select 1 from pg_roles ro where ro.rolname = r.role_name and ro.rolbypassrls) then
      select '(' || coalesce(string_agg('(' || coalesce(pg_get_expr(p.polqual, p.polrelid), 'false') || ')', ' or ')
                               filter (where p.polpermissive), 'false') || ')'
             || coalesce(' and ' || string_agg('(' || coalesce(pg_get_expr(p.polqual, p.polrelid), 'false') || ')', ' and ')
                               filter (where not p.polpermissive), '')
        into predicate
        from pg_policy p
       where p.polrelid = rel and p.polcmd in ('r', '*')
         and ('{0}'::oid[] @> p.polroles
              or exists (select 1 from unnest(p.polroles) pr where pg_has_role(r.role_name, pr, 'member')));
    else
      predicate := 'true';
    end if;

    if predicate = 'true' then
      -- No RLS for this role: every row, for every group, no role switch needed.
      return query
        select g, (select array_agg(n)::integer[] from generate_series(1, cardinality(rows)) n),
               readable_cols, every_column, cols
          from unnest(r.indexes) g;
      continue;
    end if;

    statement := format('select coalesce(array_agg("realtime: position"), ''{}'')::integer[] '
                        'from unnest($1) with ordinality as %I(%s, "realtime: position") where %s',
                        alias, column_list, predicate);
    found_groups := '{}';
    found_positions := '{}';
    failed := false;
    begin
      for i in 1 .. cardinality(r.indexes) loop
        perform set_config('role', r.role_name, true);
        perform set_config('request.jwt.claims', (r.claims[i])::text, true);
        execute statement into visible using rows;
        perform set_config('role', 'none', true);
        found_groups := found_groups || array_fill(r.indexes[i], array[cardinality(visible)]);
        found_positions := found_positions || visible;
      end loop;
    exception when others then
      failed := true; -- one of the groups failed; the block's settings are rolled back
    end;
    if failed then
      -- One subtransaction per group: a policy that fails for some claims hides the rows
      -- from those groups, not from the others.
      found_groups := '{}';
      found_positions := '{}';
      for i in 1 .. cardinality(r.indexes) loop
        begin
          perform set_config('role', r.role_name, true);
          perform set_config('request.jwt.claims', (r.claims[i])::text, true);
          execute statement into visible using rows;
        exception when others then
          visible := '{}';
        end;
        perform set_config('role', 'none', true);
        found_groups := found_groups || array_fill(r.indexes[i], array[cardinality(visible)]);
        found_positions := found_positions || visible;
      end loop;
    end if;
    perform set_config('role', 'none', true);

    return query
      select f.g, array_agg(f.n order by f.n)::integer[], readable_cols, every_column, cols
        from unnest(found_groups, found_positions) f(g, n)
       group by f.g;
  end loop;
  perform set_config('role', 'none', true);
end
$$;
comment on function realtime.visible_rows(anyarray, regclass, text[], jsonb) is 'For realtime.visible_changes only: which of a batch''s rows of one table each group of subscribers may SELECT (decision 0017, "Then: speed").';
revoke execute on function realtime.visible_rows(anyarray, regclass, text[], jsonb) from public;

-- What each group of subscribers may see of a batch of changes: as in 0031 (a row per
-- visible (change, group), cut to the columns the group's role may read, the key as
-- old_record), now one realtime.visible_rows call per table of the batch.
create or replace function realtime.visible_changes(change_ids bigint[], subscriber_groups jsonb)
returns table (change_id bigint, group_index integer, record jsonb, old_record jsonb, columns jsonb)
language plpgsql
as $$
declare
  t record;
  rel regclass;
begin
  perform set_config('search_path', 'pg_catalog', true);
  -- Read as the owner, before any role switch.
  for t in select ch.schema_name, ch.table_name, min(ch.primary_key) as pk,
                  array_agg(ch.id order by ch.id) as ids,
                  array_agg(ch.op order by ch.id) as ops,
                  array_agg(ch.record order by ch.id) as records,
                  array_agg(ch.old_record order by ch.id) as old_records
             from realtime.changes ch
            where ch.id = any (change_ids)
            group by ch.schema_name, ch.table_name
  loop
    rel := to_regclass(format('%I.%I', t.schema_name, t.table_name));
    continue when rel is null;
    -- The images (the new row; for a DELETE the deleted one) made rows of the table once.
    return query execute format($q$
      select ($1::bigint[])[p.n], v.group_index,
             case when ($2::text[])[p.n] <> 'DELETE' then
               case when v.all_readable then ($3::jsonb[])[p.n]
                    else (select coalesce(jsonb_object_agg(kv.key, kv.value), '{}')
                            from jsonb_each(($3::jsonb[])[p.n]) kv where kv.key = any (v.readable)) end
             end,
             case when ($2::text[])[p.n] <> 'INSERT' then
               (select coalesce(jsonb_object_agg(k, ($4::jsonb[])[p.n] -> k), '{}') from unnest($5::text[]) k)
             end,
             v.columns
        from realtime.visible_rows(
               (select array_agg(jsonb_populate_record(null::%s,
                                   case when u.op = 'DELETE' then u.old_record else u.record end) order by u.n)
                  from unnest($2::text[], $3::jsonb[], $4::jsonb[]) with ordinality u(op, record, old_record, n)),
               $6::regclass, $5::text[], $7::jsonb) v
        cross join lateral unnest(v.positions) p(n)
    $q$, rel) using t.ids, t.ops, t.records, t.old_records, t.pk, rel, subscriber_groups;
  end loop;
  perform set_config('role', 'none', true);
end
$$;
