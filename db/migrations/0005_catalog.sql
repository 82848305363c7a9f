-- =============================================================================
-- 0005 catalog: the category tree, tags, providers' listings with full-text
-- and geo search, and the service-area polygons listings cover.
-- Categories, tags: tenant_id NULL means shared by every tenant (seeded).
-- =============================================================================

create type public.listing_status as enum ('draft', 'active', 'paused', 'inactive', 'suspended');
create type public.pricing_type as enum ('hourly', 'fixed', 'custom');
create type public.location_type as enum ('on_site', 'remote', 'both');

-- -----------------------------------------------------------------------------
-- categories
-- -----------------------------------------------------------------------------
create table public.categories (
  id             uuid primary key default gen_random_uuid(),
  tenant_id      uuid references public.tenants (id) on delete cascade,
  parent_id      uuid references public.categories (id) on delete restrict,
  name           text not null check (length(name) between 1 and 120),
  slug           public.slug not null,
  description    text,
  icon_url       text,
  image_url      text,
  color_code     text check (color_code ~ '^#[0-9A-Fa-f]{6}$'),
  display_order  integer not null default 0,
  depth          integer not null default 0,
  path           text not null default '',
  is_active      boolean not null default true,
  metadata       jsonb not null default '{}',
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now()
);
comment on table public.categories is 'Hierarchical service categories. A category with children or listings cannot be deleted (on delete restrict).';
comment on column public.categories.path is 'Slash-separated slugs from the root, maintained by trigger (e.g. home/plumbing).';

create unique index categories_tenant_slug_key on public.categories
  (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), slug);
create index categories_parent_order_idx on public.categories (parent_id, display_order);
create index categories_tenant_id_idx on public.categories (tenant_id);

-- Keeps depth and path right and rejects cycles in the tree.
create function app.categories_maintain_tree() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  parent public.categories;
begin
  if new.parent_id is null then
    new.depth := 0;
    new.path := new.slug;
  else
    select * into parent from public.categories where id = new.parent_id;
    if parent.id is null then
      raise foreign_key_violation using message = format('parent category %s does not exist', new.parent_id);
    end if;
    if parent.id = new.id or parent.path = new.path or parent.path like new.path || '/%' and tg_op = 'UPDATE' then
      raise check_violation using message = 'a category cannot be its own ancestor';
    end if;
    if parent.tenant_id is not null and parent.tenant_id is distinct from new.tenant_id then
      raise check_violation using message = 'a category''s parent must be shared or belong to the same tenant';
    end if;
    new.depth := parent.depth + 1;
    new.path := parent.path || '/' || new.slug;
  end if;
  return new;
end $$;
revoke execute on function app.categories_maintain_tree() from public;

-- Rewrites the children's paths after a category's path changed; their own
-- triggers recompute depth and path and carry on down the subtree. AFTER, so
-- the children read the parent's new row; SECURITY DEFINER, because path is not
-- client-writable and the caller was already allowed to change the parent.
create function app.categories_rewrite_descendants() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  update public.categories set path = path where parent_id = new.id;
  return null;
end $$;
revoke execute on function app.categories_rewrite_descendants() from public;

create trigger categories_maintain_tree before insert or update of parent_id, slug, path on public.categories
  for each row execute function app.categories_maintain_tree();
create trigger categories_rewrite_descendants after update of parent_id, slug, path on public.categories
  for each row when (new.path is distinct from old.path) execute function app.categories_rewrite_descendants();
create trigger categories_set_updated_at before update on public.categories
  for each row execute function app.set_updated_at();

alter table public.categories enable row level security;
grant select on public.categories to anon, authenticated;
grant insert (tenant_id, parent_id, name, slug, description, icon_url, image_url, color_code, display_order, is_active, metadata),
      update (parent_id, name, slug, description, icon_url, image_url, color_code, display_order, is_active, metadata),
      delete
  on public.categories to authenticated;
create policy "Anyone can read active categories of their tenant or shared ones" on public.categories
  for select to anon, authenticated
  using (is_active and (tenant_id is null or tenant_id = (select app.current_tenant_id())));
