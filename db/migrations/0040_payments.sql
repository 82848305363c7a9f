-- =============================================================================
-- 0040 payments: each booking's payment, the movements of its money, and the
-- ledger they write (issue 13, decisions 0023 and 0024).
--
-- * public.payments: one row per booking, created with it (a trigger on
--   bookings), holding what was authorised, captured, refunded and reversed,
--   and the Stripe ids the next slice fills in.
-- * Movements (authorise, capture, refund, void, fail) are SECURITY DEFINER
--   functions in `app`, for trusted code only; each locks its payment, checks
--   the state machine and is idempotent, so a job that runs twice moves money
--   once. Every movement of money writes its rows of public.transactions once
--   (transactions.idempotency_key is unique).
-- * The booking workflow drives them (app.bookings_move_money): in an offline
--   marketplace confirmation authorises, completion captures and cancellation
--   applies the policy's refund. In a stripe marketplace the payment waits in
--   requires_payment for the Stripe jobs of the next slice.
-- * Offline payouts (record_payout, payments.manage) and two reports that add
--   up: provider_balances() and payments_report().
--
-- New enum values cannot be used in the transaction that adds them: 'transfer'
-- and 'transfer_reversal' appear only inside PL/pgSQL bodies and as text.
-- =============================================================================

alter type public.transaction_type add value if not exists 'transfer';
alter type public.transaction_type add value if not exists 'transfer_reversal';

-- -----------------------------------------------------------------------------
-- The ledger: which payment a row belongs to, and its movement key.
-- -----------------------------------------------------------------------------
create type public.booking_payment_status as enum (
  'requires_payment', 'authorised', 'captured', 'partially_refunded', 'refunded', 'voided', 'failed');
comment on type public.booking_payment_status is 'A booking payment''s state: requires_payment → authorised → captured → partially_refunded → refunded; requires_payment or authorised → voided (nothing taken) or failed (failed → authorised on a retry). Decision 0024.';

create table public.payments (
  id                              uuid primary key default gen_random_uuid(),
  -- A booking whose money moved cannot be deleted (its ledger rows point at it and at this
  -- payment); one that never took money goes with its payment. The parties stay (NO ACTION),
  -- as on bookings and transactions.
  booking_id                      uuid not null unique references public.bookings (id) on delete cascade,
  tenant_id                       uuid not null references public.tenants (id) on delete cascade,
  customer_id                     uuid not null references public.users (id),
  provider_id                     uuid not null references public.users (id),
  method                          public.payment_mode not null,
  status                          public.booking_payment_status not null default 'requires_payment',
  currency                        public.currency_code not null,
  amount_cents                    public.cents not null,
  application_fee_cents           public.cents not null,
  provider_amount_cents           public.cents not null,
  credit_shortfall_cents          public.cents not null default 0,
  authorised_cents                public.cents not null default 0,
  captured_cents                  public.cents not null default 0,
  captured_fee_cents              public.cents not null default 0,
  processing_fee_cents            public.cents not null default 0,
  refunded_cents                  public.cents not null default 0,
  application_fee_refunded_cents  public.cents not null default 0,
  transfer_reversed_cents         public.cents not null default 0,
  stripe_payment_intent_id        text unique check (stripe_payment_intent_id ~ '^pi_[A-Za-z0-9_]+$'),
  stripe_charge_id                text unique check (stripe_charge_id ~ '^(ch|py)_[A-Za-z0-9_]+$'),
  stripe_transfer_id              text unique check (stripe_transfer_id ~ '^tr_[A-Za-z0-9_]+$'),
  failure_code                    text check (length(failure_code) <= 100),
  failure_message                 text check (length(failure_message) <= 1000),
  authorised_at                   timestamptz,
  capture_before                  timestamptz,
  captured_at                     timestamptz,
  voided_at                       timestamptz,
  failed_at                       timestamptz,
  refunded_at                     timestamptz,
  created_at                      timestamptz not null default now(),
  updated_at                      timestamptz not null default now(),
  check (application_fee_cents + provider_amount_cents = amount_cents),
  check (authorised_cents <= amount_cents),
  check (captured_cents <= authorised_cents),
  check (captured_fee_cents <= captured_cents and captured_fee_cents <= application_fee_cents),
  check (processing_fee_cents <= captured_cents - captured_fee_cents),
  check (refunded_cents <= captured_cents),
  check (application_fee_refunded_cents + transfer_reversed_cents = refunded_cents),
  check (application_fee_refunded_cents <= captured_fee_cents),
  check (transfer_reversed_cents <= captured_cents - captured_fee_cents),
  check (status not in ('authorised', 'captured', 'partially_refunded', 'refunded') or authorised_at is not null),
  check (status not in ('captured', 'partially_refunded', 'refunded') or (captured_at is not null and captured_cents > 0)),
  check ((status = 'refunded') = (captured_cents > 0 and refunded_cents = captured_cents)),
  check ((status = 'partially_refunded') = (refunded_cents > 0 and refunded_cents < captured_cents))
);
comment on table public.payments is 'A booking''s payment (one per booking, created with it): the amount and how it splits between the platform and the provider, what was authorised, captured, refunded and reversed, and the Stripe ids. Written only by the movement functions (app.payment_authorise, _capture, _refund, _void, _fail); each movement of money is in transactions. Decision 0024.';
comment on column public.payments.method is 'offline (cash or invoice, recorded) or stripe, from the marketplace''s payment_mode when the booking was made.';
comment on column public.payments.amount_cents is 'The booking''s total (after referral credit), in minor units of currency.';
comment on column public.payments.application_fee_cents is 'The platform''s share of the whole amount: total − provider payout (service fee + tax + commission − credit), never below 0.';
comment on column public.payments.provider_amount_cents is 'The provider''s share of the whole amount: amount − application fee (the payout, capped at the amount).';
comment on column public.payments.credit_shortfall_cents is 'When referral credit brings the total below the provider''s payout, the difference: the platform owes it to the provider; not moved by this slice (decision 0024).';
comment on column public.payments.captured_fee_cents is 'The application fee on the captured amount (proportional when a cancellation captures only the part its policy keeps).';
comment on column public.payments.processing_fee_cents is 'What the processor kept on the capture (Stripe''s fee, borne by the platform); 0 offline.';
comment on column public.payments.capture_before is 'Stripe: when the authorisation is captured at the latest (6 days after it was made); null offline.';

