-- =============================================================================
-- 0020 slots: the bookable slots of a listing, and the calendar calls that keep
-- a provider's weekly schedule and date overrides.
--
-- Rules (docs/workflows.md#slots):
--  * A provider's availability is their weekly windows (wall-clock times in
--    their IANA zone, per ISO weekday) plus 'available' overrides, minus
--    'blocked' overrides, on each local date. Touching or overlapping pieces
--    merge into one stretch, so 22:00–24:00 Monday and 00:00–02:00 Tuesday
--    form one stretch a slot can span. A provider with no window and no extra
--    window has no bookable slots.
--  * Slots start at the beginning of a stretch and every slot_step_minutes
--    after it, in absolute time (a 60-minute slot lasts 60 real minutes, even
--    across a DST change); a slot lies wholly inside its stretch.
--  * A slot is bookable when it starts at least min_notice_minutes from now and
--    at most advance_booking_days ahead, when the listing has fewer than
--    max_bookings_per_day bookings (pending, confirmed, in progress or
--    completed) on that local date, and when, widened by the listing's buffers,
--    it overlaps no booking of the provider in a blocking status (pending,
--    confirmed, in_progress), itself widened by its own listing's buffers.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Per-listing slot settings (duration, notice, horizon and capacity already exist).
-- -----------------------------------------------------------------------------
alter table public.listings
  add column slot_step_minutes integer not null default 30
    constraint listings_slot_step_minutes_check check (slot_step_minutes between 5 and 1440),
  add column buffer_before_minutes integer not null default 0
    constraint listings_buffer_before_minutes_check check (buffer_before_minutes between 0 and 720),
  add column buffer_after_minutes integer not null default 0
    constraint listings_buffer_after_minutes_check check (buffer_after_minutes between 0 and 720);
comment on column public.listings.slot_step_minutes is 'Minutes between the starts of consecutive bookable slots (5–1440, default 30).';
comment on column public.listings.buffer_before_minutes is 'Free minutes the provider needs before a booking of this listing (0–720): travel, set-up.';
comment on column public.listings.buffer_after_minutes is 'Free minutes the provider needs after a booking of this listing (0–720): clean-up, travel.';

grant insert (slot_step_minutes, buffer_before_minutes, buffer_after_minutes),
      update (slot_step_minutes, buffer_before_minutes, buffer_after_minutes)
  on public.listings to authenticated;

-- The slot query reads a provider's windows and overrides by provider.
create index provider_availability_provider_idx on public.provider_availability (provider_id, day_of_week);
create index availability_overrides_provider_date_idx on public.availability_overrides (provider_id, date);

-- -----------------------------------------------------------------------------
-- Internal helpers
-- -----------------------------------------------------------------------------
create function app.provider_time_zone(provider uuid) returns text
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
begin
  return coalesce((select pa.time_zone from public.provider_availability pa where pa.provider_id = provider limit 1),
                  (select u.time_zone from public.users u where u.id = provider),
                  'UTC');
end $$;
comment on function app.provider_time_zone(uuid) is 'The IANA zone a provider''s schedule is kept in: their weekly windows'' zone, else their users.time_zone.';
revoke execute on function app.provider_time_zone(uuid) from public;
grant execute on function app.provider_time_zone(uuid) to anon, authenticated, service_role;

-- The one slot generator every public function uses: the bookable starts of a
-- listing in [from_at, to_at) for a duration, in the provider's zone tz.
-- PL/pgSQL rather than SQL so its plan is cached per session (a SQL function's query is
-- planned on every call, ~15 ms here); one generic plan fits every listing.
create function app.listing_slot_times(
  listing public.listings, tz text, from_at timestamptz, to_at timestamptz, minutes integer)
