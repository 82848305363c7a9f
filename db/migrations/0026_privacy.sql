-- =============================================================================
-- 0026 privacy: where a request comes from, sessions, batched analytics,
-- de-duplicated listing views, and the data-subject rights: export_my_data()
-- and delete_my_account() (GDPR, UK GDPR, CCPA, LGPD, …).
--
-- The client IP: the server sets request.client_ip per request from the socket,
-- or from X-Forwarded-For only when LOCONOMY_TRUST_PROXY says a proxy in front
-- sets it (docs/env.md). The database never reads X-Forwarded-For itself: a
-- client could write anything there.
-- =============================================================================

create function app.client_ip() returns inet
language plpgsql stable
set search_path = pg_catalog
as $$
declare
  given text := nullif(current_setting('request.client_ip', true), '');
begin
  if given is null then
    return null;
  end if;
  return given::inet;
exception when invalid_text_representation then
  return null;
end $$;
comment on function app.client_ip() is 'The client address of the current request as the server determined it (request.client_ip: the socket peer, or X-Forwarded-For behind a trusted proxy); NULL outside a request.';
grant execute on function app.client_ip() to anon, authenticated, service_role;

-- The audit trail takes the address from app.client_ip() (0001 read X-Forwarded-For),
-- and records no values while an account is being erased (loconomy.erasing).
create or replace function app.audit_row() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
  old_row jsonb := case when tg_op in ('UPDATE', 'DELETE') then to_jsonb(old) end;
  new_row jsonb := case when tg_op in ('INSERT', 'UPDATE') then to_jsonb(new) end;
  redacted text[] := coalesce(tg_argv::text[], '{}');
  changed text[];
  erasing boolean := coalesce(current_setting('loconomy.erasing', true), '') = 'on';
begin
  if tg_op = 'UPDATE' then
    select array_agg(key order by key) into changed
    from jsonb_each(new_row) n
    where n.value is distinct from old_row -> n.key and key <> 'updated_at';
    if changed is null then
      return null;  -- nothing but updated_at changed
    end if;
  end if;

  insert into public.audit_logs (
    tenant_id, actor_id, actor_subject, actor_role, action, resource_type, resource_id,
    old_values, new_values, changed_columns, ip_address, user_agent, request_id, metadata)
  values (
    -- A tenant's own row belongs to that tenant, so its auditors see changes to it.
    (coalesce(new_row, old_row) ->> case when tg_table_name = 'tenants' then 'id' else 'tenant_id' end)::uuid,
    app.current_user_id(),
    app.current_subject(),
    -- current_user is this function's owner here; the `role` setting is the caller's API role.
    coalesce(nullif(current_setting('role'), 'none'), session_user),
    case tg_op when 'INSERT' then 'create' when 'UPDATE' then 'update' else 'delete' end::public.audit_action,
    tg_table_name,
    (coalesce(new_row, old_row) ->> 'id')::uuid,
    case when not erasing then old_row - redacted end,
    case when not erasing then new_row - redacted end,
    changed,
    app.client_ip(),
    app.request_header('user-agent'),
    app.request_header('x-request-id'),
    jsonb_strip_nulls(jsonb_build_object(
      'method', nullif(current_setting('request.method', true), ''),
      'path', nullif(current_setting('request.path', true), ''),
      'reason', nullif(current_setting('loconomy.reason', true), ''),
      'redacted', case when cardinality(redacted) > 0 then to_jsonb(redacted) end,
      'erased', case when erasing then true end)));
  return null;
end $$;
comment on function app.audit_row() is 'AFTER INSERT/UPDATE/DELETE: writes an audit_logs row; trigger arguments name columns to redact (secrets). While an account is erased (loconomy.erasing = on) only the changed column names are kept.';
revoke execute on function app.audit_row() from public;

-- -----------------------------------------------------------------------------
-- Analytics events: one set of bounds for track_event() and direct inserts.
-- -----------------------------------------------------------------------------
create function app.event_problem(event jsonb) returns text
language plpgsql immutable
set search_path = pg_catalog
as $$
declare
  key text;
