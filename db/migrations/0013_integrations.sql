-- =============================================================================
-- 0013 integrations: Loconomy API keys (hashed, scoped, expirable), outbound
-- webhook endpoints and their deliveries (Standard Webhooks), and the record of
-- processed inbound webhook events (Stripe, Clerk) that makes handling them
-- idempotent. Secrets are shown once, when created, and never again.
-- =============================================================================

create type public.delivery_status as enum ('pending', 'delivering', 'succeeded', 'failed', 'dead');

-- Randomness from gen_random_uuid() (122 random bits each): pgcrypto is not
-- guaranteed on every home of this schema.
create function app.random_hex(uuids integer) returns text
language sql volatile
set search_path = pg_catalog
as $$
  select string_agg(replace(gen_random_uuid()::text, '-', ''), '') from generate_series(1, uuids)
$$;
revoke execute on function app.random_hex(integer) from public;

create function app.valid_scopes(scopes text[]) returns boolean
language sql immutable parallel safe
set search_path = pg_catalog
as $$
  select coalesce(bool_and(s ~ '^(\*|[a-z_]+):(read|write|\*)$'), true) from unnest(scopes) s
$$;
comment on function app.valid_scopes(text[]) is 'Scopes are resource:action with action read, write or * (e.g. listings:read, bookings:write, *:read).';
grant execute on function app.valid_scopes(text[]) to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- api_keys
-- -----------------------------------------------------------------------------
create table public.api_keys (
  id                   uuid primary key default gen_random_uuid(),
  user_id              uuid not null references public.users (id) on delete cascade,
  tenant_id            uuid not null references public.tenants (id) on delete cascade,
  name                 text not null check (length(name) between 1 and 100),
  key_prefix           text not null unique check (key_prefix ~ '^lk_[0-9a-f]{8}$'),
  key_hash             text not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
  scopes               text[] not null default '{}' check (app.valid_scopes(scopes)),
  rate_limit_per_hour  integer not null default 1000 check (rate_limit_per_hour between 1 and 1000000),
  last_used_at         timestamptz,
  usage_count          bigint not null default 0 check (usage_count >= 0),
  expires_at           timestamptz,
  revoked_at           timestamptz,
  metadata             jsonb not null default '{}',
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  check (expires_at > created_at)
);
comment on table public.api_keys is 'API keys for server-to-server use, acting as their owner within their scopes. Only the SHA-256 of the key is stored; key_prefix identifies it in logs and UIs.';
comment on column public.api_keys.key_hash is 'hex SHA-256 of the whole key. Never readable by API roles.';

create index api_keys_user_id_idx on public.api_keys (user_id, created_at desc);
create index api_keys_tenant_id_idx on public.api_keys (tenant_id);
create index api_keys_scopes_gin on public.api_keys using gin (scopes);

create trigger api_keys_inherit_tenant before insert on public.api_keys
  for each row execute function app.inherit_tenant('users', 'user_id');
create trigger api_keys_set_updated_at before update on public.api_keys
  for each row execute function app.set_updated_at();
create trigger api_keys_audit after insert or update of name, scopes, rate_limit_per_hour, expires_at, revoked_at or delete
  on public.api_keys for each row execute function app.audit_row('key_hash');

alter table public.api_keys enable row level security;
grant select (id, user_id, tenant_id, name, key_prefix, scopes, rate_limit_per_hour, last_used_at, usage_count,
              expires_at, revoked_at, metadata, created_at, updated_at)
  on public.api_keys to authenticated;
grant update (name, revoked_at, metadata), delete on public.api_keys to authenticated;
create policy "Users can read their own API keys" on public.api_keys
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Users can rename or revoke their own API keys" on public.api_keys
  for update to authenticated
  using (user_id = (select app.current_user_id()))
  with check (user_id = (select app.current_user_id()));
create policy "Users can delete their own API keys" on public.api_keys
  for delete to authenticated using (user_id = (select app.current_user_id()));

create function public.create_api_key(
  name text, scopes text[] default '{}', expires_at timestamptz default null, rate_limit_per_hour integer default 1000)
