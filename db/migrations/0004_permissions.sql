-- =============================================================================
-- 0004 permissions: granular permissions, their mapping to application roles,
-- per-user overrides, and the one helper every admin policy calls:
-- app.has_permission(name). Admin powers exist only through these tables.
-- =============================================================================

create table public.permissions (
  id          uuid primary key default gen_random_uuid(),
  name        text not null unique check (name ~ '^[a-z_]+\.[a-z_]+$'),
  resource    text not null,
  action      text not null,
  description text,
  created_at  timestamptz not null default now(),
  check (name = resource || '.' || action)
);
comment on table public.permissions is 'Permission catalogue, named resource.action (e.g. listings.moderate). Seeded; written by service_role only.';

alter table public.permissions enable row level security;
grant select on public.permissions to authenticated;
create policy "Signed-in users can read the permission catalogue" on public.permissions
  for select to authenticated using (true);

create table public.role_permissions (
  role          public.user_role not null,
  permission_id uuid not null references public.permissions (id) on delete cascade,
  granted       boolean not null default true,
  created_at    timestamptz not null default now(),
  primary key (role, permission_id)
);
comment on table public.role_permissions is 'What each application role may do. Global (the same in every tenant); written by service_role only.';

create index role_permissions_permission_id_idx on public.role_permissions (permission_id);
create trigger role_permissions_audit after insert or update or delete on public.role_permissions
  for each row execute function app.audit_row();

alter table public.role_permissions enable row level security;
grant select on public.role_permissions to authenticated;
create policy "Signed-in users can read the role mapping" on public.role_permissions
  for select to authenticated using (true);

create table public.user_permissions (
  id            uuid primary key default gen_random_uuid(),
  user_id       uuid not null references public.users (id) on delete cascade,
  tenant_id     uuid not null references public.tenants (id) on delete cascade,
  permission_id uuid not null references public.permissions (id) on delete cascade,
  granted       boolean not null,
  granted_by    uuid references public.users (id) on delete set null,
  reason        text,
  expires_at    timestamptz,
  created_at    timestamptz not null default now(),
  unique (user_id, permission_id)
);
comment on table public.user_permissions is 'Per-user overrides of the role mapping: granted=false revokes, granted=true adds. Expired rows are ignored.';

create index user_permissions_permission_id_idx on public.user_permissions (permission_id);
create index user_permissions_granted_by_idx on public.user_permissions (granted_by);
create index user_permissions_tenant_id_idx on public.user_permissions (tenant_id);

create trigger user_permissions_inherit_tenant before insert on public.user_permissions
  for each row execute function app.inherit_tenant('users', 'user_id');
create trigger user_permissions_audit after insert or update or delete on public.user_permissions
  for each row execute function app.audit_row();

-- -----------------------------------------------------------------------------
-- The permission check. A user override (not expired) wins over the role
-- mapping; anything not granted is denied. Signed-out callers have none.
-- -----------------------------------------------------------------------------
create function app.has_permission(permission_name text) returns boolean
language sql stable security definer
set search_path = pg_catalog, public
as $$
  with me as (
    select u.id, u.role from public.users u where u.id = app.current_user_id()
  )
  select coalesce(
    (select up.granted
       from public.user_permissions up
       join public.permissions p on p.id = up.permission_id
       join me on me.id = up.user_id
      where p.name = permission_name
        and (up.expires_at is null or up.expires_at > now())),
    (select rp.granted
       from public.role_permissions rp
       join public.permissions p on p.id = rp.permission_id
       join me on me.role = rp.role
      where p.name = permission_name),
    false)
$$;
comment on function app.has_permission(text) is 'True when the caller holds the named permission (user override, else role mapping). Call it as (select app.has_permission(''x'')) in policies.';
revoke execute on function app.has_permission(text) from public;
grant execute on function app.has_permission(text) to anon, authenticated, service_role;