begin
  if jsonb_typeof(event) is distinct from 'object' then
    return 'is not an object';
  end if;
  select k into key from jsonb_object_keys(event) k
  where k not in ('event_name', 'event_category', 'event_action', 'event_label', 'page_url', 'referrer', 'properties')
  limit 1;
  if key is not null then
    return format('has an unknown field "%s" (allowed: event_name, event_category, event_action, event_label, page_url, referrer, properties)', key);
  end if;
  if coalesce(event ->> 'event_name', '') !~ '^[a-z][a-z0-9_.:-]{0,99}$' then
    return 'needs an event_name of 1–100 characters: a lower-case letter, then a-z, 0-9, _ . : or -';
  end if;
  foreach key in array array['event_category', 'event_action', 'event_label', 'page_url', 'referrer'] loop
    if event ? key and jsonb_typeof(event -> key) not in ('string', 'null') then
      return format('%s must be a string', key);
    end if;
  end loop;
  foreach key in array array['event_category', 'event_action', 'event_label'] loop
    if length(event ->> key) > 200 then
      return format('%s is %s characters; the limit is 200', key, length(event ->> key));
    end if;
  end loop;
  foreach key in array array['page_url', 'referrer'] loop
    if length(event ->> key) > 2048 then
      return format('%s is %s characters; the limit is 2048', key, length(event ->> key));
    end if;
  end loop;
  if event ? 'properties' and jsonb_typeof(event -> 'properties') <> 'object' then
    return 'properties must be a JSON object';
  end if;
  if octet_length((event -> 'properties')::text) > 8192 then
    return format('properties is %s bytes of JSON; the limit is 8192', octet_length((event -> 'properties')::text));
  end if;
  return null;
end $$;
comment on function app.event_problem(jsonb) is 'What is wrong with one analytics event (fields, event_name, lengths: category/action/label 200, URLs 2048, properties 8 KiB), or NULL.';
grant execute on function app.event_problem(jsonb) to anon, authenticated, service_role;

-- Security invoker now: as a definer function (0012) it counted every caller as trusted,
-- so a direct insert kept whatever user, IP and time the client sent.
create or replace function app.events_before_insert() returns trigger
language plpgsql security invoker
set search_path = pg_catalog, public
as $$
declare
  problem text;
begin
  if app.is_trusted() then
    return new;
  end if;
  problem := app.event_problem(jsonb_strip_nulls(jsonb_build_object(
    'event_name', new.event_name, 'event_category', new.event_category, 'event_action', new.event_action,
    'event_label', new.event_label, 'page_url', new.page_url, 'referrer', new.referrer, 'properties', new.properties)));
  if problem is not null then
    raise invalid_parameter_value using message = 'the event ' || problem,
      hint = 'See the limits of track_event() in docs/workflows.md.';
  end if;
  new.user_id := app.current_user_id();
  new.tenant_id := app.current_tenant_id();
  new.created_at := now();
  new.user_agent := left(app.request_header('user-agent'), 512);
  new.ip_address := app.client_ip();
  -- Signed-in callers read their own sessions (RLS); anonymous callers have none.
  if new.session_id is not null and (new.user_id is null or not exists (
      select 1 from public.user_sessions s where s.id = new.session_id and s.user_id = new.user_id)) then
    new.session_id := null;
  end if;
  return new;
end $$;
revoke execute on function app.events_before_insert() from public;

