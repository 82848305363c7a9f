-- =============================================================================
-- 0046 stripe billing: providers' subscription plans as Stripe Prices, their
-- subscriptions and invoices mirrored from Stripe Billing (issue 13, decision
-- 0023 "Slice 6").
--
-- * subscription_plans: what each tier costs in a marketplace (its pricing
--   page, readable by anyone); payments managers write them, and a job makes the
--   Stripe Product and Price (app.stripe_link_plan_price records them).
-- * The stripe-subscribe function reserves the user's one live subscription row
--   first (app.stripe_reserve_subscription), then creates the Stripe
--   Subscription; customer.subscription.* events, re-fetched, mirror it
--   (app.stripe_apply_subscription, latest fetch wins, as for Connect accounts).
-- * invoice.* events, re-fetched, mirror invoices and their lines
--   (app.stripe_apply_invoice, never backwards); a paid invoice writes one
--   `payment` row in transactions, keyed by the invoice; a failed payment
--   notifies the subscriber (dunning).
-- * Offline marketplaces: a payments manager grants a tier
--   (public.grant_subscription); nothing is charged.
-- * Metered usage: billable usage_logs are sent to Stripe Billing Meters by a
--   job, once per row (identifier = the row's id), and marked reported.
--
-- New enum values cannot be used in the transaction that adds them: they appear
-- only inside PL/pgSQL bodies here.
-- =============================================================================

alter type public.notification_type add value if not exists 'subscription_payment_failed' after 'payout_sent';
alter type public.notification_type add value if not exists 'subscription_trial_ending' after 'subscription_payment_failed';
-- Stripe's paused (a trial that ended without a payment method, when the
-- subscription is set to pause): not live, no charge.
alter type public.subscription_status add value if not exists 'paused';

-- -----------------------------------------------------------------------------
-- subscription_plans: a marketplace's price list for provider tiers.
-- -----------------------------------------------------------------------------
create table public.subscription_plans (
  id                 uuid primary key default gen_random_uuid(),
  tenant_id          uuid not null default app.current_tenant_id() references public.tenants (id) on delete cascade,
  tier               public.subscription_tier not null check (tier <> 'free'),
  billing_interval   public.billing_interval not null default 'month',
  name               text not null check (length(name) between 1 and 100),
  description        text check (length(description) <= 1000),
  currency           public.currency_code not null,
  price_cents        public.cents not null check (price_cents > 0),
  trial_days         integer not null default 0 check (trial_days between 0 and 730),
  features           jsonb not null default '{}' check (jsonb_typeof(features) = 'object'),
  usage_limits       jsonb not null default '{}' check (jsonb_typeof(usage_limits) = 'object'),
  is_active          boolean not null default true,
  stripe_product_id  text check (stripe_product_id ~ '^prod_[A-Za-z0-9_]+$'),
  stripe_price_id    text unique check (stripe_price_id ~ '^price_[A-Za-z0-9_]+$'),
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  unique (tenant_id, tier, billing_interval)
);
comment on table public.subscription_plans is 'What a provider tier costs in a marketplace, per billing interval: its pricing page (anyone reads the active plans of their marketplace). Payments managers write them; in stripe marketplaces a job makes the Stripe Product (one per tier) and Price (lookup_key loconomy:<tenant>:<tier>:<interval>). Decision 0023, slice 6.';
comment on column public.subscription_plans.trial_days is 'Days of free trial a new subscriber gets (0: none); changing it affects later subscriptions only.';
comment on column public.subscription_plans.stripe_price_id is 'The Stripe Price of the current price_cents; cleared when price_cents changes (Stripe prices are immutable) so the sync job makes a new one. Subscribers stay on the price they subscribed at until they change plan.';
comment on column public.subscription_plans.features is 'What the tier includes, copied onto a subscription when it moves to this plan (e.g. {"featured_listings": 3}).';
comment on column public.subscription_plans.usage_limits is 'Limits of the tier, copied onto a subscription when it moves to this plan (e.g. {"sms.sent": 500}).';

create index subscription_plans_tenant_active_idx on public.subscription_plans (tenant_id, is_active);

-- A new amount needs a new Stripe Price; the sync job makes it.
create function app.subscription_plans_before_update() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
begin
  if new.price_cents is distinct from old.price_cents then
    new.stripe_price_id := null;
  end if;
  return new;
end $$;
revoke execute on function app.subscription_plans_before_update() from public;

-- In a stripe marketplace, a plan without a Stripe Price gets one through the
-- stripe.sync_plan job, enqueued with the change (nothing when the queue is not
-- installed: stripe-subscribe syncs a plan it needs itself).
create function app.subscription_plans_sync_job() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if new.is_active and new.stripe_price_id is null and to_regnamespace('graphile_worker') is not null
     and exists (select 1 from public.tenants t where t.id = new.tenant_id and t.payment_mode::text = 'stripe') then
    perform graphile_worker.add_job('stripe.sync_plan', json_build_object('plan_id', new.id),
      max_attempts => 25, job_key => 'stripe:plan:' || new.id);
  end if;
  return null;
