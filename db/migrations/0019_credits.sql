-- =============================================================================
-- 0019 credits: the credit balance ledger. Customers earn credit (referral
-- rewards, operator adjustments) and spend it on bookings; a cancelled
-- booking gives its credit back; unused credit expires.
--
-- The ledger is append-only: a balance is the sum of rows, never a column that
-- is updated. Rows come in lots: a positive row without credit_id is a grant
-- (a lot, with its own expiry); every later movement of that credit (spent on a
-- booking, returned by a cancellation, expired) is a row pointing at its lot
-- through credit_id. So "how much of this lot is left" is the lot plus its
-- movements, credit is spent soonest-expiring first, and expiry takes exactly
-- what is left of a lot.
--
-- Only trusted code writes: clients read their own rows; the functions below
-- (SECURITY DEFINER, called by workflows) write, each under a per-user
-- transaction lock, with unique keys so each source credits or debits exactly
-- once however often it is replayed.
-- =============================================================================

create type public.credit_reason as enum ('referral_reward', 'booking_spend', 'booking_return', 'expiry', 'adjustment');
comment on type public.credit_reason is 'Why a credit_ledger row exists: referral_reward (a grant), booking_spend (credit applied to a booking), booking_return (given back when it was cancelled), expiry (unused credit lapsed), adjustment (an operator''s grant or debit).';

create table public.credit_ledger (
  id                  uuid primary key default gen_random_uuid(),
  tenant_id           uuid not null references public.tenants (id) on delete cascade,
  user_id             uuid not null references public.users (id) on delete cascade,
  currency            public.currency_code not null,
  amount_cents        bigint not null check (amount_cents <> 0),
  reason              public.credit_reason not null,
  credit_id           uuid references public.credit_ledger (id) on delete cascade,
  referral_reward_id  uuid references public.referral_rewards (id) on delete cascade,
  booking_id          uuid references public.bookings (id) on delete cascade deferrable initially deferred,
  expires_at          timestamptz,
  note                text check (length(note) <= 500),
  idempotency_key     text check (length(idempotency_key) between 1 and 200),
  created_by          uuid references public.users (id) on delete set null,
  created_at          timestamptz not null default now(),
  -- A grant opens a lot; every other row moves credit of one lot.
  check ((credit_id is null) = (amount_cents > 0 and reason in ('referral_reward', 'adjustment'))),
  check (expires_at is null or credit_id is null),
  check (credit_id is null or credit_id <> id),
  check ((reason = 'referral_reward') = (referral_reward_id is not null)),
  check (reason not in ('booking_spend', 'booking_return') or booking_id is not null),
  check (reason not in ('booking_spend', 'expiry') or amount_cents < 0),
  check (reason <> 'booking_return' or amount_cents > 0)
);
comment on table public.credit_ledger is 'Append-only credit balance ledger in minor units. A positive row without credit_id is a grant (a lot with its own expiry); spends, returns and expiries point at their lot. Balance: app.credit_balance() / my_credit_balance(). Written only by trusted functions.';
comment on column public.credit_ledger.amount_cents is 'Signed amount in the currency''s minor unit: positive adds credit, negative takes it away.';
comment on column public.credit_ledger.credit_id is 'The grant (lot) this row spends, returns to or expires; NULL on a grant itself.';
comment on column public.credit_ledger.referral_reward_id is 'For referral_reward grants: the reward credited (each reward is credited once).';
comment on column public.credit_ledger.booking_id is 'For booking_spend and booking_return: the booking (each booking spends once and is returned once). Checked at commit, so a workflow may spend before inserting the booking.';
comment on column public.credit_ledger.expires_at is 'For grants: when what is left of the lot expires (NULL: never).';
comment on column public.credit_ledger.idempotency_key is 'For adjustments: a caller-chosen key; the same key for one user grants or debits once.';
comment on column public.credit_ledger.created_by is 'The operator who made an adjustment; NULL for rows written by workflows.';