-- -----------------------------------------------------------------------------
-- Sessions: an app records a session when a user signs in on a device and ends
-- it on sign-out. Events carry its id; track_event keeps last_seen_at fresh.
-- -----------------------------------------------------------------------------
create function public.start_session(device_info jsonb default '{}', clerk_session_id text default null)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  session public.user_sessions;
begin
  if jsonb_typeof(device_info) is distinct from 'object' or octet_length(device_info::text) > 2048 then
    raise invalid_parameter_value using
      message = 'device_info must be a JSON object of at most 2048 bytes',
      hint = 'Send a few fields such as {"platform": "ios", "app_version": "2.3.0"}.';
  end if;
  if clerk_session_id is not null and clerk_session_id !~ '^[A-Za-z0-9_-]{1,255}$' then
    raise invalid_parameter_value using
      message = 'clerk_session_id must be 1–255 letters, digits, _ or -',
      hint = 'Pass the id of the Clerk session (sess_…), or leave it out.';
  end if;
  if clerk_session_id is not null then
    select * into session from public.user_sessions s where s.clerk_session_id = start_session.clerk_session_id;
    if session.id is not null and session.user_id <> me then
      raise unique_violation using
        message = 'this clerk_session_id belongs to another account',
        hint = 'Start a session without clerk_session_id, or with your own session''s id.';
    end if;
  end if;
  if session.id is null then
    insert into public.user_sessions (user_id, clerk_session_id, ip_address, user_agent, device_info, last_seen_at, expires_at)
    values (me, clerk_session_id, app.client_ip(), left(app.request_header('user-agent'), 512), device_info,
            now(), now() + interval '30 days')
    returning * into session;
    update public.users set login_count = login_count + 1, last_active_at = now() where id = me;
    insert into public.audit_logs (tenant_id, actor_id, actor_subject, action, resource_type, resource_id,
                                   ip_address, user_agent, request_id)
    values (session.tenant_id, me, app.current_subject(), 'login', 'user_sessions', session.id,
            session.ip_address, session.user_agent, app.request_header('x-request-id'));
  end if;
  return jsonb_build_object('session_id', session.id, 'started_at', session.started_at,
                            'expires_at', session.expires_at, 'ended_at', session.ended_at);
end $$;
comment on function public.start_session(jsonb, text) is 'Records a session of the signed-in caller (IP and user agent from the request) and returns {session_id, started_at, expires_at}. With clerk_session_id a retry returns the same session.';

create function public.end_session(session_id uuid) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  session public.user_sessions;
begin
  select * into session from public.user_sessions s where s.id = end_session.session_id and s.user_id = me;
  if session.id is null then
    raise sqlstate 'PT404' using
      message = format('session %s is not one of your sessions', end_session.session_id),
      hint = 'Pass the session_id start_session() returned.';
  end if;
  if session.ended_at is null then
    update public.user_sessions s set ended_at = greatest(now(), s.started_at) where s.id = session.id
    returning * into session;
    insert into public.audit_logs (tenant_id, actor_id, actor_subject, action, resource_type, resource_id,
                                   ip_address, user_agent, request_id)
    values (session.tenant_id, me, app.current_subject(), 'logout', 'user_sessions', session.id,
            app.client_ip(), left(app.request_header('user-agent'), 512), app.request_header('x-request-id'));
  end if;
  return jsonb_build_object('session_id', session.id, 'started_at', session.started_at,
                            'expires_at', session.expires_at, 'ended_at', session.ended_at);
end $$;
comment on function public.end_session(uuid) is 'Ends one of the caller''s sessions (sign-out). Ending an ended session changes nothing.';

-- -----------------------------------------------------------------------------
-- track_event: a batch of 1–100 events in one call.
-- -----------------------------------------------------------------------------
create function public.track_event(events jsonb, session_id uuid default null, anonymous_id text default null)
returns integer
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.current_user_id();
  batch jsonb := case when jsonb_typeof(events) = 'object' then jsonb_build_array(events) else events end;
  problem text;
  position integer;
  written integer;
