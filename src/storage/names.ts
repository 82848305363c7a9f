import { StorageError } from './errors.js';

/**
 * Bucket ids and object names, checked at the door (and again by the database's CHECK
 * constraints): what reaches SQL or a backend key is always a valid name. Object names never
 * become file paths (the bytes live under <bucket>/<version>), so these rules keep names
 * portable and unsurprising rather than guarding the disk.
 */

const BUCKET_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** Control characters (C0, DEL and C1): refused in names, as in storage.is_valid_name(). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
export const MAX_NAME_BYTES = 1024;

export function bucketId(value: unknown): string {
  if (typeof value !== 'string' || !BUCKET_ID.test(value)) {
    throw new StorageError(
      'InvalidBucketName',
      `Bucket name invalid: ${JSON.stringify(String(value)).slice(0, 120)} (use letters, digits, ".", "_" and "-", at most 100)`,
    );
  }
  return value;
}

/** An object name: 1–1024 bytes, no empty, "." or ".." segment, no control characters. */
export function objectName(value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new StorageError('InvalidKey', 'The object name is missing');
  const shown = JSON.stringify(value.slice(0, 120));
  if (Buffer.byteLength(value) > MAX_NAME_BYTES) {
    throw new StorageError('InvalidKey', `Invalid key: the name is longer than ${MAX_NAME_BYTES} bytes`);
  }
  if (CONTROL.test(value)) throw new StorageError('InvalidKey', `Invalid key: ${shown} has control characters`);
  if (value.startsWith('/')) throw new StorageError('InvalidKey', `Invalid key: ${shown} starts with "/"`);
  const segments = value.split('/');
  if (segments.some((s) => s === '..' || s === '.')) {
    throw new StorageError('InvalidKey', `Invalid key: ${shown} has a "." or ".." segment`);
  }
  if (segments.some((s) => s === ''))
    throw new StorageError('InvalidKey', `Invalid key: ${shown} has an empty segment`);
  return value;
}

/** `bucket/name/…` from a route's wildcard: the bucket and the rest as the object name. */
export function splitPath(path: string | undefined): { bucket: string; name: string } {
  const text = path ?? '';
  const slash = text.indexOf('/');
  if (slash < 0) return { bucket: bucketId(text), name: objectName('') };
  return { bucket: bucketId(text.slice(0, slash)), name: objectName(text.slice(slash + 1)) };
}