end $$;
revoke execute on function app.subscription_plans_sync_job() from public;

create trigger subscription_plans_before_update before update on public.subscription_plans
  for each row execute function app.subscription_plans_before_update();
create trigger subscription_plans_set_updated_at before update on public.subscription_plans
  for each row execute function app.set_updated_at();
create trigger subscription_plans_sync_job after insert or update on public.subscription_plans
  for each row execute function app.subscription_plans_sync_job();
create trigger subscription_plans_audit after insert or update or delete on public.subscription_plans
  for each row execute function app.audit_row();

alter table public.subscription_plans enable row level security;
grant select on public.subscription_plans to anon, authenticated;
grant insert (tenant_id, tier, billing_interval, name, description, currency, price_cents, trial_days, features,
              usage_limits, is_active) on public.subscription_plans to authenticated;
grant update (name, description, price_cents, trial_days, features, usage_limits, is_active)
  on public.subscription_plans to authenticated;
grant all on public.subscription_plans to service_role;

create policy "Anyone can read the active plans of their marketplace" on public.subscription_plans
  for select to anon, authenticated
  using (is_active and tenant_id = (select app.current_tenant_id()));
create policy "Payments managers can read all plans of their marketplace" on public.subscription_plans
  for select to authenticated
  using ((select app.has_permission('payments.manage')) and tenant_id = (select app.current_tenant_id()));
create policy "Payments managers can add plans to their marketplace" on public.subscription_plans
  for insert to authenticated
  with check ((select app.has_permission('payments.manage')) and tenant_id = (select app.current_tenant_id()));
create policy "Payments managers can change plans of their marketplace" on public.subscription_plans
  for update to authenticated
  using ((select app.has_permission('payments.manage')) and tenant_id = (select app.current_tenant_id()))
  with check ((select app.has_permission('payments.manage')) and tenant_id = (select app.current_tenant_id()));

-- -----------------------------------------------------------------------------
-- subscriptions: the plan and the time of the Stripe fetch last applied.
-- -----------------------------------------------------------------------------
alter table public.subscriptions
  add column plan_id uuid references public.subscription_plans (id) on delete set null,
  add column stripe_synced_at timestamptz;
comment on column public.subscriptions.plan_id is 'The plan subscribed to (its tier, interval and price when subscribed; later price changes of the plan do not move it).';
comment on column public.subscriptions.stripe_synced_at is 'When the Stripe Subscription last applied was fetched; an older fetch is not applied (decision 0023 "Order").';
create index subscriptions_plan_id_idx on public.subscriptions (plan_id);

-- -----------------------------------------------------------------------------
-- Plans at Stripe (the stripe.sync_plan job)
-- -----------------------------------------------------------------------------
create function app.stripe_plan_to_sync(plan_id uuid)
returns table (plan_id uuid, tenant_id uuid, tier text, billing_interval text, name text, description text,
               currency text, price_cents bigint, is_active boolean, payment_mode text,
               stripe_product_id text, stripe_price_id text)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select p.id, p.tenant_id, p.tier::text, p.billing_interval::text, p.name, p.description, p.currency::text,
         p.price_cents, p.is_active, t.payment_mode::text,
         -- The tier's Product may already exist through the plan of the other interval.
         coalesce(p.stripe_product_id, (select o.stripe_product_id from public.subscription_plans o
                                         where o.tenant_id = p.tenant_id and o.tier = p.tier
                                           and o.stripe_product_id is not null limit 1)),
         p.stripe_price_id
    from public.subscription_plans p
    join public.tenants t on t.id = p.tenant_id
   where p.id = stripe_plan_to_sync.plan_id
$$;
comment on function app.stripe_plan_to_sync(uuid) is 'For the plan sync (service_role): a plan, its marketplace''s payment mode and the Stripe Product of its tier if one exists.';

create function app.stripe_link_plan_price(plan_id uuid, price_cents bigint, stripe_product_id text, stripe_price_id text)
returns public.subscription_plans
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.subscription_plans;
begin
  if stripe_link_plan_price.stripe_product_id !~ '^prod_[A-Za-z0-9_]+$'
     or stripe_link_plan_price.stripe_price_id !~ '^price_[A-Za-z0-9_]+$' then
    raise invalid_parameter_value using message = 'a Stripe product id starts with prod_ and a price id with price_';
  end if;
  -- Recorded only if the plan still costs what the Price charges (an admin may
  -- have changed it meanwhile: its own job makes the next Price).
  update public.subscription_plans x
     set stripe_product_id = stripe_link_plan_price.stripe_product_id,
         stripe_price_id = stripe_link_plan_price.stripe_price_id
   where x.id = stripe_link_plan_price.plan_id and x.price_cents = stripe_link_plan_price.price_cents
  returning * into p;
  if p.id is null then
    select * into p from public.subscription_plans x where x.id = stripe_link_plan_price.plan_id;
  end if;
  return p;
