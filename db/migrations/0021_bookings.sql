-- =============================================================================
-- 0021 bookings: the booking lifecycle as workflow functions.
--
-- * create_booking() with an idempotency key, serialised per provider by a
--   transaction-scoped advisory lock taken before the checks, so of many
--   concurrent requests for overlapping times exactly one wins and the others
--   get "slot taken" (PT409 → HTTP 409), never a deadlock or a timeout.
-- * Instant-book listings confirm at once; other requests wait for the provider
--   and expire unanswered (expire_pending_bookings(), called by the scheduler).
-- * One function per user action (confirm, decline, start, complete, cancel,
--   no-show, dispute, reschedule), each checking who may act and when.
-- * Cancellation policies (flexible, moderate, strict) per listing, a schedule of
--   refund percentages by hours before the start; a cancellation records the
--   refund on the booking and in the transactions ledger.
-- Rules and their reasons: docs/decisions/0012-booking-lifecycle.md.
--
-- New enum values cannot be used in the transaction that adds them, so nothing
-- below compares a status with 'declined', 'expired' or 'no_show' as an enum
-- literal outside PL/pgSQL bodies (those are planned at their first call).
-- =============================================================================

alter type public.booking_status add value if not exists 'declined';
alter type public.booking_status add value if not exists 'expired';
alter type public.booking_status add value if not exists 'no_show';

-- -----------------------------------------------------------------------------
-- Cancellation policies: a listing chooses one; each is a schedule of refund
-- percentages by hours before the start.
-- -----------------------------------------------------------------------------
create type public.cancellation_policy_kind as enum ('flexible', 'moderate', 'strict');

create table public.cancellation_policy_tiers (
  policy            public.cancellation_policy_kind not null,
  min_hours_before  integer not null check (min_hours_before >= 0),
  refund_percent    integer not null check (refund_percent between 0 and 100),
  primary key (policy, min_hours_before)
);
comment on table public.cancellation_policy_tiers is 'Refund schedule of each cancellation policy: a customer who cancels at least min_hours_before hours before the start gets refund_percent of what they paid (the tier with the largest min_hours_before that applies). Every policy has a 0-hour tier.';
comment on column public.cancellation_policy_tiers.min_hours_before is 'Hours between the cancellation and the booking''s start, at least; a start already passed counts as 0.';

insert into public.cancellation_policy_tiers (policy, min_hours_before, refund_percent) values
  ('flexible', 24, 100), ('flexible', 0, 50),
  ('moderate', 120, 100), ('moderate', 24, 50), ('moderate', 0, 0),
  ('strict', 168, 50), ('strict', 0, 0);

alter table public.cancellation_policy_tiers enable row level security;
grant select on public.cancellation_policy_tiers to anon, authenticated;
grant all on public.cancellation_policy_tiers to service_role;
create policy "Anyone can read the cancellation policies" on public.cancellation_policy_tiers
  for select to anon, authenticated using (true);

create function app.refund_percent(policy public.cancellation_policy_kind, hours_before numeric)
returns integer
language sql stable
set search_path = pg_catalog, public
as $$
  select coalesce((
    select t.refund_percent from public.cancellation_policy_tiers t
     where t.policy = refund_percent.policy and t.min_hours_before <= greatest(refund_percent.hours_before, 0)
     order by t.min_hours_before desc
     limit 1), 0)
$$;
comment on function app.refund_percent(public.cancellation_policy_kind, numeric) is 'Refund percentage of a policy for a customer cancellation this many hours before the start.';
revoke execute on function app.refund_percent(public.cancellation_policy_kind, numeric) from public;

-- -----------------------------------------------------------------------------
-- Listings: instant booking and the cancellation policy.
-- -----------------------------------------------------------------------------
alter table public.listings
  add column instant_book boolean not null default false,
  add column cancellation_policy_kind public.cancellation_policy_kind not null default 'moderate';
comment on column public.listings.instant_book is 'True: create_booking() confirms at once. False: the provider confirms or declines each request.';
comment on column public.listings.cancellation_policy_kind is 'Refund schedule for customer cancellations (cancellation_policy_tiers). Copied onto each booking when it is made.';
comment on column public.listings.cancellation_policy is 'Free text shown to customers beside the policy; refunds follow cancellation_policy_kind.';
comment on column public.listings.cancellation_window_hours is 'Informational; refunds follow cancellation_policy_kind (cancellation_policy_tiers).';
grant insert (instant_book, cancellation_policy_kind), update (instant_book, cancellation_policy_kind)
  on public.listings to authenticated;

-- -----------------------------------------------------------------------------
-- Bookings: the agreed policy, the request's deadline, the refund and the
-- price breakdown.
-- -----------------------------------------------------------------------------
alter table public.bookings
  add column cancellation_policy public.cancellation_policy_kind not null default 'moderate',
  add column expires_at timestamptz,
  add column refund_cents public.cents,
  add column price_breakdown jsonb not null default '{}';
