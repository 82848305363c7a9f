-- =============================================================================
-- 0051 storage: files behind /storage/v1, Supabase Storage's shape (issue 15,
-- decision 0026).
--
-- storage.buckets and storage.objects hold the metadata; the bytes live in a
-- backend (the local disk under LOCONOMY_DATA_DIR, or S3) under a key made of
-- the bucket and the object's `version`, never its name. The server runs every
-- storage operation as the caller's role with the caller's JWT claims, so the
-- RLS policies below decide who may list, read, write and delete what, exactly
-- as Supabase's storage policies do (and written the same way, with
-- storage.foldername(name) and friends). Creating, changing, emptying and
-- deleting buckets is service_role's alone.
--
-- The marketplace's four buckets are created here with their policies:
--   avatars         public; a user writes only under `<own users.id>/`
--   listing-images  public; images of active listings are readable by anyone,
--                   the provider writes under `<own listing id>/`
--   documents       private; the owner (under `<own users.id>/`) and file
--                   moderators (admins)
--   attachments     private; `<conversation id>/`: its participants read and
--                   write, the uploader alone changes or removes
-- A trigger keeps one public.file_uploads row per object of these buckets, so
-- the marketplace's file records stay true whichever door a file came through.
-- =============================================================================

create schema storage;
comment on schema storage is 'Storage (issue 15): bucket and object metadata behind /storage/v1, Supabase Storage''s shape. Not exposed over REST.';
revoke all on schema storage from public;
grant usage on schema storage to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- Which store of bytes belongs to this database
-- -----------------------------------------------------------------------------
create table storage.instance (
  singleton  boolean primary key default true check (singleton),
  id         uuid,
  bound_at   timestamptz
);
comment on table storage.instance is 'One row: the id the server wrote into its storage backend (key .loconomy-storage) the first time it served this database. The orphan sweeper removes bytes only from a backend carrying this id, so a backend shared with, or left over from, another database is never swept.';
alter table storage.instance enable row level security;
grant all on storage.instance to service_role;
create policy "service_role manages the storage instance" on storage.instance
  for all to service_role using (true) with check (true);
insert into storage.instance default values;

-- -----------------------------------------------------------------------------
-- Path helpers, as Supabase names them, for policies.
-- -----------------------------------------------------------------------------
create function storage.foldername(name text) returns text[]
language sql immutable
set search_path = pg_catalog
as $$
  select (string_to_array(name, '/'))[1:greatest(cardinality(string_to_array(name, '/')) - 1, 0)]
$$;
comment on function storage.foldername(text) is 'The folders of an object name: storage.foldername(''a/b/c.png'') = {a,b}. For policies, as on Supabase.';

create function storage.filename(name text) returns text
language sql immutable
set search_path = pg_catalog
as $$
  select (string_to_array(name, '/'))[cardinality(string_to_array(name, '/'))]
$$;
comment on function storage.filename(text) is 'The last segment of an object name: storage.filename(''a/b/c.png'') = c.png.';

create function storage.extension(name text) returns text
language sql immutable
set search_path = pg_catalog
as $$
  select case when strpos(storage.filename(name), '.') > 0
              then lower(reverse(split_part(reverse(storage.filename(name)), '.', 1)))
              else '' end