end $$;
comment on function app.stripe_link_plan_price(uuid, bigint, text, text) is 'For the plan sync (service_role): records the Stripe Product and Price made for a plan, if the plan still has that price; returns the plan.';

-- -----------------------------------------------------------------------------
-- Subscribing (stripe-subscribe, stripe-change-subscription functions)
-- -----------------------------------------------------------------------------

-- The caller as the subscription functions need them; no row without a user.
create function app.stripe_subscriber()
returns table (user_id uuid, tenant_id uuid, role public.user_role, payment_mode public.payment_mode,
               stripe_customer_id text, subscription_id uuid, subscription_status text,
               stripe_subscription_id text, plan_id uuid, stripe_price_id text, currency text,
               stripe_synced_at timestamptz, cancel_at_period_end boolean)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select u.id, u.tenant_id, u.role, t.payment_mode, u.stripe_customer_id, s.id, s.status::text,
         s.stripe_subscription_id, s.plan_id, s.stripe_price_id, s.currency::text, s.stripe_synced_at,
         s.cancel_at_period_end
    from public.users u
    join public.tenants t on t.id = u.tenant_id
    left join public.subscriptions s
      on s.user_id = u.id and s.status::text in ('trialing', 'active', 'past_due', 'unpaid', 'incomplete')
   where u.id = app.current_user_id()
$$;
comment on function app.stripe_subscriber() is 'The signed-in caller as the subscription functions need them: role, the marketplace''s payment mode, their Stripe Customer and their live subscription if any. No row without a user.';

-- A plan of the caller's marketplace that can be subscribed to (no row otherwise).
create function app.stripe_plan_for_caller(plan_id uuid)
returns table (plan_id uuid, tier text, billing_interval text, currency text, price_cents bigint, trial_days integer,
               stripe_price_id text)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select p.id, p.tier::text, p.billing_interval::text, p.currency::text, p.price_cents, p.trial_days, p.stripe_price_id
    from public.subscription_plans p
   where p.id = stripe_plan_for_caller.plan_id and p.is_active and p.tenant_id = app.current_tenant_id()
$$;
comment on function app.stripe_plan_for_caller(uuid) is 'An active plan of the caller''s marketplace, for the subscription functions; no row for another marketplace''s or an inactive plan.';

-- The user's one live subscription, reserved before Stripe is called: a second
-- concurrent call meets the unique index (subscriptions_one_live_per_user).
-- A reservation that never got its Stripe Subscription (Stripe failed) is
-- reused, for the plan asked now.
create function app.stripe_reserve_subscription(user_id uuid, plan_id uuid)
returns table (subscription_id uuid, reserved boolean)
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.subscription_plans;
  s public.subscriptions;
begin
  select * into p from public.subscription_plans x
   where x.id = stripe_reserve_subscription.plan_id
     and x.tenant_id = (select u.tenant_id from public.users u where u.id = stripe_reserve_subscription.user_id);
  if p.id is null then
    raise sqlstate 'PT404' using message = format('plan %s not found', stripe_reserve_subscription.plan_id);
  end if;
  select * into s from public.subscriptions x
   where x.user_id = stripe_reserve_subscription.user_id
     and x.status::text in ('trialing', 'active', 'past_due', 'unpaid', 'incomplete')
   for update;
  if s.id is not null and (s.stripe_subscription_id is not null or s.stripe_synced_at is not null) then
    return query select s.id, false;
    return;
  end if;
  if s.id is not null then
    update public.subscriptions x
       set plan_id = p.id, tier = p.tier, billing_interval = p.billing_interval, price_cents = p.price_cents,
           currency = p.currency, features = p.features, usage_limits = p.usage_limits
     where x.id = s.id;
    return query select s.id, true;
    return;
  end if;
  insert into public.subscriptions (user_id, plan_id, tier, status, billing_interval, price_cents, currency, features,
                                    usage_limits)
  values (stripe_reserve_subscription.user_id, p.id, p.tier, 'incomplete', p.billing_interval, p.price_cents,
          p.currency, p.features, p.usage_limits)
  on conflict do nothing
  returning id into s.id;
  if s.id is null then
    -- A concurrent call reserved it first.
    select x.id into s.id from public.subscriptions x
     where x.user_id = stripe_reserve_subscription.user_id
       and x.status::text in ('trialing', 'active', 'past_due', 'unpaid', 'incomplete');
    return query select s.id, false;
    return;
  end if;
  return query select s.id, true;
end $$;
comment on function app.stripe_reserve_subscription(uuid, uuid) is 'For stripe-subscribe (service_role): reserves the user''s live subscription (status incomplete, no Stripe id yet) for a plan; reserved = false when the user already has a live one (the caller answers 409).';

