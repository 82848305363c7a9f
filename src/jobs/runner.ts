import { EventEmitter } from 'node:events';
import type { CronItem, Job, Runner, Task, TaskList, WorkerEvents } from 'graphile-worker';
import type { Pool } from 'pg';
import pg from 'pg';
import type { Database } from '../db/database.js';
import type { PgliteDatabase } from '../db/pglite.js';
import { oneLine } from '../errors.js';
import { type Logger, round, step } from '../log.js';
import { Liveness } from './liveness.js';
import { PglitePool } from './pglite-pool.js';
import { SCHEDULE } from './schedule.js';
import type { TaskDefinition } from './task.js';
import { TASKS } from './tasks/index.js';

export interface JobsOptions {
  readonly db: Database;
  /** PostgreSQL: the URL graphile-worker connects to with a pool of its own. Unused on PGlite. */
  readonly databaseUrl?: string;
  readonly log: Logger;
  /** Jobs run at once by this process (LOCONOMY_JOBS_CONCURRENCY). */
  readonly concurrency?: number;
  /** How often idle workers look for jobs whose run_at has come (ms); new jobs wake them at once. */
  readonly pollInterval?: number;
  /** Run the schedule (default true). */
  readonly schedule?: boolean | readonly CronItem[];
  /** The tasks this process runs (default every task in src/jobs/tasks/). */
  readonly tasks?: readonly TaskDefinition[];
  /**
   * PostgreSQL: a job locked this long by a worker whose process is gone is released for a
   * retry (ms; LOCONOMY_JOBS_RECOVER_AFTER_MS). On PGlite, one process owns the database, so
   * every job still locked at start is released then.
   */
  readonly recoverAfterMs?: number;
  /** Where graphile-worker's events go (default a new emitter), to listen before the start. */
  readonly events?: WorkerEvents;
}

export interface Jobs {
  /** Emits graphile-worker's events (job:success, job:failed, …). */
  readonly events: WorkerEvents;
  /**
   * Stops taking jobs, waits for the running ones (graphile-worker's graceful shutdown), and
   * after its timeout releases what is still running for a retry; then closes the connections.
   */
  stop(): Promise<void>;
}

/**
 * Installs or upgrades graphile-worker's schema (graphile_worker) with its own migrator, which is
 * safe when several processes start at once. Every command that runs jobs or enqueues from
 * TypeScript calls it first; on a current schema it is one query.
 */
export async function installQueue(db: Database, options: { databaseUrl?: string; log: Logger }): Promise<void> {
  const connection = await connect(db, options.databaseUrl, 2);
  try {
    await runMigrations(connection.options, await workerLogger(options.log));
  } finally {
    await connection.close();
  }
}

/** Starts graphile-worker on the database: the tasks, the schedule, crash recovery. */
export async function startJobs(options: JobsOptions): Promise<Jobs> {
  const { db, log } = options;
  const { run, parseCronItems } = await import('graphile-worker');
  const concurrency = options.concurrency ?? 1;
  // Each worker slot may hold one connection, plus the LISTEN connection and cron.
  const connection = await connect(db, options.databaseUrl, concurrency + 2);
  const events: WorkerEvents = options.events ?? new EventEmitter();
  const definitions = options.tasks ?? TASKS;
  const schedule =
    options.schedule === false ? [] : options.schedule === true ? SCHEDULE : (options.schedule ?? SCHEDULE);
  let liveness: Liveness | undefined;
  let runner: Runner;
  try {
    const logger = await workerLogger(log);
    await step(log, 'jobs: install queue schema', () => runMigrations(connection.options, logger));
    if (db.kind === 'pglite') await releaseAll(connection.pool, log);
    else {
      liveness = new Liveness({ url: options.databaseUrl as string, log, recoverAfterMs: options.recoverAfterMs });
      await liveness.start(connection.pool);
      events.on('worker:create', ({ worker }) => void liveness?.claim(worker.workerId));
      events.on('worker:release', ({ worker }) => void liveness?.forget(worker.workerId));
    }
    reportJobs(events, log);
    runner = await run({
      ...connection.options,
      logger,
      concurrency,
      pollInterval: options.pollInterval ?? 2000,
      noHandleSignals: true,
      taskList: taskList(definitions, db, log),
      parsedCronItems: parseCronItems([...schedule]),
      events,
    });
  } catch (error) {
    await liveness?.stop().catch(() => {});
    await connection.close().catch(() => {});
    throw error;
  }
  log.info(
    { tasks: definitions.map((t) => t.name), scheduled: schedule.length, concurrency },
    `jobs: running ${definitions.length} tasks, ${schedule.length} on a schedule`,
  );
  let stopping: Promise<void> | undefined;
  return {
    events,
    stop: () => {
      stopping ??= (async () => {
        const started = performance.now();
        try {
          await runner.stop('shutting down');
        } catch (error) {
          log.warn({ err: error }, `jobs: stopping failed: ${oneLine(error)}`);
        }
        await liveness?.stop().catch(() => {});
        await connection.close().catch(() => {});
        log.info({ ms: round(performance.now() - started) }, 'jobs: stopped');
      })();
      return stopping;
    },
  };
}