begin
  if jsonb_typeof(batch) is distinct from 'array' or jsonb_array_length(batch) = 0 then
    raise invalid_parameter_value using
      message = 'events must be an event object or a non-empty array of them',
      hint = 'Send {"events": [{"event_name": "listing.viewed", "properties": {…}}]}.';
  end if;
  if jsonb_array_length(batch) > 100 then
    raise invalid_parameter_value using
      message = format('a batch holds at most 100 events; this one has %s', jsonb_array_length(batch)),
      hint = 'Send the events in several calls.';
  end if;
  select x.n, app.event_problem(x.e) into position, problem
  from jsonb_array_elements(batch) with ordinality x(e, n)
  where app.event_problem(x.e) is not null
  order by x.n limit 1;
  if problem is not null then
    raise invalid_parameter_value using
      message = format('events[%s] %s', position - 1, problem),
      hint = 'Nothing was recorded; fix that event and send the batch again.';
  end if;
  if anonymous_id is not null and length(anonymous_id) not between 1 and 100 then
    raise invalid_parameter_value using message = 'anonymous_id must be 1–100 characters',
      hint = 'Use a random id the app keeps per device.';
  end if;
  if session_id is not null then
    update public.user_sessions s set last_seen_at = now()
    where s.id = track_event.session_id and s.user_id = me;
    if not found then
      raise invalid_parameter_value using
        message = format('session %s is not one of your sessions', session_id),
        hint = case when me is null then 'Anonymous callers have no sessions: send anonymous_id instead.'
                    else 'Pass the session_id start_session() returned.' end;
    end if;
  end if;

  insert into public.events (tenant_id, user_id, session_id, anonymous_id, event_name, event_category, event_action,
                             event_label, page_url, referrer, user_agent, ip_address, properties)
  select app.current_tenant_id(), me, track_event.session_id, track_event.anonymous_id, e ->> 'event_name',
         e ->> 'event_category', e ->> 'event_action', e ->> 'event_label', e ->> 'page_url', e ->> 'referrer',
         left(app.request_header('user-agent'), 512), app.client_ip(), coalesce(e -> 'properties', '{}')
  from jsonb_array_elements(batch) e;
  get diagnostics written = row_count;
  if me is not null then
    update public.users set last_active_at = now()
    where id = me and (last_active_at is null or last_active_at < now() - interval '5 minutes');
  end if;
  return written;
end $$;
comment on function public.track_event(jsonb, uuid, text) is 'Records 1–100 analytics events at once (all or none): event_name, event_category/action/label (≤ 200), page_url/referrer (≤ 2048), properties (object, ≤ 8 KiB). User, tenant, IP and user agent come from the request. Returns the number recorded.';

-- -----------------------------------------------------------------------------
-- Listing views: at most one per viewer, listing and window (default 60
-- minutes; tenants.settings.listing_view_window_minutes). The viewer is the
-- user, else a salted hash of IP and user agent (no address is stored).
-- -----------------------------------------------------------------------------
create table app.install_secrets (
  name   text primary key,
  value  text not null
);
comment on table app.install_secrets is 'Random values made once per installation (hash salts). Never exposed.';
insert into app.install_secrets (name, value)
values ('viewer_salt', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''))
on conflict (name) do nothing;

create table app.listing_views (
  listing_id  uuid not null references public.listings (id) on delete cascade,
  viewer      text not null,
  counted_at  timestamptz not null default now(),
  primary key (listing_id, viewer)
);
comment on table app.listing_views is 'When each viewer''s view of a listing last counted; a view counts again once the window has passed. Rows older than a day can be purged.';
create index listing_views_counted_at_brin on app.listing_views using brin (counted_at);
create index listing_views_viewer_idx on app.listing_views (viewer);

drop function public.record_listing_view(uuid);
create function public.record_listing_view(listing_id uuid) returns void
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.current_user_id();
  target public.listings;
  viewer text;
  window_minutes integer;
begin
  select * into target from public.listings l
  where l.id = record_listing_view.listing_id and l.status = 'active' and l.deleted_at is null
    and l.tenant_id = app.current_tenant_id();
  if target.id is null then
    return;  -- not viewable by this caller: nothing to count
  end if;
  if me = target.provider_id then
    return;  -- providers looking at their own listing are not views
  end if;
  viewer := case when me is not null then 'user:' || me
    else 'anon:' || encode(sha256(convert_to(
      coalesce(host(app.client_ip()), '') || '|' || coalesce(app.request_header('user-agent'), '') || '|'
      || (select value from app.install_secrets where name = 'viewer_salt'), 'UTF8')), 'hex') end;
  select coalesce(case when (t.settings ->> 'listing_view_window_minutes') ~ '^[0-9]{1,5}$'
                       then (t.settings ->> 'listing_view_window_minutes')::integer end, 60)
    into window_minutes from public.tenants t where t.id = target.tenant_id;

  insert into app.listing_views as v (listing_id, viewer) values (target.id, viewer)
  on conflict on constraint listing_views_pkey do update set counted_at = now()
    where v.counted_at <= now() - make_interval(mins => window_minutes);
  if found then
    update public.listings l set view_count = l.view_count + 1 where l.id = target.id;
  end if;