returns table (starts_at timestamptz, ends_at timestamptz)
language plpgsql stable security definer
set search_path = pg_catalog, public
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  return query
  with bounds as (
    select greatest(from_at, now() + make_interval(mins => listing.min_notice_minutes)) as lo,
           least(to_at, now() + make_interval(days => listing.advance_booking_days)) as hi,
           make_interval(mins => minutes) as dur,
           make_interval(mins => listing.slot_step_minutes) as step,
           -- Local dates whose windows can hold a slot starting in [lo, hi]; two days of
           -- look-back find where a stretch that began earlier starts.
           (from_at at time zone tz)::date - 2 as first_day,
           (to_at at time zone tz)::date + 2 as last_day
  ),
  windows as (
    select tstzrange((d.day + pa.start_time) at time zone tz, (d.day + pa.end_time) at time zone tz) as r
    from bounds b
    cross join lateral (select g::date as day from generate_series(b.first_day, b.last_day, interval '1 day') g) d
    join public.provider_availability pa
      on pa.provider_id = listing.provider_id
     and pa.day_of_week = extract(isodow from d.day)
     and (pa.valid_from is null or pa.valid_from <= d.day)
     and (pa.valid_until is null or pa.valid_until >= d.day)
    union all
    select tstzrange((o.date + o.start_time) at time zone tz, (o.date + o.end_time) at time zone tz)
    from bounds b
    join public.availability_overrides o
      on o.provider_id = listing.provider_id and o.date between b.first_day and b.last_day and o.kind = 'available'
  ),
  blocks as (
    select tstzrange((o.date + coalesce(o.start_time, time '00:00')) at time zone tz,
                     (o.date + coalesce(o.end_time, time '24:00')) at time zone tz) as r
    from bounds b
    join public.availability_overrides o
      on o.provider_id = listing.provider_id and o.date between b.first_day and b.last_day and o.kind = 'blocked'
  ),
  stretches as (
    select s
    from unnest(coalesce((select range_agg(r) from windows where not isempty(r)), '{}'::tstzmultirange)
                - coalesce((select range_agg(r) from blocks where not isempty(r)), '{}'::tstzmultirange)) s
  ),
  candidates as (
    select g as starts_at, g + b.dur as ends_at
    from bounds b
    join stretches st on lower(st.s) < b.hi and upper(st.s) > b.lo
    cross join lateral generate_series(
      lower(st.s) + b.step * greatest(0, ceil(extract(epoch from b.lo - lower(st.s)) / extract(epoch from b.step))),
      least(upper(st.s) - b.dur, b.hi),
      b.step) g
    where g < to_at
  ),
  busy as (
    select tstzrange(x.starts_at - make_interval(mins => bl.buffer_before_minutes),
                     x.ends_at + make_interval(mins => bl.buffer_after_minutes)) as r
    from bounds b
    join public.bookings x
      on x.provider_id = listing.provider_id
     and x.status in ('pending', 'confirmed', 'in_progress')
     and x.period && tstzrange(b.lo - interval '2 days', b.hi + b.dur + interval '2 days')
    join public.listings bl on bl.id = x.listing_id
  ),
  per_day as (
    select (x.starts_at at time zone tz)::date as day, count(*) as n
    from bounds b
    join public.bookings x
      on x.listing_id = listing.id
     and x.starts_at >= b.lo - interval '2 days' and x.starts_at < b.hi + interval '2 days'
     and x.status in ('pending', 'confirmed', 'in_progress', 'completed')
    where listing.max_bookings_per_day is not null
    group by 1
  )
  select c.starts_at, c.ends_at
  from candidates c
  where not exists (
          select 1 from busy
          where busy.r && tstzrange(c.starts_at - make_interval(mins => listing.buffer_before_minutes),
                                    c.ends_at + make_interval(mins => listing.buffer_after_minutes)))
    and (listing.max_bookings_per_day is null
         or coalesce((select p.n from per_day p where p.day = (c.starts_at at time zone tz)::date), 0)
            < listing.max_bookings_per_day)
  order by c.starts_at;
end $$;
comment on function app.listing_slot_times(public.listings, text, timestamptz, timestamptz, integer) is 'Bookable slot starts and ends of a listing in [from_at, to_at) for a duration in minutes, the provider''s schedule read in tz. Internal: callers check visibility and arguments.';
revoke execute on function app.listing_slot_times(public.listings, text, timestamptz, timestamptz, integer) from public;

-- A listing's default slot length: its fixed duration, else its minimum.
create function app.listing_duration(listing public.listings, requested integer) returns integer
language plpgsql immutable
set search_path = pg_catalog, public
as $$
begin
  return coalesce(requested, listing.duration_minutes, listing.minimum_duration_minutes);
end $$;
revoke execute on function app.listing_duration(public.listings, integer) from public;

