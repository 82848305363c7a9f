-- =============================================================================
-- 0009 referrals: programs, users' codes, referrals (a user is referred at most
-- once) and the rewards both sides earn when the referee completes a booking.
-- =============================================================================

create type public.referral_status as enum ('pending', 'completed', 'cancelled');
create type public.reward_type as enum ('credit', 'cash', 'discount', 'bonus');
create type public.reward_status as enum ('pending', 'credited', 'expired', 'cancelled');

create table public.referral_programs (
  id                     uuid primary key default gen_random_uuid(),
  tenant_id              uuid references public.tenants (id) on delete cascade,
  name                   text not null check (length(name) between 1 and 200),
  description            text,
  reward_type            public.reward_type not null default 'credit',
  referrer_reward_cents  public.cents not null,
  referee_reward_cents   public.cents not null,
  currency               public.currency_code not null default 'USD',
  minimum_spend_cents    public.cents not null default 0,
  max_uses_per_code      integer check (max_uses_per_code > 0),
  code_validity_days     integer check (code_validity_days > 0),
  reward_validity_days   integer check (reward_validity_days > 0),
  is_active              boolean not null default true,
  starts_on              date,
  ends_on                date,
  terms_and_conditions   text,
  metadata               jsonb not null default '{}',
  created_at             timestamptz not null default now(),
  updated_at             timestamptz not null default now(),
  check (ends_on >= starts_on)
);
comment on table public.referral_programs is 'Referral campaigns. tenant_id NULL: offered in every tenant.';
comment on column public.referral_programs.minimum_spend_cents is 'The referee''s first completed booking must total at least this for the referral to complete.';

create index referral_programs_tenant_id_idx on public.referral_programs (tenant_id);

create trigger referral_programs_set_updated_at before update on public.referral_programs
  for each row execute function app.set_updated_at();

create table public.referral_codes (
  id          uuid primary key default gen_random_uuid(),
  user_id     uuid not null references public.users (id) on delete cascade,
  tenant_id   uuid not null references public.tenants (id) on delete cascade,
  program_id  uuid not null references public.referral_programs (id) on delete cascade,
  code        text not null check (code ~ '^[A-Z0-9]{4,20}$'),
  uses_count  integer not null default 0 check (uses_count >= 0),
  max_uses    integer check (max_uses > 0),
  is_active   boolean not null default true,
  expires_at  timestamptz,
  metadata    jsonb not null default '{}',
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  unique (user_id, program_id),
  check (max_uses is null or uses_count <= max_uses)
);
comment on table public.referral_codes is 'A user''s shareable code for a program. Generated when not given; uses_count is kept by trigger.';

create unique index referral_codes_code_key on public.referral_codes (upper(code));
create index referral_codes_program_id_idx on public.referral_codes (program_id);
create index referral_codes_tenant_id_idx on public.referral_codes (tenant_id);

create function app.referral_codes_before_insert() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.referral_programs;
begin
  select * into p from public.referral_programs where id = new.program_id;
  if not p.is_active or (p.tenant_id is not null and p.tenant_id <> new.tenant_id) then
    raise check_violation using message = 'the referral program is not open in this marketplace';
  end if;
  new.code := upper(new.code);
  if new.code is null then
    loop
      new.code := app.random_code(8);
      exit when not exists (select 1 from public.referral_codes c where upper(c.code) = new.code);
    end loop;
  end if;
  new.max_uses := coalesce(new.max_uses, p.max_uses_per_code);
  if new.expires_at is null and p.code_validity_days is not null then
    new.expires_at := now() + make_interval(days => p.code_validity_days);
  end if;
  new.uses_count := 0;
  return new;
end $$;
revoke execute on function app.referral_codes_before_insert() from public;

create trigger referral_codes_inherit_tenant before insert on public.referral_codes
  for each row execute function app.inherit_tenant('users', 'user_id');
-- Triggers on one event fire in name order: the program check needs the tenant
-- that referral_codes_inherit_tenant sets, so its name sorts after it.
create trigger referral_codes_prepare before insert on public.referral_codes
  for each row execute function app.referral_codes_before_insert();
create trigger referral_codes_set_updated_at before update on public.referral_codes
  for each row execute function app.set_updated_at();