returns table (key_id uuid, api_key text, prefix text, granted_scopes text[], valid_until timestamptz)
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.current_user_id();
  new_prefix text := 'lk_' || left(app.random_hex(1), 8);
  full_key text := new_prefix || '_' || app.random_hex(2);
  created public.api_keys;
begin
  if me is null then
    raise insufficient_privilege using message = 'sign in to create an API key';
  end if;
  if not app.valid_scopes(create_api_key.scopes) then
    raise check_violation using message = 'invalid scope', hint = 'Use resource:action, e.g. listings:read or bookings:write.';
  end if;
  insert into public.api_keys (user_id, name, key_prefix, key_hash, scopes, expires_at, rate_limit_per_hour)
  values (me, create_api_key.name, new_prefix, encode(sha256(convert_to(full_key, 'UTF8')), 'hex'),
          create_api_key.scopes, create_api_key.expires_at, create_api_key.rate_limit_per_hour)
  returning * into created;
  return query select created.id, full_key, created.key_prefix, created.scopes, created.expires_at;
end $$;
comment on function public.create_api_key(text, text[], timestamptz, integer) is 'Creates an API key for the caller and returns it. The key is shown only here; store it now.';

-- For the server: resolves a presented key (service_role only).
create function app.authenticate_api_key(presented text)
returns table (id uuid, user_id uuid, tenant_id uuid, clerk_id text, scopes text[], rate_limit_per_hour integer)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select k.id, k.user_id, k.tenant_id, u.clerk_id, k.scopes, k.rate_limit_per_hour
  from public.api_keys k join public.users u on u.id = k.user_id
  where k.key_hash = encode(sha256(convert_to(presented, 'UTF8')), 'hex')
    and k.revoked_at is null and (k.expires_at is null or k.expires_at > now())
    and u.deleted_at is null and u.status not in ('suspended', 'banned')
$$;
comment on function app.authenticate_api_key(text) is 'The live key matching a presented API key, with its owner; nothing for unknown, revoked or expired keys.';
revoke execute on function public.create_api_key(text, text[], timestamptz, integer), app.authenticate_api_key(text), app.valid_scopes(text[]) from public;
grant execute on function public.create_api_key(text, text[], timestamptz, integer) to authenticated, service_role;
grant execute on function app.authenticate_api_key(text) to service_role;
grant execute on function app.valid_scopes(text[]) to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- webhook_endpoints
-- -----------------------------------------------------------------------------
create table public.webhook_endpoints (
  id                     uuid primary key default gen_random_uuid(),
  user_id                uuid not null references public.users (id) on delete cascade,
  tenant_id              uuid not null references public.tenants (id) on delete cascade,
  url                    text not null check (url ~ '^https?://[^\s/$.?#].[^\s]*$' and length(url) <= 2048),
  description            text check (length(description) <= 500),
  secret                 text not null check (secret ~ '^whsec_[A-Za-z0-9+/=]{32,}$'),
  events                 text[] not null check (cardinality(events) > 0
                           and array_to_string(events, ',') ~ '^(\*|[a-z_]+\.[a-z_*]+)(,(\*|[a-z_]+\.[a-z_*]+))*$'),
  is_active              boolean not null default true,
  max_retries            integer not null default 8 check (max_retries between 0 and 20),
  consecutive_failures   integer not null default 0 check (consecutive_failures >= 0),
  disabled_at            timestamptz,
  last_success_at        timestamptz,
  last_failure_at        timestamptz,
  metadata               jsonb not null default '{}',
  created_at             timestamptz not null default now(),
  updated_at             timestamptz not null default now()
);
comment on table public.webhook_endpoints is 'Where to deliver which events (e.g. booking.created, booking.*). Signed per Standard Webhooks with secret, which is shown only at creation and rotation.';
comment on column public.webhook_endpoints.consecutive_failures is 'Endpoint health: the delivery job disables an endpoint after too many failures in a row.';

