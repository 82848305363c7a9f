-- =============================================================================
-- 0006 scheduling: providers' weekly availability (wall-clock time in their
-- IANA time zone), per-date overrides, bookings as absolute time ranges with
-- the provider's time zone, the booking state machine and its history.
-- Double booking is impossible by construction: an exclusion constraint.
-- =============================================================================

create type public.booking_status as enum (
  'pending', 'confirmed', 'in_progress', 'completed', 'cancelled', 'disputed', 'refunded');
create type public.availability_override_kind as enum ('blocked', 'available');

-- -----------------------------------------------------------------------------
-- provider_availability: weekly windows, e.g. Monday 09:00–17:00 Europe/Berlin.
-- -----------------------------------------------------------------------------
create table public.provider_availability (
  id           uuid primary key default gen_random_uuid(),
  provider_id  uuid not null references public.users (id) on delete cascade,
  tenant_id    uuid not null references public.tenants (id) on delete cascade,
  day_of_week  smallint not null check (day_of_week between 1 and 7),
  start_time   time not null,
  end_time     time not null,
  time_zone    public.time_zone not null,
  valid_from   date,
  valid_until  date,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  check (end_time > start_time),
  check (valid_until >= valid_from),
  -- Windows of one provider on one weekday never overlap.
  constraint provider_availability_no_overlap exclude using gist (
    provider_id with =, day_of_week with =,
    int4range((extract(epoch from start_time) / 60)::int, (extract(epoch from end_time) / 60)::int) with &&)
);
comment on table public.provider_availability is 'Weekly availability windows in the provider''s local wall-clock time. A window ending at midnight uses end_time 24:00.';
comment on column public.provider_availability.day_of_week is 'ISO weekday: 1 = Monday … 7 = Sunday (extract(isodow)).';
comment on column public.provider_availability.time_zone is 'IANA zone the times are in (defaults to the provider''s users.time_zone).';

create index provider_availability_tenant_id_idx on public.provider_availability (tenant_id);

create function app.default_provider_time_zone() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if new.time_zone is null then
    select u.time_zone into new.time_zone from public.users u where u.id = new.provider_id;
  end if;
  -- One zone per provider: availability checks read the schedule in that zone.
  if exists (select 1 from public.provider_availability pa
             where pa.provider_id = new.provider_id and pa.id <> new.id and pa.time_zone <> new.time_zone) then
    raise check_violation using message = 'all of a provider''s weekly windows must use the same time zone';
  end if;
  return new;
end $$;
revoke execute on function app.default_provider_time_zone() from public;

create trigger provider_availability_inherit_tenant before insert on public.provider_availability
  for each row execute function app.inherit_tenant('users', 'provider_id');
create trigger provider_availability_default_time_zone before insert or update of time_zone on public.provider_availability
  for each row execute function app.default_provider_time_zone();
create trigger provider_availability_set_updated_at before update on public.provider_availability
  for each row execute function app.set_updated_at();

alter table public.provider_availability enable row level security;
grant select on public.provider_availability to anon, authenticated;
grant insert (provider_id, day_of_week, start_time, end_time, time_zone, valid_from, valid_until),
      update (day_of_week, start_time, end_time, time_zone, valid_from, valid_until),
      delete
  on public.provider_availability to authenticated;
create policy "Anyone can read provider schedules in their tenant" on public.provider_availability
  for select to anon, authenticated using (tenant_id = (select app.current_tenant_id()));
create policy "Providers can add to their own schedule" on public.provider_availability
  for insert to authenticated with check (provider_id = (select app.current_user_id()));
create policy "Providers can change their own schedule" on public.provider_availability
  for update to authenticated
  using (provider_id = (select app.current_user_id()))
  with check (provider_id = (select app.current_user_id()));
create policy "Providers can remove from their own schedule" on public.provider_availability
  for delete to authenticated using (provider_id = (select app.current_user_id()));

