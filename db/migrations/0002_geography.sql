-- =============================================================================
-- 0002 geography: regional markets and cities. Global reference data shared by
-- every tenant: anyone may read the active rows, only service_role writes.
-- Every location in Loconomy is PostGIS geography (SRID 4326, metres).
-- =============================================================================

create table public.regions (
  id                  uuid primary key default gen_random_uuid(),
  code                text not null unique check (code ~ '^[A-Z]{2,8}$'),
  name                text not null check (length(name) between 1 and 200),
  country_codes       text[] not null check (cardinality(country_codes) > 0 and array_to_string(country_codes, ',') ~ '^[A-Z]{2}(,[A-Z]{2})*$'),
  time_zone           public.time_zone not null,
  currency            public.currency_code not null,
  locale              text not null default 'en-US',
  languages           text[] not null default '{en}',
  center              extensions.geography(Point, 4326),
  boundary            extensions.geography(MultiPolygon, 4326),
  commission_rate_bps integer not null default 1000 check (commission_rate_bps between 0 and 10000),
  tax_rate_bps        integer not null default 0 check (tax_rate_bps between 0 and 10000),
  compliance_settings jsonb not null default '{}',
  is_active           boolean not null default true,
  metadata            jsonb not null default '{}',
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now()
);
comment on table public.regions is 'Regional markets (a country or group of countries) with their currency, tax and compliance settings.';
comment on column public.regions.code is 'Short market code such as US, EU or UK. Text, not an enum, so a new market is a row, not a migration.';
comment on column public.regions.commission_rate_bps is 'Default platform commission in basis points (1000 = 10 %).';
comment on column public.regions.tax_rate_bps is 'Default sales tax in basis points applied to bookings in this market.';
comment on column public.regions.boundary is 'Market area; a point is in the region when ST_Covers(boundary, point).';

create index regions_boundary_gist on public.regions using gist (boundary);

create trigger regions_set_updated_at before update on public.regions
  for each row execute function app.set_updated_at();

alter table public.regions enable row level security;
grant select on public.regions to anon, authenticated;
create policy "Anyone can read active regions" on public.regions
  for select to anon, authenticated using (is_active);

create table public.cities (
  id                uuid primary key default gen_random_uuid(),
  region_id         uuid not null references public.regions (id) on delete restrict,
  name              text not null check (length(name) between 1 and 200),
  slug              public.slug not null,
  state_province    text,
  country_code      text not null check (country_code ~ '^[A-Z]{2}$'),
  time_zone         public.time_zone not null,
  location          extensions.geography(Point, 4326) not null,
  boundary          extensions.geography(MultiPolygon, 4326),
  population        integer check (population >= 0),
  service_radius_m  integer not null default 50000 check (service_radius_m > 0),
  is_active         boolean not null default true,
  metadata          jsonb not null default '{}',
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  unique (region_id, slug)
);
comment on table public.cities is 'Cities served by a market, with their centre point and the radius within which listings count as local.';
comment on column public.cities.region_id is 'The market; a region with cities cannot be deleted (on delete restrict).';

create index cities_location_gist on public.cities using gist (location);
create index cities_boundary_gist on public.cities using gist (boundary);
create index cities_slug_idx on public.cities (slug);
create index cities_name_trgm on public.cities using gin (name extensions.gin_trgm_ops);

create trigger cities_set_updated_at before update on public.cities
  for each row execute function app.set_updated_at();

alter table public.cities enable row level security;
grant select on public.cities to anon, authenticated;
create policy "Anyone can read active cities" on public.cities
  for select to anon, authenticated using (is_active);

-- -----------------------------------------------------------------------------
-- Geo helpers. Plain SQL so the planner inlines them and uses the GIST indexes.
-- -----------------------------------------------------------------------------
create function public.geo_point(lon double precision, lat double precision)
returns extensions.geography
language sql immutable strict parallel safe
set search_path = pg_catalog, extensions
as $$
  select st_setsrid(st_makepoint(lon, lat), 4326)::geography
$$;
comment on function public.geo_point(double precision, double precision) is 'A WGS84 geography point from longitude and latitude.';

create function public.region_at(lon double precision, lat double precision)
returns setof public.regions
language sql stable strict
set search_path = pg_catalog, public, extensions
as $$
  select r.* from public.regions r
  where r.is_active and st_covers(r.boundary, public.geo_point(lon, lat))
  limit 1
$$;
comment on function public.region_at(double precision, double precision) is 'The active market whose boundary covers a point (polygon containment on the GIST index).';

create function public.nearest_cities(lon double precision, lat double precision, max_results integer default 5)
returns setof public.cities
language sql stable strict
set search_path = pg_catalog, public, extensions
as $$
  select c.* from public.cities c
  where c.is_active
  order by c.location <-> public.geo_point(lon, lat)
  limit least(greatest(max_results, 1), 100)
$$;
comment on function public.nearest_cities(double precision, double precision, integer) is 'The closest active cities to a point, nearest first (KNN on the GIST index).';

grant execute on function public.geo_point(double precision, double precision),
  public.region_at(double precision, double precision),
  public.nearest_cities(double precision, double precision, integer)
  to anon, authenticated, service_role;

grant all on public.regions, public.cities to service_role;
