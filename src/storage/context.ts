import type { IncomingHttpHeaders } from 'node:http';
import type { Authenticator, Caller } from '../auth/caller.js';
import type { Config } from '../config.js';
import type { Database, Transaction } from '../db/database.js';
import { DatabaseUnavailableError } from '../db/database.js';
import type { Logger } from '../log.js';
import type { StorageBackend } from './backend/types.js';
import { StorageError, toStorageError } from './errors.js';

/** What every storage route is given. */
export interface StorageDeps {
  readonly db: Database;
  readonly config: Config;
  readonly authenticator: Authenticator;
  readonly backend: StorageBackend;
  /** Signs and verifies signed URLs (signing.ts). */
  readonly signingKey: Uint8Array;
  readonly log: Logger;
  /** Binds the backend to this database before its first write (sweep.ts); once per process. */
  readonly bind: () => Promise<void>;
}

/**
 * Runs `fn` in one transaction as the caller: the role, the JWT claims and the request line,
 * through the same Database.asRole the REST layer uses (src/db/context.ts), so storage's SQL
 * is decided by the same RLS policies. `storage.provider` tells the file_uploads trigger
 * which backend holds the bytes.
 */
export async function asCaller<T>(
  deps: StorageDeps,
  caller: Caller,
  request: { method: string; path: string },
  fn: (tx: Transaction) => Promise<T>,
): Promise<T> {
  try {
    return await deps.db.asRole(caller.role, caller.claims, fn, {
      method: request.method,
      path: request.path,
      settings: { 'storage.provider': deps.backend.provider },
    });
  } catch (error) {
    if (error instanceof DatabaseUnavailableError) throw new StorageError('DatabaseUnavailable', error.message);
    throw toStorageError(error) ?? error;
  }
}

/** The caller of a request (the anon role when it sends no credentials). */
export function authenticate(deps: StorageDeps, headers: IncomingHttpHeaders): Promise<Caller> {
  return deps.authenticator.authenticate(headers);
}

/** The anonymous caller, for public URLs (whatever credentials came with them). */
export function anonCaller(deps: StorageDeps): Caller {
  return { role: deps.config.db.anonRole, claims: { role: deps.config.db.anonRole } };
}

/** Bucket management is service_role's, as on Supabase. */
export function requireServiceRole(caller: Caller): void {
  if (caller.role !== 'service_role') {
    throw new StorageError('Unauthorized', 'Only the service_role key may create, change, empty or delete buckets');
  }
}