-- -----------------------------------------------------------------------------
-- availability_overrides: a local date blocked (holiday, all day or part) or
-- opened outside the weekly schedule.
-- -----------------------------------------------------------------------------
create table public.availability_overrides (
  id           uuid primary key default gen_random_uuid(),
  provider_id  uuid not null references public.users (id) on delete cascade,
  tenant_id    uuid not null references public.tenants (id) on delete cascade,
  date         date not null,
  kind         public.availability_override_kind not null,
  start_time   time,
  end_time     time,
  reason       text check (length(reason) <= 500),
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  check ((start_time is null) = (end_time is null)),
  check (end_time > start_time),
  check (kind = 'blocked' or start_time is not null),
  -- Overrides of one provider on one date never overlap; a whole-day block
  -- (no times) covers the whole day.
  constraint availability_overrides_no_overlap exclude using gist (
    provider_id with =, date with =,
    int4range(coalesce((extract(epoch from start_time) / 60)::int, 0),
              coalesce((extract(epoch from end_time) / 60)::int, 1440)) with &&)
);
comment on table public.availability_overrides is 'Per local date exceptions to the weekly schedule: blocked (all day when times are NULL) or extra available hours. Private to the provider.';

create index availability_overrides_tenant_id_idx on public.availability_overrides (tenant_id);

create trigger availability_overrides_inherit_tenant before insert on public.availability_overrides
  for each row execute function app.inherit_tenant('users', 'provider_id');
create trigger availability_overrides_set_updated_at before update on public.availability_overrides
  for each row execute function app.set_updated_at();

alter table public.availability_overrides enable row level security;
grant select, delete on public.availability_overrides to authenticated;
grant insert (provider_id, date, kind, start_time, end_time, reason),
      update (date, kind, start_time, end_time, reason)
  on public.availability_overrides to authenticated;
create policy "Providers can read their own overrides" on public.availability_overrides
  for select to authenticated using (provider_id = (select app.current_user_id()));
create policy "Providers can add their own overrides" on public.availability_overrides
  for insert to authenticated with check (provider_id = (select app.current_user_id()));
create policy "Providers can change their own overrides" on public.availability_overrides
  for update to authenticated
  using (provider_id = (select app.current_user_id()))
  with check (provider_id = (select app.current_user_id()));
create policy "Providers can delete their own overrides" on public.availability_overrides
  for delete to authenticated using (provider_id = (select app.current_user_id()));

-- -----------------------------------------------------------------------------
-- bookings
-- -----------------------------------------------------------------------------
create table public.bookings (
  id                   uuid primary key default gen_random_uuid(),
  tenant_id            uuid not null references public.tenants (id) on delete cascade,
  listing_id           uuid not null references public.listings (id),
  provider_id          uuid not null references public.users (id),
  customer_id          uuid not null references public.users (id),
  starts_at            timestamptz not null,
  ends_at              timestamptz not null,
  period               tstzrange generated always as (tstzrange(starts_at, ends_at, '[)')) stored,
  time_zone            public.time_zone not null,
  service_title        text not null,
  service_description  text,
  special_requests     text check (length(special_requests) <= 5000),
  currency             public.currency_code not null,
  base_price_cents     public.cents not null,
  service_fee_cents    public.cents not null default 0,
  tax_cents            public.cents not null default 0,
  discount_cents       public.cents not null default 0,
  total_cents          public.cents not null,
  platform_fee_cents   public.cents not null default 0,
  status               public.booking_status not null default 'pending',
  confirmation_code    text not null,
  cancellation_reason  text,
  cancelled_by         uuid references public.users (id) on delete set null,
  customer_notes       text check (length(customer_notes) <= 5000),
  provider_notes       text check (length(provider_notes) <= 5000),
  location_type        public.location_type not null default 'on_site',
  service_address      jsonb,
  service_location     extensions.geography(Point, 4326),
  confirmed_at         timestamptz,
  started_at           timestamptz,
  completed_at         timestamptz,
  cancelled_at         timestamptz,
  disputed_at          timestamptz,
  refunded_at          timestamptz,
  metadata             jsonb not null default '{}',
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  check (ends_at > starts_at),
  check (customer_id <> provider_id),
  check (total_cents = base_price_cents + service_fee_cents + tax_cents - discount_cents),
  check (platform_fee_cents <= base_price_cents),
  constraint bookings_no_double_booking exclude using gist (provider_id with =, period with &&)
    where (status in ('pending', 'confirmed', 'in_progress'))
);
comment on table public.bookings is 'A customer''s booking of a listing for an absolute time range. Created by create_booking(), moved by transition_booking().';
comment on column public.bookings.period is '[starts_at, ends_at): no two active bookings of one provider overlap (bookings_no_double_booking).';
comment on column public.bookings.time_zone is 'The provider''s IANA zone when booked; local times are starts_at at time zone time_zone.';
comment on column public.bookings.total_cents is 'What the customer pays: base + service fee + tax - discount (checked).';
comment on column public.bookings.platform_fee_cents is 'Commission the marketplace keeps from the provider''s base price; not added to the total.';
comment on column public.bookings.listing_id is 'Bookings keep their listing: listings are soft-deleted, and a hard delete with bookings is refused.';

