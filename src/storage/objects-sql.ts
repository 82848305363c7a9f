import type { Queryable } from '../db/database.js';
import { sql } from '../db/sql.js';

/**
 * The SQL of object operations, each one statement, run as the caller (asCaller) so that RLS
 * decides, or as the server for signed URLs whose token already decided.
 */

export interface BucketRow {
  readonly id: string;
  readonly name: string;
  readonly owner: string | null;
  readonly public: boolean;
  readonly file_size_limit: string | null;
  readonly allowed_mime_types: string[] | null;
  readonly created_at: Date;
  readonly updated_at: Date;
}

export interface ObjectRow {
  readonly id: string;
  readonly bucket_id: string;
  readonly name: string;
  readonly owner: string | null;
  readonly version: string;
  readonly metadata: ObjectMetadata;
  readonly user_metadata: Record<string, unknown> | null;
  readonly created_at: Date;
  readonly updated_at: Date;
  readonly last_accessed_at: Date;
}

/** storage.objects.metadata, as Supabase keeps it. */
export interface ObjectMetadata {
  readonly eTag: string;
  readonly size: number;
  readonly mimetype: string;
  readonly cacheControl: string;
  readonly lastModified: string;
  readonly contentLength: number;
  readonly httpStatusCode: number;
}

export async function findBucket(db: Queryable, id: string): Promise<BucketRow | undefined> {
  const { rows } = await db.query<BucketRow>(sql`
    select id, name, owner, public, file_size_limit, allowed_mime_types, created_at, updated_at
      from storage.buckets where id = ${id}`);
  return rows[0];
}

export async function findObject(db: Queryable, bucket: string, name: string): Promise<ObjectRow | undefined> {
  const { rows } = await db.query<ObjectRow>(sql`
    select * from storage.objects where bucket_id = ${bucket} and name = ${name}`);
  return rows[0];
}

export interface NewObject {
  readonly bucket: string;
  readonly name: string;
  readonly version: string;
  readonly metadata: ObjectMetadata;
  readonly userMetadata: Record<string, unknown> | null;
  /** Set for signed uploads (the signer's users.id); otherwise the caller's own id. */
  readonly owner?: string | null;
}

/**
 * Inserts the object's row, or with `upsert` replaces the row of the same name (RLS: INSERT,
 * and SELECT + UPDATE of the existing row, as on Supabase). Returns the id and the version the
 * replaced row had, whose bytes are then removed.
 */
export async function insertObject(
  tx: Queryable,
  object: NewObject,
  upsert: boolean,
): Promise<{ id: string; old_version: string | null }> {
  const owner = object.owner === undefined ? sql`app.current_user_id()` : sql`${object.owner}::uuid`;
  const values = sql`(${object.bucket}, ${object.name}, ${owner}, ${object.version}::uuid,
      ${JSON.stringify(object.metadata)}::jsonb, ${object.userMetadata === null ? null : JSON.stringify(object.userMetadata)}::jsonb)`;
  const columns = sql`(bucket_id, name, owner, version, metadata, user_metadata)`;
  const { rows } = upsert
    ? await tx.query<{ id: string; old_version: string | null }>(sql`
        with old as (
          select version from storage.objects where bucket_id = ${object.bucket} and name = ${object.name}
        )
        insert into storage.objects ${columns} values ${values}
        on conflict (bucket_id, name) do update
          set owner = excluded.owner, version = excluded.version, metadata = excluded.metadata,
              user_metadata = excluded.user_metadata, created_at = now(), last_accessed_at = now()
        returning id, (select version from old) as old_version`)
    : await tx.query<{ id: string; old_version: string | null }>(sql`
        insert into storage.objects ${columns} values ${values}
        returning id, null::uuid as old_version`);
  return rows[0] as { id: string; old_version: string | null };
}

export async function deleteObjects(tx: Queryable, bucket: string, names: readonly string[]): Promise<ObjectRow[]> {
  const { rows } = await tx.query<ObjectRow>(sql`
    delete from storage.objects where bucket_id = ${bucket} and name = any(${names}::text[]) returning *`);
  return rows;
}

/** Renames an object, possibly into another bucket; the bytes stay where they are. */
export async function moveObject(
  tx: Queryable,
  from: { bucket: string; name: string },
  to: { bucket: string; name: string },
): Promise<boolean> {
  const { rowCount } = await tx.query(sql`
    update storage.objects set bucket_id = ${to.bucket}, name = ${to.name}
     where bucket_id = ${from.bucket} and name = ${from.name}`);
  return rowCount > 0;
}

/** The copy's row, from the source's row if it still has `version` (RLS: SELECT source, INSERT copy). */
export async function copyObject(
  tx: Queryable,
  from: { bucket: string; name: string; version: string },
  to: { bucket: string; name: string; version: string },
): Promise<string | undefined> {
  const { rows } = await tx.query<{ id: string }>(sql`
    insert into storage.objects (bucket_id, name, owner, version, metadata, user_metadata)
    select ${to.bucket}, ${to.name}, app.current_user_id(), ${to.version}::uuid,
           o.metadata || jsonb_build_object('lastModified', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
           o.user_metadata
      from storage.objects o
     where o.bucket_id = ${from.bucket} and o.name = ${from.name} and o.version = ${from.version}::uuid
    returning id`);
  return rows[0]?.id;
}

