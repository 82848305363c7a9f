import { createHash, randomUUID } from 'node:crypto';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { type StorageBackend, uploadKey } from './backend/types.js';
import { StorageError } from './errors.js';
import { SNIFF_BYTES } from './sniff.js';

/**
 * An upload's body, as storage-js sends it — the raw bytes with Content-Type, Cache-Control and
 * x-metadata headers, or a multipart form (cacheControl, metadata, then the file) — written to
 * the backend under a temporary key while its size, MD5 and first bytes are taken. Over the
 * limit, the rest of the body is read and dropped (so the client gets the 413 rather than a
 * broken connection) and the temporary bytes are removed: nothing is kept.
 */
export interface Received {
  /** The temporary key the bytes are under (backend/types.ts uploadKey). */
  readonly key: string;
  readonly version: string;
  readonly size: number;
  /** MD5 of the bytes, hex: the ETag, as S3 and Supabase give it for a simple upload. */
  readonly md5: string;
  readonly head: Buffer;
  readonly declaredType: string | undefined;
  readonly cacheControl: string;
  readonly userMetadata: Record<string, unknown> | null;
}

export async function receiveUpload(
  request: FastifyRequest,
  backend: StorageBackend,
  limit: number,
  limitMessage: string,
): Promise<Received> {
  const version = randomUUID();
  const key = uploadKey(version);
  let source: Readable;
  let declaredType: string | undefined;
  let cacheControl: string | undefined;
  let metadataText: string | undefined;
  if (request.isMultipart()) {
    const form = await readForm(request);
    source = form.file;
    declaredType = form.type;
    cacheControl = form.fields.cacheControl;
    metadataText = form.fields.metadata;
  } else {
    source = (request.body as Readable | undefined) ?? request.raw;
    declaredType = header(request, 'content-type');
    cacheControl = header(request, 'cache-control');
    const encoded = header(request, 'x-metadata');
    metadataText = encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
  }
  // Checked before any byte is written, so a bad header keeps nothing.
  const cache = normaliseCacheControl(cacheControl);
  const userMetadata = parseUserMetadata(metadataText);
  const meter = new Meter(limit);
  try {
    await backend.put(key, source.pipe(meter), { contentType: declaredType ?? 'application/octet-stream' });
  } catch (error) {
    await backend.delete([key]).catch(() => {});
    throw error;
  }
  if (meter.over) {
    await backend.delete([key]);
    throw new StorageError('EntityTooLarge', limitMessage);
  }
  return {
    key,
    version,
    size: meter.size,
    md5: meter.md5(),
    head: meter.head(),
    declaredType,
    cacheControl: cache,
    userMetadata,
  };
}

/** Counts, hashes and keeps the first bytes; past the limit it drops everything. */
class Meter extends Transform {
  size = 0;
  over = false;
  private readonly hash = createHash('md5');
  private readonly first: Buffer[] = [];
  private firstBytes = 0;

  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.over || this.size > this.limit) {
      this.over = true;
      done();
      return;
    }
    this.hash.update(chunk);
    if (this.firstBytes < SNIFF_BYTES) {
      this.first.push(chunk);
      this.firstBytes += chunk.length;
    }
    done(null, chunk);
  }

  md5(): string {
    return this.hash.digest('hex');
  }

  head(): Buffer {
    return Buffer.concat(this.first).subarray(0, SNIFF_BYTES);
  }
}

interface Form {
  readonly file: Readable;
  readonly type: string | undefined;
  readonly fields: { cacheControl?: string; metadata?: string };
}

/** The form's fields up to its first file, and that file's stream (later parts are not read). */
async function readForm(request: FastifyRequest): Promise<Form> {
  const fields: { cacheControl?: string; metadata?: string } = {};
  for await (const part of request.parts()) {
    if (part.type === 'file') return { file: part.file, type: part.mimetype, fields };
    if (part.fieldname === 'cacheControl' || part.fieldname === 'metadata') {
      fields[part.fieldname] = String(part.value);
    }
  }
  throw new StorageError('InvalidRequest', 'The form has no file');
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** storage-js sends `3600` in a form and `max-age=3600` as a header; kept as `max-age=N`. */
function normaliseCacheControl(value: string | undefined): string {
  if (value === undefined || value.trim() === '') return 'max-age=3600';
  const text = value.trim();
  if (/^\d+$/.test(text)) return `max-age=${text}`;
  if (text.length > 200) throw new StorageError('InvalidRequest', 'Cache-Control is too long');
  return text;
}

function parseUserMetadata(text: string | undefined): Record<string, unknown> | null {
  if (text === undefined || text === '') return null;
  if (text.length > 64 * 1024) throw new StorageError('InvalidRequest', 'The metadata is larger than 64 KiB');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StorageError('InvalidRequest', 'The metadata is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StorageError('InvalidRequest', 'The metadata must be a JSON object');
  }
  return value as Record<string, unknown>;
}