/**
 * Installs or upgrades graphile-worker's schema without running any job. `serve --no-jobs` does
 * it, so that SQL which enqueues (webhook events, migration 0036) works before the first
 * `loconomy worker` has ever started on the database.
 */
export async function installQueueSchema(db: Database, databaseUrl: string | undefined, log: Logger): Promise<void> {
  const connection = await connect(db, databaseUrl, 1);
  try {
    const logger = await workerLogger(log);
    await step(log, 'jobs: install queue schema', () => runMigrations(connection.options, logger));
  } finally {
    await connection.close().catch(() => {});
  }
}

async function runMigrations(options: object, logger: unknown): Promise<void> {
  const { runMigrations: migrate } = await import('graphile-worker');
  await migrate({ ...options, logger: logger as never });
}

interface Connection {
  readonly pool: Pool;
  readonly options: { pgPool: Pool; noPreparedStatements?: boolean };
  close(): Promise<void>;
}

/**
 * PostgreSQL: a pg.Pool of its own (graphile-worker holds a connection for LISTEN, and its
 * prepared statements stay on its connections). PGlite: the pool look-alike over the one
 * in-process session (src/jobs/pglite-pool.ts), prepared statements off as PGlite has one
 * session for everything.
 */
async function connect(db: Database, url: string | undefined, max: number): Promise<Connection> {
  if (db.kind === 'pglite') {
    const pool = new PglitePool(db as PgliteDatabase) as unknown as Pool;
    return { pool, options: { pgPool: pool, noPreparedStatements: true }, close: () => pool.end() };
  }
  if (url === undefined) throw new Error('jobs on PostgreSQL need its URL');
  const pool = new pg.Pool({ connectionString: url, max, application_name: 'loconomy-jobs' });
  // An idle or checked-out connection failing must not end the process; queries report it.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return { pool, options: { pgPool: pool }, close: () => pool.end() };
}

/** PGlite is owned by this process alone: a job still locked was locked by one that is gone. */
async function releaseAll(pool: Pool, log: Logger): Promise<void> {
  const { rows } = await pool.query<{ n: number }>(`
    with dead as (
      select array(select distinct locked_by from graphile_worker._private_jobs where locked_by is not null
                   union select distinct locked_by from graphile_worker._private_job_queues where locked_by is not null) as ids)
    select cardinality(ids) as n, graphile_worker.force_unlock_workers(ids) from dead`);
  const n = Number(rows[0]?.n ?? 0);
  if (n > 0)
    log.warn(
      { workers: n },
      `jobs: released the jobs of ${n} worker(s) of an earlier run that stopped without finishing them`,
    );
}

/** graphile-worker task functions from our task definitions: payload checked, result logged. */
function taskList(definitions: readonly TaskDefinition[], db: Database, log: Logger): TaskList {
  const list: TaskList = {};
  for (const definition of definitions) {
    const task: Task = async (payload, helpers) => {
      const job = helpers.job;
      const jobLog = log.child({ job_id: job.id, task: definition.name, attempt: job.attempts });
      const parsed = definition.payload.safeParse(payload ?? {});
      if (!parsed.success) {
        // A payload that will never parse: fail now; retries are pointless but harmless.
        throw new Error(`invalid payload for ${definition.name}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      }
      const started = performance.now();
      const result = await definition.run(parsed.data, { db, log: jobLog, job });
      jobLog.info({ result, ms: round(performance.now() - started) }, `job ${definition.name} done`);
    };
    list[definition.name] = task;
  }
  return list;
}

/** Failures through the project's logger: a retry is a warning, a dead job an error. */
function reportJobs(events: WorkerEvents, log: Logger): void {
  events.on('job:failed', ({ job, error }) => {
    log.error(
      { job_id: job.id, task: job.task_identifier, attempts: job.attempts, err: error },
      `job ${job.task_identifier} #${job.id} failed permanently after ${job.attempts} attempts: ${oneLine(error)} (kept in graphile_worker.jobs; see docs/jobs.md to retry it)`,
    );
  });
  events.on('job:error', ({ job, error }) => {
    if (job.attempts >= job.max_attempts) return; // job:failed says it
    log.warn(
      { job_id: job.id, task: job.task_identifier, attempts: job.attempts, err: error },
      `job ${job.task_identifier} #${job.id} failed (attempt ${job.attempts} of ${job.max_attempts}), will retry: ${oneLine(error)}`,
    );
  });
}

/** graphile-worker's own messages through pino; its per-job chatter is debug. */
async function workerLogger(log: Logger) {
  const { Logger: GraphileLogger } = await import('graphile-worker');
  return new GraphileLogger((scope) => (level, message, meta) => {
    const fields = { component: 'jobs', ...scope, ...(meta?.error ? { err: meta.error } : {}) };
    // A failed task is reported once, by reportJobs, with what to do about it.
    if (message.startsWith('Failed task')) log.debug(fields, message);
    else if (level === 'error') log.error(fields, message);
    else if (level === 'warning') log.warn(fields, message);
    else log.debug(fields, message);
  });
}

export type { Job };
