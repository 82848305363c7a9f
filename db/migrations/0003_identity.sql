-- =============================================================================
-- 0003 identity: tenants (marketplaces), users keyed by their Clerk id, public
-- profiles, private addresses and sessions, and the helpers that turn the
-- request's JWT claims into "the current user" and "the current tenant".
-- =============================================================================

create type public.user_role as enum ('guest', 'customer', 'provider', 'admin', 'super_admin');
create type public.user_status as enum ('active', 'inactive', 'suspended', 'pending_verification', 'banned');
create type public.verification_status as enum ('pending', 'in_review', 'verified', 'rejected');
create type public.subscription_tier as enum ('free', 'basic', 'professional', 'enterprise');

-- -----------------------------------------------------------------------------
-- tenants
-- -----------------------------------------------------------------------------
create table public.tenants (
  id                 uuid primary key default gen_random_uuid(),
  name               text not null check (length(name) between 1 and 200),
  slug               public.slug not null unique,
  domain             text check (domain ~ '^[a-z0-9.-]+$'),
  region_id          uuid references public.regions (id) on delete restrict,
  subscription_tier  public.subscription_tier not null default 'free',
  default_currency   public.currency_code not null default 'USD',
  default_time_zone  public.time_zone not null default 'UTC',
  service_fee_bps    integer not null default 500 check (service_fee_bps between 0 and 10000),
  platform_fee_bps   integer not null default 1000 check (platform_fee_bps between 0 and 10000),
  is_default         boolean not null default false,
  is_active          boolean not null default true,
  settings           jsonb not null default '{}',
  metadata           jsonb not null default '{}',
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now()
);
comment on table public.tenants is 'A marketplace. Every tenant-owned row carries tenant_id and is invisible to other tenants (service_role aside).';
comment on column public.tenants.is_default is 'The tenant anonymous visitors browse when their key names no tenant (at most one).';
comment on column public.tenants.service_fee_bps is 'Fee charged to the customer on top of the service price, in basis points.';
comment on column public.tenants.platform_fee_bps is 'Commission kept from the provider''s service price, in basis points.';

create unique index tenants_one_default on public.tenants (is_default) where is_default;
create unique index tenants_domain_key on public.tenants (lower(domain)) where domain is not null;
create index tenants_region_id_idx on public.tenants (region_id);

create trigger tenants_set_updated_at before update on public.tenants
  for each row execute function app.set_updated_at();
create trigger tenants_audit after insert or update or delete on public.tenants
  for each row execute function app.audit_row();

-- -----------------------------------------------------------------------------
-- users
-- -----------------------------------------------------------------------------
create table public.users (
  id                          uuid primary key default gen_random_uuid(),
  tenant_id                   uuid not null references public.tenants (id) on delete cascade,
  clerk_id                    text check (length(clerk_id) between 1 and 255),
  email                       text not null check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  email_verified_at           timestamptz,
  phone                       text check (phone ~ '^\+?[0-9 ()-]{6,20}$'),
  phone_verified_at           timestamptz,
  role                        public.user_role not null default 'customer',
  status                      public.user_status not null default 'pending_verification',
  verification_status         public.verification_status not null default 'pending',
  first_name                  text check (length(first_name) <= 100),
  last_name                   text check (length(last_name) <= 100),
  time_zone                   public.time_zone not null default 'UTC',
  locale                      text not null default 'en' check (locale ~ '^[a-z]{2}(-[A-Z]{2})?$'),
  preferences                 jsonb not null default '{}',
  notification_settings       jsonb not null default '{}',
  privacy_settings            jsonb not null default '{}',
  stripe_customer_id          text,
  stripe_connect_account_id   text,
  last_active_at              timestamptz,
  login_count                 integer not null default 0 check (login_count >= 0),
  created_at                  timestamptz not null default now(),
  updated_at                  timestamptz not null default now(),
  deleted_at                  timestamptz
);
comment on table public.users is 'Accounts. Identity comes from Clerk (clerk_id = the JWT sub); public details live in user_profiles.';
comment on column public.users.clerk_id is 'Clerk user id (JWT sub claim). Unique among accounts that are not deleted.';
comment on column public.users.role is 'Application role; changed only through admin_set_user_role().';
comment on column public.users.status is 'Suspended and banned users are treated as anonymous by every policy.';
comment on column public.users.stripe_customer_id is 'Stripe Customer (cus_…) paying for bookings and subscriptions.';
comment on column public.users.stripe_connect_account_id is 'Stripe Connect account (acct_…) receiving a provider''s payouts.';
comment on column public.users.deleted_at is 'Soft delete: the account is anonymised but kept for bookings and accounting.';

