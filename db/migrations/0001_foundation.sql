-- =============================================================================
-- 0001 foundation: extensions, API roles, the private `app` schema, shared
-- domains and the generic trigger functions every later domain uses.
--
-- Runs unchanged on PGlite (PostgreSQL 18 + PostGIS 3.6), PostgreSQL 13+ with
-- PostGIS, and Supabase (where the roles and the `extensions` schema already
-- exist, hence every `if not exists`). The migrator runs each file in one
-- transaction with `search_path = public, extensions`.
-- =============================================================================

create schema if not exists extensions;
create extension if not exists postgis    with schema extensions;
create extension if not exists pg_trgm    with schema extensions;
create extension if not exists btree_gin  with schema extensions;
create extension if not exists btree_gist with schema extensions;

-- Clients resolve PostGIS types and operators without qualifying them.
do $$
begin
  execute format('alter database %I set search_path = public, extensions', current_database());
exception when insufficient_privilege then
  raise notice 'could not set the database search_path; set it to "public, extensions" yourself';
end $$;

-- -----------------------------------------------------------------------------
-- API roles, as PostgREST and Supabase name them. The server switches to one of
-- them per request (`set local role`); none can log in.
-- -----------------------------------------------------------------------------
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  -- A non-superuser connection (managed PostgreSQL) needs membership to `set role`.
  if not (select rolsuper from pg_roles where rolname = current_user) then
    execute format('grant anon, authenticated, service_role to %I', current_user);
  end if;
exception when insufficient_privilege then
  raise notice 'could not grant the API roles to %; grant them yourself', current_user;
end $$;

grant usage on schema public, extensions to anon, authenticated, service_role;

-- Objects only the database itself calls (identity helpers, trigger functions)
-- live in `app`, which no API exposes. Policies call some of them, so the API
-- roles may use the schema; each function still grants execute explicitly.
create schema if not exists app;
comment on schema app is 'Loconomy internals: identity and permission helpers, trigger functions. Not exposed over any API.';
grant usage on schema app to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- Shared domains
-- -----------------------------------------------------------------------------
create function app.is_valid_time_zone(tz text) returns boolean
language plpgsql immutable strict
set search_path = pg_catalog
as $$
begin
  -- IANA names ("Europe/Berlin") and UTC only; abbreviations like "EST" are ambiguous.
  if tz !~ '^(UTC|[A-Z][A-Za-z_-]+(/[A-Za-z0-9_+-]+){1,2})$' then
    return false;
  end if;
  perform now() at time zone tz;
  return true;
exception when invalid_parameter_value then
  return false;
end $$;
comment on function app.is_valid_time_zone(text) is 'True for an IANA time zone name PostgreSQL knows. Declared immutable for use in a domain check: the tz database only grows.';

create domain public.time_zone as text
  check (app.is_valid_time_zone(value));
comment on domain public.time_zone is 'An IANA time zone name, e.g. America/New_York.';

create domain public.currency_code as text
  check (value ~ '^[A-Z]{3}$');
comment on domain public.currency_code is 'An ISO 4217 currency code in upper case, e.g. USD.';

create domain public.cents as bigint
  check (value >= 0);
comment on domain public.cents is 'A non-negative amount of money in the currency''s minor unit (cents).';

create domain public.slug as text
  check (value ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(value) <= 120);
comment on domain public.slug is 'A URL-safe identifier: lower-case letters, digits and single hyphens.';

-- -----------------------------------------------------------------------------
-- Request context. Callers are identified by `request.jwt.claims`, which this
-- server, PostgREST and Supabase all set per transaction (never auth.uid()).
-- -----------------------------------------------------------------------------
create function app.jwt_claims() returns jsonb
language sql stable
set search_path = pg_catalog
as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;
comment on function app.jwt_claims() is 'The verified JWT claims of the current request, or {} outside a request.';

create function app.current_subject() returns text
language sql stable
set search_path = pg_catalog
as $$
  select nullif(app.jwt_claims() ->> 'sub', '')
$$;
comment on function app.current_subject() is 'The identity provider''s subject (Clerk user id) of the caller, if any.';

create function app.is_trusted() returns boolean
language sql stable
set search_path = pg_catalog
as $$
  -- Inside a SECURITY DEFINER function current_user is its owner, so operations
  -- that a definer function already authorised count as trusted too.
  select current_user not in ('anon', 'authenticated')
$$;
comment on function app.is_trusted() is 'True for service_role, the schema owner and SECURITY DEFINER functions; false for the anon and authenticated API roles.';

grant execute on function app.is_valid_time_zone(text), app.jwt_claims(), app.current_subject(), app.is_trusted()
  to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- Generic trigger functions
-- -----------------------------------------------------------------------------
create function app.set_updated_at() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
  new.updated_at := now();
  return new;
end $$;
comment on function app.set_updated_at() is 'BEFORE UPDATE: stamps updated_at.';

-- Random, unambiguous codes (no 0/O, 1/I/L) for confirmation and referral codes.
create function app.random_code(len integer) returns text
language sql volatile
set search_path = pg_catalog
as $$
  select string_agg(substr('23456789ABCDEFGHJKMNPQRSTUVWXYZ', 1 + floor(random() * 31)::int, 1), '')
  from generate_series(1, len)