$$;
comment on function storage.extension(text) is 'The extension of an object''s file name, lower case, without the dot; '''' when it has none.';

create function storage.is_valid_name(name text) returns boolean
language sql immutable
set search_path = pg_catalog
as $$
  -- No empty, `.` or `..` segment (so no leading, trailing or doubled slash and
  -- no traversal), no control characters, and at most 1024 bytes, as S3 keys.
  select octet_length(name) between 1 and 1024
     and name !~ '(^|/)\.{0,2}(/|$)'
     and name !~ '[[:cntrl:]]'
$$;
comment on function storage.is_valid_name(text) is 'True for an object name the server accepts: 1–1024 bytes, segments neither empty nor . nor .., no control characters.';

revoke execute on function storage.foldername(text), storage.filename(text), storage.extension(text),
  storage.is_valid_name(text) from public;
grant execute on function storage.foldername(text), storage.filename(text), storage.extension(text),
  storage.is_valid_name(text) to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- buckets
-- -----------------------------------------------------------------------------
create table storage.buckets (
  id                  text primary key check (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$'),
  name                text not null unique,
  owner               uuid references public.users (id) on delete set null,
  public              boolean not null default false,
  file_size_limit     bigint check (file_size_limit > 0),
  allowed_mime_types  text[] check (cardinality(allowed_mime_types) > 0),
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  check (name = id)
);
comment on table storage.buckets is 'Storage buckets (Supabase''s storage.buckets). Public buckets are readable by anyone through /object/public/ where the SELECT policies let anon read; service_role alone creates, changes and removes buckets.';
comment on column storage.buckets.file_size_limit is 'Largest object in bytes; NULL: only LOCONOMY_STORAGE_MAX_FILE_SIZE applies.';
comment on column storage.buckets.allowed_mime_types is 'MIME types accepted, as sniffed from the content (image/png, or image/* for a family); NULL: any.';

create trigger buckets_set_updated_at before update on storage.buckets
  for each row execute function app.set_updated_at();

alter table storage.buckets enable row level security;
-- A bucket's settings are no secret (the front end may show the limits): anyone
-- reads them; writes are service_role's (it bypasses RLS).
grant select on storage.buckets to anon, authenticated;
grant all on storage.buckets to service_role;
create policy "Anyone can read bucket settings" on storage.buckets
  for select to anon, authenticated using (true);

-- -----------------------------------------------------------------------------
-- objects
-- -----------------------------------------------------------------------------
create table storage.objects (
  id                uuid primary key default gen_random_uuid(),
  bucket_id         text not null references storage.buckets (id),
  name              text not null check (storage.is_valid_name(name)),
  owner             uuid references public.users (id) on delete set null default app.current_user_id(),
  version           uuid not null default gen_random_uuid(),
  metadata          jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  user_metadata     jsonb check (jsonb_typeof(user_metadata) = 'object'),
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  last_accessed_at  timestamptz not null default now(),
  unique (bucket_id, name)
);
comment on table storage.objects is 'Stored objects (Supabase''s storage.objects): one row per object; the bytes are in the storage backend under <bucket_id>/<version>. RLS policies here decide every storage operation.';
comment on column storage.objects.owner is 'users.id of the uploader (NULL for service_role uploads).';
comment on column storage.objects.version is 'Names the stored bytes; a new upload of the same name gets a new version, so readers never see half an object.';
comment on column storage.objects.metadata is 'eTag, size, mimetype (sniffed from the content), cacheControl, lastModified, contentLength, httpStatusCode, as Supabase keeps them.';
comment on column storage.objects.user_metadata is 'The metadata the client sent with the upload (FileOptions.metadata).';

-- Listing by prefix: LIKE 'prefix/%' on a byte-wise ordered index.
create index objects_bucket_name_prefix_idx on storage.objects (bucket_id, name text_pattern_ops);
create index objects_owner_idx on storage.objects (owner) where owner is not null;
create index objects_version_idx on storage.objects (version);

create trigger objects_set_updated_at before update on storage.objects
  for each row execute function app.set_updated_at();

alter table storage.objects enable row level security;
-- As on Supabase the API roles hold the privileges and the policies decide.
grant select, insert, update, delete on storage.objects to anon, authenticated;
grant all on storage.objects to service_role;

-- Generic: public buckets are readable by anyone (Supabase serves them without
-- RLS; here the public route reads as anon, so a RESTRICTIVE policy can narrow a
-- public bucket, as listing-images does below).
create policy "Anyone can read objects in public buckets" on storage.objects
  for select to anon, authenticated
  using (bucket_id in (select b.id from storage.buckets b where b.public));

-- avatars
create policy "Users can upload their avatar under their own id" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select app.current_user_id())::text);
create policy "Users can replace their own avatars" on storage.objects
  for update to authenticated
  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select app.current_user_id())::text)
  with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select app.current_user_id())::text);
create policy "Users can delete their own avatars" on storage.objects
  for delete to authenticated
  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select app.current_user_id())::text);

-- listing-images: `<listing id>/<file>`.
create function storage.is_active_listing_folder(name text) returns boolean
language sql stable security definer
set search_path = pg_catalog, public
as $$
  -- SECURITY DEFINER: the listing decides who may read an image even when the
  -- caller may not read the listing itself.
  select exists (select 1 from public.listings l
                  where l.id::text = (storage.foldername(name))[1]
                    and l.status = 'active' and l.deleted_at is null)
$$;
comment on function storage.is_active_listing_folder(text) is 'True when the object''s first folder is the id of an active listing.';
revoke execute on function storage.is_active_listing_folder(text) from public;
grant execute on function storage.is_active_listing_folder(text) to anon, authenticated, service_role;

create function storage.is_own_listing_folder(name text) returns boolean
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select exists (select 1 from public.listings l
                  where l.id::text = (storage.foldername(name))[1]
                    and l.provider_id = app.current_user_id()
                    and l.deleted_at is null)
$$;
comment on function storage.is_own_listing_folder(text) is 'True when the object''s first folder is the id of a listing of the caller.';
revoke execute on function storage.is_own_listing_folder(text) from public;
grant execute on function storage.is_own_listing_folder(text) to anon, authenticated, service_role;

create policy "Only images of active listings are public; providers and moderators see the rest" on storage.objects
  as restrictive for select to anon, authenticated
  using (
    bucket_id <> 'listing-images'
    or storage.is_active_listing_folder(name)
    or storage.is_own_listing_folder(name)
    or (select app.has_permission('files.moderate'))
  );
create policy "Providers can read images of their own listings" on storage.objects
  for select to authenticated
  using (bucket_id = 'listing-images' and storage.is_own_listing_folder(name));
create policy "Providers can upload images of their own listings" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'listing-images' and storage.is_own_listing_folder(name));
create policy "Providers can replace images of their own listings" on storage.objects
  for update to authenticated
  using (bucket_id = 'listing-images' and storage.is_own_listing_folder(name))
  with check (bucket_id = 'listing-images' and storage.is_own_listing_folder(name));
create policy "Providers can delete images of their own listings" on storage.objects
  for delete to authenticated
  using (bucket_id = 'listing-images' and storage.is_own_listing_folder(name));

-- documents: `<own users.id>/<file>`, private.
create policy "Users can read their own documents" on storage.objects
  for select to authenticated
  using (bucket_id = 'documents' and (storage.foldername(name))[1] = (select app.current_user_id())::text);
create policy "File moderators can read documents" on storage.objects
  for select to authenticated
  using (bucket_id = 'documents' and (select app.has_permission('files.moderate')));
create policy "Users can upload documents under their own id" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'documents' and (storage.foldername(name))[1] = (select app.current_user_id())::text);
create policy "Users can replace their own documents" on storage.objects
  for update to authenticated
  using (bucket_id = 'documents' and (storage.foldername(name))[1] = (select app.current_user_id())::text)
  with check (bucket_id = 'documents' and (storage.foldername(name))[1] = (select app.current_user_id())::text);
create policy "Users and file moderators can delete documents" on storage.objects
  for delete to authenticated
  using (bucket_id = 'documents'
         and ((storage.foldername(name))[1] = (select app.current_user_id())::text
              or (select app.has_permission('files.moderate'))));

-- attachments: `<conversation id>/<file>`.
create function storage.is_conversation_folder(name text) returns boolean
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select exists (select 1 from public.conversation_participants p
                  where p.conversation_id::text = (storage.foldername(name))[1]
                    and p.user_id = app.current_user_id())
$$;
comment on function storage.is_conversation_folder(text) is 'True when the object''s first folder is a conversation the caller takes part in.';
revoke execute on function storage.is_conversation_folder(text) from public;
grant execute on function storage.is_conversation_folder(text) to authenticated, service_role;

create policy "Conversation participants can read its attachments" on storage.objects
  for select to authenticated
  using (bucket_id = 'attachments' and storage.is_conversation_folder(name));
create policy "Conversation participants can attach files to it" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'attachments' and storage.is_conversation_folder(name)
              and owner = (select app.current_user_id()));
create policy "Senders can replace their own attachments" on storage.objects
  for update to authenticated
  using (bucket_id = 'attachments' and owner = (select app.current_user_id()))
  with check (bucket_id = 'attachments' and owner = (select app.current_user_id())
              and storage.is_conversation_folder(name));
create policy "Senders can delete their own attachments" on storage.objects
  for delete to authenticated
  using (bucket_id = 'attachments' and owner = (select app.current_user_id()));

-- -----------------------------------------------------------------------------
-- The marketplace's buckets
-- -----------------------------------------------------------------------------
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types) values
  ('avatars', 'avatars', true, 5242880, array['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif']),
  ('listing-images', 'listing-images', true, 10485760, array['image/jpeg', 'image/png', 'image/webp', 'image/avif']),
  ('documents', 'documents', false, 20971520, array['application/pdf', 'image/jpeg', 'image/png', 'image/webp']),
  ('attachments', 'attachments', false, 26214400, null);

-- -----------------------------------------------------------------------------
-- public.file_uploads follows the objects of the marketplace's buckets
-- -----------------------------------------------------------------------------
create function storage.objects_sync_file_uploads() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  kind public.file_type;
  mime text;
  size bigint;
  listing uuid;
  provider text := coalesce(nullif(current_setting('storage.provider', true), ''), 'local');
begin
  if tg_op in ('UPDATE', 'DELETE') then
    -- A move or a removal: the record of the old name goes (a real delete; this
    -- function is trusted, so the soft-delete trigger lets it through).
    if old.bucket_id in ('avatars', 'listing-images', 'documents', 'attachments') then
      delete from public.file_uploads f where f.bucket = old.bucket_id and f.storage_path = old.name;
    end if;
    if tg_op = 'DELETE' then
      return old;
    end if;
  end if;
  kind := case new.bucket_id
            when 'avatars' then 'avatar'
            when 'listing-images' then 'service_image'
            when 'documents' then 'document'
            when 'attachments' then 'attachment'
          end;
  mime := split_part(coalesce(new.metadata ->> 'mimetype', ''), ';', 1);
  size := coalesce((new.metadata ->> 'size')::bigint, 0);
  -- Service uploads without an owner, empty files and odd types have no record.
  if kind is null or new.owner is null or size <= 0 or mime !~ '^[a-z]+/[a-zA-Z0-9.+-]+$'
     or new.name ~ '\.\./' then
    return new;
  end if;
  if kind = 'service_image' then
    select l.id into listing from public.listings l
     where l.id::text = (storage.foldername(new.name))[1] and l.provider_id = new.owner;
  end if;
  insert into public.file_uploads (user_id, bucket, storage_path, storage_provider, original_name, mime_type,
                                   size_bytes, type, status, is_public, listing_id, metadata)
  values (new.owner, new.bucket_id, new.name, provider, left(storage.filename(new.name), 255), mime,
          size, kind, 'active', new.bucket_id in ('avatars', 'listing-images'), listing,
          jsonb_build_object('storage_object_id', new.id, 'etag', new.metadata ->> 'eTag'))
  on conflict (bucket, storage_path) do update
    set user_id = excluded.user_id, storage_provider = excluded.storage_provider, mime_type = excluded.mime_type,
        size_bytes = excluded.size_bytes, status = 'active', deleted_at = null, listing_id = excluded.listing_id,
        metadata = excluded.metadata;
  return new;
end $$;
comment on function storage.objects_sync_file_uploads() is 'AFTER INSERT/UPDATE/DELETE on storage.objects: keeps one public.file_uploads row per object of the marketplace''s buckets (decision 0026).';
revoke execute on function storage.objects_sync_file_uploads() from public;

create trigger objects_sync_file_uploads after insert or update of bucket_id, name, owner, metadata or delete
  on storage.objects
  for each row execute function storage.objects_sync_file_uploads();