create function public.my_permissions() returns setof text
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select p.name from public.permissions p where app.has_permission(p.name) order by p.name
$$;
comment on function public.my_permissions() is 'The names of every permission the caller holds.';
revoke execute on function public.my_permissions() from public;
grant execute on function public.my_permissions() to authenticated, service_role;

alter table public.user_permissions enable row level security;
grant select on public.user_permissions to authenticated;
create policy "Users can read their own permission overrides" on public.user_permissions
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Permission managers can read overrides in their tenant" on public.user_permissions
  for select to authenticated
  using ((select app.has_permission('permissions.manage')) and tenant_id = (select app.current_tenant_id()));

-- Admin read access to other people's accounts and the audit trail.
create policy "User managers can read accounts in their tenant" on public.users
  for select to authenticated
  using ((select app.has_permission('users.read')) and tenant_id = (select app.current_tenant_id()));
create policy "User managers can read profiles in their tenant" on public.user_profiles
  for select to authenticated
  using ((select app.has_permission('users.read')) and tenant_id = (select app.current_tenant_id()));
create policy "User managers can read sessions in their tenant" on public.user_sessions
  for select to authenticated
  using ((select app.has_permission('users.read')) and tenant_id = (select app.current_tenant_id()));
create policy "Auditors can read the audit trail of their tenant" on public.audit_logs
  for select to authenticated
  using ((select app.has_permission('audit.read')) and tenant_id = (select app.current_tenant_id()));
create policy "Tenant managers can update their tenant" on public.tenants
  for update to authenticated
  using ((select app.has_permission('tenant.manage')) and id = (select app.current_tenant_id()))
  with check (id = (select app.current_tenant_id()));
grant update (name, domain, default_currency, default_time_zone, service_fee_bps, platform_fee_bps, settings)
  on public.tenants to authenticated;

-- -----------------------------------------------------------------------------
-- Admin operations on accounts. Each checks its permission, keeps to the
-- caller's tenant and refuses self-service escalation.
-- -----------------------------------------------------------------------------
create function app.require_permission(permission_name text) returns void
language plpgsql stable
set search_path = pg_catalog
as $$
begin
  if not app.has_permission(permission_name) then
    raise insufficient_privilege using
      message = format('permission denied: %s is required', permission_name),
      hint = 'Ask an administrator to grant the permission to your role or account.';
  end if;
end $$;
revoke execute on function app.require_permission(text) from public;
grant execute on function app.require_permission(text) to authenticated, service_role;

create function app.tenant_user(target uuid) returns public.users
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  found public.users;
begin
  select * into found from public.users
  where id = target and tenant_id = app.current_tenant_id() and deleted_at is null;
  if found.id is null then
    raise no_data_found using message = format('user %s not found in your tenant', target);
  end if;
  return found;
end $$;
revoke execute on function app.tenant_user(uuid) from public;

create function public.admin_set_user_role(target_user_id uuid, new_role public.user_role) returns public.users
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  target public.users;
  role_permission text;
begin
  perform app.require_permission('users.manage_roles');
  if new_role in ('admin', 'super_admin') then
    perform app.require_permission('users.manage_admins');
  end if;
  -- Nobody hands out a power they do not hold themselves, a role's powers included.
  for role_permission in
    select p.name from public.role_permissions rp join public.permissions p on p.id = rp.permission_id
    where rp.role = new_role and rp.granted order by p.name
  loop
    perform app.require_permission(role_permission);
  end loop;
  target := app.tenant_user(target_user_id);
  if target.id = app.current_user_id() then
    raise insufficient_privilege using message = 'you cannot change your own role';
  end if;
  if target.role in ('admin', 'super_admin') then
    perform app.require_permission('users.manage_admins');
  end if;
  update public.users set role = new_role where id = target.id returning * into target;
  update public.user_profiles set is_public = true where user_id = target.id and new_role = 'provider';
  return target;
end $$;
comment on function public.admin_set_user_role(uuid, public.user_role) is 'Changes another user''s role. Needs users.manage_roles, every permission of the new role, and users.manage_admins to grant or take away admin roles.';

