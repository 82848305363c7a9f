import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { sql } from '../db/sql.js';
import { objectKey, uploadKey } from './backend/types.js';
import { anonCaller, asCaller, authenticate, type StorageDeps } from './context.js';
import { StorageError } from './errors.js';
import { bucketId, objectName, splitPath } from './names.js';
import {
  copyObject,
  deleteObjects,
  findBucket,
  findObject,
  listFolder,
  listV2,
  moveObject,
  type ObjectRow,
} from './objects-sql.js';
import { deleteBytes } from './remove.js';
import { transformSchema } from './render.js';
import { openBytes, serveObject } from './serve.js';
import { MAX_EXPIRES_IN_S, signDownload, signUpload, verifyDownload } from './signing.js';
import { parseBody } from './validate.js';

/**
 * /object routes that take JSON or no body: download (as the caller, public, signed), info,
 * exists (HEAD), list, move, copy, remove, and the signing of URLs. Uploads are in
 * transfer.ts (they read the body as a stream).
 */

type Wild = { Params: { '*': string; bucket?: string } };

const NOT_FOUND_OR_DENIED = 'Either the object does not exist or you do not have access to it';

const listBody = z.object({
  prefix: z.string().max(1024).optional().default(''),
  limit: z.number().int().min(1).max(1000).optional().default(100),
  offset: z.number().int().min(0).optional().default(0),
  search: z.string().max(1024).optional().default(''),
  sortBy: z
    .object({
      column: z.enum(['name', 'created_at', 'updated_at', 'last_accessed_at']).optional().default('name'),
      order: z.enum(['asc', 'desc']).optional().default('asc'),
    })
    .optional()
    .default({ column: 'name', order: 'asc' }),
});

const listV2Body = z.object({
  prefix: z.string().max(1024).optional().default(''),
  limit: z.number().int().min(1).max(1000).optional().default(1000),
  cursor: z.string().max(1024).optional(),
  with_delimiter: z.boolean().optional().default(false),
  sortBy: z
    .object({
      column: z.literal('name', { error: 'listV2 sorts by name only' }),
      order: z.enum(['asc', 'desc']).optional(),
    })
    .optional(),
});

const moveBody = z.object({
  bucketId: z.string(),
  sourceKey: z.string(),
  destinationKey: z.string(),
  destinationBucket: z.string().optional(),
});

const removeBody = z.object({ prefixes: z.array(z.string()).min(1).max(1000) });

const expiresIn = z.number().int().min(1).max(MAX_EXPIRES_IN_S);
const signBody = z.object({ expiresIn, transform: z.record(z.string(), z.unknown()).optional() });
const signManyBody = z.object({ expiresIn, paths: z.array(z.string()).min(1).max(1000) });

function where(request: FastifyRequest) {
  return { method: request.method, path: request.url };
}

/** A file object as storage-js's FileObject has it (list, remove). */
function fileObject(row: ObjectRow) {
  return {
    name: row.name,
    id: row.id,
    bucket_id: row.bucket_id,
    owner: row.owner ?? '',
    created_at: row.created_at,
    updated_at: row.updated_at,
    last_accessed_at: row.last_accessed_at,
    metadata: row.metadata,
  };
}

