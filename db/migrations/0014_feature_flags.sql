-- =============================================================================
-- 0014 feature flags: flags (shared or per tenant) with a default, variants,
-- a rollout percentage and targeting rules; per-user overrides; and one
-- evaluation function so every client gets the same answer.
-- =============================================================================

create table public.feature_flags (
  id                  uuid primary key default gen_random_uuid(),
  tenant_id           uuid references public.tenants (id) on delete cascade,
  key                 text not null check (key ~ '^[a-z][a-z0-9_.-]{1,99}$'),
  description         text,
  flag_type           text not null default 'boolean' check (flag_type in ('boolean', 'string', 'number', 'json')),
  default_value       jsonb not null default 'false',
  enabled_value       jsonb not null default 'true',
  variants            jsonb not null default '[]' check (jsonb_typeof(variants) = 'array'),
  targeting_rules     jsonb not null default '{}' check (jsonb_typeof(targeting_rules) = 'object'),
  is_active           boolean not null default false,
  rollout_percentage  integer not null default 0 check (rollout_percentage between 0 and 100),
  metadata            jsonb not null default '{}',
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  check (flag_type <> 'boolean' or (jsonb_typeof(default_value) = 'boolean' and jsonb_typeof(enabled_value) = 'boolean'))
);
comment on table public.feature_flags is 'Feature flags. tenant_id NULL: applies to every tenant unless a tenant defines the same key.';
comment on column public.feature_flags.rollout_percentage is 'Share of users (0–100, by a stable hash of user and key) who get enabled_value while active.';
comment on column public.feature_flags.targeting_rules is 'Optional {"roles": [...]} restricting the rollout to those application roles.';

create unique index feature_flags_tenant_key on public.feature_flags
  (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), key);
create index feature_flags_tenant_id_idx on public.feature_flags (tenant_id);

create trigger feature_flags_set_updated_at before update on public.feature_flags
  for each row execute function app.set_updated_at();
create trigger feature_flags_audit after insert or update or delete on public.feature_flags
  for each row execute function app.audit_row();

create table public.user_feature_flags (
  id          uuid primary key default gen_random_uuid(),
  user_id     uuid not null references public.users (id) on delete cascade,
  flag_id     uuid not null references public.feature_flags (id) on delete cascade,
  tenant_id   uuid not null references public.tenants (id) on delete cascade,
  value       jsonb not null,
  set_by      uuid references public.users (id) on delete set null,
  reason      text,
  expires_at  timestamptz,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  unique (user_id, flag_id)
);
comment on table public.user_feature_flags is 'A flag''s value forced for one user (beta testers, support). Expired overrides are ignored.';

create index user_feature_flags_flag_id_idx on public.user_feature_flags (flag_id);
create index user_feature_flags_set_by_idx on public.user_feature_flags (set_by);
create index user_feature_flags_tenant_id_idx on public.user_feature_flags (tenant_id);

create trigger user_feature_flags_inherit_tenant before insert on public.user_feature_flags
  for each row execute function app.inherit_tenant('users', 'user_id');
create trigger user_feature_flags_set_updated_at before update on public.user_feature_flags
  for each row execute function app.set_updated_at();

alter table public.feature_flags enable row level security;
grant select on public.feature_flags to anon, authenticated;
grant insert (tenant_id, key, description, flag_type, default_value, enabled_value, variants, targeting_rules,
              is_active, rollout_percentage, metadata),
      update (description, default_value, enabled_value, variants, targeting_rules, is_active, rollout_percentage, metadata),
      delete
  on public.feature_flags to authenticated;
create policy "Anyone can read the flags of their tenant and shared ones" on public.feature_flags
  for select to anon, authenticated
  using (tenant_id is null or tenant_id = (select app.current_tenant_id()));
create policy "Flag managers can create flags in their tenant" on public.feature_flags
  for insert to authenticated
  with check ((select app.has_permission('flags.manage')) and tenant_id = (select app.current_tenant_id()));
create policy "Flag managers can update flags of their tenant" on public.feature_flags
  for update to authenticated
  using ((select app.has_permission('flags.manage')) and tenant_id = (select app.current_tenant_id()))
  with check (tenant_id = (select app.current_tenant_id()));
create policy "Flag managers can delete flags of their tenant" on public.feature_flags
  for delete to authenticated
  using ((select app.has_permission('flags.manage')) and tenant_id = (select app.current_tenant_id()));

alter table public.user_feature_flags enable row level security;
grant select on public.user_feature_flags to authenticated;
grant insert (user_id, flag_id, value, reason, expires_at), update (value, reason, expires_at), delete
  on public.user_feature_flags to authenticated;
create policy "Users can read their own flag overrides" on public.user_feature_flags
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Flag managers can read overrides of their tenant" on public.user_feature_flags
  for select to authenticated
  using ((select app.has_permission('flags.manage')) and tenant_id = (select app.current_tenant_id()));
create policy "Flag managers can set overrides in their tenant" on public.user_feature_flags
  for insert to authenticated
  with check ((select app.has_permission('flags.manage'))
              and user_id in (select u.id from public.users u where u.tenant_id = (select app.current_tenant_id())));
create policy "Flag managers can change overrides of their tenant" on public.user_feature_flags
  for update to authenticated
  using ((select app.has_permission('flags.manage')) and tenant_id = (select app.current_tenant_id()))
  with check (tenant_id = (select app.current_tenant_id()));
create policy "Flag managers can remove overrides of their tenant" on public.user_feature_flags
  for delete to authenticated
  using ((select app.has_permission('flags.manage')) and tenant_id = (select app.current_tenant_id()));

create function app.user_feature_flags_stamp() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
begin
  if not app.is_trusted() then
    new.set_by := app.current_user_id();
  end if;
  return new;
end $$;
revoke execute on function app.user_feature_flags_stamp() from public;
create trigger user_feature_flags_stamp before insert or update on public.user_feature_flags
  for each row execute function app.user_feature_flags_stamp();

-- Evaluation: user override > inactive flag default > role targeting >
-- percentage bucket (stable per user and key) > default.
create function public.evaluate_feature_flag(flag_key text) returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.current_user_id();
  f public.feature_flags;
  forced jsonb;
  roles jsonb;
begin
  select * into f from public.feature_flags x
  where x.key = flag_key and (x.tenant_id is null or x.tenant_id = app.current_tenant_id())
  order by x.tenant_id nulls last
  limit 1;
  if f.id is null then
    return null;
  end if;
  if me is not null then
    select o.value into forced from public.user_feature_flags o
    where o.flag_id = f.id and o.user_id = me and (o.expires_at is null or o.expires_at > now());
    if forced is not null then
      return forced;
    end if;
  end if;
  if not f.is_active then
    return f.default_value;
  end if;
  roles := f.targeting_rules -> 'roles';
  if roles is not null and not roles ? app.current_user_role()::text then
    return f.default_value;
  end if;
  if f.rollout_percentage = 100
     or (me is not null and abs(hashtext(me::text || ':' || f.key)) % 100 < f.rollout_percentage) then
    return f.enabled_value;
  end if;
  return f.default_value;
end $$;
comment on function public.evaluate_feature_flag(text) is 'The value of a flag for the caller (override, targeting, rollout bucket, default); NULL for an unknown key.';
revoke execute on function public.evaluate_feature_flag(text) from public;
grant execute on function public.evaluate_feature_flag(text) to anon, authenticated, service_role;

grant all on public.feature_flags, public.user_feature_flags to service_role;
