-- =============================================================================
-- 0044 stripe disputes and payouts: card disputes of Loconomy's charges held to
-- their outcome, and Stripe's payouts to providers mirrored into the ledger
-- (issue 13, decision 0023 "Slice 4").
--
-- * public.payment_disputes mirrors each dispute (charge.dispute.*, re-fetched)
--   of a Loconomy payment, never moving backwards. The first sight moves the
--   booking to `disputed` through a trusted path (from `confirmed` too),
--   remembering the status it had; both parties hear of it (bookings_notify)
--   and so do the tenant's payments.manage holders.
-- * Won (or an inquiry closed): the booking returns to that status; no money
--   moves. Lost: a job (stripe.reverse_dispute_transfer) takes the provider's
--   share back at Stripe and app.stripe_record_dispute_loss writes the loss once
--   through app.payment_refund (refund_key dispute:<dp id>) before the booking
--   moves to `refunded`, so bookings_stripe_jobs makes no Stripe refund. A
--   reversal Stripe refuses is recorded as the provider's shortfall.
-- * Stripe's dispute fee is the platform's cost: a `fee` transaction keyed by
--   the dispute, counted in payments_report's processing fees.
-- * payout.* events of connected accounts (re-fetched) become `payout` rows keyed
--   stripe:payout:<po id>: processing, completed when paid, failed when failed or
--   cancelled; provider_balances() counts completed payouts only (as it did).
-- * Outbound webhooks for payment movements: payment.captured, payment.refunded,
--   dispute.created, dispute.closed, payout.paid, payout.failed.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Disputes, as Stripe has them.
-- -----------------------------------------------------------------------------
create table public.payment_disputes (
  id                           uuid primary key default gen_random_uuid(),
  payment_id                   uuid not null references public.payments (id) on delete cascade,
  booking_id                   uuid not null references public.bookings (id) on delete cascade,
  tenant_id                    uuid not null references public.tenants (id) on delete cascade,
  stripe_dispute_id            text not null unique check (stripe_dispute_id ~ '^(dp|du)_[A-Za-z0-9_]+$'),
  stripe_charge_id             text check (stripe_charge_id ~ '^(ch|py)_[A-Za-z0-9_]+$'),
  amount_cents                 public.cents not null,
  currency                     public.currency_code not null,
  reason                       text not null check (length(reason) between 1 and 100),
  status                       text not null check (status in (
                                 'warning_needs_response', 'warning_under_review', 'warning_closed', 'needs_response',
                                 'under_review', 'won', 'lost', 'prevented', 'appeal_needs_response',
                                 'appeal_under_review')),
  evidence_due_by              timestamptz,
  fee_cents                    public.cents not null default 0,
  booking_status_before        public.booking_status,
  loss_cents                   public.cents,
  reversal_status              text check (reversal_status in ('pending', 'reversed', 'failed', 'none')),
  reversal_cents               public.cents,
  reversal_shortfall_cents     public.cents not null default 0,
  stripe_transfer_reversal_id  text check (stripe_transfer_reversal_id ~ '^trr_[A-Za-z0-9_]+$'),
  reversal_failure_code        text check (length(reversal_failure_code) <= 100),
  reversal_failure_message     text check (length(reversal_failure_message) <= 1000),
  closed_at                    timestamptz,
  stripe_synced_at             timestamptz not null,
  created_at                   timestamptz not null default now(),
  updated_at                   timestamptz not null default now(),
  check ((status in ('won', 'lost', 'warning_closed', 'prevented', 'appeal_needs_response', 'appeal_under_review'))
         = (closed_at is not null)),
  check ((reversal_status is not null) = (status in ('lost', 'appeal_needs_response', 'appeal_under_review'))),
  check (reversal_shortfall_cents <= coalesce(reversal_cents, 0))
);
comment on table public.payment_disputes is 'Card disputes (chargebacks and inquiries) of Loconomy''s Stripe payments, mirrored from Stripe (re-fetched, never moving backwards), with what Loconomy did about them: the booking''s status before, and for a lost dispute the loss booked and the provider''s share reversed at Stripe. Written only by the Stripe integration. Decision 0023, slice 4.';
comment on column public.payment_disputes.status is 'Stripe''s dispute status. Closed: won, lost, warning_closed (an inquiry that ended), prevented; appeal_* follow a lost dispute and are mirrored only (a won appeal is not booked back).';
comment on column public.payment_disputes.fee_cents is 'Stripe''s dispute fee as its balance transactions report it (the sum of their fees); the platform''s cost, in transactions as a fee row once it is known.';
comment on column public.payment_disputes.booking_status_before is 'The booking''s status when the dispute moved it to disputed (restored when the dispute is won); null when it was not moved (already disputed by the customer, cancelled, …).';
comment on column public.payment_disputes.loss_cents is 'Lost: what was written as refunded to the customer (the disputed amount, at most what was captured and not refunded).';
comment on column public.payment_disputes.reversal_status is 'Lost: pending (the reversal job is queued), reversed (Stripe took the provider''s share back), failed (Stripe refused: reversal_shortfall_cents is what the provider owes), none (no share to take back).';
comment on column public.payment_disputes.reversal_cents is 'Lost: the provider''s share of the loss, as app.payment_refund prorates it, asked back from the provider''s Stripe account.';
comment on column public.payment_disputes.reversal_shortfall_cents is 'What Stripe did not reverse (a refused reversal): the provider owes it to the platform. Collecting it is open (decision 0023).';
comment on column public.payment_disputes.stripe_synced_at is 'When the applied fetch of the dispute started; an older fetch is not applied.';

