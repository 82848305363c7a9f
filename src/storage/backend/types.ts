import type { Readable } from 'node:stream';

/**
 * Where the bytes of stored objects live. Keys are `<first two hex digits>/<version>` for
 * committed objects and `.tmp/<version>` while an upload is arriving (decision 0026): neither
 * the bucket nor the name reaches a backend, so a key is always plain, and moving an object
 * (even to another bucket) is a change of its row alone. The disk (disk.ts) and S3 (s3.ts)
 * implement it.
 */
export interface StorageBackend {
  /** file_uploads.storage_provider for objects stored here. */
  readonly provider: 'local' | 's3';
  /** Writes the stream under `key`; resolves once the bytes are durable. Rejects (and keeps nothing) when the stream fails. */
  put(key: string, body: Readable, info: { contentType: string; size?: number }): Promise<void>;
  /** The bytes of `key` (or a range of them, inclusive end); undefined when there is no such key. */
  get(key: string, range?: ByteRange): Promise<Readable | undefined>;
  /** The size of `key`, or undefined when there is none. */
  head(key: string): Promise<{ size: number } | undefined>;
  /** Moves `from` to `to` (the commit of an upload). */
  rename(from: string, to: string): Promise<void>;
  copy(from: string, to: string): Promise<void>;
  /** Removes the keys; missing ones are no error. */
  delete(keys: readonly string[]): Promise<void>;
  /** Every key directly under `prefix` (`.tmp/`, `3f/`) with its last change, for the sweeper. */
  list(prefix: string): AsyncIterable<{ key: string; modified: Date }>;
}

export interface ByteRange {
  readonly start: number;
  /** Inclusive. */
  readonly end: number;
}

/** The key of an object's committed bytes: spread over 256 folders by the version's first byte. */
export function objectKey(version: string): string {
  return `${version.slice(0, 2)}/${version}`;
}

/** The 256 folders committed keys are spread over (objectKey), for the sweeper. */
export const KEY_FOLDERS: readonly string[] = Array.from(
  { length: 256 },
  (_, i) => `${i.toString(16).padStart(2, '0')}/`,
);

/** The key an upload is written to before its metadata commits. */
export function uploadKey(version: string): string {
  return `${TMP_PREFIX}${version}`;
}

export const TMP_PREFIX = '.tmp/';