create index credit_ledger_user_currency_idx on public.credit_ledger (user_id, currency, created_at);
create index credit_ledger_credit_id_idx on public.credit_ledger (credit_id);
create index credit_ledger_booking_id_idx on public.credit_ledger (booking_id);
create index credit_ledger_tenant_created_idx on public.credit_ledger (tenant_id, created_at desc);
create index credit_ledger_created_by_idx on public.credit_ledger (created_by);
-- What can still expire: grants with a date (the expiry job scans these).
create index credit_ledger_expiring_idx on public.credit_ledger (expires_at) where expires_at is not null;
-- Exactly once per source.
create unique index credit_ledger_referral_reward_key on public.credit_ledger (referral_reward_id);
create unique index credit_ledger_booking_spend_key on public.credit_ledger (booking_id, credit_id)
  where reason = 'booking_spend';
create unique index credit_ledger_booking_return_key on public.credit_ledger (booking_id, credit_id)
  where reason = 'booking_return';
create unique index credit_ledger_idempotency_key on public.credit_ledger (user_id, idempotency_key)
  where idempotency_key is not null;

create trigger credit_ledger_inherit_tenant before insert on public.credit_ledger
  for each row execute function app.inherit_tenant('users', 'user_id');

create function app.credit_ledger_append_only() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
  raise sqlstate 'PT405' using
    message = 'credit_ledger rows are never changed',
    hint = 'Write a correcting row instead (an adjustment).';
end $$;
revoke execute on function app.credit_ledger_append_only() from public;

create trigger credit_ledger_append_only before update on public.credit_ledger
  for each row execute function app.credit_ledger_append_only();

alter table public.credit_ledger enable row level security;
grant select on public.credit_ledger to authenticated, service_role;
create policy "Users can read their own credit rows" on public.credit_ledger
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Payment staff can read credit rows of their tenant" on public.credit_ledger
  for select to authenticated
  using ((select app.has_permission('payments.read')) and tenant_id = (select app.current_tenant_id()));

-- -----------------------------------------------------------------------------
-- Internals. Every write takes the user's transaction-scoped advisory lock
-- first (namespace 19 = this migration), so concurrent spends, returns and
-- expiries of one user's credit run one after another and never overdraw a lot.
-- -----------------------------------------------------------------------------
create function app.lock_credit(user_id uuid) returns void
language sql volatile
set search_path = pg_catalog
as $$
  select pg_advisory_xact_lock(19, hashtext(user_id::text))
$$;
comment on function app.lock_credit(uuid) is 'Serialises credit ledger writes of one user until the transaction ends.';
revoke execute on function app.lock_credit(uuid) from public;

create function app.credit_lots(user_id uuid, currency text)
returns table (id uuid, expires_at timestamptz, created_at timestamptz, remaining_cents bigint)
language sql stable
set search_path = pg_catalog, public
as $$
  select g.id, g.expires_at, g.created_at, (g.amount_cents + coalesce(sum(m.amount_cents), 0))::bigint
    from public.credit_ledger g
    left join public.credit_ledger m on m.credit_id = g.id
   where g.user_id = credit_lots.user_id and g.currency = credit_lots.currency and g.credit_id is null
   group by g.id
$$;
comment on function app.credit_lots(uuid, text) is 'A user''s grants in one currency with what is left of each (expired ones included).';
revoke execute on function app.credit_lots(uuid, text) from public;

create function app.credit_balance(user_id uuid, currency text) returns bigint
language sql stable
set search_path = pg_catalog, public
as $$
  select coalesce(sum(remaining_cents), 0)::bigint
    from app.credit_lots(user_id, currency)
   where expires_at is null or expires_at > now()
$$;
comment on function app.credit_balance(uuid, text) is 'Usable credit of a user in one currency, in minor units: what is left of unexpired grants.';
revoke execute on function app.credit_balance(uuid, text) from public;
grant execute on function app.credit_balance(uuid, text) to service_role;

