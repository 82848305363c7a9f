/**
 * Job queue latency (issue 12, decision 0020): from the commit of a transaction that enqueues a
 * job (graphile_worker.add_job) to the start of the task in the worker, one job at a time so
 * nothing queues, on the embedded database (graphile-worker through the in-process pool adaptor,
 * woken by PGlite's own NOTIFY) and, when LOCONOMY_BENCH_DATABASE_URL is set, on PostgreSQL.
 * The ratio is against the enqueueing transaction alone, the raw SQL of the same step.
 *
 *   npm run bench -- jobs
 *   LOCONOMY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/loconomy_bench npm run bench -- jobs
 *
 * Settings: LOCONOMY_BENCH_JOBS (default 200 per backend, after 10 not counted).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/database.js';
import { fromTemplate } from '../src/db/open.js';
import { openPglite } from '../src/db/pglite.js';
import { openPostgres } from '../src/db/postgres.js';
import { prepareDatabase } from '../src/db/prepare.js';
import { addJob } from '../src/jobs/queue.js';
import { startJobs } from '../src/jobs/runner.js';
import { defineTask } from '../src/jobs/task.js';
import { silentLogger } from '../src/log.js';

const JOBS = Number(process.env.LOCONOMY_BENCH_JOBS ?? 200);
const WARMUP = 10;
const URL_ = process.env.LOCONOMY_BENCH_DATABASE_URL;
const log = silentLogger();

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
const ms = (n: number) => `${n.toFixed(1)} ms`;

async function measure(label: string, db: Database, databaseUrl?: string): Promise<void> {
  let started: ((at: number) => void) | undefined;
  const probe = defineTask({
    name: 'bench.probe',
    payload: z.object({}).passthrough(),
    run: async () => started?.(performance.now()),
  });
  const jobs = await startJobs({ db, databaseUrl, log, tasks: [probe], schedule: false, concurrency: 1 });
  const latency: number[] = [];
  const enqueue: number[] = [];
  try {
    for (let i = 0; i < JOBS + WARMUP; i++) {
      const ran = new Promise<number>((resolve) => {
        started = resolve;
      });
      const before = performance.now();
      await db.transaction((tx) => addJob(tx, 'bench.probe'));
      const committed = performance.now();
      const at = await ran;
      if (i >= WARMUP) {
        latency.push(at - committed);
        enqueue.push(committed - before);
      }
    }
  } finally {
    await jobs.stop();
  }
  latency.sort((a, b) => a - b);
  enqueue.sort((a, b) => a - b);
  const p50 = pct(latency, 0.5);
  const raw = pct(enqueue, 0.5);
  console.log(
    `${label}: commit→task start p50 ${ms(p50)}, p95 ${ms(pct(latency, 0.95))}, max ${ms(latency.at(-1) ?? 0)} ` +
      `(${JOBS} jobs); the enqueueing transaction alone (raw SQL) p50 ${ms(raw)}; ratio ${(p50 / raw).toFixed(1)}×`,
  );
}

const config = loadConfig();
const dataDir = await mkdtemp(join(tmpdir(), 'loconomy-bench-jobs-'));
try {
  const db = await openPglite({
    dataDir,
    searchPath: '"public", "extensions"',
    log,
    initialise: fromTemplate(config.cacheDir, log),
    cacheDir: config.cacheDir,
  });
  try {
    await prepareDatabase(db, { log });
    await measure('embedded (PGlite, pool adaptor, LISTEN in-process)', db);
  } finally {
    await db.close();
  }
} finally {
  await rm(dataDir, { recursive: true, force: true });
}

if (URL_) {
  const db = openPostgres({ url: URL_, searchPath: '"public", "extensions"', log });
  try {
    await prepareDatabase(db, { log });
    await measure('PostgreSQL (pg.Pool, LISTEN/NOTIFY)', db, URL_);
  } finally {
    await db.close();
  }
} else {
  console.log('PostgreSQL: skipped (set LOCONOMY_BENCH_DATABASE_URL)');
}
