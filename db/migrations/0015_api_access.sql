-- =============================================================================
-- 0015 API access: what the server needs to accept a Loconomy API key (lk_…)
-- on a request, in one round trip: find the live key and its owner, count the
-- request against the key's hourly limit and record the key's use. The count
-- lives here, in the database, so every server process on it shares one limit
-- per key (no process-local counters).
-- =============================================================================

-- -----------------------------------------------------------------------------
-- api_key_rate_windows: each key's current fixed one-hour window. Internal
-- state, read and written only by app.use_api_key(), so it lives in `app`.
-- One row per key: a new hour resets the row instead of adding one, so the
-- table never grows past the number of keys and needs no purge.
-- -----------------------------------------------------------------------------
create table app.api_key_rate_windows (
  api_key_id     uuid primary key references public.api_keys (id) on delete cascade,
  window_start   timestamptz not null
                   check (date_trunc('hour', window_start at time zone 'UTC') = window_start at time zone 'UTC'),
  request_count  integer not null check (request_count >= 0)
);
comment on table app.api_key_rate_windows is 'Requests each API key made in its current window, the UTC hour starting at window_start. Only app.use_api_key() touches it.';
comment on column app.api_key_rate_windows.request_count is 'Requests accepted in the window; never more than the key''s rate_limit_per_hour (refused requests are not counted).';

-- No grants and no policies: no API role reads or writes it.
alter table app.api_key_rate_windows enable row level security;

-- Using a key is not changing it: updated_at now follows the key's settings,
-- not every request that records usage_count and last_used_at.
drop trigger api_keys_set_updated_at on public.api_keys;
create trigger api_keys_set_updated_at
  before update of name, scopes, rate_limit_per_hour, expires_at, revoked_at, metadata on public.api_keys
  for each row execute function app.set_updated_at();

-- -----------------------------------------------------------------------------
-- app.use_api_key(): once per request that presents an API key.
-- -----------------------------------------------------------------------------
create function app.use_api_key(presented text)
returns table (
  id uuid, prefix text, user_id uuid, tenant_id uuid, clerk_id text, scopes text[],
  rate_limit integer, remaining integer, reset_seconds integer, allowed boolean)
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  k record;
  window_begins timestamptz := date_trunc('hour', now(), 'UTC');
  used integer;
  key_prefix_found text;
begin
  select a.id, a.user_id, a.tenant_id, a.clerk_id, a.scopes, a.rate_limit_per_hour
    into k from app.authenticate_api_key(presented) a;
  if k.id is null then
    return; -- unknown, revoked or expired, or the owner cannot sign in
  end if;

  -- Count this request unless the window is full. The row lock taken here
  -- serialises concurrent requests of one key, so the count is exact.
  insert into app.api_key_rate_windows as w (api_key_id, window_start, request_count)
  values (k.id, window_begins, 1)
  on conflict (api_key_id) do update
    set window_start = excluded.window_start,
        request_count = case when w.window_start = excluded.window_start then w.request_count + 1 else 1 end
    where w.window_start <> excluded.window_start or w.request_count < k.rate_limit_per_hour
  returning w.request_count into used;

  if used is not null then
    update public.api_keys a set usage_count = a.usage_count + 1, last_used_at = now()
    where a.id = k.id
    returning a.key_prefix into key_prefix_found;
  else
    select a.key_prefix into key_prefix_found from public.api_keys a where a.id = k.id;
  end if;

  return query select
    k.id, key_prefix_found, k.user_id, k.tenant_id, k.clerk_id, k.scopes, k.rate_limit_per_hour,
    greatest(k.rate_limit_per_hour - coalesce(used, k.rate_limit_per_hour), 0),
    greatest(ceil(extract(epoch from window_begins + interval '1 hour' - now()))::integer, 1),
    used is not null;
end $$;
comment on function app.use_api_key(text) is 'For the server, once per request with an API key: the live key and its owner (no row for unknown, revoked or expired keys or owners who cannot sign in), whether this request fits in the key''s hourly limit (counted and recorded in usage_count and last_used_at if so), the requests left in the window and the seconds until it resets.';
revoke execute on function app.use_api_key(text) from public;
grant execute on function app.use_api_key(text) to service_role;
