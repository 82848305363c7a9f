-- =============================================================================
-- 0047 stripe reconcile: `loconomy stripe reconcile --apply` puts Stripe's state
-- into the mirrors through the same functions the webhook job uses (issue 13
-- item 6, decision 0023 "Reconcile"). Those functions took an event to mark as
-- processed; the reconciler has none, so a null event_id now applies the object
-- alone, as app.stripe_apply_payment_intent and app.stripe_apply_refunds already
-- allow. The order rule is unchanged: a fetch older than the one applied is stale.
-- =============================================================================

create or replace function app.stripe_apply_account(event_id text, account jsonb, fetched_at timestamptz, attempts integer)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  ev public.inbound_webhook_events;
  p public.payout_accounts;
  req jsonb := coalesce(account -> 'requirements', '{}');
  due text[];
  outcome text := 'applied';
begin
  if event_id is not null then
    ev := app.stripe_event_to_process(event_id);
    if ev.id is null then
      return jsonb_build_object('outcome', 'duplicate');
    end if;
  end if;
  select * into p from public.payout_accounts a where a.stripe_account_id = account ->> 'id' for update;
  if p.user_id is null then
    outcome := 'ignored';   -- an account Loconomy did not create (or whose user is gone)
  elsif p.stripe_synced_at is not null and p.stripe_synced_at >= fetched_at then
    outcome := 'stale';     -- a later fetch was applied already
  else
    select coalesce(array_agg(distinct r order by r), '{}') into due
      from (select jsonb_array_elements_text(coalesce(req -> 'currently_due', '[]')) r
            union select jsonb_array_elements_text(coalesce(req -> 'past_due', '[]'))) d;
    update public.payout_accounts a
       set charges_enabled = coalesce((account ->> 'charges_enabled')::boolean, false),
           payouts_enabled = coalesce((account ->> 'payouts_enabled')::boolean, false),
           details_submitted = coalesce((account ->> 'details_submitted')::boolean, false),
           requirements_due = due,
           disabled_reason = nullif(req ->> 'disabled_reason', ''),
           country = coalesce(upper(nullif(account ->> 'country', '')), a.country),
           default_currency = coalesce(upper(nullif(account ->> 'default_currency', '')), a.default_currency::text)::public.currency_code,
           account_type = coalesce(nullif(account ->> 'type', ''), a.account_type),
           stripe_synced_at = fetched_at
     where a.user_id = p.user_id;
  end if;
  if event_id is not null then
    perform app.stripe_finish_event(event_id, outcome, attempts);
  end if;
  return jsonb_build_object('outcome', outcome, 'user_id', p.user_id);
end $$;
comment on function app.stripe_apply_account(text, jsonb, timestamptz, integer) is 'For the Stripe event job (and the reconciler, event_id null): mirrors a Connect account, as fetched from Stripe at fetched_at, into payout_accounts (unless a later fetch was applied) and marks the event processed, in one transaction.';
