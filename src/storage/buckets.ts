import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { sql } from '../db/sql.js';
import { asCaller, authenticate, requireServiceRole, type StorageDeps } from './context.js';
import { StorageError } from './errors.js';
import { bucketId } from './names.js';
import type { BucketRow } from './objects-sql.js';
import { deleteBytes } from './remove.js';
import { parseBody } from './validate.js';

/**
 * /bucket: list and read as the caller (anyone may read bucket settings); create, change,
 * empty and delete are service_role's, as on Supabase.
 */

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** file_size_limit as storage-js passes it: a number of bytes, or a string such as "5MB". */
const sizeLimit = z
  .union([z.number().int().positive(), z.string().regex(/^\s*\d+\s*(b|kb|mb|gb)?\s*$/i, 'use bytes or e.g. "5MB"')])
  .nullable()
  .optional()
  .transform((value) => {
    if (value === undefined || value === null) return value;
    if (typeof value === 'number') return value;
    const [, digits = '0', unit = 'b'] = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(value) ?? [];
    return Number(digits) * (SIZE_UNITS[unit.toLowerCase() || 'b'] ?? 1);
  })
  .refine((value) => value === undefined || value === null || value > 0, 'must be positive');

const mimeTypes = z
  .array(z.string().regex(/^[a-z]+\/([a-zA-Z0-9.+-]+|\*)$/, 'must be MIME types such as image/png or image/*'))
  .nullable()
  .optional()
  .transform((value) => (value && value.length === 0 ? null : value));

const createBody = z.object({
  id: z.string().optional(),
  name: z.string(),
  public: z.boolean().optional().default(false),
  file_size_limit: sizeLimit,
  allowed_mime_types: mimeTypes,
  type: z.enum(['STANDARD']).optional(),
});

const updateBody = z.object({
  public: z.boolean().optional(),
  file_size_limit: sizeLimit,
  allowed_mime_types: mimeTypes,
});

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  offset: z.coerce.number().int().min(0).optional(),
  search: z.string().max(100).optional(),
  sortColumn: z.enum(['id', 'name', 'created_at', 'updated_at']).optional(),
  sortOrder: z.enum(['asc', 'desc']).optional(),
});

export function bucketJson(row: BucketRow) {
  return {
    id: row.id,
    name: row.name,
    owner: row.owner ?? '',
    public: row.public,
    type: 'STANDARD',
    file_size_limit: row.file_size_limit === null ? null : Number(row.file_size_limit),
    allowed_mime_types: row.allowed_mime_types,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

const COLUMNS = sql`id, name, owner, public, file_size_limit, allowed_mime_types, created_at, updated_at`;

export async function bucketRoutes(app: FastifyInstance, deps: StorageDeps): Promise<void> {
  const where = (request: { method: string; url: string }) => ({ method: request.method, path: request.url });

  app.get('/bucket', async (request) => {
    const caller = await authenticate(deps, request.headers);
    const q = parseBody(listQuery, request.query, 'query');
    const order = sql`${sql.ident(q.sortColumn ?? 'name')} ${q.sortOrder === 'desc' ? sql`desc` : sql`asc`}`;
    const rows = await asCaller(deps, caller, where(request), async (tx) => {
      const result = await tx.query<BucketRow>(sql`
        select ${COLUMNS} from storage.buckets
         where ${q.search ? sql`name ilike ${`%${q.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`}` : sql`true`}
         order by ${order} limit ${q.limit ?? 1000} offset ${q.offset ?? 0}`);
      return result.rows;
    });
    return rows.map(bucketJson);
  });

  app.get<{ Params: { id: string } }>('/bucket/:id', async (request) => {
    const caller = await authenticate(deps, request.headers);
    const id = bucketId(request.params.id);
    const row = await asCaller(deps, caller, where(request), async (tx) => {
      const result = await tx.query<BucketRow>(sql`select ${COLUMNS} from storage.buckets where id = ${id}`);
      return result.rows[0];
    });
    if (row === undefined) throw new StorageError('NoSuchBucket');
    return bucketJson(row);
  });

  app.post('/bucket', async (request) => {
    const caller = await authenticate(deps, request.headers);
    requireServiceRole(caller);
    const body = parseBody(createBody, request.body, 'body');
    const id = bucketId(body.id ?? body.name);
    if (body.name !== id) throw new StorageError('InvalidBucketName', 'The bucket name must equal its id');
    await asCaller(deps, caller, where(request), async (tx) => {
      const { rowCount } = await tx.query(sql`
        insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
        values (${id}, ${id}, ${body.public}, ${body.file_size_limit ?? null}, ${body.allowed_mime_types ?? null})
        on conflict (id) do nothing`);
      if (rowCount === 0) throw new StorageError('BucketAlreadyExists', 'The resource already exists');
    });
    return { name: id };
  });

  app.put<{ Params: { id: string } }>('/bucket/:id', async (request) => {
    const caller = await authenticate(deps, request.headers);
    requireServiceRole(caller);
    const id = bucketId(request.params.id);
    const body = parseBody(updateBody, request.body, 'body');
    await asCaller(deps, caller, where(request), async (tx) => {
      const { rowCount } = await tx.query(sql`
        update storage.buckets set
          public = coalesce(${body.public ?? null}, public),
          file_size_limit = ${body.file_size_limit === undefined ? sql`file_size_limit` : sql`${body.file_size_limit}::bigint`},
          allowed_mime_types = ${body.allowed_mime_types === undefined ? sql`allowed_mime_types` : sql`${body.allowed_mime_types}::text[]`}
         where id = ${id}`);
      if (rowCount === 0) throw new StorageError('NoSuchBucket');
    });
    return { message: 'Successfully updated' };
  });

  app.post<{ Params: { id: string } }>('/bucket/:id/empty', async (request) => {
    const caller = await authenticate(deps, request.headers);
    requireServiceRole(caller);
    const id = bucketId(request.params.id);
    const versions = await asCaller(deps, caller, where(request), async (tx) => {
      const found = await tx.query(sql`select 1 from storage.buckets where id = ${id}`);
      if (found.rowCount === 0) throw new StorageError('NoSuchBucket');
      const { rows } = await tx.query<{ version: string }>(sql`
        delete from storage.objects where bucket_id = ${id} returning version`);
      return rows.map((r) => r.version);
    });
    await deleteBytes(deps, versions);
    return { message: 'Successfully emptied' };
  });

  app.delete<{ Params: { id: string } }>('/bucket/:id', async (request) => {
    const caller = await authenticate(deps, request.headers);
    requireServiceRole(caller);
    const id = bucketId(request.params.id);
    await asCaller(deps, caller, where(request), async (tx) => {
      const objects = await tx.query(sql`select 1 from storage.objects where bucket_id = ${id} limit 1`);
      if (objects.rowCount > 0) throw new StorageError('BucketNotEmpty');
      const { rowCount } = await tx.query(sql`delete from storage.buckets where id = ${id}`);
      if (rowCount === 0) throw new StorageError('NoSuchBucket');
    });
    return { message: 'Successfully deleted' };
  });
}
