import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { WorkerEvents } from 'graphile-worker';
import { z } from 'zod';
import { sql } from '../../src/db/sql.js';
import { addJob } from '../../src/jobs/queue.js';
import { type Jobs, startJobs } from '../../src/jobs/runner.js';
import { SCHEDULE } from '../../src/jobs/schedule.js';
import { defineTask } from '../../src/jobs/task.js';
import { TASKS } from '../../src/jobs/tasks/index.js';
import { createBooking, createListing, createUser } from '../helpers/fixtures.js';
import { getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';

/*
 * The scheduled tasks (src/jobs/schedule.ts) on this backend: each is registered with
 * graphile-worker's cron, a missed run is caught up at start (which is how a test sees cron
 * fire without waiting for the minute), and each task does its SQL work through the runner.
 */

let db: TestDatabase;
let jobs: Jobs | undefined;
const done = new Map<string, unknown>();

/** Resolves once `ready()` holds, re-checked every 100 ms. */
async function until(ready: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await ready())) await new Promise((resolve) => setTimeout(resolve, 100));
}

/** Finished: done (deleted), or dead with its error; undefined while waiting or running. */
async function outcome(id: string): Promise<string | undefined> {
  const { rows } = await db.query<{ last_error: string | null; dead: boolean }>(sql`
    select last_error, attempts >= max_attempts and locked_at is null as dead
      from graphile_worker.jobs where id = ${id}::bigint`);
  const row = rows[0];
  if (!row) return 'done';
  return row.dead ? `dead: ${row.last_error}` : undefined;
}

async function finished(ids: readonly string[]): Promise<string[]> {
  let outcomes: (string | undefined)[] = [];
  await until(async () => {
    outcomes = await Promise.all(ids.map(outcome));
    return outcomes.every((o) => o !== undefined);
  });
  return outcomes as string[];
}

async function bookingStatus(id: string): Promise<string> {
  const { rows } = await db.query<{ status: string }>(sql`select status::text from public.bookings where id = ${id}`);
  return (rows[0] as { status: string }).status;
}

/** A pending request whose answer is overdue. */
async function overdueRequest(): Promise<string> {
  const provider = await createUser(db, { role: 'provider' });
  const listing = await createListing(db, provider);
  const booking = await createBooking(db, listing, await createUser(db), { status: 'pending' });
  await db.query(sql`update public.bookings set expires_at = now() - interval '1 minute' where id = ${booking.id}`);
  return booking.id;
}

before(async () => {
  db = await getTestDatabase();
});
after(async () => {
  await jobs?.stop();
  await db?.dispose();
});

