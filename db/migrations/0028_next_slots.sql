-- =============================================================================
-- 0028 next slots: the next free slot of a whole page of listings in one
-- set-based query, for the search page's cards (issue 8, benchmarks).
--
-- search_listings (0024) called app.next_available_slot() once per card: twenty
-- PL/pgSQL calls, each running the slot query of 0020 for one listing, were
-- most of the function's cost beyond the search itself. app.next_available_slots()
-- runs that query once for all the listings of a page, with the same rules and
-- the same steps (docs/workflows.md#slots), so each card shows exactly what
-- app.next_available_slot() returns (a test compares them listing by listing):
--   * only active, undeleted listings whose provider has a weekly window or an
--     extra window from yesterday on;
--   * from greatest(after, now + minimum notice), in chunks of 7 days while the
--     chunk starts within advance_booking_days; in each chunk the slots of
--     app.listing_slot_times(): windows in the provider's zone plus 'available'
--     overrides minus 'blocked' ones, slot starts every slot_step_minutes from
--     the start of a stretch, the listing's default duration, buffers around
--     blocking bookings of the provider, max_bookings_per_day;
--   * the first slot of the first chunk that has one.
-- The chunks matter beyond speed: a stretch that began before a chunk's two days
-- of look-back is cut there, which can move where its slots start, so the set
-- version walks the same chunks rather than one long range.
-- =============================================================================

create function app.next_available_slots(listing_ids uuid[], after timestamptz default now())
returns table (listing_id uuid, next_available_at timestamptz)
language plpgsql stable security definer
set search_path = pg_catalog, public
-- One plan for every page (as app.listing_slot_times); re-planning the query per call
-- would cost about what it saves. Its cost estimate (generate_series guesses) is far above
-- jit_above_cost, and compiling it took 80 ms to 2.6 s for a query of a few milliseconds.
set plan_cache_mode = force_generic_plan
set jit = off
as $$
#variable_conflict use_column
declare
  -- The listings still without a slot, and where their next chunk starts.
  pending uuid[];
  pending_from timestamptz[];
  found_ids uuid[] := '{}';
  found_at timestamptz[] := '{}';
  chunk_ids uuid[];
  chunk_at timestamptz[];
begin
  select coalesce(array_agg(x.id), '{}'),
         coalesce(array_agg(greatest(coalesce(after, now()), now() + make_interval(mins => x.min_notice_minutes))), '{}')
    into pending, pending_from
  from public.listings x
  where x.id = any(listing_ids) and x.status = 'active' and x.deleted_at is null
    -- Nothing to find without a weekly window or an extra window to come.
    and (exists (select 1 from public.provider_availability pa where pa.provider_id = x.provider_id)
         or exists (select 1 from public.availability_overrides o
                    where o.provider_id = x.provider_id and o.kind = 'available' and o.date >= current_date - 1))
    and greatest(coalesce(after, now()), now() + make_interval(mins => x.min_notice_minutes))
        <= now() + make_interval(days => x.advance_booking_days);

  while cardinality(pending) > 0 loop
    -- app.listing_slot_times() of 0020 for every pending listing at once, over [from_at, from_at + 7 days).
    with l as (
      select x.id, x.provider_id, x.min_notice_minutes, x.advance_booking_days, x.slot_step_minutes,
             x.buffer_before_minutes, x.buffer_after_minutes, x.max_bookings_per_day,
             -- app.provider_time_zone(), inline.
             coalesce((select pa.time_zone from public.provider_availability pa where pa.provider_id = x.provider_id limit 1),
                      (select u.time_zone from public.users u where u.id = x.provider_id),
                      'UTC') as tz,
             coalesce(x.duration_minutes, x.minimum_duration_minutes) as minutes,  -- app.listing_duration(l, null)
             p.from_at, p.from_at + interval '7 days' as to_at
      from unnest(pending, pending_from) p (id, from_at)
      join public.listings x on x.id = p.id
    ),
    bounds as (
      select l.*,
             greatest(l.from_at, now() + make_interval(mins => l.min_notice_minutes)) as lo,
             least(l.to_at, now() + make_interval(days => l.advance_booking_days)) as hi,
             make_interval(mins => l.minutes) as dur,
             make_interval(mins => l.slot_step_minutes) as step,
             (l.from_at at time zone l.tz)::date - 2 as first_day,
             (l.to_at at time zone l.tz)::date + 2 as last_day
      from l
    ),
    windows as (
      select b.id, tstzrange((d.day + pa.start_time) at time zone b.tz, (d.day + pa.end_time) at time zone b.tz) as r
      from bounds b
      cross join lateral (select g::date as day from generate_series(b.first_day, b.last_day, interval '1 day') g) d
      join public.provider_availability pa
        on pa.provider_id = b.provider_id
       and pa.day_of_week = extract(isodow from d.day)
       and (pa.valid_from is null or pa.valid_from <= d.day)
       and (pa.valid_until is null or pa.valid_until >= d.day)
      union all
      select b.id, tstzrange((o.date + o.start_time) at time zone b.tz, (o.date + o.end_time) at time zone b.tz)
      from bounds b
      join public.availability_overrides o
        on o.provider_id = b.provider_id and o.date between b.first_day and b.last_day and o.kind = 'available'
    ),
    blocks as (
      select b.id, tstzrange((o.date + coalesce(o.start_time, time '00:00')) at time zone b.tz,
                             (o.date + coalesce(o.end_time, time '24:00')) at time zone b.tz) as r
      from bounds b
      join public.availability_overrides o
        on o.provider_id = b.provider_id and o.date between b.first_day and b.last_day and o.kind = 'blocked'
    ),
    stretches as (
      select b.id, s
      from bounds b
      left join (select w.id, range_agg(w.r) as m from windows w where not isempty(w.r) group by w.id) w on w.id = b.id
      left join (select k.id, range_agg(k.r) as m from blocks k where not isempty(k.r) group by k.id) k on k.id = b.id
      cross join lateral unnest(coalesce(w.m, '{}'::tstzmultirange) - coalesce(k.m, '{}'::tstzmultirange)) s
    ),
    -- Each listing's blocking bookings with their buffers as one multirange: one overlap
    -- test per candidate instead of one per candidate and booking.
    busy as (
      select b.id, range_agg(tstzrange(x.starts_at - make_interval(mins => bl.buffer_before_minutes),
                                       x.ends_at + make_interval(mins => bl.buffer_after_minutes))) as m
      from bounds b
      join public.bookings x
        on x.provider_id = b.provider_id
       and x.status in ('pending', 'confirmed', 'in_progress')
       and x.period && tstzrange(b.lo - interval '2 days', b.hi + b.dur + interval '2 days')
      join public.listings bl on bl.id = x.listing_id
      group by b.id
    ),
    -- A listing with no blocking booking near the chunk and no daily cap takes the first
    -- start of a stretch, so only that one is generated; the others need every start.
    candidates as (
      select b.id, g as starts_at, g + b.dur as ends_at
      from bounds b
      join stretches st on st.id = b.id and lower(st.s) < b.hi and upper(st.s) > b.lo
      left join busy on busy.id = b.id
      cross join lateral (
        select lower(st.s) + b.step * greatest(0, ceil(extract(epoch from b.lo - lower(st.s)) / extract(epoch from b.step))) as first,
               least(upper(st.s) - b.dur, b.hi) as last) f
      cross join lateral generate_series(
        f.first,
        case when busy.m is null and b.max_bookings_per_day is null then least(f.first, f.last) else f.last end,
        b.step) g
      where g < b.to_at
    ),
    per_day as (
      select b.id, (x.starts_at at time zone b.tz)::date as day, count(*) as n
      from bounds b
      join public.bookings x
        on x.listing_id = b.id
       and x.starts_at >= b.lo - interval '2 days' and x.starts_at < b.hi + interval '2 days'
       and x.status in ('pending', 'confirmed', 'in_progress', 'completed')
      where b.max_bookings_per_day is not null
      group by 1, 2
    ),
    firsts as (
      select c.id, min(c.starts_at) as starts_at
      from candidates c
      join bounds b on b.id = c.id
      left join busy on busy.id = c.id
      where (busy.m is null
             or not busy.m && tstzrange(c.starts_at - make_interval(mins => b.buffer_before_minutes),
                                        c.ends_at + make_interval(mins => b.buffer_after_minutes)))
        and (b.max_bookings_per_day is null
             or coalesce((select p.n from per_day p where p.id = c.id and p.day = (c.starts_at at time zone b.tz)::date), 0)
                < b.max_bookings_per_day)
      group by c.id
    )
    select coalesce(array_agg(f.id), '{}'), coalesce(array_agg(f.starts_at), '{}') into chunk_ids, chunk_at
    from firsts f;

    found_ids := found_ids || chunk_ids;
    found_at := found_at || chunk_at;
    -- The others try their next chunk while it starts within their horizon.
    select coalesce(array_agg(p.id), '{}'), coalesce(array_agg(p.from_at + interval '7 days'), '{}')
      into pending, pending_from
    from unnest(pending, pending_from) p (id, from_at)
    join public.listings x on x.id = p.id
    where p.id <> all(chunk_ids)
      and p.from_at + interval '7 days' <= now() + make_interval(days => x.advance_booking_days);
  end loop;

  return query
    select i.id, f.starts_at
    from (select distinct u.id from unnest(listing_ids) u (id) where u.id is not null) i
    left join unnest(found_ids, found_at) f (id, starts_at) on f.id = i.id;
end $$;
comment on function app.next_available_slots(uuid[], timestamptz) is 'app.next_available_slot() for many listings in one set-based query: one row per distinct listing id given, with the start of its first bookable slot at or after `after` (NULL when none within its horizon, or not an active listing).';
revoke execute on function app.next_available_slots(uuid[], timestamptz) from public;
grant execute on function app.next_available_slots(uuid[], timestamptz) to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- public.search_listings: as in 0024, the cards' next free slot from the above.
-- -----------------------------------------------------------------------------
create or replace function public.search_listings(
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
  -- The cards, read as the caller (RLS), in the page's order, with the page's next free
  -- slots found in one set-based call (0028) rather than one call per card. `l.id = any(ids)` is the
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
        'next_available_at', n.next_available_at,
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
    left join app.next_available_slots(ids, now()) n on n.listing_id = l.id
    where l.id = any(ids)
  into results;
  return jsonb_build_object('results', results, 'next_cursor', picked -> 'next_cursor',
                            'query_mode', picked -> 'query_mode', 'total', picked -> 'total', 'facets', picked -> 'facets');
end $$;