-- -----------------------------------------------------------------------------
-- customer.subscription.*: the Subscription as fetched from Stripe at
-- fetched_at, mirrored (the latest fetch wins; canceled and incomplete_expired
-- are final). event_id null: applied by the functions right after their call.
-- -----------------------------------------------------------------------------
create function app.stripe_apply_subscription(event_id text, subscription jsonb, fetched_at timestamptz, attempts integer)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  ev public.inbound_webhook_events;
  s public.subscriptions;
  item jsonb := subscription -> 'items' -> 'data' -> 0;
  price jsonb := subscription -> 'items' -> 'data' -> 0 -> 'price';
  plan public.subscription_plans;
  reserved text := subscription -> 'metadata' ->> 'loconomy_subscription_id';
  tier_name text := price -> 'metadata' ->> 'loconomy_tier';
  outcome text := 'applied';
begin
  if event_id is not null then
    ev := app.stripe_event_to_process(event_id);
    if ev.id is null then
      return jsonb_build_object('outcome', 'duplicate');
    end if;
  end if;
  select * into s from public.subscriptions x where x.stripe_subscription_id = subscription ->> 'id' for update;
  if s.id is null and reserved ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    -- The event may come before the function recorded the id on its reservation.
    select * into s from public.subscriptions x
     where x.id = reserved::uuid and x.stripe_subscription_id is null
       and x.plan_id::text is not distinct from subscription -> 'metadata' ->> 'loconomy_plan_id'
     for update;
  end if;
  select * into plan from public.subscription_plans p
   where p.stripe_price_id = price ->> 'id'
      or (p.id::text = price -> 'metadata' ->> 'loconomy_plan_id' and p.tenant_id = s.tenant_id)
   order by (p.stripe_price_id = price ->> 'id') desc nulls last limit 1;
  if s.id is null or item is null then
    outcome := 'ignored';  -- a subscription Loconomy did not make
  elsif s.stripe_synced_at is not null and s.stripe_synced_at >= fetched_at then
    outcome := 'stale';    -- a later fetch was applied already
  elsif s.status::text in ('canceled', 'incomplete_expired') and s.stripe_subscription_id is not null then
    outcome := 'stale';    -- final at Stripe too
  else
    if tier_name is null or tier_name not in ('basic', 'professional', 'enterprise') then
      tier_name := coalesce(plan.tier::text, s.tier::text);
    end if;
    update public.subscriptions x
       set stripe_subscription_id = subscription ->> 'id',
           stripe_price_id = price ->> 'id',
           plan_id = coalesce(plan.id, x.plan_id),
           tier = tier_name::public.subscription_tier,
           status = (subscription ->> 'status')::public.subscription_status,
           billing_interval = coalesce(nullif(price -> 'recurring' ->> 'interval', ''), x.billing_interval::text)::public.billing_interval,
           price_cents = coalesce((price ->> 'unit_amount')::bigint * coalesce((item ->> 'quantity')::bigint, 1), x.price_cents),
           currency = upper(coalesce(subscription ->> 'currency', price ->> 'currency', x.currency::text)),
           current_period_start = to_timestamp((item ->> 'current_period_start')::double precision),
           current_period_end = to_timestamp((item ->> 'current_period_end')::double precision),
           trial_end = to_timestamp((subscription ->> 'trial_end')::double precision),
           cancel_at_period_end = coalesce((subscription ->> 'cancel_at_period_end')::boolean, false),
           canceled_at = to_timestamp((subscription ->> 'canceled_at')::double precision),
           features = case when plan.id is not null and plan.id is distinct from x.plan_id then plan.features else x.features end,
           usage_limits = case when plan.id is not null and plan.id is distinct from x.plan_id then plan.usage_limits else x.usage_limits end,
           stripe_synced_at = fetched_at
     where x.id = s.id
    returning * into s;
    if event_id is not null and ev.event_type = 'customer.subscription.trial_will_end'
       and s.status::text = 'trialing' then
      perform app.notify(s.user_id, 'subscription_trial_ending', 'Your trial ends soon',
        format('Your %s trial ends on %s. Add a card to keep your plan.', s.tier, to_char(s.trial_end, 'YYYY-MM-DD')),
        jsonb_build_object('subscription_id', s.id, 'trial_end', s.trial_end), null, null);
    end if;
  end if;
  if event_id is not null then
    perform app.stripe_finish_event(event_id, outcome, attempts);
  end if;
  return jsonb_build_object('outcome', outcome, 'subscription_id', s.id, 'status', s.status, 'tier', s.tier);
end $$;
comment on function app.stripe_apply_subscription(text, jsonb, timestamptz, integer) is 'For the Stripe event job and the subscription functions (service_role): mirrors a Subscription, as fetched from Stripe at fetched_at, into its subscriptions row — tier from the price, status (past_due and unpaid are the dunning states), periods, trial, cancel_at_period_end — unless a later fetch was applied or the row is final; notifies the subscriber on trial_will_end; marks the event processed.';

