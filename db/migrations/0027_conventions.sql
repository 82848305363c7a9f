-- =============================================================================
-- 0027 conventions: what a newcomer with supabase-js and the docs hit first
-- (issue 8, item 9), fixed at the root so every API shares the fix.
--
--   1. Writes take the caller from the token: owner columns default to
--      app.current_user_id() (RLS still checks them), tenant columns to
--      app.current_tenant_id().
--   2. public.me(): who am I, in one call.
--   3. Locations come back usable: every table a client shows that has a point
--      also has generated `latitude` / `longitude` columns.
--   4. Check constraints say their limit: `comment on constraint` gives each
--      one a sentence that the REST error layer appends to the message
--      (src/rest/errors.ts; constraints without a comment show their definition).
--
-- The extension schema on the database's search_path (so `st_astext(location)`
-- works in psql) is 0001's `alter database … set search_path`; PGlite does not
-- apply database settings at start, so `loconomy db` applies them itself
-- (src/db/pglite.ts, applySessionDefaults).
-- =============================================================================

-- -----------------------------------------------------------------------------
-- 1. The caller from the token. A default only fills a column the client left
--    out; the insert policies still require it to be the caller, so naming
--    someone else is refused as before.
-- -----------------------------------------------------------------------------
alter table public.users
  alter column tenant_id set default app.current_tenant_id(),
  alter column clerk_id set default app.current_subject();
alter table public.user_addresses alter column user_id set default app.current_user_id();
alter table public.listings alter column provider_id set default app.current_user_id();
alter table public.provider_availability alter column provider_id set default app.current_user_id();
alter table public.availability_overrides alter column provider_id set default app.current_user_id();
alter table public.reviews alter column reviewer_id set default app.current_user_id();
alter table public.review_votes alter column user_id set default app.current_user_id();
alter table public.referral_codes alter column user_id set default app.current_user_id();
alter table public.messages alter column sender_id set default app.current_user_id();
alter table public.file_uploads alter column user_id set default app.current_user_id();
-- Operators' writes: the tenant is theirs (shared rows still say tenant_id = null explicitly).
alter table public.categories alter column tenant_id set default app.current_tenant_id();
alter table public.tags alter column tenant_id set default app.current_tenant_id();
alter table public.referral_programs alter column tenant_id set default app.current_tenant_id();
alter table public.feature_flags alter column tenant_id set default app.current_tenant_id();

comment on column public.users.clerk_id is 'Clerk user id (JWT sub claim). Unique among accounts that are not deleted. Defaults to the caller''s sub: a sign-up sends only its own details.';
comment on column public.users.tenant_id is 'The marketplace of the account; defaults to the request''s tenant (app.current_tenant_id()).';
comment on column public.user_addresses.user_id is 'The owner; defaults to the caller.';
comment on column public.listings.provider_id is 'The provider (references the public profile, so a listing embeds its provider''s public face); defaults to the caller.';
comment on column public.provider_availability.provider_id is 'The provider; defaults to the caller.';
comment on column public.availability_overrides.provider_id is 'The provider; defaults to the caller.';
comment on column public.reviews.reviewer_id is 'The author; defaults to the caller.';
comment on column public.review_votes.user_id is 'The voter; defaults to the caller.';
comment on column public.referral_codes.user_id is 'The referrer who shares the code; defaults to the caller.';
comment on column public.messages.sender_id is 'The author; defaults to the caller; NULL for system messages (workflows write them with sender_id => null).';
comment on column public.file_uploads.user_id is 'The uploader; defaults to the caller.';