-- -----------------------------------------------------------------------------
-- public.listing_slots: the slot picker of a listing page.
-- -----------------------------------------------------------------------------
create function public.listing_slots(
  listing_id uuid,
  from_at timestamptz,
  to_at timestamptz,
  time_zone text default null,
  duration_minutes integer default null)
returns table (
  starts_at timestamptz,
  ends_at timestamptz,
  local_starts_at timestamp,
  local_ends_at timestamp,
  display_time_zone text)
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_variable
declare
  l public.listings;
  tz text;
  display_zone text;
  minutes integer;
begin
  select * into l from public.listings x
  where x.id = listing_slots.listing_id and x.deleted_at is null
    and ((x.status = 'active' and x.tenant_id = app.current_tenant_id()) or x.provider_id = app.current_user_id());
  if l.id is null then
    raise sqlstate 'PT404' using
      message = format('listing %s not found', listing_slots.listing_id),
      hint = 'Only active listings of this marketplace have bookable slots.';
  end if;
  if from_at is null or to_at is null or to_at <= from_at then
    raise invalid_parameter_value using
      message = 'to_at must be after from_at',
      hint = 'Pass two instants, e.g. from_at 2027-03-14T00:00:00-05:00 and to_at 2027-03-15T00:00:00-04:00.';
  end if;
  if to_at - from_at > interval '62 days' then
    raise invalid_parameter_value using
      message = 'a slot range spans at most 62 days',
      hint = 'Ask for up to 62 days at a time and page on with the next from_at.';
  end if;
  display_zone := coalesce(listing_slots.time_zone, app.provider_time_zone(l.provider_id));
  if not app.is_valid_time_zone(display_zone) then
    raise invalid_parameter_value using
      message = format('unknown time zone %L', display_zone),
      hint = 'Use an IANA zone name such as America/New_York or Europe/Berlin.';
  end if;
  minutes := app.listing_duration(l, listing_slots.duration_minutes);
  if minutes < l.minimum_duration_minutes or minutes > 1440 then
    raise invalid_parameter_value using
      message = format('duration_minutes must be between %s and 1440', l.minimum_duration_minutes),
      hint = 'Leave duration_minutes out to use the listing''s own duration.';
  end if;
  tz := app.provider_time_zone(l.provider_id);
  return query
    select s.starts_at, s.ends_at, s.starts_at at time zone display_zone, s.ends_at at time zone display_zone, display_zone
    from app.listing_slot_times(l, tz, from_at, to_at, minutes) s;
end $$;
comment on function public.listing_slots(uuid, timestamptz, timestamptz, text, integer) is
  'The bookable slots of an active listing starting in [from_at, to_at) (at most 62 days): UTC instants and wall-clock times in time_zone (default: the provider''s). Honours the schedule, overrides, duration, slot step, buffers, notice, horizon, daily capacity and existing bookings.';
revoke execute on function public.listing_slots(uuid, timestamptz, timestamptz, text, integer) from public;
grant execute on function public.listing_slots(uuid, timestamptz, timestamptz, text, integer) to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- The slot contract for create_booking and search.
-- -----------------------------------------------------------------------------
create function app.is_bookable_slot(listing_id uuid, starts_at timestamptz, duration_minutes integer default null)
returns boolean
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_variable
declare
  l public.listings;
  minutes integer;
begin
  select * into l from public.listings x
  where x.id = is_bookable_slot.listing_id and x.status = 'active' and x.deleted_at is null;
  if l.id is null or starts_at is null then
    return false;
  end if;
  minutes := app.listing_duration(l, is_bookable_slot.duration_minutes);
  if minutes < l.minimum_duration_minutes or minutes > 1440 then
    return false;
  end if;
  return exists (
    select 1 from app.listing_slot_times(l, app.provider_time_zone(l.provider_id), starts_at,
                                         starts_at + interval '1 microsecond', minutes) s
    where s.starts_at = is_bookable_slot.starts_at);
end $$;
comment on function app.is_bookable_slot(uuid, timestamptz, integer) is 'True exactly when listing_slots(listing_id, …, duration_minutes) returns a slot starting at starts_at (active listings only). create_booking calls it inside its transaction.';
revoke execute on function app.is_bookable_slot(uuid, timestamptz, integer) from public;
grant execute on function app.is_bookable_slot(uuid, timestamptz, integer) to anon, authenticated, service_role;

