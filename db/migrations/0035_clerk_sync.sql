-- =============================================================================
-- 0035 clerk sync: Clerk's webhooks (user.created/updated/deleted,
-- session.created/ended) applied to users and user_sessions, each event once,
-- and accounts created just in time from a verified Clerk session token.
--
-- The server verifies the svix signature; everything after that happens here,
-- in one transaction per event, so a replay, a concurrent duplicate or events
-- out of order give the same result as one clean delivery (decision 0021).
-- =============================================================================

-- -----------------------------------------------------------------------------
-- app.clerk_users: what the sync knows about each Clerk user, keyed by the
-- SHA-256 of the Clerk id so that a deleted account leaves no identifier behind
-- (users.clerk_id is set to NULL when an account is erased).
-- -----------------------------------------------------------------------------
create table app.clerk_users (
  clerk_id_hash     text primary key check (clerk_id_hash ~ '^[0-9a-f]{64}$'),
  clerk_updated_at  timestamptz,
  image_url         text,
  metadata_role     text,
  deleted_at        timestamptz,
  created_at        timestamptz not null default now()
);
comment on table app.clerk_users is 'Clerk sync state per Clerk user (keyed by sha256 of the Clerk id). A row with deleted_at is a tombstone: Clerk deleted the user, and no later event or token brings the account back.';
comment on column app.clerk_users.clerk_updated_at is 'Clerk''s updated_at of the last user.created/updated applied: an event with an older or equal updated_at is stale and ignored.';
comment on column app.clerk_users.image_url is 'The Clerk image last copied to user_profiles.avatar_url: a later Clerk image replaces the avatar only while the user has not set another.';
comment on column app.clerk_users.metadata_role is 'public_metadata.role as Clerk last sent it. With role trusted, only a change of it is applied, so an unchanged (stale) value never undoes a role set in Loconomy.';

create function app.clerk_id_hash(clerk_id text) returns text
language sql immutable parallel safe
set search_path = pg_catalog
as $$
  select encode(sha256(convert_to(clerk_id, 'UTF8')), 'hex')
$$;
revoke execute on function app.clerk_id_hash(text) from public;

-- The events of one Clerk user (user.* name it in data.id, session.* in
-- data.user_id): found again to redact them when the user is deleted.
create index inbound_webhook_events_clerk_user_idx on public.inbound_webhook_events
  ((coalesce(payload -> 'data' ->> 'user_id', payload -> 'data' ->> 'id'))) where provider = 'clerk';

-- -----------------------------------------------------------------------------
-- app.erase_account: the erasure of delete_my_account() (0026) on its own, so a
-- Clerk user.deleted closes an account by the same privacy rules.
-- delete_my_account() keeps its checks and calls it.
-- -----------------------------------------------------------------------------
create function app.erase_account(target uuid) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := target;
  account public.users;
  region public.regions;
  mode text;
  rule record;
  n bigint;
  deleted jsonb := '{}';