create unique index users_clerk_id_key on public.users (clerk_id) where deleted_at is null;
create unique index users_tenant_email_key on public.users (tenant_id, lower(email)) where deleted_at is null;
create unique index users_stripe_customer_id_key on public.users (stripe_customer_id);
create unique index users_stripe_connect_account_id_key on public.users (stripe_connect_account_id);
create index users_tenant_role_idx on public.users (tenant_id, role) where deleted_at is null;
create index users_tenant_created_idx on public.users (tenant_id, created_at desc);
create index users_status_idx on public.users (status) where status <> 'active';

create trigger users_set_updated_at before update on public.users
  for each row execute function app.set_updated_at();
create trigger users_audit after insert or update or delete on public.users
  for each row execute function app.audit_row();

-- -----------------------------------------------------------------------------
-- Identity helpers. SECURITY DEFINER so they can read users past its own RLS;
-- policies call them as `(select app.current_user_id())` so that each runs once
-- per statement (an InitPlan), not once per row.
-- -----------------------------------------------------------------------------
create function app.current_user_id() returns uuid
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select u.id from public.users u
  where u.clerk_id = app.current_subject()
    and u.deleted_at is null
    and u.status not in ('suspended', 'banned')
$$;
comment on function app.current_user_id() is 'users.id of the caller, or NULL (anonymous, unknown, suspended, banned or deleted).';

create function app.current_user_role() returns public.user_role
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select coalesce((select u.role from public.users u where u.id = app.current_user_id()), 'guest')
$$;
comment on function app.current_user_role() is 'The caller''s application role; guest when not signed in.';

create function app.current_tenant_id() returns uuid
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  result uuid;
  claimed text := app.jwt_claims() ->> 'tenant_id';
begin
  -- A signed-in user belongs to exactly one tenant, whatever the token claims.
  select u.tenant_id into result from public.users u where u.id = app.current_user_id();
  if result is not null then
    return result;
  end if;
  if claimed ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' then
    select t.id into result from public.tenants t where t.id = claimed::uuid and t.is_active;
    return result;
  end if;
  select t.id into result from public.tenants t where t.is_default and t.is_active;
  return result;
end $$;
comment on function app.current_tenant_id() is 'The tenant of the request: the signed-in user''s, else the token''s tenant_id claim, else the default tenant.';

revoke execute on function app.current_user_id(), app.current_user_role(), app.current_tenant_id() from public;
grant execute on function app.current_user_id(), app.current_user_role(), app.current_tenant_id()
  to anon, authenticated, service_role;

-- Clients may set only what a person may say about themselves.
create function app.guard_users() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
begin
  if app.is_trusted() then
    return new;
  end if;
  if tg_op = 'INSERT' then
    if new.role not in ('customer', 'provider') then
      raise insufficient_privilege using message = 'a new account can only be a customer or a provider';
    end if;
    new.status := 'pending_verification';
    new.verification_status := 'pending';
    new.email_verified_at := null;
    new.phone_verified_at := null;
    new.login_count := 0;
    new.deleted_at := null;
  end if;
  return new;
end $$;
revoke execute on function app.guard_users() from public;