create index webhook_endpoints_user_id_idx on public.webhook_endpoints (user_id);
create index webhook_endpoints_tenant_id_idx on public.webhook_endpoints (tenant_id);
create index webhook_endpoints_events_gin on public.webhook_endpoints using gin (events);

create trigger webhook_endpoints_inherit_tenant before insert on public.webhook_endpoints
  for each row execute function app.inherit_tenant('users', 'user_id');
create trigger webhook_endpoints_set_updated_at before update on public.webhook_endpoints
  for each row execute function app.set_updated_at();
create trigger webhook_endpoints_audit after insert or update of url, events, is_active, secret, disabled_at or delete
  on public.webhook_endpoints for each row execute function app.audit_row('secret');

alter table public.webhook_endpoints enable row level security;
grant select (id, user_id, tenant_id, url, description, events, is_active, max_retries, consecutive_failures,
              disabled_at, last_success_at, last_failure_at, metadata, created_at, updated_at)
  on public.webhook_endpoints to authenticated;
grant update (url, description, events, is_active, max_retries, metadata), delete on public.webhook_endpoints to authenticated;
create policy "Users can read their own webhook endpoints" on public.webhook_endpoints
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Webhook managers can read endpoints of their tenant" on public.webhook_endpoints
  for select to authenticated
  using ((select app.has_permission('webhooks.manage')) and tenant_id = (select app.current_tenant_id()));
create policy "Users can update their own webhook endpoints" on public.webhook_endpoints
  for update to authenticated
  using (user_id = (select app.current_user_id()))
  with check (user_id = (select app.current_user_id()));
create policy "Users can delete their own webhook endpoints" on public.webhook_endpoints
  for delete to authenticated using (user_id = (select app.current_user_id()));

create function app.new_webhook_secret() returns text
language sql volatile
set search_path = pg_catalog
as $$
  select 'whsec_' || encode(decode(app.random_hex(2), 'hex'), 'base64')
$$;
revoke execute on function app.new_webhook_secret() from public;

create function public.create_webhook_endpoint(url text, events text[], description text default null)
returns public.webhook_endpoints
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
  insert into public.webhook_endpoints (user_id, url, events, description, secret)
  values (me, create_webhook_endpoint.url, create_webhook_endpoint.events, create_webhook_endpoint.description,
          app.new_webhook_secret())
  returning * into created;
  return created;
end $$;
comment on function public.create_webhook_endpoint(text, text[], text) is 'Registers a webhook endpoint for the caller and returns it with its signing secret (shown only now).';

create function public.rotate_webhook_secret(endpoint_id uuid) returns public.webhook_endpoints
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  result public.webhook_endpoints;
begin
  update public.webhook_endpoints e set secret = app.new_webhook_secret()
  where e.id = endpoint_id and e.user_id = app.current_user_id()
  returning * into result;
  if result.id is null then
    raise no_data_found using message = format('webhook endpoint %s not found', endpoint_id);
  end if;
  return result;
end $$;
comment on function public.rotate_webhook_secret(uuid) is 'Replaces an endpoint''s signing secret and returns the new one (shown only now).';
revoke execute on function public.create_webhook_endpoint(text, text[], text), public.rotate_webhook_secret(uuid) from public;
grant execute on function public.create_webhook_endpoint(text, text[], text), public.rotate_webhook_secret(uuid)
  to authenticated, service_role;

-- -----------------------------------------------------------------------------
-- webhook_deliveries: the outbox. Partition-ready (key includes created_at).
-- -----------------------------------------------------------------------------
create table public.webhook_deliveries (
  id                uuid not null default gen_random_uuid(),
  created_at        timestamptz not null default now(),
  endpoint_id       uuid not null references public.webhook_endpoints (id) on delete cascade,
  tenant_id         uuid not null references public.tenants (id) on delete cascade,
  message_id        text not null,
  event_type        text not null check (event_type ~ '^[a-z_]+\.[a-z_]+$'),
  payload           jsonb not null,
  status            public.delivery_status not null default 'pending',
  attempt_count     integer not null default 0 check (attempt_count >= 0),
  next_attempt_at   timestamptz default now(),
  last_attempt_at   timestamptz,
  http_status       integer check (http_status between 100 and 599),
  response_body     text check (length(response_body) <= 65536),
  response_headers  jsonb,
  error_message     text,
  delivered_at      timestamptz,
  primary key (id, created_at),
  check (status <> 'succeeded' or delivered_at is not null),
  check (status not in ('pending', 'failed') or next_attempt_at is not null)
);
comment on table public.webhook_deliveries is 'One event to one endpoint, with its attempts. message_id is the Standard Webhooks webhook-id (stable across retries).';