comment on column public.bookings.cancellation_policy is 'The listing''s policy when the booking was made; it decides the refund if the customer cancels.';
comment on column public.bookings.expires_at is 'A pending request not confirmed by then expires (expire_pending_bookings()): 24 hours after the request, or its start if sooner.';
comment on column public.bookings.refund_cents is 'What a cancellation refunds to the customer (set when the booking is cancelled).';
comment on column public.bookings.price_breakdown is 'How create_booking() priced the booking: minutes, rate, fees with their basis points, tax, credit, total, provider payout.';

create index bookings_pending_expiry_idx on public.bookings (expires_at) where status = 'pending' and expires_at is not null;

-- Idempotency keys of create_booking(): a retried request returns its booking.
create table app.booking_idempotency_keys (
  customer_id      uuid not null references public.users (id) on delete cascade,
  idempotency_key  text not null,
  fingerprint      text not null,
  booking_id       uuid not null references public.bookings (id) on delete cascade,
  created_at       timestamptz not null default now(),
  primary key (customer_id, idempotency_key)
);
comment on table app.booking_idempotency_keys is 'create_booking() requests by idempotency key: a retry with the same key and arguments returns booking_id; other arguments are refused. Kept as long as the booking.';
comment on column app.booking_idempotency_keys.fingerprint is 'md5 of the request''s arguments (jsonb).';
create index booking_idempotency_keys_booking_id_idx on app.booking_idempotency_keys (booking_id);
alter table app.booking_idempotency_keys enable row level security;

-- -----------------------------------------------------------------------------
-- The state machine with its new moves (text comparisons: see the banner).
-- -----------------------------------------------------------------------------
create or replace function app.booking_transition_allowed(from_status public.booking_status, to_status public.booking_status)
returns boolean
language sql immutable parallel safe
set search_path = pg_catalog, public
as $$
  select (from_status::text, to_status::text) in (
    ('pending', 'confirmed'), ('pending', 'declined'), ('pending', 'cancelled'), ('pending', 'expired'),
    ('confirmed', 'in_progress'), ('confirmed', 'completed'), ('confirmed', 'cancelled'), ('confirmed', 'no_show'),
    ('in_progress', 'completed'), ('in_progress', 'cancelled'), ('in_progress', 'disputed'),
    ('completed', 'disputed'), ('completed', 'refunded'),
    ('no_show', 'disputed'),
    ('disputed', 'completed'), ('disputed', 'refunded'), ('disputed', 'cancelled'),
    ('cancelled', 'refunded'))
$$;
comment on function app.booking_transition_allowed(public.booking_status, public.booking_status) is 'True for a legal booking status move; declined, expired and refunded are final.';

create or replace function app.bookings_before_update() returns trigger
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
        hint = 'Allowed: pending→confirmed|declined|cancelled|expired, confirmed→in_progress|completed|cancelled|no_show, in_progress→completed|cancelled|disputed, completed→disputed|refunded, no_show→disputed, disputed→completed|refunded|cancelled, cancelled→refunded.';
    end if;
    case new.status::text
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

-- -----------------------------------------------------------------------------
-- Serialising a provider's calendar. Every workflow that puts a booking into a
-- provider's calendar (create, reschedule) takes this lock first, before its
-- checks: concurrent requests for one provider queue here instead of racing
-- into the exclusion constraint (where they deadlocked on the listing's
-- counter row or waited out the statement timeout). Released at commit.
-- Key space: (21, hashtext(provider id)); a hash collision only makes two
-- providers queue behind each other.
-- -----------------------------------------------------------------------------
create function app.lock_provider_calendar(provider uuid) returns void
language sql
set search_path = pg_catalog
as $$
  select pg_advisory_xact_lock(21, hashtext(provider::text))
$$;
comment on function app.lock_provider_calendar(uuid) is 'Transaction-scoped advisory lock on a provider''s calendar, taken before checking and writing its bookings.';
revoke execute on function app.lock_provider_calendar(uuid) from public;