end $$;
comment on function public.record_listing_view(uuid) is 'Counts a view of an active listing, at most once per viewer (the user, else a salted hash of IP and user agent) per window (60 minutes unless the tenant''s settings.listing_view_window_minutes says otherwise). Does not change updated_at.';
revoke execute on function public.record_listing_view(uuid) from public;
grant execute on function public.record_listing_view(uuid) to anon, authenticated, service_role;

-- A counter is not an edit: updated_at stays when only view_count moves.
drop trigger listings_set_updated_at on public.listings;
create trigger listings_set_updated_at before update on public.listings
  for each row when (new.view_count is not distinct from old.view_count)
  execute function app.set_updated_at();

-- -----------------------------------------------------------------------------
-- Personal data: every column that points at a user, with what deleting the
-- account does to its rows. test/db/catalog.test.ts fails when a foreign key to
-- users (or user_profiles) has no row here, so a new table cannot be forgotten.
-- -----------------------------------------------------------------------------
create table app.personal_data (
  table_name   text not null,
  column_name  text not null,
  on_erasure   text not null check (on_erasure in ('delete', 'anonymise', 'keep')),
  reason       text not null,
  primary key (table_name, column_name)
);
comment on table app.personal_data is 'What delete_my_account() does to rows whose column points at the account: delete them, anonymise them (code in delete_my_account), or keep them (why). Tables that do not exist yet are skipped.';

insert into app.personal_data (table_name, column_name, on_erasure, reason) values
  ('users',                   'id',           'anonymise', 'the row stays (soft delete) so bookings and ledgers keep their party; name, email, phone, settings and the Clerk link are erased'),
  ('user_profiles',           'user_id',      'anonymise', 'the public profile becomes "Deleted user": text, photo, location and business details are erased'),
  ('user_addresses',          'user_id',      'delete',    'private addresses'),
  ('user_sessions',           'user_id',      'delete',    'devices and IP addresses'),
  ('user_permissions',        'user_id',      'delete',    'access grants of a closed account'),
  ('user_permissions',        'granted_by',   'keep',      'another user''s grant; points at the anonymised account'),
  ('listings',                'provider_id',  'anonymise', 'soft-deleted and withdrawn; past bookings keep referring to them'),
  ('provider_availability',   'provider_id',  'delete',    'a schedule nobody can book any more'),
  ('availability_overrides',  'provider_id',  'delete',    'a schedule nobody can book any more'),
  ('bookings',                'provider_id',  'keep',      'financial record (prices, fees, tax); free-text notes are erased under erase-mode laws'),
  ('bookings',                'customer_id',  'keep',      'financial record (prices, fees, tax); free-text notes and the service address are erased under erase-mode laws'),
  ('bookings',                'cancelled_by', 'keep',      'part of the financial record'),
  ('booking_status_history',  'changed_by',   'keep',      'audit of the booking'),
  ('reviews',                 'reviewer_id',  'anonymise', 'ratings stay so providers'' averages do not change; the title and comment are erased under erase-mode laws'),
  ('reviews',                 'reviewee_id',  'keep',      'what others wrote; the reviewee is anonymised'),
  ('reviews',                 'hidden_by',    'keep',      'a moderator''s decision on another user''s review'),
  ('review_votes',            'user_id',      'keep',      'anonymous once the account is: keeps helpful counts consistent'),
  ('subscriptions',           'user_id',      'keep',      'financial record (billing history)'),
  ('payment_methods',         'user_id',      'delete',    'card details (brand, last four, expiry); Stripe keeps the card itself'),
  ('transactions',            'user_id',      'keep',      'financial record: tax and accounting law (7 years)'),
  ('invoices',                'user_id',      'keep',      'financial record: tax and accounting law (7 years)'),
  ('usage_logs',              'user_id',      'keep',      'billing record'),
  ('referral_codes',          'user_id',      'anonymise', 'deactivated; referrals made with it keep their reward history'),
  ('referrals',               'referrer_id',  'keep',      'reward history (financial)'),
  ('referrals',               'referee_id',   'keep',      'reward history (financial)'),
  ('referral_rewards',        'user_id',      'keep',      'financial record (credits granted)'),
  ('credit_ledger',           'user_id',      'keep',      'financial record (credit balance ledger)'),
  ('credit_ledger',           'created_by',   'keep',      'financial record'),
  ('conversations',           'created_by',   'keep',      'the other participants keep the conversation'),
  ('conversation_participants', 'user_id',    'keep',      'the other participants keep the conversation; the account shows as deleted'),
  ('messages',                'sender_id',    'anonymise', 'under erase-mode laws the content and attachments are erased; otherwise the other party keeps them'),
  ('notifications',           'user_id',      'delete',    'the account''s own inbox'),
  ('notifications',           'sender_id',    'keep',      'another user''s inbox'),
  ('file_uploads',            'user_id',      'delete',    'uploaded files (the storage objects are purged with the rows)'),
  ('events',                  'user_id',      'anonymise', 'deleted under erase-mode laws, else unlinked (user, session, IP, user agent and anonymous id removed)'),
  ('system_logs',             'user_id',      'anonymise', 'operations log: the user link is removed'),
  ('api_keys',                'user_id',      'delete',    'credentials of a closed account'),
  ('webhook_endpoints',       'user_id',      'delete',    'integrations of a closed account'),
  ('user_feature_flags',      'user_id',      'delete',    'overrides of a closed account'),
  ('user_feature_flags',      'set_by',       'keep',      'another user''s override; points at the anonymised account');

