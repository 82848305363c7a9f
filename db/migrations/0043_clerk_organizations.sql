-- =============================================================================
-- 0043 clerk organizations: Clerk organisations as tenants, behind the setting
-- LOCONOMY_CLERK_ORGANIZATION_TENANTS (decision 0021). The server passes the
-- setting the way it passes trusted metadata keys: the word 'organizations' in
-- the trusted list given to app.clerk_apply_event / app.clerk_ensure_user.
--
-- organization.created/updated upsert a tenant mapped to the organisation,
-- organization.deleted deactivates it (never deletes it: bookings and payments
-- keep their tenant); organizationMembership.* place a person's new account in
-- the organisation's tenant and give org:admin members the admin role's
-- permissions there through user_permissions (never a global role).
-- =============================================================================

-- -----------------------------------------------------------------------------
-- app.clerk_organizations: the tenant of each Clerk organisation, and the sync
-- state that orders its events (Clerk's updated_at) and keeps it deleted.
-- -----------------------------------------------------------------------------
create table app.clerk_organizations (
  clerk_organization_id text primary key check (clerk_organization_id ~ '^[A-Za-z0-9_-]{1,255}$'),
  tenant_id             uuid unique references public.tenants (id) on delete cascade,
  clerk_updated_at      timestamptz,
  deleted_at            timestamptz,
  created_at            timestamptz not null default now()
);
comment on table app.clerk_organizations is 'The tenant of each Clerk organisation (LOCONOMY_CLERK_ORGANIZATION_TENANTS). tenant_id is NULL while only a deletion is known; deleted_at is a tombstone: no later event of the organisation applies.';
comment on column app.clerk_organizations.clerk_updated_at is 'Clerk''s updated_at of the last organisation object applied: an older or equal one is stale and ignored.';
-- Only SECURITY DEFINER functions read it; nobody else has a policy.
alter table app.clerk_organizations enable row level security;

-- One row per (organisation, Clerk user) membership, keyed like clerk_users by
-- the hash of the user id: orders membership events and keeps a deleted one
-- deleted against a late created/updated.
create table app.clerk_memberships (
  clerk_organization_id text not null references app.clerk_organizations (clerk_organization_id) on delete cascade,
  clerk_id_hash         text not null check (clerk_id_hash ~ '^[0-9a-f]{64}$'),
  role                  text,
  clerk_updated_at      timestamptz,
  deleted_at            timestamptz,
  created_at            timestamptz not null default now(),
  primary key (clerk_organization_id, clerk_id_hash)
);
comment on table app.clerk_memberships is 'Clerk organisation memberships seen (user keyed by sha256 of the Clerk id), their role and Clerk''s updated_at; deleted_at once the membership ended.';
alter table app.clerk_memberships enable row level security;

-- -----------------------------------------------------------------------------
-- A free tenant slug from the organisation's slug (or its id): normalised to
-- public.slug, then -2, -3 … while another tenant holds it.
-- -----------------------------------------------------------------------------
create function app.clerk_org_slug(wanted text, fallback text, own_tenant uuid) returns text
language plpgsql stable
set search_path = pg_catalog, public
as $$
declare
  base text := left(trim(both '-' from regexp_replace(lower(coalesce(wanted, '')), '[^a-z0-9]+', '-', 'g')), 100);
  candidate text;
  n integer := 1;
begin
  if base = '' then
    base := left(trim(both '-' from regexp_replace(lower(fallback), '[^a-z0-9]+', '-', 'g')), 100);
  end if;
  base := trim(both '-' from base);
  candidate := base;
  while exists (select 1 from public.tenants t where t.slug = candidate and t.id is distinct from own_tenant) loop
    n := n + 1;
    candidate := base || '-' || n;
  end loop;
  return candidate;
end $$;
revoke execute on function app.clerk_org_slug(text, text, uuid) from public;

-- The organisation's row, created if new, locked: one organisation's events
-- apply one at a time.
create function app.clerk_org_lock(org_id text) returns app.clerk_organizations
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  state app.clerk_organizations;
begin
  insert into app.clerk_organizations (clerk_organization_id) values (org_id) on conflict do nothing;
  select * into state from app.clerk_organizations where clerk_organization_id = org_id for update;
  return state;
end $$;
revoke execute on function app.clerk_org_lock(text) from public;

-- organization.created/updated (and the organisation a membership carries):
-- a new tenant takes the default tenant's region, currency and time zone.
create function app.clerk_upsert_organization(org jsonb) returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  org_id text := org ->> 'id';
  changed_at timestamptz := coalesce(app.clerk_time(org -> 'updated_at'), app.clerk_time(org -> 'created_at'));
  state app.clerk_organizations := app.clerk_org_lock(org_id);
  wanted_name text := left(nullif(trim(org ->> 'name'), ''), 200);
  tenant public.tenants;
  model public.tenants;
begin
  if state.deleted_at is not null then
    return jsonb_build_object('outcome', 'ignored', 'reason', 'Clerk deleted this organization');
  end if;
  if state.clerk_updated_at is not null and changed_at is not null and changed_at <= state.clerk_updated_at then
    return jsonb_build_object('outcome', 'ignored', 'reason', 'an update as new or newer was applied before',
                              'tenant_id', state.tenant_id);
  end if;
  if state.tenant_id is null then
    select * into model from public.tenants t where t.is_default;
    insert into public.tenants (name, slug, region_id, default_currency, default_time_zone, metadata)
    values (coalesce(wanted_name, org_id), app.clerk_org_slug(org ->> 'slug', org_id, null), model.region_id,
            coalesce(model.default_currency, 'USD'), coalesce(model.default_time_zone, 'UTC'),
            jsonb_build_object('clerk_organization_id', org_id))
    returning * into tenant;
  else
    update public.tenants t set name = coalesce(wanted_name, t.name),
           slug = app.clerk_org_slug(coalesce(org ->> 'slug', t.slug), org_id, t.id)
    where t.id = state.tenant_id
    returning * into tenant;
  end if;
  update app.clerk_organizations set tenant_id = tenant.id, clerk_updated_at = coalesce(changed_at, clerk_updated_at)
  where clerk_organization_id = org_id;
  return jsonb_build_object('outcome', 'applied', 'tenant_id', tenant.id);
end $$;
revoke execute on function app.clerk_upsert_organization(jsonb) from public;

-- The reason that marks the grants an org:admin membership made, so that only
-- those are removed when it ends (an operator's own overrides stay).
create function app.clerk_org_admin_reason() returns text
language sql immutable
set search_path = pg_catalog
as $$ select 'Clerk organization admin' $$;
revoke execute on function app.clerk_org_admin_reason() from public;

-- organization.deleted: the tenant is deactivated, never deleted, and the
-- grants of its Clerk admins are removed.
create function app.clerk_delete_organization(org_id text) returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  state app.clerk_organizations := app.clerk_org_lock(org_id);
begin
  update app.clerk_organizations set deleted_at = coalesce(deleted_at, now()) where clerk_organization_id = org_id;
  if state.tenant_id is null then
    return jsonb_build_object('outcome', 'ignored', 'reason', 'no tenant for this organization');
  end if;
  update public.tenants set is_active = false where id = state.tenant_id and is_active;
  delete from public.user_permissions
  where tenant_id = state.tenant_id and reason = app.clerk_org_admin_reason();
  return jsonb_build_object('outcome', 'applied', 'tenant_id', state.tenant_id);
end $$;
revoke execute on function app.clerk_delete_organization(text) from public;

-- organizationMembership.created/updated/deleted. A person without an account
-- gets one in the organisation's tenant (accounts are placed only when they are
-- created: an existing account never moves). org:admin in the tenant the
-- account belongs to grants the permissions the admin role holds there, as
-- user_permissions overrides; another role or the end of the membership removes
-- them.
create function app.clerk_apply_membership(kind text, data jsonb, trusted text[]) returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  org jsonb := data -> 'organization';
  subject text := data -> 'public_user_data' ->> 'user_id';
  changed_at timestamptz := coalesce(app.clerk_time(data -> 'updated_at'), app.clerk_time(data -> 'created_at'));
  ending boolean := kind = 'organizationMembership.deleted';
  user_state app.clerk_users := app.clerk_lock(subject);
  mapping app.clerk_organizations;
  member app.clerk_memberships;
  tenant public.tenants;
  account public.users;
  placed boolean := false;
  granted integer := 0;
  removed integer := 0;
begin
  if user_state.deleted_at is not null then
    return jsonb_build_object('outcome', 'ignored', 'reason', 'Clerk deleted this user');
  end if;
  -- The membership carries its organisation: it may arrive before organization.created.
  if not ending then
    perform app.clerk_upsert_organization(org);
  end if;
  mapping := app.clerk_org_lock(org ->> 'id');
  if mapping.deleted_at is not null or mapping.tenant_id is null then
    return jsonb_build_object('outcome', 'ignored', 'reason', 'the organization is deleted or unknown');
  end if;
  insert into app.clerk_memberships (clerk_organization_id, clerk_id_hash)
  values (mapping.clerk_organization_id, user_state.clerk_id_hash) on conflict do nothing;
  select * into member from app.clerk_memberships m
  where m.clerk_organization_id = mapping.clerk_organization_id and m.clerk_id_hash = user_state.clerk_id_hash
  for update;
  -- A deletion carries the membership's last updated_at: equal is not stale for it.
  if member.clerk_updated_at is not null and changed_at is not null
     and (changed_at < member.clerk_updated_at or (changed_at = member.clerk_updated_at and not ending)) then
    return jsonb_build_object('outcome', 'ignored', 'reason', 'an update as new or newer was applied before');
  end if;
  update app.clerk_memberships m set role = left(data ->> 'role', 100),
         clerk_updated_at = coalesce(changed_at, m.clerk_updated_at),
         deleted_at = case when ending then now() end
  where m.clerk_organization_id = member.clerk_organization_id and m.clerk_id_hash = member.clerk_id_hash;

  select * into tenant from public.tenants t where t.id = mapping.tenant_id;
  select * into account from public.users u where u.clerk_id = subject and u.deleted_at is null;
  if account.id is null and not ending and tenant.is_active then
    perform app.clerk_create_account(subject, jsonb_build_object(
      'email', data -> 'public_user_data' ->> 'identifier',
      'first_name', data -> 'public_user_data' ->> 'first_name',
      'last_name', data -> 'public_user_data' ->> 'last_name',
      'organization_id', mapping.clerk_organization_id), trusted);
    select * into account from public.users u where u.clerk_id = subject and u.deleted_at is null;
    placed := account.tenant_id = tenant.id;
  end if;
  if account.id is null then
    return jsonb_build_object('outcome', 'applied', 'tenant_id', tenant.id);
  end if;
  if not ending and tenant.is_active and data ->> 'role' = 'org:admin' and account.tenant_id = tenant.id then
    insert into public.user_permissions (user_id, tenant_id, permission_id, granted, reason)
    select account.id, tenant.id, rp.permission_id, true, app.clerk_org_admin_reason()
    from public.role_permissions rp where rp.role = 'admin' and rp.granted
    on conflict (user_id, permission_id) do nothing;  -- an operator's own override of it stays
    get diagnostics granted = row_count;
  else
    delete from public.user_permissions up
    where up.user_id = account.id and up.tenant_id = tenant.id and up.reason = app.clerk_org_admin_reason();
    get diagnostics removed = row_count;
  end if;
  return jsonb_build_object(
    'outcome', case when account.tenant_id = tenant.id then 'applied' else 'ignored' end,
    'reason', case when account.tenant_id <> tenant.id
                   then 'the account belongs to another tenant; accounts never move tenant' end,
    'user_id', account.id, 'tenant_id', tenant.id, 'placed', placed,
    'permissions_granted', granted, 'permissions_removed', removed);
end $$;
revoke execute on function app.clerk_apply_membership(text, jsonb, text[]) from public;

-- -----------------------------------------------------------------------------
-- New accounts: with organisations on, an organisation mapped to an active
-- tenant (a membership, or the session token's org_id claim) picks the tenant;
-- otherwise as before (trusted tenant_id, else the default tenant).
-- -----------------------------------------------------------------------------
create or replace function app.clerk_create_account(subject text, details jsonb, trusted text[]) returns uuid
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  new_id uuid := gen_random_uuid();
  given_email text := details ->> 'email';
  tenant uuid;
  created uuid;
begin
  if given_email is null or given_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
    given_email := 'pending-' || new_id || '@clerk.invalid';
  end if;
  if 'organizations' = any (trusted) and details ->> 'organization_id' is not null then
    select t.id into tenant from app.clerk_organizations o join public.tenants t on t.id = o.tenant_id
    where o.clerk_organization_id = details ->> 'organization_id' and o.deleted_at is null and t.is_active;
  end if;
  if tenant is null then
    tenant := app.clerk_tenant(details ->> 'tenant_id', trusted);
  end if;
  insert into public.users (id, tenant_id, clerk_id, email, first_name, last_name)
  values (new_id, tenant, subject, given_email,
          left(nullif(trim(details ->> 'first_name'), ''), 100), left(nullif(trim(details ->> 'last_name'), ''), 100))
  on conflict (clerk_id) where deleted_at is null do nothing
  returning id into created;
  if created is null then
    select u.id into created from public.users u where u.clerk_id = subject and u.deleted_at is null;
  end if;
  return created;
end $$;

create or replace function app.clerk_ensure_user(claims jsonb, trusted text[] default '{}') returns uuid
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
    'tenant_id', claims ->> 'tenant_id',
    -- The active organisation: org_id in version 1 session tokens, o.id in version 2.
    'organization_id', coalesce(claims ->> 'org_id', claims -> 'o' ->> 'id')), trusted);
