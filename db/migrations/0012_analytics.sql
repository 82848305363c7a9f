-- =============================================================================
-- 0012 analytics: product events and system logs. Both are high-volume and
-- append-only: their keys include created_at so they can become range-
-- partitioned tables by month (docs/decisions/0006-retention.md), and a BRIN
-- index serves time-range scans at a fraction of a btree's size.
-- =============================================================================

create type public.log_level as enum ('debug', 'info', 'warning', 'error', 'critical');

create table public.events (
  id              uuid not null default gen_random_uuid(),
  created_at      timestamptz not null default now(),
  tenant_id       uuid references public.tenants (id) on delete cascade,
  user_id         uuid references public.users (id) on delete set null,
  session_id      uuid references public.user_sessions (id) on delete set null,
  anonymous_id    text check (length(anonymous_id) <= 100),
  event_name      text not null check (event_name ~ '^[a-z][a-z0-9_.:-]{0,99}$'),
  event_category  text,
  event_action    text,
  event_label     text,
  page_url        text,
  referrer        text,
  user_agent      text,
  ip_address      inet,
  properties      jsonb not null default '{}',
  primary key (id, created_at)
);
comment on table public.events is 'Product analytics events. Anyone may record one; user, tenant and network details are filled in by the database, not the client.';

create index events_created_at_brin on public.events using brin (created_at);
create index events_name_created_idx on public.events (event_name, created_at desc);
create index events_user_created_idx on public.events (user_id, created_at desc) where user_id is not null;
create index events_session_id_idx on public.events (session_id) where session_id is not null;
create index events_tenant_created_idx on public.events (tenant_id, created_at desc);
create index events_properties_gin on public.events using gin (properties jsonb_path_ops);

-- Clients cannot attribute events to someone else or fake where they came from.
create function app.events_before_insert() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  forwarded text := trim(split_part(app.request_header('x-forwarded-for'), ',', 1));
begin
  if app.is_trusted() then
    return new;
  end if;
  new.user_id := app.current_user_id();
  new.tenant_id := app.current_tenant_id();
  new.created_at := now();
  new.user_agent := app.request_header('user-agent');
  new.ip_address := case when forwarded ~ '^[0-9a-fA-F:.]+$' then forwarded::inet end;
  if new.session_id is not null and not exists (
      select 1 from public.user_sessions s where s.id = new.session_id and s.user_id = new.user_id) then
    new.session_id := null;
  end if;
  return new;
end $$;
revoke execute on function app.events_before_insert() from public;
create trigger events_before_insert before insert on public.events
  for each row execute function app.events_before_insert();

alter table public.events enable row level security;
grant insert (session_id, anonymous_id, event_name, event_category, event_action, event_label, page_url, referrer, properties)
  on public.events to anon, authenticated;
grant select on public.events to authenticated;
create policy "Anyone can record events" on public.events
  for insert to anon, authenticated with check (true);
create policy "Analysts can read events of their tenant" on public.events
  for select to authenticated
  using ((select app.has_permission('analytics.read')) and tenant_id = (select app.current_tenant_id()));

create table public.system_logs (
  id           uuid not null default gen_random_uuid(),
  created_at   timestamptz not null default now(),
  level        public.log_level not null,
  component    text not null check (length(component) between 1 and 100),
  message      text not null,
  request_id   text,
  tenant_id    uuid references public.tenants (id) on delete cascade,
  user_id      uuid references public.users (id) on delete set null,
  error_code   text,
  stack_trace  text,
  data         jsonb not null default '{}',
  primary key (id, created_at)
);
comment on table public.system_logs is 'Application log records worth keeping in the database (warnings and errors of jobs, webhooks, integrations). Written by service_role.';
comment on column public.system_logs.request_id is 'The HTTP request id (x-request-id) the record belongs to; text because request ids are not uuids.';

create index system_logs_created_at_brin on public.system_logs using brin (created_at);
create index system_logs_problems_idx on public.system_logs (created_at desc) where level in ('error', 'critical');
create index system_logs_component_created_idx on public.system_logs (component, created_at desc);
create index system_logs_request_id_idx on public.system_logs (request_id) where request_id is not null;
create index system_logs_user_id_idx on public.system_logs (user_id) where user_id is not null;
create index system_logs_tenant_id_idx on public.system_logs (tenant_id);

alter table public.system_logs enable row level security;
grant select on public.system_logs to authenticated;
create policy "Operators can read system logs of their tenant" on public.system_logs
  for select to authenticated
  using ((select app.has_permission('system.read')) and tenant_id = (select app.current_tenant_id()));

grant all on public.events, public.system_logs to service_role;
