-- =============================================================================
-- 0024 search: the one function behind the search page, search_listings(),
-- replacing 0005's first version. Free text (websearch syntax, weighted title /
-- description / tags, the query's language) with a trigram fallback when the
-- text finds nothing; a point and radius, or the providers who serve a point;
-- category subtree, tags, price, pricing and location type, minimum rating,
-- "available on"; four sorts; keyset pagination with an opaque cursor; total
-- and facet counts on request. docs/workflows.md (## Search) is its manual.
--
-- Two layers, because Row Level Security and index scans do not mix here:
-- under RLS PostgreSQL will not use a non-leakproof operator (@@, &&, <%,
-- ST_DWithin's &&) as an index condition, so a SECURITY INVOKER query over
-- public.listings reads every listing of the tenant. So:
--   app.search_page(spec)       SECURITY DEFINER: validates the request and
--                               picks the page of listing ids (and total,
--                               facets) with the indexes, under the public-read
--                               rule written out: active, not deleted, the
--                               caller's tenant — what every caller may see.
--   public.search_listings(…)   SECURITY INVOKER: reads the cards of those ids
--                               as the caller, under RLS (listings, profiles,
--                               categories), in the page's order.
-- =============================================================================

drop function public.search_listings(text, double precision, double precision, double precision, text, text, integer);

-- -----------------------------------------------------------------------------
-- The index "providers who serve my address" needs for travel radii: a box
-- around each listing's service disk (a per-row radius cannot drive the
-- location index). Degrees per metre grow towards the poles, so the box is
-- widened for the latitude of its far edge; it is only a pre-filter, the exact
-- test is ST_DWithin on the geography. Boxes do not wrap the antimeridian.
-- -----------------------------------------------------------------------------
create function app.service_bbox(location extensions.geography, radius_m integer)
returns extensions.geometry
language sql immutable strict parallel safe
set search_path = pg_catalog, extensions
as $$
  select st_expand(location::geometry,
                   radius_m * 1.01 / (111320 * greatest(cos(radians(least(abs(st_y(location::geometry)) + radius_m / 110574.0, 89.9))), 0.001)),
                   radius_m * 1.01 / 110574.0)
$$;
comment on function app.service_bbox(extensions.geography, integer) is 'A lon/lat box (geometry, SRID 4326) that contains the disk of radius_m metres around location: the indexable pre-filter of "serves this point".';
revoke execute on function app.service_bbox(extensions.geography, integer) from public;
grant execute on function app.service_bbox(extensions.geography, integer) to anon, authenticated, service_role;

create index listings_service_bbox_gist on public.listings using gist (app.service_bbox(location, service_radius_m))
  where status = 'active' and deleted_at is null and service_radius_m is not null;

-- -----------------------------------------------------------------------------
-- Cursors: base64url of a small JSON document (see docs/workflows.md).
-- -----------------------------------------------------------------------------
create function app.search_cursor_encode(doc jsonb) returns text
language sql immutable strict parallel safe
set search_path = pg_catalog
as $$
  select rtrim(translate(encode(convert_to(doc::text, 'UTF8'), 'base64'), E'+/\n', '-_'), '=')
$$;

create function app.search_cursor_decode(cursor text) returns jsonb
language plpgsql immutable parallel safe
set search_path = pg_catalog
as $$
declare
  body text := translate(cursor, '-_', '+/');
  doc jsonb;
begin
  if cursor !~ '^[A-Za-z0-9_-]+$' or length(cursor) > 2000 then
    return null;
  end if;
  body := body || repeat('=', (4 - length(body) % 4) % 4);
  doc := convert_from(decode(body, 'base64'), 'UTF8')::jsonb;
  if jsonb_typeof(doc) is distinct from 'object'
     or coalesce((doc ->> 'i') !~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$', true)
     or coalesce((doc ->> 'k') !~ '^-?[0-9]+(\.[0-9]+)?$', true)
     or jsonb_typeof(doc -> 'h') is distinct from 'string' then
    return null;
  end if;
  return doc;
exception when others then
  return null; -- not base64, not UTF-8, not JSON: all "malformed"
end $$;
revoke execute on function app.search_cursor_encode(jsonb), app.search_cursor_decode(text) from public;
grant execute on function app.search_cursor_encode(jsonb), app.search_cursor_decode(text) to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- app.search_sql: the statement a search runs, built from a validated spec.
-- Values enter only through format('%L'); only the predicates a request uses
-- are written, so each search is planned for what it asks (a generic
-- "$1 is null or …" plan could not use the indexes).
-- -----------------------------------------------------------------------------
create function app.search_sql(spec jsonb, text_mode text) returns text
language plpgsql stable
set search_path = pg_catalog, public, extensions
as $$
declare
  tenant uuid := (spec ->> 'tenant_id')::uuid;
  point text := case when spec ? 'lat' then format('public.geo_point(%s, %s)', (spec ->> 'lon')::float8, (spec ->> 'lat')::float8) end;
  cfg regconfig := app.text_search_config(spec ->> 'lang');
  bayes text := 'l.rating_bayesian'; -- 0022: (5 × 3.0 + Σ ratings) / (5 + n)
  price text := '(case l.pricing_type when ''hourly'' then l.hourly_rate_cents else l.base_price_cents end)';
  dist text := 'null::float8';
  text_score text := '0';
  score text;
  k text;
  wheres text[] := array[format('l.tenant_id = %L', tenant), 'l.status = ''active''', 'l.deleted_at is null'];
  served text[];
  matches text;
  page text;
  total text := 'null::bigint';
  facets text := 'null::jsonb';
  ordered text;
  lim integer := (spec ->> 'page_size')::integer + 1;
begin
  if text_mode = 'text' then
    wheres := wheres || format('l.search_vector @@ websearch_to_tsquery(%L::regconfig, %L)', cfg, spec ->> 'query');
    -- normalization 32: rank / (rank + 1), in [0, 1)
    text_score := format('ts_rank_cd(l.search_vector, websearch_to_tsquery(%L::regconfig, %L), 32)', cfg, spec ->> 'query');
  elsif text_mode = 'similar' then
    wheres := wheres || format('%L <%% l.title', spec ->> 'query');
    text_score := format('word_similarity(%L, l.title)', spec ->> 'query');
  end if;

  if point is not null then
    -- Distances on the sphere (within 0.5 % of the spheroid's, several times cheaper).
    dist := format('st_distance(l.location, %s, false)', point);
    if coalesce((spec ->> 'serving')::boolean, false) then
      -- Served: one of the listing's service areas covers the point, or it has
      -- none and the point is within its travel radius.
      -- Two disjoint halves (a listing has service areas or not), each on its own index.
      served := array[
        format('l.id in (select a.listing_id from public.listing_service_areas a where st_covers(a.area, %1$s) and a.tenant_id = %2$L)',
               point, tenant),
        format('app.service_bbox(l.location, l.service_radius_m) && %1$s::geometry and l.service_radius_m is not null'
               ' and st_dwithin(l.location, %1$s, l.service_radius_m, false)'
               ' and not exists (select 1 from public.listing_service_areas a where a.listing_id = l.id)', point)];
    else
      wheres := wheres || format('st_dwithin(l.location, %s, %s, false)', point, (spec ->> 'radius_m')::float8);
    end if;
  end if;

  if spec ? 'category_ids' then
    wheres := wheres || format('l.category_id = any(%L::uuid[])', spec -> 'category_ids' #>> '{}');
  end if;
  if spec ? 'tag_ids' then
    wheres := wheres || format(
      '(select count(*) from public.listing_tags lt where lt.listing_id = l.id and lt.tag_id = any(%L::uuid[])) = %s',
      spec -> 'tag_ids' #>> '{}', (spec ->> 'tag_count')::integer);
  end if;
  if spec ? 'min_price_cents' then
    wheres := wheres || format('%s >= %s', price, (spec ->> 'min_price_cents')::bigint);
  end if;
  if spec ? 'max_price_cents' then
    wheres := wheres || format('%s <= %s', price, (spec ->> 'max_price_cents')::bigint);
  end if;
  if spec ? 'currency' then
    wheres := wheres || format('l.currency = %L', spec ->> 'currency');
  end if;
  if spec ? 'pricing_type' then
    wheres := wheres || format('l.pricing_type = %L', spec ->> 'pricing_type');
  end if;
  if spec ? 'location_type' then
    -- on_site and remote also match listings offered both ways.
    wheres := wheres || case spec ->> 'location_type'
      when 'both' then 'l.location_type = ''both'''
      else format('l.location_type in (%L, ''both'')', spec ->> 'location_type') end;
  end if;
  if spec ? 'min_rating' then
    wheres := wheres || format('l.rating_average >= %s', (spec ->> 'min_rating')::numeric);
  end if;

  -- The relevance blend (docs/workflows.md): text 0.55, proximity 0.20 (half at
  -- 5 km), Bayesian rating 0.20 (1–5 mapped to 0–1), featured 0.05.
  score := format('0.55 * %s + 0.20 * %s + 0.20 * ((%s - 1) / 4.0) + 0.05 * (l.is_featured::int)',
                  text_score,
                  case when point is null then '0' else format('1 / (1 + %s / 5000.0)', dist) end,
                  bayes);
  -- One ascending key per sort, ties broken by id: the keyset.
  k := case spec ->> 'sort'
    when 'relevance' then format('round(-(%s)::numeric, 9)', score)
    when 'distance' then format('round((%s)::numeric, 3)', dist)
    when 'price' then format('coalesce(%s, 999999999999999)::numeric', price)
    when 'rating' then format('-(%s)::numeric', bayes) end;

  matches := format('select l.id, l.category_id, %s as price, %s as distance_m, (%s)::float8 as score, %s as k from public.listings l where %s',
                    price, dist, score, k, array_to_string(wheres, E'\n    and '));
  if served is not null then
    matches := format(E'%s\n    and %s\n  union all\n  %s\n    and %s', matches, served[1], matches, served[2]);
  end if;

  ordered := 'select m.* from m';
  if spec ? 'after_k' then
    ordered := ordered || format(' where (m.k, m.id) > (%s::numeric, %L::uuid)', spec ->> 'after_k', spec ->> 'after_id');
  end if;
  ordered := ordered || ' order by m.k, m.id';
  if spec ? 'available_on' then
    -- Availability is dear (a schedule per listing): tested in order, only until the page is full.
    page := format('select s.* from (%s offset 0) s where app.listing_available_on(s.id, %L::date) limit %s',
                   ordered, spec ->> 'available_on', lim);
  else
    page := format('%s limit %s', ordered, lim);
  end if;

  if coalesce((spec ->> 'with_total')::boolean, false) then
    total := case when spec ? 'available_on'
      then format('(select count(*) from m where app.listing_available_on(m.id, %L::date))', spec ->> 'available_on')
      else '(select count(*) from m)' end;
  end if;
  if coalesce((spec ->> 'with_facets')::boolean, false) then
    facets := format($f$jsonb_build_object(
      'categories', (
        with recursive counted as (
          select m.category_id, count(*) as n from m %1$s group by m.category_id
        ), up(leaf, id) as (
          select c.id, c.id from public.categories c where c.id in (select category_id from counted)
          union all
          select up.leaf, c.parent_id from up join public.categories c on c.id = up.id where c.parent_id is not null
        )
        select coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'slug', c.slug, 'name', c.name, 'parent_id', c.parent_id,
                                                     'depth', c.depth, 'count', f.n) order by c.depth, f.n desc, c.name), '[]')
        from (select up.id, sum(counted.n)::bigint as n from up join counted on counted.category_id = up.leaf group by up.id) f
        join public.categories c on c.id = f.id),
      'price_bands', (
        select jsonb_agg(jsonb_build_object('min_cents', b.lo, 'max_cents', b.hi, 'count',
                 (select count(*) from m %1$s %2$s m.price >= b.lo and (b.hi is null or m.price < b.hi))) order by b.lo)
        from (values (0, 2500), (2500, 5000), (5000, 10000), (10000, 20000), (20000, null)) b(lo, hi)))$f$,
      case when spec ? 'available_on' then format('where app.listing_available_on(m.id, %L::date)', spec ->> 'available_on') else '' end,
      case when spec ? 'available_on' then 'and' else 'where' end);
  end if;

  return format(E'with m as (\n  %s\n), page as (\n  %s\n)\nselect (select coalesce(jsonb_agg(jsonb_build_object(''id'', page.id, ''k'', page.k::text, ''distance_m'', page.distance_m, ''score'', page.score) order by page.k, page.id), ''[]'') from page) as page,\n       %s as total,\n       %s as facets',
                matches, page, total, facets);
end $$;
comment on function app.search_sql(jsonb, text) is 'The statement behind a search (see app.search_page): one CTE of matches, the page after the cursor, and the total and facets when asked. text_mode: text (full text), similar (trigram fallback) or null.';
revoke execute on function app.search_sql(jsonb, text) from public;

-- -----------------------------------------------------------------------------
-- app.search_spec: checks a request and normalises it (400 on bad input).
-- -----------------------------------------------------------------------------
create function app.search_spec(request jsonb) returns jsonb
language plpgsql stable
set search_path = pg_catalog, public
as $$
declare
  spec jsonb := '{}';
  tenant uuid := app.current_tenant_id();
  q text := nullif(btrim(request ->> 'query'), '');
  lat float8 := (request ->> 'lat')::float8;
  lon float8 := (request ->> 'lon')::float8;
  radius float8 := (request ->> 'radius_m')::float8;
  serving boolean := coalesce((request ->> 'serving')::boolean, false);
  sort text := coalesce(request ->> 'sort', 'relevance');
  size integer := coalesce((request ->> 'page_size')::integer, 20);
  lo bigint := (request ->> 'min_price_cents')::bigint;
  hi bigint := (request ->> 'max_price_cents')::bigint;
  rating numeric := (request ->> 'min_rating')::numeric;
  category text := nullif(btrim(request ->> 'category'), '');
  root uuid;
  tags text[] := array(select distinct btrim(t) from jsonb_array_elements_text(coalesce(request -> 'tags', '[]')) t where btrim(t) <> '');
  tag_ids uuid[];
  cursor jsonb;
begin
  if tenant is null then
    raise invalid_parameter_value using message = 'no marketplace to search',
      hint = 'The token''s tenant does not exist or is inactive, and there is no default tenant.';
  end if;
  spec := jsonb_build_object('tenant_id', tenant, 'lang', coalesce(nullif(request ->> 'lang', ''), 'en'));

  if q is not null then
    if length(q) > 500 then
      raise invalid_parameter_value using message = format('query is %s characters long; the limit is 500', length(q)),
        hint = 'Shorten the search text.';
    end if;
    spec := spec || jsonb_build_object('query', q);
  end if;

  if (lat is null) <> (lon is null) then
    raise invalid_parameter_value using message = 'lat and lon go together: give both or neither',
      hint = 'Pass the point as lat (-90 to 90) and lon (-180 to 180), in degrees.';
  end if;
  if lat is not null then
    if lat not between -90 and 90 or lat = 'NaN' then
      raise invalid_parameter_value using message = format('lat %s is out of range: latitude is between -90 and 90', lat),
        hint = 'Check that lat and lon are not swapped.';
    end if;
    if lon not between -180 and 180 or lon = 'NaN' then
      raise invalid_parameter_value using message = format('lon %s is out of range: longitude is between -180 and 180', lon),
        hint = 'Check that lat and lon are not swapped.';
    end if;
    spec := spec || jsonb_build_object('lat', lat, 'lon', lon);
  end if;
  if serving then
    if lat is null then
      raise invalid_parameter_value using message = 'serving needs a point: the address to serve, as lat and lon',
        hint = 'Pass lat and lon with serving: true.';
    end if;
    if radius is not null then
      raise invalid_parameter_value using message = 'serving and radius_m do not go together: each provider''s own area decides',
        hint = 'Leave radius_m out with serving: true, or set serving to false to search within radius_m of the point.';
    end if;
    spec := spec || jsonb_build_object('serving', true);
  elsif radius is not null or lat is not null then
    if lat is null then
      raise invalid_parameter_value using message = 'radius_m needs a point: pass lat and lon',
        hint = 'Leave radius_m out to search everywhere.';
    end if;
    radius := coalesce(radius, 25000);
    if radius <= 0 or radius > 500000 or radius = 'NaN' then
      raise invalid_parameter_value using message = format('radius_m %s is out of range: it must be more than 0 and at most 500000 (500 km)', radius),
        hint = 'Give the search radius in metres, e.g. 25000 for 25 km.';
    end if;
    spec := spec || jsonb_build_object('radius_m', radius);
  end if;

  if sort not in ('relevance', 'distance', 'price', 'rating') then
    raise invalid_parameter_value using message = format('unknown sort %L', sort),
      hint = 'sort is one of relevance (the default), distance, price or rating.';
  end if;
  if sort = 'distance' and lat is null then
    raise invalid_parameter_value using message = 'sort by distance needs a point: pass lat and lon',
      hint = 'Or sort by relevance, price or rating.';
  end if;
  spec := spec || jsonb_build_object('sort', sort);

  if size not between 1 and 100 then
    raise invalid_parameter_value using message = format('page_size %s is out of range: 1 to 100', size),
      hint = 'Ask for at most 100 results a page and follow next_cursor for more.';
  end if;
  spec := spec || jsonb_build_object('page_size', size);

  if lo < 0 or hi < 0 then
    raise invalid_parameter_value using message = 'prices cannot be negative',
      hint = 'Give min_price_cents and max_price_cents in minor units (cents), 0 or more.';
  end if;
  if lo > hi then
    raise invalid_parameter_value using message = format('min_price_cents %s is more than max_price_cents %s', lo, hi),
      hint = 'Swap them, or leave one out for an open range.';
  end if;
  if lo is not null then spec := spec || jsonb_build_object('min_price_cents', lo); end if;
  if hi is not null then spec := spec || jsonb_build_object('max_price_cents', hi); end if;
  if nullif(request ->> 'currency', '') is not null then
    if (request ->> 'currency') !~ '^[A-Z]{3}$' then
      raise invalid_parameter_value using message = format('currency %L is not an ISO 4217 code', request ->> 'currency'),
        hint = 'Use three capital letters, e.g. USD or EUR.';
    end if;
    spec := spec || jsonb_build_object('currency', request ->> 'currency');
  end if;

  if nullif(request ->> 'pricing_type', '') is not null then
    if (request ->> 'pricing_type') not in ('hourly', 'fixed', 'custom') then
      raise invalid_parameter_value using message = format('unknown pricing_type %L', request ->> 'pricing_type'),
        hint = 'pricing_type is one of hourly, fixed or custom.';
    end if;
    spec := spec || jsonb_build_object('pricing_type', request ->> 'pricing_type');
  end if;
  if nullif(request ->> 'location_type', '') is not null then
    if (request ->> 'location_type') not in ('on_site', 'remote', 'both') then
      raise invalid_parameter_value using message = format('unknown location_type %L', request ->> 'location_type'),
        hint = 'location_type is one of on_site, remote or both.';
    end if;
    spec := spec || jsonb_build_object('location_type', request ->> 'location_type');
  end if;
  if rating is not null then
    if rating not between 1 and 5 then
      raise invalid_parameter_value using message = format('min_rating %s is out of range: ratings are 1 to 5', rating),
        hint = 'Pass a number from 1 to 5, e.g. 4 or 4.5.';
    end if;
    spec := spec || jsonb_build_object('min_rating', rating);
  end if;
  if request ->> 'available_on' is not null then
    spec := spec || jsonb_build_object('available_on', (request ->> 'available_on')::date);
  end if;

  if category is not null then
    -- A slug or an id; the tenant's own category wins over a shared one with the same slug.
    select c.id into root from public.categories c
    where (c.slug = category or c.id::text = category) and c.is_active and (c.tenant_id is null or c.tenant_id = tenant)
    order by c.tenant_id nulls last limit 1;
    if root is null then
      raise invalid_parameter_value using message = format('no category %L in this marketplace', category),
        hint = 'Pass a category slug or id from public.categories.';
    end if;
    spec := spec || jsonb_build_object('category_ids', (
      with recursive sub(id) as (
        select root
        union all
        select c.id from public.categories c join sub on c.parent_id = sub.id
        where c.is_active and (c.tenant_id is null or c.tenant_id = tenant))
      select array_agg(id)::text from sub));
  end if;
  if cardinality(tags) > 0 then
    if cardinality(tags) > 20 then
      raise invalid_parameter_value using message = format('%s tags given; at most 20', cardinality(tags)),
        hint = 'Narrow the search with fewer tags.';
    end if;
    tag_ids := array(select t.id from public.tags t where t.slug = any(tags) and (t.tenant_id is null or t.tenant_id = tenant));
    if cardinality(tag_ids) < cardinality(tags) then
      raise invalid_parameter_value using message = format('unknown tag(s): %s', (
          select string_agg(s, ', ') from unnest(tags) s
          where not exists (select 1 from public.tags t where t.slug = s and (t.tenant_id is null or t.tenant_id = tenant)))),
        hint = 'Pass tag slugs from public.tags.';
    end if;
    -- A listing carries a tag once, whichever of a same-slug pair it is.
    spec := spec || jsonb_build_object('tag_ids', tag_ids::text, 'tag_count', cardinality(tags));
  end if;

  spec := spec || jsonb_build_object('with_total', coalesce((request ->> 'with_total')::boolean, false),
                                     'with_facets', coalesce((request ->> 'with_facets')::boolean, false));
  -- What a cursor is bound to: everything that decides the result list.
  spec := spec || jsonb_build_object('hash', left(md5((spec - 'page_size' - 'with_total' - 'with_facets')::text), 12));

  if nullif(request ->> 'after', '') is not null then
    cursor := app.search_cursor_decode(request ->> 'after');
    if cursor is null then
      raise invalid_parameter_value using message = 'malformed cursor',
        hint = 'Pass next_cursor from the previous page unchanged, or leave after out for the first page.';
    end if;
    if cursor ->> 'h' is distinct from spec ->> 'hash' then
      raise invalid_parameter_value using message = 'the cursor belongs to a different search',
        hint = 'A cursor continues the search it came from: keep the query, filters and sort, or start again without after.';
    end if;
    spec := spec || jsonb_build_object('after_k', cursor ->> 'k', 'after_id', cursor ->> 'i', 'mode', cursor ->> 'm');
  end if;
  return spec;
exception
  when invalid_text_representation or numeric_value_out_of_range or invalid_datetime_format
       or datetime_field_overflow then
    raise invalid_parameter_value using message = format('a search argument has the wrong type: %s', sqlerrm),
      hint = 'lat, lon, radius_m and min_rating are numbers, prices and page_size integers, available_on a date (YYYY-MM-DD), serving and with_* booleans.';
end $$;
comment on function app.search_spec(jsonb) is 'Checks and normalises a search request (raises 22023 → 400 on bad input) for app.search_page.';
revoke execute on function app.search_spec(jsonb) from public;

-- -----------------------------------------------------------------------------
-- app.search_page: the page of ids (with sort key, distance, score), the next
-- cursor, and total / facets when asked. SECURITY DEFINER (see the banner);
-- every statement it runs carries the public-read rule.
-- -----------------------------------------------------------------------------
create function app.search_page(request jsonb) returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, public, extensions
set jit = off
as $$
declare
  spec jsonb := app.search_spec(request);
  mode text := spec ->> 'mode';
  r record;
  last jsonb;
  page jsonb;
  size integer := (spec ->> 'page_size')::integer;
begin
  if spec ? 'query' and mode is null then
    mode := case when numnode(websearch_to_tsquery(app.text_search_config(spec ->> 'lang'), spec ->> 'query')) > 0
                 then 'text' else 'similar' end;
  end if;
  execute app.search_sql(spec, mode) into r;
  -- The text found nothing at all: the same search again by trigram similarity of the title.
  if mode = 'text' and not spec ? 'after_k' and jsonb_array_length(r.page) = 0 then
    mode := 'similar';
    execute app.search_sql(spec, mode) into r;
  end if;
  page := r.page;
  if jsonb_array_length(page) > size then
    page := page - size; -- the extra row only says there is a next page
    last := page -> (size - 1);
  end if;
  return jsonb_build_object(
    'page', page,
    'query_mode', mode,
    'next_cursor', case when last is not null then app.search_cursor_encode(jsonb_build_object(
        'v', 1, 'h', spec ->> 'hash', 'm', mode, 'k', last ->> 'k', 'i', last ->> 'id')) end,
    'total', r.total,
    'facets', r.facets);
end $$;
comment on function app.search_page(jsonb) is 'The ids behind one page of public.search_listings (plus next cursor, total, facets), found with the indexes under the public-read rule: active, not deleted, the caller''s tenant.';
revoke execute on function app.search_page(jsonb) from public;
grant execute on function app.search_page(jsonb) to anon, authenticated, service_role;

-- The plan of the statement a search runs, for operators and the plan test.
create function app.search_explain(request jsonb, run boolean default false) returns setof text
language plpgsql volatile security definer
set search_path = pg_catalog, public, extensions
set jit = off
as $$
declare
  spec jsonb := app.search_spec(request);
  mode text := coalesce(spec ->> 'mode', case when spec ? 'query' then 'text' end);
begin
  if request ->> 'text_mode' is not null then
    mode := request ->> 'text_mode';
  end if;
  return query execute format('explain (costs off%s) %s', case when run then ', analyze' else '' end,
                              app.search_sql(spec, mode));
end $$;
comment on function app.search_explain(jsonb, boolean) is 'EXPLAIN of the statement app.search_page runs for a request (text_mode: text or similar forces the text step), as the search runs it.';
revoke execute on function app.search_explain(jsonb, boolean) from public;
grant execute on function app.search_explain(jsonb, boolean) to service_role;

-- -----------------------------------------------------------------------------
-- public.search_listings: the search page.
-- -----------------------------------------------------------------------------
create function public.search_listings(
  query text default null,
  lang text default 'en',
  lat double precision default null,
  lon double precision default null,
  radius_m double precision default null,
  serving boolean default false,
  category text default null,
  tags text[] default null,
  min_price_cents bigint default null,
  max_price_cents bigint default null,
  currency text default null,
  pricing_type text default null,
  location_type text default null,
  min_rating numeric default null,
  available_on date default null,
  sort text default 'relevance',
  after text default null,
  page_size integer default 20,
  with_total boolean default false,
  with_facets boolean default false)
returns jsonb
language plpgsql stable
set search_path = pg_catalog, public, extensions
as $$
declare
  picked jsonb := app.search_page(jsonb_strip_nulls(jsonb_build_object(
    'query', query, 'lang', lang, 'lat', lat, 'lon', lon, 'radius_m', radius_m, 'serving', serving,
    'category', category, 'tags', to_jsonb(tags), 'min_price_cents', min_price_cents, 'max_price_cents', max_price_cents,
    'currency', currency, 'pricing_type', pricing_type, 'location_type', location_type, 'min_rating', min_rating,
    'available_on', available_on, 'sort', sort, 'after', after, 'page_size', page_size,
    'with_total', with_total, 'with_facets', with_facets)));
  results jsonb;
  ids uuid[] := array(select (e ->> 'id')::uuid from jsonb_array_elements(picked -> 'page') e);
begin
  -- The cards, read as the caller (RLS), in the page's order. `l.id = any(ids)` is the
  -- primary-key lookup (uuid equality is leakproof, so RLS lets it drive the index); joined
  -- on the page's elements alone, the planner may read every listing instead.
  select coalesce(jsonb_agg(jsonb_build_object(
        'id', l.id, 'slug', l.slug, 'title', l.title, 'description', left(l.description, 280),
        'category', jsonb_build_object('id', c.id, 'slug', c.slug, 'name', c.name),
        'pricing_type', l.pricing_type, 'currency', l.currency,
        'price_cents', case l.pricing_type when 'hourly' then l.hourly_rate_cents else l.base_price_cents end,
        'hourly_rate_cents', l.hourly_rate_cents, 'base_price_cents', l.base_price_cents,
        'duration_minutes', l.duration_minutes, 'location_type', l.location_type,
        'latitude', st_y(l.location::geometry), 'longitude', st_x(l.location::geometry),
        'distance_m', round((p.value ->> 'distance_m')::numeric), 'service_radius_m', l.service_radius_m,
        'city', ci.name, 'featured_image_url', l.featured_image_url, 'is_featured', l.is_featured,
        'rating_average', l.rating_average, 'review_count', l.review_count, 'rating_bayesian', l.rating_bayesian,
        'next_available_at', app.next_available_slot(l.id, now()),
        'provider', case when pr.user_id is not null then jsonb_build_object(
          'id', pr.user_id, 'display_name', pr.display_name, 'avatar_url', pr.avatar_url,
          'rating_average', pr.rating_average, 'review_count', pr.review_count,
          'identity_verified', pr.identity_verified) end,
        'score', round((p.value ->> 'score')::numeric, 4)
      ) order by p.ordinality), '[]')
    from jsonb_array_elements(picked -> 'page') with ordinality p
    join public.listings l on l.id = (p.value ->> 'id')::uuid
    left join public.categories c on c.id = l.category_id
    left join public.cities ci on ci.id = l.city_id
    left join public.user_profiles pr on pr.user_id = l.provider_id
    where l.id = any(ids)
  into results;
  return jsonb_build_object('results', results, 'next_cursor', picked -> 'next_cursor',
                            'query_mode', picked -> 'query_mode', 'total', picked -> 'total', 'facets', picked -> 'facets');
end $$;
comment on function public.search_listings(text, text, double precision, double precision, double precision, boolean, text, text[], bigint, bigint, text, text, text, numeric, date, text, text, integer, boolean, boolean) is
'The search page: active listings of your marketplace matching free text (websearch syntax, in lang; a typo-tolerant title match when the text finds nothing), near a point (lat, lon, radius_m; or serving: true for providers whose service area or travel radius covers the point), in a category subtree, with all the given tags, a price range, pricing_type, location_type, min_rating and a free slot on available_on. sort: relevance (text rank, distance, Bayesian rating, featured), distance, price or rating. Returns {results, next_cursor, query_mode, total, facets}; pass next_cursor back as after for the next page. See docs/workflows.md#search.';
revoke execute on function public.search_listings(text, text, double precision, double precision, double precision, boolean, text, text[], bigint, bigint, text, text, text, numeric, date, text, text, integer, boolean, boolean) from public;
grant execute on function public.search_listings(text, text, double precision, double precision, double precision, boolean, text, text[], bigint, bigint, text, text, text, numeric, date, text, text, integer, boolean, boolean)
  to anon, authenticated, service_role;

comment on function public.nearby_listings(double precision, double precision, double precision, integer) is 'The nearest active listings within radius_m metres, nearest first, as rows of listings (filter and embed them like a table). The search page uses search_listings.';
comment on function public.listings_serving(double precision, double precision, integer) is 'Active listings whose service area (polygon, else radius) covers the point, as rows of listings. The search page uses search_listings(serving => true).';