export interface ListOptions {
  readonly prefix: string;
  readonly limit: number;
  readonly offset: number;
  readonly search: string;
  readonly column: 'name' | 'created_at' | 'updated_at' | 'last_accessed_at';
  readonly order: 'asc' | 'desc';
}

export interface ListEntry {
  readonly name: string;
  readonly id: string | null;
  readonly updated_at: Date | null;
  readonly created_at: Date | null;
  readonly last_accessed_at: Date | null;
  readonly metadata: ObjectMetadata | null;
}

/** `%` and `_` (and the escape) taken literally in a LIKE pattern. */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * One level of a bucket under a folder, as Supabase's storage.search lists it: the objects
 * directly in the folder, and each sub-folder once (id and metadata null), filtered by a
 * name prefix (search), sorted and paged.
 */
export async function listFolder(tx: Queryable, bucket: string, options: ListOptions): Promise<ListEntry[]> {
  const folder = options.prefix === '' ? '' : `${options.prefix}/`;
  const direction = options.order === 'desc' ? sql`desc` : sql`asc`;
  const sortColumn = sql.ident(options.column);
  const { rows } = await tx.query<ListEntry>(sql`
    with level as (
      select split_part(substr(o.name, ${folder.length + 1}), '/', 1) as entry,
             strpos(substr(o.name, ${folder.length + 1}), '/') > 0 as is_folder,
             o.id, o.name, o.updated_at, o.created_at, o.last_accessed_at, o.metadata
        from storage.objects o
       where o.bucket_id = ${bucket} and o.name like ${`${likeLiteral(folder)}%`}
    ), entries as (
      select distinct on (entry, is_folder) entry as name,
             case when is_folder then null else id end as id,
             case when is_folder then null else updated_at end as updated_at,
             case when is_folder then null else created_at end as created_at,
             case when is_folder then null else last_accessed_at end as last_accessed_at,
             case when is_folder then null else metadata end as metadata,
             is_folder
        from level
       where entry ilike ${`${likeLiteral(options.search)}%`}
       order by entry, is_folder
    )
    select name, id, updated_at, created_at, last_accessed_at, metadata from entries
     order by is_folder desc, ${sortColumn} ${direction} nulls first, name ${direction}
     limit ${options.limit} offset ${options.offset}`);
  return rows;
}

export interface ListV2Options {
  readonly prefix: string;
  readonly limit: number;
  readonly cursor: string | undefined;
  readonly withDelimiter: boolean;
  readonly order: 'asc' | 'desc';
}

/**
 * storage-js's listV2: the objects whose names start with `prefix` (a plain string prefix),
 * with `withDelimiter` grouped at the next `/` into folders (`key` ending in `/`), in key order
 * (byte-wise), `limit` at a time after `cursor` (the last key of the previous page).
 */
export async function listV2(
  tx: Queryable,
  bucket: string,
  options: ListV2Options,
): Promise<{ hasNext: boolean; folders: { name: string; key: string }[]; objects: unknown[]; nextCursor?: string }> {
  const start = options.prefix.length + 1;
  const desc = options.order === 'desc';
  const after =
    options.cursor === undefined
      ? sql`true`
      : desc
        ? sql`key < ${options.cursor} collate "C"`
        : sql`key > ${options.cursor} collate "C"`;
  const { rows } = await tx.query<{
    key: string;
    is_folder: boolean;
    id: string | null;
    updated_at: Date | null;
    created_at: Date | null;
    last_accessed_at: Date | null;
    metadata: ObjectMetadata | null;
  }>(sql`
    with level as (
      select case when ${options.withDelimiter} and strpos(substr(o.name, ${start}), '/') > 0
                  then substr(o.name, 1, ${start - 1} + strpos(substr(o.name, ${start}), '/'))
                  else o.name end as key,
             ${options.withDelimiter} and strpos(substr(o.name, ${start}), '/') > 0 as is_folder,
             o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata
        from storage.objects o
       where o.bucket_id = ${bucket} and o.name like ${`${likeLiteral(options.prefix)}%`}
    ), keyed as (
      select distinct on (key) key, is_folder,
             case when is_folder then null else id end as id,
             case when is_folder then null else updated_at end as updated_at,
             case when is_folder then null else created_at end as created_at,
             case when is_folder then null else last_accessed_at end as last_accessed_at,
             case when is_folder then null else metadata end as metadata
        from level
       order by key
    )
    select * from keyed where ${after}
     order by key collate "C" ${desc ? sql`desc` : sql`asc`}
     limit ${options.limit + 1}`);
  const page = rows.slice(0, options.limit);
  const last = page[page.length - 1];
  return {
    hasNext: rows.length > options.limit,
    folders: page.filter((r) => r.is_folder).map((r) => ({ name: r.key, key: r.key })),
    objects: page
      .filter((r) => !r.is_folder)
      .map((r) => ({
        name: r.key,
        key: r.key,
        id: r.id,
        updated_at: r.updated_at,
        created_at: r.created_at,
        last_accessed_at: r.last_accessed_at,
        metadata: r.metadata,
      })),
    ...(rows.length > options.limit && last ? { nextCursor: last.key } : {}),
  };
}