create function app.grant_credit(
  user_id uuid,
  currency text,
  amount_cents bigint,
  reason public.credit_reason default 'adjustment',
  expires_at timestamptz default null,
  referral_reward_id uuid default null,
  note text default null,
  idempotency_key text default null
) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  result uuid;
begin
  if amount_cents is null or amount_cents <= 0 then
    raise invalid_parameter_value using
      message = format('a credit grant must be a positive amount, not %s', coalesce(amount_cents::text, 'null')),
      hint = 'Give amount_cents in minor units, greater than 0.';
  end if;
  perform app.lock_credit(user_id);
  select l.id into result from public.credit_ledger l
   where (grant_credit.referral_reward_id is not null and l.reason = 'referral_reward'
          and l.referral_reward_id = grant_credit.referral_reward_id)
      or (grant_credit.idempotency_key is not null and l.user_id = grant_credit.user_id
          and l.idempotency_key = grant_credit.idempotency_key);
  if result is not null then
    return result;
  end if;
  insert into public.credit_ledger (user_id, currency, amount_cents, reason, expires_at, referral_reward_id, note,
                                    idempotency_key, created_by)
  values (user_id, upper(currency), amount_cents, reason, expires_at, referral_reward_id, note, idempotency_key,
          case when reason = 'adjustment' then app.current_user_id() end)
  returning id into result;
  return result;
end $$;
comment on function app.grant_credit(uuid, text, bigint, public.credit_reason, timestamptz, uuid, text, text) is 'Grants credit (a new lot). Idempotent: a referral reward, or an idempotency key of the user, grants once; a replay returns the first row''s id.';
revoke execute on function app.grant_credit(uuid, text, bigint, public.credit_reason, timestamptz, uuid, text, text) from public;
grant execute on function app.grant_credit(uuid, text, bigint, public.credit_reason, timestamptz, uuid, text, text) to service_role;

create function app.spend_credit(user_id uuid, booking_id uuid, currency text, max_cents bigint) returns bigint
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  lot record;
  spent bigint;
  spender uuid;
  left_cents bigint := max_cents;
  take bigint;
begin
  if max_cents is null or max_cents < 0 then
    raise invalid_parameter_value using
      message = format('max_cents must be 0 or more, not %s', coalesce(max_cents::text, 'null')),
      hint = 'Pass the most credit the booking may use, in minor units.';
  end if;
  perform app.lock_credit(user_id);
  select -sum(l.amount_cents), min(l.user_id::text)::uuid into spent, spender
    from public.credit_ledger l
   where l.booking_id = spend_credit.booking_id and l.reason = 'booking_spend';
  if spender is not null then
    if spender <> user_id then
      raise invalid_parameter_value using
        message = format('booking %s already spent another user''s credit', booking_id);
    end if;
    return spent;  -- a booking spends once: a replay answers what was applied
  end if;
  for lot in
    select c.id, c.remaining_cents from app.credit_lots(user_id, upper(currency)) c
     where c.remaining_cents > 0 and (c.expires_at is null or c.expires_at > now())
     order by c.expires_at nulls last, c.created_at, c.id
  loop
    exit when left_cents = 0;
    take := least(left_cents, lot.remaining_cents);
    insert into public.credit_ledger (user_id, currency, amount_cents, reason, credit_id, booking_id)
    values (user_id, upper(currency), -take, 'booking_spend', lot.id, booking_id);
    left_cents := left_cents - take;
  end loop;
  return max_cents - left_cents;
end $$;
comment on function app.spend_credit(uuid, uuid, text, bigint) is 'Applies up to max_cents of the user''s unexpired credit in this currency to a booking (soonest-expiring first) and returns the amount applied. Idempotent per booking: a second call writes nothing and returns the first amount.';
revoke execute on function app.spend_credit(uuid, uuid, text, bigint) from public;
grant execute on function app.spend_credit(uuid, uuid, text, bigint) to service_role;

create function app.return_credit(booking_id uuid) returns bigint
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  spender uuid;
  returned bigint;
