import { z } from 'zod';
import type { Database } from '../src/db/database.js';
import { addJob } from '../src/jobs/queue.js';
import { startJobs } from '../src/jobs/runner.js';
import { defineTask } from '../src/jobs/task.js';
import { silentLogger } from '../src/log.js';
import { onBothBackends } from './backends.js';

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

await onBothBackends(
  {
    name: 'jobs',
    url: URL_,
    log,
    labels: {
      pglite: 'embedded (PGlite, pool adaptor, LISTEN in-process)',
      postgres: 'PostgreSQL (pg.Pool, LISTEN/NOTIFY)',
    },
  },
  measure,
);
