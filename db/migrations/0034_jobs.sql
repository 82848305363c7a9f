-- =============================================================================
-- 0034 jobs: what the scheduled tasks of src/jobs/ call that earlier migrations
-- did not provide (issue 12, decision 0020): API key expiry notices and the
-- retention purge of decision 0006. The queue itself is graphile-worker's own
-- schema (graphile_worker), installed by its migrator when jobs start, not here.
-- Bookings, reminders, reviews and referral rewards already have their
-- functions (0021, 0018, 0022, 0023).
-- =============================================================================

-- -----------------------------------------------------------------------------
-- API key expiry. A key stops working at expires_at already (app.use_api_key);
-- what the scheduler adds is telling its owner, once, when it has a week left
-- (or has expired unnoticed), and dropping the rate-limit window of keys that
-- can no longer be used.
-- -----------------------------------------------------------------------------
create table app.api_key_expiry_notices (
  api_key_id   uuid primary key references public.api_keys (id) on delete cascade,
  notified_at  timestamptz not null default now()
);
comment on table app.api_key_expiry_notices is 'API keys whose owner was told the key expires (expire_api_keys() tells each owner once per key).';

-- No grants and no policies: only expire_api_keys() touches it.
alter table app.api_key_expiry_notices enable row level security;

create function public.expire_api_keys(notice_days integer default 7) returns jsonb
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  k public.api_keys;
  notified integer := 0;
  cleared integer;
begin
  if notice_days is null or notice_days not between 0 and 90 then
    raise invalid_parameter_value using message = 'notice_days must be between 0 and 90',
      hint = 'how many days before a key expires its owner is told (default 7)';
  end if;
  for k in
    select x.* from public.api_keys x
     where x.revoked_at is null and x.expires_at is not null
       and x.expires_at <= now() + make_interval(days => notice_days)
       and not exists (select 1 from app.api_key_expiry_notices n where n.api_key_id = x.id)
     order by x.expires_at
     for update skip locked
  loop
    insert into app.api_key_expiry_notices (api_key_id) values (k.id) on conflict do nothing;
    if not found then
      continue;  -- another run took it
    end if;
    perform app.notify(k.user_id, 'system_alert',
      case when k.expires_at <= now() then 'API key expired' else 'API key expires soon' end,
      format('Your API key "%s" (%s…) %s on %s. Create a new key and replace it where it is used.',
             k.name, k.key_prefix, case when k.expires_at <= now() then 'expired' else 'expires' end,
             to_char(k.expires_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')),
      jsonb_build_object('api_key_id', k.id, 'key_prefix', k.key_prefix, 'expires_at', k.expires_at),
      null, null);
    notified := notified + 1;
  end loop;
  -- A dead key's counter is never read again (app.use_api_key refuses the key first).
  delete from app.api_key_rate_windows w
   using public.api_keys x
   where x.id = w.api_key_id and (x.revoked_at is not null or x.expires_at <= now());
  get diagnostics cleared = row_count;
  return jsonb_build_object('owners_notified', notified, 'rate_windows_cleared', cleared);
end $$;
comment on function public.expire_api_keys(integer) is
  'For the scheduler (service_role), e.g. hourly: tells the owner of each live key that expires within notice_days days (or has expired) once, and clears the rate-limit windows of expired and revoked keys. Returns the counts. Idempotent.';
revoke execute on function public.expire_api_keys(integer) from public;
grant execute on function public.expire_api_keys(integer) to service_role;

-- -----------------------------------------------------------------------------
-- Retention (decision 0006): deletes what has outlived its keep, in batches so a
-- first run on a large table does not hold one huge transaction; the caller runs
-- it again while a table reports a full batch. audit_logs is never purged here
-- (7 years, archived by detaching partitions once partitioned).
-- -----------------------------------------------------------------------------
create function public.purge_expired_rows(batch_size integer default 10000) returns jsonb
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  counts jsonb := '{}';
  n integer;
begin
  if batch_size is null or batch_size not between 1 and 1000000 then
    raise invalid_parameter_value using message = 'batch_size must be between 1 and 1000000',
      hint = 'how many rows of each table one run deletes at most (default 10000)';
  end if;

  delete from public.events t where (t.id, t.created_at) in (
    select e.id, e.created_at from public.events e
     where e.created_at < now() - interval '13 months' limit batch_size);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('events', n);

  delete from public.system_logs t where (t.id, t.created_at) in (
    select l.id, l.created_at from public.system_logs l
     where l.created_at < now() - case when l.level in ('error', 'critical') then interval '1 year'
                                       else interval '90 days' end
     limit batch_size);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('system_logs', n);

  delete from public.webhook_deliveries t where (t.id, t.created_at) in (
    select d.id, d.created_at from public.webhook_deliveries d
     where (d.status = 'succeeded' and d.created_at < now() - interval '30 days')
        or (d.status in ('failed', 'dead') and d.created_at < now() - interval '90 days')
     limit batch_size);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('webhook_deliveries', n);

  delete from public.inbound_webhook_events t where t.id in (
    select i.id from public.inbound_webhook_events i
     where i.processed_at < now() - interval '90 days' limit batch_size);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('inbound_webhook_events', n);

  delete from public.user_sessions t where t.id in (
    select s.id from public.user_sessions s
     where coalesce(s.ended_at, s.expires_at) < now() - interval '1 year' limit batch_size);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('user_sessions', n);

  delete from public.notifications t where t.id in (
    select x.id from public.notifications x
     where x.read_at < now() - interval '1 year' limit batch_size);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('notifications', n);

  return counts;
end $$;
comment on function public.purge_expired_rows(integer) is
  'For the scheduler (service_role), e.g. daily: deletes up to batch_size rows per table that have outlived decision 0006''s retention (events 13 months; system_logs 90 days, errors 1 year; webhook_deliveries 30 days after success, 90 failed or dead; inbound_webhook_events 90 days after processing; user_sessions 1 year after ending; notifications 1 year once read). Returns the rows deleted per table; run again while one equals batch_size.';
revoke execute on function public.purge_expired_rows(integer) from public;
grant execute on function public.purge_expired_rows(integer) to service_role;