begin
  select l.user_id into spender from public.credit_ledger l
   where l.booking_id = return_credit.booking_id and l.reason = 'booking_spend' limit 1;
  if spender is null then
    return 0;  -- the booking used no credit
  end if;
  perform app.lock_credit(spender);
  select sum(l.amount_cents) into returned from public.credit_ledger l
   where l.booking_id = return_credit.booking_id and l.reason = 'booking_return';
  if returned is not null then
    return returned;  -- already given back: a replay writes nothing
  end if;
  -- Each spent slice goes back to its own lot and keeps that lot's expiry.
  insert into public.credit_ledger (user_id, currency, amount_cents, reason, credit_id, booking_id)
  select l.user_id, l.currency, -l.amount_cents, 'booking_return', l.credit_id, l.booking_id
    from public.credit_ledger l
   where l.booking_id = return_credit.booking_id and l.reason = 'booking_spend';
  select sum(l.amount_cents) into returned from public.credit_ledger l
   where l.booking_id = return_credit.booking_id and l.reason = 'booking_return';
  return returned;
end $$;
comment on function app.return_credit(uuid) is 'Gives back the credit a booking spent (to the lots it came from, which keep their expiry) and returns that amount; 0 when it spent none. Idempotent: a replay writes nothing and returns the same amount.';
revoke execute on function app.return_credit(uuid) from public;
grant execute on function app.return_credit(uuid) to service_role;

create function app.expire_credit() returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  lot record;
  left_cents bigint;
  written integer := 0;
begin
  for lot in
    select g.id, g.user_id, g.currency from public.credit_ledger g
     where g.expires_at is not null and g.expires_at <= now()
       and g.amount_cents + coalesce((select sum(m.amount_cents) from public.credit_ledger m where m.credit_id = g.id), 0) > 0
     order by g.expires_at, g.id
  loop
    perform app.lock_credit(lot.user_id);
    -- Re-read under the lock: a concurrent run may have expired it already.
    select g.amount_cents + coalesce((select sum(m.amount_cents) from public.credit_ledger m where m.credit_id = g.id), 0)
      into left_cents from public.credit_ledger g where g.id = lot.id;
    if left_cents > 0 then
      insert into public.credit_ledger (user_id, currency, amount_cents, reason, credit_id)
      values (lot.user_id, lot.currency, -left_cents, 'expiry', lot.id);
      written := written + 1;
    end if;
  end loop;
  return written;
end $$;
comment on function app.expire_credit() is 'Writes an expiry row for what is left of each grant past its expires_at; returns how many. Idempotent (a second run finds nothing left).';
revoke execute on function app.expire_credit() from public;
grant execute on function app.expire_credit() to service_role;

-- -----------------------------------------------------------------------------
-- Client call: the caller's balances.
-- -----------------------------------------------------------------------------
create function public.my_credit_balance()
returns table (currency text, balance_cents bigint, next_expires_at timestamptz, expiring_cents bigint)
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
begin
  return query
  with currencies as (
    select distinct l.currency::text as currency from public.credit_ledger l where l.user_id = me
  ), lots as (
    select c.currency, x.expires_at, x.remaining_cents
      from currencies c, app.credit_lots(me, c.currency) x
     where x.remaining_cents > 0 and (x.expires_at is null or x.expires_at > now())
  ), soonest as (
    select lots.currency, min(lots.expires_at) as expires_at from lots group by lots.currency
  )
  select c.currency,
         coalesce((select sum(l.remaining_cents) from lots l where l.currency = c.currency), 0)::bigint,
         s.expires_at,
         (select sum(l.remaining_cents) from lots l where l.currency = c.currency and l.expires_at = s.expires_at)::bigint
    from currencies c
    left join soonest s on s.currency = c.currency
   order by c.currency;
end $$;
comment on function public.my_credit_balance() is 'The caller''s credit, one row per currency they ever had credit in: balance_cents (usable now, in minor units), next_expires_at (when the soonest credit lapses, NULL if none will) and expiring_cents (how much lapses then).';
revoke execute on function public.my_credit_balance() from public;
grant execute on function public.my_credit_balance() to authenticated, service_role;