end $$;
comment on function app.clerk_ensure_user(jsonb, text[]) is 'users.id for the sub of verified Clerk token claims, creating the account when there is none (email, names; the tenant from the active organisation with organizations on, else a trusted tenant_id claim, else the default); NULL when Clerk deleted the user. Race-safe with the webhook through the unique index on clerk_id.';

create or replace function app.clerk_apply_event(svix_id text, event jsonb, trusted text[] default '{}') returns jsonb
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
  if 'organizations' = any (trusted) then
    if kind in ('organization.created', 'organization.updated', 'organization.deleted')
       and coalesce(data ->> 'id', '') !~ '^[A-Za-z0-9_-]{1,255}$' then
      raise invalid_parameter_value using message = kind || ' needs data.id, the Clerk organization id';
    end if;
    if kind in ('organizationMembership.created', 'organizationMembership.updated', 'organizationMembership.deleted')
       and (coalesce(data -> 'organization' ->> 'id', '') !~ '^[A-Za-z0-9_-]{1,255}$'
            or coalesce(data -> 'public_user_data' ->> 'user_id', '') !~ '^[A-Za-z0-9_-]{1,255}$') then
      raise invalid_parameter_value using
        message = kind || ' needs data.organization.id and data.public_user_data.user_id';
    end if;
  end if;
  result := case
    when kind in ('user.created', 'user.updated') then app.clerk_apply_user(data, trusted)
    when kind = 'user.deleted' then app.clerk_delete_user(data ->> 'id')
    when kind in ('session.created', 'session.ended', 'session.removed', 'session.revoked')
      then app.clerk_apply_session(kind, data, trusted)
    when kind in ('organization.created', 'organization.updated', 'organization.deleted',
                  'organizationMembership.created', 'organizationMembership.updated',
                  'organizationMembership.deleted') and not ('organizations' = any (trusted))
      then jsonb_build_object('outcome', 'ignored',
                              'reason', format('%s events are not synced (LOCONOMY_CLERK_ORGANIZATION_TENANTS is off)', kind))
    when kind in ('organization.created', 'organization.updated') then app.clerk_upsert_organization(data)
    when kind = 'organization.deleted' then app.clerk_delete_organization(data ->> 'id')
    when kind in ('organizationMembership.created', 'organizationMembership.updated',
                  'organizationMembership.deleted') then app.clerk_apply_membership(kind, data, trusted)
    else jsonb_build_object('outcome', 'ignored', 'reason', format('%s events are not synced', kind))
  end;
  update public.inbound_webhook_events set processed_at = now(), last_error = null where id = recorded;
  return jsonb_strip_nulls(result);
end $$;
comment on function app.clerk_apply_event(text, jsonb, text[]) is 'Records a verified Clerk webhook event (svix-id) in inbound_webhook_events and applies it in the same transaction; {outcome: applied | ignored | duplicate, reason?, …}. trusted names the public_metadata keys the deployment trusts (role, tenant_id) and, with LOCONOMY_CLERK_ORGANIZATION_TENANTS on, organizations.';