create policy "Catalog managers can read every category of their tenant" on public.categories
  for select to authenticated
  using ((select app.has_permission('catalog.manage')) and tenant_id = (select app.current_tenant_id()));
create policy "Catalog managers can add categories to their tenant" on public.categories
  for insert to authenticated
  with check ((select app.has_permission('catalog.manage')) and tenant_id = (select app.current_tenant_id()));
create policy "Catalog managers can update categories of their tenant" on public.categories
  for update to authenticated
  using ((select app.has_permission('catalog.manage')) and tenant_id = (select app.current_tenant_id()))
  with check (tenant_id = (select app.current_tenant_id()));
create policy "Catalog managers can delete categories of their tenant" on public.categories
  for delete to authenticated
  using ((select app.has_permission('catalog.manage')) and tenant_id = (select app.current_tenant_id()));

-- -----------------------------------------------------------------------------
-- tags
-- -----------------------------------------------------------------------------
create table public.tags (
  id           uuid primary key default gen_random_uuid(),
  tenant_id    uuid references public.tenants (id) on delete cascade,
  name         text not null check (length(name) between 1 and 100),
  slug         public.slug not null,
  description  text,
  usage_count  integer not null default 0 check (usage_count >= 0),
  created_at   timestamptz not null default now()
);
comment on table public.tags is 'Discovery tags attached to listings. usage_count is maintained by trigger.';

create unique index tags_tenant_slug_key on public.tags
  (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), slug);
create index tags_tenant_usage_idx on public.tags (tenant_id, usage_count desc);
create index tags_name_trgm on public.tags using gin (name extensions.gin_trgm_ops);

alter table public.tags enable row level security;
grant select on public.tags to anon, authenticated;
grant insert (tenant_id, name, slug, description), update (name, slug, description), delete on public.tags to authenticated;
create policy "Anyone can read tags of their tenant or shared ones" on public.tags
  for select to anon, authenticated
  using (tenant_id is null or tenant_id = (select app.current_tenant_id()));
create policy "Catalog managers can add tags to their tenant" on public.tags
  for insert to authenticated
  with check ((select app.has_permission('catalog.manage')) and tenant_id = (select app.current_tenant_id()));
create policy "Catalog managers can update tags of their tenant" on public.tags
  for update to authenticated
  using ((select app.has_permission('catalog.manage')) and tenant_id = (select app.current_tenant_id()))
  with check (tenant_id = (select app.current_tenant_id()));
create policy "Catalog managers can delete tags of their tenant" on public.tags
  for delete to authenticated
  using ((select app.has_permission('catalog.manage')) and tenant_id = (select app.current_tenant_id()));

-- -----------------------------------------------------------------------------
-- listings
-- -----------------------------------------------------------------------------
-- The text-search configuration for a listing's language. Unknown languages
-- fall back to 'simple' (no stemming) rather than mis-stemming as English.
create function app.text_search_config(language text) returns regconfig
language sql immutable parallel safe
set search_path = pg_catalog
as $$
  select case lower(split_part(coalesce(language, 'en'), '-', 1))
    when 'en' then 'english' when 'es' then 'spanish' when 'fr' then 'french'
    when 'de' then 'german' when 'it' then 'italian' when 'pt' then 'portuguese'
    when 'nl' then 'dutch' when 'sv' then 'swedish' when 'da' then 'danish'
    when 'nb' then 'norwegian' when 'no' then 'norwegian' when 'fi' then 'finnish'
    when 'ru' then 'russian' when 'tr' then 'turkish' when 'hu' then 'hungarian'
    when 'ro' then 'romanian'
    else 'simple' end::regconfig
$$;
comment on function app.text_search_config(text) is 'Maps an ISO 639-1 language code to a PostgreSQL text-search configuration.';
grant execute on function app.text_search_config(text) to anon, authenticated, service_role;

