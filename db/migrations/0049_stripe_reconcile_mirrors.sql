-- =============================================================================
-- 0049 stripe reconcile mirrors: `loconomy stripe reconcile --apply` covers
-- disputes, payouts, saved cards, subscriptions and invoices too (issue 13
-- item 6, decision 0023 "Reconcile"). Their apply functions already take a null
-- event_id (the object applied alone) except app.stripe_apply_payout (0044),
-- which is replaced here to allow it, as 0047 did for accounts. Nothing else
-- changes: forward only, an unknown account ignored.
-- =============================================================================

create or replace function app.stripe_apply_payout(event_id text, account_id text, payout jsonb, attempts integer)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  ev public.inbound_webhook_events;
  provider public.users;
  key text := 'stripe:payout:' || (payout ->> 'id');
  t public.transactions;
  new_status text;
  rank_of jsonb := '{"processing": 1, "completed": 2, "failed": 3}';
  outcome text := 'applied';
  meta jsonb;
begin
  if event_id is not null then
    ev := app.stripe_event_to_process(event_id);
    if ev.id is null then
      return jsonb_build_object('outcome', 'duplicate');
    end if;
  end if;
  select u.* into provider from public.payout_accounts a join public.users u on u.id = a.user_id
   where a.stripe_account_id = account_id;
  if provider.id is null or payout is null then
    if event_id is not null then
      perform app.stripe_finish_event(event_id, 'ignored', attempts);  -- an account Loconomy did not create
    end if;
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
  if event_id is not null then
    perform app.stripe_finish_event(event_id, outcome, attempts);
  end if;
  return jsonb_build_object('outcome', outcome, 'status', new_status, 'provider_id', provider.id);
end $$;
comment on function app.stripe_apply_payout(text, text, jsonb, integer) is 'For the Stripe event job (and the reconciler, event_id null): mirrors a connected account''s payout (as fetched from Stripe) as its provider''s payout transaction keyed stripe:payout:<po id> — pending/in_transit → processing, paid → completed, failed/canceled → failed — forward only; an unknown account is ignored.';