export async function objectRoutes(app: FastifyInstance, deps: StorageDeps): Promise<void> {
  // Download as the caller (RLS decides): storage-js's download() uses the first form.
  const authenticated = async (request: FastifyRequest<Wild>, reply: import('fastify').FastifyReply) => {
    const caller = await authenticate(deps, request.headers);
    const { bucket, name } = splitPath(request.params['*']);
    const object = await asCaller(deps, caller, where(request), (tx) => findObject(tx, bucket, name));
    if (object === undefined) throw new StorageError('NoSuchKey');
    return serveObject(request, reply, deps.backend, object);
  };
  for (const url of ['/object/*', '/object/authenticated/*']) {
    app.route<Wild>({ method: ['GET', 'HEAD'], url, handler: authenticated });
  }

  // Public buckets: read as anon, whatever credentials came (RLS still decides, decision 0026).
  app.route<Wild>({
    method: ['GET', 'HEAD'],
    url: '/object/public/*',
    handler: async (request, reply) => {
      const { bucket, name } = splitPath(request.params['*']);
      const row = await findBucket(deps.db, bucket);
      if (row === undefined || !row.public) throw new StorageError('NoSuchBucket');
      const object = await asCaller(deps, anonCaller(deps), where(request), (tx) => findObject(tx, bucket, name));
      if (object === undefined) throw new StorageError('NoSuchKey');
      return serveObject(request, reply, deps.backend, object);
    },
  });

  // Signed URLs: the token decided when it was signed; read as the server.
  app.route<Wild & { Querystring: { token?: string } }>({
    method: ['GET', 'HEAD'],
    url: '/object/sign/*',
    handler: async (request, reply) => {
      const { bucket, name } = splitPath(request.params['*']);
      await verifyDownload(deps.signingKey, request.query.token, `${bucket}/${name}`);
      const object = await findObject(deps.db, bucket, name);
      if (object === undefined) throw new StorageError('NoSuchKey');
      return serveObject(request, reply, deps.backend, object);
    },
  });

  for (const url of ['/object/info/*', '/object/info/authenticated/*']) {
    app.get<Wild>(url, async (request) => {
      const caller = await authenticate(deps, request.headers);
      const { bucket, name } = splitPath(request.params['*']);
      const object = await asCaller(deps, caller, where(request), (tx) => findObject(tx, bucket, name));
      if (object === undefined) throw new StorageError('NoSuchKey');
      return {
        id: object.id,
        version: object.version,
        name: object.name,
        bucket_id: object.bucket_id,
        owner: object.owner,
        size: object.metadata.size,
        content_type: object.metadata.mimetype,
        cache_control: object.metadata.cacheControl,
        etag: object.metadata.eTag,
        last_modified: object.metadata.lastModified,
        created_at: object.created_at,
        updated_at: object.updated_at,
        metadata: object.user_metadata ?? {},
      };
    });
  }

  app.post<{ Params: { bucket: string } }>('/object/list/:bucket', async (request) => {
    const caller = await authenticate(deps, request.headers);
    const bucket = bucketId(request.params.bucket);
    const body = parseBody(listBody, request.body, 'body');
    const prefix = body.prefix.replace(/^\/+|\/+$/g, '');
    if (prefix !== '') objectName(prefix);
    return asCaller(deps, caller, where(request), (tx) =>
      listFolder(tx, bucket, {
        prefix,
        limit: body.limit,
        offset: body.offset,
        search: body.search,
        column: body.sortBy.column,
        order: body.sortBy.order,
      }),
    );
  });

  app.post<{ Params: { bucket: string } }>('/object/list-v2/:bucket', async (request) => {
    const caller = await authenticate(deps, request.headers);
    const bucket = bucketId(request.params.bucket);
    const body = parseBody(listV2Body, request.body, 'body');
    return asCaller(deps, caller, where(request), (tx) =>
      listV2(tx, bucket, {
        prefix: body.prefix,
        limit: body.limit,
        cursor: body.cursor,
        withDelimiter: body.with_delimiter,
        order: body.sortBy?.order ?? 'asc',
      }),
    );
  });

  app.post('/object/move', async (request) => {
    const caller = await authenticate(deps, request.headers);
    const body = parseBody(moveBody, request.body, 'body');
    const from = { bucket: bucketId(body.bucketId), name: objectName(body.sourceKey) };
    const to = { bucket: bucketId(body.destinationBucket ?? body.bucketId), name: objectName(body.destinationKey) };
    const moved = await asCaller(deps, caller, where(request), (tx) => moveObject(tx, from, to));
    if (!moved) throw new StorageError('NoSuchKey');
    return { message: 'Successfully moved' };
  });

  app.post('/object/copy', async (request) => {
    const caller = await authenticate(deps, request.headers);
    const body = parseBody(moveBody, request.body, 'body');
    const from = { bucket: bucketId(body.bucketId), name: objectName(body.sourceKey) };
    const to = { bucket: bucketId(body.destinationBucket ?? body.bucketId), name: objectName(body.destinationKey) };
    const source = await asCaller(deps, caller, where(request), (tx) => findObject(tx, from.bucket, from.name));
    if (source === undefined) throw new StorageError('NoSuchKey');
    // The copy's bytes first (under an upload key), then its row as the caller, then the rename.
    const version = randomUUID();
    await deps.bind();
    await deps.backend.put(uploadKey(version), await openBytes(deps.backend, source.version), {
      contentType: source.metadata.mimetype,
      size: Number(source.metadata.size),
    });
    let id: string | undefined;
    try {
      id = await asCaller(deps, caller, where(request), (tx) =>
        copyObject(tx, { ...from, version: source.version }, { ...to, version }),
      );
      if (id === undefined) throw new StorageError('NoSuchKey', 'The source object changed while it was copied');
    } catch (error) {
      await deps.backend.delete([uploadKey(version)]);
      throw error;
    }
    await finishCommit(deps, version);
    return { Id: id, Key: `${to.bucket}/${to.name}` };
  });

  // Bulk remove (storage-js remove(paths)) and a single object.
  app.delete<{ Params: { bucket: string } }>('/object/:bucket', async (request) => {
    const caller = await authenticate(deps, request.headers);
    const bucket = bucketId(request.params.bucket);
    const body = parseBody(removeBody, request.body, 'body');
    const names = body.prefixes.map((p) => objectName(p));
    const rows = await asCaller(deps, caller, where(request), (tx) => deleteObjects(tx, bucket, names));
    await deleteBytes(
      deps,
      rows.map((r) => r.version),
    );
    return rows.map(fileObject);
  });
  app.delete<Wild>('/object/*', async (request) => {
    const caller = await authenticate(deps, request.headers);
    const { bucket, name } = splitPath(request.params['*']);
    const rows = await asCaller(deps, caller, where(request), (tx) => deleteObjects(tx, bucket, [name]));
    if (rows.length === 0) throw new StorageError('NoSuchKey');
    await deleteBytes(
      deps,
      rows.map((r) => r.version),
    );
    return { message: 'Successfully deleted' };
  });

  // createSignedUrl: the caller must be able to read the object now.
  app.post<Wild>('/object/sign/*', async (request) => {
    const caller = await authenticate(deps, request.headers);
    const path = request.params['*'];
    if (!path.includes('/')) return signMany(request, bucketId(path));
    const { bucket, name } = splitPath(path);
    const body = parseBody(signBody, request.body, 'body');
    const object = await asCaller(deps, caller, where(request), (tx) => findObject(tx, bucket, name));
    if (object === undefined) throw new StorageError('NoSuchKey', NOT_FOUND_OR_DENIED);
    // A transform is signed into the token (the query of a signed URL cannot change it).
    const transform = body.transform ? parseBody(transformSchema, body.transform, 'body') : undefined;
    const hasTransform = transform !== undefined && Object.keys(transform).length > 0;
    const token = await signDownload(
      deps.signingKey,
      `${bucket}/${name}`,
      body.expiresIn,
      hasTransform ? JSON.stringify(transform) : undefined,
    );
    const route = hasTransform ? 'render/image/sign' : 'object/sign';
    return { signedURL: `/${route}/${bucket}/${name}?token=${token}` };

    async function signMany(req: FastifyRequest, bucketName: string) {
      const many = parseBody(signManyBody, req.body, 'body');
      const visible = await asCaller(deps, caller, where(req), async (tx) => {
        const { rows } = await tx.query<{ name: string }>(sql`
          select name from storage.objects where bucket_id = ${bucketName} and name = any(${many.paths}::text[])`);
        return new Set(rows.map((r) => r.name));
      });
      return Promise.all(
        many.paths.map(async (p) =>
          visible.has(p)
            ? {
                error: null,
                path: p,
                signedURL: `/object/sign/${bucketName}/${p}?token=${await signDownload(deps.signingKey, `${bucketName}/${p}`, many.expiresIn)}`,
              }
            : { error: NOT_FOUND_OR_DENIED, path: p, signedURL: null },
        ),
      );
    }
  });

  // createSignedUploadUrl: the caller must be allowed to insert the object now (checked by an
  // insert that is rolled back); the upload then runs as the server with the caller as owner.
  app.post<Wild & { Headers: { 'x-upsert'?: string } }>('/object/upload/sign/*', async (request) => {
    const caller = await authenticate(deps, request.headers);
    const { bucket, name } = splitPath(request.params['*']);
    const upsert = request.headers['x-upsert'] === 'true';
    if ((await findBucket(deps.db, bucket)) === undefined) throw new StorageError('NoSuchBucket');
    const owner = await asCaller(deps, caller, where(request), async (tx) => {
      await tx.query(sql`savepoint probe`);
      await tx.query(sql`
        insert into storage.objects (bucket_id, name, version, metadata)
        values (${bucket}, ${name}, gen_random_uuid(), '{}') on conflict (bucket_id, name) do nothing`);
      await tx.query(sql`rollback to savepoint probe`);
      const { rows } = await tx.query<{ id: string | null }>(sql`select app.current_user_id() as id`);
      return rows[0]?.id ?? null;
    });
    const token = await signUpload(deps.signingKey, `${bucket}/${name}`, owner, upsert);
    return { url: `/object/upload/sign/${bucket}/${name}?token=${token}`, token };
  });
}

/** An upload key's bytes to their object key, after the row committed (see upload.ts). */
export async function finishCommit(deps: StorageDeps, version: string): Promise<void> {
  try {
    await deps.backend.rename(uploadKey(version), objectKey(version));
  } catch (error) {
    deps.log.error({ err: error, version }, 'storage: could not finish a commit; the sweeper will');
  }
}
