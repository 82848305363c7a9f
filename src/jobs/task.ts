import type { Job } from 'graphile-worker';
import type { z } from 'zod';
import type { Database } from '../db/database.js';
import type { Logger } from '../log.js';

/** What a task gets besides its payload: the database (as Loconomy opens it) and a logger. */
export interface TaskContext {
  readonly db: Database;
  /** Bound to the job (task, id, attempt). */
  readonly log: Logger;
  readonly job: Pick<Job, 'id' | 'task_identifier' | 'attempts' | 'max_attempts'>;
}

/**
 * A named background task (STYLE.md 15): one file per task under src/jobs/tasks/, its payload
 * validated with zod, idempotent so that a retry after a crash is safe. What `run` returns is
 * logged as the job's result.
 */
export interface TaskDefinition<P extends z.ZodType = z.ZodType> {
  /** The graphile-worker task identifier, `<area>.<what>` (what SQL passes to add_job). */
  readonly name: string;
  readonly payload: P;
  run(payload: z.output<P>, context: TaskContext): Promise<unknown>;
}

export function defineTask<P extends z.ZodType>(task: TaskDefinition<P>): TaskDefinition<P> {
  return task;
}
