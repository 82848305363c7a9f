import type { Database } from '../db/database.js';
import { openDatabase } from '../db/open.js';
import { prepareDatabase } from '../db/prepare.js';
import type { Jobs } from '../jobs/runner.js';
import { step } from '../log.js';
import { commandContext } from './context.js';

export interface WorkerOptions {
  concurrency?: number;
}

/**
 * `loconomy worker`: runs the background jobs and the schedule without the HTTP API, so worker
 * processes scale apart from web ones (then `serve --no-jobs`). Migrates first, as `serve` does.
 * SIGINT/SIGTERM stop taking jobs, let the running ones finish (or release them for a retry
 * after graphile-worker's grace period), close the database and exit 0.
 */
export async function worker(options: WorkerOptions): Promise<void> {
  const { config, log } = commandContext();
  let db: Database | undefined;
  let jobs: Jobs | undefined;
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    void (async () => {
      try {
        await jobs?.stop();
        await db?.close();
        log.info('stopped');
      } finally {
        process.exit(jobs ? 0 : signal === 'SIGINT' ? 130 : 143);
      }
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  db = await step(log, 'open database', () => openDatabase(config, log));
  try {
    await prepareDatabase(db, { log, migrate: config.migrateOnStart });
    const { startConfiguredJobs } = await import('../jobs/start.js');
    jobs = await startConfiguredJobs(db, config, log, options);
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
  log.info({ database: db.kind }, 'Loconomy worker ready');
}
