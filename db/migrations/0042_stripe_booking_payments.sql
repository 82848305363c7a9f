-- =============================================================================
-- 0042 stripe booking payments: a stripe-mode booking's payment goes through a
-- PaymentIntent (issue 13 items 2 and 5, decision 0023 "Slice 2").
--
-- * The customer asks for it (the stripe-booking-payment function): the server
--   creates the PaymentIntent (manual capture, destination charge) and records
--   its id here (app.stripe_payment_intent_for / _attach).
-- * Stripe's payment_intent.* events, re-fetched, move the payment through the
--   movement functions of 0040 (app.stripe_apply_payment_intent): held →
--   authorised, declined → failed, canceled → voided.
-- * The booking's later moves enqueue, in the booking's transaction, a job that
--   captures (all, or the part a cancellation keeps) or cancels the
--   PaymentIntent (app.bookings_stripe_jobs); the job records Stripe's answer
--   through app.payment_capture / app.payment_void; captured money goes back
--   through a refund job, and refunds reported by Stripe are recorded once by
--   their id (app.stripe_apply_refunds).
-- =============================================================================

-- -----------------------------------------------------------------------------
-- What the stripe-booking-payment function needs, for the booking's customer
-- only (no row for anyone else: the function answers 404).
-- -----------------------------------------------------------------------------
create function app.stripe_booking_payer(booking_id uuid)
returns table (booking_id uuid, booking_status public.booking_status, tenant_id uuid, customer_id uuid,
               payment_id uuid, method public.payment_mode, payment_status public.booking_payment_status,
               currency text, amount_cents bigint, application_fee_cents bigint,
               stripe_payment_intent_id text, stripe_customer_id text,
               destination text, charges_enabled boolean)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select b.id, b.status, b.tenant_id, b.customer_id, p.id, p.method, p.status, p.currency::text, p.amount_cents,
         p.application_fee_cents, p.stripe_payment_intent_id, u.stripe_customer_id,
         a.stripe_account_id, coalesce(a.charges_enabled, false)
    from public.bookings b
    join public.payments p on p.booking_id = b.id
    join public.users u on u.id = b.customer_id
    left join public.payout_accounts a on a.user_id = b.provider_id
   where b.id = stripe_booking_payer.booking_id
     and b.customer_id = app.current_user_id()
$$;
comment on function app.stripe_booking_payer(uuid) is 'For the stripe-booking-payment function, as the caller: the booking''s payment, the customer''s Stripe customer and the provider''s Connect account — only when the caller is the booking''s customer (no row otherwise).';

-- The customer's Stripe Customer, stored once; returns the one kept.
create function app.stripe_link_customer(user_id uuid, stripe_customer_id text) returns text
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  kept text;
begin
  if stripe_link_customer.stripe_customer_id !~ '^cus_[A-Za-z0-9]+$' then
    raise invalid_parameter_value using message = 'a Stripe customer id starts with cus_';
  end if;
  update public.users u set stripe_customer_id = stripe_link_customer.stripe_customer_id
   where u.id = stripe_link_customer.user_id and u.stripe_customer_id is null;
  select u.stripe_customer_id into kept from public.users u where u.id = stripe_link_customer.user_id;
  return kept;
end $$;
comment on function app.stripe_link_customer(uuid, text) is 'For the booking payment function (service_role): stores the Stripe Customer created for a user, once; returns the id kept.';

-- The PaymentIntent made for a payment, recorded once before anything is
-- authorised (the movement functions record it again on authorise).
create function app.stripe_attach_payment_intent(payment_id uuid, stripe_payment_intent_id text) returns text
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.payments := app.payment_for_update(stripe_attach_payment_intent.payment_id);
begin
  if p.method::text <> 'stripe' then
    raise sqlstate 'PT409' using message = format('payment %s is not a stripe payment', p.id);
  end if;
  if p.stripe_payment_intent_id is null then
    update public.payments x set stripe_payment_intent_id = stripe_attach_payment_intent.stripe_payment_intent_id
     where x.id = p.id;
    return stripe_attach_payment_intent.stripe_payment_intent_id;
  end if;
  return p.stripe_payment_intent_id;
end $$;
comment on function app.stripe_attach_payment_intent(uuid, text) is 'For the booking payment function (service_role): records the PaymentIntent of a stripe payment, once; returns the one kept.';

-- -----------------------------------------------------------------------------
-- payment_intent.* events: the PaymentIntent as fetched from Stripe moves the
-- payment. Only forward moves are applied (requires_payment/failed →
-- authorised or failed, not yet captured → voided), so a stale fetch or a late
-- event cannot undo a later state; the movement functions are idempotent.
-- event_id null: applied right after the function's own confirmation.
-- -----------------------------------------------------------------------------
create function app.stripe_apply_payment_intent(event_id text, intent jsonb, attempts integer) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  ev public.inbound_webhook_events;
  p public.payments;
  outcome text := 'applied';
  moved text := null;
  pi_status text := intent ->> 'status';
