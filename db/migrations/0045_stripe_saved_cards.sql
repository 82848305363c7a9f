-- =============================================================================
-- 0045 stripe saved cards: a customer's payment methods saved at Stripe for
-- later bookings (issue 13, decision 0023 "Slice 5").
--
-- * The customer saves a card through a SetupIntent (the
--   stripe-setup-payment-method function, usage off_session) and Stripe.js.
-- * setup_intent.succeeded and payment_method.* events, re-fetched, are
--   mirrored into public.payment_methods (0008: display details only) by
--   app.stripe_apply_payment_method; the first active card becomes the
--   default, and a removed default hands over to the newest card left.
-- * The default is chosen through REST (0008 lets an owner update is_default);
--   a trigger enqueues stripe.sync_default_payment_method, which sets the
--   Customer's invoice_settings.default_payment_method at Stripe to match.
-- * A marketplace may opt in to authorising a requested booking off-session
--   with the customer's default card (tenants.stripe_authorise_default_card):
--   a trigger on payments enqueues stripe.authorise_default_card in the
--   booking's transaction; a decline or authentication_required fails the
--   payment and notifies the customer to pay on-session.
--
-- The new notification kind 'payment_failed' is used only inside PL/pgSQL
-- bodies (a new enum value cannot be used in the transaction that adds it).
-- =============================================================================

alter type public.notification_type add value if not exists 'payment_failed' after 'payment_received';

alter table public.tenants add column stripe_authorise_default_card boolean not null default false;
comment on column public.tenants.stripe_authorise_default_card is 'Stripe marketplaces: when true, a requested booking whose customer has an active default card is authorised off-session with it by a job (stripe.authorise_default_card); off by default (decision 0023, slice 5).';
-- Front ends read it to tell the customer that booking holds their default card.
grant select (stripe_authorise_default_card) on public.tenants to anon, authenticated;