create unique index bookings_confirmation_code_key on public.bookings (confirmation_code);
create index bookings_listing_starts_idx on public.bookings (listing_id, starts_at);
create index bookings_provider_starts_idx on public.bookings (provider_id, starts_at desc);
create index bookings_customer_starts_idx on public.bookings (customer_id, starts_at desc);
create index bookings_tenant_status_idx on public.bookings (tenant_id, status, starts_at desc);
create index bookings_upcoming_idx on public.bookings (starts_at) where status in ('pending', 'confirmed');
create index bookings_cancelled_by_idx on public.bookings (cancelled_by) where cancelled_by is not null;

create table public.booking_status_history (
  id           uuid primary key default gen_random_uuid(),
  booking_id   uuid not null references public.bookings (id) on delete cascade,
  tenant_id    uuid not null references public.tenants (id) on delete cascade,
  from_status  public.booking_status,
  to_status    public.booking_status not null,
  changed_by   uuid references public.users (id) on delete set null,
  reason       text,
  created_at   timestamptz not null default now()
);
comment on table public.booking_status_history is 'Every status a booking entered, who moved it and why. Written by trigger only.';

create index booking_status_history_booking_idx on public.booking_status_history (booking_id, created_at);
create index booking_status_history_changed_by_idx on public.booking_status_history (changed_by);
create index booking_status_history_tenant_id_idx on public.booking_status_history (tenant_id);

-- The legal moves of the booking state machine.
create function app.booking_transition_allowed(from_status public.booking_status, to_status public.booking_status)
returns boolean
language sql immutable parallel safe
set search_path = pg_catalog, public
as $$
  select (from_status, to_status) in (
    ('pending', 'confirmed'), ('pending', 'cancelled'),
    ('confirmed', 'in_progress'), ('confirmed', 'completed'), ('confirmed', 'cancelled'),
    ('in_progress', 'completed'), ('in_progress', 'cancelled'), ('in_progress', 'disputed'),
    ('completed', 'disputed'), ('completed', 'refunded'),
    ('disputed', 'completed'), ('disputed', 'refunded'), ('disputed', 'cancelled'),
    ('cancelled', 'refunded'))
$$;
comment on function app.booking_transition_allowed(public.booking_status, public.booking_status) is 'True for a legal booking status move; refunded is final.';
grant execute on function app.booking_transition_allowed(public.booking_status, public.booking_status) to anon, authenticated, service_role;

create function app.bookings_before_insert() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  listing public.listings;
begin
  select * into listing from public.listings where id = new.listing_id;
  if listing.id is null then
    raise foreign_key_violation using message = format('listing %s does not exist', new.listing_id);
  end if;
  -- The provider and tenant are the listing's, whatever the caller sent.
  new.provider_id := listing.provider_id;
  new.tenant_id := listing.tenant_id;
  if not exists (select 1 from public.users u where u.id = new.customer_id and u.tenant_id = listing.tenant_id) then
    raise check_violation using message = 'the customer does not belong to the listing''s marketplace';
  end if;
  if new.confirmation_code is null then
    loop
      new.confirmation_code := 'LC-' || app.random_code(10);
      exit when not exists (select 1 from public.bookings b where b.confirmation_code = new.confirmation_code);
    end loop;
  end if;
  if new.status = 'confirmed' then
    new.confirmed_at := coalesce(new.confirmed_at, now());
  end if;
  return new;
end $$;
revoke execute on function app.bookings_before_insert() from public;