begin
  if event_id is not null then
    ev := app.stripe_event_to_process(event_id);
    if ev.id is null then
      return jsonb_build_object('outcome', 'duplicate');
    end if;
  end if;
  select * into p from public.payments x where x.stripe_payment_intent_id = intent ->> 'id' for update;
  if p.id is null then
    outcome := 'ignored';  -- a PaymentIntent Loconomy did not make (or its booking is gone)
  elsif pi_status = 'requires_capture' and p.status::text in ('requires_payment', 'failed') then
    p := app.payment_authorise(p.id, p.stripe_payment_intent_id);
    moved := 'authorised';
  elsif pi_status = 'requires_payment_method' and intent -> 'last_payment_error' is not null
        and jsonb_typeof(intent -> 'last_payment_error') = 'object' and p.status::text = 'requires_payment' then
    p := app.payment_fail(p.id, coalesce(intent -> 'last_payment_error' ->> 'decline_code',
                                         intent -> 'last_payment_error' ->> 'code'),
                          intent -> 'last_payment_error' ->> 'message');
    moved := 'failed';
  elsif pi_status = 'canceled' and p.status::text in ('requires_payment', 'authorised', 'failed') then
    p := app.payment_void(p.id);
    moved := 'voided';
  end if;
  if event_id is not null then
    perform app.stripe_finish_event(event_id, outcome, attempts);
  end if;
  return jsonb_build_object('outcome', outcome, 'moved', moved, 'payment_id', p.id, 'status', p.status);
end $$;
comment on function app.stripe_apply_payment_intent(text, jsonb, integer) is 'For the Stripe event job (and the booking payment function, event_id null): applies a PaymentIntent as fetched from Stripe to its payment — requires_capture → authorised, a declined requires_payment_method → failed, canceled → voided; forward moves only — and marks the event processed.';

-- -----------------------------------------------------------------------------
-- The booking's moves call Stripe through jobs enqueued in its transaction
-- (decision 0020): a rolled-back change calls nobody. One job per payment and
-- operation (job_key); the payload fixes what to capture, so a retry repeats
-- the same request under the same idempotency key.
-- -----------------------------------------------------------------------------
create function app.bookings_stripe_jobs() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.payments;
  kept bigint;
  queue text;
begin
  select * into p from public.payments x where x.booking_id = new.id;
  if p.id is null or p.method::text <> 'stripe' then
    return null;
  end if;
  if p.stripe_payment_intent_id is null then
    -- Nothing at Stripe yet: the payment is voided here when the booking ends unpaid.
    if new.status::text in ('cancelled', 'declined', 'expired') and p.status::text in ('requires_payment', 'failed') then
      perform app.payment_void(p.id);
    end if;
    return null;
  end if;
  if to_regnamespace('graphile_worker') is null then
    raise sqlstate 'PT503' using message = 'the job queue is not installed: a stripe payment cannot be captured or cancelled',
      hint = 'Start `serve` or `worker` once (they install the queue) before taking Stripe payments.';
  end if;
  -- The PaymentIntent's events share this queue (app.stripe_record_event hashes the object id the same way).
  queue := 'stripe:' || (hashtext(p.stripe_payment_intent_id) & 15);
  case
    when new.status::text in ('completed', 'no_show') and p.status::text = 'authorised' then
      perform graphile_worker.add_job('stripe.capture_payment',
        json_build_object('payment_id', p.id, 'amount_cents', p.authorised_cents,
                          'application_fee_cents', p.application_fee_cents),
        queue_name => queue, max_attempts => 25, job_key => 'stripe:capture:' || p.id);
    when new.status::text = 'cancelled' and p.status::text = 'authorised' then
      kept := p.authorised_cents - least(coalesce(new.refund_cents, p.authorised_cents), p.authorised_cents);
      if kept > 0 then
        perform graphile_worker.add_job('stripe.capture_payment',
          json_build_object('payment_id', p.id, 'amount_cents', kept,
                            'application_fee_cents', app.prorate(p.application_fee_cents, kept, p.amount_cents)),
          queue_name => queue, max_attempts => 25, job_key => 'stripe:capture:' || p.id);
      else
        perform graphile_worker.add_job('stripe.cancel_payment', json_build_object('payment_id', p.id),
          queue_name => queue, max_attempts => 25, job_key => 'stripe:cancel:' || p.id);
      end if;
    when new.status::text in ('cancelled', 'declined', 'expired') and p.status::text in ('requires_payment', 'failed') then
      perform graphile_worker.add_job('stripe.cancel_payment', json_build_object('payment_id', p.id),
        queue_name => queue, max_attempts => 25, job_key => 'stripe:cancel:' || p.id);
    when new.status::text in ('declined', 'expired') and p.status::text = 'authorised' then
      perform graphile_worker.add_job('stripe.cancel_payment', json_build_object('payment_id', p.id),
        queue_name => queue, max_attempts => 25, job_key => 'stripe:cancel:' || p.id);
    -- Captured money goes back through a refund: a cancellation's refund_cents, or what remains
    -- when a manager refunds the booking. The reason names the refund (one of each per booking).
    when new.status::text = 'cancelled' and p.status::text in ('captured', 'partially_refunded')
         and coalesce(new.refund_cents, 0) > 0 and p.captured_cents > p.refunded_cents then
      perform graphile_worker.add_job('stripe.refund_payment',
        json_build_object('payment_id', p.id, 'amount_cents', least(new.refund_cents, p.captured_cents - p.refunded_cents),
                          'reason', 'cancellation'),
        queue_name => queue, max_attempts => 25, job_key => 'stripe:refund:' || p.id || ':cancellation');
    when new.status::text = 'refunded' and p.status::text in ('captured', 'partially_refunded')
         and p.captured_cents > p.refunded_cents then
      perform graphile_worker.add_job('stripe.refund_payment',
        json_build_object('payment_id', p.id, 'amount_cents', p.captured_cents - p.refunded_cents,
                          'reason', 'booking_refunded'),
        queue_name => queue, max_attempts => 25, job_key => 'stripe:refund:' || p.id || ':booking_refunded');
    else
      null;
  end case;
  return null;
