import pg from 'pg';
import { oneLine } from '../errors.js';
import type { Logger } from '../log.js';

/** Advisory-lock namespace of worker liveness (the migration number of jobs). */
const NAMESPACE = 20034;

/**
 * Crash recovery on PostgreSQL (decision 0020). graphile-worker releases a job whose worker
 * died only after four hours. Here each worker of this process holds a session advisory lock
 * named after its id on a connection of its own; PostgreSQL drops the locks when the process
 * dies, however it dies. Every runner, at start and then every `recoverAfterMs`, looks at jobs
 * locked for longer than that: a worker whose lock can be taken is gone, and its jobs are
 * released with graphile_worker.force_unlock_workers, so they run again after their back-off.
 * The age threshold covers the moment between a worker's creation and its lock.
 */
export class Liveness {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly recoverAfterMs: number;
  /** The liveness connection's statements, one after another (pg wants no overlapping queries). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: { url: string; log: Logger; recoverAfterMs?: number }) {
    this.recoverAfterMs = options.recoverAfterMs ?? 30_000;
  }

  async start(pool: pg.Pool): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.url, application_name: 'loconomy-jobs-liveness' });
    client.on('error', (error) =>
      this.options.log.warn({ err: error }, `jobs: the liveness connection failed: ${oneLine(error)}`),
    );
    await client.connect();
    this.client = client;
    await this.recover(pool);
    this.timer = setInterval(() => void this.recover(pool), Math.max(this.recoverAfterMs, 1000));
    this.timer.unref();
  }

  /** This process's worker `id` is alive for as long as the process is. */
  async claim(id: string): Promise<void> {
    await this.run('select pg_advisory_lock($1, hashtext($2))', id).catch((error: unknown) =>
      this.options.log.warn({ err: error }, `jobs: cannot mark worker ${id} alive`),
    );
  }

  async forget(id: string): Promise<void> {
    await this.run('select pg_advisory_unlock($1, hashtext($2))', id).catch(() => {});
  }

  private run(text: string, id: string): Promise<unknown> {
    const client = this.client;
    if (!client) return Promise.resolve();
    const next = this.queue.then(() => client.query(text, [NAMESPACE, id]));
    this.queue = next.catch(() => {});
    return next;
  }

  /** Releases the jobs of workers that are gone; returns how many workers. */
  async recover(pool: pg.Pool): Promise<number> {
    try {
      const { rows } = await pool.query<{ ids: string[] }>(
        `with stale as (
           select distinct locked_by as id from graphile_worker._private_jobs
            where locked_by is not null and locked_at < now() - make_interval(secs => $2::float8 / 1000)),
         gone as (select array(select id from stale where pg_try_advisory_xact_lock($1, hashtext(id))) as ids)
         select ids, graphile_worker.force_unlock_workers(ids) from gone`,
        [NAMESPACE, this.recoverAfterMs],
      );
      const ids = rows[0]?.ids ?? [];
      if (ids.length > 0) {
        this.options.log.warn(
          { workers: ids },
          `jobs: released the jobs of ${ids.length} worker(s) whose process stopped mid-job; they will be retried`,
        );
      }
      return ids.length;
    } catch (error) {
      this.options.log.warn({ err: error }, `jobs: crash recovery failed: ${oneLine(error)}`);
      return 0;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.client?.end().catch(() => {});
    this.client = undefined;
  }
}