-- -----------------------------------------------------------------------------
-- payment_methods: the fetch that wrote each row. setup_intent.* and
-- payment_method.* events of one card run in different serial queues (hashed
-- by the object's id), so an older fetch must not overwrite a newer one.
-- -----------------------------------------------------------------------------
alter table public.payment_methods add column stripe_synced_at timestamptz;
comment on column public.payment_methods.stripe_synced_at is 'When the Stripe fetch that last wrote this row started; an older fetch is not applied (outcome stale).';
comment on column public.payment_methods.is_default is 'The card bookings and Stripe Billing use when none is named; the owner chooses it (update through REST), kept in step with the Stripe Customer''s invoice_settings.default_payment_method by a job.';

-- -----------------------------------------------------------------------------
-- A payment method as fetched from Stripe at fetched_at: upserted for the
-- Customer's user while it is attached to that Customer, deactivated once it
-- is not (detached). The user is locked first, so two cards saved at once do
-- not both become the default.
-- event_id null: applied by a function right after its own Stripe call.
-- -----------------------------------------------------------------------------
create function app.stripe_apply_payment_method(event_id text, method jsonb, fetched_at timestamptz, attempts integer)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  ev public.inbound_webhook_events;
  owner_id uuid;
  row_id uuid;
  pm_id text := method ->> 'id';
  outcome text := 'applied';
  card jsonb := method -> 'card';
  kind text := method ->> 'type';
  active boolean;
  default_id uuid;
begin
  if coalesce(pm_id, '') !~ '^pm_[A-Za-z0-9_]+$' then
    raise invalid_parameter_value using message = 'a Stripe payment method id starts with pm_';
  end if;
  if event_id is not null then
    ev := app.stripe_event_to_process(event_id);
    if ev.id is null then
      return jsonb_build_object('outcome', 'duplicate');
    end if;
  end if;
  if jsonb_typeof(card) is distinct from 'object' then
    card := '{}';
  end if;
  if kind is null or kind not in ('card', 'sepa_debit', 'us_bank_account', 'bacs_debit', 'link', 'paypal') then
    kind := 'other';
  end if;

  -- The user whose Stripe Customer holds it now, else the user it was mirrored for.
  select u.id into owner_id from public.users u
   where u.stripe_customer_id = method ->> 'customer' and method ->> 'customer' is not null;
  active := owner_id is not null;
  if owner_id is null then
    select m.user_id into owner_id from public.payment_methods m where m.stripe_payment_method_id = pm_id;
  end if;
  if owner_id is null then
    outcome := 'ignored';  -- a card Loconomy never mirrored, not on a Loconomy customer
  else
    perform 1 from public.users u where u.id = owner_id for update;
    if active then
      insert into public.payment_methods as m
        (user_id, stripe_payment_method_id, type, card_brand, card_last4, card_exp_month, card_exp_year,
         billing_address, is_active, stripe_synced_at)
      values (owner_id, pm_id, kind, card ->> 'brand', card ->> 'last4', (card ->> 'exp_month')::smallint,
              (card ->> 'exp_year')::smallint, nullif(method -> 'billing_details' -> 'address', 'null'::jsonb), true,
              fetched_at)
      on conflict (stripe_payment_method_id) do update
        set user_id = excluded.user_id, type = excluded.type, card_brand = excluded.card_brand,
            card_last4 = excluded.card_last4, card_exp_month = excluded.card_exp_month,
            card_exp_year = excluded.card_exp_year, billing_address = excluded.billing_address,
            is_active = true, stripe_synced_at = excluded.stripe_synced_at
        where m.stripe_synced_at is null or m.stripe_synced_at <= excluded.stripe_synced_at
      returning m.id into row_id;
    else
      update public.payment_methods m
         set is_active = false, is_default = false, stripe_synced_at = fetched_at
       where m.stripe_payment_method_id = pm_id
         and (m.stripe_synced_at is null or m.stripe_synced_at <= fetched_at)
      returning m.id into row_id;
    end if;
    if row_id is null then
      outcome := 'stale';  -- a newer fetch was applied already
    end if;
    -- One default while the user has an active card: the first one saved, or after the
    -- default was removed, the newest left.
    if not exists (select 1 from public.payment_methods m where m.user_id = owner_id and m.is_default and m.is_active) then
      update public.payment_methods m set is_default = true
       where m.id = (select x.id from public.payment_methods x where x.user_id = owner_id and x.is_active
                      order by x.created_at desc, x.id desc limit 1);
    end if;
    select m.id into default_id from public.payment_methods m where m.user_id = owner_id and m.is_default and m.is_active;
  end if;
  if event_id is not null then
    perform app.stripe_finish_event(event_id, outcome, attempts);
  end if;
  return jsonb_build_object('outcome', outcome, 'user_id', owner_id, 'active', active,
                            'payment_method_id', (select m.id from public.payment_methods m where m.stripe_payment_method_id = pm_id),
                            'default_payment_method_id', default_id);
end $$;
comment on function app.stripe_apply_payment_method(text, jsonb, timestamptz, integer) is 'For the Stripe event job and the card functions (service_role): mirrors a payment method as fetched from Stripe at fetched_at into payment_methods — upserted for the user whose Customer holds it, deactivated once detached, an older fetch not applied — keeps one default while the user has an active card, and marks the event processed.';

-- -----------------------------------------------------------------------------
-- The card functions, as the caller: who they are and their Stripe Customer.
-- -----------------------------------------------------------------------------
create function app.stripe_card_owner()
returns table (user_id uuid, tenant_id uuid, payment_mode public.payment_mode, stripe_customer_id text,
               saved_cards integer)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select u.id, u.tenant_id, t.payment_mode, u.stripe_customer_id,
         (select count(*)::integer from public.payment_methods m where m.user_id = u.id)
    from public.users u
    join public.tenants t on t.id = u.tenant_id
   where u.id = app.current_user_id()
$$;
comment on function app.stripe_card_owner() is 'For the saved-card functions, as the caller: their user and tenant, the tenant''s payment mode, their Stripe Customer and how many cards were ever mirrored for them. No row without a user.';

-- -----------------------------------------------------------------------------
-- The default card at Stripe follows the local one. Any change of a user's
-- default or of a card's activity enqueues one job per user (job_key); the job
-- reads the state when it runs, so a burst of changes makes one call.
-- -----------------------------------------------------------------------------
create function app.payment_methods_sync_default() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  customer text;
begin
  if new.stripe_payment_method_id is null
     or (tg_op = 'INSERT' and not new.is_default)
     or (tg_op = 'UPDATE' and old.is_default = new.is_default and old.is_active = new.is_active) then
    return null;
  end if;
  select u.stripe_customer_id into customer from public.users u where u.id = new.user_id;
  if customer is null then
    return null;
  end if;
  if to_regnamespace('graphile_worker') is null then
    raise sqlstate 'PT503' using message = 'the job queue is not installed: the default card cannot be set at Stripe',
      hint = 'Start `serve` or `worker` once (they install the queue) before taking Stripe payments.';
  end if;
  perform graphile_worker.add_job('stripe.sync_default_payment_method', json_build_object('user_id', new.user_id),
    queue_name => 'stripe:' || (hashtext(customer) & 15), max_attempts => 25,
    job_key => 'stripe:default-payment-method:' || new.user_id);
  return null;
end $$;
comment on function app.payment_methods_sync_default() is 'AFTER INSERT (a default) or UPDATE OF is_default, is_active (changed) on payment_methods (Stripe cards): enqueues stripe.sync_default_payment_method for the user, which sets the Customer''s invoice_settings.default_payment_method to the local default.';
revoke execute on function app.payment_methods_sync_default() from public;
create trigger payment_methods_sync_default after insert or update of is_default, is_active on public.payment_methods
  for each row execute function app.payment_methods_sync_default();

-- What the sync job sends: the Customer, its default card (null: none) and the
-- time of the user's last change, which names the request (its idempotency key).
create function app.stripe_default_payment_method(user_id uuid)
returns table (stripe_customer_id text, stripe_payment_method_id text, changed_at text)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select u.stripe_customer_id,
         (select m.stripe_payment_method_id from public.payment_methods m
           where m.user_id = u.id and m.is_default and m.is_active),
         (select to_char(max(m.updated_at) at time zone 'UTC', 'YYYYMMDD"T"HH24MISS.US')
            from public.payment_methods m where m.user_id = u.id)
    from public.users u
   where u.id = stripe_default_payment_method.user_id and u.stripe_customer_id is not null
$$;
comment on function app.stripe_default_payment_method(uuid) is 'For stripe.sync_default_payment_method (service_role): the user''s Stripe Customer, the Stripe id of their active default card (null for none) and when their cards last changed.';

-- -----------------------------------------------------------------------------
-- Off-session authorisation of a requested booking (opt-in per marketplace):
-- the payment's insert (made with the booking, 0040) enqueues the job in the
-- booking's transaction when the customer has an active default card.
-- -----------------------------------------------------------------------------
create function app.payments_authorise_default_card() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if new.method::text <> 'stripe' or new.status::text <> 'requires_payment' then
    return null;
  end if;
  if not exists (select 1 from public.tenants t where t.id = new.tenant_id and t.stripe_authorise_default_card)
     or not exists (select 1 from public.payment_methods m
                     where m.user_id = new.customer_id and m.is_default and m.is_active
                       and m.stripe_payment_method_id is not null) then
    return null;
  end if;
  if to_regnamespace('graphile_worker') is null then
    raise sqlstate 'PT503' using message = 'the job queue is not installed: the default card cannot be authorised',
      hint = 'Start `serve` or `worker` once (they install the queue) before taking Stripe payments.';
  end if;
  -- The booking's serial queue: the PaymentIntent does not exist yet.
  perform graphile_worker.add_job('stripe.authorise_default_card', json_build_object('payment_id', new.id),
    queue_name => 'stripe:' || (hashtext(new.booking_id::text) & 15), max_attempts => 25,
    job_key => 'stripe:authorise:' || new.id);
  return null;
end $$;
comment on function app.payments_authorise_default_card() is 'AFTER INSERT on payments: in a marketplace with stripe_authorise_default_card, a stripe payment whose customer has an active default card enqueues stripe.authorise_default_card (off-session authorisation) in the booking''s transaction.';
revoke execute on function app.payments_authorise_default_card() from public;
create trigger payments_authorise_default_card after insert on public.payments
  for each row execute function app.payments_authorise_default_card();

-- What the off-session job needs: the same as stripe_booking_payer (0042) for a
-- payment, not as its customer, with the customer's default card now.
create function app.stripe_default_card_payer(payment_id uuid)
returns table (booking_id uuid, booking_status public.booking_status, tenant_id uuid, customer_id uuid,
               payment_id uuid, method public.payment_mode, payment_status public.booking_payment_status,
               currency text, amount_cents bigint, application_fee_cents bigint,
               stripe_payment_intent_id text, stripe_customer_id text,
               destination text, charges_enabled boolean, default_card text)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select b.id, b.status, b.tenant_id, b.customer_id, p.id, p.method, p.status, p.currency::text, p.amount_cents,
         p.application_fee_cents, p.stripe_payment_intent_id, u.stripe_customer_id,
         a.stripe_account_id, coalesce(a.charges_enabled, false),
         (select m.stripe_payment_method_id from public.payment_methods m
           where m.user_id = b.customer_id and m.is_default and m.is_active)
    from public.payments p
    join public.bookings b on b.id = p.booking_id
    join public.users u on u.id = b.customer_id
    left join public.payout_accounts a on a.user_id = b.provider_id
   where p.id = stripe_default_card_payer.payment_id
$$;
comment on function app.stripe_default_card_payer(uuid) is 'For stripe.authorise_default_card (service_role): the payment''s booking, the customer''s Stripe Customer and default card, the provider''s Connect account.';

-- A declined off-session authorisation: the payment fails with Stripe's code
-- (forward moves only, as for the events) and the customer is asked, once per
-- payment, to pay on-session through stripe-booking-payment.
create function app.stripe_off_session_declined(payment_id uuid, intent jsonb) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  applied jsonb := app.stripe_apply_payment_intent(null, intent, 0);
  p public.payments;
  code text := coalesce(intent -> 'last_payment_error' ->> 'decline_code', intent -> 'last_payment_error' ->> 'code');
  notified uuid;
begin
  select * into p from public.payments x where x.id = stripe_off_session_declined.payment_id;
  if p.id is null or p.status::text <> 'failed' then
    return applied;
  end if;
  if not exists (select 1 from public.notifications n
                  where n.user_id = p.customer_id and n.type::text = 'payment_failed'
                    and n.data ->> 'payment_id' = p.id::text) then
    notified := app.notify(
      p.customer_id, 'payment_failed'::text::public.notification_type,
      case when code = 'authentication_required' then 'Your bank wants to confirm your payment'
           else 'Your card was declined' end,
      case when code = 'authentication_required'
           then 'Open the booking to confirm the payment with your bank.'
           else 'Open the booking to pay with another card.' end,
      jsonb_build_object('booking_id', p.booking_id, 'payment_id', p.id, 'code', code,
                         'pay_with', 'stripe-booking-payment'),
      null, null);
  end if;
  return applied || jsonb_build_object('notification_id', notified);
end $$;
comment on function app.stripe_off_session_declined(uuid, jsonb) is 'For stripe.authorise_default_card (service_role): applies a PaymentIntent declined off-session (the payment fails with Stripe''s code) and notifies the customer once per payment (payment_failed, data.code, data.booking_id) to pay on-session.';

revoke execute on function app.stripe_apply_payment_method(text, jsonb, timestamptz, integer), app.stripe_card_owner(),
  app.stripe_default_payment_method(uuid), app.stripe_default_card_payer(uuid),
  app.stripe_off_session_declined(uuid, jsonb) from public;
grant execute on function app.stripe_card_owner() to authenticated;
grant execute on function app.stripe_apply_payment_method(text, jsonb, timestamptz, integer),
  app.stripe_default_payment_method(uuid), app.stripe_default_card_payer(uuid),
  app.stripe_off_session_declined(uuid, jsonb) to service_role;