create table public.listings (
  id                       uuid primary key default gen_random_uuid(),
  tenant_id                uuid not null references public.tenants (id) on delete cascade,
  provider_id              uuid not null references public.user_profiles (user_id) on delete cascade,
  category_id              uuid not null references public.categories (id) on delete restrict,
  city_id                  uuid references public.cities (id) on delete set null,
  title                    text not null check (length(title) between 3 and 200),
  description              text not null check (length(description) <= 20000),
  slug                     public.slug not null,
  language                 text not null default 'en' check (language ~ '^[a-z]{2}$'),
  pricing_type             public.pricing_type not null default 'hourly',
  currency                 public.currency_code not null default 'USD',
  base_price_cents         public.cents,
  hourly_rate_cents        public.cents,
  minimum_duration_minutes integer not null default 60 check (minimum_duration_minutes between 5 and 1440),
  duration_minutes         integer check (duration_minutes between 5 and 1440),
  location_type            public.location_type not null default 'on_site',
  location                 extensions.geography(Point, 4326),
  service_radius_m         integer check (service_radius_m between 1 and 500000),
  featured_image_url       text,
  images                   text[] not null default '{}',
  keywords                 text[] not null default '{}',
  max_bookings_per_day     integer check (max_bookings_per_day > 0),
  advance_booking_days     integer not null default 60 check (advance_booking_days between 0 and 730),
  min_notice_minutes       integer not null default 120 check (min_notice_minutes >= 0),
  cancellation_policy      text,
  cancellation_window_hours integer not null default 24 check (cancellation_window_hours >= 0),
  search_vector            tsvector,
  status                   public.listing_status not null default 'draft',
  is_featured              boolean not null default false,
  view_count               bigint not null default 0 check (view_count >= 0),
  booking_count            integer not null default 0 check (booking_count >= 0),
  review_count             integer not null default 0 check (review_count >= 0),
  rating_average           numeric(3, 2) check (rating_average between 1 and 5),
  published_at             timestamptz,
  metadata                 jsonb not null default '{}',
  created_at               timestamptz not null default now(),
  updated_at               timestamptz not null default now(),
  deleted_at               timestamptz,
  check (pricing_type <> 'hourly' or hourly_rate_cents is not null),
  check (pricing_type <> 'fixed' or base_price_cents is not null),
  check (location_type = 'remote' or location is not null)
);
comment on table public.listings is 'A service a provider offers. Public when active and not deleted; the provider sees and edits their own.';
comment on column public.listings.provider_id is 'The provider (references the public profile, so a listing embeds its provider''s public face).';
comment on column public.listings.language is 'ISO 639-1 code; picks the text-search configuration of search_vector.';
comment on column public.listings.search_vector is 'Weighted document: title (A), description (B), keywords and tag names (C). Maintained by trigger.';
comment on column public.listings.service_radius_m is 'How far from location the provider travels, unless listing_service_areas draws the area.';
comment on column public.listings.deleted_at is 'Soft delete: a client DELETE sets this instead of removing the row.';

create unique index listings_tenant_slug_key on public.listings (tenant_id, slug) where deleted_at is null;
create index listings_provider_id_idx on public.listings (provider_id, created_at desc);
create index listings_category_active_idx on public.listings (category_id, created_at desc) where status = 'active' and deleted_at is null;
create index listings_city_id_idx on public.listings (city_id);
create index listings_tenant_active_idx on public.listings (tenant_id, created_at desc) where status = 'active' and deleted_at is null;
create index listings_featured_idx on public.listings (tenant_id, rating_average desc nulls last) where is_featured and status = 'active' and deleted_at is null;
-- Foreign-key actions (cascades, checks when a parent row goes) cannot use a partial index.
create index listings_category_id_idx on public.listings (category_id);
create index listings_tenant_id_idx on public.listings (tenant_id);
create index listings_location_gist on public.listings using gist (location);
create index listings_active_location_gist on public.listings using gist (location) where status = 'active' and deleted_at is null;
create index listings_search_gin on public.listings using gin (search_vector);
create index listings_title_trgm on public.listings using gin (title extensions.gin_trgm_ops) where deleted_at is null;
create index listings_keywords_gin on public.listings using gin (keywords);
create index listings_metadata_gin on public.listings using gin (metadata jsonb_path_ops);