-- Columns of a table an export shows: what the API roles may read (secrets such as
-- key_hash, session_token_hash and tax_id stay out), or every column when none is readable.
create function app.exportable_columns(table_name text) returns text[]
language sql stable
set search_path = pg_catalog
as $$
  with cols as (
    select a.attname::text as name,
           has_column_privilege('authenticated', a.attrelid, a.attnum, 'SELECT') as readable
    from pg_attribute a
    where a.attrelid = format('public.%I', table_name)::regclass and a.attnum > 0 and not a.attisdropped
  )
  select case when bool_or(readable) then array_agg(name) filter (where readable) else array_agg(name) end
  from cols
$$;
revoke execute on function app.exportable_columns(text) from public;

create function public.export_my_data() returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  target record;
  rows jsonb;
  tables jsonb := '{}';
begin
  -- Every table with a foreign key to users (or user_profiles), found in the catalog.
  for target in
    select c.conrelid::regclass as rel, cl.relname::text as table_name,
           array_agg(distinct a.attname::text order by a.attname::text) as columns
    from pg_constraint c
    join pg_class cl on cl.oid = c.conrelid
    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
    where c.contype = 'f' and cardinality(c.conkey) = 1
      and c.confrelid in ('public.users'::regclass, 'public.user_profiles'::regclass)
      and cl.relnamespace = 'public'::regnamespace
    group by c.conrelid, cl.relname
    order by cl.relname
  loop
    execute format(
      'select coalesce(jsonb_agg(jsonb_build_object(%s)), ''[]'') from %s t where %s',
      (select string_agg(format('%L, t.%I', col, col), ', ' order by col)
         from unnest(app.exportable_columns(target.table_name)) col),
      target.rel,
      (select string_agg(format('t.%I = $1', col), ' or ') from unnest(target.columns) col))
      into rows using me;
    tables := tables || jsonb_build_object(target.table_name, rows);
  end loop;
  tables := tables || jsonb_build_object('users', jsonb_build_array((
    select jsonb_object_agg(col, to_jsonb(u) -> col)
    from public.users u, unnest(app.exportable_columns('users')) col where u.id = me)));
  -- What the account did (the trail's values stay out: they can hold other people's data).
  tables := tables || jsonb_build_object('audit_logs', (
    select coalesce(jsonb_agg(jsonb_build_object(
             'created_at', l.created_at, 'action', l.action, 'resource_type', l.resource_type,
             'resource_id', l.resource_id, 'changed_columns', l.changed_columns,
             'ip_address', l.ip_address, 'user_agent', l.user_agent) order by l.created_at), '[]')
    from public.audit_logs l where l.actor_id = me));
  tables := tables || jsonb_build_object('listing_views', (
    select coalesce(jsonb_agg(jsonb_build_object('listing_id', v.listing_id, 'counted_at', v.counted_at)), '[]')
    from app.listing_views v where v.viewer = 'user:' || me));
  return jsonb_build_object(
    'format', 'loconomy.export/1',
    'exported_at', now(),
    'user_id', me,
    'tables', tables);