-- -----------------------------------------------------------------------------
-- 2. me(): the caller's account, tenant, profile and provider status.
-- -----------------------------------------------------------------------------
create function public.me() returns jsonb
language plpgsql stable
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  result jsonb;
begin
  select jsonb_build_object(
           'id', u.id,
           'role', u.role,
           'status', u.status,
           'email', u.email,
           'first_name', u.first_name,
           'last_name', u.last_name,
           'time_zone', u.time_zone,
           'locale', u.locale,
           'tenant', jsonb_build_object('id', t.id, 'name', t.name, 'slug', t.slug,
                                        'default_currency', t.default_currency,
                                        'default_time_zone', t.default_time_zone),
           'profile', jsonb_build_object('display_name', p.display_name, 'avatar_url', p.avatar_url,
                                         'headline', p.headline, 'is_public', p.is_public,
                                         'city_id', p.city_id, 'latitude', p.latitude, 'longitude', p.longitude,
                                         'rating_average', p.rating_average, 'review_count', p.review_count),
           'provider', case when u.role in ('provider', 'admin', 'super_admin') then jsonb_build_object(
               'listings', (select count(*) from public.listings l where l.provider_id = u.id and l.deleted_at is null),
               'active_listings', (select count(*) from public.listings l
                                    where l.provider_id = u.id and l.deleted_at is null and l.status = 'active'),
               'verification_status', u.verification_status,
               'identity_verified', p.identity_verified,
               'background_check_verified', p.background_check_verified,
               'business_verified', p.business_verified,
               'schedule_set', exists (select 1 from public.provider_availability a where a.provider_id = u.id))
             end,
           'permissions', coalesce((select jsonb_agg(x) from public.my_permissions() x), '[]'))
    into result
    from public.users u
    join public.tenants t on t.id = u.tenant_id
    left join public.user_profiles p on p.user_id = u.id
   where u.id = me;
  return result;
end $$;
comment on function public.me() is 'The caller in one call: id, role, status, tenant, profile summary, provider status (listings, verification, schedule set) and permissions. 401 when signed out; 403 with what to do when the token has no account.';
revoke execute on function public.me() from public;
grant execute on function public.me() to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- 3. Locations a client can use: latitude/longitude next to every point a
--    client shows (stored generated columns, so `select=*` has them and no
--    write path, trigger or bulk load can leave them stale). Writes still go
--    to `location`, as WKT: 'POINT(<longitude> <latitude>)'.
-- -----------------------------------------------------------------------------
alter table public.regions
  add column latitude double precision generated always as (extensions.st_y(center::extensions.geometry)) stored,
  add column longitude double precision generated always as (extensions.st_x(center::extensions.geometry)) stored;
alter table public.cities
  add column latitude double precision generated always as (extensions.st_y(location::extensions.geometry)) stored,
  add column longitude double precision generated always as (extensions.st_x(location::extensions.geometry)) stored;
alter table public.user_profiles
  add column latitude double precision generated always as (extensions.st_y(location::extensions.geometry)) stored,
  add column longitude double precision generated always as (extensions.st_x(location::extensions.geometry)) stored;
alter table public.user_addresses
  add column latitude double precision generated always as (extensions.st_y(location::extensions.geometry)) stored,
  add column longitude double precision generated always as (extensions.st_x(location::extensions.geometry)) stored;
alter table public.listings
  add column latitude double precision generated always as (extensions.st_y(location::extensions.geometry)) stored,
  add column longitude double precision generated always as (extensions.st_x(location::extensions.geometry)) stored;
alter table public.bookings
  add column latitude double precision generated always as (extensions.st_y(service_location::extensions.geometry)) stored,
  add column longitude double precision generated always as (extensions.st_x(service_location::extensions.geometry)) stored;

comment on column public.regions.latitude is 'Latitude of center in degrees (WGS84), generated.';
comment on column public.regions.longitude is 'Longitude of center in degrees (WGS84), generated.';
comment on column public.cities.latitude is 'Latitude of location in degrees (WGS84), generated.';
comment on column public.cities.longitude is 'Longitude of location in degrees (WGS84), generated.';
comment on column public.user_profiles.latitude is 'Latitude of location in degrees (WGS84), generated; write location as ''POINT(lon lat)''.';
comment on column public.user_profiles.longitude is 'Longitude of location in degrees (WGS84), generated; write location as ''POINT(lon lat)''.';
comment on column public.user_addresses.latitude is 'Latitude of location in degrees (WGS84), generated; write location as ''POINT(lon lat)''.';
comment on column public.user_addresses.longitude is 'Longitude of location in degrees (WGS84), generated; write location as ''POINT(lon lat)''.';
comment on column public.listings.latitude is 'Latitude of location in degrees (WGS84), generated; write location as ''POINT(lon lat)''.';
comment on column public.listings.longitude is 'Longitude of location in degrees (WGS84), generated; write location as ''POINT(lon lat)''.';
comment on column public.bookings.latitude is 'Latitude of service_location in degrees (WGS84), generated.';
comment on column public.bookings.longitude is 'Longitude of service_location in degrees (WGS84), generated.';

