import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type ByteRange, objectKey, type StorageBackend, uploadKey } from './backend/types.js';
import { StorageError } from './errors.js';
import type { ObjectRow } from './objects-sql.js';

/**
 * Sends an object's bytes (GET) or only its headers (HEAD), with its type, size, ETag,
 * Last-Modified and Cache-Control, a single byte range (`Range: bytes=…`, 206), If-None-Match
 * (304), and `?download[=name]` as Content-Disposition: attachment.
 */
export async function serveObject(
  request: FastifyRequest,
  reply: FastifyReply,
  backend: StorageBackend,
  object: ObjectRow,
): Promise<FastifyReply> {
  const meta = object.metadata;
  const size = Number(meta.size ?? 0);
  reply.header('content-type', meta.mimetype || 'application/octet-stream');
  reply.header('etag', meta.eTag);
  reply.header('cache-control', meta.cacheControl || 'no-cache');
  reply.header('accept-ranges', 'bytes');
  if (meta.lastModified) reply.header('last-modified', new Date(meta.lastModified).toUTCString());
  const download = (request.query as Record<string, unknown>).download;
  if (typeof download === 'string') {
    const filename = download !== '' ? download : (object.name.split('/').pop() ?? object.name);
    reply.header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(filename)}`);
  }
  if (request.headers['if-none-match'] === meta.eTag) return reply.status(304).send();
  const range = parseRange(request.headers.range, size);
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${size}`);
    throw new StorageError('InvalidRange');
  }
  const length = range ? range.end - range.start + 1 : size;
  reply.header('content-length', String(length));
  if (range) {
    reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`);
  }
  if (request.method === 'HEAD') return reply.send();
  if (length === 0) return reply.send('');
  const stream = await openBytes(backend, object.version, range);
  return reply.send(stream);
}

/**
 * The object's bytes: under its key, or, in the moment between an upload's commit and its
 * rename (or after a crash there, until the sweeper finishes it), still under the upload key.
 */
export async function openBytes(backend: StorageBackend, version: string, range?: ByteRange): Promise<Readable> {
  const stream = (await backend.get(objectKey(version), range)) ?? (await backend.get(uploadKey(version), range));
  if (stream === undefined) throw new StorageError('NoSuchKey', 'Object not found (its bytes are missing)');
  return stream;
}

/** One range of `Range: bytes=a-b | a- | -n`; undefined for none or a form we do not serve (then all bytes). */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined | 'unsatisfiable' {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const n = Number(last);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