create index payments_tenant_status_idx on public.payments (tenant_id, status, created_at desc);
create index payments_customer_id_idx on public.payments (customer_id, created_at desc);
create index payments_provider_id_idx on public.payments (provider_id, created_at desc);
create index payments_capture_due_idx on public.payments (capture_before) where status = 'authorised' and capture_before is not null;

create trigger payments_set_updated_at before update on public.payments
  for each row execute function app.set_updated_at();
create trigger payments_audit after insert or update or delete on public.payments
  for each row execute function app.audit_row();

alter table public.payments enable row level security;
-- No client-secret column: the Stripe slice hands a PaymentIntent's client_secret to the
-- customer in its own response, so nothing here is private to the customer.
grant select on public.payments to authenticated;
grant all on public.payments to service_role;

create policy "Customers can read the payments of their bookings" on public.payments
  for select to authenticated using (customer_id = (select app.current_user_id()));
create policy "Providers can read the payments of their bookings" on public.payments
  for select to authenticated using (provider_id = (select app.current_user_id()));
create policy "Billing admins can read payments of their tenant" on public.payments
  for select to authenticated
  using ((select app.has_permission('payments.read')) and tenant_id = (select app.current_tenant_id()));

insert into app.personal_data (table_name, column_name, on_erasure, reason) values
  ('payments', 'customer_id', 'keep', 'financial record: what the customer paid and was refunded (tax and accounting law)'),
  ('payments', 'provider_id', 'keep', 'financial record: what the provider earned for the booking');

alter table public.transactions
  add column payment_id uuid references public.payments (id),
  add column idempotency_key text unique check (length(idempotency_key) between 1 and 300);
comment on column public.transactions.payment_id is 'The booking payment this movement belongs to (payment, transfer, refund, transfer_reversal rows).';
comment on column public.transactions.idempotency_key is 'The movement''s key (payment:<id>:capture, payment:<id>:refund:<key>, payout:<provider>:<key> …): each movement is written once.';
comment on column public.transactions.type is 'payment: the customer''s captured payment (platform_fee_cents = application fee, processing_fee_cents = processor fee); transfer: the provider''s share of it; refund: money back to the customer (platform_fee_cents = application fee refunded); transfer_reversal: the provider''s share taken back by a refund; payout: money paid to the provider.';
create index transactions_payment_id_idx on public.transactions (payment_id) where payment_id is not null;

-- -----------------------------------------------------------------------------
-- Who may record payouts.
-- -----------------------------------------------------------------------------
insert into public.permissions (name, resource, action, description)
values ('payments.manage', 'payments', 'manage', 'Record offline payouts to providers')
on conflict (name) do nothing;
insert into public.role_permissions (role, permission_id, granted)
select r.role::public.user_role, p.id, true
  from (values ('admin'), ('super_admin')) r(role) join public.permissions p on p.name = 'payments.manage'
on conflict (role, permission_id) do nothing;

-- -----------------------------------------------------------------------------
-- Splitting money. Amounts are integer minor units; a part of a whole is
-- prorated half up on the cumulative amount, so the parts of a series of
-- refunds always add up to the amount and a full refund returns exactly the
-- fee and the share that were captured.
-- -----------------------------------------------------------------------------
create function app.prorate(part bigint, numerator bigint, denominator bigint) returns bigint
language sql immutable parallel safe
set search_path = pg_catalog
as $$
  select case when denominator = 0 then 0 else round(part::numeric * numerator / denominator)::bigint end
$$;
comment on function app.prorate(bigint, bigint, bigint) is 'part × numerator / denominator rounded half up (non-negative inputs); 0 when denominator is 0.';
revoke execute on function app.prorate(bigint, bigint, bigint) from public;

-- The payment locked for a movement, or PT404.
create function app.payment_for_update(payment_id uuid) returns public.payments
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.payments;
begin
  select * into p from public.payments x where x.id = payment_for_update.payment_id for update;
  if p.id is null then
    raise sqlstate 'PT404' using message = format('payment %s not found', payment_for_update.payment_id);
  end if;
  return p;