describe(`scheduled tasks (${testBackend()})`, () => {
  test('every scheduled item names a task the worker runs, once', () => {
    const names = new Set(TASKS.map((t) => t.name));
    for (const item of SCHEDULE) assert.ok(names.has(item.task), `${item.task} is scheduled but not a task`);
    assert.equal(new Set(SCHEDULE.map((i) => i.identifier)).size, SCHEDULE.length);
    for (const task of [
      'bookings.expire_pending',
      'bookings.send_reminders',
      'reviews.publish_due',
      'referrals.expire_rewards',
      'api_keys.expire',
      'retention.purge',
      'webhooks.sweep',
    ]) {
      assert.ok(
        SCHEDULE.some((i) => i.task === task),
        `${task} is on the schedule`,
      );
    }
  });

  /** A worker whose schedule expires requests every minute, catching up on five minutes missed. */
  async function startExpiring(): Promise<Jobs> {
    const started = await startJobs({
      db,
      databaseUrl: db.location.url,
      log: testLogger(),
      pollInterval: 200,
      schedule: [
        {
          task: 'bookings.expire_pending',
          match: '* * * * *',
          identifier: 'test.expire_pending',
          options: { backfillPeriod: 5 * 60_000 },
        },
      ],
    });
    started.events.on('job:success', ({ job }) => done.set(job.task_identifier, job.payload));
    return started;
  }

  test('a run missed while no worker ran is caught up at start: an overdue request expires', async () => {
    const booking = await overdueRequest();
    jobs = await startExpiring();
    // The schedule is registered; pretend the last run was three minutes ago, then restart.
    await until(async () => {
      const { rows } = await db.query(
        sql`select 1 from graphile_worker._private_known_crontabs where identifier = 'test.expire_pending'`,
      );
      return rows.length === 1;
    });
    await jobs.stop();
    await db.query(sql`
      update graphile_worker._private_known_crontabs
         set known_since = now() - interval '10 minutes', last_execution = now() - interval '3 minutes'
       where identifier = 'test.expire_pending'`);
    jobs = await startExpiring();
    await until(async () => (await bookingStatus(booking)) === 'expired');
    const payload = done.get('bookings.expire_pending') as { _cron?: { backfilled?: boolean } } | undefined;
    assert.equal(payload?._cron?.backfilled, true, 'run by the cron catch-up');
  });

  test('each scheduled task runs through the worker and does its SQL work', async () => {
    assert.ok(jobs, 'the worker of the previous test still runs');
    const booking = await overdueRequest();
    // An API key that expired yesterday, and a debug log line older than 90 days beside a fresh one.
    const owner = await createUser(db);
    const { rows: keys } = await db.query<{ id: string }>(sql`
      insert into public.api_keys (user_id, name, key_prefix, key_hash, created_at, expires_at)
      values (${owner.id}, 'CI deploys', ${`lk_${randomBytes(4).toString('hex')}`}, ${randomBytes(32).toString('hex')},
              now() - interval '30 days', now() - interval '1 day')
      returning id`);
    const keyId = (keys[0] as { id: string }).id;
    const marker = `purge-${randomBytes(4).toString('hex')}`;
    await db.query(sql`
      insert into public.system_logs (created_at, level, component, message)
      values (now() - interval '91 days', 'debug', 'test', ${`${marker} old`}),
             (now() - interval '1 day', 'debug', 'test', ${`${marker} new`}),
             (now() - interval '91 days', 'error', 'test', ${`${marker} old error`})`);

    const ids = [];
    // Every task the schedule names (webhooks.deliver is enqueued per delivery, not scheduled).
    const scheduled = TASKS.filter((task) => SCHEDULE.some((item) => item.task === task.name));
    assert.ok(scheduled.length >= 6);
    for (const task of scheduled) ids.push(await addJob(db, task.name, {}, { maxAttempts: 1 }));
    assert.deepEqual(
      await finished(ids),
      ids.map(() => 'done'),
    );

    assert.equal(await bookingStatus(booking), 'expired');
    const { rows: notices } = await db.query<{ title: string }>(sql`
      select title from public.notifications where user_id = ${owner.id} and type = 'system_alert'`);
    assert.deepEqual(
      notices.map((n) => n.title),
      ['API key expired'],
    );
    const { rows: noticed } = await db.query(sql`select 1 from app.api_key_expiry_notices where api_key_id = ${keyId}`);
    assert.equal(noticed.length, 1);
    const { rows: logs } = await db.query<{ message: string }>(sql`
      select message from public.system_logs where message like ${`${marker}%`} order by message`);
    assert.deepEqual(
      logs.map((l) => l.message),
      [`${marker} new`, `${marker} old error`],
      'the 91-day-old debug line is purged; errors are kept a year',
    );
    // Idempotent: a second run tells nobody twice.
    const again = await addJob(db, 'api_keys.expire', {}, { maxAttempts: 1 });
    assert.deepEqual(await finished([again]), ['done']);
    const { rows: after } = await db.query(sql`select 1 from public.notifications where user_id = ${owner.id}`);
    assert.equal(after.length, 1);
  });

  test('a schedule fires once per minute across two workers on one database', async () => {
    await jobs?.stop();
    jobs = undefined;
    const runs: string[] = [];
    const tick = defineTask({
      name: 'test.tick',
      payload: z.object({ _cron: z.object({ ts: z.string() }) }),
      run: async (payload) => {
        runs.push(payload._cron.ts);
      },
    });
    const item = {
      task: 'test.tick',
      match: '* * * * *',
      identifier: 'test.tick',
      options: { backfillPeriod: 4 * 60_000 },
    };
    // The item is known since long ago and last ran three minutes ago: each worker, starting,
    // catches up on the missed minutes, and each minute must still run once.
    await db.query(sql`
      insert into graphile_worker._private_known_crontabs (identifier, known_since, last_execution)
      values ('test.tick', now() - interval '1 hour', now() - interval '3 minutes')`);
    const started: Promise<unknown>[] = [];
    const workers = await Promise.all(
      [1, 2].map(async () => {
        const events: WorkerEvents = new EventEmitter();
        started.push(new Promise((resolve) => events.once('cron:started', resolve)));
        return startJobs({
          db,
          databaseUrl: db.location.url,
          log: testLogger(),
          pollInterval: 200,
          tasks: [tick],
          schedule: [item],
          events,
        });
      }),
    );
    try {
      await Promise.all(started);
      await until(async () => {
        const { rows } = await db.query(sql`select 1 from graphile_worker.jobs where task_identifier = 'test.tick'`);
        return rows.length === 0 && runs.length >= 2;
      });
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
    assert.equal(new Set(runs).size, runs.length, `each minute ran once: ${runs.join(', ')}`);
  });
});