create function public.admin_set_user_status(target_user_id uuid, new_status public.user_status, reason text default null)
returns public.users
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  target public.users;
  previous_reason text := current_setting('loconomy.reason', true);
begin
  perform app.require_permission('users.moderate');
  target := app.tenant_user(target_user_id);
  if target.id = app.current_user_id() then
    raise insufficient_privilege using message = 'you cannot change your own status';
  end if;
  if target.role in ('admin', 'super_admin') then
    perform app.require_permission('users.manage_admins');
  end if;
  -- The audit trigger records the reason with the change.
  perform set_config('loconomy.reason', coalesce(reason, ''), true);
  update public.users set status = new_status where id = target.id returning * into target;
  -- Only this change carries the reason, not later ones in the same transaction.
  perform set_config('loconomy.reason', coalesce(previous_reason, ''), true);
  return target;
end $$;
comment on function public.admin_set_user_status(uuid, public.user_status, text) is 'Suspends, bans or re-activates another user. Needs users.moderate.';

create function public.admin_set_verification(
  target_user_id uuid,
  new_status public.verification_status,
  identity boolean default null,
  background_check boolean default null,
  business boolean default null)
returns public.user_profiles
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  target public.users;
  profile public.user_profiles;
begin
  perform app.require_permission('users.verify');
  target := app.tenant_user(target_user_id);
  if target.id = app.current_user_id() then
    raise insufficient_privilege using message = 'you cannot verify yourself';
  end if;
  update public.users set verification_status = new_status where id = target.id;
  update public.user_profiles
     set identity_verified = coalesce(identity, identity_verified),
         background_check_verified = coalesce(background_check, background_check_verified),
         business_verified = coalesce(business, business_verified)
   where user_id = target.id
  returning * into profile;
  return profile;
end $$;
comment on function public.admin_set_verification(uuid, public.verification_status, boolean, boolean, boolean) is 'Records the outcome of identity, background and business checks. Needs users.verify.';

create function public.admin_set_user_permission(
  target_user_id uuid, permission_name text, is_granted boolean, expires timestamptz default null, why text default null)
returns public.user_permissions
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  target public.users;
  perm public.permissions;
  result public.user_permissions;
begin
  perform app.require_permission('permissions.manage');
  -- Nobody hands out a power they do not hold themselves.
  perform app.require_permission(permission_name);
  target := app.tenant_user(target_user_id);
  if target.id = app.current_user_id() then
    raise insufficient_privilege using message = 'you cannot change your own permissions';
  end if;
  if target.role in ('admin', 'super_admin') then
    perform app.require_permission('users.manage_admins');
  end if;
  select * into perm from public.permissions where name = permission_name;
  insert into public.user_permissions (user_id, permission_id, granted, granted_by, expires_at, reason)
  values (target.id, perm.id, is_granted, app.current_user_id(), expires, why)
  on conflict (user_id, permission_id) do update
    set granted = excluded.granted, granted_by = excluded.granted_by,
        expires_at = excluded.expires_at, reason = excluded.reason, created_at = now()
  returning * into result;
  return result;
end $$;
comment on function public.admin_set_user_permission(uuid, text, boolean, timestamptz, text) is 'Grants or revokes one permission for one user. Needs permissions.manage and the permission itself.';

revoke execute on function public.admin_set_user_role(uuid, public.user_role),
  public.admin_set_user_status(uuid, public.user_status, text),
  public.admin_set_verification(uuid, public.verification_status, boolean, boolean, boolean),
  public.admin_set_user_permission(uuid, text, boolean, timestamptz, text) from public;
grant execute on function public.admin_set_user_role(uuid, public.user_role),
  public.admin_set_user_status(uuid, public.user_status, text),
  public.admin_set_verification(uuid, public.verification_status, boolean, boolean, boolean),
  public.admin_set_user_permission(uuid, text, boolean, timestamptz, text) to authenticated, service_role;

grant all on public.permissions, public.role_permissions, public.user_permissions to service_role;
