-- =============================================================================
-- 0039 clerk push: a user's role, status and verification, changed in
-- Loconomy, reach the user's Clerk public_metadata through a job (decision
-- 0021), so the next Clerk session token carries them.
--
-- A trigger on users enqueues the job in the changing transaction (a rollback
-- enqueues nothing); the job (src/jobs/tasks/push-clerk-user.ts) reads the
-- current values, calls Clerk's Backend API and records what it pushed here.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- What was pushed, per Clerk user, beside what Clerk last sent (0035).
-- -----------------------------------------------------------------------------
alter table app.clerk_users
  add column pushed_role             text,
  add column pushed_status           text,
  add column pushed_verification     text,
  add column pushed_at               timestamptz,
  add column pushed_clerk_updated_at timestamptz;
comment on column app.clerk_users.pushed_role is 'users.role as last written to Clerk public_metadata.role by the push job.';
comment on column app.clerk_users.pushed_status is 'users.status as last written to Clerk public_metadata.status.';
comment on column app.clerk_users.pushed_verification is 'users.verification_status as last written to Clerk public_metadata.verification_status.';
comment on column app.clerk_users.pushed_at is 'When the last push succeeded.';
comment on column app.clerk_users.pushed_clerk_updated_at is 'Clerk''s updated_at of the user object the last push returned: user.updated events not newer than it carry metadata as old as the push (its echo, or an event sent before it), so their public_metadata.role is not a change.';

-- -----------------------------------------------------------------------------
-- The trigger: one job per user, coalesced while it waits (job_key), in one of
-- eight serial queues picked by the user, so two pushes of one user never run
-- at once and land in the order they were made. Status moving from
-- pending_verification to active is Clerk's own email verification (0035), not
-- news for Clerk. An erased account (no clerk_id) is never pushed. Where the
-- queue schema is not installed yet (a fresh database before any serve or
-- worker started) there is nobody to run the job, and the change goes unpushed
-- rather than failing; the next change pushes the whole state.
-- -----------------------------------------------------------------------------
create function app.users_enqueue_clerk_push() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if new.clerk_id is null or new.deleted_at is not null or to_regnamespace('graphile_worker') is null then
    return null;
  end if;
  perform graphile_worker.add_job('clerk.push_user', json_build_object('user_id', new.id),
                                  queue_name => 'clerk.push:' || (hashtext(new.id::text) & 7),
                                  job_key => 'clerk.push:' || new.id);
  return null;
end $$;
revoke execute on function app.users_enqueue_clerk_push() from public;

create trigger users_clerk_push
  after update of role, status, verification_status on public.users
  for each row
  when (old.role is distinct from new.role
        or old.verification_status is distinct from new.verification_status
        or (old.status is distinct from new.status
            and not (old.status = 'pending_verification' and new.status = 'active')))
  execute function app.users_enqueue_clerk_push();

-- -----------------------------------------------------------------------------
-- For the job: what to push (NULL: nothing — no Clerk user, erased, or already
-- pushed as it is), and the record of a push that succeeded.
-- -----------------------------------------------------------------------------
create function app.clerk_push_state(target uuid) returns jsonb
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select jsonb_build_object('clerk_id', u.clerk_id, 'role', u.role, 'status', u.status,
                            'verification_status', u.verification_status)
  from public.users u
  left join app.clerk_users c on c.clerk_id_hash = app.clerk_id_hash(u.clerk_id)
  where u.id = target and u.clerk_id is not null and u.deleted_at is null and c.deleted_at is null
    and (c.clerk_id_hash is null
         or (u.role::text, u.status::text, u.verification_status::text)
            is distinct from (c.pushed_role, c.pushed_status, c.pushed_verification))
$$;
comment on function app.clerk_push_state(uuid) is 'The Clerk id, role, status and verification_status to push for a user; NULL when there is nothing to push (no Clerk id, erased, deleted at Clerk, or unchanged since the last push).';

-- Clerk now holds the pushed role, so it is also "what Clerk last sent"
-- (metadata_role): a later user.updated still carrying it is not a change.
create function app.clerk_record_push(pushed jsonb, returned_updated_at timestamptz) returns void
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  subject text := pushed ->> 'clerk_id';
  state app.clerk_users;
