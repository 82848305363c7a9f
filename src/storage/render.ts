import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import sharp from 'sharp';
import { z } from 'zod';
import { anonCaller, asCaller, authenticate, type StorageDeps } from './context.js';
import { StorageError } from './errors.js';
import { splitPath } from './names.js';
import { findBucket, findObject, type ObjectRow } from './objects-sql.js';
import { openBytes } from './serve.js';
import { verifyDownload } from './signing.js';
import { parseBody } from './validate.js';

/**
 * Image transforms, as storage-js asks for them (`download(path, { transform })`,
 * `getPublicUrl(path, { transform })`, `createSignedUrl(path, s, { transform })`):
 * `/render/image/{authenticated,public,sign}/<bucket>/<name>?width&height&resize&quality&format`,
 * through sharp. The same access rules as the object routes; a signed URL's transform is the
 * one in its token, not the query's.
 */

/** Largest width or height asked for, as Supabase's limit. */
export const MAX_DIMENSION = 2500;
/** Images sharp may decode: a guard against decompression bombs (about 50 megapixels). */
const MAX_INPUT_PIXELS = 50_000_000;

const TRANSFORMABLE = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/avif', 'image/gif', 'image/tiff']);

export const transformSchema = z.object({
  width: z.coerce.number().int().min(1).max(MAX_DIMENSION).optional(),
  height: z.coerce.number().int().min(1).max(MAX_DIMENSION).optional(),
  resize: z.enum(['cover', 'contain', 'fill']).optional(),
  quality: z.coerce.number().int().min(20).max(100).optional(),
  format: z.enum(['origin', 'webp', 'avif', 'jpeg', 'png']).optional(),
});

export type Transform = z.output<typeof transformSchema>;

/** The transform options of a query string (only the transform's own keys). */
export function transformOf(query: unknown): Transform {
  const q = (query ?? {}) as Record<string, unknown>;
  const picked = Object.fromEntries(
    ['width', 'height', 'resize', 'quality', 'format'].filter((k) => q[k] !== undefined).map((k) => [k, q[k]]),
  );
  return parseBody(transformSchema, picked, 'query');
}

type Wild = { Params: { '*': string } };

export async function renderRoutes(app: FastifyInstance, deps: StorageDeps): Promise<void> {
  const where = (request: FastifyRequest) => ({ method: request.method, path: request.url });

  app.get<Wild>('/render/image/authenticated/*', async (request, reply) => {
    const caller = await authenticate(deps, request.headers);
    const { bucket, name } = splitPath(request.params['*']);
    const transform = transformOf(request.query);
    const object = await asCaller(deps, caller, where(request), (tx) => findObject(tx, bucket, name));
    if (object === undefined) throw new StorageError('NoSuchKey');
    return sendTransformed(deps, request, reply, object, transform);
  });

  app.get<Wild>('/render/image/public/*', async (request, reply) => {
    const { bucket, name } = splitPath(request.params['*']);
    const transform = transformOf(request.query);
    const row = await findBucket(deps.db, bucket);
    if (row === undefined || !row.public) throw new StorageError('NoSuchBucket');
    const object = await asCaller(deps, anonCaller(deps), where(request), (tx) => findObject(tx, bucket, name));
    if (object === undefined) throw new StorageError('NoSuchKey');
    return sendTransformed(deps, request, reply, object, transform);
  });

  app.get<Wild & { Querystring: { token?: string } }>('/render/image/sign/*', async (request, reply) => {
    const { bucket, name } = splitPath(request.params['*']);
    const claims = await verifyDownload(deps.signingKey, request.query.token, `${bucket}/${name}`);
    const transform = parseBody(transformSchema, JSON.parse(claims.transform ?? '{}'), 'query');
    const object = await findObject(deps.db, bucket, name);
    if (object === undefined) throw new StorageError('NoSuchKey');
    return sendTransformed(deps, request, reply, object, transform);
  });
}

async function sendTransformed(
  deps: StorageDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  object: ObjectRow,
  transform: Transform,
): Promise<FastifyReply> {
  const source = object.metadata.mimetype.split(';')[0]?.trim() ?? '';
  if (!TRANSFORMABLE.has(source)) {
    throw new StorageError('InvalidRequest', `Only images can be transformed; this object is ${source}`);
  }
  const input = await readAll(await openBytes(deps.backend, object.version));
  const format = outputFormat(transform.format, source, request.headers.accept);
  let output: { data: Buffer; info: { format: string } };
  try {
    let image = sharp(input, { limitInputPixels: MAX_INPUT_PIXELS }).rotate();
    if (transform.width || transform.height) {
      image = image.resize({
        width: transform.width,
        height: transform.height,
        // Supabase's (imgproxy's) modes: cover crops to the box, contain fits inside it, fill stretches.
        fit: transform.resize === 'fill' ? 'fill' : transform.resize === 'contain' ? 'inside' : 'cover',
      });
    }
    const quality = transform.quality ?? 80;
    image = format === 'png' ? image.png() : image.toFormat(format, { quality });
    output = await image.toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new StorageError('InvalidRequest', `The image could not be transformed: ${(error as Error).message}`);
  }
  reply.header('content-type', `image/${output.info.format === 'heif' ? 'avif' : output.info.format}`);
  reply.header('cache-control', object.metadata.cacheControl || 'no-cache');
  reply.header('content-length', String(output.data.length));
  const download = (request.query as Record<string, unknown>).download;
  if (typeof download === 'string') {
    const filename = download !== '' ? download : (object.name.split('/').pop() ?? object.name);
    reply.header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(filename)}`);
  }
  return reply.send(output.data);
}

/**
 * The output format: the one asked for; `origin` (or none, for a client that does not accept
 * WebP) keeps the source's; none for a client that accepts WebP gives WebP, as Supabase does.
 */
function outputFormat(
  asked: Transform['format'],
  source: string,
  accept: string | undefined,
): 'jpeg' | 'png' | 'webp' | 'avif' | 'gif' | 'tiff' {
  if (asked && asked !== 'origin') return asked;
  if (asked === undefined && (accept ?? '').includes('image/webp')) return 'webp';
  return source.slice('image/'.length) as 'jpeg' | 'png' | 'webp' | 'avif' | 'gif' | 'tiff';
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