create table public.referrals (
  id                uuid primary key default gen_random_uuid(),
  tenant_id         uuid not null references public.tenants (id) on delete cascade,
  referrer_id       uuid not null references public.users (id) on delete cascade,
  referee_id        uuid not null unique references public.users (id) on delete cascade,
  program_id        uuid not null references public.referral_programs (id) on delete cascade,
  code_id           uuid not null references public.referral_codes (id) on delete cascade,
  status            public.referral_status not null default 'pending',
  source            text check (length(source) <= 100),
  first_booking_id  uuid references public.bookings (id) on delete set null,
  completed_at      timestamptz,
  metadata          jsonb not null default '{}',
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  check (referrer_id <> referee_id),
  check (status <> 'completed' or completed_at is not null)
);
comment on table public.referrals is 'Who referred whom (each user at most once). Completes when the referee''s first booking completes.';

create index referrals_referrer_idx on public.referrals (referrer_id, created_at desc);
create index referrals_program_id_idx on public.referrals (program_id);
create index referrals_code_id_idx on public.referrals (code_id);
create index referrals_first_booking_id_idx on public.referrals (first_booking_id) where first_booking_id is not null;
create index referrals_tenant_status_idx on public.referrals (tenant_id, status);

create function app.referrals_before_insert() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  c public.referral_codes;
begin
  select * into c from public.referral_codes where id = new.code_id for update;
  if c.id is null or not c.is_active or (c.expires_at is not null and c.expires_at <= now())
     or (c.max_uses is not null and c.uses_count >= c.max_uses) then
    raise check_violation using message = 'the referral code is not valid';
  end if;
  if not exists (select 1 from public.referral_programs p where p.id = c.program_id and p.is_active
                   and current_date between coalesce(p.starts_on, current_date) and coalesce(p.ends_on, current_date)) then
    raise check_violation using message = 'the referral program is not open';
  end if;
  new.referrer_id := c.user_id;
  new.program_id := c.program_id;
  new.tenant_id := c.tenant_id;
  if not exists (select 1 from public.users u where u.id = new.referee_id and u.tenant_id = c.tenant_id) then
    raise check_violation using message = 'the referee does not belong to the code''s marketplace';
  end if;
  update public.referral_codes set uses_count = uses_count + 1 where id = c.id;
  return new;
end $$;
revoke execute on function app.referrals_before_insert() from public;

create table public.referral_rewards (
  id           uuid primary key default gen_random_uuid(),
  referral_id  uuid not null references public.referrals (id) on delete cascade,
  user_id      uuid not null references public.users (id) on delete cascade,
  tenant_id    uuid not null references public.tenants (id) on delete cascade,
  reward_type  public.reward_type not null,
  amount_cents public.cents not null,
  currency     public.currency_code not null,
  status       public.reward_status not null default 'pending',
  credited_at  timestamptz,
  expires_at   timestamptz,
  metadata     jsonb not null default '{}',
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  unique (referral_id, user_id),
  check (status <> 'credited' or credited_at is not null)
);
comment on table public.referral_rewards is 'Rewards owed to referrer and referee of a completed referral (created by trigger).';

create index referral_rewards_user_idx on public.referral_rewards (user_id, created_at desc);
create index referral_rewards_pending_idx on public.referral_rewards (expires_at) where status = 'pending';
create index referral_rewards_tenant_id_idx on public.referral_rewards (tenant_id);

create function app.referrals_after_update() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.referral_programs;
begin
  if new.status = 'completed' and old.status <> 'completed' then
    select * into p from public.referral_programs where id = new.program_id;
    insert into public.referral_rewards (referral_id, user_id, tenant_id, reward_type, amount_cents, currency, expires_at)
    select new.id, x.user_id, new.tenant_id, p.reward_type, x.amount, p.currency,
           now() + make_interval(days => p.reward_validity_days)
    from (values (new.referrer_id, p.referrer_reward_cents), (new.referee_id, p.referee_reward_cents)) x(user_id, amount)
    where x.amount > 0
    on conflict (referral_id, user_id) do nothing;
  elsif new.status = 'cancelled' and old.status <> 'cancelled' then
    update public.referral_rewards set status = 'cancelled' where referral_id = new.id and status = 'pending';
  end if;
  return null;
end $$;
revoke execute on function app.referrals_after_update() from public;

-- The referee's first completed booking that meets the program's minimum
-- spend completes a pending referral.
create function app.bookings_complete_referral() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  update public.referrals r
     set status = 'completed', completed_at = now(), first_booking_id = new.id
    from public.referral_programs p
   where r.referee_id = new.customer_id and r.status = 'pending'
     and p.id = r.program_id and new.total_cents >= p.minimum_spend_cents;
  return null;
end $$;
revoke execute on function app.bookings_complete_referral() from public;

create trigger referrals_before_insert before insert on public.referrals
  for each row execute function app.referrals_before_insert();
create trigger referrals_set_updated_at before update on public.referrals
  for each row execute function app.set_updated_at();