create trigger users_guard before insert on public.users
  for each row execute function app.guard_users();

alter table public.tenants enable row level security;
grant select (id, name, slug, domain, region_id, subscription_tier, default_currency, default_time_zone,
              service_fee_bps, platform_fee_bps, is_default, is_active, created_at)
  on public.tenants to anon, authenticated;
create policy "Callers can read their own tenant" on public.tenants
  for select to anon, authenticated
  using (id = (select app.current_tenant_id()));

alter table public.users enable row level security;
grant select (id, tenant_id, clerk_id, email, email_verified_at, phone, phone_verified_at, role, status,
              verification_status, first_name, last_name, time_zone, locale, preferences,
              notification_settings, privacy_settings, last_active_at, login_count, created_at, updated_at, deleted_at)
  on public.users to authenticated;
grant insert (tenant_id, clerk_id, email, phone, role, first_name, last_name, time_zone, locale,
              preferences, notification_settings, privacy_settings)
  on public.users to authenticated;
grant update (first_name, last_name, time_zone, locale, preferences, notification_settings, privacy_settings)
  on public.users to authenticated;

-- Tests the row itself, as app.current_user_id() does, so that a sign-up can return
-- its new row (the function's snapshot does not see a row inserted by the same statement).
create policy "Users can read their own account" on public.users
  for select to authenticated
  using (clerk_id = (select app.current_subject()) and deleted_at is null and status not in ('suspended', 'banned'));
create policy "Signed-in people can create their own account" on public.users
  for insert to authenticated
  with check (clerk_id = (select app.current_subject())
              and tenant_id = (select app.current_tenant_id()));
create policy "Users can update their own account" on public.users
  for update to authenticated
  using (id = (select app.current_user_id()))
  with check (id = (select app.current_user_id()));

-- -----------------------------------------------------------------------------
-- user_profiles: the public face of a user (providers' profiles are listed).
-- Private data lives in user_addresses; tax_id is write-only for clients.
-- -----------------------------------------------------------------------------
create table public.user_profiles (
  user_id                    uuid primary key references public.users (id) on delete cascade,
  tenant_id                  uuid not null references public.tenants (id) on delete cascade,
  display_name               text check (length(display_name) <= 200),
  avatar_url                 text,
  headline                   text check (length(headline) <= 200),
  bio                        text check (length(bio) <= 10000),
  skills                     text[] not null default '{}',
  experience_years           integer check (experience_years between 0 and 100),
  education                  text,
  certifications             text[] not null default '{}',
  languages                  text[] not null default '{en}',
  city_id                    uuid references public.cities (id) on delete set null,
  location                   extensions.geography(Point, 4326),
  service_radius_m           integer check (service_radius_m > 0),
  business_name              text check (length(business_name) <= 255),
  business_type              text,
  tax_id                     text,
  license_number             text,
  insurance_info             jsonb,
  website_url                text check (website_url ~ '^https?://'),
  social_links               jsonb not null default '{}',
  is_public                  boolean not null default false,
  average_rating             numeric(3, 2) check (average_rating between 1 and 5),
  total_reviews              integer not null default 0 check (total_reviews >= 0),
  total_jobs_completed       integer not null default 0 check (total_jobs_completed >= 0),
  identity_verified          boolean not null default false,
  background_check_verified  boolean not null default false,
  business_verified          boolean not null default false,
  metadata                   jsonb not null default '{}',
  created_at                 timestamptz not null default now(),
  updated_at                 timestamptz not null default now()
);
comment on table public.user_profiles is 'One per user, created with the user. Public when is_public (providers by default): read by anyone in the tenant.';
comment on column public.user_profiles.location is 'Where a provider works from (public when the profile is). Customers keep addresses in user_addresses.';
comment on column public.user_profiles.tax_id is 'Write-only for clients: no API role can read it back.';
comment on column public.user_profiles.average_rating is 'Maintained by triggers from public reviews of this user; NULL until the first review.';

create index user_profiles_tenant_public_idx on public.user_profiles (tenant_id, average_rating desc nulls last) where is_public;
-- Foreign-key actions (cascades, checks when a parent row goes) cannot use a partial index.
create index user_profiles_tenant_id_idx on public.user_profiles (tenant_id);
create index user_profiles_city_id_idx on public.user_profiles (city_id);
create index user_profiles_location_gist on public.user_profiles using gist (location);
create index user_profiles_skills_gin on public.user_profiles using gin (skills);

create trigger user_profiles_set_updated_at before update on public.user_profiles
  for each row execute function app.set_updated_at();

create function app.create_user_profile() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  insert into public.user_profiles (user_id, tenant_id, display_name, is_public)
  values (new.id, new.tenant_id,
          nullif(trim(concat_ws(' ', new.first_name, left(new.last_name, 1) || case when new.last_name is not null then '.' end)), ''),
          new.role in ('provider', 'admin', 'super_admin'))
  on conflict (user_id) do nothing;
  return null;
end $$;
revoke execute on function app.create_user_profile() from public;
create trigger users_create_profile after insert on public.users
  for each row execute function app.create_user_profile();

alter table public.user_profiles enable row level security;
grant select (user_id, tenant_id, display_name, avatar_url, headline, bio, skills, experience_years, education,
              certifications, languages, city_id, location, service_radius_m, business_name, business_type,
              license_number, insurance_info, website_url, social_links, is_public, average_rating, total_reviews,
              total_jobs_completed, identity_verified, background_check_verified, business_verified,
              created_at, updated_at)
  on public.user_profiles to anon, authenticated;
grant update (display_name, avatar_url, headline, bio, skills, experience_years, education, certifications,
              languages, city_id, location, service_radius_m, business_name, business_type, tax_id,
              license_number, insurance_info, website_url, social_links, is_public)
  on public.user_profiles to authenticated;

create policy "Anyone can read public profiles in their tenant" on public.user_profiles
  for select to anon, authenticated
  using (is_public and tenant_id = (select app.current_tenant_id()));
create policy "Users can read their own profile" on public.user_profiles
  for select to authenticated
  using (user_id = (select app.current_user_id()));
create policy "Users can update their own profile" on public.user_profiles
  for update to authenticated
  using (user_id = (select app.current_user_id()))
  with check (user_id = (select app.current_user_id()));

-- -----------------------------------------------------------------------------
-- user_addresses: private addresses (home, work) used for on-site bookings.
-- -----------------------------------------------------------------------------
create table public.user_addresses (
  id             uuid primary key default gen_random_uuid(),
  user_id        uuid not null references public.users (id) on delete cascade,
  tenant_id      uuid not null references public.tenants (id) on delete cascade,
  label          text not null default 'home' check (length(label) between 1 and 50),
  line1          text not null check (length(line1) between 1 and 255),
  line2          text check (length(line2) <= 255),
  city           text not null check (length(city) between 1 and 100),
  state_province text,
  postal_code    text check (length(postal_code) <= 20),
  country_code   text not null check (country_code ~ '^[A-Z]{2}$'),
  city_id        uuid references public.cities (id) on delete set null,
  location       extensions.geography(Point, 4326),
  is_default     boolean not null default false,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now()
);
comment on table public.user_addresses is 'A user''s private addresses; only the owner (and booking counterparties, through the booking''s copy) see them.';

create unique index user_addresses_one_default on public.user_addresses (user_id) where is_default;
create index user_addresses_user_id_idx on public.user_addresses (user_id);
create index user_addresses_city_id_idx on public.user_addresses (city_id);
create index user_addresses_tenant_id_idx on public.user_addresses (tenant_id);

create trigger user_addresses_inherit_tenant before insert on public.user_addresses
  for each row execute function app.inherit_tenant('users', 'user_id');
create trigger user_addresses_set_updated_at before update on public.user_addresses
  for each row execute function app.set_updated_at();

alter table public.user_addresses enable row level security;
grant select, delete on public.user_addresses to authenticated;
grant insert (user_id, label, line1, line2, city, state_province, postal_code, country_code, city_id, location, is_default),
      update (label, line1, line2, city, state_province, postal_code, country_code, city_id, location, is_default)
  on public.user_addresses to authenticated;
create policy "Users can read their own addresses" on public.user_addresses
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Users can add their own addresses" on public.user_addresses
  for insert to authenticated with check (user_id = (select app.current_user_id()));
create policy "Users can update their own addresses" on public.user_addresses
  for update to authenticated
  using (user_id = (select app.current_user_id()))
  with check (user_id = (select app.current_user_id()));
create policy "Users can delete their own addresses" on public.user_addresses
  for delete to authenticated using (user_id = (select app.current_user_id()));

-- -----------------------------------------------------------------------------
-- user_sessions: sign-in sessions for analytics and "sign out everywhere".
-- Tokens are never stored, only their SHA-256.
-- -----------------------------------------------------------------------------
create table public.user_sessions (
  id                  uuid primary key default gen_random_uuid(),
  user_id             uuid not null references public.users (id) on delete cascade,
  tenant_id           uuid not null references public.tenants (id) on delete cascade,
  clerk_session_id    text unique,
  session_token_hash  text unique check (session_token_hash ~ '^[0-9a-f]{64}$'),
  ip_address          inet,
  user_agent          text,
  device_info         jsonb not null default '{}',
  geoip               jsonb not null default '{}',
  started_at          timestamptz not null default now(),
  last_seen_at        timestamptz,
  expires_at          timestamptz,
  ended_at            timestamptz,
  check (expires_at > started_at),
  check (ended_at >= started_at)
);
comment on table public.user_sessions is 'Sign-in sessions (from Clerk session events). session_token_hash is never readable by API roles.';
comment on column public.user_sessions.geoip is 'Approximate place of the sign-in from an IP lookup (country, city); not a precise location.';

create index user_sessions_user_started_idx on public.user_sessions (user_id, started_at desc);
create index user_sessions_open_idx on public.user_sessions (expires_at) where ended_at is null;
create index user_sessions_tenant_id_idx on public.user_sessions (tenant_id);

create trigger user_sessions_inherit_tenant before insert on public.user_sessions
  for each row execute function app.inherit_tenant('users', 'user_id');

alter table public.user_sessions enable row level security;
grant select (id, user_id, tenant_id, clerk_session_id, ip_address, user_agent, device_info, geoip,
              started_at, last_seen_at, expires_at, ended_at)
  on public.user_sessions to authenticated;
grant update (ended_at) on public.user_sessions to authenticated;
create policy "Users can read their own sessions" on public.user_sessions
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Users can end their own sessions" on public.user_sessions
  for update to authenticated
  using (user_id = (select app.current_user_id()))
  with check (user_id = (select app.current_user_id()));

-- -----------------------------------------------------------------------------
-- Self-service: a customer may become a provider; nothing else about the role
-- is self-service (see admin_set_user_role in 0004).
-- -----------------------------------------------------------------------------
create function public.become_provider() returns public.users
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me public.users;
begin
  update public.users set role = 'provider'
  where id = app.current_user_id() and role = 'customer'
  returning * into me;
  if me.id is null then
    raise insufficient_privilege using message = 'only a signed-in customer can become a provider';
  end if;
  update public.user_profiles set is_public = true where user_id = me.id;
  return me;
end $$;
comment on function public.become_provider() is 'Turns the calling customer into a provider and makes their profile public.';
revoke execute on function public.become_provider() from public;
grant execute on function public.become_provider() to authenticated, service_role;

grant all on public.tenants, public.users, public.user_profiles, public.user_addresses, public.user_sessions to service_role;