-- Tables with column-level read grants list the new columns beside location.
grant select (latitude, longitude) on public.user_profiles to anon, authenticated;

-- -----------------------------------------------------------------------------
-- 4. Check constraints say their limit. The REST layer reads these comments
--    with the schema cache and appends them to a 23514 error's message.
-- -----------------------------------------------------------------------------
comment on constraint cents_check on domain public.cents is 'an amount of money must be 0 or more (integer minor units, e.g. cents)';
comment on constraint currency_code_check on domain public.currency_code is 'a currency is three upper-case letters (ISO 4217), e.g. USD';
comment on constraint slug_check on domain public.slug is 'a slug is lower-case letters and digits joined by single hyphens, at most 120 characters';
comment on constraint time_zone_check on domain public.time_zone is 'a time zone is an IANA name such as America/New_York or UTC';

comment on constraint users_email_check on public.users is 'email must look like name@example.com';
comment on constraint users_phone_check on public.users is 'phone must be 6 to 20 digits, spaces, ( ) or -, optionally starting with +';
comment on constraint users_first_name_check on public.users is 'first_name must be at most 100 characters';
comment on constraint users_last_name_check on public.users is 'last_name must be at most 100 characters';
comment on constraint users_locale_check on public.users is 'locale must be a language code, optionally with a region: en or en-US';

comment on constraint user_profiles_display_name_check on public.user_profiles is 'display_name must be at most 200 characters';
comment on constraint user_profiles_headline_check on public.user_profiles is 'headline must be at most 200 characters';
comment on constraint user_profiles_bio_check on public.user_profiles is 'bio must be at most 10000 characters';
comment on constraint user_profiles_business_name_check on public.user_profiles is 'business_name must be at most 255 characters';
comment on constraint user_profiles_experience_years_check on public.user_profiles is 'experience_years must be between 0 and 100';
comment on constraint user_profiles_service_radius_m_check on public.user_profiles is 'service_radius_m must be more than 0 (metres)';
comment on constraint user_profiles_website_url_check on public.user_profiles is 'website_url must start with http:// or https://';

comment on constraint user_addresses_label_check on public.user_addresses is 'label must be 1 to 50 characters';
comment on constraint user_addresses_line1_check on public.user_addresses is 'line1 must be 1 to 255 characters';
comment on constraint user_addresses_line2_check on public.user_addresses is 'line2 must be at most 255 characters';
comment on constraint user_addresses_city_check on public.user_addresses is 'city must be 1 to 100 characters';
comment on constraint user_addresses_postal_code_check on public.user_addresses is 'postal_code must be at most 20 characters';
comment on constraint user_addresses_country_code_check on public.user_addresses is 'country_code must be two upper-case letters (ISO 3166), e.g. US';

comment on constraint categories_name_check on public.categories is 'name must be 1 to 120 characters';
comment on constraint categories_color_code_check on public.categories is 'color_code must be # and six hex digits, e.g. #1A2B3C';
comment on constraint tags_name_check on public.tags is 'name must be 1 to 100 characters';

comment on constraint listings_title_check on public.listings is 'title must be 3 to 200 characters';
comment on constraint listings_description_check on public.listings is 'description must be at most 20000 characters';
comment on constraint listings_language_check on public.listings is 'language must be a two-letter code, e.g. en';
comment on constraint listings_check on public.listings is 'an hourly listing needs hourly_rate_cents';
comment on constraint listings_check1 on public.listings is 'a fixed-price listing needs base_price_cents';
comment on constraint listings_check2 on public.listings is 'a listing that is not remote needs a location, e.g. ''POINT(-73.99 40.73)'' (longitude latitude)';
comment on constraint listings_duration_minutes_check on public.listings is 'duration_minutes must be between 5 and 1440';
comment on constraint listings_minimum_duration_minutes_check on public.listings is 'minimum_duration_minutes must be between 5 and 1440';
comment on constraint listings_service_radius_m_check on public.listings is 'service_radius_m must be between 1 and 500000 (metres)';
comment on constraint listings_advance_booking_days_check on public.listings is 'advance_booking_days must be between 0 and 730';
comment on constraint listings_max_bookings_per_day_check on public.listings is 'max_bookings_per_day must be more than 0 (or null for no limit)';
comment on constraint listings_min_notice_minutes_check on public.listings is 'min_notice_minutes must be 0 or more';
comment on constraint listings_cancellation_window_hours_check on public.listings is 'cancellation_window_hours must be 0 or more';
comment on constraint listing_service_areas_name_check on public.listing_service_areas is 'name must be 1 to 120 characters';