create function app.next_available_slot(listing_id uuid, after timestamptz default now())
returns timestamptz
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_variable
declare
  l public.listings;
  tz text;
  minutes integer;
  chunk_start timestamptz;
  horizon timestamptz;
  found timestamptz;
begin
  select * into l from public.listings x
  where x.id = next_available_slot.listing_id and x.status = 'active' and x.deleted_at is null;
  if l.id is null then
    return null;
  end if;
  -- Nothing to find without a weekly window or an extra window to come.
  if not exists (select 1 from public.provider_availability pa where pa.provider_id = l.provider_id)
     and not exists (select 1 from public.availability_overrides o
                     where o.provider_id = l.provider_id and o.kind = 'available' and o.date >= current_date - 1) then
    return null;
  end if;
  tz := app.provider_time_zone(l.provider_id);
  minutes := app.listing_duration(l, null);
  chunk_start := greatest(coalesce(after, now()), now() + make_interval(mins => l.min_notice_minutes));
  horizon := now() + make_interval(days => l.advance_booking_days);
  while chunk_start <= horizon loop
    select s.starts_at into found
    from app.listing_slot_times(l, tz, chunk_start, chunk_start + interval '7 days', minutes) s
    limit 1;
    if found is not null then
      return found;
    end if;
    chunk_start := chunk_start + interval '7 days';
  end loop;
  return null;
end $$;
comment on function app.next_available_slot(uuid, timestamptz) is 'Start of the first bookable slot of an active listing at or after `after` (default now), with its default duration; NULL when none within its booking horizon.';
revoke execute on function app.next_available_slot(uuid, timestamptz) from public;
grant execute on function app.next_available_slot(uuid, timestamptz) to anon, authenticated, service_role;

create function app.listing_available_on(listing_id uuid, day date)
returns boolean
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_variable
declare
  l public.listings;
  tz text;
begin
  select * into l from public.listings x
  where x.id = listing_available_on.listing_id and x.status = 'active' and x.deleted_at is null;
  if l.id is null or day is null then
    return false;
  end if;
  tz := app.provider_time_zone(l.provider_id);
  return exists (
    select 1 from app.listing_slot_times(l, tz, day::timestamp at time zone tz, (day + 1)::timestamp at time zone tz,
                                         app.listing_duration(l, null)));
end $$;
comment on function app.listing_available_on(uuid, date) is 'True when an active listing has a bookable slot (default duration) starting on the local date `day` in the provider''s zone.';
revoke execute on function app.listing_available_on(uuid, date) from public;
grant execute on function app.listing_available_on(uuid, date) to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- The calendar screen: the weekly schedule in one call, overrides one by one.
-- -----------------------------------------------------------------------------
create function app.require_schedule_owner() returns uuid
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
begin
  if app.current_user_role() not in ('provider', 'admin', 'super_admin') then
    raise insufficient_privilege using
      message = 'only providers keep a schedule',
      hint = 'Become a provider (create your provider profile) before setting availability.';
  end if;
  return me;
end $$;
revoke execute on function app.require_schedule_owner() from public;