create function app.listings_before_write() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
begin
  new.search_vector := app.listing_search_vector(new);
  if new.status = 'active' and new.published_at is null then
    new.published_at := now();
  end if;
  return new;
end $$;
revoke execute on function app.listings_before_write() from public;

-- search_vector in the column list lets listing_tags ask for a recompute by
-- setting it to NULL, without recomputing on every counter update.
create trigger listings_before_write
  before insert or update of title, description, keywords, language, status, search_vector on public.listings
  for each row execute function app.listings_before_write();
create trigger listings_inherit_tenant before insert on public.listings
  for each row execute function app.inherit_tenant('users', 'provider_id');
create trigger listings_set_updated_at before update on public.listings
  for each row execute function app.set_updated_at();
create trigger listings_audit after insert or update of status, is_featured, deleted_at, provider_id, tenant_id or delete on public.listings
  for each row execute function app.audit_row('search_vector', 'description');

-- Listing status: moderation states belong to moderators.
create function app.guard_listings() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
begin
  if app.is_trusted() then
    return new;
  end if;
  -- Entering or leaving 'suspended' only: the provider may still edit (or delete) a suspended listing.
  if (new.status = 'suspended' and (tg_op = 'INSERT' or old.status <> 'suspended')
      or tg_op = 'UPDATE' and old.status = 'suspended' and new.status <> 'suspended')
     and not app.has_permission('listings.moderate') then
    raise insufficient_privilege using
      message = 'only a moderator can suspend a listing or lift a suspension',
      hint = 'Contact the marketplace''s support to review the suspension.';
  end if;
  if (tg_op = 'INSERT' or new.category_id is distinct from old.category_id)
     and not exists (select 1 from public.categories c where c.id = new.category_id and c.is_active
                     and (c.tenant_id is null or c.tenant_id = new.tenant_id)) then
    raise foreign_key_violation using message = 'the category does not exist in this marketplace';
  end if;
  return new;
end $$;
revoke execute on function app.guard_listings() from public;
create trigger listings_guard before insert or update on public.listings
  for each row execute function app.guard_listings();

-- Soft delete for clients: DELETE becomes "set deleted_at". Trusted callers
-- (service_role, purges) really delete.
create function app.soft_delete() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
begin
  if app.is_trusted() then
    return old;
  end if;
  execute format('update %I.%I set deleted_at = now() where id = $1 and deleted_at is null', tg_table_schema, tg_table_name)
    using old.id;
  return null;
end $$;
comment on function app.soft_delete() is 'BEFORE DELETE: turns a client''s delete into a soft delete (deleted_at = now()).';
revoke execute on function app.soft_delete() from public;
create trigger listings_soft_delete before delete on public.listings
  for each row execute function app.soft_delete();

alter table public.listings enable row level security;
grant select on public.listings to anon, authenticated;
grant insert (provider_id, category_id, city_id, title, description, slug, language, pricing_type, currency,
              base_price_cents, hourly_rate_cents, minimum_duration_minutes, duration_minutes, location_type,
              location, service_radius_m, featured_image_url, images, keywords, max_bookings_per_day,
              advance_booking_days, min_notice_minutes, cancellation_policy, cancellation_window_hours, status, metadata),
      update (category_id, city_id, title, description, slug, language, pricing_type, currency,
              base_price_cents, hourly_rate_cents, minimum_duration_minutes, duration_minutes, location_type,
              location, service_radius_m, featured_image_url, images, keywords, max_bookings_per_day,
              advance_booking_days, min_notice_minutes, cancellation_policy, cancellation_window_hours, status,
              metadata, deleted_at),
      delete
  on public.listings to authenticated;

create policy "Anyone can read active listings of their tenant" on public.listings
  for select to anon, authenticated
  using (status = 'active' and deleted_at is null and tenant_id = (select app.current_tenant_id()));
create policy "Providers can read their own listings" on public.listings
  for select to authenticated
  using (provider_id = (select app.current_user_id()));