-- -----------------------------------------------------------------------------
-- invoice.*: the Invoice as fetched from Stripe (lines included), mirrored into
-- invoices and invoice_items. Its status only moves forward (draft → open →
-- paid / void / uncollectible → paid or void), so a stale fetch changes
-- nothing. Lines are written while the mirror is draft or open (0008's trigger
-- refuses lines of a paid invoice), so a first sight of a paid invoice writes
-- them before its status. Credits (negative lines: unused time after a plan
-- change) are not lines here but part of discount_cents, since amounts are
-- non-negative. A paid invoice writes its payment once (transactions, keyed
-- by the invoice).
-- -----------------------------------------------------------------------------
create function app.stripe_invoice_rank(status text) returns integer
language sql immutable
set search_path = pg_catalog
as $$
  select case status when 'draft' then 0 when 'open' then 1 when 'uncollectible' then 2
                     when 'paid' then 3 when 'void' then 3 else -1 end
$$;
revoke execute on function app.stripe_invoice_rank(text) from public;

create function app.stripe_apply_invoice(event_id text, invoice jsonb, attempts integer) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  ev public.inbound_webhook_events;
  inv public.invoices;
  sub public.subscriptions;
  owner public.users;
  target text := invoice ->> 'status';
  sub_id text := invoice -> 'parent' -> 'subscription_details' ->> 'subscription';
  line jsonb;
  amount bigint;
  qty bigint;
  credits bigint := 0;
  tax bigint;
  discount bigint;
  stripe_paid_at timestamptz := to_timestamp((invoice -> 'status_transitions' ->> 'paid_at')::double precision);
  issued date := coalesce(to_timestamp((invoice -> 'status_transitions' ->> 'finalized_at')::double precision),
                          to_timestamp((invoice ->> 'created')::double precision), now())::date;
  intent text;
  outcome text := 'applied';
  paid_now boolean := false;
  notified uuid;
