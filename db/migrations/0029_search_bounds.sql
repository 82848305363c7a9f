-- =============================================================================
-- 0029 search bounds: a search by location ranks the listings near the point
-- first and reads further out only when a listing further out could still make
-- the page (issue 8, benchmarks at 1,000,000 listings).
--
-- "Providers who serve my address" in a big city matches tens of thousands of
-- listings (every travel radius that reaches the point): 0024 read and ranked all
-- of them to show twenty, a quarter to half a second. Yet both sorts that depend
-- on the point are bounded by distance:
--   distance   a listing beyond r metres is further than any listing within r;
--   relevance  without text, a listing beyond r scores at most
--                0.20 / (1 + r / 5000)                      (proximity at r)
--              + the most rating and featured add to any listing: 0.20 × (Bayesian
--                rating − 1) / 4 + 0.05 if featured, for the best-rated listing and
--                for the best-rated featured one (two index lookups).
-- So app.search_page first runs the search within 2 km of the point; when the
-- page is full and its last row beats anything beyond 2 km, that page is the
-- exact answer. Otherwise it widens the circle (to the radius at which the
-- bound falls below the last row's score, or fourfold), and after three steps,
-- or when asked for total or facets (which count every match), it runs the
-- whole search as before. Results, order and cursors are exactly those of the
-- whole search (a test pages through both and compares).
-- Not bounded: text searches sorted by relevance (the text rank may add up to
-- 0.55, so no radius bounds it; text is selective anyway); searches in a
-- category, with tags or a minimum rating (they match few listings near the
-- point, so the steps would widen to the end; their own indexes answer the
-- whole search quicker: 26 ms whole against 79 ms stepped, serving + one
-- category in New York at 1,000,000 listings); the price and rating sorts.
-- =============================================================================

-- The highest ratings a bound must allow for, overall and among featured
-- listings: one row from each, not a scan.
create index listings_tenant_rating_idx on public.listings (tenant_id, rating_bayesian desc)
  where status = 'active' and deleted_at is null;
create index listings_tenant_featured_rating_idx on public.listings (tenant_id, rating_bayesian desc)
  where is_featured and status = 'active' and deleted_at is null;

-- -----------------------------------------------------------------------------
-- app.search_sql: as 0024, plus spec.within_m (a bounded step).
-- -----------------------------------------------------------------------------
create or replace function app.search_sql(spec jsonb, text_mode text) returns text
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
    if spec ? 'within_m' then
      -- A bounded step of app.search_page: only listings within within_m of the point.
      wheres := wheres || format('st_dwithin(l.location, %s, %s, false)', point, (spec ->> 'within_m')::float8);
    end if;
    if coalesce((spec ->> 'serving')::boolean, false) then
      -- Served: one of the listing's service areas covers the point, or it has
      -- none and the point is within its travel radius.
      -- Two disjoint halves (a listing has service areas or not), each on its own index.
      -- In a bounded step the travel-radius half leaves out the box test, so that the
      -- location index (a few hundred listings near the point) drives it rather than the
      -- boxes (every listing whose radius reaches the point: tens of thousands in a city).
      served := array[
        format('l.id in (select a.listing_id from public.listing_service_areas a where st_covers(a.area, %1$s) and a.tenant_id = %2$L)',
               point, tenant),
        format('%2$s l.service_radius_m is not null'
               ' and st_dwithin(l.location, %1$s, l.service_radius_m, false)'
               ' and not exists (select 1 from public.listing_service_areas a where a.listing_id = l.id)', point,
               case when spec ? 'within_m' then ''
                    else format('app.service_bbox(l.location, l.service_radius_m) && %s::geometry and', point) end)];
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


comment on function app.search_sql(jsonb, text) is 'The statement behind a search (see app.search_page): one CTE of matches, the page after the cursor, and the total and facets when asked. text_mode: text (full text), similar (trigram fallback) or null. spec.within_m limits the matches to that many metres from the point (a bounded step, 0029).';

-- -----------------------------------------------------------------------------
-- app.search_page: as 0024, running bounded steps first where a sort allows.
-- -----------------------------------------------------------------------------
create or replace function app.search_page(request jsonb) returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, public, extensions
set jit = off
as $$
declare
  spec jsonb := app.search_spec(request);
  mode text := spec ->> 'mode';
  sort text := spec ->> 'sort';
  r record;
  done boolean := false;
  last jsonb;
  page jsonb;
  size integer := (spec ->> 'page_size')::integer;
  within float8 := 2000;  -- the first bounded step's radius, metres
  rest float8;            -- the most rating and featured add to a relevance score
  beyond numeric;         -- the lowest sort key a listing beyond `within` can have
  last_k numeric;
  score float8;
  steps float8[] := '{}';  -- the radii of the bounded steps run, for search_explain and the bench
begin
  if spec ? 'query' and mode is null then
    mode := case when numnode(websearch_to_tsquery(app.text_search_config(spec ->> 'lang'), spec ->> 'query')) > 0
                 then 'text' else 'similar' end;
  end if;

  if spec ? 'lat' and not (spec ->> 'with_total')::boolean and not (spec ->> 'with_facets')::boolean
     and not (spec ? 'category_ids' or spec ? 'tag_ids' or spec ? 'min_rating')
     and (sort = 'distance' or (sort = 'relevance' and mode is null)) then
    if sort = 'relevance' then
      select greatest(
               0.20 * ((coalesce((select max(l.rating_bayesian) from public.listings l
                                  where l.tenant_id = (spec ->> 'tenant_id')::uuid
                                    and l.status = 'active' and l.deleted_at is null), 1) - 1) / 4.0),
               0.05 + 0.20 * ((coalesce((select max(l.rating_bayesian) from public.listings l
                                         where l.tenant_id = (spec ->> 'tenant_id')::uuid and l.is_featured
                                           and l.status = 'active' and l.deleted_at is null), -3) - 1) / 4.0))
        into rest;
    end if;
    for step in 1..3 loop
      -- Within a search radius that is no larger, the radius itself bounds the search.
      exit when spec ? 'radius_m' and within >= (spec ->> 'radius_m')::float8;
      execute app.search_sql(spec || jsonb_build_object('within_m', within), mode) into r;
      steps := steps || within;
      -- The last row of the page (the extra row beyond it says a next page exists).
      last_k := case when jsonb_array_length(r.page) > size then (r.page -> (size - 1) ->> 'k')::numeric end;
      -- Margins (1e-9 of score, 1 m) absorb rounding: the bound must never be too low.
      beyond := case sort
        when 'distance' then (within - 1)::numeric
        else round(-(0.20 / (1 + within / 5000.0) + rest + 1e-9)::numeric, 9) end;
      if last_k < beyond then
        done := true;
        exit;
      end if;
      score := -last_k;
      within := case
        -- The radius beyond which no listing can beat the last row found so far (that
        -- row only improves as the circle grows), with 10 % to spare.
        when sort = 'relevance' and last_k is not null and score - rest > 0
          then greatest(within * 2, 1.1 * 5000 * (0.20 / (score - rest) - 1))
        else within * 4 end;
    end loop;
  end if;
  if not done then
    execute app.search_sql(spec, mode) into r;
  end if;

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
    'facets', r.facets,
    'steps', to_jsonb(steps),
    'whole', not done);
end $$;

-- The plan of a bounded step too (request.within_m), for operators and the plan test.
create or replace function app.search_explain(request jsonb, run boolean default false) returns setof text
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
  if request ? 'within_m' then
    spec := spec || jsonb_build_object('within_m', (request ->> 'within_m')::float8);
  end if;
  return query execute format('explain (costs off%s) %s', case when run then ', analyze' else '' end,
                              app.search_sql(spec, mode));
end $$;
comment on function app.search_page(jsonb) is 'The ids behind one page of public.search_listings (plus next cursor, total, facets), found with the indexes under the public-read rule: active, not deleted, the caller''s tenant. steps: the radii (metres) of the bounded steps it ran; whole: whether it then ran the whole search (0029).';
