/**
 * Storage (issue 15): upload and download throughput of a 10 MB object and requests per second
 * for 50 KB objects through supabase-js against a Loconomy server on the embedded database and
 * the local disk, beside the same bytes written (with fsync, as the disk backend does) and read
 * directly on the same disk in the same run; and the latency of a 2000×1500 JPEG resized to
 * 400 px through /render/image beside sharp on the same bytes in this process.
 *
 * LOCONOMY_BENCH_STORAGE_ROUNDS (default 5) 10 MB rounds, LOCONOMY_BENCH_STORAGE_SMALL (default
 * 200) 50 KB objects at LOCONOMY_BENCH_STORAGE_CONCURRENCY (default 8) in flight.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@supabase/supabase-js';
import sharp from 'sharp';
import ws from 'ws';
import { projectKeys } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import { fromTemplate } from '../src/db/open.js';
import { openPglite } from '../src/db/pglite.js';
import { prepareDatabase } from '../src/db/prepare.js';
import { silentLogger } from '../src/log.js';
import { buildServer } from '../src/server.js';

const ROUNDS = Number(process.env.LOCONOMY_BENCH_STORAGE_ROUNDS ?? 5);
const SMALL = Number(process.env.LOCONOMY_BENCH_STORAGE_SMALL ?? 200);
const CONCURRENCY = Number(process.env.LOCONOMY_BENCH_STORAGE_CONCURRENCY ?? 8);
const TRANSFORMS = 20;
const BIG = 10 * 1024 * 1024;
const SMALL_BYTES = 50 * 1024;
const log = silentLogger();

const mbps = (bytes: number, ms: number) => bytes / (1024 * 1024) / (ms / 1000);
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Runs `n` tasks with `concurrency` in flight; the elapsed milliseconds. */
async function pooled(n: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  return timed(() =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) await task(next++);
      }),
    ),
  );
}

/** What the disk backend does for a write: the bytes, then fsync. */
async function writeDirect(path: string, bytes: Buffer): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const dataDir = await mkdtemp(join(tmpdir(), 'loconomy-bench-storage-'));
const direct = join(dataDir, 'direct');
await mkdir(direct, { recursive: true });
const jwtSecret = randomBytes(32).toString('hex');
const config = loadConfig({ ...process.env, LOCONOMY_DATA_DIR: dataDir, LOCONOMY_STORAGE_MAX_FILE_SIZE: String(BIG) });
const db = await openPglite({
  dataDir,
  searchPath: '"public", "extensions"',
  log,
  initialise: fromTemplate(config.cacheDir, log),
  cacheDir: config.cacheDir,
});
try {
  await prepareDatabase(db, { log });
  const app = await buildServer({ db, config, log, jwtSecret });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const keys = await projectKeys(jwtSecret);
  const supabase = createClient(url, keys.service_role, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: ws as never },
  });
  await supabase.storage.createBucket('bench', { public: false });
  const files = supabase.storage.from('bench');
  console.log(`storage bench: embedded database, local disk (${dataDir}), node ${process.version}`);

  // 10 MB, one at a time.
  const big = randomBytes(BIG);
  const up: number[] = [];
  const upDirect: number[] = [];
  const down: number[] = [];
  const downDirect: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    up.push(
      await timed(async () => {
        const { error } = await files.upload(`big-${r}.bin`, big, { contentType: 'application/octet-stream' });
        if (error) throw error;
      }),
    );
    upDirect.push(await timed(() => writeDirect(join(direct, `big-${r}.bin`), big)));
    down.push(
      await timed(async () => {
        const { data, error } = await files.download(`big-${r}.bin`);
        if (error) throw error;
        await data.arrayBuffer();
      }),
    );
    downDirect.push(await timed(() => readFile(join(direct, `big-${r}.bin`))));
  }
  const med = (xs: number[]) =>
    pct(
      [...xs].sort((a, b) => a - b),
      0.5,
    );
  const row = (label: string, api: number, raw: number, unit: string) =>
    console.log(
      `${label.padEnd(34)} ${api.toFixed(1).padStart(8)} ${unit}   direct ${raw.toFixed(1).padStart(8)} ${unit}   ratio ${(api / raw).toFixed(2)}×`,
    );
  row('upload 10 MB (median)', mbps(BIG, med(up)), mbps(BIG, med(upDirect)), 'MB/s');
  row('download 10 MB (median)', mbps(BIG, med(down)), mbps(BIG, med(downDirect)), 'MB/s');

  // 50 KB objects, CONCURRENCY in flight.
  const small = randomBytes(SMALL_BYTES);
  const names = Array.from({ length: SMALL }, () => randomUUID());
  const smallUp = await pooled(SMALL, CONCURRENCY, async (i) => {
    const { error } = await files.upload(`small/${names[i]}.bin`, small, { contentType: 'application/octet-stream' });
    if (error) throw error;
  });
  const smallUpDirect = await pooled(SMALL, CONCURRENCY, (i) => writeDirect(join(direct, `${names[i]}.bin`), small));
  const smallDown = await pooled(SMALL, CONCURRENCY, async (i) => {
    const { data, error } = await files.download(`small/${names[i]}.bin`);
    if (error) throw error;
    await data.arrayBuffer();
  });
  const smallDownDirect = await pooled(SMALL, CONCURRENCY, (i) => readFile(join(direct, `${names[i]}.bin`)));
  const rps = (ms: number) => SMALL / (ms / 1000);
  row(`upload 50 KB × ${SMALL} (${CONCURRENCY} at once)`, rps(smallUp), rps(smallUpDirect), 'req/s');
  row(`download 50 KB × ${SMALL} (${CONCURRENCY} at once)`, rps(smallDown), rps(smallDownDirect), 'req/s');

  // Transform: a 2000×1500 JPEG to 400 px wide.
  const photo = await sharp({
    create: { width: 2000, height: 1500, channels: 3, background: { r: 90, g: 140, b: 200 } },
  })
    .composite([
      { input: randomBytes(500 * 500 * 3), raw: { width: 500, height: 500, channels: 3 }, top: 500, left: 700 },
    ])
    .jpeg({ quality: 85 })
    .toBuffer();
  await files.upload('photo.jpg', photo, { contentType: 'image/jpeg' });
  const api: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < TRANSFORMS; i++) {
    api.push(
      await timed(async () => {
        const { data, error } = await files.download('photo.jpg', { transform: { width: 400 } });
        if (error) throw error;
        await data.arrayBuffer();
      }),
    );
    raw.push(await timed(() => sharp(photo).rotate().resize({ width: 400 }).jpeg({ quality: 80 }).toBuffer()));
  }
  const sortedApi = [...api].sort((a, b) => a - b);
  const sortedRaw = [...raw].sort((a, b) => a - b);
  console.log(
    `transform 2000×1500 JPEG → 400 px   p50 ${pct(sortedApi, 0.5).toFixed(1)} ms, p95 ${pct(sortedApi, 0.95).toFixed(1)} ms` +
      `   sharp alone p50 ${pct(sortedRaw, 0.5).toFixed(1)} ms   ratio ${(pct(sortedApi, 0.5) / pct(sortedRaw, 0.5)).toFixed(2)}×` +
      `   (${(photo.length / 1024).toFixed(0)} KB source)`,
  );
  await app.close();
} finally {
  await db.close();
  await rm(dataDir, { recursive: true, force: true });
}