begin
  if coalesce(subject, '') = '' then
    raise invalid_parameter_value using message = 'the pushed state needs the clerk_id';
  end if;
  state := app.clerk_lock(subject);
  update app.clerk_users c set
    pushed_role = pushed ->> 'role',
    pushed_status = pushed ->> 'status',
    pushed_verification = pushed ->> 'verification_status',
    pushed_at = now(),
    pushed_clerk_updated_at = greatest(c.pushed_clerk_updated_at, returned_updated_at),
    metadata_role = pushed ->> 'role'
  where c.clerk_id_hash = state.clerk_id_hash and c.deleted_at is null;
end $$;
comment on function app.clerk_record_push(jsonb, timestamptz) is 'Records a push to Clerk that succeeded: the values pushed and the updated_at of the user object Clerk returned.';

revoke execute on function app.clerk_push_state(uuid), app.clerk_record_push(jsonb, timestamptz) from public;
grant execute on function app.clerk_push_state(uuid), app.clerk_record_push(jsonb, timestamptz) to service_role;

-- -----------------------------------------------------------------------------
-- user.created/updated (0035) again, with one change: public_metadata.role from
-- an event not newer than the last push is neither applied nor remembered, so
-- an echo of an older push arriving after a newer one cannot undo it.
-- -----------------------------------------------------------------------------
create or replace function app.clerk_apply_user(data jsonb, trusted text[]) returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  subject text := data ->> 'id';
  changed_at timestamptz := coalesce(app.clerk_time(data -> 'updated_at'), app.clerk_time(data -> 'created_at'));
  state app.clerk_users := app.clerk_lock(subject);
  account public.users;
  email jsonb := app.clerk_primary(data -> 'email_addresses', data ->> 'primary_email_address_id', 'email_address');
  phone jsonb := app.clerk_primary(data -> 'phone_numbers', data ->> 'primary_phone_number_id', 'phone_number');
  new_email text;
  email_verified boolean := false;
  new_phone text;
  phone_verified boolean := false;
  image text := nullif(data ->> 'image_url', '');
  claimed_role text := data -> 'public_metadata' ->> 'role';
  new_role public.user_role;
  metadata_fresh boolean;
begin
  if state.deleted_at is not null then
    return jsonb_build_object('outcome', 'ignored', 'reason', 'Clerk deleted this user');
  end if;
  if state.clerk_updated_at is not null and changed_at is not null and changed_at <= state.clerk_updated_at then
    return jsonb_build_object('outcome', 'ignored', 'reason', 'an update as new or newer was applied before');
  end if;
  perform app.clerk_create_account(subject, jsonb_build_object(
    'tenant_id', data -> 'public_metadata' ->> 'tenant_id'), trusted);
  select * into account from public.users u where u.clerk_id = subject and u.deleted_at is null;

  -- An address the users table would refuse is left out, not a reason to fail the event.
  if email ->> 'value' ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
    new_email := email ->> 'value';
    email_verified := (email ->> 'verified')::boolean;
  else
    new_email := account.email;
  end if;
  if phone ->> 'value' ~ '^\+?[0-9 ()-]{6,20}$' then
    new_phone := phone ->> 'value';
    phone_verified := (phone ->> 'verified')::boolean;
  end if;
  -- A role from Clerk only when the deployment trusts it, only when Clerk's value changed
  -- (a stale value does not undo a role set in Loconomy), and never super_admin.
  -- Metadata not newer than Loconomy's last push (its echo, or an older event) is not a change.
  metadata_fresh := state.pushed_clerk_updated_at is null or changed_at > state.pushed_clerk_updated_at;
  if 'role' = any (trusted) and metadata_fresh and claimed_role is distinct from state.metadata_role
     and claimed_role in ('guest', 'customer', 'provider', 'admin') then
    new_role := claimed_role::public.user_role;
  end if;

  update public.users u set
    email = new_email,
    email_verified_at = case when not email_verified then null
                             when new_email = u.email and u.email_verified_at is not null then u.email_verified_at
                             else coalesce(changed_at, now()) end,
    phone = new_phone,
    phone_verified_at = case when new_phone is null or not phone_verified then null
                             when new_phone = u.phone and u.phone_verified_at is not null then u.phone_verified_at
                             else coalesce(changed_at, now()) end,
    first_name = left(nullif(trim(data ->> 'first_name'), ''), 100),
    last_name = left(nullif(trim(data ->> 'last_name'), ''), 100),
    -- Clerk verified the address: the account is no longer pending (suspended or banned stay so).
    status = case when u.status = 'pending_verification' and email_verified then 'active' else u.status end,
    role = coalesce(new_role, u.role)
  where u.id = account.id
  returning * into account;

  update public.user_profiles p set
    avatar_url = case when p.avatar_url is null or p.avatar_url = state.image_url then image else p.avatar_url end,
    display_name = coalesce(p.display_name, nullif(trim(concat_ws(' ', account.first_name,
                     left(account.last_name, 1) || case when account.last_name is not null then '.' end)), '')),
    is_public = p.is_public or new_role is not distinct from 'provider'
  where p.user_id = account.id;

  update app.clerk_users set clerk_updated_at = coalesce(changed_at, clerk_updated_at), image_url = image,
         metadata_role = case when metadata_fresh then claimed_role else metadata_role end
  where clerk_id_hash = state.clerk_id_hash;
  return jsonb_build_object('outcome', 'applied', 'user_id', account.id);