create policy "Moderators can read every listing of their tenant" on public.listings
  for select to authenticated
  using ((select app.has_permission('listings.moderate')) and tenant_id = (select app.current_tenant_id()));
create policy "Providers can create their own listings" on public.listings
  for insert to authenticated
  with check (provider_id = (select app.current_user_id())
              and (select app.current_user_role()) in ('provider', 'admin', 'super_admin'));
create policy "Providers can update their own listings" on public.listings
  for update to authenticated
  using (provider_id = (select app.current_user_id()) and deleted_at is null)
  with check (provider_id = (select app.current_user_id()));
create policy "Moderators can update listings of their tenant" on public.listings
  for update to authenticated
  using ((select app.has_permission('listings.moderate')) and tenant_id = (select app.current_tenant_id()))
  with check (tenant_id = (select app.current_tenant_id()));
create policy "Providers can delete their own listings" on public.listings
  for delete to authenticated
  using (provider_id = (select app.current_user_id()));

-- -----------------------------------------------------------------------------
-- listing_tags
-- -----------------------------------------------------------------------------
create table public.listing_tags (
  listing_id  uuid not null references public.listings (id) on delete cascade,
  tag_id      uuid not null references public.tags (id) on delete cascade,
  created_at  timestamptz not null default now(),
  primary key (listing_id, tag_id)
);
comment on table public.listing_tags is 'Which tags a listing carries. Changes keep tags.usage_count and the listing''s search vector current.';

create index listing_tags_tag_id_idx on public.listing_tags (tag_id);

-- Defined here, after listing_tags, because it reads the listing's tag names.
create function app.listing_search_vector(l public.listings) returns tsvector
language sql stable
set search_path = pg_catalog, public
as $$
  -- coalesce each part: a NULL part must not make the whole vector NULL.
  select setweight(to_tsvector(app.text_search_config(l.language), coalesce(l.title, '')), 'A')
      || setweight(to_tsvector(app.text_search_config(l.language), coalesce(l.description, '')), 'B')
      || setweight(to_tsvector(app.text_search_config(l.language), concat_ws(' ',
           array_to_string(l.keywords, ' '),
           (select string_agg(t.name, ' ') from public.listing_tags lt join public.tags t on t.id = lt.tag_id
             where lt.listing_id = l.id))), 'C')
