import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Queryable } from '../db/database.js';
import { sql } from '../db/sql.js';
import type { Logger } from '../log.js';
import { KEY_FOLDERS, objectKey, type StorageBackend, TMP_PREFIX } from './backend/types.js';

/**
 * Reclaims what interrupted operations leave in the backend (decision 0026), older than
 * `graceMs` so nothing in flight is touched:
 * - an upload key whose version has a row (the server stopped between commit and rename):
 *   renamed to its object key, finishing the upload;
 * - an upload key without a row (an upload or copy that failed or was cut off): removed;
 * - an object key without a row (a removal or replacement whose byte deletion failed): removed.
 * Keys are listed before the rows are read, and a row always commits before its bytes get
 * their object key, so a listed key whose row exists is never taken for an orphan.
 *
 * Only a backend bound to this database is swept (MARKER_KEY = storage.instance.id), so a
 * backend shared with or left by another database is left alone.
 */

export const MARKER_KEY = '.loconomy-storage';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface SweepResult {
  readonly finished: number;
  readonly removed: number;
  readonly skipped?: string;
}

/**
 * Binds the backend to the database on first use: the database's id is made if it has none
 * and written to the backend if it carries none. Returns whether they match.
 */
export async function bindBackend(db: Queryable, backend: StorageBackend): Promise<boolean> {
  const { rows } = await db.query<{ id: string }>(sql`
    update storage.instance set id = coalesce(id, ${randomUUID()}::uuid), bound_at = coalesce(bound_at, now())
    returning id::text`);
  const id = rows[0]?.id;
  if (id === undefined) return false;
  const marker = await readMarker(backend);
  if (marker === undefined) {
    await backend.put(MARKER_KEY, Readable.from([Buffer.from(id)]), { contentType: 'text/plain' });
    return true;
  }
  return marker === id;
}

async function readMarker(backend: StorageBackend): Promise<string | undefined> {
  const stream = await backend.get(MARKER_KEY);
  if (stream === undefined) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8').trim();
}

export async function sweepStorage(
  db: Queryable,
  backend: StorageBackend,
  graceMs: number,
  log: Logger,
): Promise<SweepResult> {
  const { rows } = await db.query<{ id: string | null }>(sql`select id::text from storage.instance`);
  const id = rows[0]?.id ?? null;
  const marker = await readMarker(backend);
  if (id === null || marker !== id) {
    const skipped =
      id === null ? 'no server has used storage on this database yet' : 'the backend belongs to another database';
    log.warn({ skipped }, 'storage sweep skipped');
    return { finished: 0, removed: 0, skipped };
  }
  const cutoff = Date.now() - graceMs;
  let finished = 0;
  let removed = 0;

  const uploads = await oldKeys(backend, TMP_PREFIX, cutoff);
  const committed = await existing(
    db,
    uploads.map((k) => k.slice(TMP_PREFIX.length)),
  );
  for (const key of uploads) {
    const version = key.slice(TMP_PREFIX.length);
    if (committed.has(version)) {
      await backend.rename(key, objectKey(version));
      finished++;
    } else {
      await backend.delete([key]);
      removed++;
    }
  }

  for (const folder of KEY_FOLDERS) {
    const keys = await oldKeys(backend, folder, cutoff);
    if (keys.length === 0) continue;
    const alive = await existing(
      db,
      keys.map((k) => k.slice(folder.length)),
    );
    const orphans = keys.filter((k) => !alive.has(k.slice(folder.length)));
    if (orphans.length > 0) {
      await backend.delete(orphans);
      removed += orphans.length;
    }
  }
  return { finished, removed };
}

async function oldKeys(backend: StorageBackend, prefix: string, cutoff: number): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of backend.list(prefix)) {
    // Only keys the server makes (a uuid); anything else someone put there is not ours to remove.
    if (entry.modified.getTime() <= cutoff && UUID.test(entry.key.slice(prefix.length))) keys.push(entry.key);
  }
  return keys;
}

async function existing(db: Queryable, versions: readonly string[]): Promise<Set<string>> {
  if (versions.length === 0) return new Set();
  const { rows } = await db.query<{ version: string }>(sql`
    select version::text from storage.objects where version = any(${versions}::uuid[])`);
  return new Set(rows.map((r) => r.version));
}