create function app.bookings_before_update() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
begin
  if (new.listing_id, new.provider_id, new.customer_id, new.tenant_id, new.confirmation_code)
     is distinct from (old.listing_id, old.provider_id, old.customer_id, old.tenant_id, old.confirmation_code) then
    raise check_violation using message = 'a booking''s listing, parties, tenant and confirmation code cannot change';
  end if;
  if new.status is distinct from old.status then
    if not app.booking_transition_allowed(old.status, new.status) then
      raise check_violation using
        message = format('a booking cannot move from %s to %s', old.status, new.status),
        hint = 'Allowed: pending→confirmed|cancelled, confirmed→in_progress|completed|cancelled, in_progress→completed|cancelled|disputed, completed→disputed|refunded, disputed→completed|refunded|cancelled, cancelled→refunded.';
    end if;
    case new.status
      when 'confirmed' then new.confirmed_at := now();
      when 'in_progress' then new.started_at := now();
      when 'completed' then new.completed_at := now();
      when 'cancelled' then new.cancelled_at := now();
      when 'disputed' then new.disputed_at := now();
      when 'refunded' then new.refunded_at := now();
      else null;
    end case;
  end if;
  if not app.is_trusted() then
    -- Clients may only edit their own side's notes (column grants do the rest).
    if new.customer_notes is distinct from old.customer_notes and old.customer_id <> app.current_user_id() then
      raise insufficient_privilege using message = 'only the customer can edit customer_notes';
    end if;
    if new.provider_notes is distinct from old.provider_notes and old.provider_id <> app.current_user_id() then
      raise insufficient_privilege using message = 'only the provider can edit provider_notes';
    end if;
  end if;
  return new;
end $$;
revoke execute on function app.bookings_before_update() from public;

create function app.bookings_after_write() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if tg_op = 'DELETE' then
    update public.listings set booking_count = greatest(booking_count - 1, 0) where id = old.listing_id;
    if old.status = 'completed' then
      update public.user_profiles set total_jobs_completed = greatest(total_jobs_completed - 1, 0) where user_id = old.provider_id;
    end if;
    return null;
  end if;
  if tg_op = 'INSERT' or new.status is distinct from old.status then
    insert into public.booking_status_history (booking_id, tenant_id, from_status, to_status, changed_by, reason)
    values (new.id, new.tenant_id, case when tg_op = 'UPDATE' then old.status end, new.status,
            app.current_user_id(), nullif(current_setting('loconomy.reason', true), ''));
  end if;
  if tg_op = 'INSERT' then
    update public.listings set booking_count = booking_count + 1 where id = new.listing_id;
  end if;
  -- total_jobs_completed counts the provider's bookings that are completed now.
  if new.status = 'completed' and (tg_op = 'INSERT' or old.status <> 'completed') then
    update public.user_profiles set total_jobs_completed = total_jobs_completed + 1 where user_id = new.provider_id;
  elsif tg_op = 'UPDATE' and old.status = 'completed' and new.status <> 'completed' then
    update public.user_profiles set total_jobs_completed = greatest(total_jobs_completed - 1, 0) where user_id = new.provider_id;
  end if;
  return null;
end $$;
revoke execute on function app.bookings_after_write() from public;

create trigger bookings_before_insert before insert on public.bookings
  for each row execute function app.bookings_before_insert();
create trigger bookings_before_update before update on public.bookings
  for each row execute function app.bookings_before_update();
create trigger bookings_set_updated_at before update on public.bookings
  for each row execute function app.set_updated_at();
create trigger bookings_after_write after insert or update of status or delete on public.bookings
  for each row execute function app.bookings_after_write();
create trigger bookings_audit after insert or update or delete on public.bookings
  for each row execute function app.audit_row('service_address');

alter table public.bookings enable row level security;
grant select on public.bookings to authenticated;
grant update (customer_notes, provider_notes) on public.bookings to authenticated;
create policy "Participants can read their bookings" on public.bookings
  for select to authenticated
  using (customer_id = (select app.current_user_id()) or provider_id = (select app.current_user_id()));
create policy "Booking managers can read bookings of their tenant" on public.bookings
  for select to authenticated
  using ((select app.has_permission('bookings.manage')) and tenant_id = (select app.current_tenant_id()));
create policy "Participants can update their notes" on public.bookings
  for update to authenticated
  using (customer_id = (select app.current_user_id()) or provider_id = (select app.current_user_id()))
  with check (customer_id = (select app.current_user_id()) or provider_id = (select app.current_user_id()));

alter table public.booking_status_history enable row level security;
grant select on public.booking_status_history to authenticated;
create policy "Participants can read their bookings' history" on public.booking_status_history
  for select to authenticated
  using (exists (select 1 from public.bookings b where b.id = booking_id));

-- -----------------------------------------------------------------------------
-- Availability check and the booking operations.
-- -----------------------------------------------------------------------------
create function app.provider_is_available(provider uuid, starts timestamptz, ends timestamptz)
returns boolean
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  tz text;
  local_start timestamp;
  local_end timestamp;
  day date;
  from_t time;
  to_t time;