create trigger referrals_after_update after update of status on public.referrals
  for each row execute function app.referrals_after_update();
create trigger referral_rewards_set_updated_at before update on public.referral_rewards
  for each row execute function app.set_updated_at();
create trigger bookings_complete_referral after update of status on public.bookings
  for each row when (new.status = 'completed' and old.status <> 'completed')
  execute function app.bookings_complete_referral();

create function public.redeem_referral_code(referral_code text, source text default null) returns public.referrals
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.current_user_id();
  c public.referral_codes;
  result public.referrals;
begin
  if me is null then
    raise insufficient_privilege using message = 'sign in to redeem a referral code';
  end if;
  select * into c from public.referral_codes where upper(code) = upper(trim(referral_code))
    and tenant_id = app.current_tenant_id();
  if c.id is null then
    raise no_data_found using message = 'unknown referral code';
  end if;
  if c.user_id = me then
    raise check_violation using message = 'you cannot redeem your own referral code';
  end if;
  if exists (select 1 from public.referrals r where r.referee_id = me) then
    raise unique_violation using message = 'you have already been referred';
  end if;
  insert into public.referrals (referee_id, code_id, referrer_id, program_id, tenant_id, source)
  values (me, c.id, c.user_id, c.program_id, c.tenant_id, redeem_referral_code.source)
  returning * into result;
  return result;
end $$;
comment on function public.redeem_referral_code(text, text) is 'Records that the caller was referred by the code''s owner (once per user).';
revoke execute on function public.redeem_referral_code(text, text) from public;
grant execute on function public.redeem_referral_code(text, text) to authenticated, service_role;

alter table public.referral_programs enable row level security;
alter table public.referral_codes enable row level security;
alter table public.referrals enable row level security;
alter table public.referral_rewards enable row level security;

grant select on public.referral_programs to anon, authenticated;
create policy "Anyone can read active programs of their tenant or shared ones" on public.referral_programs
  for select to anon, authenticated
  using (is_active and (tenant_id is null or tenant_id = (select app.current_tenant_id())));
grant insert (tenant_id, name, description, reward_type, referrer_reward_cents, referee_reward_cents, currency,
              minimum_spend_cents, max_uses_per_code, code_validity_days, reward_validity_days, is_active,
              starts_on, ends_on, terms_and_conditions, metadata),
      update (name, description, reward_type, referrer_reward_cents, referee_reward_cents, currency,
              minimum_spend_cents, max_uses_per_code, code_validity_days, reward_validity_days, is_active,
              starts_on, ends_on, terms_and_conditions, metadata)
  on public.referral_programs to authenticated;
create policy "Marketing managers can read every program of their tenant" on public.referral_programs
  for select to authenticated
  using ((select app.has_permission('referrals.manage')) and tenant_id = (select app.current_tenant_id()));
create policy "Marketing managers can create programs in their tenant" on public.referral_programs
  for insert to authenticated
  with check ((select app.has_permission('referrals.manage')) and tenant_id = (select app.current_tenant_id()));
create policy "Marketing managers can update programs of their tenant" on public.referral_programs
  for update to authenticated
  using ((select app.has_permission('referrals.manage')) and tenant_id = (select app.current_tenant_id()))
  with check (tenant_id = (select app.current_tenant_id()));

grant select on public.referral_codes to authenticated;
grant insert (user_id, program_id, code), update (is_active) on public.referral_codes to authenticated;
create policy "Users can read their own codes" on public.referral_codes
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Users can create their own codes" on public.referral_codes
  for insert to authenticated with check (user_id = (select app.current_user_id()));
create policy "Users can switch their own codes off and on" on public.referral_codes
  for update to authenticated
  using (user_id = (select app.current_user_id()))
  with check (user_id = (select app.current_user_id()));

grant select on public.referrals to authenticated;
create policy "Referrers and referees can read their referrals" on public.referrals
  for select to authenticated
  using (referrer_id = (select app.current_user_id()) or referee_id = (select app.current_user_id()));
create policy "Marketing managers can read referrals of their tenant" on public.referrals
  for select to authenticated
  using ((select app.has_permission('referrals.manage')) and tenant_id = (select app.current_tenant_id()));

grant select on public.referral_rewards to authenticated;
create policy "Users can read their own rewards" on public.referral_rewards
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Marketing managers can read rewards of their tenant" on public.referral_rewards
  for select to authenticated
  using ((select app.has_permission('referrals.manage')) and tenant_id = (select app.current_tenant_id()));

grant all on public.referral_programs, public.referral_codes, public.referrals, public.referral_rewards to service_role;