begin
  if event_id is not null then
    ev := app.stripe_event_to_process(event_id);
    if ev.id is null then
      return jsonb_build_object('outcome', 'duplicate');
    end if;
  end if;
  if jsonb_typeof(invoice -> 'parent' -> 'subscription_details' -> 'subscription') = 'object' then
    sub_id := invoice -> 'parent' -> 'subscription_details' -> 'subscription' ->> 'id';
  end if;
  select * into sub from public.subscriptions x where x.stripe_subscription_id = sub_id;
  select * into owner from public.users u
   where u.id = coalesce(sub.user_id, (select u2.id from public.users u2 where u2.stripe_customer_id = invoice ->> 'customer'));
  select * into inv from public.invoices x where x.stripe_invoice_id = invoice ->> 'id' for update;
  if owner.id is null or app.stripe_invoice_rank(target) < 0 then
    outcome := 'ignored';  -- a customer Loconomy does not know, or a deleted draft
  elsif inv.id is not null and (app.stripe_invoice_rank(target) < app.stripe_invoice_rank(inv.status::text)
        or (inv.status::text in ('paid', 'void') and target <> inv.status::text)) then
    outcome := 'stale';
  else
    tax := coalesce((select sum((t ->> 'amount')::bigint) from jsonb_array_elements(coalesce(invoice -> 'total_taxes', '[]')) t), 0);
    discount := coalesce((select sum((d ->> 'amount')::bigint) from jsonb_array_elements(coalesce(invoice -> 'total_discount_amounts', '[]')) d), 0);
    if inv.id is null then
      insert into public.invoices (user_id, subscription_id, invoice_number, status, currency, tax_cents,
                                   discount_cents, issued_on, due_on, stripe_invoice_id, metadata)
      values (owner.id, sub.id, coalesce(nullif(invoice ->> 'number', ''), invoice ->> 'id'), 'draft',
              upper(invoice ->> 'currency'), tax, discount, issued, issued, invoice ->> 'id',
              jsonb_build_object('source', 'stripe', 'billing_reason', invoice ->> 'billing_reason'))
      returning * into inv;
    end if;
    if inv.status::text in ('draft', 'open') then
      -- The lines as Stripe has them now (a draft's lines can change until it is finalised).
      update public.invoices x set status = 'draft', tax_cents = tax, discount_cents = 0,
                                   total_cents = x.subtotal_cents + tax
       where x.id = inv.id;
      delete from public.invoice_items it where it.invoice_id = inv.id;
      for line in select * from jsonb_array_elements(coalesce(invoice -> 'lines' -> 'data', '[]')) loop
        amount := (line ->> 'amount')::bigint;
        if amount < 0 then
          credits := credits - amount;
          continue;
        end if;
        qty := greatest(coalesce((line ->> 'quantity')::bigint, 1), 1);
        if amount % qty <> 0 then
          qty := 1;
        end if;
        insert into public.invoice_items (invoice_id, description, quantity, unit_price_cents, total_cents, metadata)
        values (inv.id, left(coalesce(nullif(line ->> 'description', ''), 'Subscription'), 500), qty, amount / qty, amount,
                jsonb_strip_nulls(jsonb_build_object(
                  'stripe_line_id', line ->> 'id',
                  'stripe_price_id', coalesce(line -> 'pricing' -> 'price_details' ->> 'price',
                                              line -> 'pricing' -> 'price_details' -> 'price' ->> 'id'),
                  'proration', line -> 'parent' -> 'subscription_item_details' -> 'proration',
                  'period_start', to_timestamp((line -> 'period' ->> 'start')::double precision),
                  'period_end', to_timestamp((line -> 'period' ->> 'end')::double precision))));
      end loop;
      -- Capped at subtotal + tax, as the line trigger does: a credit larger
      -- than the invoice leaves a total of 0 (Stripe keeps the rest on the
      -- customer's balance).
      update public.invoices x
         set discount_cents = least(discount + credits, x.subtotal_cents + x.tax_cents),
             total_cents = x.subtotal_cents + x.tax_cents - least(discount + credits, x.subtotal_cents + x.tax_cents)
       where x.id = inv.id;
    end if;
    select * into inv from public.invoices x where x.id = inv.id;
    paid_now := target = 'paid' and inv.status::text <> 'paid';
    update public.invoices x
       set status = target::public.invoice_status,
           invoice_number = coalesce(nullif(invoice ->> 'number', ''), x.invoice_number),
           amount_paid_cents = least(coalesce((invoice ->> 'amount_paid')::bigint, 0), x.total_cents),
           paid_at = case when target = 'paid' then coalesce(x.paid_at, stripe_paid_at, now()) end,
           issued_on = issued,
           due_on = greatest(issued, coalesce(to_timestamp((invoice ->> 'due_date')::double precision)::date, issued)),
           hosted_invoice_url = invoice ->> 'hosted_invoice_url',
           pdf_url = invoice ->> 'invoice_pdf',
           metadata = x.metadata || jsonb_strip_nulls(jsonb_build_object(
             'stripe_total', (invoice ->> 'total')::bigint, 'amount_due', (invoice ->> 'amount_due')::bigint,
             'attempt_count', (invoice ->> 'attempt_count')::int,
             'next_payment_attempt', to_timestamp((invoice ->> 'next_payment_attempt')::double precision)))
     where x.id = inv.id
    returning * into inv;
    if target = 'paid' and inv.amount_paid_cents > 0 then
      select coalesce(p -> 'payment' ->> 'payment_intent', p -> 'payment' -> 'payment_intent' ->> 'id') into intent
        from jsonb_array_elements(coalesce(invoice -> 'payments' -> 'data', '[]')) p
       where p ->> 'status' = 'paid' limit 1;
      -- The platform keeps all of a subscription payment: platform_fee_cents = amount.
      insert into public.transactions (user_id, tenant_id, subscription_id, type, status, amount_cents, currency,
                                       platform_fee_cents, description, processed_at, metadata, idempotency_key,
                                       stripe_payment_intent_id)
      values (owner.id, inv.tenant_id, sub.id, 'payment', 'completed', inv.amount_paid_cents, inv.currency,
              inv.amount_paid_cents, format('Subscription invoice %s', inv.invoice_number), inv.paid_at,
              jsonb_build_object('method', 'stripe', 'invoice_id', inv.id, 'stripe_invoice_id', invoice ->> 'id'),
              'stripe:invoice:' || (invoice ->> 'id') || ':payment', intent)
      on conflict (idempotency_key) do nothing;
    end if;
    -- Dunning: each failed attempt of an unpaid invoice tells the subscriber (urgent: money is due).
    if event_id is not null and ev.event_type = 'invoice.payment_failed' and target = 'open' then
      notified := app.notify(owner.id, 'subscription_payment_failed', 'Your subscription payment failed',
        format('We could not charge %s %s for invoice %s. Update your card to keep your plan.',
               to_char(coalesce((invoice ->> 'amount_due')::numeric, 0) / 100, 'FM999999990.00'), inv.currency,
               inv.invoice_number),
        jsonb_build_object('invoice_id', inv.id, 'subscription_id', sub.id, 'urgent', true,
                           'attempt_count', (invoice ->> 'attempt_count')::int,
                           'hosted_invoice_url', invoice ->> 'hosted_invoice_url'),
        invoice ->> 'hosted_invoice_url', null);
    end if;
  end if;
  if event_id is not null then
    perform app.stripe_finish_event(event_id, outcome, attempts);
  end if;
  return jsonb_build_object('outcome', outcome, 'invoice_id', inv.id, 'status', inv.status, 'paid_now', paid_now);
end $$;
comment on function app.stripe_apply_invoice(text, jsonb, integer) is 'For the Stripe event job (service_role): mirrors an Invoice, as fetched from Stripe, into invoices and invoice_items (status forward only; lines while draft or open; credits as discount), writes one payment transaction per paid invoice (key stripe:invoice:<id>:payment), notifies the subscriber on invoice.payment_failed, and marks the event processed.';

-- -----------------------------------------------------------------------------
-- Offline marketplaces: a payments manager grants a tier; nothing is charged.
-- -----------------------------------------------------------------------------
create function public.grant_subscription(user_id uuid, tier public.subscription_tier,
                                          billing_interval public.billing_interval default 'month',
                                          current_period_end timestamptz default null)
returns public.subscriptions
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  target public.users;
  mode text;
  p public.subscription_plans;
  s public.subscriptions;
begin
  if not app.has_permission('payments.manage') then
    raise insufficient_privilege using message = 'you cannot grant subscriptions',
      hint = 'Granting a tier needs the payments.manage permission.';
  end if;
  select * into target from public.users u
   where u.id = grant_subscription.user_id and u.tenant_id = app.current_tenant_id() and u.deleted_at is null;
  if target.id is null then
    raise sqlstate 'PT404' using message = format('user %s not found', grant_subscription.user_id);
  end if;
  select t.payment_mode::text into mode from public.tenants t where t.id = target.tenant_id;
  if mode <> 'offline' then
    raise sqlstate 'PT409' using message = 'this marketplace bills subscriptions through Stripe',
      hint = 'The provider subscribes with the stripe-subscribe function.';
  end if;
  if grant_subscription.current_period_end is not null and grant_subscription.current_period_end <= now() then
    raise invalid_parameter_value using message = 'current_period_end must be in the future';
  end if;
  select * into s from public.subscriptions x
   where x.user_id = target.id and x.status::text in ('trialing', 'active', 'past_due', 'unpaid', 'incomplete')
   for update;
  if grant_subscription.tier = 'free' then
    -- Back to free: the live subscription ends now.
    update public.subscriptions x set status = 'canceled', canceled_at = now(), cancel_at_period_end = false,
                                      metadata = x.metadata || jsonb_build_object('ended_by', me)
     where x.id = s.id
    returning * into s;
    return s;
  end if;
  select * into p from public.subscription_plans x
   where x.tenant_id = target.tenant_id and x.tier = grant_subscription.tier
     and x.billing_interval = grant_subscription.billing_interval;
  if s.id is not null then
    update public.subscriptions x
       set tier = grant_subscription.tier, billing_interval = grant_subscription.billing_interval, plan_id = p.id,
           status = 'active', price_cents = 0, currency = coalesce(p.currency, x.currency),
           features = coalesce(p.features, '{}'), usage_limits = coalesce(p.usage_limits, '{}'),
           current_period_end = coalesce(grant_subscription.current_period_end, x.current_period_end),
           metadata = x.metadata || jsonb_build_object('granted_by', me)
     where x.id = s.id
    returning * into s;
  else
    insert into public.subscriptions (user_id, plan_id, tier, status, billing_interval, price_cents, currency,
                                      current_period_start, current_period_end, features, usage_limits, metadata)
    values (target.id, p.id, grant_subscription.tier, 'active', grant_subscription.billing_interval, 0,
            coalesce(p.currency, (select t.default_currency from public.tenants t where t.id = target.tenant_id)),
            case when grant_subscription.current_period_end is not null then now() end,
            grant_subscription.current_period_end, coalesce(p.features, '{}'), coalesce(p.usage_limits, '{}'),
            jsonb_build_object('granted_by', me))
    returning * into s;
  end if;
  return s;
end $$;
comment on function public.grant_subscription(uuid, public.subscription_tier, public.billing_interval, timestamptz) is 'Offline marketplaces, payments.manage: gives a user a tier (their live subscription changes, or one is made; price 0, nothing charged, features and limits from the tier''s plan); tier free ends it. 409 in stripe marketplaces (providers subscribe through stripe-subscribe).';

-- -----------------------------------------------------------------------------
-- The subscriptions report: what subscriptions brought in, per currency.
-- payments_report (0040) stays the report of booking money: its rows are the
-- payments of bookings (payment_id set), so subscription payments do not
-- change its sums or its identity.
-- -----------------------------------------------------------------------------
create function public.subscriptions_report(period_start timestamptz default null, period_end timestamptz default null)
returns table (currency text, invoices_paid integer, revenue_cents bigint, subscribers integer)
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  tenant uuid := app.current_tenant_id();
begin
  perform app.require_user();
  if not app.has_permission('payments.read') then
    raise insufficient_privilege using message = 'you cannot read the subscriptions report',
      hint = 'The report needs the payments.read permission.';
  end if;
  if period_start is not null and period_end is not null and period_end <= period_start then
    raise invalid_parameter_value using message = 'period_end must be after period_start';
  end if;
  return query
  select t.currency::text, count(*)::int, coalesce(sum(t.amount_cents), 0)::bigint, count(distinct t.user_id)::int
    from public.transactions t
   where t.tenant_id = tenant and t.subscription_id is not null and t.type = 'payment' and t.status = 'completed'
     and (period_start is null or t.processed_at >= period_start)
     and (period_end is null or t.processed_at < period_end)
   group by t.currency order by t.currency;
end $$;
comment on function public.subscriptions_report(timestamptz, timestamptz) is 'For payments.read: per currency over [period_start, period_end) of when it was paid — subscription invoices paid, the money (all the platform''s) and how many subscribers paid. Booking money is in payments_report.';

-- -----------------------------------------------------------------------------
-- Metered usage: billable usage_logs of a stripe marketplace's subscribers go
-- to Stripe Billing Meters (the stripe.report_usage job: one meter event per
-- row, identifier = the row's id, so a retry is not counted twice) and are
-- marked reported; a row Stripe refuses keeps the error and is not retried.
-- -----------------------------------------------------------------------------
alter table public.usage_logs
  add column stripe_reported_at timestamptz,
  add column stripe_report_error text check (length(stripe_report_error) <= 2000);
comment on column public.usage_logs.stripe_reported_at is 'When the row was sent to Stripe as a meter event (event_name = feature, identifier = id); null until then, and for offline marketplaces.';
comment on column public.usage_logs.stripe_report_error is 'Why Stripe refused the meter event (e.g. no meter for the feature); such a row is not retried until this is cleared.';
create index usage_logs_stripe_unreported_idx on public.usage_logs (created_at)
  where billable and stripe_reported_at is null and stripe_report_error is null;

-- The rows due: billable, not reported, of users with a live Stripe
-- subscription, within the 35 days Stripe accepts; oldest first.
create function app.stripe_usage_to_report(max_rows integer)
returns table (usage_log_id uuid, feature text, quantity integer, stripe_customer_id text, created_at timestamptz)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select l.id, l.feature, l.quantity, u.stripe_customer_id, l.created_at
    from public.usage_logs l
    join public.users u on u.id = l.user_id
   where l.billable and l.stripe_reported_at is null and l.stripe_report_error is null
     and l.created_at > now() - interval '35 days'
     and u.stripe_customer_id is not null
     and exists (select 1 from public.subscriptions s
                  where s.user_id = l.user_id and s.stripe_subscription_id is not null
                    and s.status::text in ('trialing', 'active', 'past_due', 'unpaid'))
   order by l.created_at
   limit greatest(1, least(max_rows, 10000))
$$;
comment on function app.stripe_usage_to_report(integer) is 'For the stripe.report_usage job (service_role): billable usage not yet reported of users with a live Stripe subscription, from the last 35 days, oldest first.';

create function app.stripe_usage_reported(reported uuid[], refused jsonb) returns integer
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  n integer;
begin
  update public.usage_logs l set stripe_reported_at = now()
   where l.id = any(reported) and l.stripe_reported_at is null;
  get diagnostics n = row_count;
  update public.usage_logs l set stripe_report_error = left(r.value, 2000)
    from jsonb_each_text(coalesce(refused, '{}')) r
   where l.id::text = r.key and l.stripe_reported_at is null;
  return n;
end $$;
comment on function app.stripe_usage_reported(uuid[], jsonb) is 'For the stripe.report_usage job (service_role): marks usage rows reported, and records Stripe''s refusal ({usage_log_id: message}) on the others.';

revoke execute on function app.stripe_plan_to_sync(uuid), app.stripe_link_plan_price(uuid, bigint, text, text),
  app.stripe_subscriber(), app.stripe_plan_for_caller(uuid), app.stripe_reserve_subscription(uuid, uuid),
  app.stripe_apply_subscription(text, jsonb, timestamptz, integer), app.stripe_apply_invoice(text, jsonb, integer),
  public.grant_subscription(uuid, public.subscription_tier, public.billing_interval, timestamptz),
  public.subscriptions_report(timestamptz, timestamptz), app.stripe_usage_to_report(integer),
  app.stripe_usage_reported(uuid[], jsonb) from public;
grant execute on function app.stripe_usage_to_report(integer), app.stripe_usage_reported(uuid[], jsonb) to service_role;
grant execute on function app.stripe_plan_to_sync(uuid), app.stripe_link_plan_price(uuid, bigint, text, text),
  app.stripe_reserve_subscription(uuid, uuid), app.stripe_apply_subscription(text, jsonb, timestamptz, integer),
  app.stripe_apply_invoice(text, jsonb, integer) to service_role;
grant execute on function app.stripe_subscriber(), app.stripe_plan_for_caller(uuid) to authenticated;
grant execute on function public.grant_subscription(uuid, public.subscription_tier, public.billing_interval, timestamptz),
  public.subscriptions_report(timestamptz, timestamptz) to anon, authenticated, service_role;  -- anon is told to sign in