-- Would listing_slots() offer this start if booking `moving` were not there?
-- (Rescheduling must not collide with the booking's own old time.) The booking
-- is moved out of the way inside a subtransaction that is then rolled back.
create function app.is_bookable_slot_without(listing_id uuid, starts timestamptz, minutes integer, moving uuid)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  ok boolean;
begin
  if moving is null then
    return app.is_bookable_slot(listing_id, starts, minutes);
  end if;
  begin
    update public.bookings x set starts_at = '1900-01-01 00:00Z', ends_at = '1900-01-01 00:01Z' where x.id = moving;
    ok := app.is_bookable_slot(listing_id, starts, minutes);
    raise sqlstate 'LCRB1';  -- roll the move back
  exception when sqlstate 'LCRB1' then
    null;
  end;
  return ok;
end $$;
comment on function app.is_bookable_slot_without(uuid, timestamptz, integer, uuid) is 'app.is_bookable_slot() as if booking `moving` did not exist (for reschedule_booking); changes nothing.';
revoke execute on function app.is_bookable_slot_without(uuid, timestamptz, integer, uuid) from public;

-- The checks a new time must pass (create and reschedule): notice, horizon,
-- overlap (with buffers), capacity, then that listing_slots() offers exactly
-- this start (schedule, overrides, slot step). `ignore` is the booking being
-- moved. Call with the provider's calendar locked.
create function app.check_booking_time(l public.listings, starts timestamptz, minutes integer, ignore uuid default null)
returns void
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  ends timestamptz := starts + make_interval(mins => minutes);
  tz text;
begin
  if starts < now() + make_interval(mins => l.min_notice_minutes) then
    raise check_violation using message = format('bookings need at least %s minutes'' notice', l.min_notice_minutes),
      hint = 'Pick a later start.';
  end if;
  if starts > now() + make_interval(days => l.advance_booking_days) then
    raise check_violation using message = format('bookings open at most %s days ahead', l.advance_booking_days),
      hint = 'Pick an earlier start.';
  end if;
  -- Another booking of the provider (each widened by its listing's buffers) in the way.
  if exists (select 1 from public.bookings b join public.listings bl on bl.id = b.listing_id
              where b.provider_id = l.provider_id and b.id is distinct from ignore
                and b.status in ('pending', 'confirmed', 'in_progress')
                and b.period && tstzrange(starts - make_interval(mins => l.buffer_before_minutes + bl.buffer_after_minutes),
                                          ends + make_interval(mins => l.buffer_after_minutes + bl.buffer_before_minutes), '[)')
                and tstzrange(b.starts_at - make_interval(mins => bl.buffer_before_minutes),
                              b.ends_at + make_interval(mins => bl.buffer_after_minutes))
                    && tstzrange(starts - make_interval(mins => l.buffer_before_minutes),
                                 ends + make_interval(mins => l.buffer_after_minutes))) then
    raise sqlstate 'PT409' using
      message = 'slot taken: the provider is already booked at that time',
      detail = format('another booking of this provider overlaps %s – %s', starts, ends),
      hint = 'Pick another time (listing_slots() lists the free ones).';
  end if;
  if l.max_bookings_per_day is not null then
    tz := app.provider_time_zone(l.provider_id);
    if (select count(*) from public.bookings b
         where b.listing_id = l.id and b.id is distinct from ignore
           and b.status in ('pending', 'confirmed', 'in_progress', 'completed')
           and (b.starts_at at time zone tz)::date = (starts at time zone tz)::date) >= l.max_bookings_per_day then
      raise check_violation using message = 'this listing is fully booked that day', hint = 'Pick another day.';
    end if;
  end if;
  -- create_booking accepts exactly the slots listing_slots() offers.
  if not app.is_bookable_slot_without(l.id, starts, minutes, ignore) then
    raise check_violation using
      message = 'the provider is not available at that time',
      detail = format('listing_slots() offers no %s-minute slot starting at %s', minutes, starts),
      hint = 'Pick one of the starts listing_slots() returns for this listing and duration.';
  end if;
end $$;
comment on function app.check_booking_time(public.listings, timestamptz, integer, uuid) is 'Raises unless [starts, starts + minutes) is bookable on the listing: notice, horizon, overlap with buffers (PT409 slot taken), daily capacity, then app.is_bookable_slot() (schedule, overrides, slot step).';
revoke execute on function app.check_booking_time(public.listings, timestamptz, integer, uuid) from public;

-- -----------------------------------------------------------------------------
-- Prices, in integer minor units.
-- -----------------------------------------------------------------------------
create function app.price_booking(l public.listings, minutes integer)
returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  t public.tenants;
  tax_bps integer;
  base bigint;
  fee bigint;
  tax bigint;
  commission bigint;
begin
  select * into t from public.tenants where id = l.tenant_id;
  -- Tax of the listing's city's market, else of the marketplace's.
  tax_bps := coalesce((select r.tax_rate_bps from public.cities c join public.regions r on r.id = c.region_id where c.id = l.city_id),
                      (select r.tax_rate_bps from public.regions r where r.id = t.region_id), 0);
  base := case l.pricing_type
            when 'hourly' then round(l.hourly_rate_cents * minutes / 60.0)
            else coalesce(l.base_price_cents, 0) end;
  fee := round(base * t.service_fee_bps / 10000.0);
  tax := round((base + fee) * tax_bps / 10000.0);
  commission := round(base * t.platform_fee_bps / 10000.0);
  return jsonb_build_object(
    'currency', l.currency,
    'pricing_type', l.pricing_type,
    'minutes', minutes,
    'unit_price_cents', case l.pricing_type when 'hourly' then l.hourly_rate_cents else l.base_price_cents end,
    'base_cents', base,
    'service_fee_bps', t.service_fee_bps,
    'service_fee_cents', fee,
    'tax_rate_bps', tax_bps,
    'tax_cents', tax,
    'discount_cents', 0,
    'credit_cents', 0,
    'total_cents', base + fee + tax,
    'platform_fee_bps', t.platform_fee_bps,
    'platform_fee_cents', commission,
    'provider_payout_cents', base - commission);
end $$;
comment on function app.price_booking(public.listings, integer) is 'Price breakdown of a booking of this many minutes: base (hourly rate × minutes / 60, or the fixed price), service fee, tax of the region, platform commission; each rounded half up to a minor unit.';
revoke execute on function app.price_booking(public.listings, integer) from public;

-- -----------------------------------------------------------------------------
-- create_booking
-- -----------------------------------------------------------------------------
drop function public.create_booking(uuid, timestamptz, integer, text, uuid);

create function public.create_booking(
  listing_id uuid,
  starts_at timestamptz,
  duration_minutes integer default null,
  special_requests text default null,
  address_id uuid default null,
  idempotency_key text default null,
  use_credit boolean default true)
returns public.bookings
language plpgsql security definer
set search_path = pg_catalog, public, extensions
as $$
declare
  me uuid := app.require_user();
  fingerprint text;
  prior app.booking_idempotency_keys;
  l public.listings;
  addr public.user_addresses;
  minutes integer;
  price jsonb;
  credit bigint := 0;
  result public.bookings;
begin
  if create_booking.idempotency_key is not null then
    if length(create_booking.idempotency_key) not between 1 and 255 then
      raise invalid_parameter_value using message = 'idempotency_key must be 1 to 255 characters',
        hint = 'Send a fresh UUID per booking attempt, and the same one when retrying it.';
    end if;
    fingerprint := md5(jsonb_build_object(
      'listing_id', create_booking.listing_id, 'starts_at', extract(epoch from create_booking.starts_at),
      'duration_minutes', create_booking.duration_minutes, 'special_requests', create_booking.special_requests,
      'address_id', create_booking.address_id, 'use_credit', create_booking.use_credit)::text);
    -- One request per key at a time; a retry waits for the first attempt and finds its booking.
    perform pg_advisory_xact_lock(22, hashtext(me::text || '/' || create_booking.idempotency_key));
    select * into prior from app.booking_idempotency_keys k
     where k.customer_id = me and k.idempotency_key = create_booking.idempotency_key;
    if prior.booking_id is not null then
      if prior.fingerprint <> fingerprint then
        raise sqlstate 'PT422' using
          message = 'this idempotency_key was already used for a different booking request',
          detail = format('booking %s was made with this key', prior.booking_id),
          hint = 'Send a new idempotency_key for a new request; reuse a key only to retry the very same request.';
      end if;
      select * into result from public.bookings b where b.id = prior.booking_id;
      return result;
    end if;
  end if;

  select * into l from public.listings x
  where x.id = create_booking.listing_id and x.status = 'active' and x.deleted_at is null
    and x.tenant_id = app.current_tenant_id();
  if l.id is null then
    raise sqlstate 'PT404' using message = format('listing %s is not available for booking', create_booking.listing_id),
      hint = 'Book an active listing of this marketplace (search_listings() finds them).';
  end if;
  if l.provider_id = me then
    raise check_violation using message = 'you cannot book your own listing';
  end if;
  minutes := coalesce(create_booking.duration_minutes, l.duration_minutes, l.minimum_duration_minutes);
  if minutes < l.minimum_duration_minutes or minutes > 1440 then
    raise check_violation using message = format('duration must be between %s and 1440 minutes', l.minimum_duration_minutes);
  end if;
  if create_booking.address_id is not null then
    select * into addr from public.user_addresses a where a.id = create_booking.address_id and a.user_id = me;
    if addr.id is null then
      raise sqlstate 'PT404' using message = format('address %s not found', create_booking.address_id),
        hint = 'Pass the id of one of your own addresses (user_addresses).';
    end if;
  end if;

  -- From here on, one request per provider at a time.
  perform app.lock_provider_calendar(l.provider_id);
  perform app.check_booking_time(l, create_booking.starts_at, minutes);

  price := app.price_booking(l, minutes);
  begin
    insert into public.bookings (
      listing_id, provider_id, customer_id, tenant_id, starts_at, ends_at, time_zone,
      service_title, service_description, special_requests, currency,
      base_price_cents, service_fee_cents, tax_cents, discount_cents, total_cents, platform_fee_cents,
      status, expires_at, cancellation_policy, price_breakdown,
      location_type, service_address, service_location)
    values (
      l.id, l.provider_id, me, l.tenant_id, create_booking.starts_at, create_booking.starts_at + make_interval(mins => minutes),
      coalesce((select pa.time_zone from public.provider_availability pa where pa.provider_id = l.provider_id limit 1),
               (select u.time_zone from public.users u where u.id = l.provider_id)),
      l.title, left(l.description, 2000), create_booking.special_requests, l.currency,
      (price ->> 'base_cents')::bigint, (price ->> 'service_fee_cents')::bigint, (price ->> 'tax_cents')::bigint, 0,
      (price ->> 'total_cents')::bigint, (price ->> 'platform_fee_cents')::bigint,
      case when l.instant_book then 'confirmed' else 'pending' end::public.booking_status,
      case when not l.instant_book then least(now() + interval '24 hours', create_booking.starts_at) end,
      l.cancellation_policy_kind, price,
      l.location_type,
      case when addr.id is not null then jsonb_build_object('line1', addr.line1, 'line2', addr.line2, 'city', addr.city,
             'state_province', addr.state_province, 'postal_code', addr.postal_code, 'country_code', addr.country_code) end,
      coalesce(addr.location, case when l.location_type <> 'remote' then l.location end))
    returning * into result;
  exception when exclusion_violation then
    -- Only a writer that skipped the calendar lock (a service_role insert) can get here.
    raise sqlstate 'PT409' using
      message = 'slot taken: the provider is already booked at that time',
      detail = format('another booking of this provider overlaps %s – %s', create_booking.starts_at,
                      create_booking.starts_at + make_interval(mins => minutes)),
      hint = 'Pick another time (listing_slots() lists the free ones).';
  end;

  -- Referral credit pays what it can of the total (the referrals workflow's ledger).
  if create_booking.use_credit then
    credit := coalesce(app.spend_credit(me, result.id, result.currency::text, result.total_cents), 0);
    if credit > 0 then
      update public.bookings b
         set discount_cents = b.discount_cents + credit,
             total_cents = b.total_cents - credit,
             price_breakdown = b.price_breakdown || jsonb_build_object(
               'credit_cents', credit, 'discount_cents', b.discount_cents + credit, 'total_cents', b.total_cents - credit)
       where b.id = result.id
      returning * into result;
    end if;
  end if;

  if create_booking.idempotency_key is not null then
    insert into app.booking_idempotency_keys (customer_id, idempotency_key, fingerprint, booking_id)
    values (me, create_booking.idempotency_key, fingerprint, result.id);
  end if;
  return result;
end $$;
comment on function public.create_booking(uuid, timestamptz, integer, text, uuid, text, boolean) is
'Books an active listing for the caller. Checks notice, horizon, the provider''s schedule, daily capacity and overlaps with the provider''s calendar locked (a taken slot answers 409), prices it in minor units (hourly × duration or fixed, service fee, regional tax, referral credit when use_credit) and returns the booking with price_breakdown. Instant-book listings confirm at once; other requests wait for the provider (expires_at). A retry with the same idempotency_key returns the same booking; the key with other arguments answers 422.';

-- -----------------------------------------------------------------------------
-- Transitions: one internal mover, one public function per action.
-- -----------------------------------------------------------------------------

-- The booking, locked, when the caller may see it: a party or a booking manager
-- of its marketplace. Anyone else learns nothing (PT404), not even that it exists.
create function app.booking_for_caller(booking_id uuid, me uuid) returns public.bookings
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  b public.bookings;
begin
  select * into b from public.bookings x where x.id = booking_for_caller.booking_id for update;
  if b.id is null or not (me in (b.customer_id, b.provider_id)
                          or (app.has_permission('bookings.manage') and b.tenant_id = app.current_tenant_id())) then
    raise sqlstate 'PT404' using message = format('booking %s not found', booking_for_caller.booking_id),
      hint = 'Only the booking''s customer, its provider and the marketplace''s booking managers can see it.';
  end if;
  return b;
end $$;
comment on function app.booking_for_caller(uuid, uuid) is 'The booking locked FOR UPDATE if `me` is a party or a booking manager of its tenant; PT404 otherwise.';
revoke execute on function app.booking_for_caller(uuid, uuid) from public;
create function app.act_on_booking(booking_id uuid, action text, reason text default null)
returns public.bookings
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  b public.bookings;
  manager boolean;
  target text;
  done text;
  parties text[];
  sources text[];
  permitted boolean;
  pct integer;
  refund bigint;
  hours numeric;
begin
  b := app.booking_for_caller(act_on_booking.booking_id, me);
  manager := app.has_permission('bookings.manage') and b.tenant_id = app.current_tenant_id();

  -- Who may act, from which statuses.
  case action
    when 'confirm' then target := 'confirmed'; done := 'confirm'; parties := '{provider}'; sources := '{pending}';
    when 'decline' then target := 'declined'; done := 'decline'; parties := '{provider}'; sources := '{pending}';
    when 'start' then target := 'in_progress'; done := 'start'; parties := '{provider}'; sources := '{confirmed}';
    when 'complete' then target := 'completed'; done := 'complete'; parties := '{provider}'; sources := '{confirmed,in_progress}';
    when 'cancel' then target := 'cancelled'; done := 'cancel'; parties := '{customer,provider}'; sources := '{pending,confirmed,in_progress}';
    when 'no_show' then target := 'no_show'; done := 'mark as a no-show'; parties := '{provider}'; sources := '{confirmed}';
    when 'dispute' then target := 'disputed'; done := 'dispute'; parties := '{customer}'; sources := '{in_progress,completed,no_show}';
    when 'refund' then target := 'refunded'; done := 'refund'; parties := '{}'; sources := '{completed,disputed,cancelled}';
    else raise invalid_parameter_value using message = format('unknown booking action %s', action);
  end case;
  -- Booking managers settle disputes: complete or cancel a disputed booking.
  if manager and action in ('complete', 'cancel') then
    sources := sources || '{disputed}';
  end if;
  permitted := case
    when action = 'refund' then app.has_permission('payments.refund') and b.tenant_id = app.current_tenant_id()
    else (b.customer_id = me and 'customer' = any(parties)) or (b.provider_id = me and 'provider' = any(parties)) or manager end;
  if not permitted then
    raise insufficient_privilege using
      message = format('you cannot %s this booking', done),
      hint = case action
        when 'refund' then 'Refunds need the payments.refund permission.'
        when 'dispute' then 'Only the customer can dispute a booking.'
        when 'cancel' then 'Only the booking''s customer or provider can cancel it.'
        else format('Only the provider can %s a booking.', done) end;
  end if;
  if not (b.status::text = any(sources)) then
    raise sqlstate 'PT409' using
      message = format('a booking cannot move from %s to %s', b.status, target),
      hint = format('A booking can %s only when it is %s.', done, array_to_string(sources, ' or '));
  end if;

  -- When.
  if action = 'confirm' and (now() >= b.starts_at or now() >= b.expires_at) then
    raise sqlstate 'PT409' using message = format('this request expired at %s', least(b.starts_at, b.expires_at)),
      hint = 'Unanswered requests expire 24 hours after they are made, or at their start if sooner.';
  end if;
  if action = 'start' and now() < b.starts_at - interval '30 minutes' then
    raise sqlstate 'PT409' using message = format('a booking cannot start more than 30 minutes before its start (%s)', b.starts_at),
      hint = 'Start it at most 30 minutes early.';
  end if;
  if action in ('complete', 'no_show') and b.status::text in ('confirmed', 'in_progress') and now() < b.starts_at then
    raise sqlstate 'PT409' using
      message = format('a booking cannot be %s before it starts (%s)',
                       case action when 'complete' then 'completed' else 'marked a no-show' end, b.starts_at),
      hint = 'Wait until its start time.';
  end if;
  if action = 'dispute' and not manager and b.status::text in ('completed', 'no_show')
     and now() > coalesce(b.completed_at, b.ends_at) + interval '72 hours' then
    raise sqlstate 'PT409' using
      message = format('the dispute window closed at %s', coalesce(b.completed_at, b.ends_at) + interval '72 hours'),
      hint = 'A booking can be disputed up to 72 hours after it ended; contact support after that.';
  end if;

  perform set_config('loconomy.reason', coalesce(reason, ''), true);
  if target = 'cancelled' then
    -- A customer's cancellation of a confirmed booking follows its policy;
    -- the provider's, a manager's or an unconfirmed request's refunds it all.
    hours := extract(epoch from b.starts_at - now()) / 3600;
    pct := case when b.customer_id = me and b.status::text <> 'pending'
                then app.refund_percent(b.cancellation_policy, hours) else 100 end;
    refund := (b.total_cents * pct + 50) / 100;
    update public.bookings x
       set status = 'cancelled', cancellation_reason = reason, cancelled_by = me, refund_cents = refund
     where x.id = b.id
    returning * into b;
    -- Money was taken at confirmation: a confirmed booking's refund is a ledger row
    -- the payment integration settles.
    if refund > 0 and b.confirmed_at is not null then
      insert into public.transactions (user_id, tenant_id, booking_id, type, status, amount_cents, currency, description, metadata)
      values (b.customer_id, b.tenant_id, b.id, 'refund', 'pending', refund, b.currency,
              format('Refund of %s%% for cancelled booking %s', pct, b.confirmation_code),
              jsonb_build_object('policy', b.cancellation_policy, 'refund_percent', pct,
                                 'hours_before_start', round(hours, 2), 'cancelled_by', me));
    end if;
  else
    update public.bookings x set status = target::public.booking_status where x.id = b.id
    returning * into b;
  end if;
  -- Credit spent on a booking that will not happen goes back.
  if target in ('cancelled', 'declined') then
    perform app.return_credit(b.id);
  end if;
  return b;
end $$;
comment on function app.act_on_booking(uuid, text, text) is 'The booking workflows'' one mover: finds the booking (404 unless a party or a booking manager), checks who may take the action, from which status and when, moves it, and for cancellations records the refund.';
revoke execute on function app.act_on_booking(uuid, text, text) from public;

create function public.confirm_booking(booking_id uuid) returns public.bookings
language sql security definer
set search_path = pg_catalog, public
as $$ select * from app.act_on_booking(confirm_booking.booking_id, 'confirm') $$;
comment on function public.confirm_booking(uuid) is 'The provider accepts a pending request before it expires.';

create function public.decline_booking(booking_id uuid, reason text default null) returns public.bookings
language sql security definer
set search_path = pg_catalog, public
as $$ select * from app.act_on_booking(decline_booking.booking_id, 'decline', decline_booking.reason) $$;
comment on function public.decline_booking(uuid, text) is 'The provider turns down a pending request (the slot is freed; no charge).';

create function public.start_booking(booking_id uuid) returns public.bookings
language sql security definer
set search_path = pg_catalog, public
as $$ select * from app.act_on_booking(start_booking.booking_id, 'start') $$;
comment on function public.start_booking(uuid) is 'The provider starts a confirmed booking, at most 30 minutes before its start.';

create function public.complete_booking(booking_id uuid) returns public.bookings
language sql security definer
set search_path = pg_catalog, public
as $$ select * from app.act_on_booking(complete_booking.booking_id, 'complete') $$;
comment on function public.complete_booking(uuid) is 'The provider marks a confirmed or started booking done; not before its start.';

create function public.mark_booking_no_show(booking_id uuid, reason text default null) returns public.bookings
language sql security definer
set search_path = pg_catalog, public
as $$ select * from app.act_on_booking(mark_booking_no_show.booking_id, 'no_show', mark_booking_no_show.reason) $$;
comment on function public.mark_booking_no_show(uuid, text) is 'The provider records that the customer did not show up; not before the start. No refund; the customer may dispute it.';

create function public.cancel_booking(booking_id uuid, reason text) returns public.bookings
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if nullif(btrim(cancel_booking.reason), '') is null or length(cancel_booking.reason) > 1000 then
    raise invalid_parameter_value using message = 'a cancellation needs a reason of 1 to 1000 characters',
      hint = 'Say why, e.g. {"booking_id": "…", "reason": "Plans changed"}.';
  end if;
  return app.act_on_booking(cancel_booking.booking_id, 'cancel', cancel_booking.reason);
end $$;
comment on function public.cancel_booking(uuid, text) is 'The customer or the provider cancels a pending, confirmed or started booking, with a reason. A customer''s cancellation of a confirmed booking refunds per its cancellation policy (refund_cents, and a refund row in transactions); any other cancellation refunds everything.';

create function public.dispute_booking(booking_id uuid, reason text) returns public.bookings
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if nullif(btrim(dispute_booking.reason), '') is null or length(dispute_booking.reason) > 5000 then
    raise invalid_parameter_value using message = 'a dispute needs a reason of 1 to 5000 characters',
      hint = 'Describe what went wrong.';
  end if;
  return app.act_on_booking(dispute_booking.booking_id, 'dispute', dispute_booking.reason);
end $$;
comment on function public.dispute_booking(uuid, text) is 'The customer disputes a started, completed or no-show booking, up to 72 hours after it ended.';

-- transition_booking: the generic door of 0006, kept for existing callers. Each
-- status maps to the action above, with the same rules.
create or replace function public.transition_booking(booking_id uuid, new_status public.booking_status, reason text default null)
returns public.bookings
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  b public.bookings;
begin
  if new_status::text in ('expired', 'pending') then
    b := app.booking_for_caller(transition_booking.booking_id, app.require_user());
    if new_status::text = 'expired' then
      raise insufficient_privilege using message = 'you cannot mark this booking expired',
        hint = 'Requests expire on their own (expire_pending_bookings()).';
    end if;
    raise sqlstate 'PT409' using message = format('a booking cannot move from %s to pending', b.status);
  end if;
  return app.act_on_booking(transition_booking.booking_id,
    case new_status::text
      when 'confirmed' then 'confirm' when 'declined' then 'decline' when 'in_progress' then 'start'
      when 'completed' then 'complete' when 'cancelled' then 'cancel' when 'no_show' then 'no_show'
      when 'disputed' then 'dispute' when 'refunded' then 'refund' end,
    transition_booking.reason);
end $$;
comment on function public.transition_booking(uuid, public.booking_status, text) is 'Moves a booking to a status with the rules of the matching action (confirm_booking, decline_booking, start_booking, complete_booking, cancel_booking, mark_booking_no_show, dispute_booking); refunds need payments.refund.';

-- -----------------------------------------------------------------------------
-- Reschedule: the same checks as a new booking, atomically.
-- -----------------------------------------------------------------------------
create function public.reschedule_booking(booking_id uuid, starts_at timestamptz) returns public.bookings
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  provider uuid;
  b public.bookings;
  l public.listings;
  minutes integer;
begin
  select x.provider_id into provider from public.bookings x where x.id = reschedule_booking.booking_id;
  if provider is not null then
    perform app.lock_provider_calendar(provider);
  end if;
  b := app.booking_for_caller(reschedule_booking.booking_id, me);
  if b.status::text not in ('pending', 'confirmed') then
    raise sqlstate 'PT409' using message = format('a %s booking cannot be rescheduled', b.status),
      hint = 'Only pending and confirmed bookings move.';
  end if;
  if reschedule_booking.starts_at is null then
    raise invalid_parameter_value using message = 'starts_at is required';
  end if;
  if reschedule_booking.starts_at = b.starts_at then
    return b;
  end if;
  select * into l from public.listings x where x.id = b.listing_id and x.status = 'active' and x.deleted_at is null;
  if l.id is null then
    raise sqlstate 'PT409' using message = 'the listing is no longer bookable, so the booking cannot move',
      hint = 'Cancel the booking instead.';
  end if;
  minutes := (extract(epoch from b.ends_at - b.starts_at) / 60)::int;
  perform app.check_booking_time(l, reschedule_booking.starts_at, minutes, b.id);
  update public.bookings x
     set starts_at = reschedule_booking.starts_at,
         ends_at = reschedule_booking.starts_at + make_interval(mins => minutes),
         expires_at = case when x.status = 'pending' then least(x.expires_at, reschedule_booking.starts_at) end,
         metadata = x.metadata || jsonb_build_object('rescheduled_from', b.starts_at, 'rescheduled_by', me)
   where x.id = b.id
  returning * into b;
  return b;
end $$;
comment on function public.reschedule_booking(uuid, timestamptz) is 'Either party moves a pending or confirmed booking to a new start (same duration and price) with the checks of create_booking; all or nothing. A taken slot answers 409.';

-- -----------------------------------------------------------------------------
-- Expiry of unanswered requests (the scheduler calls this, e.g. every minute).
-- -----------------------------------------------------------------------------
create function public.expire_pending_bookings() returns integer
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  expired uuid;
  n integer := 0;
begin
  perform set_config('loconomy.reason', 'the provider did not answer in time', true);
  for expired in
    update public.bookings x set status = 'expired'
     where x.id in (select y.id from public.bookings y
                     where y.status = 'pending' and y.expires_at <= now()
                     for update skip locked)
    returning x.id
  loop
    n := n + 1;
    perform app.return_credit(expired);
  end loop;
  return n;
end $$;
comment on function public.expire_pending_bookings() is 'Expires pending requests whose expires_at has passed (freeing their slots, returning spent credit); returns how many. For the scheduler (service_role).';

-- -----------------------------------------------------------------------------
-- Grants
-- -----------------------------------------------------------------------------
revoke execute on function public.create_booking(uuid, timestamptz, integer, text, uuid, text, boolean),
  public.confirm_booking(uuid), public.decline_booking(uuid, text), public.start_booking(uuid),
  public.complete_booking(uuid), public.mark_booking_no_show(uuid, text), public.cancel_booking(uuid, text),
  public.dispute_booking(uuid, text), public.reschedule_booking(uuid, timestamptz),
  public.expire_pending_bookings() from public;
grant execute on function public.create_booking(uuid, timestamptz, integer, text, uuid, text, boolean),
  public.confirm_booking(uuid), public.decline_booking(uuid, text), public.start_booking(uuid),
  public.complete_booking(uuid), public.mark_booking_no_show(uuid, text), public.cancel_booking(uuid, text),
  public.dispute_booking(uuid, text), public.reschedule_booking(uuid, timestamptz)
  to anon, authenticated, service_role;  -- anon is told to sign in (app.require_user())
grant execute on function public.expire_pending_bookings() to service_role;