end $$;
comment on function public.export_my_data() is 'GDPR/CCPA access request: every row about the caller as one JSON document {format, exported_at, user_id, tables: {<table>: [rows]}}: each table with a foreign key to users, the caller''s audit trail and listing views. Secret columns (hashes, tax id) are left out.';

-- -----------------------------------------------------------------------------
-- delete_my_account: soft delete and anonymise, as the region's law asks.
-- Erase mode (GDPR, UK GDPR, LGPD, DPDP, PIPEDA, Privacy Act, or
-- compliance_settings.erasure = "erase"): free text the user wrote is erased and
-- analytics events are deleted. De-identify mode (CCPA and the rest, or
-- erasure = "deidentify"): events and messages stay, unlinked from the person.
-- Financial and audit records are kept in both (app.personal_data says why).
-- -----------------------------------------------------------------------------
create function app.erasure_mode(settings jsonb) returns text
language sql immutable
set search_path = pg_catalog
as $$
  select case
    when settings ->> 'erasure' in ('erase', 'deidentify') then settings ->> 'erasure'
    when settings ?| array['gdpr', 'uk_gdpr', 'lgpd', 'dpdp', 'pipeda', 'privacy_act']
         and exists (select 1 from jsonb_each(settings) s
                     where s.key in ('gdpr', 'uk_gdpr', 'lgpd', 'dpdp', 'pipeda', 'privacy_act') and s.value = 'true')
      then 'erase'
    else 'deidentify' end
$$;
comment on function app.erasure_mode(jsonb) is 'erase or deidentify, from a region''s compliance_settings (erasure key, else the laws named).';
revoke execute on function app.erasure_mode(jsonb) from public;

create function app.erasure_notes(action text) returns jsonb
language sql stable
set search_path = pg_catalog
as $$
  select coalesce(jsonb_object_agg(p.table_name, p.notes), '{}')
  from (select d.table_name, jsonb_object_agg(d.column_name, d.reason) as notes
        from app.personal_data d
        where d.on_erasure = action and to_regclass(format('public.%I', d.table_name)) is not null
        group by d.table_name) p
$$;
comment on function app.erasure_notes(text) is 'For a deletion receipt: {table: {column: reason}} of the personal_data rules with that action.';
revoke execute on function app.erasure_notes(text) from public;

create function public.delete_my_account(confirm_email text) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  account public.users;
  region public.regions;
  mode text;
  rule record;
  n bigint;
  open_bookings bigint;
  deleted jsonb := '{}';
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
comment on function public.delete_my_account(text) is 'Closes the caller''s account (confirm_email must match): deletes private data, anonymises the profile and what they wrote as the region''s law asks (erase or deidentify), keeps financial and audit records. Refused (409) while bookings are open or a subscription runs. Returns a receipt.';

revoke execute on function public.start_session(jsonb, text), public.end_session(uuid),
  public.track_event(jsonb, uuid, text), public.export_my_data(), public.delete_my_account(text) from public;
-- anon may call them all: app.require_user() then answers "sign in first" (401).
grant execute on function public.start_session(jsonb, text), public.end_session(uuid),
  public.track_event(jsonb, uuid, text), public.export_my_data(), public.delete_my_account(text)
  to anon, authenticated, service_role;