begin
  select coalesce((select pa.time_zone from public.provider_availability pa where pa.provider_id = provider limit 1),
                  (select u.time_zone from public.users u where u.id = provider))
    into tz;
  local_start := starts at time zone tz;
  local_end := ends at time zone tz;
  day := local_start::date;
  from_t := local_start::time;
  -- A slot may end at local midnight (24:00) but not run into the next day.
  if local_end::date = day then
    to_t := local_end::time;
  elsif local_end = (day + 1)::timestamp then
    to_t := '24:00';
  else
    return false;
  end if;

  if exists (select 1 from public.availability_overrides o
             where o.provider_id = provider and o.date = day and o.kind = 'blocked'
               and (o.start_time is null or (o.start_time < to_t and o.end_time > from_t))) then
    return false;
  end if;
  if exists (select 1 from public.availability_overrides o
             where o.provider_id = provider and o.date = day and o.kind = 'available'
               and o.start_time <= from_t and o.end_time >= to_t) then
    return true;
  end if;
  -- A provider without a weekly schedule takes requests at any time.
  if not exists (select 1 from public.provider_availability pa where pa.provider_id = provider) then
    return true;
  end if;
  return exists (
    select 1 from public.provider_availability pa
    where pa.provider_id = provider
      and pa.day_of_week = extract(isodow from day)
      and pa.start_time <= from_t and pa.end_time >= to_t
      and (pa.valid_from is null or pa.valid_from <= day)
      and (pa.valid_until is null or pa.valid_until >= day));
end $$;
comment on function app.provider_is_available(uuid, timestamptz, timestamptz) is 'True when [starts, ends) lies inside the provider''s schedule in their time zone and no blocking override covers it.';
revoke execute on function app.provider_is_available(uuid, timestamptz, timestamptz) from public;
-- Only create_booking() (SECURITY DEFINER) asks: overrides are private to the provider.
grant execute on function app.provider_is_available(uuid, timestamptz, timestamptz) to service_role;

create function public.create_booking(
  listing_id uuid,
  starts_at timestamptz,
  duration_minutes integer default null,
  special_requests text default null,
  address_id uuid default null)
returns public.bookings
language plpgsql security definer
set search_path = pg_catalog, public, extensions
as $$
declare
  me uuid := app.current_user_id();
  l public.listings;
  t public.tenants;
  addr public.user_addresses;
  minutes integer;
  ends timestamptz;
  base bigint;
  fee bigint;
  tax bigint;
  result public.bookings;
begin
  if me is null then
    raise insufficient_privilege using message = 'sign in to book';
  end if;
  select * into l from public.listings x
  where x.id = create_booking.listing_id and x.status = 'active' and x.deleted_at is null
    and x.tenant_id = app.current_tenant_id();
  if l.id is null then
    raise no_data_found using message = format('listing %s is not available for booking', create_booking.listing_id);
  end if;
  if l.provider_id = me then
    raise check_violation using message = 'you cannot book your own listing';
  end if;
  minutes := coalesce(create_booking.duration_minutes, l.duration_minutes, l.minimum_duration_minutes);
  if minutes < l.minimum_duration_minutes or minutes > 1440 then
    raise check_violation using message = format('duration must be between %s and 1440 minutes', l.minimum_duration_minutes);
  end if;
  ends := create_booking.starts_at + make_interval(mins => minutes);
  if create_booking.starts_at < now() + make_interval(mins => l.min_notice_minutes) then
    raise check_violation using message = format('bookings need at least %s minutes'' notice', l.min_notice_minutes);
  end if;
  if create_booking.starts_at > now() + make_interval(days => l.advance_booking_days) then
    raise check_violation using message = format('bookings open at most %s days ahead', l.advance_booking_days);
  end if;
  if not app.provider_is_available(l.provider_id, create_booking.starts_at, ends) then
    raise check_violation using
      message = 'the provider is not available at that time',
      hint = 'Pick a time inside the provider''s schedule (provider_availability) that no override blocks.';
  end if;
  if l.max_bookings_per_day is not null and (
      select count(*) from public.bookings b
      where b.listing_id = l.id and b.status in ('pending', 'confirmed', 'in_progress', 'completed')
        and (b.starts_at at time zone b.time_zone)::date = (create_booking.starts_at at time zone b.time_zone)::date
     ) >= l.max_bookings_per_day then
    raise check_violation using message = 'this listing is fully booked that day';
  end if;
  if address_id is not null then
    select * into addr from public.user_addresses a where a.id = address_id and a.user_id = me;
    if addr.id is null then
      raise no_data_found using message = format('address %s not found', address_id);
    end if;
  end if;

  select * into t from public.tenants where id = l.tenant_id;
  base := case l.pricing_type
            when 'hourly' then round(l.hourly_rate_cents * minutes / 60.0)
            else coalesce(l.base_price_cents, 0) end;
  fee := round(base * t.service_fee_bps / 10000.0);
  tax := round((base + fee) * coalesce((select r.tax_rate_bps from public.regions r where r.id = t.region_id), 0) / 10000.0);

  begin
    insert into public.bookings (
      listing_id, provider_id, customer_id, tenant_id, starts_at, ends_at, time_zone,
      service_title, service_description, special_requests, currency,
      base_price_cents, service_fee_cents, tax_cents, discount_cents, total_cents, platform_fee_cents,
      location_type, service_address, service_location)
    values (
      l.id, l.provider_id, me, l.tenant_id, create_booking.starts_at, ends,
      coalesce((select pa.time_zone from public.provider_availability pa where pa.provider_id = l.provider_id limit 1),
               (select u.time_zone from public.users u where u.id = l.provider_id)),
      l.title, left(l.description, 2000), create_booking.special_requests, l.currency,
      base, fee, tax, 0, base + fee + tax, round(base * t.platform_fee_bps / 10000.0),
      l.location_type,
      case when addr.id is not null then jsonb_build_object('line1', addr.line1, 'line2', addr.line2, 'city', addr.city,
             'state_province', addr.state_province, 'postal_code', addr.postal_code, 'country_code', addr.country_code) end,
      coalesce(addr.location, case when l.location_type <> 'remote' then l.location end))
    returning * into result;
  exception when exclusion_violation then
    raise exclusion_violation using
      message = 'the provider is already booked at that time',
      detail = format('another booking of this provider overlaps %s – %s', create_booking.starts_at, ends),
      hint = 'Pick another time.';
  end;
  return result;
