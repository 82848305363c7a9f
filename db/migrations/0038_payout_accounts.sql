-- =============================================================================
-- 0038 payout accounts: how a marketplace takes money, and where its providers
-- are paid (issue 13, decision 0023).
--
-- A tenant's payment_mode is 'offline' (the default: payments are recorded as
-- cash or invoice, no account needed) or 'stripe' (customers pay by card through
-- Stripe; providers are paid through Stripe Connect accounts). In 'stripe' mode a
-- provider publishes a listing only once their Connect account can take charges
-- and receive payouts, so no booking is made that cannot be paid out.
-- payout_accounts mirrors each provider's Connect account from Stripe's
-- account.updated events; only the Stripe integration (service_role) writes it.
-- =============================================================================

create type public.payment_mode as enum ('offline', 'stripe');
alter table public.tenants add column payment_mode public.payment_mode not null default 'offline';
comment on column public.tenants.payment_mode is 'offline: payments are recorded as cash or invoice with the same fees and ledger; stripe: cards through Stripe, providers paid through Stripe Connect (decision 0023).';

create table public.payout_accounts (
  user_id             uuid primary key references public.users (id) on delete cascade,
  tenant_id           uuid not null references public.tenants (id) on delete cascade,
  stripe_account_id   text not null unique check (stripe_account_id ~ '^acct_[A-Za-z0-9]+$'),
  account_type        text not null default 'express' check (account_type in ('express', 'standard', 'custom')),
  country             text check (country ~ '^[A-Z]{2}$'),
  default_currency    public.currency_code,
  details_submitted   boolean not null default false,
  charges_enabled     boolean not null default false,
  payouts_enabled     boolean not null default false,
  requirements_due    text[] not null default '{}',
  disabled_reason     text,
  -- Stripe's `created` of the last account.updated event applied: an older event
  -- arriving late is ignored (events are not ordered).
  stripe_synced_at    timestamptz,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now()
);
comment on table public.payout_accounts is 'A provider''s Stripe Connect account (Express by default), mirrored from account.updated: whether it can take charges and receive payouts, and what Stripe still needs. Written by the Stripe integration only.';
comment on column public.payout_accounts.requirements_due is 'Stripe requirements currently_due and past_due: what the provider must still provide in onboarding.';

create index payout_accounts_tenant_id_idx on public.payout_accounts (tenant_id);

create trigger payout_accounts_inherit_tenant before insert on public.payout_accounts
  for each row execute function app.inherit_tenant('users', 'user_id');
create trigger payout_accounts_set_updated_at before update on public.payout_accounts
  for each row execute function app.set_updated_at();
create trigger payout_accounts_audit after insert or update or delete on public.payout_accounts
  for each row execute function app.audit_row();

-- users.stripe_connect_account_id (0003) stays the account's id on the user, for
-- readers that already use it; payout_accounts is where it is written.
create function app.payout_accounts_link_user() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  update public.users u set stripe_connect_account_id = new.stripe_account_id
   where u.id = new.user_id and u.stripe_connect_account_id is distinct from new.stripe_account_id;
  return null;
end $$;
revoke execute on function app.payout_accounts_link_user() from public;
create trigger payout_accounts_link_user after insert or update of stripe_account_id on public.payout_accounts
  for each row execute function app.payout_accounts_link_user();

alter table public.payout_accounts enable row level security;
grant select on public.payout_accounts to authenticated;
grant all on public.payout_accounts to service_role;

create policy "Providers can read their own payout account" on public.payout_accounts
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Billing admins can read payout accounts of their tenant" on public.payout_accounts
  for select to authenticated
  using ((select app.has_permission('payments.read')) and tenant_id = (select app.current_tenant_id()));

insert into app.personal_data (table_name, column_name, on_erasure, reason) values
  ('payout_accounts', 'user_id', 'keep', 'financial record: the Connect account paid out for past bookings (Stripe keeps the identity data)');

-- -----------------------------------------------------------------------------
-- In 'stripe' mode a listing goes live only when its provider can be paid.
-- -----------------------------------------------------------------------------
create function app.guard_listing_payouts() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if new.status = 'active' and (tg_op = 'INSERT' or old.status is distinct from 'active')
     and (select t.payment_mode from public.tenants t where t.id = new.tenant_id) = 'stripe'
     and not exists (select 1 from public.payout_accounts p
                      where p.user_id = new.provider_id and p.charges_enabled and p.payouts_enabled) then
    raise sqlstate 'PT409' using
      message = 'this listing cannot be published until its provider can receive payouts',
      hint = 'Finish payout onboarding (supabase.functions.invoke(''stripe-connect-onboarding'')); the listing can be published once Stripe enables charges and payouts.';
  end if;
  return new;
end $$;
comment on function app.guard_listing_payouts() is 'BEFORE INSERT/UPDATE on listings: in a stripe-mode marketplace, a listing becomes active only when its provider''s Connect account has charges and payouts enabled (PT409 otherwise).';
revoke execute on function app.guard_listing_payouts() from public;
create trigger listings_guard_payouts before insert or update of status on public.listings
  for each row execute function app.guard_listing_payouts();