create index payment_disputes_payment_id_idx on public.payment_disputes (payment_id);
create index payment_disputes_booking_id_idx on public.payment_disputes (booking_id);
create index payment_disputes_tenant_status_idx on public.payment_disputes (tenant_id, status, created_at desc);

create trigger payment_disputes_set_updated_at before update on public.payment_disputes
  for each row execute function app.set_updated_at();
create trigger payment_disputes_audit after insert or update or delete on public.payment_disputes
  for each row execute function app.audit_row();

alter table public.payment_disputes enable row level security;
grant select on public.payment_disputes to authenticated;
grant all on public.payment_disputes to service_role;

create policy "Customers can read the disputes of their payments" on public.payment_disputes
  for select to authenticated
  using (exists (select 1 from public.payments p
                  where p.id = payment_disputes.payment_id and p.customer_id = (select app.current_user_id())));
create policy "Providers can read the disputes of their payments" on public.payment_disputes
  for select to authenticated
  using (exists (select 1 from public.payments p
                  where p.id = payment_disputes.payment_id and p.provider_id = (select app.current_user_id())));
create policy "Billing admins can read disputes of their tenant" on public.payment_disputes
  for select to authenticated
  using ((select app.has_permission('payments.read')) and tenant_id = (select app.current_tenant_id()));

-- -----------------------------------------------------------------------------
-- The booking's trusted moves for a card dispute. A dispute can reach a
-- booking that is only `confirmed` (an authorisation captured at its lapse,
-- decision 0023), and a won dispute returns the booking to where it was: moves
-- the client-facing state machine does not have. They are allowed only inside
-- the dispute functions below (trusted, with loconomy.card_dispute set), and a
-- return keeps the timestamps of the status it returns to.
-- -----------------------------------------------------------------------------
create or replace function app.bookings_before_update() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  dispute_move boolean := false;
begin
  if (new.listing_id, new.provider_id, new.customer_id, new.tenant_id, new.confirmation_code)
     is distinct from (old.listing_id, old.provider_id, old.customer_id, old.tenant_id, old.confirmation_code) then
    raise check_violation using message = 'a booking''s listing, parties, tenant and confirmation code cannot change';
  end if;
  if new.status is distinct from old.status then
    dispute_move := app.is_trusted() and current_setting('loconomy.card_dispute', true) = 'on'
      and (old.status::text, new.status::text) in (('confirmed', 'disputed'), ('disputed', 'confirmed'),
                                                   ('disputed', 'in_progress'), ('disputed', 'completed'),
                                                   ('disputed', 'no_show'));
    if not dispute_move and not app.booking_transition_allowed(old.status, new.status) then
      raise check_violation using
        message = format('a booking cannot move from %s to %s', old.status, new.status),
        hint = 'Allowed: pending→confirmed|declined|cancelled|expired, confirmed→in_progress|completed|cancelled|no_show, in_progress→completed|cancelled|disputed, completed→disputed|refunded, no_show→disputed, disputed→completed|refunded|cancelled, cancelled→refunded.';
    end if;
    if dispute_move and new.status::text <> 'disputed' then
      null;  -- back from a card dispute: the status's own timestamp is still the one it had
    else
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

