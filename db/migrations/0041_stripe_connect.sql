-- =============================================================================
-- 0041 stripe connect: inbound Stripe events recorded once and processed by a
-- job, providers' Connect accounts created through onboarding and mirrored from
-- Stripe (issue 13, decision 0023).
--
-- The server verifies the Stripe-Signature; app.stripe_record_event records the
-- event and enqueues its job in one transaction. The job re-fetches the object
-- from Stripe (events may be stale or out of order) and applies it through the
-- functions below, which mark the event processed in the same transaction.
-- Everything here is for service_role (the server and the worker), except
-- app.stripe_payout_caller(), which tells a signed-in user where they stand.
-- =============================================================================

-- What processing did with a Stripe event (Clerk's outcome is in its HTTP answer).
alter table public.inbound_webhook_events
  add column outcome text check (outcome in ('applied', 'ignored', 'stale'));
comment on column public.inbound_webhook_events.outcome is 'Stripe events: applied, ignored (a type or an account Loconomy does not handle) or stale (Stripe''s state was already newer); set with processed_at.';

-- -----------------------------------------------------------------------------
-- Recording: once per event id, the processing job enqueued with it.
-- -----------------------------------------------------------------------------
create function app.stripe_record_event(event jsonb) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  evt_id text := event ->> 'id';
  kind text := event ->> 'type';
  -- The events of one connected account (or object) go to the same serial
  -- queue, so they are processed one at a time and a re-fetch that finishes last
  -- is also the one that started last. 16 queues, hashed, because
  -- graphile-worker keeps a row per queue name ever used.
  queue text := 'stripe:' || (hashtext(coalesce(event ->> 'account', event -> 'data' -> 'object' ->> 'id', '')) & 15);
  recorded uuid;
  processed timestamptz;
begin
  if coalesce(evt_id, '') !~ '^evt_[A-Za-z0-9_]{1,250}$' or coalesce(kind, '') = ''
     or jsonb_typeof(event -> 'data' -> 'object') is distinct from 'object' then
    raise invalid_parameter_value using message = 'a Stripe event needs an evt_ id, a type and a data.object';
  end if;
  insert into public.inbound_webhook_events (provider, event_id, event_type, payload)
  values ('stripe', evt_id, kind, event)
  on conflict (provider, event_id) do nothing
  returning id into recorded;
  if recorded is null then
    -- A redelivery. A concurrent duplicate waited here for the first insert to
    -- commit. Not yet processed: the job is put back to run now (replace mode
    -- resets a job waiting on its back-off; a running one is left alone).
    select e.processed_at into processed from public.inbound_webhook_events e
     where e.provider = 'stripe' and e.event_id = evt_id;
    if processed is null then
      perform graphile_worker.add_job('stripe.process_event', json_build_object('event_id', evt_id),
                                      queue_name => queue, max_attempts => 25, job_key => 'stripe:' || evt_id);
    end if;
    return jsonb_build_object('outcome', 'duplicate', 'processed', processed is not null);
  end if;
  perform graphile_worker.add_job('stripe.process_event', json_build_object('event_id', evt_id),
                                  queue_name => queue, max_attempts => 25, job_key => 'stripe:' || evt_id);
  return jsonb_build_object('outcome', 'recorded');
end $$;
comment on function app.stripe_record_event(jsonb) is 'For the Stripe webhook route (service_role), after the signature is verified: records the event once in inbound_webhook_events and enqueues stripe.process_event in the same transaction; {outcome: recorded | duplicate, processed?}.';

-- The event's row, locked, when it still needs processing (NULL otherwise).
create function app.stripe_event_to_process(event_id text) returns public.inbound_webhook_events
language sql security definer
set search_path = pg_catalog, public
as $$
  select e.* from public.inbound_webhook_events e
   where e.provider = 'stripe' and e.event_id = stripe_event_to_process.event_id and e.processed_at is null
   for update
$$;

create function app.stripe_finish_event(event_id text, outcome text, attempts integer) returns void
language sql security definer
set search_path = pg_catalog, public
as $$
  update public.inbound_webhook_events e
     set processed_at = now(), outcome = stripe_finish_event.outcome, last_error = null,
         attempts = greatest(stripe_finish_event.attempts, 1)
   where e.provider = 'stripe' and e.event_id = stripe_finish_event.event_id and e.processed_at is null
$$;
comment on function app.stripe_finish_event(text, text, integer) is 'For the Stripe event job: marks an event processed with its outcome (applied, ignored, stale) and the job attempt that did it.';

create function app.stripe_event_failed(event_id text, attempts integer, error text) returns void
language sql security definer
set search_path = pg_catalog, public
as $$
  update public.inbound_webhook_events e
     set attempts = greatest(stripe_event_failed.attempts, 1), last_error = left(error, 2000)
   where e.provider = 'stripe' and e.event_id = stripe_event_failed.event_id and e.processed_at is null
$$;
comment on function app.stripe_event_failed(text, integer, text) is 'For the Stripe event job: records a failed attempt (the job''s attempt number and the error); the queue retries it.';

-- -----------------------------------------------------------------------------
-- account.updated / account.application.deauthorized: the account as Stripe
-- returned it when fetched at fetched_at, mirrored into payout_accounts.
-- -----------------------------------------------------------------------------
create function app.stripe_apply_account(event_id text, account jsonb, fetched_at timestamptz, attempts integer)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  ev public.inbound_webhook_events := app.stripe_event_to_process(event_id);
  p public.payout_accounts;
  req jsonb := coalesce(account -> 'requirements', '{}');
  due text[];
  outcome text := 'applied';
begin
  if ev.id is null then
    return jsonb_build_object('outcome', 'duplicate');
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
  perform app.stripe_finish_event(event_id, outcome, attempts);
  return jsonb_build_object('outcome', outcome, 'user_id', p.user_id);
end $$;
comment on function app.stripe_apply_account(text, jsonb, timestamptz, integer) is 'For the Stripe event job: mirrors a Connect account, as fetched from Stripe at fetched_at, into payout_accounts (unless a later fetch was applied) and marks the event processed, in one transaction.';

create function app.stripe_deauthorize_account(event_id text, account_id text, event_at timestamptz, attempts integer)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  ev public.inbound_webhook_events := app.stripe_event_to_process(event_id);
  n integer;
begin
  if ev.id is null then
    return jsonb_build_object('outcome', 'duplicate');
  end if;
  -- The platform can no longer act on the account: nothing can be charged or paid out through it.
  update public.payout_accounts a
     set charges_enabled = false, payouts_enabled = false, disabled_reason = 'platform_deauthorized',
         stripe_synced_at = greatest(a.stripe_synced_at, event_at)
   where a.stripe_account_id = account_id;
  get diagnostics n = row_count;
  perform app.stripe_finish_event(event_id, case when n = 0 then 'ignored' else 'applied' end, attempts);
  return jsonb_build_object('outcome', case when n = 0 then 'ignored' else 'applied' end);
end $$;
comment on function app.stripe_deauthorize_account(text, text, timestamptz, integer) is 'For the Stripe event job: account.application.deauthorized — the account can no longer take charges or payouts through the platform.';

-- -----------------------------------------------------------------------------
-- Onboarding (stripe-connect-onboarding / -dashboard functions)
-- -----------------------------------------------------------------------------
create function app.stripe_payout_caller()
returns table (user_id uuid, tenant_id uuid, role public.user_role, payment_mode public.payment_mode,
               country text, stripe_account_id text, details_submitted boolean, charges_enabled boolean,
               payouts_enabled boolean)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select u.id, u.tenant_id, u.role, t.payment_mode,
         -- A region of one country fixes the Express account's country (it cannot change later).
         case when cardinality(r.country_codes) = 1 then r.country_codes[1] end,
         p.stripe_account_id, p.details_submitted, p.charges_enabled, p.payouts_enabled
    from public.users u
    join public.tenants t on t.id = u.tenant_id
    left join public.regions r on r.id = t.region_id
    left join public.payout_accounts p on p.user_id = u.id
   where u.id = app.current_user_id()
$$;
comment on function app.stripe_payout_caller() is 'The signed-in caller as payout onboarding needs them: role, the tenant''s payment mode, the region''s country, and their Connect account if any. No row without a user.';

create function app.stripe_link_payout_account(user_id uuid, stripe_account_id text) returns text
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  kept text;
begin
  insert into public.payout_accounts (user_id, stripe_account_id)
  values (user_id, stripe_account_id)
  on conflict on constraint payout_accounts_pkey do nothing;
  -- Two onboarding calls at once create one account at Stripe (same idempotency
  -- key), and whichever insert lost keeps the first.
  select a.stripe_account_id into kept from public.payout_accounts a where a.user_id = stripe_link_payout_account.user_id;
  return kept;
end $$;
comment on function app.stripe_link_payout_account(uuid, text) is 'For the onboarding function (service_role): stores the Connect account created for a provider, once; returns the account id kept.';

revoke execute on function app.stripe_record_event(jsonb), app.stripe_event_to_process(text),
  app.stripe_finish_event(text, text, integer), app.stripe_event_failed(text, integer, text),
  app.stripe_apply_account(text, jsonb, timestamptz, integer),
  app.stripe_deauthorize_account(text, text, timestamptz, integer),
  app.stripe_payout_caller(), app.stripe_link_payout_account(uuid, text) from public;
grant execute on function app.stripe_record_event(jsonb), app.stripe_finish_event(text, text, integer),
  app.stripe_event_failed(text, integer, text), app.stripe_apply_account(text, jsonb, timestamptz, integer),
  app.stripe_deauthorize_account(text, text, timestamptz, integer),
  app.stripe_link_payout_account(uuid, text) to service_role;
grant execute on function app.stripe_payout_caller() to authenticated;
