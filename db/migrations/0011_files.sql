-- =============================================================================
-- 0011 files: uploaded files (avatars, listing photos, documents, message
-- attachments). The object lives in a storage bucket; this row is its record.
-- What a file belongs to is an explicit foreign key, not a type/id pair.
-- =============================================================================

create type public.file_type as enum ('avatar', 'service_image', 'document', 'certificate', 'identity', 'attachment', 'other');
create type public.file_status as enum ('uploading', 'processing', 'active', 'failed', 'deleted');

create table public.file_uploads (
  id                uuid primary key default gen_random_uuid(),
  user_id           uuid not null references public.users (id) on delete cascade,
  tenant_id         uuid not null references public.tenants (id) on delete cascade,
  bucket            text not null default 'uploads' check (bucket ~ '^[a-z0-9-]{3,63}$'),
  storage_path      text not null check (length(storage_path) between 1 and 1024 and storage_path !~ '(^/|\.\./)'),
  storage_provider  text not null default 'local' check (storage_provider in ('local', 's3', 'gcs', 'azure', 'supabase')),
  original_name     text not null check (length(original_name) between 1 and 255),
  mime_type         text not null check (mime_type ~ '^[a-z]+/[a-zA-Z0-9.+-]+$'),
  size_bytes        bigint not null check (size_bytes > 0 and size_bytes <= 5368709120),
  checksum_sha256   text check (checksum_sha256 ~ '^[0-9a-f]{64}$'),
  type              public.file_type not null default 'other',
  status            public.file_status not null default 'uploading',
  is_public         boolean not null default false,
  public_url        text,
  download_count    integer not null default 0 check (download_count >= 0),
  listing_id        uuid references public.listings (id) on delete cascade,
  booking_id        uuid references public.bookings (id) on delete cascade,
  message_id        uuid references public.messages (id) on delete cascade,
  metadata          jsonb not null default '{}',
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  deleted_at        timestamptz,
  unique (bucket, storage_path),
  check (num_nonnulls(listing_id, booking_id, message_id) <= 1),
  check (type not in ('identity', 'document', 'certificate') or not is_public)
);
comment on table public.file_uploads is 'Uploaded files. Belongs to at most one of a listing, a booking or a message. Identity documents and certificates are never public.';
comment on column public.file_uploads.is_public is 'Public files of active listings and profiles are readable by anyone in the tenant.';

create index file_uploads_user_created_idx on public.file_uploads (user_id, created_at desc) where deleted_at is null;
-- Foreign-key actions (cascades, checks when a parent row goes) cannot use a partial index.
create index file_uploads_user_id_idx on public.file_uploads (user_id);
create index file_uploads_listing_id_idx on public.file_uploads (listing_id) where listing_id is not null;
create index file_uploads_booking_id_idx on public.file_uploads (booking_id) where booking_id is not null;
create index file_uploads_message_id_idx on public.file_uploads (message_id) where message_id is not null;
create index file_uploads_tenant_id_idx on public.file_uploads (tenant_id);
create index file_uploads_stale_uploads_idx on public.file_uploads (created_at) where status in ('uploading', 'processing');

-- The attachment target must be something the uploader may attach to.
create function app.file_uploads_check_target() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if app.is_trusted() then
    return new;
  end if;
  if new.listing_id is not null and not exists (
      select 1 from public.listings l where l.id = new.listing_id and l.provider_id = new.user_id) then
    raise insufficient_privilege using message = 'files can only be attached to your own listings';
  end if;
  if new.booking_id is not null and not exists (
      select 1 from public.bookings b where b.id = new.booking_id and new.user_id in (b.customer_id, b.provider_id)) then
    raise insufficient_privilege using message = 'files can only be attached to your own bookings';
  end if;
  if new.message_id is not null and not exists (
      select 1 from public.messages m where m.id = new.message_id and m.sender_id = new.user_id) then
    raise insufficient_privilege using message = 'files can only be attached to your own messages';
  end if;
  if new.status = 'deleted' and new.deleted_at is null then
    new.deleted_at := now();
  end if;
  return new;
end $$;
revoke execute on function app.file_uploads_check_target() from public;

create trigger file_uploads_inherit_tenant before insert on public.file_uploads
  for each row execute function app.inherit_tenant('users', 'user_id');
create trigger file_uploads_check_target before insert or update of listing_id, booking_id, message_id, status on public.file_uploads
  for each row execute function app.file_uploads_check_target();
create trigger file_uploads_set_updated_at before update on public.file_uploads
  for each row execute function app.set_updated_at();
create trigger file_uploads_soft_delete before delete on public.file_uploads
  for each row execute function app.soft_delete();

alter table public.file_uploads enable row level security;
grant select on public.file_uploads to anon, authenticated;
grant insert (user_id, bucket, storage_path, storage_provider, original_name, mime_type, size_bytes, checksum_sha256,
              type, is_public, listing_id, booking_id, message_id, metadata),
      update (original_name, type, is_public, listing_id, booking_id, message_id, metadata, deleted_at),
      delete
  on public.file_uploads to authenticated;
create policy "Anyone can read public files of their tenant" on public.file_uploads
  for select to anon, authenticated
  using (is_public and status = 'active' and deleted_at is null and tenant_id = (select app.current_tenant_id()));
create policy "Uploaders can read their own files" on public.file_uploads
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Booking parties can read the booking's files" on public.file_uploads
  for select to authenticated
  using (deleted_at is null and booking_id in (select b.id from public.bookings b));
create policy "Conversation participants can read attachments" on public.file_uploads
  for select to authenticated
  using (deleted_at is null and message_id in (select m.id from public.messages m));
create policy "File moderators can read files of their tenant" on public.file_uploads
  for select to authenticated
  using ((select app.has_permission('files.moderate')) and tenant_id = (select app.current_tenant_id()));
create policy "Users can upload their own files" on public.file_uploads
  for insert to authenticated with check (user_id = (select app.current_user_id()));
create policy "Uploaders can update their own files" on public.file_uploads
  for update to authenticated
  using (user_id = (select app.current_user_id()))
  with check (user_id = (select app.current_user_id()));
create policy "Uploaders can delete their own files" on public.file_uploads
  for delete to authenticated using (user_id = (select app.current_user_id()));

create function public.mark_file_uploaded(file_id uuid, checksum text default null) returns public.file_uploads
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  result public.file_uploads;
begin
  update public.file_uploads f
     set status = 'active', checksum_sha256 = coalesce(checksum, f.checksum_sha256)
   where f.id = file_id and f.user_id = app.current_user_id() and f.status in ('uploading', 'processing')
  returning * into result;
  if result.id is null then
    raise no_data_found using message = format('upload %s not found or already finished', file_id);
  end if;
  return result;
end $$;
comment on function public.mark_file_uploaded(uuid, text) is 'The uploader confirms the object reached storage; the file becomes active (status is not client-writable otherwise).';
revoke execute on function public.mark_file_uploaded(uuid, text) from public;
grant execute on function public.mark_file_uploaded(uuid, text) to authenticated, service_role;

grant all on public.file_uploads to service_role;
