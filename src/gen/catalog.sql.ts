/**
 * The one catalog query the type generator adds to the schema cache's (src/rest/schema/
 * introspect.sql.ts): what TypeScript types need and the REST layer does not. $1 is the schema
 * names. One JSON document with
 *
 * - `schemas`: which of $1 exist;
 * - `types`: every type the exposed schemas use, each with what decides its JSON form: element,
 *   base type, enum labels, attributes, and whether a cast to json renders it (PostGIS's
 *   geometry → GeoJSON; to_json uses such a cast for user-defined types). A recursive walk from
 *   the column, argument and return types and the enums, composite types and domains the
 *   schemas define, along `edges` (array → element, domain → base, composite → attribute
 *   types). The edges are one materialized list so the walk's estimate stays small: planned
 *   over pg_type itself, the estimate passed jit_above_cost and JIT took 0.9 s of a 7 ms query;
 * - `columns`: identity (`a` always, `d` by default) and updatability of each column;
 * - `functions`: the planner's row estimate (`prorows`) of each function, by name and input types
 *   (postgrest-js reads a `rows 1` set-returning function as returning one row).
 *
 * Types are named by (schema, name), as the schema cache names them.
 */
export const TYPE_CATALOG_QUERY = `
with recursive schemas as (
  select n.oid, n.nspname from pg_namespace n where n.nspname = any ($1::text[])
),
rels as (
  select c.oid, s.nspname as schema, c.relname as name, c.relkind
    from pg_class c join schemas s on s.oid = c.relnamespace
   where c.relkind in ('r', 'p', 'v', 'm', 'f')
),
funcs as (
  select p.* from pg_proc p join schemas s on s.oid = p.pronamespace where p.prokind = 'f'
),
seeds as materialized (
  select a.atttypid as oid
    from pg_attribute a join rels r on r.oid = a.attrelid
   where a.attnum > 0 and not a.attisdropped
  union
  select unnest(coalesce(f.proallargtypes, f.proargtypes::oid[])) from funcs f
  union
  select f.prorettype from funcs f
  union
  select t.oid
    from pg_type t join schemas s on s.oid = t.typnamespace
    left join pg_class c on c.oid = t.typrelid
   where t.typtype in ('e', 'd') or (t.typtype = 'c' and c.relkind = 'c')
),
edges as materialized (
  select t.oid as "from", t.typelem as "to" from pg_type t where t.typelem <> 0 and t.typlen = -1
  union all
  select t.oid, t.typbasetype from pg_type t where t.typtype = 'd'
  union all
  select t.oid, a.atttypid
    from pg_type t
    join pg_class c on c.oid = t.typrelid and c.relkind = 'c'
    join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
),
walk (oid) as (
  select distinct oid from seeds
  union
  select e."to" from walk w join edges e on e."from" = w.oid
),
types as (
  select t.oid, n.nspname as schema, t.typname as name, t.typtype::text as kind, c.relkind::text as relkind,
         en.nspname as element_schema, e.typname as element_name,
         bn.nspname as base_schema, b.typname as base_name,
         case when t.typtype = 'e' then (
           select json_agg(l.enumlabel order by l.enumsortorder) from pg_enum l where l.enumtypid = t.oid) end as labels,
         case when c.relkind = 'c' then (
           select json_agg(json_build_object('name', a.attname, 'type_schema', an.nspname, 'type_name', at.typname)
                           order by a.attnum)
             from pg_attribute a
             join pg_type at on at.oid = a.atttypid join pg_namespace an on an.oid = at.typnamespace
            where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) end as attributes,
         t.oid >= 16384 and exists (
           select 1 from pg_cast k
            where k.castsource = t.oid and k.casttarget = 'json'::regtype and k.castmethod = 'f') as json_cast
    from (select distinct oid from walk) w
    join pg_type t on t.oid = w.oid
    join pg_namespace n on n.oid = t.typnamespace
    left join pg_class c on c.oid = t.typrelid and t.typtype = 'c'
    left join pg_type e on e.oid = t.typelem and t.typelem <> 0 and t.typlen = -1
    left join pg_namespace en on en.oid = e.typnamespace
    left join pg_type b on b.oid = t.typbasetype and t.typtype = 'd'
    left join pg_namespace bn on bn.oid = b.typnamespace
)
select json_build_object(
  'schemas', coalesce((select json_agg(s.nspname order by s.nspname) from schemas s), '[]'),
  'types', coalesce((select json_agg(json_build_object(
      'schema', t.schema, 'name', t.name, 'kind', t.kind, 'relkind', t.relkind,
      'element_schema', t.element_schema, 'element_name', t.element_name,
      'base_schema', t.base_schema, 'base_name', t.base_name,
      'labels', t.labels, 'attributes', t.attributes, 'json_cast', t.json_cast) order by t.schema, t.name)
    from types t), '[]'),
  'columns', coalesce((select json_agg(json_build_object(
      'schema', r.schema, 'relation', r.name, 'name', a.attname, 'identity', a.attidentity::text,
      'updatable', r.relkind not in ('v', 'm') or pg_column_is_updatable(r.oid, a.attnum, false))
      order by r.schema, r.name, a.attnum)
    from rels r join pg_attribute a on a.attrelid = r.oid
   where a.attnum > 0 and not a.attisdropped), '[]'),
  'functions', coalesce((select json_agg(json_build_object(
      'schema', s.nspname, 'name', f.proname, 'rows', f.prorows,
      'inputs', coalesce((select json_agg(json_build_object('schema', kn.nspname, 'name', kt.typname) order by k.ord)
                            from unnest(f.proargtypes::oid[]) with ordinality k (oid, ord)
                            join pg_type kt on kt.oid = k.oid join pg_namespace kn on kn.oid = kt.typnamespace), '[]'))
      order by s.nspname, f.proname, f.oid)
    from funcs f join schemas s on s.oid = f.pronamespace), '[]')
)::text as catalog
`;
