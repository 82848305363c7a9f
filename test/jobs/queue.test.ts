import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { sql } from '../../src/db/sql.js';
import { addJob } from '../../src/jobs/queue.js';
import { type Jobs, startJobs } from '../../src/jobs/runner.js';
import { defineTask } from '../../src/jobs/task.js';
import { getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';

/*
 * The durable queue (graphile-worker, decision 0020) on this backend, driven in-process: a job
 * enqueued in a committed transaction runs, one in a rolled-back transaction never does, a
 * failing job is retried with exponential back-off and then kept as dead, a job added while no
 * worker runs is run by the next one, and one a dead worker held is released and run again.
 */

let db: TestDatabase;
const ran: { task: string; payload: unknown; attempt: number }[] = [];
let waiters: (() => void)[] = [];
const wake = () => {
  for (const w of waiters) w();
  waiters = [];
};

/** Resolves once `ready()` holds, re-checked when a test task runs, a job event fires, or every 100 ms. */
async function until(ready: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await ready())) {
    await new Promise<void>((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, 100);
    });
  }
}

const record = defineTask({
  name: 'test.record',
  payload: z.object({ n: z.number() }),
  run: async (payload, { job }) => {
    ran.push({ task: 'test.record', payload, attempt: job.attempts });
    wake();
    return { recorded: payload.n };
  },
});

const failing = defineTask({
  name: 'test.fail',
  payload: z.object({}).passthrough(),
  run: async (_payload, { job }) => {
    ran.push({ task: 'test.fail', payload: {}, attempt: job.attempts });
    wake();
    throw new Error(`refused on attempt ${job.attempts}`);
  },
});

function start(): Promise<Jobs> {
  return startJobs({
    db,
    databaseUrl: db.location.url,
    log: testLogger(),
    tasks: [record, failing],
    schedule: false,
    pollInterval: 200,
  }).then((jobs) => {
    for (const event of ['job:complete', 'job:failed', 'job:error', 'job:success'] as const)
      jobs.events.on(event, wake);
    return jobs;
  });
}

async function jobRow(id: string) {
  const { rows } = await db.query<{
    attempts: number;
    max_attempts: number;
    last_error: string | null;
    run_at: Date;
    locked_at: Date | null;
    backoff_s: number;
  }>(sql`select attempts, max_attempts, last_error, run_at, locked_at,
                extract(epoch from run_at - updated_at)::float8 as backoff_s
           from graphile_worker.jobs where id = ${id}::bigint`);
  return rows[0];
}

before(async () => {
  db = await getTestDatabase();
});
after(async () => {
  await db?.dispose();
});