end $$;
revoke execute on function app.payment_for_update(uuid) from public;

-- One ledger row, written once: a second call with the same key writes nothing.
create function app.ledger_write(
  key text, payment public.payments, user_id uuid, kind text, amount bigint, platform_fee bigint,
  processing_fee bigint, description text, metadata jsonb,
  stripe_payment_intent_id text default null, stripe_charge_id text default null,
  stripe_refund_id text default null, stripe_transfer_id text default null)
returns void
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  insert into public.transactions (user_id, tenant_id, booking_id, payment_id, type, status, amount_cents, currency,
                                   platform_fee_cents, processing_fee_cents, description, metadata, idempotency_key,
                                   stripe_payment_intent_id, stripe_charge_id, stripe_refund_id, stripe_transfer_id)
  values (ledger_write.user_id, payment.tenant_id, payment.booking_id, payment.id, kind::public.transaction_type,
          'completed', amount, payment.currency, platform_fee, processing_fee, description,
          jsonb_build_object('method', payment.method) || coalesce(ledger_write.metadata, '{}'), key,
          ledger_write.stripe_payment_intent_id, ledger_write.stripe_charge_id, ledger_write.stripe_refund_id,
          ledger_write.stripe_transfer_id)
  on conflict (idempotency_key) do nothing;
end $$;
revoke execute on function app.ledger_write(text, public.payments, uuid, text, bigint, bigint, bigint, text, jsonb, text, text, text, text) from public;

-- What a booking's money splits into (decision 0023): the platform's share is
-- what the price adds beyond the provider's payout (base − commission).
create function app.payment_split(b public.bookings, out application_fee bigint, out provider_amount bigint, out shortfall bigint)
language sql immutable
set search_path = pg_catalog, public
as $$
  select greatest(b.total_cents - (b.base_price_cents - b.platform_fee_cents), 0),
         least(b.base_price_cents - b.platform_fee_cents, b.total_cents),
         greatest((b.base_price_cents - b.platform_fee_cents) - b.total_cents, 0)
$$;
comment on function app.payment_split(public.bookings) is 'application fee = total − provider payout (never < 0), provider amount = total − fee, and the credit shortfall when credit made the total smaller than the payout.';
revoke execute on function app.payment_split(public.bookings) from public;