create index webhook_deliveries_created_at_brin on public.webhook_deliveries using brin (created_at);
create index webhook_deliveries_due_idx on public.webhook_deliveries (next_attempt_at) where status in ('pending', 'failed');
create index webhook_deliveries_endpoint_created_idx on public.webhook_deliveries (endpoint_id, created_at desc);
create index webhook_deliveries_message_id_idx on public.webhook_deliveries (message_id);
create index webhook_deliveries_tenant_id_idx on public.webhook_deliveries (tenant_id);

create trigger webhook_deliveries_inherit_tenant before insert on public.webhook_deliveries
  for each row execute function app.inherit_tenant('webhook_endpoints', 'endpoint_id');

-- Endpoint health follows each finished attempt.
create function app.webhook_deliveries_track_health() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if new.status = 'succeeded' then
    update public.webhook_endpoints
       set consecutive_failures = 0, last_success_at = new.delivered_at
     where id = new.endpoint_id;
  elsif new.status in ('failed', 'dead') then
    update public.webhook_endpoints
       set consecutive_failures = consecutive_failures + 1, last_failure_at = coalesce(new.last_attempt_at, now())
     where id = new.endpoint_id;
  end if;
  return null;
end $$;
revoke execute on function app.webhook_deliveries_track_health() from public;
create trigger webhook_deliveries_track_health after update of status, attempt_count on public.webhook_deliveries
  for each row when (new.status in ('succeeded', 'failed', 'dead')) execute function app.webhook_deliveries_track_health();

alter table public.webhook_deliveries enable row level security;
grant select on public.webhook_deliveries to authenticated;
create policy "Endpoint owners can read their deliveries" on public.webhook_deliveries
  for select to authenticated
  using (endpoint_id in (select e.id from public.webhook_endpoints e where e.user_id = (select app.current_user_id())));
create policy "Webhook managers can read deliveries of their tenant" on public.webhook_deliveries
  for select to authenticated
  using ((select app.has_permission('webhooks.manage')) and tenant_id = (select app.current_tenant_id()));

-- -----------------------------------------------------------------------------
-- inbound_webhook_events: each Stripe / Clerk event is processed once.
-- -----------------------------------------------------------------------------
create table public.inbound_webhook_events (
  id            uuid primary key default gen_random_uuid(),
  provider      text not null check (provider in ('stripe', 'clerk')),
  event_id      text not null check (length(event_id) between 1 and 255),
  event_type    text not null,
  payload       jsonb not null,
  received_at   timestamptz not null default now(),
  processed_at  timestamptz,
  attempts      integer not null default 1 check (attempts > 0),
  last_error    text,
  unique (provider, event_id)
);
comment on table public.inbound_webhook_events is 'Inbound webhook events by provider and event id: insert ... on conflict do nothing makes a redelivered event a no-op. Platform-wide, so service_role only.';

create index inbound_webhook_events_unprocessed_idx on public.inbound_webhook_events (received_at) where processed_at is null;
create index inbound_webhook_events_received_brin on public.inbound_webhook_events using brin (received_at);

alter table public.inbound_webhook_events enable row level security;
create policy "Only the service role handles inbound webhook events" on public.inbound_webhook_events
  for all to service_role using (true) with check (true);

grant all on public.api_keys, public.webhook_endpoints, public.webhook_deliveries, public.inbound_webhook_events to service_role;