end $$;
revoke execute on function app.clerk_apply_user(jsonb, text[]) from public;

-- =============================================================================
-- The open bookings of an account deleted at Clerk. The person is gone from the
-- identity provider, so the other party must not wait for a booking that cannot
-- happen: each pending, confirmed or started booking is cancelled with a full
-- refund — the provider gone, the customer is owed everything; the customer
-- gone, nothing was delivered — the way the booking workflow cancels (0021
-- act_on_booking): refund_cents, the payment follows (0040 bookings_move_money:
-- captured money refunded, an authorisation released), spent credit returned,
-- the other party notified with the reason (bookings_notify), the audit log
-- carries the reason too.
-- =============================================================================
create function app.cancel_bookings_of_closed_account(account uuid) returns integer
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  b public.bookings;
  why text;
  previous_reason text := current_setting('loconomy.reason', true);
  n integer := 0;
begin
  for b in
    select * from public.bookings x
     where (x.customer_id = account or x.provider_id = account)
       and x.status in ('pending', 'confirmed', 'in_progress')
     order by x.starts_at
       for update
  loop
    why := case when b.provider_id = account
                then 'The provider''s account was closed; the booking is cancelled and refunded in full.'
                else 'The customer''s account was closed; the booking is cancelled and refunded in full.' end;
    perform set_config('loconomy.reason', why, true);
    update public.bookings x
       set status = 'cancelled', cancellation_reason = why, cancelled_by = account, refund_cents = b.total_cents
     where x.id = b.id;
    perform app.return_credit(b.id);
    n := n + 1;
  end loop;
  perform set_config('loconomy.reason', coalesce(previous_reason, ''), true);
  return n;
end $$;
comment on function app.cancel_bookings_of_closed_account(uuid) is 'Cancels the pending, confirmed and started bookings of an account that is being closed without its consent (deleted at Clerk), refunding each in full, with the reason recorded and the other party notified. Returns how many.';
revoke execute on function app.cancel_bookings_of_closed_account(uuid) from public;

-- user.deleted (0035) again: the account's open bookings are cancelled first,
-- then the account is erased as before.
create or replace function app.clerk_delete_user(subject text) returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  state app.clerk_users := app.clerk_lock(subject);
  account uuid;
  receipt jsonb;
  cancelled integer := 0;
begin
  update app.clerk_users set deleted_at = coalesce(deleted_at, now()), image_url = null, metadata_role = null
  where clerk_id_hash = state.clerk_id_hash;
  select u.id into account from public.users u where u.clerk_id = subject and u.deleted_at is null;
  if account is not null then
    cancelled := app.cancel_bookings_of_closed_account(account);
    receipt := app.erase_account(account);
  end if;
  update public.inbound_webhook_events e
  set payload = jsonb_build_object('type', e.payload -> 'type', 'redacted', true)
  where e.provider = 'clerk'
    and coalesce(e.payload -> 'data' ->> 'user_id', e.payload -> 'data' ->> 'id') = subject;
  return jsonb_build_object('outcome', case when account is null then 'ignored' else 'applied' end,
                            'reason', case when account is null then 'no account (already deleted or never created)' end,
                            'user_id', account, 'mode', receipt ->> 'mode', 'bookings_cancelled', cancelled);
