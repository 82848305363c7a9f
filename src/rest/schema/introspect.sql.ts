/**
 * The one catalog query behind the schema cache (STYLE.md 3): every relation, column, foreign
 * key and function of the exposed schemas, as one JSON document. $1 is the schema names.
 * Types are named by (schema, name) from pg_type so that casts go through sql.ident.
 * $2 is the API roles: for each column, the ones that may select it, so that `select=*`
 * expands to what the caller may read (column grants are common: secrets, privileged flags).
 * Check constraints of the exposed tables and domains come with their comment and definition,
 * so that a 23514 error can say what the limit is (src/rest/errors.ts).
 */
export const INTROSPECTION_QUERY = `
with schemas as (
  select n.oid, n.nspname from pg_namespace n where n.nspname = any ($1::text[])
),
rels as (
  select c.oid, s.nspname as schema, c.relname as name, c.relkind::text as kind,
         obj_description(c.oid, 'pg_class') as comment,
         (c.relkind in ('r', 'p', 'f') or (c.relkind = 'v' and pg_relation_is_updatable(c.oid, true) & 8 = 8)) as insertable,
         (c.relkind in ('r', 'p', 'f') or (c.relkind = 'v' and pg_relation_is_updatable(c.oid, true) & 4 = 4)) as updatable,
         (c.relkind in ('r', 'p', 'f') or (c.relkind = 'v' and pg_relation_is_updatable(c.oid, true) & 16 = 16)) as deletable
    from pg_class c join schemas s on s.oid = c.relnamespace
   where c.relkind in ('r', 'p', 'v', 'm', 'f')
),
cols as (
  select a.attrelid, a.attnum, a.attname as name,
         format_type(a.atttypid, a.atttypmod) as type,
         tn.nspname as type_schema, t.typname as type_name,
         coalesce(bt.typcategory, t.typcategory)::text as category,
         not a.attnotnull as nullable,
         a.atthasdef or a.attidentity <> '' as has_default,
         a.attgenerated <> '' as generated,
         col_description(a.attrelid, a.attnum) as comment,
         (select coalesce(json_agg(r.rolname), '[]') from pg_roles r
           where r.rolname = any ($2::text[]) and has_column_privilege(r.oid, a.attrelid, a.attnum, 'SELECT')) as readers,
         case when coalesce(bt.typtype, t.typtype) = 'e'
              then (select json_agg(e.enumlabel order by e.enumsortorder) from pg_enum e
                     where e.enumtypid = coalesce(bt.oid, t.oid)) end as enum_values
    from pg_attribute a
    join rels r on r.oid = a.attrelid
    join pg_type t on t.oid = a.atttypid
    join pg_namespace tn on tn.oid = t.typnamespace
    left join pg_type bt on t.typtype = 'd' and bt.oid = t.typbasetype
   where a.attnum > 0 and not a.attisdropped
),
keys as (
  select con.conrelid, con.contype::text as type, con.conname as name,
         (select json_agg(a.attname order by k.ord) from unnest(con.conkey) with ordinality k(attnum, ord)
            join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum) as columns
    from pg_constraint con join rels r on r.oid = con.conrelid
   where con.contype in ('p', 'u')
),
fks as (
  select con.conname as name, fs.nspname as schema, fc.relname as "table",
         ts.nspname as ref_schema, tc.relname as ref_table,
         (select json_agg(a.attname order by k.ord) from unnest(con.conkey) with ordinality k(attnum, ord)
            join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum) as columns,
         (select json_agg(a.attname order by k.ord) from unnest(con.confkey) with ordinality k(attnum, ord)
            join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum) as ref_columns
    from pg_constraint con
    join pg_class fc on fc.oid = con.conrelid join pg_namespace fs on fs.oid = fc.relnamespace
    join pg_class tc on tc.oid = con.confrelid join pg_namespace ts on ts.oid = tc.relnamespace
   where con.contype = 'f' and fs.nspname = any ($1::text[]) and ts.nspname = any ($1::text[])
),
-- Where each view column comes from: the parser records the base table and column of every
-- plain column reference (resorigtbl/resorigcol in the stored rule), which lets foreign keys
-- of the base tables apply to views, as PostgREST does. A column with two different origins
-- (e.g. from nested subqueries) is left out.
view_columns as (
  select r.oid as view_oid, va.attname as name, ss.nspname as src_schema, sc.relname as src_table, sa.attname as src_column
    from rels r
    join pg_rewrite rw on rw.ev_class = r.oid and rw.rulename = '_RETURN'
    cross join lateral regexp_matches(rw.ev_action::text,
      ':resno (\\d+) :resname \\S+ :ressortgroupref \\d+ :resorigtbl (\\d+) :resorigcol (\\d+)', 'g') m
    join pg_attribute va on va.attrelid = r.oid and va.attnum = m[1]::int
    join pg_class sc on sc.oid = m[2]::oid
    join pg_namespace ss on ss.oid = sc.relnamespace
    join pg_attribute sa on sa.attrelid = sc.oid and sa.attnum = m[3]::int
   where r.kind in ('v', 'm')
   group by r.oid, va.attname, ss.nspname, sc.relname, sa.attname
),
view_origins as (
  select v.* from view_columns v
   where (select count(*) from view_columns w where w.view_oid = v.view_oid and w.name = v.name) = 1
),
funcs as (
  select p.oid, s.nspname as schema, p.proname as name, obj_description(p.oid, 'pg_proc') as comment,
         p.provolatile::text as volatility, p.proretset as returns_set,
         rtn.nspname as return_type_schema, rt.typname as return_type_name,
         rt.typtype::text as return_type_kind,
         rr.relname as return_relation, rrn.nspname as return_relation_schema,
         p.prorows as rows, p.pronargs as nargs, p.pronargdefaults as ndefaults, p.provariadic <> 0 as variadic,
         coalesce((
           select json_agg(json_build_object(
                    'name', coalesce(p.proargnames[k.ord], ''),
                    'mode', coalesce(p.proargmodes[k.ord], 'i'),
                    'type', format_type(k.oid, null),
                    'type_schema', an.nspname, 'type_name', at.typname) order by k.ord)
             from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality k(oid, ord)
             join pg_type at on at.oid = k.oid join pg_namespace an on an.oid = at.typnamespace), '[]') as args
    from pg_proc p
    join schemas s on s.oid = p.pronamespace
    join pg_type rt on rt.oid = p.prorettype
    join pg_namespace rtn on rtn.oid = rt.typnamespace
    left join pg_class rr on rr.oid = rt.typrelid and rt.typtype = 'c'
    left join pg_namespace rrn on rrn.oid = rr.relnamespace
   where p.prokind = 'f' and rt.typname not in ('trigger', 'event_trigger')
     and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
),
-- Check constraints of tables and domains in the exposed schemas: a violation's message
-- names the constraint; its comment (or definition) says what the limit is.
checks as (
  select coalesce(rs.nspname, ds.nspname) as schema, coalesce(rc.relname, dt.typname) as owner,
         con.contypid <> 0 as domain, con.conname as name,
         obj_description(con.oid, 'pg_constraint') as comment, pg_get_constraintdef(con.oid) as definition
    from pg_constraint con
    left join pg_class rc on rc.oid = con.conrelid
    left join pg_namespace rs on rs.oid = rc.relnamespace
    left join pg_type dt on dt.oid = con.contypid
    left join pg_namespace ds on ds.oid = dt.typnamespace
   where con.contype = 'c' and coalesce(rs.nspname, ds.nspname) = any ($1::text[])
),
-- Settings of the API roles (ALTER ROLE … SET, e.g. statement_timeout): a request switches role
-- inside its transaction, which does not apply them, so each request sets them itself. Only
-- settings any user may change; a setting for this database wins over one for all databases.
role_settings as (
  select r.rolname as role,
         json_object_agg(kv.name, kv.value order by kv.setdatabase) as settings
    from pg_roles r
    join pg_db_role_setting d on d.setrole = r.oid
     and d.setdatabase in (0, (select oid from pg_database where datname = current_database()))
    cross join lateral (
      select split_part(c, '=', 1) as name, substr(c, strpos(c, '=') + 1) as value, d.setdatabase
        from unnest(d.setconfig) c
    ) kv
    join pg_settings ps on ps.name = kv.name and ps.context = 'user'
   where r.rolname = any ($2::text[]) and kv.name not in ('search_path', 'default_transaction_isolation')
   group by r.rolname
)
select json_build_object(
  'role_settings', coalesce((select json_object_agg(rs.role, rs.settings) from role_settings rs), '{}'),
  'relations', coalesce((select json_agg(json_build_object(
      'schema', r.schema, 'name', r.name, 'kind', r.kind, 'comment', r.comment,
      'insertable', r.insertable, 'updatable', r.updatable, 'deletable', r.deletable,
      'columns', coalesce((select json_agg(json_build_object(
          'name', c.name, 'type', c.type, 'type_schema', c.type_schema, 'type_name', c.type_name,
          'category', c.category, 'nullable', c.nullable, 'has_default', c.has_default,
          'generated', c.generated, 'comment', c.comment, 'enum_values', c.enum_values, 'readers', c.readers) order by c.attnum)
          from cols c where c.attrelid = r.oid), '[]'),
      'keys', coalesce((select json_agg(json_build_object('type', k.type, 'name', k.name, 'columns', k.columns))
          from keys k where k.conrelid = r.oid), '[]'),
      'origins', coalesce((select json_agg(json_build_object('column', v.name, 'schema', v.src_schema,
          'table', v.src_table, 'source', v.src_column)) from view_origins v where v.view_oid = r.oid), '[]')) order by r.schema, r.name)
    from rels r), '[]'),
  'checks', coalesce((select json_agg(c order by c.schema, c.owner, c.name) from checks c), '[]'),
  'foreign_keys', coalesce((select json_agg(f order by f.schema, f."table", f.name) from fks f), '[]'),
  'functions', coalesce((select json_agg(json_build_object(
      'schema', f.schema, 'name', f.name, 'comment', f.comment, 'volatility', f.volatility,
      'returns_set', f.returns_set, 'return_type_schema', f.return_type_schema,
      'return_type_name', f.return_type_name, 'return_type_kind', f.return_type_kind,
      'return_relation', f.return_relation, 'return_relation_schema', f.return_relation_schema,
      'rows', f.rows, 'nargs', f.nargs, 'ndefaults', f.ndefaults, 'variadic', f.variadic, 'args', f.args) order by f.schema, f.name, f.oid)
    from funcs f), '[]')
)::text as cache
`;
