-- =============================================================================
-- 0008 billing: subscriptions, stored payment methods, the money ledger
-- (transactions), invoices with line items, and metered usage. All amounts are
-- integer minor units with an ISO 4217 currency. Stripe ids are unique and
-- indexed so webhooks can find and de-duplicate rows. Clients only read their
-- own rows; service_role (the Stripe integration) writes.
-- =============================================================================

create type public.subscription_status as enum (
  'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'incomplete', 'incomplete_expired');
create type public.payment_status as enum ('pending', 'processing', 'completed', 'failed', 'cancelled', 'refunded');
create type public.transaction_type as enum ('payment', 'payout', 'fee', 'refund', 'bonus', 'referral');
create type public.invoice_status as enum ('draft', 'open', 'paid', 'void', 'uncollectible');
create type public.billing_interval as enum ('month', 'year');

-- -----------------------------------------------------------------------------
-- subscriptions
-- -----------------------------------------------------------------------------
create table public.subscriptions (
  id                      uuid primary key default gen_random_uuid(),
  user_id                 uuid not null references public.users (id) on delete cascade,
  tenant_id               uuid not null references public.tenants (id) on delete cascade,
  stripe_subscription_id  text unique,
  stripe_price_id         text,
  tier                    public.subscription_tier not null default 'free',
  status                  public.subscription_status not null default 'active',
  billing_interval        public.billing_interval not null default 'month',
  price_cents             public.cents not null default 0,
  currency                public.currency_code not null default 'USD',
  current_period_start    timestamptz,
  current_period_end      timestamptz,
  trial_end               timestamptz,
  cancel_at_period_end    boolean not null default false,
  canceled_at             timestamptz,
  features                jsonb not null default '{}',
  usage_limits            jsonb not null default '{}',
  metadata                jsonb not null default '{}',
  created_at              timestamptz not null default now(),
  updated_at              timestamptz not null default now(),
  check (current_period_end > current_period_start)
);
comment on table public.subscriptions is 'A user''s plan (mirrors Stripe Subscriptions; status uses Stripe''s spelling "canceled").';

create unique index subscriptions_one_live_per_user on public.subscriptions (user_id)
  where status in ('trialing', 'active', 'past_due', 'unpaid', 'incomplete');
create index subscriptions_user_id_idx on public.subscriptions (user_id, created_at desc);
create index subscriptions_tenant_status_idx on public.subscriptions (tenant_id, status);
create index subscriptions_renewal_idx on public.subscriptions (current_period_end) where status in ('trialing', 'active', 'past_due');

create trigger subscriptions_inherit_tenant before insert on public.subscriptions
  for each row execute function app.inherit_tenant('users', 'user_id');
create trigger subscriptions_set_updated_at before update on public.subscriptions
  for each row execute function app.set_updated_at();
create trigger subscriptions_audit after insert or update or delete on public.subscriptions
  for each row execute function app.audit_row();

-- -----------------------------------------------------------------------------
-- payment_methods
-- -----------------------------------------------------------------------------
create table public.payment_methods (
  id                        uuid primary key default gen_random_uuid(),
  user_id                   uuid not null references public.users (id) on delete cascade,
  tenant_id                 uuid not null references public.tenants (id) on delete cascade,
  stripe_payment_method_id  text unique,
  type                      text not null check (type in ('card', 'sepa_debit', 'us_bank_account', 'bacs_debit', 'link', 'paypal', 'other')),
  card_brand                text,
  card_last4                text check (card_last4 ~ '^[0-9]{4}$'),
  card_exp_month            smallint check (card_exp_month between 1 and 12),
  card_exp_year             smallint check (card_exp_year between 2000 and 2200),
  billing_address           jsonb,
  is_default                boolean not null default false,
  is_active                 boolean not null default true,
  metadata                  jsonb not null default '{}',
  created_at                timestamptz not null default now(),
  updated_at                timestamptz not null default now()
);
comment on table public.payment_methods is 'Stripe payment methods a user saved (display details only; card data stays at Stripe). One default per user.';

create unique index payment_methods_one_default on public.payment_methods (user_id) where is_default and is_active;
create index payment_methods_user_id_idx on public.payment_methods (user_id);
create index payment_methods_tenant_id_idx on public.payment_methods (tenant_id);

-- Choosing a new default clears the old one, so "one default" never trips a client.
create function app.payment_methods_single_default() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if new.is_default and new.is_active then
    update public.payment_methods set is_default = false
    where user_id = new.user_id and id <> new.id and is_default;
  end if;
  return new;
end $$;
revoke execute on function app.payment_methods_single_default() from public;

create trigger payment_methods_inherit_tenant before insert on public.payment_methods
  for each row execute function app.inherit_tenant('users', 'user_id');
create trigger payment_methods_single_default before insert or update of is_default, is_active on public.payment_methods
  for each row execute function app.payment_methods_single_default();
create trigger payment_methods_set_updated_at before update on public.payment_methods
  for each row execute function app.set_updated_at();
create trigger payment_methods_audit after insert or update or delete on public.payment_methods
  for each row execute function app.audit_row('billing_address');

-- -----------------------------------------------------------------------------
-- transactions: the money ledger.
-- -----------------------------------------------------------------------------
create table public.transactions (
  id                        uuid primary key default gen_random_uuid(),
  user_id                   uuid not null references public.users (id),
  tenant_id                 uuid not null references public.tenants (id) on delete cascade,
  booking_id                uuid references public.bookings (id),
  subscription_id           uuid references public.subscriptions (id) on delete set null,
  type                      public.transaction_type not null,
  status                    public.payment_status not null default 'pending',
  amount_cents              public.cents not null,
  currency                  public.currency_code not null,
  platform_fee_cents        public.cents not null default 0,
  processing_fee_cents      public.cents not null default 0,
  net_amount_cents          bigint generated always as (amount_cents - platform_fee_cents - processing_fee_cents) stored,
  description               text,
  stripe_payment_intent_id  text unique,
  stripe_charge_id          text unique,
  stripe_refund_id          text unique,
  stripe_transfer_id        text unique,
  processed_at              timestamptz,
  metadata                  jsonb not null default '{}',
  created_at                timestamptz not null default now(),
  updated_at                timestamptz not null default now(),
  check (platform_fee_cents + processing_fee_cents <= amount_cents),
  check (status <> 'completed' or processed_at is not null)
);
comment on table public.transactions is 'Every movement of money (payments, payouts, fees, refunds, bonuses). Ledger rows are kept: users and bookings with transactions cannot be hard-deleted.';
comment on column public.transactions.net_amount_cents is 'amount − platform fee − processing fee (generated).';

create index transactions_user_created_idx on public.transactions (user_id, created_at desc);
create index transactions_booking_id_idx on public.transactions (booking_id) where booking_id is not null;
create index transactions_subscription_id_idx on public.transactions (subscription_id) where subscription_id is not null;
create index transactions_tenant_status_idx on public.transactions (tenant_id, status, created_at desc);
create index transactions_pending_idx on public.transactions (created_at) where status in ('pending', 'processing');

create function app.transactions_before_write() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
begin
  if new.status = 'completed' and new.processed_at is null then
    new.processed_at := now();
  end if;
  return new;
end $$;
revoke execute on function app.transactions_before_write() from public;

create trigger transactions_inherit_tenant before insert on public.transactions
  for each row execute function app.inherit_tenant('users', 'user_id');
create trigger transactions_before_write before insert or update of status on public.transactions
  for each row execute function app.transactions_before_write();
create trigger transactions_set_updated_at before update on public.transactions
  for each row execute function app.set_updated_at();
create trigger transactions_audit after insert or update or delete on public.transactions
  for each row execute function app.audit_row();

-- -----------------------------------------------------------------------------
-- invoices and invoice_items
-- -----------------------------------------------------------------------------
create table public.invoices (
  id                  uuid primary key default gen_random_uuid(),
  user_id             uuid not null references public.users (id),
  tenant_id           uuid not null references public.tenants (id) on delete cascade,
  subscription_id     uuid references public.subscriptions (id) on delete set null,
  booking_id          uuid references public.bookings (id),
  invoice_number      text not null,
  status              public.invoice_status not null default 'draft',
  currency            public.currency_code not null,
  subtotal_cents      public.cents not null default 0,
  tax_cents           public.cents not null default 0,
  discount_cents      public.cents not null default 0,
  total_cents         public.cents not null default 0,
  amount_paid_cents   public.cents not null default 0,
  issued_on           date not null default current_date,
  due_on              date not null default current_date + 14,
  paid_at             timestamptz,
  stripe_invoice_id   text unique,
  hosted_invoice_url  text,
  pdf_url             text,
  metadata            jsonb not null default '{}',
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  unique (tenant_id, invoice_number),
  check (due_on >= issued_on),
  check (total_cents = subtotal_cents + tax_cents - discount_cents),
  check (amount_paid_cents <= total_cents),
  check (status <> 'paid' or paid_at is not null)
);
comment on table public.invoices is 'Invoices (status mirrors Stripe invoices). subtotal_cents is the sum of the items, kept by trigger; invoice_number is gapless per tenant and year.';

create index invoices_user_issued_idx on public.invoices (user_id, issued_on desc);
create index invoices_subscription_id_idx on public.invoices (subscription_id) where subscription_id is not null;
create index invoices_booking_id_idx on public.invoices (booking_id) where booking_id is not null;
create index invoices_open_due_idx on public.invoices (due_on) where status = 'open';

-- Gapless numbering needs a locked counter row, not a sequence. Internal state,
-- so it lives in `app`.
create table app.invoice_counters (
  tenant_id    uuid not null references public.tenants (id) on delete cascade,
  year         integer not null,
  last_number  integer not null default 0,
  primary key (tenant_id, year)
);
comment on table app.invoice_counters is 'Last invoice number issued per tenant and year. Only the invoice trigger touches it.';
alter table app.invoice_counters enable row level security;

create function app.invoices_before_insert() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  n integer;
  y integer := extract(year from new.issued_on)::int;
begin
  if new.invoice_number is null then
    insert into app.invoice_counters as c (tenant_id, year, last_number) values (new.tenant_id, y, 1)
    on conflict (tenant_id, year) do update set last_number = c.last_number + 1
    returning last_number into n;
    new.invoice_number := format('INV-%s-%s', y, lpad(n::text, 6, '0'));
  end if;
  if new.status = 'paid' and new.paid_at is null then
    new.paid_at := now();
  end if;
  return new;
end $$;
revoke execute on function app.invoices_before_insert() from public;

create trigger invoices_inherit_tenant before insert on public.invoices
  for each row execute function app.inherit_tenant('users', 'user_id');
-- Triggers on one event fire in name order: numbering needs the tenant that
-- invoices_inherit_tenant sets, so its name sorts after it.
create trigger invoices_number before insert on public.invoices
  for each row execute function app.invoices_before_insert();
create trigger invoices_set_updated_at before update on public.invoices
  for each row execute function app.set_updated_at();
create trigger invoices_audit after insert or update or delete on public.invoices
  for each row execute function app.audit_row();

create table public.usage_logs (
  id               uuid primary key default gen_random_uuid(),
  user_id          uuid not null references public.users (id) on delete cascade,
  tenant_id        uuid not null references public.tenants (id) on delete cascade,
  subscription_id  uuid references public.subscriptions (id) on delete set null,
  feature          text not null check (feature ~ '^[a-z0-9_.:-]+$'),
  quantity         integer not null default 1 check (quantity > 0),
  unit             text not null,
  billable         boolean not null default true,
  unit_cost_cents  public.cents,
  currency         public.currency_code,
  resource_type    text,
  resource_id      uuid,
  metadata         jsonb not null default '{}',
  created_at       timestamptz not null default now(),
  check ((unit_cost_cents is null) = (currency is null))
);
comment on table public.usage_logs is 'Metered usage for billing (e.g. api.request, sms.sent). resource_type/resource_id name what was used, informational only.';

create index usage_logs_user_feature_idx on public.usage_logs (user_id, feature, created_at desc);
create index usage_logs_subscription_billable_idx on public.usage_logs (subscription_id, created_at) where billable;
-- Foreign-key actions (cascades, checks when a parent row goes) cannot use a partial index.
create index usage_logs_subscription_id_idx on public.usage_logs (subscription_id);
create index usage_logs_tenant_created_idx on public.usage_logs (tenant_id, created_at desc);

create trigger usage_logs_inherit_tenant before insert on public.usage_logs
  for each row execute function app.inherit_tenant('users', 'user_id');

create table public.invoice_items (
  id                uuid primary key default gen_random_uuid(),
  invoice_id        uuid not null references public.invoices (id) on delete cascade,
  description       text not null check (length(description) between 1 and 500),
  quantity          integer not null default 1 check (quantity > 0),
  unit_price_cents  public.cents not null,
  total_cents       public.cents not null,
  booking_id        uuid references public.bookings (id) on delete set null,
  usage_log_id      uuid references public.usage_logs (id) on delete set null,
  metadata          jsonb not null default '{}',
  created_at        timestamptz not null default now(),
  check (total_cents = quantity * unit_price_cents)
);
comment on table public.invoice_items is 'Invoice lines; total = quantity × unit price (checked). Changing lines updates the invoice totals.';

create index invoice_items_invoice_id_idx on public.invoice_items (invoice_id);
create index invoice_items_booking_id_idx on public.invoice_items (booking_id) where booking_id is not null;
create index invoice_items_usage_log_id_idx on public.invoice_items (usage_log_id) where usage_log_id is not null;

create function app.invoice_items_after_change() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  target uuid;
  inv public.invoices;
begin
  -- A line moved to another invoice changes both.
  foreach target in array array(select distinct x from unnest(array[old.invoice_id, new.invoice_id]) x where x is not null) loop
    select * into inv from public.invoices where id = target for update;
    continue when inv.id is null;  -- the invoice itself is being deleted
    if inv.status not in ('draft', 'open') then
      raise check_violation using message = format('invoice %s is %s: its lines cannot change', inv.invoice_number, inv.status);
    end if;
    update public.invoices i
       set subtotal_cents = s.subtotal,
           total_cents = s.subtotal + i.tax_cents - least(i.discount_cents, s.subtotal + i.tax_cents),
           discount_cents = least(i.discount_cents, s.subtotal + i.tax_cents)
      from (select coalesce(sum(it.total_cents), 0) as subtotal from public.invoice_items it where it.invoice_id = target) s
     where i.id = target;
  end loop;
  return null;
end $$;
revoke execute on function app.invoice_items_after_change() from public;
create trigger invoice_items_after_change after insert or update or delete on public.invoice_items
  for each row execute function app.invoice_items_after_change();

-- -----------------------------------------------------------------------------
-- Row level security: owners read their own rows; billing admins read their
-- tenant's; only service_role writes (apart from choosing a default card).
-- -----------------------------------------------------------------------------
alter table public.subscriptions enable row level security;
alter table public.payment_methods enable row level security;
alter table public.transactions enable row level security;
alter table public.invoices enable row level security;
alter table public.invoice_items enable row level security;
alter table public.usage_logs enable row level security;
grant select on public.subscriptions, public.payment_methods, public.transactions, public.invoices,
  public.invoice_items, public.usage_logs to authenticated;
grant update (is_default) on public.payment_methods to authenticated;

create policy "Users can read their own subscriptions" on public.subscriptions
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Billing admins can read subscriptions of their tenant" on public.subscriptions
  for select to authenticated
  using ((select app.has_permission('payments.read')) and tenant_id = (select app.current_tenant_id()));

create policy "Users can read their own payment methods" on public.payment_methods
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Users can choose their default payment method" on public.payment_methods
  for update to authenticated
  using (user_id = (select app.current_user_id()) and is_active)
  with check (user_id = (select app.current_user_id()));

create policy "Users can read their own transactions" on public.transactions
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Providers can read payments for their bookings" on public.transactions
  for select to authenticated
  using (booking_id in (select b.id from public.bookings b where b.provider_id = (select app.current_user_id())));
create policy "Billing admins can read transactions of their tenant" on public.transactions
  for select to authenticated
  using ((select app.has_permission('payments.read')) and tenant_id = (select app.current_tenant_id()));

create policy "Users can read their own invoices" on public.invoices
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Billing admins can read invoices of their tenant" on public.invoices
  for select to authenticated
  using ((select app.has_permission('payments.read')) and tenant_id = (select app.current_tenant_id()));

create policy "Users can read the lines of invoices they can see" on public.invoice_items
  for select to authenticated
  using (exists (select 1 from public.invoices i where i.id = invoice_id));

create policy "Users can read their own usage" on public.usage_logs
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Billing admins can read usage of their tenant" on public.usage_logs
  for select to authenticated
  using ((select app.has_permission('payments.read')) and tenant_id = (select app.current_tenant_id()));

grant all on public.subscriptions, public.payment_methods, public.transactions, public.invoices,
  public.invoice_items, public.usage_logs to service_role;