-- 'HH:MM' or 'HH:MM:SS' from a JSON value, 24:00 allowed; errors name the window.
create function app.schedule_time(value jsonb, what text) returns time
language plpgsql immutable
set search_path = pg_catalog
as $$
begin
  if value is null or jsonb_typeof(value) <> 'string' or value #>> '{}' !~ '^\d{1,2}:\d{2}(:\d{2})?$' then
    raise invalid_parameter_value using
      message = format('%s must be a time like "09:00" (got %s)', what, coalesce(value::text, 'nothing')),
      hint = 'Times are wall-clock HH:MM in the schedule''s time zone; 24:00 ends a window at midnight.';
  end if;
  return (value #>> '{}')::time;
exception when datetime_field_overflow or invalid_datetime_format then
  raise invalid_parameter_value using
    message = format('%s must be a time like "09:00" (got %s)', what, value::text),
    hint = 'Hours run 00–24, minutes 00–59.';
end $$;
revoke execute on function app.schedule_time(jsonb, text) from public;

create function public.set_weekly_schedule(time_zone text, windows jsonb)
returns setof public.provider_availability
language plpgsql security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_variable
declare
  me uuid := app.require_schedule_owner();
  w jsonb;
  i integer := 0;
  day smallint;
  parsed jsonb := '[]';
  clash record;
begin
  if set_weekly_schedule.time_zone is null or not app.is_valid_time_zone(set_weekly_schedule.time_zone) then
    raise invalid_parameter_value using
      message = format('unknown time zone %L', set_weekly_schedule.time_zone),
      hint = 'Use an IANA zone name such as America/New_York or Europe/Berlin.';
  end if;
  if windows is null or jsonb_typeof(windows) <> 'array' then
    raise invalid_parameter_value using
      message = 'windows must be an array of {day_of_week, start_time, end_time}',
      hint = 'e.g. [{"day_of_week": 1, "start_time": "09:00", "end_time": "17:00"}]; [] clears the schedule.';
  end if;
  if jsonb_array_length(windows) > 100 then
    raise invalid_parameter_value using message = 'a weekly schedule has at most 100 windows';
  end if;
  for w in select value from jsonb_array_elements(windows) loop
    i := i + 1;
    if jsonb_typeof(w) <> 'object' or jsonb_typeof(w -> 'day_of_week') <> 'number'
       or (w ->> 'day_of_week') !~ '^[1-7]$' then
      raise invalid_parameter_value using
        message = format('window %s: day_of_week must be 1 (Monday) … 7 (Sunday)', i),
        hint = 'Each window is {"day_of_week": 1-7, "start_time": "HH:MM", "end_time": "HH:MM"}.';
    end if;
    if exists (select 1 from jsonb_object_keys(w) k where k not in ('day_of_week', 'start_time', 'end_time')) then
      raise invalid_parameter_value using
        message = format('window %s: unknown key (allowed: day_of_week, start_time, end_time)', i);
    end if;
    day := (w ->> 'day_of_week')::smallint;
    parsed := parsed || jsonb_build_object(
      'n', i, 'day', day,
      'start', app.schedule_time(w -> 'start_time', format('window %s: start_time', i)),
      'end', app.schedule_time(w -> 'end_time', format('window %s: end_time', i)));
    if (parsed -> -1 ->> 'end')::time <= (parsed -> -1 ->> 'start')::time then
      raise invalid_parameter_value using
        message = format('window %s: end_time %s is not after start_time %s', i, w ->> 'end_time', w ->> 'start_time'),
        hint = 'A window ending at midnight ends at "24:00"; one running past midnight is two windows, one each day.';
    end if;
  end loop;
  select a.n as a_n, b.n as b_n into clash
  from jsonb_to_recordset(parsed) a (n int, day int, start time, "end" time)
  join jsonb_to_recordset(parsed) b (n int, day int, start time, "end" time)
    on a.day = b.day and a.n < b.n and a.start < b."end" and b.start < a."end"
  order by a.n, b.n limit 1;
  if found then
    raise invalid_parameter_value using
      message = format('windows %s and %s overlap', clash.a_n, clash.b_n),
      hint = 'Windows of one weekday must not overlap; touching windows (12:00–13:00, 13:00–17:00) are fine.';
  end if;

  delete from public.provider_availability pa where pa.provider_id = me;
  insert into public.provider_availability (provider_id, day_of_week, start_time, end_time, time_zone)
  select me, p.day, p.start, p."end", set_weekly_schedule.time_zone
  from jsonb_to_recordset(parsed) p (n int, day smallint, start time, "end" time)
  order by p.n;
  return query
    select * from public.provider_availability pa where pa.provider_id = me
    order by pa.day_of_week, pa.start_time;
end $$;
comment on function public.set_weekly_schedule(text, jsonb) is
  'Replaces the caller''s weekly schedule: windows is [{day_of_week 1-7 (Monday=1), start_time "HH:MM", end_time "HH:MM" (24:00 = midnight)}] in the IANA time_zone. All or nothing; returns the new windows.';
revoke execute on function public.set_weekly_schedule(text, jsonb) from public;
grant execute on function public.set_weekly_schedule(text, jsonb) to authenticated, service_role;

create function public.add_availability_override(
  date date,
  kind public.availability_override_kind,
  start_time time default null,
  end_time time default null,
  reason text default null)
returns public.availability_overrides
language plpgsql security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_variable
declare
  me uuid := app.require_schedule_owner();
  today date;
  result public.availability_overrides;
begin
  if add_availability_override.date is null or kind is null then
    raise invalid_parameter_value using
      message = 'date and kind are required',
      hint = 'kind is blocked (a day off, or part of a day with start_time/end_time) or available (an extra window).';
  end if;
  today := (now() at time zone app.provider_time_zone(me))::date;
  if add_availability_override.date < today then
    raise invalid_parameter_value using
      message = format('%s is in the past (today is %s in your time zone)', add_availability_override.date, today);
  end if;
  if (start_time is null) <> (end_time is null) then
    raise invalid_parameter_value using
      message = 'give both start_time and end_time, or neither (a whole day)';
  end if;
  if kind = 'available' and start_time is null then
    raise invalid_parameter_value using
      message = 'an extra window (kind available) needs start_time and end_time';
  end if;
  if end_time is not null and end_time <= start_time then
    raise invalid_parameter_value using
      message = format('end_time %s is not after start_time %s', end_time, start_time),
      hint = 'An override ending at midnight ends at "24:00".';
  end if;
  if length(reason) > 500 then
    raise invalid_parameter_value using message = 'reason is at most 500 characters';
  end if;
  begin
    insert into public.availability_overrides (provider_id, date, kind, start_time, end_time, reason)
    values (me, add_availability_override.date, kind, start_time, end_time, reason)
    returning * into result;
  exception when exclusion_violation then
    raise exclusion_violation using
      message = format('this overlaps another override of yours on %s', add_availability_override.date),
      hint = 'Remove the other override first (remove_availability_override), or pick times that do not overlap it.';
  end;
  return result;
end $$;
comment on function public.add_availability_override(date, public.availability_override_kind, time, time, text) is
  'Adds an exception to the caller''s weekly schedule on a local date: blocked (whole day without times, or start_time–end_time) or available (an extra window). The reason stays private.';
revoke execute on function public.add_availability_override(date, public.availability_override_kind, time, time, text) from public;
grant execute on function public.add_availability_override(date, public.availability_override_kind, time, time, text) to authenticated, service_role;

create function public.remove_availability_override(override_id uuid)
returns public.availability_overrides
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_schedule_owner();
  result public.availability_overrides;
begin
  delete from public.availability_overrides o
  where o.id = override_id and o.provider_id = me
  returning * into result;
  if result.id is null then
    raise sqlstate 'PT404' using
      message = format('override %s not found', override_id),
      hint = 'List your overrides with select on availability_overrides.';
  end if;
  return result;
end $$;
comment on function public.remove_availability_override(uuid) is 'Removes one of the caller''s schedule overrides and returns it.';
revoke execute on function public.remove_availability_override(uuid) from public;
grant execute on function public.remove_availability_override(uuid) to authenticated, service_role;

create function public.my_schedule(from_date date default null, to_date date default null)
returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_schedule_owner();
  tz text := app.provider_time_zone(me);
  first_day date := coalesce(from_date, (now() at time zone tz)::date);
begin
  if to_date is not null and to_date < first_day then
    raise invalid_parameter_value using message = 'to_date must not be before from_date';
  end if;
  return jsonb_build_object(
    'time_zone', tz,
    'windows', coalesce((
      select jsonb_agg(jsonb_build_object(
               'id', pa.id, 'day_of_week', pa.day_of_week,
               'start_time', to_char(pa.start_time, 'HH24:MI'), 'end_time', to_char(pa.end_time, 'HH24:MI'))
             order by pa.day_of_week, pa.start_time)
      from public.provider_availability pa where pa.provider_id = me), '[]'),
    'overrides', coalesce((
      select jsonb_agg(jsonb_build_object(
               'id', o.id, 'date', o.date, 'kind', o.kind,
               'start_time', to_char(o.start_time, 'HH24:MI'), 'end_time', to_char(o.end_time, 'HH24:MI'),
               'reason', o.reason)
             order by o.date, o.start_time nulls first)
      from public.availability_overrides o
      where o.provider_id = me and o.date >= first_day and (to_date is null or o.date <= to_date)), '[]'));
end $$;
comment on function public.my_schedule(date, date) is
  'The caller''s calendar in one call: {time_zone, windows: [{id, day_of_week, start_time, end_time}], overrides: [{id, date, kind, start_time, end_time, reason}]} with overrides from from_date (default: today in the schedule''s zone) to to_date.';
revoke execute on function public.my_schedule(date, date) from public;
grant execute on function public.my_schedule(date, date) to authenticated, service_role;