end $$;
comment on function public.create_booking(uuid, timestamptz, integer, text, uuid) is 'Books an active listing for the caller: checks notice, horizon, schedule and capacity, prices it (hourly or fixed + tenant fees + regional tax) and holds the slot.';

create function public.transition_booking(booking_id uuid, new_status public.booking_status, reason text default null)
returns public.bookings
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.current_user_id();
  b public.bookings;
  allowed boolean;
begin
  select * into b from public.bookings x where x.id = transition_booking.booking_id for update;
  if b.id is null or me is null or not (b.customer_id = me or b.provider_id = me
                          or (app.has_permission('bookings.manage') and b.tenant_id = app.current_tenant_id())) then
    raise no_data_found using message = format('booking %s not found', transition_booking.booking_id);
  end if;
  allowed := case
    when new_status = 'refunded' then app.has_permission('payments.refund')
    when app.has_permission('bookings.manage') and b.tenant_id = app.current_tenant_id() then true
    when me = b.provider_id then new_status in ('confirmed', 'in_progress', 'completed', 'cancelled', 'disputed')
    when me = b.customer_id then new_status in ('cancelled', 'disputed')
    else false end;
  if not allowed then
    raise insufficient_privilege using
      message = format('you cannot mark this booking %s', new_status);
  end if;
  -- Not a move at all: the trigger would let it through and the parties be notified again.
  if b.status = new_status then
    raise check_violation using message = format('a booking cannot move from %s to %s', b.status, new_status);
  end if;
  perform set_config('loconomy.reason', coalesce(reason, ''), true);
  update public.bookings x
     set status = new_status,
         cancellation_reason = case when new_status = 'cancelled' then reason else x.cancellation_reason end,
         cancelled_by = case when new_status = 'cancelled' then me else x.cancelled_by end
   where x.id = b.id
  returning * into b;
  return b;
end $$;
comment on function public.transition_booking(uuid, public.booking_status, text) is 'Moves a booking along its state machine. Providers confirm/start/complete/cancel, customers cancel/dispute, refunds need payments.refund.';

revoke execute on function public.create_booking(uuid, timestamptz, integer, text, uuid),
  public.transition_booking(uuid, public.booking_status, text) from public;
grant execute on function public.create_booking(uuid, timestamptz, integer, text, uuid),
  public.transition_booking(uuid, public.booking_status, text) to authenticated, service_role;

grant all on public.provider_availability, public.availability_overrides, public.bookings, public.booking_status_history to service_role;
