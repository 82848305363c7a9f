import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { SupabaseClient } from '@supabase/supabase-js';
import S3rver from 's3rver';
import sharp from 'sharp';
import { sql } from '../../src/db/sql.js';
import { MARKER_KEY } from '../../src/storage/sweep.js';
import { createUser, type UserFixture } from '../helpers/fixtures.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer } from '../helpers/index.js';

/**
 * A storage test's world: a private database, a real server whose LOCONOMY_DATA_DIR is a
 * fresh directory (so every byte the local backend writes is under `storageDir`), and helpers
 * to say what was written: object rows and files on disk.
 */
export interface StorageHarness {
  readonly db: TestDatabase;
  readonly server: TestServer;
  readonly storageDir: string;
  /** A supabase-js client with the service_role key. */
  readonly service: SupabaseClient;
  /** The anon key, no user. */
  readonly anon: SupabaseClient;
  user(options?: { role?: string }): Promise<{ user: UserFixture; client: SupabaseClient }>;
  /** Every file the backend holds (relative paths), temporary ones included; not the database marker. */
  files(): Promise<string[]>;
  /** Names of the rows of a bucket in storage.objects. */
  names(bucket: string): Promise<string[]>;
  close(): Promise<void>;
}

export type BackendName = 'local' | 's3';

/** Both backends: storage tests run their supabase-js cases on each. */
export const BACKENDS: readonly BackendName[] = ['local', 's3'];

export async function storageHarness(
  env: Record<string, string> = {},
  backend: BackendName = 'local',
): Promise<StorageHarness> {
  const db = await getTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'loconomy-storage-'));
  const s3 = backend === 's3' ? await startS3(dataDir) : undefined;
  const server = await startTestServer(db, { LOCONOMY_DATA_DIR: dataDir, ...(s3?.env ?? {}), ...env });
  const storageDir = join(dataDir, 'storage');
  return {
    db,
    server,
    storageDir,
    service: server.client({ apikey: server.keys.service_role }),
    anon: server.client(),
    async user(options = {}) {
      const user = await createUser(db, options);
      return { user, client: server.client({ token: await server.tokenFor(user.clerkId) }) };
    },
    files: async () => (await (s3 ? s3.keys() : listFiles(storageDir))).filter((key) => key !== MARKER_KEY),
    async names(bucket) {
      const { rows } = await db.query<{ name: string }>(
        sql`select name from storage.objects where bucket_id = ${bucket} order by name`,
      );
      return rows.map((r) => r.name);
    },
    async close() {
      await server.close();
      await s3?.close();
      await db.dispose();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * s3rver (an S3-compatible server from npm) in this process, on a random port, with one bucket;
 * the settings that point Loconomy at it; and every key it holds.
 */
async function startS3(dataDir: string) {
  // The SDK warns once per process that later releases need Node 22; not news in a test.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const bucket = 'loconomy-test';
  const s3rver = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: join(dataDir, 's3rver'),
    configureBuckets: [{ name: bucket }],
  });
  const { port } = (await s3rver.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  return {
    env: {
      LOCONOMY_STORAGE_BACKEND: 's3',
      LOCONOMY_STORAGE_S3_BUCKET: bucket,
      LOCONOMY_STORAGE_S3_ENDPOINT: endpoint,
      LOCONOMY_STORAGE_S3_ACCESS_KEY_ID: 'S3RVER',
      LOCONOMY_STORAGE_S3_SECRET_ACCESS_KEY: 'S3RVER',
      LOCONOMY_STORAGE_S3_FORCE_PATH_STYLE: 'true',
    },
    async keys(): Promise<string[]> {
      const keys: string[] = [];
      let ContinuationToken: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken }));
        for (const item of page.Contents ?? []) if (item.Key) keys.push(item.Key);
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
      return keys.sort();
    },
    async close() {
      client.destroy();
      await s3rver.close();
    },
  };
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const entry of entries) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) found.push(...(await listFiles(join(dir, entry.name), path)));
    else found.push(path);
  }
  return found.sort();
}

/** A small real image. */
export function image(format: 'png' | 'jpeg' | 'webp', width = 16, height = 12): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .toFormat(format)
    .toBuffer();
}

/** A minimal PDF's bytes (file-type recognises the %PDF- signature). */
export const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