$$;

-- Child rows take their tenant from their parent row, so a client can neither
-- choose nor forge a tenant. Arguments: parent table, parent key column in NEW.
create function app.inherit_tenant() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
  parent_tenant uuid;
  parent_id uuid := (to_jsonb(new) ->> tg_argv[1])::uuid;
begin
  if parent_id is null then
    return new;
  end if;
  execute format('select tenant_id from public.%I where id = $1', tg_argv[0])
    into parent_tenant using parent_id;
  if parent_tenant is null then
    raise foreign_key_violation using
      message = format('%s %s does not exist', tg_argv[0], parent_id);
  end if;
  if new.tenant_id is not null and new.tenant_id <> parent_tenant and not app.is_trusted() then
    raise insufficient_privilege using message = 'tenant_id must match the tenant of ' || tg_argv[0];
  end if;
  new.tenant_id := parent_tenant;
  return new;
end $$;
comment on function app.inherit_tenant() is 'BEFORE INSERT: copies tenant_id from the parent row named by the trigger arguments (table, key column).';
revoke execute on function app.set_updated_at(), app.random_code(integer), app.inherit_tenant() from public;

-- -----------------------------------------------------------------------------
-- Audit trail. Lives here because every later domain attaches app.audit_row()
-- to its sensitive tables. Rows are history: they carry no foreign keys (a
-- deleted user or tenant must not rewrite or erase the record of what they did)
-- and no API role may insert, change or delete them; only the trigger writes.
-- Partition-ready: the key includes created_at (see docs/decisions/0006-retention.md).
-- -----------------------------------------------------------------------------
create type public.audit_action as enum (
  'create', 'read', 'update', 'delete', 'login', 'logout', 'admin_action', 'payment', 'booking'
);

create table public.audit_logs (
  id              uuid        not null default gen_random_uuid(),
  created_at      timestamptz not null default now(),
  tenant_id       uuid,
  actor_id        uuid,
  actor_subject   text,
  actor_role      text        not null default current_user,
  action          public.audit_action not null,
  resource_type   text        not null,
  resource_id     uuid,
  old_values      jsonb,
  new_values      jsonb,
  changed_columns text[],
  ip_address      inet,
  user_agent      text,
  request_id      text,
  metadata        jsonb       not null default '{}',
  primary key (id, created_at)
);
comment on table public.audit_logs is 'Append-only security and compliance trail of changes to sensitive tables, written by triggers.';
comment on column public.audit_logs.actor_id is 'users.id of the caller at the time (no foreign key: history outlives the user).';
comment on column public.audit_logs.changed_columns is 'For updates: the columns whose value changed.';

create index audit_logs_created_at_brin on public.audit_logs using brin (created_at);
create index audit_logs_resource_idx on public.audit_logs (resource_type, resource_id, created_at desc);
create index audit_logs_actor_idx on public.audit_logs (actor_id, created_at desc) where actor_id is not null;
create index audit_logs_tenant_idx on public.audit_logs (tenant_id, created_at desc);

alter table public.audit_logs enable row level security;
grant select on public.audit_logs to authenticated, service_role;
-- Policies for admins are created in 0004_permissions.sql, next to has_permission().

create function app.request_header(name text) returns text
language sql stable
set search_path = pg_catalog
as $$
  select nullif(current_setting('request.headers', true), '')::jsonb ->> lower(name)
$$;
grant execute on function app.request_header(text) to anon, authenticated, service_role;

create function app.audit_row() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
  old_row jsonb := case when tg_op in ('UPDATE', 'DELETE') then to_jsonb(old) end;
  new_row jsonb := case when tg_op in ('INSERT', 'UPDATE') then to_jsonb(new) end;
  redacted text[] := coalesce(tg_argv::text[], '{}');
  changed text[];
  forwarded text := trim(split_part(app.request_header('x-forwarded-for'), ',', 1));
  client_ip inet;
begin
  if tg_op = 'UPDATE' then
    select array_agg(key order by key) into changed
    from jsonb_each(new_row) n
    where n.value is distinct from old_row -> n.key and key <> 'updated_at';
    if changed is null then
      return null;  -- nothing but updated_at changed
    end if;
  end if;

  -- The header is client-supplied: a malformed address is dropped, never allowed to fail the write.
  if forwarded ~ '^[0-9a-fA-F:.]+$' then
    begin
      client_ip := forwarded::inet;
    exception when invalid_text_representation then
      client_ip := null;
    end;
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
    old_row - redacted,
    new_row - redacted,
    changed,
    client_ip,
    app.request_header('user-agent'),
    app.request_header('x-request-id'),
    jsonb_strip_nulls(jsonb_build_object(
      'method', nullif(current_setting('request.method', true), ''),
      'path', nullif(current_setting('request.path', true), ''),
      'reason', nullif(current_setting('loconomy.reason', true), ''),
      'redacted', case when cardinality(redacted) > 0 then to_jsonb(redacted) end)));
  return null;
end $$;
comment on function app.audit_row() is 'AFTER INSERT/UPDATE/DELETE: writes an audit_logs row; trigger arguments name columns to redact (secrets).';
revoke execute on function app.audit_row() from public;