begin
  select * into account from public.users where id = me;
  select r.* into region from public.tenants t join public.regions r on r.id = t.region_id where t.id = account.tenant_id;
  mode := app.erasure_mode(coalesce(region.compliance_settings, '{}'));
  perform set_config('loconomy.erasing', 'on', true);
  perform set_config('loconomy.reason', 'account deletion (' || mode || ')', true);

  for rule in
    select p.* from app.personal_data p
    where p.on_erasure = 'delete' and to_regclass(format('public.%I', p.table_name)) is not null
    order by p.table_name, p.column_name
  loop
    execute format('delete from public.%I where %I = $1', rule.table_name, rule.column_name) using me;
    get diagnostics n = row_count;
    deleted := deleted || jsonb_build_object(rule.table_name, coalesce((deleted ->> rule.table_name)::bigint, 0) + n);
  end loop;

  -- Anonymise.
  update public.listings set status = 'inactive', deleted_at = coalesce(deleted_at, now()), is_featured = false
  where provider_id = me;
  update public.referral_codes set is_active = false where user_id = me;
  update public.system_logs set user_id = null where user_id = me;
  delete from app.listing_views where viewer = 'user:' || me;
  if mode = 'erase' then
    delete from public.events where user_id = me;
    get diagnostics n = row_count;
    deleted := deleted || jsonb_build_object('events', n);
    update public.messages set content = null, attachments = '[]', metadata = '{}', deleted_at = coalesce(deleted_at, now())
    where sender_id = me;
    update public.reviews set title = null, comment = null, response = null where reviewer_id = me;
    update public.reviews set response = null where reviewee_id = me;
    update public.bookings set special_requests = null, customer_notes = null, service_address = null
    where customer_id = me;
    update public.bookings set provider_notes = null where provider_id = me;
    -- The trail keeps who did what and when, not the erased values.
    update public.audit_logs set old_values = null, new_values = null,
           metadata = metadata || '{"erased": true}'
    where resource_type in ('users', 'user_profiles', 'user_addresses') and resource_id = me;
  else
    update public.events set user_id = null, session_id = null, anonymous_id = null, ip_address = null, user_agent = null
    where user_id = me;
  end if;
  update public.user_profiles set
    display_name = 'Deleted user', avatar_url = null, headline = null, bio = null, skills = '{}',
    experience_years = null, education = null, certifications = '{}', languages = '{}', city_id = null,
    location = null, service_radius_m = null, business_name = null, business_type = null, tax_id = null,
    license_number = null, insurance_info = null, website_url = null, social_links = '{}', is_public = false,
    metadata = '{}'
  where user_id = me;
  update public.users set
    clerk_id = null, email = 'deleted-' || id || '@deleted.invalid', email_verified_at = null, phone = null,
    phone_verified_at = null, first_name = null, last_name = null, preferences = '{}',
    notification_settings = '{}', privacy_settings = '{}', status = 'inactive', deleted_at = now()
  where id = me
  returning * into account;

  return jsonb_build_object(
    'user_id', me,
    'deleted_at', account.deleted_at,
    'region', region.code,
    'mode', mode,
    'deleted', deleted,
    'anonymised', app.erasure_notes('anonymise'),
    'kept', app.erasure_notes('keep'));
end $$;
comment on function app.erase_account(uuid) is 'Soft-deletes and anonymises an account by the app.personal_data rules and the region''s erasure mode (erase or deidentify); returns the receipt. No checks: callers decide whether the account may be closed.';
revoke execute on function app.erase_account(uuid) from public;

create or replace function public.delete_my_account(confirm_email text) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  account public.users;
  open_bookings bigint;
begin
  select * into account from public.users where id = me;
  if confirm_email is null or lower(trim(confirm_email)) <> lower(account.email) then
    raise invalid_parameter_value using
      message = 'confirm_email does not match the account''s email address',
      hint = 'Ask the user to type their email address to confirm; nothing was deleted.';
  end if;
  if to_regclass('public.bookings') is not null then
    select count(*) into open_bookings from public.bookings b
    where (b.customer_id = me or b.provider_id = me)
      and (b.status::text in ('pending', 'confirmed', 'in_progress', 'disputed'));
    if open_bookings > 0 then
      raise sqlstate 'PT409' using
        message = format('you have %s open booking(s)', open_bookings),
        hint = 'Cancel or complete them (and settle disputes) first; nothing was deleted.';
    end if;
  end if;
  if exists (select 1 from public.subscriptions s where s.user_id = me
             and s.status in ('trialing', 'active', 'past_due', 'unpaid') and not s.cancel_at_period_end) then
    raise sqlstate 'PT409' using
      message = 'you have a running subscription',
      hint = 'Cancel the subscription first; nothing was deleted.';
  end if;
  return app.erase_account(me);
end $$;

