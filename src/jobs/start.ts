import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../log.js';
import { type Jobs, startJobs } from './runner.js';

/** Starts the jobs of a `serve` or `worker` process with the configured settings. */
export function startConfiguredJobs(
  db: Database,
  config: Config,
  log: Logger,
  overrides: { concurrency?: number } = {},
): Promise<Jobs> {
  return startJobs({
    db,
    databaseUrl: config.databaseUrl,
    log,
    concurrency: overrides.concurrency ?? config.jobs.concurrency,
    pollInterval: config.jobs.pollIntervalMs,
    recoverAfterMs: config.jobs.recoverAfterMs,
  });
}
