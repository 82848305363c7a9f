-- =============================================================================
-- 0036 webhooks: outbound webhooks end to end (decision 0022, docs/webhooks.md).
--
-- * Events are written by triggers in the transaction of the change that caused
--   them (app.emit_event): one webhook_deliveries row per matching endpoint and
--   one graphile-worker job per row, so a rolled-back change emits nothing.
-- * The delivery task (src/webhooks/) sends, then records each attempt here
--   (app.record_webhook_attempt): retry schedule, auto-disable, owner notified.
-- * Endpoints are managed by holders of webhooks.manage; secrets rotate with the
--   old one still signing for a grace period; deliveries can be replayed.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Columns
-- -----------------------------------------------------------------------------
alter table public.webhook_endpoints
  add column previous_secret    text check (previous_secret ~ '^whsec_[A-Za-z0-9+/=]{32,}$'),
  add column secret_rotated_at  timestamptz,
  add column failing_since      timestamptz;
comment on column public.webhook_endpoints.previous_secret is 'The secret before the last rotation: deliveries are signed with it too while the grace period (LOCONOMY_WEBHOOKS_ROTATION_GRACE_HOURS) since secret_rotated_at lasts. Never readable through the API.';
grant select (secret_rotated_at, failing_since) on public.webhook_endpoints to authenticated;
comment on column public.webhook_endpoints.failing_since is 'When the current run of consecutive failures began (null after a success): auto-disable needs both enough failures and enough time.';

alter table public.webhook_deliveries
  add column duration_ms  integer check (duration_ms >= 0),
  add column attempts     jsonb not null default '[]' check (jsonb_typeof(attempts) = 'array'),
  add column replay_of    uuid;
comment on column public.webhook_deliveries.attempts is 'Every attempt, oldest first: {attempt, at, http_status, duration_ms, error}. The columns http_status, duration_ms, error_message hold the last one.';
comment on column public.webhook_deliveries.replay_of is 'The delivery this one re-sends (same message_id, same payload), when it is a replay.';

-- Event types an endpoint may subscribe to: the families of docs/webhooks.md, a
-- wildcard per family, or everything.
create function app.valid_webhook_events(events text[]) returns boolean
language sql immutable parallel safe
set search_path = pg_catalog
as $$
  select cardinality(events) between 1 and 50
     and coalesce(bool_and(e ~ '^(\*|(booking|review|message|payment|referral|user)\.(\*|[a-z_]+))$'), false)
    from unnest(events) e
$$;
grant execute on function app.valid_webhook_events(text[]) to anon, authenticated, service_role;
alter table public.webhook_endpoints
  add constraint webhook_endpoints_known_events check (app.valid_webhook_events(events)) not valid;

create function app.webhook_event_matches(patterns text[], event_type text) returns boolean
language sql immutable parallel safe
set search_path = pg_catalog
as $$
  select exists (
    select 1 from unnest(patterns) p
     where p = '*' or p = event_type
        or (p like '%.*' and split_part(p, '.', 1) = split_part(event_type, '.', 1)))
$$;
grant execute on function app.webhook_event_matches(text[], text) to authenticated, service_role;

-- The old secret must never reach audit_logs either.
drop trigger webhook_endpoints_audit on public.webhook_endpoints;
create trigger webhook_endpoints_audit after insert or update of url, events, is_active, secret, disabled_at or delete
  on public.webhook_endpoints for each row execute function app.audit_row('secret', 'previous_secret');

-- Re-enabling an endpoint starts its health afresh.
create function app.webhook_endpoints_reenable() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
  if new.is_active and not old.is_active then
    new.disabled_at := null;
    new.consecutive_failures := 0;
    new.failing_since := null;
  end if;
  return new;
end $$;
create trigger webhook_endpoints_reenable before update of is_active on public.webhook_endpoints
  for each row execute function app.webhook_endpoints_reenable();