end $$;
comment on function app.bookings_stripe_jobs() is 'AFTER UPDATE OF status on bookings, stripe payments: completion or no-show enqueues stripe.capture_payment (all), a cancellation of an authorised payment captures the part its policy keeps (fee in proportion) or cancels, decline/expiry/unpaid cancellation enqueues stripe.cancel_payment, a cancellation or a manager''s refund of captured money enqueues stripe.refund_payment; a payment with no PaymentIntent is voided at once.';
revoke execute on function app.bookings_stripe_jobs() from public;
create trigger bookings_stripe_jobs after update of status on public.bookings
  for each row when (old.status is distinct from new.status) execute function app.bookings_stripe_jobs();

-- -----------------------------------------------------------------------------
-- Refunds, as Stripe has them (the refund job's answer, refund.* and
-- charge.refunded events, a refund made in the dashboard): each succeeded
-- refund of a payment's PaymentIntent recorded once, keyed by its re_ id.
-- Pending refunds wait for their refund.updated; failed ones move nothing.
-- -----------------------------------------------------------------------------
create function app.stripe_apply_refunds(event_id text, refunds jsonb, attempts integer) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  ev public.inbound_webhook_events;
  r jsonb;
  p public.payments;
  recorded text[] := '{}';
  outcome text := 'ignored';
begin
  if event_id is not null then
    ev := app.stripe_event_to_process(event_id);
    if ev.id is null then
      return jsonb_build_object('outcome', 'duplicate');
    end if;
  end if;
  for r in select * from jsonb_array_elements(coalesce(refunds, '[]')) loop
    select * into p from public.payments x where x.stripe_payment_intent_id = r ->> 'payment_intent';
    continue when p.id is null;  -- a refund of a charge Loconomy did not make
    outcome := 'applied';
    continue when r ->> 'status' is distinct from 'succeeded';
    p := app.payment_refund(p.id, (r ->> 'amount')::bigint, r ->> 'id', r ->> 'id',
                            metadata => jsonb_build_object('reason', coalesce(r -> 'metadata' ->> 'reason', 'stripe')));
    recorded := recorded || (r ->> 'id');
  end loop;
  if event_id is not null then
    perform app.stripe_finish_event(event_id, outcome, attempts);
  end if;
  return jsonb_build_object('outcome', outcome, 'refunds', to_jsonb(recorded), 'status', p.status);
end $$;
comment on function app.stripe_apply_refunds(text, jsonb, integer) is 'For the refund job and the refund.* / charge.refunded events (service_role): records each succeeded refund (as fetched from Stripe) of a Loconomy PaymentIntent once, keyed by the refund id (app.payment_refund prorates the fee refunded and the transfer reversed), and marks the event processed.';

-- What a capture, cancel or refund job needs of its payment.
create function app.stripe_payment_for_job(payment_id uuid)
returns table (payment_id uuid, booking_id uuid, status public.booking_payment_status, stripe_payment_intent_id text)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select p.id, p.booking_id, p.status, p.stripe_payment_intent_id from public.payments p
   where p.id = stripe_payment_for_job.payment_id
$$;

revoke execute on function app.stripe_booking_payer(uuid), app.stripe_link_customer(uuid, text),
  app.stripe_attach_payment_intent(uuid, text), app.stripe_apply_payment_intent(text, jsonb, integer),
  app.stripe_payment_for_job(uuid), app.stripe_apply_refunds(text, jsonb, integer) from public;
grant execute on function app.stripe_booking_payer(uuid) to authenticated;
grant execute on function app.stripe_link_customer(uuid, text), app.stripe_attach_payment_intent(uuid, text),
  app.stripe_apply_payment_intent(text, jsonb, integer), app.stripe_payment_for_job(uuid),
  app.stripe_apply_refunds(text, jsonb, integer) to service_role;
