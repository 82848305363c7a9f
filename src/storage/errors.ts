import type { FastifyReply } from 'fastify';
import { isApiError } from '../errors.js';
import { isDatabaseError } from '../rest/errors.js';

/**
 * Storage's errors, as Supabase Storage shapes them: `{ statusCode, error, message }` with the
 * HTTP status as a string in statusCode, so storage-js's StorageApiError carries the status,
 * the code and the message. One table, as src/errors.ts keeps the REST API's.
 */
export const STORAGE_ERRORS = {
  InvalidRequest: { status: 400, message: 'The request is not valid' },
  InvalidKey: { status: 400, message: 'The object name is not valid' },
  InvalidBucketName: { status: 400, message: 'The bucket name is not valid' },
  InvalidJWT: { status: 400, message: 'The token is not valid' },
  Unauthorized: { status: 403, message: 'The policies do not allow this' },
  AccessDenied: { status: 401, message: 'This needs the service_role key' },
  NoSuchBucket: { status: 404, message: 'Bucket not found' },
  NoSuchKey: { status: 404, message: 'Object not found' },
  KeyAlreadyExists: { status: 409, message: 'The resource already exists' },
  BucketAlreadyExists: { status: 409, message: 'The resource already exists' },
  BucketNotEmpty: { status: 409, message: 'The bucket you tried to delete is not empty' },
  EntityTooLarge: { status: 413, message: 'The object exceeded the maximum allowed size' },
  InvalidMimeType: { status: 415, message: 'The content type is not allowed' },
  InvalidRange: { status: 416, message: 'The requested range cannot be satisfied' },
  DatabaseUnavailable: { status: 503, message: 'The database cannot be reached' },
  InternalError: { status: 500, message: 'Something went wrong on the server' },
} as const satisfies Record<string, { status: number; message: string }>;

export type StorageErrorCode = keyof typeof STORAGE_ERRORS;

export class StorageError extends Error {
  readonly status: number;
  readonly code: StorageErrorCode | string;

  constructor(code: StorageErrorCode, message?: string, status?: number) {
    super(message ?? STORAGE_ERRORS[code].message);
    this.name = 'StorageError';
    this.code = code;
    this.status = status ?? STORAGE_ERRORS[code].status;
  }

  toJSON() {
    return { statusCode: String(this.status), error: this.code, message: this.message };
  }
}

export function isStorageError(error: unknown): error is StorageError {
  return error instanceof StorageError;
}

/**
 * Anything thrown while serving a storage request, as a StorageError: credentials (ApiError),
 * PostgreSQL (an RLS refusal is 403 as Supabase answers it; a unique name 409), Fastify's own.
 */
export function toStorageError(error: unknown): StorageError | undefined {
  if (isStorageError(error)) return error;
  if (isApiError(error)) {
    const code = error.status === 401 || error.status === 403 ? 'InvalidJWT' : 'InvalidRequest';
    const failure = new StorageError(code, error.message, error.status);
    return failure;
  }
  if (isDatabaseError(error)) {
    const state = error.code;
    const message = error.message;
    if (state === '42501') return new StorageError('Unauthorized', message);
    if (state === '23505') return new StorageError('KeyAlreadyExists', 'The resource already exists');
    if (state === '23514' || state === '22P02' || state === '23502') return new StorageError('InvalidRequest', message);
    if (state === '23503') return new StorageError('NoSuchBucket');
    return undefined;
  }
  const code = (error as { code?: string }).code;
  if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return new StorageError('InvalidRequest', 'The request body is not valid JSON');
  }
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new StorageError('EntityTooLarge', 'The request body is too large');
  const status = (error as { statusCode?: number }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new StorageError('InvalidRequest', (error as Error).message, status);
  }
  return undefined;
}

export function sendStorageError(reply: FastifyReply, error: StorageError) {
  return reply
    .status(error.status)
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify(error.toJSON()));
}