$$;
revoke execute on function app.listing_search_vector(public.listings) from public;
-- The listings trigger calls it as the writing client (under the caller's RLS).
grant execute on function app.listing_search_vector(public.listings) to authenticated, service_role;

create function app.listing_tags_after_change() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if tg_op = 'INSERT' then
    if not exists (select 1 from public.tags t join public.listings l on l.id = new.listing_id
                   where t.id = new.tag_id and (t.tenant_id is null or t.tenant_id = l.tenant_id)) then
      raise foreign_key_violation using message = 'the tag does not exist in this marketplace';
    end if;
    update public.tags set usage_count = usage_count + 1 where id = new.tag_id;
    update public.listings set search_vector = null where id = new.listing_id;
  else
    update public.tags set usage_count = greatest(usage_count - 1, 0) where id = old.tag_id;
    update public.listings set search_vector = null where id = old.listing_id;
  end if;
  return null;
end $$;
revoke execute on function app.listing_tags_after_change() from public;
create trigger listing_tags_after_change after insert or delete on public.listing_tags
  for each row execute function app.listing_tags_after_change();

alter table public.listing_tags enable row level security;
grant select on public.listing_tags to anon, authenticated;
grant insert, delete on public.listing_tags to authenticated;
create policy "Anyone can read the tags of listings they can see" on public.listing_tags
  for select to anon, authenticated
  using (exists (select 1 from public.listings l where l.id = listing_id));
create policy "Providers can tag their own listings" on public.listing_tags
  for insert to authenticated
  with check (exists (select 1 from public.listings l where l.id = listing_id and l.provider_id = (select app.current_user_id())));
create policy "Providers can untag their own listings" on public.listing_tags
  for delete to authenticated
  using (exists (select 1 from public.listings l where l.id = listing_id and l.provider_id = (select app.current_user_id())));

-- -----------------------------------------------------------------------------
-- listing_service_areas: polygons a listing serves, when a radius is too crude.
-- -----------------------------------------------------------------------------
create table public.listing_service_areas (
  id          uuid primary key default gen_random_uuid(),
  listing_id  uuid not null references public.listings (id) on delete cascade,
  tenant_id   uuid not null references public.tenants (id) on delete cascade,
  name        text not null default 'service area' check (length(name) between 1 and 120),
  area        extensions.geography(MultiPolygon, 4326) not null,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);
comment on table public.listing_service_areas is 'Areas (multipolygons) where a listing''s provider works; a point is served when ST_Covers(area, point).';

create index listing_service_areas_listing_id_idx on public.listing_service_areas (listing_id);
create index listing_service_areas_tenant_id_idx on public.listing_service_areas (tenant_id);
create index listing_service_areas_area_gist on public.listing_service_areas using gist (area);

create trigger listing_service_areas_inherit_tenant before insert on public.listing_service_areas
  for each row execute function app.inherit_tenant('listings', 'listing_id');
create trigger listing_service_areas_set_updated_at before update on public.listing_service_areas
  for each row execute function app.set_updated_at();

alter table public.listing_service_areas enable row level security;
grant select on public.listing_service_areas to anon, authenticated;
grant insert (listing_id, name, area), update (name, area), delete on public.listing_service_areas to authenticated;
create policy "Anyone can read the service areas of listings they can see" on public.listing_service_areas
  for select to anon, authenticated
  using (exists (select 1 from public.listings l where l.id = listing_id));
create policy "Providers can add service areas to their own listings" on public.listing_service_areas
  for insert to authenticated
  with check (exists (select 1 from public.listings l where l.id = listing_id and l.provider_id = (select app.current_user_id())));
create policy "Providers can change service areas of their own listings" on public.listing_service_areas
  for update to authenticated
  using (exists (select 1 from public.listings l where l.id = listing_id and l.provider_id = (select app.current_user_id())))
  with check (exists (select 1 from public.listings l where l.id = listing_id and l.provider_id = (select app.current_user_id())));
create policy "Providers can remove service areas of their own listings" on public.listing_service_areas
  for delete to authenticated
  using (exists (select 1 from public.listings l where l.id = listing_id and l.provider_id = (select app.current_user_id())));

-- -----------------------------------------------------------------------------
-- Search. SECURITY DEFINER with the visibility rules written out (active, not
-- deleted, the caller's tenant): under RLS the planner may not push the
-- non-leakproof @@ and ST_DWithin into index scans, so these would seq-scan.
-- -----------------------------------------------------------------------------
create function public.search_listings(
  query text default null,
  lon double precision default null,
  lat double precision default null,
  radius_m double precision default 25000,
  category text default null,
  lang text default 'en',
  max_results integer default 20)
returns setof public.listings
language sql stable security definer
set search_path = pg_catalog, public, extensions
as $$
  with q as (
    select case when nullif(trim(query), '') is not null
                then websearch_to_tsquery(app.text_search_config(lang), query) end as ts,
           case when lon is not null and lat is not null then public.geo_point(lon, lat) end as point,
           app.current_tenant_id() as tenant
  )
  select l.*
  from public.listings l, q
  where l.tenant_id = q.tenant
    and l.status = 'active' and l.deleted_at is null
    and (q.ts is null or l.search_vector @@ q.ts)
    and (q.point is null or st_dwithin(l.location, q.point, radius_m))
    and (category is null or l.category_id in (
          select c.id from public.categories c
          where category = any (string_to_array(c.path, '/'))))
  order by case when q.ts is not null then ts_rank_cd(l.search_vector, q.ts) end desc nulls last,
           case when q.point is not null then l.location <-> q.point end,
           l.rating_average desc nulls last, l.id
  limit least(greatest(max_results, 1), 100)
$$;
comment on function public.search_listings(text, double precision, double precision, double precision, text, text, integer) is 'Full-text (websearch syntax, in the given language) and/or radius search over active listings, best match first.';

create function public.nearby_listings(
  lon double precision, lat double precision, radius_m double precision default 10000, max_results integer default 20)
returns setof public.listings
language sql stable security definer
set search_path = pg_catalog, public, extensions
as $$
  -- KNN shape: ORDER BY <-> walks the GIST index nearest-first, then the
  -- distance cut-off trims the short list.
  select s.* from (
    select l.* from public.listings l
    where l.status = 'active' and l.deleted_at is null and l.tenant_id = app.current_tenant_id()
    order by l.location <-> public.geo_point(lon, lat)
    limit least(greatest(max_results, 1), 100)
  ) s
  where st_distance(s.location, public.geo_point(lon, lat)) <= radius_m
$$;
comment on function public.nearby_listings(double precision, double precision, double precision, integer) is 'The nearest active listings within radius_m metres, nearest first.';

create function public.listings_serving(lon double precision, lat double precision, max_results integer default 50)
returns setof public.listings
language sql stable security definer
set search_path = pg_catalog, public, extensions
as $$
  -- A listing serves a point when one of its service areas covers it, or, when
  -- it has none, when the point lies within its service radius.
  select l.* from public.listings l
  where l.status = 'active' and l.deleted_at is null and l.tenant_id = app.current_tenant_id()
    and l.id in (
      select a.listing_id from public.listing_service_areas a
      where st_covers(a.area, public.geo_point(lon, lat))
      union all
      select r.id from public.listings r
      where r.service_radius_m is not null
        and st_dwithin(r.location, public.geo_point(lon, lat), r.service_radius_m)
        and not exists (select 1 from public.listing_service_areas a2 where a2.listing_id = r.id))
  order by l.rating_average desc nulls last, l.id
  limit least(greatest(max_results, 1), 200)
$$;
comment on function public.listings_serving(double precision, double precision, integer) is 'Active listings whose service area (polygon, else radius) covers the point.';

create function public.record_listing_view(listing_id uuid) returns void
language sql security definer
set search_path = pg_catalog, public
as $$
  update public.listings l set view_count = l.view_count + 1
  where l.id = listing_id and l.status = 'active' and l.deleted_at is null
    and l.tenant_id = app.current_tenant_id()
$$;
comment on function public.record_listing_view(uuid) is 'Counts a view of an active listing (view_count is not writable by clients).';

create function public.moderate_listing(target_listing_id uuid, new_status public.listing_status default null,
                                        featured boolean default null, reason text default null)
returns public.listings
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  result public.listings;
begin
  perform app.require_permission('listings.moderate');
  perform set_config('loconomy.reason', coalesce(reason, ''), true);
  update public.listings
     set status = coalesce(new_status, status), is_featured = coalesce(featured, is_featured)
   where id = target_listing_id and tenant_id = app.current_tenant_id()
  returning * into result;
  if result.id is null then
    raise no_data_found using message = format('listing %s not found in your tenant', target_listing_id);
  end if;
  return result;
end $$;
comment on function public.moderate_listing(uuid, public.listing_status, boolean, text) is 'Suspends, reinstates or features a listing. Needs listings.moderate.';

revoke execute on function
  public.search_listings(text, double precision, double precision, double precision, text, text, integer),
  public.nearby_listings(double precision, double precision, double precision, integer),
  public.listings_serving(double precision, double precision, integer),
  public.record_listing_view(uuid),
  public.moderate_listing(uuid, public.listing_status, boolean, text) from public;
grant execute on function
  public.search_listings(text, double precision, double precision, double precision, text, text, integer),
  public.nearby_listings(double precision, double precision, double precision, integer),
  public.listings_serving(double precision, double precision, integer),
  public.record_listing_view(uuid)
  to anon, authenticated, service_role;
grant execute on function public.moderate_listing(uuid, public.listing_status, boolean, text) to authenticated, service_role;

grant all on public.categories, public.tags, public.listings, public.listing_tags, public.listing_service_areas to service_role;