describe(`job queue (${testBackend()})`, () => {
  let jobs: Jobs;
  before(async () => {
    jobs = await start();
  });
  after(async () => {
    await jobs?.stop();
  });

  test('a job enqueued in a committed transaction runs once, with its payload', async () => {
    const id = await db.transaction((tx) => addJob(tx, 'test.record', { n: 1 }));
    await until(() => ran.some((r) => r.task === 'test.record' && (r.payload as { n: number }).n === 1));
    // Done jobs are deleted by graphile-worker.
    await until(async () => (await jobRow(id)) === undefined);
    assert.equal(ran.filter((r) => (r.payload as { n: number }).n === 1).length, 1);
  });

  test('a job enqueued in a rolled-back transaction never runs', async () => {
    await db.transaction(
      async (tx) => {
        await addJob(tx, 'test.record', { n: 2 });
      },
      { end: 'rollback' },
    );
    await assert.rejects(
      db.transaction(async (tx) => {
        await addJob(tx, 'test.record', { n: 3 });
        throw new Error('the change failed');
      }),
      /the change failed/,
    );
    // A later committed job runs: by then the worker has passed over anything before it.
    const later = await db.transaction((tx) => addJob(tx, 'test.record', { n: 4 }));
    await until(async () => (await jobRow(later)) === undefined);
    assert.ok(ran.some((r) => (r.payload as { n: number }).n === 4));
    assert.deepEqual(
      ran.filter((r) => [2, 3].includes((r.payload as { n: number }).n)),
      [],
      'the rolled-back jobs never ran',
    );
    const { rows } = await db.query<{ n: number }>(
      sql`select count(*)::int as n from graphile_worker.jobs where task_identifier = 'test.record'`,
    );
    assert.equal(rows[0]?.n, 0, 'and are not waiting either');
  });

  test('a failing job is retried with exponential back-off, then kept as dead with its error', async () => {
    const id = await addJob(db, 'test.fail', {}, { maxAttempts: 2 });
    await until(async () => (await jobRow(id))?.attempts === 1 && (await jobRow(id))?.locked_at === null);
    const first = await jobRow(id);
    assert.equal(first?.last_error?.includes('refused on attempt 1'), true, first?.last_error ?? 'no error kept');
    // graphile-worker's back-off: exp(attempts) seconds, so e ≈ 2.7 s after the first failure.
    assert.ok(first && first.backoff_s > 2 && first.backoff_s < 4, `back-off ${first?.backoff_s}s`);
    await until(async () => (await jobRow(id))?.attempts === 2 && (await jobRow(id))?.locked_at === null);
    const dead = await jobRow(id);
    assert.equal(dead?.max_attempts, 2);
    assert.match(dead?.last_error ?? '', /refused on attempt 2/);
    assert.deepEqual(
      ran.filter((r) => r.task === 'test.fail').map((r) => r.attempt),
      [1, 2],
    );
    // Dead: kept, and not run again.
    const { rows } = await db.query<{ n: number }>(sql`
      select count(*)::int as n from graphile_worker.jobs
       where id = ${id}::bigint and attempts >= max_attempts and locked_at is null`);
    assert.equal(rows[0]?.n, 1);
  });

  test('the API roles cannot enqueue or read jobs', async () => {
    for (const role of ['anon', 'authenticated']) {
      await assert.rejects(
        db.asRole(role, { role }, (tx) => addJob(tx, 'test.record', { n: 99 })),
        /permission denied for schema graphile_worker/,
        role,
      );
      await assert.rejects(
        db.asRole(role, { role }, (tx) => tx.query('select count(*) from graphile_worker.jobs')),
        /permission denied for schema graphile_worker/,
        role,
      );
    }
  });

  test('an invalid payload fails the job with a clear error', async () => {
    const id = await addJob(db, 'test.record', { n: 'not a number' }, { maxAttempts: 1 });
    await until(async () => (await jobRow(id))?.attempts === 1 && (await jobRow(id))?.locked_at === null);
    assert.match((await jobRow(id))?.last_error ?? '', /invalid payload for test\.record/);
  });
});

describe(`jobs across a restart (${testBackend()})`, () => {
  test('a job added while no worker runs is run by the next worker', async () => {
    const id = await addJob(db, 'test.record', { n: 5 });
    assert.ok(await jobRow(id), 'waiting');
    const jobs = await start();
    try {
      await until(() => ran.some((r) => (r.payload as { n: number }).n === 5));
    } finally {
      await jobs.stop();
    }
  });

  test('a job left locked by a worker whose process died is released at the next start and run', async () => {
    const id = await addJob(db, 'test.record', { n: 6 });
    // What a killed worker leaves behind: the job taken (one attempt spent), never finished.
    await db.query(sql`
      update graphile_worker._private_jobs
         set locked_by = 'worker-of-a-killed-process', locked_at = now() - interval '1 hour', attempts = 1
       where id = ${id}::bigint`);
    const jobs = await start();
    try {
      await until(async () => (await jobRow(id)) === undefined);
      assert.deepEqual(
        ran.filter((r) => (r.payload as { n: number }).n === 6).map((r) => r.attempt),
        [2],
      );
    } finally {
      await jobs.stop();
    }
  });
});