comment on constraint provider_availability_day_of_week_check on public.provider_availability is 'day_of_week must be 1 (Monday) to 7 (Sunday)';
comment on constraint provider_availability_check on public.provider_availability is 'end_time must be after start_time';
comment on constraint provider_availability_check1 on public.provider_availability is 'valid_until must be on or after valid_from';
comment on constraint availability_overrides_check on public.availability_overrides is 'give both start_time and end_time, or neither (a whole day)';
comment on constraint availability_overrides_check1 on public.availability_overrides is 'end_time must be after start_time';
comment on constraint availability_overrides_check2 on public.availability_overrides is 'an extra (available) window needs start_time and end_time';
comment on constraint availability_overrides_reason_check on public.availability_overrides is 'reason must be at most 500 characters';

comment on constraint bookings_customer_notes_check on public.bookings is 'customer_notes must be at most 5000 characters';
comment on constraint bookings_provider_notes_check on public.bookings is 'provider_notes must be at most 5000 characters';
comment on constraint bookings_special_requests_check on public.bookings is 'special_requests must be at most 5000 characters';
comment on constraint bookings_check on public.bookings is 'ends_at must be after starts_at';
comment on constraint bookings_check1 on public.bookings is 'a provider cannot book their own listing';

comment on constraint reviews_rating_check on public.reviews is 'rating must be 1 to 5';
comment on constraint reviews_quality_rating_check on public.reviews is 'quality_rating must be 1 to 5';
comment on constraint reviews_communication_rating_check on public.reviews is 'communication_rating must be 1 to 5';
comment on constraint reviews_timeliness_rating_check on public.reviews is 'timeliness_rating must be 1 to 5';
comment on constraint reviews_value_rating_check on public.reviews is 'value_rating must be 1 to 5';
comment on constraint reviews_title_check on public.reviews is 'title must be at most 200 characters';
comment on constraint reviews_comment_check on public.reviews is 'comment must be at most 10000 characters';
comment on constraint reviews_response_check on public.reviews is 'response must be at most 5000 characters';
comment on constraint reviews_check on public.reviews is 'nobody can review themselves';

comment on constraint referral_codes_code_check on public.referral_codes is 'code must be 4 to 20 upper-case letters or digits';
comment on constraint referral_programs_name_check on public.referral_programs is 'name must be 1 to 200 characters';
comment on constraint referral_programs_check on public.referral_programs is 'ends_on must be on or after starts_on';

comment on constraint conversations_title_check on public.conversations is 'title must be at most 200 characters';
comment on constraint messages_content_check on public.messages is 'content must be at most 20000 characters';
comment on constraint messages_check on public.messages is 'a text message needs non-blank content';
comment on constraint messages_attachments_check on public.messages is 'attachments must be a JSON array';

comment on constraint file_uploads_bucket_check on public.file_uploads is 'bucket must be 3 to 63 lower-case letters, digits or hyphens';
comment on constraint file_uploads_original_name_check on public.file_uploads is 'original_name must be 1 to 255 characters';
comment on constraint file_uploads_size_bytes_check on public.file_uploads is 'size_bytes must be between 1 and 5368709120 (5 GiB)';
comment on constraint file_uploads_mime_type_check on public.file_uploads is 'mime_type must look like type/subtype, e.g. image/png';
comment on constraint file_uploads_storage_path_check on public.file_uploads is 'storage_path must be 1 to 1024 characters, relative, without ../';
comment on constraint file_uploads_check on public.file_uploads is 'a file belongs to at most one of listing_id, booking_id, message_id';
comment on constraint file_uploads_check1 on public.file_uploads is 'identity documents and certificates cannot be public';

comment on constraint events_event_name_check on public.events is 'event_name must start with a lower-case letter: letters, digits, _ . : -, at most 100 characters';

comment on constraint feature_flags_key_check on public.feature_flags is 'key must be 2 to 100 characters: a lower-case letter, then lower-case letters, digits, _ . -';
comment on constraint feature_flags_rollout_percentage_check on public.feature_flags is 'rollout_percentage must be between 0 and 100';
