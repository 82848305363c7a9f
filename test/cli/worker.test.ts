import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { openPglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import { sql } from '../../src/db/sql.js';
import { addJob } from '../../src/jobs/queue.js';
import { installQueue } from '../../src/jobs/runner.js';
import { createBooking, createListing, createUser } from '../helpers/fixtures.js';
import {
  BIN,
  cleanEnv,
  createTestDatabaseLocation,
  ROOT,
  type TestDatabaseLocation,
  testBackend,
  testLogger,
} from '../helpers/index.js';

/*
 * `loconomy worker` as a real process: it runs a job that was waiting for it and stops cleanly
 * on SIGTERM; on PostgreSQL, a worker killed in the middle of a job leaves it to the next
 * worker, which releases and retries it.
 */

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

interface LogLine {
  msg: string;
  [key: string]: unknown;
}

/** A running `loconomy worker`, its JSON log lines as they come. */
class WorkerProcess {
  readonly lines: LogLine[] = [];
  private readonly child: ChildProcess;
  private readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private waiters: (() => void)[] = [];
  private stderr = '';

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, [BIN, 'worker'], {
      cwd: ROOT,
      env: cleanEnv({ ...env, LOG_LEVEL: 'info', LOG_FORMAT: 'json' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pending = '';
    this.child.stdout?.on('data', (chunk) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const part of parts) if (part.startsWith('{')) this.lines.push(JSON.parse(part) as LogLine);
      this.wake();
    });
    this.child.stderr?.on('data', (chunk) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.wake();
        resolve({ code, signal });
      }),
    );
    cleanups.push(() => this.kill());
  }

  private wake(): void {
    for (const w of this.waiters) w();
    this.waiters = [];
  }

  /** The first log line matching, once it is written; fails if the process exits first. */
  async waitFor(match: (line: LogLine) => boolean): Promise<LogLine> {
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`worker exited (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr}`);
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async stop(): Promise<{ code: number | null; signal: string | null }> {
    this.child.kill('SIGTERM');
    return this.exited;
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

function open(where: TestDatabaseLocation): Promise<Database> {
  const searchPath = '"public", "extensions"';
  return where.backend === 'pglite'
    ? openPglite({ dataDir: where.dataDir as string, searchPath, log: testLogger(), cacheDir: loadConfig().cacheDir })
    : Promise.resolve(openPostgres({ url: where.url as string, searchPath, log: testLogger() }));
}

async function bookingStatus(db: Database, id: string): Promise<string> {
  const { rows } = await db.query<{ status: string }>(sql`select status::text from public.bookings where id = ${id}`);
  return (rows[0] as { status: string }).status;
}

describe(`loconomy worker (${testBackend()})`, () => {
  test('runs a job that was waiting for it, then stops on SIGTERM with exit code 0', async () => {
    const where = await createTestDatabaseLocation('migrated');
    cleanups.push(() => where.dispose());
    let db = await open(where);
    await installQueue(db, { databaseUrl: where.url, log: testLogger() });
    const provider = await createUser(db, { role: 'provider' });
    const booking = await createBooking(db, await createListing(db, provider), await createUser(db));
    await db.query(sql`update public.bookings set expires_at = now() - interval '1 minute' where id = ${booking.id}`);
    const id = await addJob(db, 'bookings.expire_pending');
    // The embedded database belongs to one process at a time.
    if (where.backend === 'pglite') await db.close();

    const worker = new WorkerProcess(where.env);
    await worker.waitFor((l) => l.msg === 'Loconomy worker ready');
    const done = await worker.waitFor((l) => l.msg === 'job bookings.expire_pending done' && l.job_id === id);
    assert.deepEqual(done.result, { expired: 1 });
    assert.deepEqual(await worker.stop(), { code: 0, signal: null });
    assert.ok(worker.lines.some((l) => l.msg === 'jobs: stopped'));

    if (where.backend === 'pglite') db = await open(where);
    try {
      assert.equal(await bookingStatus(db, booking.id), 'expired');
      const { rows } = await db.query(sql`select 1 from graphile_worker.jobs where id = ${id}::bigint`);
      assert.equal(rows.length, 0, 'the job is done');
    } finally {
      await db.close();
    }
  });

  test('a worker killed in the middle of a job: the next worker releases the job and runs it again', {
    skip: testBackend() !== 'postgres' && 'two worker processes need PostgreSQL',
  }, async () => {
    const where = await createTestDatabaseLocation('migrated');
    cleanups.push(() => where.dispose());
    const db = await open(where);
    cleanups.push(() => db.close());
    await installQueue(db, { databaseUrl: where.url, log: testLogger() });
    const marker = `killed-${randomBytes(4).toString('hex')}`;
    await db.query(sql`
        insert into public.system_logs (created_at, level, component, message)
        values (now() - interval '91 days', 'debug', 'test', ${marker})`);
    // Hold the row the purge must delete, so the first worker's job waits in the middle.
    const holder = new pg.Client({ connectionString: where.url });
    await holder.connect();
    cleanups.push(() => holder.end());
    await holder.query('begin');
    await holder.query('select 1 from public.system_logs where message = $1 for update', [marker]);
    const id = await addJob(db, 'retention.purge', {}, { maxAttempts: 3 });

    const env = { ...where.env, LOCONOMY_JOBS_RECOVER_AFTER_MS: '1000' };
    const first = new WorkerProcess(env);
    await first.waitFor((l) => l.msg === 'Loconomy worker ready');
    // Running: locked by the first worker, its statement waiting on the held row.
    for (;;) {
      const { rows } = await db.query<{ waiting: boolean }>(sql`
          select exists (select 1 from pg_stat_activity
                          where datname = current_database() and wait_event_type = 'Lock') as waiting`);
      if (rows[0]?.waiting) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await first.kill();
    await holder.query('rollback');

    const second = new WorkerProcess(env);
    await second.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('jobs: released the jobs of 1 worker'));
    const done = await second.waitFor((l) => l.msg === 'job retention.purge done' && l.job_id === id);
    assert.equal(done.attempt, 2, 'the killed run counted as the first attempt');
    assert.deepEqual(await second.stop(), { code: 0, signal: null });
    const { rows } = await db.query(sql`select 1 from public.system_logs where message = ${marker}`);
    assert.equal(rows.length, 0);
  });
});