end $$;
revoke execute on function app.clerk_delete_user(text) from public;

-- =============================================================================
-- Outbound webhooks (0036): an event's fan-out enqueues its jobs in one
-- statement. app.emit_event called graphile_worker.add_job once per endpoint
-- (~1.2 ms each on PostgreSQL: 100 endpoints made a booking's insert ~20× its
-- cost); now the deliveries are one insert and the jobs one add_jobs call
-- (decision 0022 has the figures). With no endpoint subscribed it is still one
-- index probe and nothing else.
-- =============================================================================
create or replace function app.emit_event(event_type text, tenant uuid, data jsonb) returns integer
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  endpoints uuid[];
  message text;
  body jsonb;
  n integer;
begin
  select array_agg(w.id order by w.id) into endpoints
    from public.webhook_endpoints w
   where w.tenant_id = tenant and w.is_active and w.disabled_at is null
     and app.webhook_event_matches(w.events, event_type);
  if endpoints is null then
    return 0;
  end if;
  message := 'msg_' || app.random_hex(1);
  body := app.webhook_body(event_type, data);
  -- One statement, so graphile_worker's types are looked up only when an endpoint
  -- listens (databases without the queue schema keep working, as with add_job).
  with delivery as (
    insert into public.webhook_deliveries (endpoint_id, message_id, event_type, payload)
    select e, message, event_type, body from unnest(endpoints) e
    returning id
  )
  -- The job app.enqueue_webhook_delivery adds, one per delivery.
  select count(*) into n
    from graphile_worker.add_jobs((
      select array_agg(row('webhooks.deliver', json_build_object('delivery_id', d.id), null, null, 5,
                           'webhook:' || d.id, null, null)::graphile_worker.job_spec)
        from delivery d));
  return n;
end $$;

-- =============================================================================
-- The sweeper (scheduled task webhooks.sweep): a delivery still pending or
-- failed whose job is gone — an operator deleted jobs, a queue restored from an
-- older backup — would never be attempted again. Each run re-enqueues up to
-- max_rows such deliveries that have been due for a minute (same job and key as
-- the outbox's; a delivery whose job exists, even a dead one, is left alone).
-- =============================================================================
create function app.requeue_orphaned_webhook_deliveries(max_rows integer default 1000) returns integer
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  ids uuid[];
  due timestamptz[];
begin
  if max_rows is null or max_rows < 1 then
    raise invalid_parameter_value using message = 'max_rows must be a positive integer';
  end if;
  select array_agg(o.id order by o.next_attempt_at), array_agg(o.next_attempt_at order by o.next_attempt_at)
    into ids, due
    from (select d.id, d.next_attempt_at
            from public.webhook_deliveries d
           where d.status in ('pending', 'failed') and d.next_attempt_at <= now() - interval '1 minute'
             and not exists (select 1 from graphile_worker.jobs j where j.key = 'webhook:' || d.id)
           order by d.next_attempt_at
           limit max_rows
             for update of d skip locked) o;
  if ids is null then
    return 0;
  end if;
  perform graphile_worker.add_jobs(array(
    select row('webhooks.deliver', json_build_object('delivery_id', u.id), null, u.at, 5, 'webhook:' || u.id,
               null, null)::graphile_worker.job_spec
      from unnest(ids, due) u(id, at)));
  return cardinality(ids);
end $$;
comment on function app.requeue_orphaned_webhook_deliveries(integer) is 'For the scheduler: gives a job again to up to max_rows pending or failed webhook deliveries, due for a minute, that have none (their job was deleted). Returns how many.';
revoke execute on function app.requeue_orphaned_webhook_deliveries(integer) from public;
grant execute on function app.requeue_orphaned_webhook_deliveries(integer) to service_role;