-- -----------------------------------------------------------------------------
-- Small readers of Clerk's payloads.
-- -----------------------------------------------------------------------------
create function app.clerk_time(ms jsonb) returns timestamptz
language sql immutable
set search_path = pg_catalog
as $$
  select case when jsonb_typeof(ms) = 'number' then to_timestamp((ms #>> '{}')::numeric / 1000) end
$$;
comment on function app.clerk_time(jsonb) is 'A Clerk timestamp (milliseconds since the epoch, a JSON number) as timestamptz; NULL otherwise.';
revoke execute on function app.clerk_time(jsonb) from public;

-- The primary entry of email_addresses / phone_numbers: {value, verified}.
create function app.clerk_primary(entries jsonb, primary_id text, field text) returns jsonb
language sql immutable
set search_path = pg_catalog
as $$
  select jsonb_build_object('value', e ->> field,
                            'verified', coalesce(e -> 'verification' ->> 'status', '') = 'verified')
  from jsonb_array_elements(case when jsonb_typeof(entries) = 'array' then entries else '[]' end) e
  where e ->> 'id' = primary_id
  limit 1
$$;
revoke execute on function app.clerk_primary(jsonb, text, text) from public;

-- The tenant of a new account: a trusted tenant_id (token claim or public
-- metadata) naming an active tenant, else the default tenant.
create function app.clerk_tenant(claimed text, trusted text[]) returns uuid
language plpgsql stable
set search_path = pg_catalog, public
as $$
declare
  result uuid;
begin
  if 'tenant_id' = any (trusted) and claimed ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' then
    select t.id into result from public.tenants t where t.id = claimed::uuid and t.is_active;
  end if;
  if result is null then
    select t.id into result from public.tenants t where t.is_default and t.is_active;
  end if;
  if result is null then
    raise sqlstate 'PT409' using
      message = 'no tenant to create the Clerk user''s account in',
      hint = 'Mark one active tenant is_default, or trust tenant_id (LOCONOMY_CLERK_TRUSTED_METADATA) and set it in the user''s public metadata.';
  end if;
  return result;
end $$;
revoke execute on function app.clerk_tenant(text, text[]) from public;

-- The sync row of a Clerk user, locked: events (and just-in-time creation) of
-- one Clerk user are applied one at a time, whatever order they arrive in.
create function app.clerk_lock(subject text) returns app.clerk_users
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  state app.clerk_users;
begin
  insert into app.clerk_users (clerk_id_hash) values (app.clerk_id_hash(subject)) on conflict do nothing;
  select * into state from app.clerk_users where clerk_id_hash = app.clerk_id_hash(subject) for update;
  return state;
end $$;
revoke execute on function app.clerk_lock(text) from public;

-- An account for a Clerk user who has none yet, with what is known (a token's
-- claims, or nothing); user.created/updated fill in the rest. The address is a
-- placeholder until Clerk's primary email arrives. Call with the sync row locked.
create function app.clerk_create_account(subject text, details jsonb, trusted text[]) returns uuid
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  new_id uuid := gen_random_uuid();
  given_email text := details ->> 'email';
  created uuid;
begin
  if given_email is null or given_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
    given_email := 'pending-' || new_id || '@clerk.invalid';
  end if;
  insert into public.users (id, tenant_id, clerk_id, email, first_name, last_name)
  values (new_id, app.clerk_tenant(details ->> 'tenant_id', trusted), subject, given_email,
          left(nullif(trim(details ->> 'first_name'), ''), 100), left(nullif(trim(details ->> 'last_name'), ''), 100))
  on conflict (clerk_id) where deleted_at is null do nothing
  returning id into created;
  if created is null then
    select u.id into created from public.users u where u.clerk_id = subject and u.deleted_at is null;
  end if;
  return created;
end $$;
revoke execute on function app.clerk_create_account(text, jsonb, text[]) from public;

-- -----------------------------------------------------------------------------
-- Just in time: the first request with a verified Clerk token whose sub has no
-- account creates it (the server calls this only for subs it has not seen).
-- -----------------------------------------------------------------------------
create function app.clerk_ensure_user(claims jsonb, trusted text[] default '{}') returns uuid
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  subject text := claims ->> 'sub';
  found_id uuid;
  state app.clerk_users;
begin
  if coalesce(subject, '') = '' or length(subject) > 255 then
    raise invalid_parameter_value using message = 'the claims need a sub (the Clerk user id)';
  end if;
  -- The common case, without a lock or a write: the account exists.
  select u.id into found_id from public.users u where u.clerk_id = subject and u.deleted_at is null;
  if found_id is not null then
    return found_id;
  end if;
  state := app.clerk_lock(subject);
  if state.deleted_at is not null then
    return null;  -- Clerk deleted this user: a token still in flight does not bring the account back.
  end if;
  return app.clerk_create_account(subject, jsonb_build_object(
    'email', claims ->> 'email',
    'first_name', coalesce(claims ->> 'first_name', claims ->> 'given_name'),
    'last_name', coalesce(claims ->> 'last_name', claims ->> 'family_name'),
    'tenant_id', claims ->> 'tenant_id'), trusted);
end $$;
comment on function app.clerk_ensure_user(jsonb, text[]) is 'users.id for the sub of verified Clerk token claims, creating the account when there is none (email, names and, when trusted, tenant_id from the claims); NULL when Clerk deleted the user. Race-safe with the webhook through the unique index on clerk_id.';

-- -----------------------------------------------------------------------------
-- The events.
-- -----------------------------------------------------------------------------
create function app.clerk_apply_user(data jsonb, trusted text[]) returns jsonb
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
  if 'role' = any (trusted) and claimed_role is distinct from state.metadata_role
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
         metadata_role = claimed_role
  where clerk_id_hash = state.clerk_id_hash;
  return jsonb_build_object('outcome', 'applied', 'user_id', account.id);
end $$;
revoke execute on function app.clerk_apply_user(jsonb, text[]) from public;

-- user.deleted is final: the account is closed by the privacy rules (open bookings
-- and subscriptions do not stop it: the person is gone from the identity provider),
-- the tombstone keeps later events and tokens from bringing it back, and the
-- payloads of the user's earlier events are redacted.
create function app.clerk_delete_user(subject text) returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  state app.clerk_users := app.clerk_lock(subject);
  account uuid;
  receipt jsonb;
begin
  update app.clerk_users set deleted_at = coalesce(deleted_at, now()), image_url = null, metadata_role = null
  where clerk_id_hash = state.clerk_id_hash;
  select u.id into account from public.users u where u.clerk_id = subject and u.deleted_at is null;
  if account is not null then
    receipt := app.erase_account(account);
  end if;
  update public.inbound_webhook_events e
  set payload = jsonb_build_object('type', e.payload -> 'type', 'redacted', true)
  where e.provider = 'clerk'
    and coalesce(e.payload -> 'data' ->> 'user_id', e.payload -> 'data' ->> 'id') = subject;
  return jsonb_build_object('outcome', case when account is null then 'ignored' else 'applied' end,
                            'reason', case when account is null then 'no account (already deleted or never created)' end,
                            'user_id', account, 'mode', receipt ->> 'mode');
end $$;
revoke execute on function app.clerk_delete_user(text) from public;

-- session.created opens a user_sessions row (creating the account if the user's
-- own events have not arrived yet); session.ended/removed/revoked close it. A
-- session that ended before its created event arrived stays ended.
create function app.clerk_apply_session(kind text, data jsonb, trusted text[]) returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  state app.clerk_users := app.clerk_lock(data ->> 'user_id');
  account uuid;
  started timestamptz := coalesce(app.clerk_time(data -> 'created_at'), now());
  ends timestamptz := app.clerk_time(data -> 'expire_at');
  ended timestamptz;
  session public.user_sessions;
begin
  if state.deleted_at is not null then
    return jsonb_build_object('outcome', 'ignored', 'reason', 'Clerk deleted this user');
  end if;
  account := app.clerk_create_account(data ->> 'user_id', '{}', trusted);
  if ends <= started then
    ends := null;
  end if;
  if kind = 'session.created' then
    insert into public.user_sessions (user_id, clerk_session_id, started_at, last_seen_at, expires_at)
    values (account, data ->> 'id', started, coalesce(app.clerk_time(data -> 'last_active_at'), started), ends)
    on conflict (clerk_session_id) do nothing
    returning * into session;
    if session.id is null then
      return jsonb_build_object('outcome', 'ignored', 'reason', 'the session is already recorded');
    end if;
    update public.users set login_count = login_count + 1,
           last_active_at = greatest(last_active_at, session.last_seen_at)
    where id = account;
    return jsonb_build_object('outcome', 'applied', 'session_id', session.id);
  end if;
  ended := greatest(coalesce(app.clerk_time(data -> 'updated_at'), now()), started);
  update public.user_sessions s set ended_at = greatest(ended, s.started_at)
  where s.clerk_session_id = data ->> 'id' and s.user_id = account and s.ended_at is null
  returning * into session;
  if session.id is null then
    insert into public.user_sessions (user_id, clerk_session_id, started_at, expires_at, ended_at)
    values (account, data ->> 'id', started, ends, ended)
    on conflict (clerk_session_id) do nothing
    returning * into session;
  end if;
  return jsonb_build_object('outcome', case when session.id is null then 'ignored' else 'applied' end,
                            'reason', case when session.id is null then 'the session had ended already' end,
                            'session_id', session.id);
end $$;
revoke execute on function app.clerk_apply_session(text, jsonb, text[]) from public;

-- -----------------------------------------------------------------------------
-- The entry point: one verified event, recorded once and applied in the same
-- transaction. A redelivery of a processed event changes nothing; an event
-- whose first attempt failed (app.clerk_record_failure) is applied on retry.
-- -----------------------------------------------------------------------------
create function app.clerk_apply_event(svix_id text, event jsonb, trusted text[] default '{}') returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  kind text := event ->> 'type';
  data jsonb := event -> 'data';
  recorded uuid;
  result jsonb;
begin
  if coalesce(svix_id, '') = '' or jsonb_typeof(data) is distinct from 'object' or kind is null then
    raise invalid_parameter_value using message = 'a Clerk event needs an id, a type and a data object';
  end if;
  insert into public.inbound_webhook_events as e (provider, event_id, event_type, payload)
  values ('clerk', svix_id, kind, event)
  on conflict (provider, event_id) do update set attempts = e.attempts + 1
    where e.processed_at is null
  returning e.id into recorded;
  if recorded is null then
    return jsonb_build_object('outcome', 'duplicate', 'reason', 'this event was processed before');
  end if;

  if kind in ('user.created', 'user.updated', 'user.deleted')
     and coalesce(data ->> 'id', '') !~ '^[A-Za-z0-9_-]{1,255}$' then
    raise invalid_parameter_value using message = kind || ' needs data.id, the Clerk user id';
  end if;
  if kind like 'session.%' and (coalesce(data ->> 'id', '') !~ '^[A-Za-z0-9_-]{1,255}$'
                                      or coalesce(data ->> 'user_id', '') !~ '^[A-Za-z0-9_-]{1,255}$') then
    raise invalid_parameter_value using message = kind || ' needs data.id and data.user_id';
  end if;
  result := case
    when kind in ('user.created', 'user.updated') then app.clerk_apply_user(data, trusted)
    when kind = 'user.deleted' then app.clerk_delete_user(data ->> 'id')
    when kind in ('session.created', 'session.ended', 'session.removed', 'session.revoked')
      then app.clerk_apply_session(kind, data, trusted)
    else jsonb_build_object('outcome', 'ignored', 'reason', format('%s events are not synced', kind))
  end;
  update public.inbound_webhook_events set processed_at = now(), last_error = null where id = recorded;
  return jsonb_strip_nulls(result);
end $$;
comment on function app.clerk_apply_event(text, jsonb, text[]) is 'Records a verified Clerk webhook event (svix-id) in inbound_webhook_events and applies it in the same transaction; {outcome: applied | ignored | duplicate, reason?, …}. trusted names the public_metadata keys the deployment trusts (role, tenant_id).';

-- A failed attempt, in its own transaction after the event's rolled back:
-- operators see it (last_error, attempts) and Clerk's retry applies it.
create function app.clerk_record_failure(svix_id text, event jsonb, error text) returns void
language sql security definer
set search_path = pg_catalog, public
as $$
  insert into public.inbound_webhook_events as e (provider, event_id, event_type, payload, last_error)
  values ('clerk', svix_id, coalesce(event ->> 'type', 'unknown'), event, left(error, 2000))
  on conflict (provider, event_id) do update set attempts = e.attempts + 1, last_error = excluded.last_error
    where e.processed_at is null
$$;
comment on function app.clerk_record_failure(text, jsonb, text) is 'Records that applying a Clerk event failed (attempts, last_error); a processed event is left alone.';

revoke execute on function app.clerk_ensure_user(jsonb, text[]), app.clerk_apply_event(text, jsonb, text[]),
  app.clerk_record_failure(text, jsonb, text) from public;
grant execute on function app.clerk_ensure_user(jsonb, text[]), app.clerk_apply_event(text, jsonb, text[]),
  app.clerk_record_failure(text, jsonb, text) to service_role;