-- The users of a tenant who hold a permission (a user override wins over the
-- role mapping, as in app.has_permission), active accounts only.
create function app.tenant_permission_holders(tenant uuid, permission_name text) returns setof uuid
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select u.id from public.users u
   where u.tenant_id = tenant and u.deleted_at is null and u.status not in ('suspended', 'banned')
     and coalesce(
       (select up.granted from public.user_permissions up join public.permissions p on p.id = up.permission_id
         where up.user_id = u.id and p.name = permission_name and (up.expires_at is null or up.expires_at > now())),
       (select rp.granted from public.role_permissions rp join public.permissions p on p.id = rp.permission_id
         where rp.role = u.role and p.name = permission_name),
       false)
   order by u.id
$$;
comment on function app.tenant_permission_holders(uuid, text) is 'The active users of a tenant who hold the named permission (override, else role mapping), for notifications to a role of people.';
revoke execute on function app.tenant_permission_holders(uuid, text) from public;

-- -----------------------------------------------------------------------------
-- A lost dispute is a refund the card network made: app.payment_refund accepts
-- the key dispute:<dp id> in place of a refund id for stripe payments. The
-- function is otherwise the same as in 0040.
-- -----------------------------------------------------------------------------
create or replace function app.payment_refund(payment_id uuid, amount_cents bigint, refund_key text,
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
      hint = 'Stripe: the refund''s id, or dispute:<dispute id> for a lost dispute; offline: what the refund is for (e.g. cancellation).';
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
  if p.method::text = 'stripe' and payment_refund.stripe_refund_id is null
     and payment_refund.refund_key !~ '^dispute:(dp|du)_[A-Za-z0-9_]+$' then
    raise invalid_parameter_value using message = 'a stripe refund is recorded with its refund id',
      hint = 'A lost dispute is recorded with refund_key dispute:<dispute id>.';
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
comment on function app.payment_refund(uuid, bigint, text, text, bigint, bigint, jsonb) is 'Refunds amount_cents of captured money, once per refund_key (Stripe: the refund id, or dispute:<dp id> for a lost dispute): the application fee refunded and the transfer reversed in proportion (prorated half up on the cumulative refund; or as Stripe reported them, adding up to the amount). Writes the refund (customer) and transfer_reversal (provider) ledger rows.';

-- The split app.payment_refund would make of a refund of `amount` now: the
-- application fee refunded and the provider's share reversed.
create function app.payment_refund_split(p public.payments, amount bigint, out fee_cents bigint, out reversed_cents bigint)
language sql stable
set search_path = pg_catalog, public
as $$
  select f, amount - f
    from (select app.prorate(p.captured_fee_cents, p.refunded_cents + amount, p.captured_cents)
                 - p.application_fee_refunded_cents as f) x
$$;
comment on function app.payment_refund_split(public.payments, bigint) is 'The application fee refunded and the transfer reversed that app.payment_refund prorates for a refund of amount of this payment now.';
revoke execute on function app.payment_refund_split(public.payments, bigint) from public;

-- -----------------------------------------------------------------------------
-- charge.dispute.*: the dispute as fetched from Stripe at fetched_at.
-- -----------------------------------------------------------------------------
create function app.stripe_dispute_rank(status text) returns integer
language sql immutable parallel safe
set search_path = pg_catalog
as $$
  select case status
    when 'warning_needs_response' then 1 when 'warning_under_review' then 2
    when 'needs_response' then 3 when 'under_review' then 4
    when 'won' then 5 when 'lost' then 5 when 'warning_closed' then 5 when 'prevented' then 5
    when 'appeal_needs_response' then 6 when 'appeal_under_review' then 6 end
$$;
comment on function app.stripe_dispute_rank(text) is 'How far a dispute status is along its life (inquiry < needs response < under review < closed < appeal); a mirror never moves to a lower rank, nor from one closed status to another.';
revoke execute on function app.stripe_dispute_rank(text) from public;

-- A booking's trusted move for a card dispute (see bookings_before_update).
create function app.move_booking_for_dispute(booking_id uuid, target text, reason text) returns void
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  perform set_config('loconomy.card_dispute', 'on', true);
  perform set_config('loconomy.reason', coalesce(reason, ''), true);
  update public.bookings b set status = target::public.booking_status where b.id = move_booking_for_dispute.booking_id;
  perform set_config('loconomy.card_dispute', '', true);
end $$;
comment on function app.move_booking_for_dispute(uuid, text, text) is 'The dispute functions'' one booking mover: allows the card-dispute moves (confirmed → disputed, disputed → the status before) for this update only, with the reason for the history and the parties'' notifications.';
revoke execute on function app.move_booking_for_dispute(uuid, text, text) from public;

create function app.stripe_apply_dispute(event_id text, dispute jsonb, fetched_at timestamptz, attempts integer)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  ev public.inbound_webhook_events;
  p public.payments;
  b public.bookings;
  d public.payment_disputes;
  dp text := dispute ->> 'id';
  new_status text := dispute ->> 'status';
  fee bigint;
  first_sight boolean := false;
  outcome text := 'applied';
  before_status text;
  holder uuid;
  lost_now boolean := false;
begin
  if event_id is not null then
    ev := app.stripe_event_to_process(event_id);
    if ev.id is null then
      return jsonb_build_object('outcome', 'duplicate');
    end if;
  end if;
  if app.stripe_dispute_rank(new_status) is null then
    raise invalid_parameter_value using message = format('dispute %s has an unknown status %s', dp, new_status);
  end if;
  select * into p from public.payments x
   where x.stripe_charge_id = dispute ->> 'charge' or x.stripe_payment_intent_id = dispute ->> 'payment_intent'
   limit 1 for update;
  if p.id is null then
    -- A dispute of a charge Loconomy did not make.
    if event_id is not null then
      perform app.stripe_finish_event(event_id, 'ignored', attempts);
    end if;
    return jsonb_build_object('outcome', 'ignored');
  end if;
  select coalesce(sum((t ->> 'fee')::bigint), 0) into fee
    from jsonb_array_elements(coalesce(dispute -> 'balance_transactions', '[]')) t;
  fee := greatest(fee, 0);

  select * into d from public.payment_disputes x where x.stripe_dispute_id = dp for update;
  if d.id is null then
    first_sight := true;
    insert into public.payment_disputes (payment_id, booking_id, tenant_id, stripe_dispute_id, stripe_charge_id,
                                         amount_cents, currency, reason, status, evidence_due_by, fee_cents,
                                         stripe_synced_at)
    values (p.id, p.booking_id, p.tenant_id, dp, dispute ->> 'charge', (dispute ->> 'amount')::bigint,
            upper(dispute ->> 'currency'), coalesce(nullif(dispute ->> 'reason', ''), 'general'),
            -- The life starts open; a first fetch that is already closed is applied below.
            case when app.stripe_dispute_rank(new_status) >= 5 then 'needs_response' else new_status end,
            to_timestamp((dispute -> 'evidence_details' ->> 'due_by')::double precision), fee, fetched_at)
    returning * into d;
    -- The booking is disputed (from where it was: remembered for a won dispute), and
    -- everyone who must act hears of it: both parties (bookings_notify), the payments managers.
    select * into b from public.bookings x where x.id = p.booking_id for update;
    if b.status::text in ('confirmed', 'in_progress', 'completed', 'no_show') then
      before_status := b.status::text;
      perform app.move_booking_for_dispute(b.id, 'disputed',
        format('card payment disputed (%s)', replace(d.reason, '_', ' ')));
      update public.payment_disputes x set booking_status_before = before_status::public.booking_status
       where x.id = d.id returning * into d;
    end if;
    for holder in select * from app.tenant_permission_holders(p.tenant_id, 'payments.manage') loop
      perform app.notify(holder, 'booking_disputed', 'Card payment disputed',
        format('Booking %s: %s %s disputed (%s)%s', b.confirmation_code, d.amount_cents, d.currency,
               replace(d.reason, '_', ' '),
               case when d.evidence_due_by is not null
                    then format(', evidence due by %s', to_char(d.evidence_due_by at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'))
                    else '' end),
        jsonb_build_object('booking_id', p.booking_id, 'payment_id', p.id, 'dispute_id', d.id,
                           'stripe_dispute_id', dp, 'urgent', true),
        '/bookings/' || p.booking_id, null);
    end loop;
  elsif d.stripe_synced_at > fetched_at then
    outcome := 'stale';  -- a later fetch was applied already
  end if;

  if outcome = 'applied' then
    if app.stripe_dispute_rank(new_status) < app.stripe_dispute_rank(d.status)
       or (app.stripe_dispute_rank(d.status) = 5 and app.stripe_dispute_rank(new_status) = 5 and new_status <> d.status) then
      outcome := 'stale';  -- never backwards, and a closed dispute stays as it closed
    end if;
  end if;

  if outcome = 'applied' then
    lost_now := d.reversal_status is null and new_status in ('lost', 'appeal_needs_response', 'appeal_under_review');
    if lost_now and to_regnamespace('graphile_worker') is null then
      raise sqlstate 'PT503' using message = 'the job queue is not installed: a lost dispute cannot be booked',
        hint = 'Start `serve` or `worker` once (they install the queue).';
    end if;
    update public.payment_disputes x
       set status = new_status, amount_cents = (dispute ->> 'amount')::bigint,
           reason = coalesce(nullif(dispute ->> 'reason', ''), x.reason),
           evidence_due_by = to_timestamp((dispute -> 'evidence_details' ->> 'due_by')::double precision),
           fee_cents = fee, stripe_synced_at = fetched_at,
           closed_at = case when app.stripe_dispute_rank(new_status) >= 5 then coalesce(x.closed_at, now()) end,
           reversal_status = case when lost_now then 'pending' else x.reversal_status end
     where x.id = d.id
    returning * into d;
    -- Stripe's dispute fee, the platform's cost: written once, when first reported.
    if fee > 0 then
      perform app.ledger_write(format('stripe:dispute:%s:fee', dp), p, p.provider_id, 'fee', fee, 0, 0,
        format('Stripe dispute fee for booking %s (the platform''s cost)',
               (select x.confirmation_code from public.bookings x where x.id = p.booking_id)),
        jsonb_build_object('stripe_dispute_id', dp, 'whose', 'platform'));
    end if;
    select * into b from public.bookings x where x.id = p.booking_id for update;
    if new_status in ('won', 'warning_closed', 'prevented') then
      -- Won: the booking goes back to where it was; no money moves.
      if b.status::text = 'disputed' and d.booking_status_before is not null then
        perform app.move_booking_for_dispute(b.id, d.booking_status_before::text, 'card dispute closed in the provider''s favour');
      end if;
    elsif lost_now then
      -- Lost (an appeal comes after a loss): the Stripe call, a transfer reversal, runs in a
      -- job in the PaymentIntent's queue; the job writes the loss.
      perform graphile_worker.add_job('stripe.reverse_dispute_transfer', json_build_object('dispute_id', dp),
        queue_name => 'stripe:' || (hashtext(p.stripe_payment_intent_id) & 15), max_attempts => 25,
        job_key => 'stripe:dispute:' || dp);
    end if;
  end if;
  if event_id is not null then
    perform app.stripe_finish_event(event_id, outcome, attempts);
  end if;
  return jsonb_build_object('outcome', outcome, 'dispute_id', d.id, 'status', d.status, 'first_sight', first_sight,
                            'booking_status', (select x.status from public.bookings x where x.id = p.booking_id));
end $$;
comment on function app.stripe_apply_dispute(text, jsonb, timestamptz, integer) is 'For the Stripe event job: mirrors a dispute (as fetched at fetched_at) of a Loconomy payment into payment_disputes, never backwards. First sight: the booking moves to disputed (remembering its status) and the payments managers are notified; the dispute fee is written once as a fee row; won → the booking returns; lost → stripe.reverse_dispute_transfer is enqueued. A dispute of another charge is ignored.';

-- What the reversal job needs: the loss and the provider's share of it, as
-- app.payment_refund will write them.
create function app.stripe_dispute_for_job(stripe_dispute_id text)
returns table (dispute_id uuid, payment_id uuid, booking_id uuid, reversal_status text, stripe_transfer_id text,
               currency text, loss_cents bigint, reversal_cents bigint)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select d.id, p.id, p.booking_id, d.reversal_status, p.stripe_transfer_id, p.currency::text, l.loss,
         (app.payment_refund_split(p, l.loss)).reversed_cents
    from public.payment_disputes d
    join public.payments p on p.id = d.payment_id
    cross join lateral (select least(d.amount_cents, p.captured_cents - p.refunded_cents) as loss) l
   where d.stripe_dispute_id = stripe_dispute_for_job.stripe_dispute_id
$$;
comment on function app.stripe_dispute_for_job(text) is 'For the reversal job (service_role): a dispute''s payment, transfer and reversal status, the loss (the disputed amount, at most what remains captured) and the provider''s share of it as app.payment_refund prorates it.';

-- The loss of a dispute, once: the refund through app.payment_refund (keyed by
-- the dispute) first, then the booking to refunded when nothing is left, so
-- bookings_stripe_jobs finds nothing to refund. `reversed` is what Stripe took
-- back of `reversal` (less when it refused: the shortfall the provider owes).
create function app.stripe_record_dispute_loss(stripe_dispute_id text, loss bigint, reversal bigint, reversed bigint,
                                               stripe_transfer_reversal_id text default null,
                                               failure_code text default null, failure_message text default null)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  d public.payment_disputes;
  p public.payments;
  b public.bookings;
begin
  select * into d from public.payment_disputes x where x.stripe_dispute_id = stripe_record_dispute_loss.stripe_dispute_id
   for update;
  if d.id is null then
    raise sqlstate 'PT404' using message = format('dispute %s not found', stripe_record_dispute_loss.stripe_dispute_id);
  end if;
  if d.reversal_status is distinct from 'pending' then
    return jsonb_build_object('outcome', 'duplicate', 'reversal_status', d.reversal_status);
  end if;
  -- Another refund may have come between the job's reading and now: never more than is left.
  select * into p from public.payments x where x.id = d.payment_id;
  if loss > p.captured_cents - p.refunded_cents then
    loss := p.captured_cents - p.refunded_cents;
    reversal := (app.payment_refund_split(p, loss)).reversed_cents;
    reversed := least(reversed, reversal);
  end if;
  if loss < 0 or reversal < 0 or reversal > loss or reversed < 0 or reversed > reversal then
    raise invalid_parameter_value using
      message = format('a dispute loss of %s with %s of %s reversed is out of range', loss, reversed, reversal);
  end if;
  if loss > 0 then
    p := app.payment_refund(d.payment_id, loss, 'dispute:' || d.stripe_dispute_id, null, loss - reversal, reversal,
                            metadata => jsonb_build_object('reason', 'dispute_lost', 'stripe_dispute_id', d.stripe_dispute_id,
                                                           'stripe_transfer_reversal_id', stripe_transfer_reversal_id,
                                                           'reversal_shortfall_cents', reversal - reversed));
  end if;
  update public.payment_disputes x
     set loss_cents = loss, reversal_cents = reversal, reversal_shortfall_cents = reversal - reversed,
         reversal_status = case when reversal = 0 then 'none' when reversed = reversal then 'reversed' else 'failed' end,
         stripe_transfer_reversal_id = stripe_record_dispute_loss.stripe_transfer_reversal_id,
         reversal_failure_code = left(failure_code, 100), reversal_failure_message = left(failure_message, 1000)
   where x.id = d.id
  returning * into d;
  -- Nothing left captured: the booking is refunded (its payment already is, so no Stripe refund follows).
  -- A partial loss leaves it disputed for a booking manager to settle.
  select * into b from public.bookings x where x.id = d.booking_id for update;
  if p.status::text = 'refunded' and b.status::text in ('disputed', 'completed', 'cancelled') then
    perform app.move_booking_for_dispute(b.id, 'refunded', 'card dispute lost');
  end if;
  return jsonb_build_object('outcome', 'recorded', 'reversal_status', d.reversal_status, 'payment_status', p.status,
                            'booking_status', (select x.status from public.bookings x where x.id = d.booking_id));
end $$;
comment on function app.stripe_record_dispute_loss(text, bigint, bigint, bigint, text, text, text) is 'For the reversal job (service_role): writes a lost dispute once — app.payment_refund of the loss keyed dispute:<dp id> (fee refunded and share reversed as prorated), the reversal''s outcome and shortfall on the dispute — then moves the booking to refunded when nothing is left captured.';

-- -----------------------------------------------------------------------------
-- payout.*: a connected account's payout, as fetched from Stripe, mirrored as
-- a `payout` row of its provider: pending/in_transit → processing, paid →
-- completed, failed/canceled → failed. Forward only (a paid payout can still
-- fail when the bank returns it; a failed one stays failed).
-- -----------------------------------------------------------------------------
create function app.stripe_apply_payout(event_id text, account_id text, payout jsonb, attempts integer) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  ev public.inbound_webhook_events := app.stripe_event_to_process(event_id);
  provider public.users;
  key text := 'stripe:payout:' || (payout ->> 'id');
  t public.transactions;
  new_status text;
  rank_of jsonb := '{"processing": 1, "completed": 2, "failed": 3}';
  outcome text := 'applied';
  meta jsonb;
begin
  if ev.id is null then
    return jsonb_build_object('outcome', 'duplicate');
  end if;
  select u.* into provider from public.payout_accounts a join public.users u on u.id = a.user_id
   where a.stripe_account_id = account_id;
  if provider.id is null or payout is null then
    perform app.stripe_finish_event(event_id, 'ignored', attempts);  -- an account Loconomy did not create
    return jsonb_build_object('outcome', 'ignored');
  end if;
  if coalesce(payout ->> 'id', '') !~ '^po_[A-Za-z0-9_]+$' then
    raise invalid_parameter_value using message = 'a Stripe payout needs a po_ id';
  end if;
  new_status := case payout ->> 'status'
    when 'pending' then 'processing' when 'in_transit' then 'processing' when 'paid' then 'completed'
    when 'failed' then 'failed' when 'canceled' then 'failed' end;
  if new_status is null then
    raise invalid_parameter_value using message = format('payout %s has an unknown status %s', payout ->> 'id', payout ->> 'status');
  end if;
  meta := jsonb_build_object('method', 'stripe', 'stripe_payout_id', payout ->> 'id', 'stripe_account_id', account_id,
                             'stripe_status', payout ->> 'status', 'payout_method', payout ->> 'method',
                             'arrival_date', to_timestamp((payout ->> 'arrival_date')::double precision),
                             'failure_code', payout ->> 'failure_code',
                             'failure_message', payout ->> 'failure_message',
                             'automatic', (payout ->> 'automatic')::boolean);
  select * into t from public.transactions x where x.idempotency_key = key for update;
  if t.id is null then
    insert into public.transactions (user_id, tenant_id, type, status, amount_cents, currency, description, metadata,
                                     idempotency_key)
    values (provider.id, provider.tenant_id, 'payout', new_status::public.payment_status, (payout ->> 'amount')::bigint,
            upper(payout ->> 'currency'), 'Stripe payout', meta, key)
    on conflict (idempotency_key) do nothing;
  elsif (rank_of ->> new_status)::int < (rank_of ->> t.status::text)::int then
    outcome := 'stale';  -- never backwards
  else
    update public.transactions x set status = new_status::public.payment_status, metadata = x.metadata || meta
     where x.id = t.id;
  end if;
  perform app.stripe_finish_event(event_id, outcome, attempts);
  return jsonb_build_object('outcome', outcome, 'status', new_status, 'provider_id', provider.id);
end $$;
comment on function app.stripe_apply_payout(text, text, jsonb, integer) is 'For the Stripe event job: mirrors a connected account''s payout (as fetched from Stripe) as its provider''s payout transaction keyed stripe:payout:<po id> — pending/in_transit → processing, paid → completed, failed/canceled → failed — forward only; an unknown account is ignored.';

-- -----------------------------------------------------------------------------
-- The operator's report: as in 0040, with Stripe's dispute fees (fee rows of a
-- payment) counted in processing_fees_cents, what the processor kept; so
-- captured − refunded = platform_net + processing_fees + provider_net still.
-- -----------------------------------------------------------------------------
create or replace function public.payments_report(period_start timestamptz default null, period_end timestamptz default null)
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
           (coalesce(sum(m.processing) filter (where m.kind = 'payment'), 0)
            + coalesce(sum(m.amount) filter (where m.kind = 'fee'), 0))::bigint as processing,
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
comment on function public.payments_report(timestamptz, timestamptz) is 'For payments.read: per currency over [period_start, period_end) of when money moved — payments captured, refunds, platform fees net of fee refunds and processing fees (Stripe''s processing and dispute fees), providers'' shares net of reversals, payouts and what providers are still owed. captured − refunded = platform_net + processing_fees + provider_net.';

-- -----------------------------------------------------------------------------
-- Outbound webhooks (docs/webhooks.md) for payment movements, written in the
-- transaction of the movement like the booking events (decision 0022):
-- payment.captured, payment.refunded (each refund, partial or full),
-- dispute.created, dispute.closed, payout.paid, payout.failed. Offline and
-- stripe marketplaces alike. Thin payloads: ids, amounts, states.
-- -----------------------------------------------------------------------------
create or replace function app.valid_webhook_events(events text[]) returns boolean
language sql immutable parallel safe
set search_path = pg_catalog
as $$
  select cardinality(events) between 1 and 50
     and coalesce(bool_and(e ~ '^(\*|(booking|review|message|payment|dispute|payout|referral|user)\.(\*|[a-z_]+))$'), false)
    from unnest(events) e
$$;

create function app.payments_emit_events() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  data jsonb := jsonb_build_object('id', new.id, 'booking_id', new.booking_id, 'method', new.method,
                                   'status', new.status, 'currency', new.currency,
                                   'amount_cents', new.amount_cents, 'captured_cents', new.captured_cents,
                                   'application_fee_cents', new.captured_fee_cents,
                                   'refunded_cents', new.refunded_cents);
begin
  if new.status::text = 'captured' and old.status::text <> 'captured' then
    perform app.emit_event('payment.captured', new.tenant_id, data || jsonb_build_object('captured_at', new.captured_at));
  end if;
  if new.refunded_cents > old.refunded_cents then
    perform app.emit_event('payment.refunded', new.tenant_id,
      data || jsonb_build_object('refund_cents', new.refunded_cents - old.refunded_cents, 'refunded_at', new.refunded_at));
  end if;
  return null;
end $$;
revoke execute on function app.payments_emit_events() from public;
create trigger payments_emit_events after update of status, refunded_cents on public.payments
  for each row execute function app.payments_emit_events();

create function app.payment_disputes_emit_events() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  data jsonb := jsonb_build_object('id', new.id, 'payment_id', new.payment_id, 'booking_id', new.booking_id,
                                   'status', new.status, 'reason', new.reason, 'currency', new.currency,
                                   'amount_cents', new.amount_cents, 'evidence_due_by', new.evidence_due_by);
begin
  if tg_op = 'INSERT' then
    perform app.emit_event('dispute.created', new.tenant_id, data);
  elsif new.closed_at is not null and old.closed_at is null then
    perform app.emit_event('dispute.closed', new.tenant_id, data || jsonb_build_object('closed_at', new.closed_at));
  end if;
  return null;
end $$;
revoke execute on function app.payment_disputes_emit_events() from public;
create trigger payment_disputes_emit_events after insert or update of closed_at on public.payment_disputes
  for each row execute function app.payment_disputes_emit_events();

create function app.transactions_emit_events() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if new.type::text = 'payout' and new.status::text in ('completed', 'failed')
     and (tg_op = 'INSERT' or old.status is distinct from new.status) then
    perform app.emit_event(case new.status::text when 'completed' then 'payout.paid' else 'payout.failed' end,
      new.tenant_id,
      jsonb_build_object('id', new.id, 'provider_id', new.user_id, 'status', new.status, 'currency', new.currency,
                         'amount_cents', new.amount_cents, 'method', new.metadata ->> 'method',
                         'stripe_payout_id', new.metadata ->> 'stripe_payout_id',
                         'failure_code', new.metadata ->> 'failure_code'));
  end if;
  return null;
end $$;
revoke execute on function app.transactions_emit_events() from public;
create trigger transactions_emit_events after insert or update of status on public.transactions
  for each row execute function app.transactions_emit_events();

revoke execute on function app.stripe_apply_dispute(text, jsonb, timestamptz, integer),
  app.stripe_dispute_for_job(text), app.stripe_record_dispute_loss(text, bigint, bigint, bigint, text, text, text),
  app.stripe_apply_payout(text, text, jsonb, integer) from public;
grant execute on function app.stripe_apply_dispute(text, jsonb, timestamptz, integer), app.stripe_dispute_for_job(text),
  app.stripe_record_dispute_loss(text, bigint, bigint, bigint, text, text, text),
  app.stripe_apply_payout(text, text, jsonb, integer) to service_role;