-- -----------------------------------------------------------------------------
-- Movements. For trusted code: the booking workflow (offline), the Stripe jobs
-- (with Stripe's ids), service_role. Each returns the payment.
-- -----------------------------------------------------------------------------
create function app.payment_authorise(payment_id uuid, stripe_payment_intent_id text default null,
                                      capture_before timestamptz default null)
returns public.payments
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.payments := app.payment_for_update(payment_authorise.payment_id);
begin
  if p.status::text in ('authorised', 'captured', 'partially_refunded', 'refunded') then
    if payment_authorise.stripe_payment_intent_id is distinct from p.stripe_payment_intent_id
       and payment_authorise.stripe_payment_intent_id is not null then
      raise sqlstate 'PT409' using message = format('payment %s is already authorised by %s', p.id, p.stripe_payment_intent_id);
    end if;
    return p;  -- already done: authorising twice changes nothing
  end if;
  if p.status::text = 'voided' then
    raise sqlstate 'PT409' using message = format('payment %s was voided and cannot be authorised', p.id);
  end if;
  if p.method::text = 'stripe' and payment_authorise.stripe_payment_intent_id is null then
    raise invalid_parameter_value using message = 'a stripe payment is authorised with its PaymentIntent id';
  end if;
  if p.method::text = 'offline' and payment_authorise.stripe_payment_intent_id is not null then
    raise invalid_parameter_value using message = 'an offline payment has no PaymentIntent';
  end if;
  update public.payments x
     set status = 'authorised', authorised_cents = x.amount_cents, authorised_at = now(),
         stripe_payment_intent_id = coalesce(payment_authorise.stripe_payment_intent_id, x.stripe_payment_intent_id),
         capture_before = coalesce(payment_authorise.capture_before,
                                   case when x.method = 'stripe' then now() + interval '6 days' end),
         failure_code = null, failure_message = null
   where x.id = p.id
  returning * into p;
  return p;
end $$;
comment on function app.payment_authorise(uuid, text, timestamptz) is 'requires_payment or failed → authorised for the whole amount (stripe: with the PaymentIntent id; capture_before defaults to 6 days). Idempotent.';

create function app.payment_capture(payment_id uuid, amount_cents bigint default null,
                                    stripe_charge_id text default null, stripe_transfer_id text default null,
                                    processing_fee_cents bigint default 0, application_fee_cents bigint default null)
returns public.payments
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.payments := app.payment_for_update(payment_capture.payment_id);
  amount bigint;
  fee bigint;
  processing bigint := coalesce(payment_capture.processing_fee_cents, 0);
  b public.bookings;
begin
  if p.status::text in ('captured', 'partially_refunded', 'refunded') then
    return p;  -- a payment is captured once: a second capture changes nothing
  end if;
  if p.status::text <> 'authorised' then
    raise sqlstate 'PT409' using message = format('payment %s is %s: only an authorised payment can be captured', p.id, p.status);
  end if;
  amount := coalesce(payment_capture.amount_cents, p.authorised_cents);
  if amount <= 0 or amount > p.authorised_cents then
    raise invalid_parameter_value using
      message = format('a capture of payment %s must be between 1 and %s (what was authorised)', p.id, p.authorised_cents),
      hint = 'To take nothing, void the payment.';
  end if;
  fee := coalesce(payment_capture.application_fee_cents, app.prorate(p.application_fee_cents, amount, p.amount_cents));
  if fee < 0 or fee > amount or fee > p.application_fee_cents then
    raise invalid_parameter_value using message = format('application fee %s is out of range for a capture of %s', fee, amount);
  end if;
  if processing < 0 or processing > amount - fee then
    raise invalid_parameter_value using message = format('processing fee %s is out of range for a capture of %s', processing, amount);
  end if;
  if p.method::text = 'stripe' and payment_capture.stripe_charge_id is null then
    raise invalid_parameter_value using message = 'a stripe capture is recorded with its charge id';
  end if;
  update public.payments x
     set status = 'captured', captured_cents = amount, captured_fee_cents = fee, processing_fee_cents = processing,
         captured_at = now(), stripe_charge_id = payment_capture.stripe_charge_id,
         stripe_transfer_id = payment_capture.stripe_transfer_id
   where x.id = p.id
  returning * into p;
  select * into b from public.bookings x where x.id = p.booking_id;
  perform app.ledger_write(format('payment:%s:capture', p.id), p, p.customer_id, 'payment', amount, fee, processing,
    format('Booking %s: %s', b.confirmation_code, b.service_title),
    jsonb_build_object('authorised_cents', p.authorised_cents, 'released_cents', p.authorised_cents - amount),
    stripe_payment_intent_id => p.stripe_payment_intent_id, stripe_charge_id => p.stripe_charge_id);
  if amount - fee > 0 then
    perform app.ledger_write(format('payment:%s:transfer', p.id), p, p.provider_id, 'transfer', amount - fee, 0, 0,
      format('Your share of booking %s', b.confirmation_code), '{}', stripe_transfer_id => p.stripe_transfer_id);
  end if;
  return p;
end $$;
comment on function app.payment_capture(uuid, bigint, text, text, bigint, bigint) is 'authorised → captured, of amount_cents (default: all that was authorised; less releases the rest) with the application fee in proportion unless given; writes the payment (customer) and transfer (provider) ledger rows. Idempotent: a payment is captured once.';

create function app.payment_refund(payment_id uuid, amount_cents bigint, refund_key text,
                                   stripe_refund_id text default null, application_fee_refunded_cents bigint default null,
                                   transfer_reversed_cents bigint default null, metadata jsonb default '{}')
returns public.payments
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.payments := app.payment_for_update(payment_refund.payment_id);
  key text;
  amount bigint := payment_refund.amount_cents;
  fee bigint;
  reversed bigint;
  b public.bookings;
begin
  if nullif(btrim(payment_refund.refund_key), '') is null or length(payment_refund.refund_key) > 200 then
    raise invalid_parameter_value using message = 'a refund needs a refund_key of 1 to 200 characters',
      hint = 'Stripe: the refund''s id; offline: what the refund is for (e.g. cancellation).';
  end if;
  key := format('payment:%s:refund:%s', p.id, payment_refund.refund_key);
  if exists (select 1 from public.transactions t where t.idempotency_key = key) then
    return p;  -- this refund was recorded already
  end if;
  if p.status::text not in ('captured', 'partially_refunded') then
    raise sqlstate 'PT409' using message = format('payment %s is %s: only captured money can be refunded', p.id, p.status);
  end if;
  if amount is null or amount <= 0 or amount > p.captured_cents - p.refunded_cents then
    raise invalid_parameter_value using
      message = format('a refund of payment %s must be between 1 and %s (captured and not yet refunded)', p.id,
                       p.captured_cents - p.refunded_cents);
  end if;
  if (payment_refund.application_fee_refunded_cents is null) <> (payment_refund.transfer_reversed_cents is null) then
    raise invalid_parameter_value using message = 'give both application_fee_refunded_cents and transfer_reversed_cents, or neither';
  end if;
  fee := coalesce(payment_refund.application_fee_refunded_cents,
                  app.prorate(p.captured_fee_cents, p.refunded_cents + amount, p.captured_cents) - p.application_fee_refunded_cents);
  reversed := coalesce(payment_refund.transfer_reversed_cents, amount - fee);
  if fee < 0 or reversed < 0 or fee + reversed <> amount
     or p.application_fee_refunded_cents + fee > p.captured_fee_cents
     or p.transfer_reversed_cents + reversed > p.captured_cents - p.captured_fee_cents then
    raise invalid_parameter_value using
      message = format('fee refunded %s and transfer reversed %s must add up to %s within what was captured', fee, reversed, amount);
  end if;
  if p.method::text = 'stripe' and payment_refund.stripe_refund_id is null then
    raise invalid_parameter_value using message = 'a stripe refund is recorded with its refund id';
  end if;
  update public.payments x
     set refunded_cents = x.refunded_cents + amount,
         application_fee_refunded_cents = x.application_fee_refunded_cents + fee,
         transfer_reversed_cents = x.transfer_reversed_cents + reversed,
         status = case when x.refunded_cents + amount = x.captured_cents then 'refunded' else 'partially_refunded' end
                    ::public.booking_payment_status,
         refunded_at = now()
   where x.id = p.id
  returning * into p;
  select * into b from public.bookings x where x.id = p.booking_id;
  perform app.ledger_write(key, p, p.customer_id, 'refund', amount, fee, 0,
    format('Refund for booking %s', b.confirmation_code),
    coalesce(payment_refund.metadata, '{}') || jsonb_build_object(
      'refund_key', payment_refund.refund_key, 'application_fee_refunded_cents', fee, 'transfer_reversed_cents', reversed),
    stripe_refund_id => payment_refund.stripe_refund_id);
  if reversed > 0 then
    perform app.ledger_write(format('payment:%s:reversal:%s', p.id, payment_refund.refund_key), p, p.provider_id,
      'transfer_reversal', reversed, 0, 0, format('Refund for booking %s: your share taken back', b.confirmation_code),
      jsonb_build_object('refund_key', payment_refund.refund_key));
  end if;
  -- A payment refunded in full no longer pays for the booking (reviews' "verified").
  if p.status::text = 'refunded' then
    update public.transactions t set status = 'refunded'
     where t.idempotency_key = format('payment:%s:capture', p.id) and t.status = 'completed';
  end if;
  return p;
end $$;
comment on function app.payment_refund(uuid, bigint, text, text, bigint, bigint, jsonb) is 'Refunds amount_cents of captured money, once per refund_key (Stripe: the refund id): the application fee refunded and the transfer reversed in proportion (prorated half up on the cumulative refund; or as Stripe reported them, adding up to the amount). Writes the refund (customer) and transfer_reversal (provider) ledger rows.';

create function app.payment_void(payment_id uuid) returns public.payments
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.payments := app.payment_for_update(payment_void.payment_id);
begin
  if p.status::text = 'voided' then
    return p;
  end if;
  if p.status::text not in ('requires_payment', 'authorised', 'failed') then
    raise sqlstate 'PT409' using message = format('payment %s is %s: captured money is refunded, not voided', p.id, p.status);
  end if;
  update public.payments x set status = 'voided', voided_at = now() where x.id = p.id returning * into p;
  return p;
end $$;
comment on function app.payment_void(uuid) is 'requires_payment, authorised or failed → voided: nothing is taken (the authorisation is released). Idempotent.';

create function app.payment_fail(payment_id uuid, failure_code text default null, failure_message text default null)
returns public.payments
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.payments := app.payment_for_update(payment_fail.payment_id);
begin
  if p.status::text = 'failed' then
    return p;
  end if;
  if p.status::text not in ('requires_payment', 'authorised') then
    raise sqlstate 'PT409' using message = format('payment %s is %s and cannot fail', p.id, p.status);
  end if;
  update public.payments x
     set status = 'failed', failed_at = now(), authorised_cents = 0,
         failure_code = left(payment_fail.failure_code, 100), failure_message = left(payment_fail.failure_message, 1000)
   where x.id = p.id
  returning * into p;
  return p;
end $$;
comment on function app.payment_fail(uuid, text, text) is 'requires_payment or authorised → failed (declined card, lapsed authorisation), with the processor''s code and message. Idempotent; a failed payment can be authorised again.';

revoke execute on function app.payment_authorise(uuid, text, timestamptz), app.payment_capture(uuid, bigint, text, text, bigint, bigint),
  app.payment_refund(uuid, bigint, text, text, bigint, bigint, jsonb), app.payment_void(uuid),
  app.payment_fail(uuid, text, text) from public;
grant execute on function app.payment_authorise(uuid, text, timestamptz), app.payment_capture(uuid, bigint, text, text, bigint, bigint),
  app.payment_refund(uuid, bigint, text, text, bigint, bigint, jsonb), app.payment_void(uuid),
  app.payment_fail(uuid, text, text) to service_role;

-- -----------------------------------------------------------------------------
-- The booking workflow moves the money. AFTER INSERT OR UPDATE on bookings:
-- a new booking gets its payment; in an offline marketplace confirmation
-- authorises, completion (or a no-show) captures, a cancellation applies
-- refund_cents (captured: refunded; authorised: the kept part captured, the
-- rest released), decline and expiry void, and a manager's refund returns what
-- remains. In a stripe marketplace the payment waits in requires_payment: the
-- Stripe jobs of the next slice call the movements with Stripe's ids.
-- A booking written directly in a later status (an import) gets a payment in
-- requires_payment and no money moves: its history is the importer's to record.
-- -----------------------------------------------------------------------------
create function app.bookings_move_money() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.payments;
  split record;
  kept bigint;
  remaining bigint;
begin
  split := app.payment_split(new);
  if tg_op = 'INSERT' then
    insert into public.payments (booking_id, tenant_id, customer_id, provider_id, method, currency,
                                 amount_cents, application_fee_cents, provider_amount_cents, credit_shortfall_cents)
    select new.id, new.tenant_id, new.customer_id, new.provider_id, t.payment_mode, new.currency,
           new.total_cents, split.application_fee, split.provider_amount, split.shortfall
      from public.tenants t where t.id = new.tenant_id
    returning * into p;
    if p.method::text = 'offline' and new.status::text in ('confirmed', 'in_progress') then
      perform app.payment_authorise(p.id);
    end if;
    return null;
  end if;

  select * into p from public.payments x where x.booking_id = new.id for update;
  if p.id is null then
    return null;  -- a booking from before payments existed (migration 0040): its money is in the old ledger rows
  end if;

  -- The price changed (create_booking applies referral credit just after the insert).
  if (new.total_cents, new.base_price_cents, new.platform_fee_cents)
     is distinct from (old.total_cents, old.base_price_cents, old.platform_fee_cents) then
    if p.status::text not in ('requires_payment', 'failed') and not (p.method::text = 'offline' and p.status::text = 'authorised') then
      raise sqlstate 'PT409' using message = format('the price of booking %s cannot change: its payment is %s', new.id, p.status);
    end if;
    update public.payments x
       set amount_cents = new.total_cents, application_fee_cents = split.application_fee,
           provider_amount_cents = split.provider_amount, credit_shortfall_cents = split.shortfall,
           authorised_cents = case when x.status = 'authorised' then new.total_cents else x.authorised_cents end
     where x.id = p.id
    returning * into p;
  end if;

  if new.status is not distinct from old.status or p.method::text <> 'offline' then
    return null;
  end if;
  case new.status::text
    when 'confirmed', 'in_progress' then
      if p.status::text in ('requires_payment', 'failed') then
        perform app.payment_authorise(p.id);
      end if;
    when 'completed', 'no_show' then
      if p.status::text = 'authorised' then
        perform app.payment_capture(p.id);
      end if;
    when 'cancelled' then
      if p.status::text in ('captured', 'partially_refunded') then
        if coalesce(new.refund_cents, 0) > 0 then
          perform app.payment_refund(p.id, least(new.refund_cents, p.captured_cents - p.refunded_cents), 'cancellation',
                                     metadata => jsonb_build_object('policy', new.cancellation_policy,
                                                                    'cancelled_by', new.cancelled_by));
        end if;
      elsif p.status::text = 'authorised' then
        kept := p.authorised_cents - least(coalesce(new.refund_cents, p.authorised_cents), p.authorised_cents);
        if kept > 0 then
          perform app.payment_capture(p.id, kept);
        else
          perform app.payment_void(p.id);
        end if;
      elsif p.status::text in ('requires_payment', 'failed') then
        perform app.payment_void(p.id);
      end if;
    when 'declined', 'expired' then
      if p.status::text in ('requires_payment', 'authorised', 'failed') then
        perform app.payment_void(p.id);
      end if;
    when 'refunded' then
      remaining := p.captured_cents - p.refunded_cents;
      if p.status::text in ('captured', 'partially_refunded') and remaining > 0 then
        perform app.payment_refund(p.id, remaining, 'booking_refunded',
                                   metadata => jsonb_build_object('refunded_by', app.current_user_id()));
      end if;
    else
      null;  -- disputed: the money stays where it is until the dispute is settled
  end case;
  return null;
end $$;
comment on function app.bookings_move_money() is 'AFTER INSERT/UPDATE on bookings: creates the booking''s payment and, in an offline marketplace, authorises at confirmation, captures at completion or no-show, applies a cancellation''s refund_cents, voids on decline and expiry and refunds the rest when a manager refunds. Stripe marketplaces: the payment waits for the Stripe jobs.';
revoke execute on function app.bookings_move_money() from public;
create trigger bookings_move_money after insert or update of status, total_cents, base_price_cents, platform_fee_cents
  on public.bookings for each row execute function app.bookings_move_money();

-- Bookings made before this migration that are still open get their payment;
-- ended ones keep their money in the ledger rows written under the old model.
insert into public.payments (booking_id, tenant_id, customer_id, provider_id, method, status, currency,
                             amount_cents, application_fee_cents, provider_amount_cents, credit_shortfall_cents,
                             authorised_cents, authorised_at)
select b.id, b.tenant_id, b.customer_id, b.provider_id, t.payment_mode,
       case when t.payment_mode = 'offline' and b.status in ('confirmed', 'in_progress') then 'authorised'
            else 'requires_payment' end::public.booking_payment_status,
       b.currency, b.total_cents, s.application_fee, s.provider_amount, s.shortfall,
       case when t.payment_mode = 'offline' and b.status in ('confirmed', 'in_progress') then b.total_cents else 0 end,
       case when t.payment_mode = 'offline' and b.status in ('confirmed', 'in_progress') then coalesce(b.confirmed_at, now()) end
  from public.bookings b
  join public.tenants t on t.id = b.tenant_id
  cross join lateral app.payment_split(b) s
 where b.status in ('pending', 'confirmed', 'in_progress');
create or replace function app.act_on_booking(booking_id uuid, action text, reason text default null)
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
    -- The money follows in app.bookings_move_money() (the trigger on bookings):
    -- a captured payment is refunded refund_cents, an authorised one captures
    -- only what the policy keeps and voids the rest.
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
comment on function app.act_on_booking(uuid, text, text) is 'The booking workflows'' one mover: finds the booking (404 unless a party or a booking manager), checks who may take the action, from which status and when, moves it, and for cancellations sets refund_cents (the payment follows: app.bookings_move_money, migration 0040).';
revoke execute on function app.act_on_booking(uuid, text, text) from public;

comment on function public.cancel_booking(uuid, text) is 'The customer or the provider cancels a pending, confirmed or started booking, with a reason. A customer''s cancellation of a confirmed booking refunds per its cancellation policy (refund_cents), any other cancellation refunds everything; the payment follows (offline: the kept part captured and the rest released, or captured money refunded).';

-- -----------------------------------------------------------------------------
-- Balances and offline payouts.
-- -----------------------------------------------------------------------------

-- A provider's money per currency, from the ledger: shares earned, shares taken
-- back by refunds, payouts.
create function app.provider_ledger(provider uuid)
returns table (currency text, earned_cents bigint, reversed_cents bigint, net_cents bigint, paid_out_cents bigint,
               balance_cents bigint)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select t.currency::text,
         coalesce(sum(t.amount_cents) filter (where t.type::text = 'transfer'), 0)::bigint,
         coalesce(sum(t.amount_cents) filter (where t.type::text = 'transfer_reversal'), 0)::bigint,
         coalesce(sum(case t.type::text when 'transfer' then t.amount_cents when 'transfer_reversal' then -t.amount_cents end), 0)::bigint,
         coalesce(sum(t.amount_cents) filter (where t.type::text = 'payout'), 0)::bigint,
         coalesce(sum(case t.type::text when 'transfer' then t.amount_cents
                                        when 'transfer_reversal' then -t.amount_cents
                                        when 'payout' then -t.amount_cents end), 0)::bigint
    from public.transactions t
   where t.user_id = provider and t.status in ('completed', 'refunded')
     and t.type::text in ('transfer', 'transfer_reversal', 'payout')
   group by t.currency
   order by t.currency
$$;
comment on function app.provider_ledger(uuid) is 'Per currency: the provider''s shares (transfer), shares taken back (transfer_reversal), net, payouts and balance = net − payouts.';
revoke execute on function app.provider_ledger(uuid) from public;

create function public.provider_balances(provider_id uuid default null)
returns table (currency text, earned_cents bigint, reversed_cents bigint, net_cents bigint, paid_out_cents bigint,
               balance_cents bigint)
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  who uuid := coalesce(provider_balances.provider_id, me);
begin
  if who <> me and not (app.has_permission('payments.read')
                        and exists (select 1 from public.users u where u.id = who and u.tenant_id = app.current_tenant_id())) then
    raise sqlstate 'PT404' using message = format('provider %s not found', who),
      hint = 'Providers read their own balance; payments.read readers those of their marketplace.';
  end if;
  return query select * from app.provider_ledger(who);
end $$;
comment on function public.provider_balances(uuid) is 'A provider''s money per currency: earned (their share of captured payments), reversed (taken back by refunds), net, paid out and balance (net − paid out). Default: the caller''s own; another provider''s needs payments.read.';

create function public.record_payout(provider_id uuid, amount_cents bigint, currency text, method text default 'bank_transfer',
                                     reference text default null, idempotency_key text default null)
returns public.transactions
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  provider public.users;
  mode public.payment_mode;
  balance bigint;
  key text;
  result public.transactions;
begin
  if not app.has_permission('payments.manage') then
    raise insufficient_privilege using message = 'you cannot record payouts', hint = 'Recording payouts needs the payments.manage permission.';
  end if;
  select * into provider from public.users u where u.id = record_payout.provider_id and u.tenant_id = app.current_tenant_id();
  if provider.id is null then
    raise sqlstate 'PT404' using message = format('provider %s not found', record_payout.provider_id);
  end if;
  if record_payout.amount_cents is null or record_payout.amount_cents <= 0 then
    raise invalid_parameter_value using message = 'amount_cents must be a positive whole number of minor units';
  end if;
  if record_payout.currency is null or record_payout.currency !~ '^[A-Z]{3}$' then
    raise invalid_parameter_value using message = 'currency must be an ISO 4217 code in upper case, e.g. USD';
  end if;
  if record_payout.method is null or record_payout.method not in ('cash', 'bank_transfer', 'cheque', 'other') then
    raise invalid_parameter_value using message = 'method must be cash, bank_transfer, cheque or other';
  end if;
  if length(record_payout.reference) > 200 or length(record_payout.idempotency_key) not between 1 and 200 then
    raise invalid_parameter_value using message = 'reference and idempotency_key are at most 200 characters';
  end if;
  select t.payment_mode into mode from public.tenants t where t.id = provider.tenant_id;
  if mode::text <> 'offline' then
    raise sqlstate 'PT409' using message = 'this marketplace pays its providers through Stripe',
      hint = 'Payouts are recorded by hand only in an offline marketplace.';
  end if;
  -- One payout per provider and currency at a time, so two cannot both fit the same balance.
  perform pg_advisory_xact_lock(40, hashtext(provider.id::text || '/' || record_payout.currency));
  if record_payout.idempotency_key is not null then
    key := format('payout:%s:%s', provider.id, record_payout.idempotency_key);
    select * into result from public.transactions t where t.idempotency_key = key;
    if result.id is not null then
      if (result.amount_cents, result.currency::text) is distinct from (record_payout.amount_cents, record_payout.currency) then
        raise sqlstate 'PT422' using message = 'this idempotency_key was already used for a different payout';
      end if;
      return result;
    end if;
  end if;
  balance := coalesce((select l.balance_cents from app.provider_ledger(provider.id) l where l.currency = record_payout.currency), 0);
  if record_payout.amount_cents > balance then
    raise sqlstate 'PT409' using
      message = format('a payout of %s %s exceeds the provider''s balance of %s %s', record_payout.amount_cents,
                       record_payout.currency, balance, record_payout.currency),
      hint = 'provider_balances() shows what is owed.';
  end if;
  insert into public.transactions (user_id, tenant_id, type, status, amount_cents, currency, description, metadata,
                                   idempotency_key)
  values (provider.id, provider.tenant_id, 'payout', 'completed', record_payout.amount_cents, record_payout.currency,
          format('Payout (%s)', replace(record_payout.method, '_', ' ')),
          jsonb_build_object('method', record_payout.method, 'reference', record_payout.reference, 'recorded_by', me),
          coalesce(key, format('payout:%s:%s', provider.id, gen_random_uuid())))
  returning * into result;
  return result;
end $$;
comment on function public.record_payout(uuid, bigint, text, text, text, text) is 'A payments manager records that a provider was paid (cash, bank transfer, cheque) in an offline marketplace; refused beyond the provider''s balance in that currency (409). A retry with the same idempotency_key returns the same payout.';

-- -----------------------------------------------------------------------------
-- The operator's report: money by currency over a period [from, to) of when it moved.
-- captured − refunded = platform_net + processing_fees + provider_net, and
-- provider_net − payouts = what providers are owed.
-- -----------------------------------------------------------------------------
create function public.payments_report(period_start timestamptz default null, period_end timestamptz default null)
returns table (currency text, payments integer, captured_cents bigint, refunded_cents bigint, collected_net_cents bigint,
               platform_fees_cents bigint, platform_fees_refunded_cents bigint, processing_fees_cents bigint,
               platform_net_cents bigint, provider_share_cents bigint, transfers_reversed_cents bigint,
               provider_net_cents bigint, payouts_cents bigint, providers_owed_cents bigint)
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  tenant uuid := app.current_tenant_id();
begin
  perform app.require_user();
  if not app.has_permission('payments.read') then
    raise insufficient_privilege using message = 'you cannot read the payments report',
      hint = 'The report needs the payments.read permission.';
  end if;
  if period_start is not null and period_end is not null and period_end <= period_start then
    raise invalid_parameter_value using message = 'period_end must be after period_start';
  end if;
  return query
  with moves as (
    select t.currency::text as currency, t.type::text as kind, t.amount_cents as amount,
           t.platform_fee_cents as fee, t.processing_fee_cents as processing
      from public.transactions t
     where t.tenant_id = tenant and t.status in ('completed', 'refunded')
       and (t.payment_id is not null or t.type::text = 'payout')
       and (period_start is null or t.processed_at >= period_start)
       and (period_end is null or t.processed_at < period_end)
  ), sums as (
    select m.currency,
           count(*) filter (where m.kind = 'payment')::int as n,
           coalesce(sum(m.amount) filter (where m.kind = 'payment'), 0)::bigint as captured,
           coalesce(sum(m.amount) filter (where m.kind = 'refund'), 0)::bigint as refunded,
           coalesce(sum(m.fee) filter (where m.kind = 'payment'), 0)::bigint as fees,
           coalesce(sum(m.fee) filter (where m.kind = 'refund'), 0)::bigint as fees_refunded,
           coalesce(sum(m.processing) filter (where m.kind = 'payment'), 0)::bigint as processing,
           coalesce(sum(m.amount) filter (where m.kind = 'transfer'), 0)::bigint as shares,
           coalesce(sum(m.amount) filter (where m.kind = 'transfer_reversal'), 0)::bigint as reversed,
           coalesce(sum(m.amount) filter (where m.kind = 'payout'), 0)::bigint as payouts
      from moves m group by m.currency
  )
  select s.currency, s.n, s.captured, s.refunded, s.captured - s.refunded,
         s.fees, s.fees_refunded, s.processing, s.fees - s.fees_refunded - s.processing,
         s.shares, s.reversed, s.shares - s.reversed, s.payouts, s.shares - s.reversed - s.payouts
    from sums s order by s.currency;
end $$;
comment on function public.payments_report(timestamptz, timestamptz) is 'For payments.read: per currency over [period_start, period_end) of when money moved — payments captured, refunds, platform fees net of fee refunds and processing fees, providers'' shares net of reversals, payouts and what providers are still owed. captured − refunded = platform_net + processing_fees + provider_net.';

revoke execute on function public.provider_balances(uuid), public.record_payout(uuid, bigint, text, text, text, text),
  public.payments_report(timestamptz, timestamptz) from public;
grant execute on function public.provider_balances(uuid), public.record_payout(uuid, bigint, text, text, text, text),
  public.payments_report(timestamptz, timestamptz) to anon, authenticated, service_role;  -- anon is told to sign in
