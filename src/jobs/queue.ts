import type { Queryable } from '../db/database.js';
import { sql } from '../db/sql.js';

export interface AddJobOptions {
  /** Not before this time (default now). */
  readonly runAt?: Date;
  /** Attempts before the job is dead (default 25: about three days of back-off). */
  readonly maxAttempts?: number;
  /** Jobs with one key replace each other while waiting (graphile-worker job_key). */
  readonly jobKey?: string;
  /** Jobs in one named queue run one at a time, in order. */
  readonly queueName?: string;
  /** Lower runs first (default 0). */
  readonly priority?: number;
}

/**
 * Enqueues a job through `graphile_worker.add_job` on whatever `q` is: pass the transaction
 * that makes the change the job is about, and the job exists only if that transaction commits
 * (and its NOTIFY, which wakes the workers, is sent only then). Returns the job id.
 */
export async function addJob(
  q: Queryable,
  task: string,
  payload: Record<string, unknown> = {},
  options: AddJobOptions = {},
): Promise<string> {
  const { rows } = await q.query<{ id: string }>(sql`
    select (graphile_worker.add_job(
      identifier => ${task}, payload => ${JSON.stringify(payload)}::json, queue_name => ${options.queueName ?? null},
      run_at => ${options.runAt ?? null}::timestamptz, max_attempts => ${options.maxAttempts ?? null}::int,
      job_key => ${options.jobKey ?? null}, priority => ${options.priority ?? null}::int)).id::text as id`);
  return (rows[0] as { id: string }).id;
}