-- Endpoint health follows each finished attempt (replaces 0013's: also keeps failing_since).
create or replace function app.webhook_deliveries_track_health() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if new.status = 'succeeded' then
    update public.webhook_endpoints
       set consecutive_failures = 0, failing_since = null, last_success_at = new.delivered_at
     where id = new.endpoint_id;
  elsif new.status in ('failed', 'dead') then
    update public.webhook_endpoints
       set consecutive_failures = consecutive_failures + 1,
           failing_since = coalesce(failing_since, new.last_attempt_at, now()),
           last_failure_at = coalesce(new.last_attempt_at, now())
     where id = new.endpoint_id;
  end if;
  return null;
end $$;

-- -----------------------------------------------------------------------------
-- Who manages an endpoint: its owner or a manager of its tenant, holding
-- webhooks.manage; or service_role.
-- -----------------------------------------------------------------------------
create function app.is_service_role() returns boolean
language sql stable
set search_path = pg_catalog
as $$
  select coalesce(app.jwt_claims() ->> 'role', '') = 'service_role'
$$;
grant execute on function app.is_service_role() to anon, authenticated, service_role;

create function app.can_manage_webhook_endpoint(endpoint public.webhook_endpoints) returns boolean
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select app.is_service_role()
      or (app.has_permission('webhooks.manage')
          and (endpoint.user_id = app.current_user_id() or endpoint.tenant_id = app.current_tenant_id()))
$$;
revoke execute on function app.can_manage_webhook_endpoint(public.webhook_endpoints) from public;
grant execute on function app.can_manage_webhook_endpoint(public.webhook_endpoints) to authenticated, service_role;

create policy "Webhook managers can update endpoints of their tenant" on public.webhook_endpoints
  for update to authenticated
  using ((select app.has_permission('webhooks.manage')) and tenant_id = (select app.current_tenant_id()))
  with check (tenant_id = (select app.current_tenant_id()));
create policy "Webhook managers can delete endpoints of their tenant" on public.webhook_endpoints
  for delete to authenticated
  using ((select app.has_permission('webhooks.manage')) and tenant_id = (select app.current_tenant_id()));
-- Managing (not reading your own) needs the permission, whoever owns the endpoint.
create policy "Managing webhook endpoints needs webhooks.manage" on public.webhook_endpoints
  as restrictive for update to authenticated using ((select app.has_permission('webhooks.manage')));
create policy "Deleting webhook endpoints needs webhooks.manage" on public.webhook_endpoints
  as restrictive for delete to authenticated using ((select app.has_permission('webhooks.manage')));

-- Registration: permission and known event types checked; the secret made here.
-- 0013's version returned the table row, whose secret column the API cannot read
-- (column privileges), so it never showed the secret; these return it as a column
-- of their own, as create_api_key does.
drop function public.create_webhook_endpoint(text, text[], text);
drop function public.rotate_webhook_secret(uuid);

create function public.create_webhook_endpoint(url text, events text[], description text default null)
returns table (endpoint_id uuid, signing_secret text, endpoint_url text, subscribed_events text[], created_at timestamptz)
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.current_user_id();
  created public.webhook_endpoints;
begin
  if me is null then
    raise insufficient_privilege using message = 'sign in to create a webhook endpoint';
  end if;
  if not app.has_permission('webhooks.manage') then
    raise insufficient_privilege using message = 'creating webhook endpoints needs the webhooks.manage permission';
  end if;
  if events is null or not app.valid_webhook_events(events) then
    raise check_violation using
      message = 'events must list 1 to 50 event types such as booking.created, booking.* or *',
      hint = 'families: booking, review, message, payment, referral, user (docs/webhooks.md)';
  end if;
  if url is null or url !~ '^https?://[^\s/$.?#].[^\s]*$' or length(url) > 2048 then
    raise check_violation using message = 'url must be an http(s) URL of at most 2048 characters';
  end if;
  insert into public.webhook_endpoints (user_id, url, events, description, secret)
  values (me, create_webhook_endpoint.url, create_webhook_endpoint.events, create_webhook_endpoint.description,
          app.new_webhook_secret())
  returning * into created;
  return query select created.id, created.secret, created.url, created.events, created.created_at;
end $$;
comment on function public.create_webhook_endpoint(text, text[], text) is 'Registers a webhook endpoint (needs webhooks.manage) for event types of docs/webhooks.md and returns its signing secret (whsec_…), shown only now.';

-- Rotation keeps the old secret signing during the grace period (decision 0022).
create function public.rotate_webhook_secret(endpoint_id uuid)
returns table (id uuid, signing_secret text, rotated_at timestamptz)
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  e public.webhook_endpoints;
begin
  select * into e from public.webhook_endpoints w where w.id = rotate_webhook_secret.endpoint_id for update;
  if e.id is null or not app.can_manage_webhook_endpoint(e) then
    raise no_data_found using message = format('webhook endpoint %s not found', rotate_webhook_secret.endpoint_id);
  end if;
  update public.webhook_endpoints w
     set previous_secret = w.secret, secret = app.new_webhook_secret(), secret_rotated_at = now()
   where w.id = e.id
  returning * into e;
  return query select e.id, e.secret, e.secret_rotated_at;
end $$;
comment on function public.rotate_webhook_secret(uuid) is 'Gives an endpoint a new signing secret and returns it (shown only now); the old one keeps signing alongside it for LOCONOMY_WEBHOOKS_ROTATION_GRACE_HOURS.';
revoke execute on function public.create_webhook_endpoint(text, text[], text), public.rotate_webhook_secret(uuid) from public;
grant execute on function public.create_webhook_endpoint(text, text[], text), public.rotate_webhook_secret(uuid)
  to authenticated, service_role;

-- -----------------------------------------------------------------------------
-- The outbox
-- -----------------------------------------------------------------------------
-- One delivery row and one job for an endpoint; the job exists only if the
-- caller's transaction commits.
create function app.enqueue_webhook_delivery(endpoint_id uuid, message_id text, event_type text, body jsonb,
                                             replay_of uuid default null) returns uuid
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  delivery uuid;
begin
  insert into public.webhook_deliveries (endpoint_id, message_id, event_type, payload, replay_of)
  values (endpoint_id, message_id, event_type, body, replay_of)
  returning id into delivery;
  perform graphile_worker.add_job('webhooks.deliver', json_build_object('delivery_id', delivery),
                                  max_attempts => 5, job_key => 'webhook:' || delivery);
  return delivery;
end $$;
revoke execute on function app.enqueue_webhook_delivery(uuid, text, text, jsonb, uuid) from public;

-- Standard Webhooks body: {type, timestamp, data}; the message id is the webhook-id.
create function app.webhook_body(event_type text, data jsonb) returns jsonb
language sql stable
set search_path = pg_catalog
as $$
  select jsonb_build_object('type', event_type,
                            'timestamp', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                            'data', data)
$$;

create function app.emit_event(event_type text, tenant uuid, data jsonb) returns integer
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  message text;
  body jsonb;
  e record;
  n integer := 0;
begin
  for e in
    select w.id from public.webhook_endpoints w
     where w.tenant_id = tenant and w.is_active and w.disabled_at is null
       and app.webhook_event_matches(w.events, event_type)
     order by w.id
  loop
    if message is null then
      message := 'msg_' || app.random_hex(1);
      body := app.webhook_body(event_type, data);
    end if;
    perform app.enqueue_webhook_delivery(e.id, message, event_type, body);
    n := n + 1;
  end loop;
  return n;
end $$;
comment on function app.emit_event(text, uuid, jsonb) is 'Writes an event of the catalogue (docs/webhooks.md) to the outbox: a delivery and a job per active endpoint of the tenant subscribed to it, in the caller''s transaction. Returns how many.';
revoke execute on function app.emit_event(text, uuid, jsonb) from public;

-- -----------------------------------------------------------------------------
-- Event triggers: thin payloads (ids, states, times), no personal data; a
-- receiver reads the rest through the API with its own rights.
-- -----------------------------------------------------------------------------
create function app.booking_webhook_data(b public.bookings) returns jsonb
language sql stable
set search_path = pg_catalog
as $$
  select jsonb_build_object('id', b.id, 'listing_id', b.listing_id, 'provider_id', b.provider_id,
                            'customer_id', b.customer_id, 'status', b.status, 'starts_at', b.starts_at,
                            'ends_at', b.ends_at, 'currency', b.currency, 'total_cents', b.total_cents,
                            'confirmation_code', b.confirmation_code)
$$;

create function app.bookings_emit_events() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  data jsonb := app.booking_webhook_data(new);
begin
  if tg_op = 'INSERT' then
    perform app.emit_event('booking.created', new.tenant_id, data);
    return null;
  end if;
  if new.status is distinct from old.status then
    data := data || jsonb_build_object('previous_status', old.status);
    if new.status::text in ('confirmed', 'cancelled', 'completed', 'declined', 'expired') then
      perform app.emit_event('booking.' || new.status::text, new.tenant_id,
                             data || case when new.status = 'cancelled'
                                          then jsonb_build_object('cancelled_by', new.cancelled_by,
                                                                  'cancellation_reason', new.cancellation_reason)
                                          else '{}' end);
    end if;
  end if;
  if new.starts_at is distinct from old.starts_at or new.ends_at is distinct from old.ends_at then
    perform app.emit_event('booking.rescheduled', new.tenant_id,
                           data || jsonb_build_object('previous_starts_at', old.starts_at,
                                                      'previous_ends_at', old.ends_at));
  end if;
  return null;
end $$;
create trigger bookings_emit_events after insert or update of status, starts_at, ends_at on public.bookings
  for each row execute function app.bookings_emit_events();

create function app.reviews_emit_events() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if new.published_at is not null and (tg_op = 'INSERT' or old.published_at is null) then
    perform app.emit_event('review.published', new.tenant_id,
      jsonb_build_object('id', new.id, 'booking_id', new.booking_id, 'listing_id', new.listing_id,
                         'reviewer_id', new.reviewer_id, 'reviewee_id', new.reviewee_id, 'rating', new.rating,
                         'is_public', new.is_public, 'published_at', new.published_at));
  end if;
  return null;
end $$;
create trigger reviews_emit_events after insert or update of published_at on public.reviews
  for each row execute function app.reviews_emit_events();

create function app.messages_emit_events() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  perform app.emit_event('message.created', new.tenant_id,
    jsonb_build_object('id', new.id, 'conversation_id', new.conversation_id, 'sender_id', new.sender_id,
                       'type', new.type, 'reply_to_id', new.reply_to_id, 'created_at', new.created_at));
  return null;
end $$;
create trigger messages_emit_events after insert on public.messages
  for each row execute function app.messages_emit_events();

create function app.referrals_emit_events() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  data jsonb := jsonb_build_object('id', new.id, 'referrer_id', new.referrer_id, 'referee_id', new.referee_id,
                                   'program_id', new.program_id, 'status', new.status);
begin
  if tg_op = 'INSERT' then
    perform app.emit_event('referral.redeemed', new.tenant_id, data);
  elsif new.status = 'completed' and old.status <> 'completed' then
    perform app.emit_event('referral.completed', new.tenant_id,
                           data || jsonb_build_object('first_booking_id', new.first_booking_id,
                                                      'completed_at', new.completed_at));
  end if;
  return null;
end $$;
create trigger referrals_emit_events after insert or update of status on public.referrals
  for each row execute function app.referrals_emit_events();

create function app.users_emit_events() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  r public.users := case when tg_op = 'DELETE' then old else new end;
  data jsonb := jsonb_build_object('id', r.id, 'role', r.role, 'status', r.status,
                                   'verification_status', r.verification_status, 'created_at', r.created_at);
begin
  if tg_op = 'INSERT' then
    perform app.emit_event('user.created', new.tenant_id, data);
  elsif tg_op = 'DELETE' or (new.deleted_at is not null and old.deleted_at is null) then
    perform app.emit_event('user.deleted', r.tenant_id, data);
  elsif new.deleted_at is null then
    perform app.emit_event('user.updated', new.tenant_id, data);
  end if;
  return null;
end $$;
-- Only changes a subscriber cares about (not last_active_at, login_count, …).
create trigger users_emit_events
  after insert or delete or update of email, phone, role, status, verification_status, first_name, last_name,
                                      time_zone, locale, deleted_at
  on public.users for each row execute function app.users_emit_events();

revoke execute on function app.bookings_emit_events(), app.reviews_emit_events(), app.messages_emit_events(),
  app.referrals_emit_events(), app.users_emit_events() from public;

-- -----------------------------------------------------------------------------
-- The delivery task's two calls (service_role only)
-- -----------------------------------------------------------------------------
create function app.webhook_delivery_to_send(delivery_id uuid)
returns table (url text, secret text, previous_secret text, secret_rotated_at timestamptz, message_id text,
               payload jsonb, attempt integer, endpoint_active boolean)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select e.url, e.secret, e.previous_secret, e.secret_rotated_at, d.message_id, d.payload, d.attempt_count + 1,
         e.is_active and e.disabled_at is null
    from public.webhook_deliveries d join public.webhook_endpoints e on e.id = d.endpoint_id
   where d.id = delivery_id and d.status in ('pending', 'failed', 'delivering')
$$;
revoke execute on function app.webhook_delivery_to_send(uuid) from public;
grant execute on function app.webhook_delivery_to_send(uuid) to service_role;

create function app.record_webhook_attempt(
  delivery_id uuid, http_status integer, duration_ms integer, error text, response_body text,
  retry_in_ms integer, disable_after_failures integer, disable_after_seconds integer
) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  d public.webhook_deliveries;
  e public.webhook_endpoints;
  ok boolean := error is null and http_status between 200 and 299;
  attempt integer;
  next_status public.delivery_status;
  retry_at timestamptz;
  disabled boolean := false;
begin
  select * into d from public.webhook_deliveries w where w.id = delivery_id for update;
  if d.id is null or d.status in ('succeeded', 'dead') then
    return jsonb_build_object('status', coalesce(d.status::text, 'missing'), 'recorded', false);
  end if;
  select * into e from public.webhook_endpoints w where w.id = d.endpoint_id for update;
  attempt := d.attempt_count + 1;
  if ok then
    next_status := 'succeeded';
  elsif attempt <= e.max_retries and retry_in_ms is not null and e.is_active then
    next_status := 'failed';
    retry_at := now() + make_interval(secs => retry_in_ms / 1000.0);
  else
    next_status := 'dead';
  end if;
  update public.webhook_deliveries w
     set status = next_status, attempt_count = attempt, last_attempt_at = now(),
         http_status = record_webhook_attempt.http_status, duration_ms = record_webhook_attempt.duration_ms,
         error_message = error, response_body = left(record_webhook_attempt.response_body, 4096),
         delivered_at = case when ok then now() end,
         next_attempt_at = coalesce(retry_at, w.next_attempt_at, now()),
         attempts = w.attempts || jsonb_build_object('attempt', attempt, 'at', now(),
                                                     'http_status', record_webhook_attempt.http_status,
                                                     'duration_ms', record_webhook_attempt.duration_ms,
                                                     'error', error)
   where w.id = d.id and w.created_at = d.created_at;

  -- Sustained failure: enough failures in a row, over long enough (the health
  -- trigger has just counted this one).
  select * into e from public.webhook_endpoints w where w.id = d.endpoint_id;
  if not ok and e.is_active and e.consecutive_failures >= disable_after_failures
     and e.failing_since <= now() - make_interval(secs => disable_after_seconds) then
    update public.webhook_endpoints w set is_active = false, disabled_at = now() where w.id = e.id;
    update public.webhook_deliveries w set status = 'dead', error_message = 'endpoint disabled'
     where w.endpoint_id = e.id and w.status in ('pending', 'failed');
    insert into public.notifications (user_id, tenant_id, type, title, body, data)
    values (e.user_id, e.tenant_id, 'system_alert', 'Webhook endpoint disabled',
            format('Deliveries to %s failed %s times in a row since %s, so it was disabled. Fix it, then enable it again.',
                   e.url, e.consecutive_failures, e.failing_since),
            jsonb_build_object('kind', 'webhook_endpoint_disabled', 'endpoint_id', e.id, 'url', e.url,
                               'consecutive_failures', e.consecutive_failures));
    disabled := true;
    next_status := 'dead';
    retry_at := null;
  end if;

  if retry_at is not null then
    perform graphile_worker.add_job('webhooks.deliver', json_build_object('delivery_id', d.id),
                                    run_at => retry_at, max_attempts => 5, job_key => 'webhook:' || d.id);
  end if;
  return jsonb_build_object('status', next_status, 'attempt', attempt, 'retry_at', retry_at,
                            'endpoint_disabled', disabled, 'recorded', true);
end $$;
comment on function app.record_webhook_attempt(uuid, integer, integer, text, text, integer, integer, integer) is 'For the delivery task: records one attempt (success when no error and a 2xx status), schedules the retry after retry_in_ms while the endpoint''s max_retries allow, and disables the endpoint (owner notified) after disable_after_failures failures in a row spanning disable_after_seconds.';
revoke execute on function app.record_webhook_attempt(uuid, integer, integer, text, text, integer, integer, integer) from public;
grant execute on function app.record_webhook_attempt(uuid, integer, integer, text, text, integer, integer, integer) to service_role;

-- -----------------------------------------------------------------------------
-- Replay and test events (owners or tenant managers with webhooks.manage, or service_role)
-- -----------------------------------------------------------------------------
create function app.managed_active_endpoint(endpoint_id uuid) returns public.webhook_endpoints
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  e public.webhook_endpoints;
begin
  select * into e from public.webhook_endpoints w where w.id = endpoint_id;
  if e.id is null or not app.can_manage_webhook_endpoint(e) then
    raise no_data_found using message = format('webhook endpoint %s not found', endpoint_id);
  end if;
  if not e.is_active then
    raise object_not_in_prerequisite_state using
      message = format('webhook endpoint %s is disabled', endpoint_id), hint = 'set is_active to true first';
  end if;
  return e;
end $$;
revoke execute on function app.managed_active_endpoint(uuid) from public;

create function public.replay_webhook_delivery(delivery_id uuid) returns uuid
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  d public.webhook_deliveries;
begin
  select * into d from public.webhook_deliveries w where w.id = delivery_id order by w.created_at desc limit 1;
  if d.id is null or not app.can_manage_webhook_endpoint(
       (select w from public.webhook_endpoints w where w.id = d.endpoint_id)) then
    raise no_data_found using message = format('webhook delivery %s not found', delivery_id);
  end if;
  perform app.managed_active_endpoint(d.endpoint_id);
  return app.enqueue_webhook_delivery(d.endpoint_id, d.message_id, d.event_type, d.payload, d.id);
end $$;
comment on function public.replay_webhook_delivery(uuid) is 'Sends a delivery''s event to its endpoint again, with the same webhook-id and body; returns the new delivery id.';

create function public.replay_webhook_deliveries(endpoint_id uuid, since timestamptz, until timestamptz default now())
returns integer
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  n integer := 0;
  d record;
begin
  perform app.managed_active_endpoint(endpoint_id);
  if since is null or until is null or since > until or until - since > interval '31 days' then
    raise invalid_parameter_value using message = 'since must precede until, at most 31 days apart';
  end if;
  -- Each event once (the first delivery of each message id), in order.
  for d in
    select distinct on (w.message_id) w.id, w.message_id, w.event_type, w.payload, w.created_at
      from public.webhook_deliveries w
     where w.endpoint_id = replay_webhook_deliveries.endpoint_id and w.created_at >= since and w.created_at < until
       and w.event_type <> 'webhook.test'
     order by w.message_id, w.created_at
  loop
    perform app.enqueue_webhook_delivery(endpoint_id, d.message_id, d.event_type, d.payload, d.id);
    n := n + 1;
  end loop;
  return n;
end $$;
comment on function public.replay_webhook_deliveries(uuid, timestamptz, timestamptz) is 'Sends again every event delivered (or not) to an endpoint between since and until (at most 31 days), each with its webhook-id; returns how many.';

create function public.send_test_webhook(endpoint_id uuid) returns uuid
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  e public.webhook_endpoints := app.managed_active_endpoint(endpoint_id);
begin
  return app.enqueue_webhook_delivery(e.id, 'msg_' || app.random_hex(1), 'webhook.test',
    app.webhook_body('webhook.test', jsonb_build_object('endpoint_id', e.id, 'message', 'This is a test event from Loconomy.')));
end $$;
comment on function public.send_test_webhook(uuid) is 'Sends a webhook.test event to an endpoint now; returns the delivery id (its attempts show in webhook_deliveries).';

revoke execute on function public.replay_webhook_delivery(uuid), public.replay_webhook_deliveries(uuid, timestamptz, timestamptz),
  public.send_test_webhook(uuid) from public;
grant execute on function public.replay_webhook_delivery(uuid), public.replay_webhook_deliveries(uuid, timestamptz, timestamptz),
  public.send_test_webhook(uuid) to authenticated, service_role;
