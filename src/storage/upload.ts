import type { FastifyRequest } from 'fastify';
import type { Caller } from '../auth/caller.js';
import { objectKey } from './backend/types.js';
import { asCaller, type StorageDeps } from './context.js';
import { StorageError } from './errors.js';
import { findBucket, insertObject, type ObjectMetadata } from './objects-sql.js';
import { receiveUpload } from './receive.js';
import { sniffType } from './sniff.js';

export interface UploadTarget {
  readonly bucket: string;
  readonly name: string;
  readonly upsert: boolean;
  /** Signed uploads: the signer's users.id (the upload runs as service_role, the token decided). */
  readonly owner?: string | null;
}

/**
 * An upload, in the order that leaves nothing visible or kept when it fails (decision 0026):
 * the bytes to a temporary key (size limit enforced as they arrive), the type sniffed from
 * them and checked against the bucket, the row inserted as the caller (RLS decides) and
 * committed, then the bytes renamed to their key and a replaced version's bytes removed.
 */
export async function upload(
  deps: StorageDeps,
  request: FastifyRequest,
  caller: Caller,
  target: UploadTarget,
): Promise<{ Id: string; Key: string }> {
  const bucket = await findBucket(deps.db, target.bucket);
  if (bucket === undefined) throw new StorageError('NoSuchBucket');
  const bucketLimit = bucket.file_size_limit === null ? Number.POSITIVE_INFINITY : Number(bucket.file_size_limit);
  const limit = Math.min(bucketLimit, deps.config.storage.maxFileSize);
  const limitMessage =
    bucketLimit <= deps.config.storage.maxFileSize
      ? `The object exceeded the maximum allowed size: bucket ${bucket.id} takes at most ${limit} bytes`
      : `The object exceeded the maximum allowed size: at most ${limit} bytes (LOCONOMY_STORAGE_MAX_FILE_SIZE)`;
  await deps.bind();
  const received = await receiveUpload(request, deps.backend, limit, limitMessage);
  let committed: { id: string; old_version: string | null };
  try {
    const mimetype = await sniffType(received.head, received.declaredType, bucket.allowed_mime_types);
    const metadata: ObjectMetadata = {
      eTag: `"${received.md5}"`,
      size: received.size,
      mimetype,
      cacheControl: received.cacheControl,
      lastModified: new Date().toISOString(),
      contentLength: received.size,
      httpStatusCode: 200,
    };
    const object = {
      bucket: bucket.id,
      name: target.name,
      version: received.version,
      metadata,
      userMetadata: received.userMetadata,
      ...(target.owner !== undefined ? { owner: target.owner } : {}),
    };
    committed = await asCaller(deps, caller, { method: request.method, path: request.url }, (tx) =>
      insertObject(tx, object, target.upsert),
    );
  } catch (error) {
    await deps.backend.delete([received.key]);
    throw error;
  }
  try {
    await deps.backend.rename(received.key, objectKey(received.version));
    if (committed.old_version) await deps.backend.delete([objectKey(committed.old_version)]);
  } catch (error) {
    // The object is committed and readable from its upload key; the sweeper finishes the move.
    deps.log.error({ err: error, version: received.version }, 'storage: could not finish an upload; the sweeper will');
  }
  return { Id: committed.id, Key: `${bucket.id}/${target.name}` };
}
