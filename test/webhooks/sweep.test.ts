import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { sql } from '../../src/db/sql.js';
import { addJob } from '../../src/jobs/queue.js';
import { installQueueSchema, type Jobs, startJobs } from '../../src/jobs/runner.js';
import { deliverWebhook } from '../../src/jobs/tasks/deliver-webhook.js';
import { sweepWebhookDeliveries } from '../../src/jobs/tasks/sweep-webhook-deliveries.js';
import { createBooking, createListing, createTenant, createUser } from '../helpers/fixtures.js';
import { asRole, getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';

/*
 * The sweeper (webhooks.sweep, decision 0022): a delivery left pending after an operator deleted
 * its job gets a job again and is delivered once; deliveries that still have a job, or are not
 * yet due, or are settled, are left alone. Run as the scheduled task, by a real worker.
 */

let db: TestDatabase;
let receiver: Server;
let base: string;
let jobs: Jobs | undefined;
const received: string[] = [];
const saved = process.env.LOCONOMY_WEBHOOKS_ALLOW_PRIVATE;

before(async () => {
  process.env.LOCONOMY_WEBHOOKS_ALLOW_PRIVATE = 'true';
  db = await getTestDatabase();
  await installQueueSchema(db, db.location.url, testLogger());
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

after(async () => {
  await jobs?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
  await db?.dispose();
  if (saved === undefined) delete process.env.LOCONOMY_WEBHOOKS_ALLOW_PRIVATE;
  else process.env.LOCONOMY_WEBHOOKS_ALLOW_PRIVATE = saved;
});

async function until<T>(ready: () => Promise<T | undefined | false>): Promise<T> {
  for (;;) {
    const value = await ready();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A tenant with one endpoint on booking.* and a booking: one pending delivery with its job. */
async function pendingDelivery(): Promise<{ deliveryId: string; bookingId: string }> {
  const tenantId = await createTenant(db);
  const owner = await createUser(db, { tenantId, role: 'admin' });
  await db.query(sql`insert into public.webhook_endpoints (user_id, url, events, secret)
                     values (${owner.id}, ${`${base}/hook`}, '{booking.*}', app.new_webhook_secret())`);
  const provider = await createUser(db, { tenantId, role: 'provider' });
  const listing = await createListing(db, provider);
  const booking = await createBooking(db, listing, await createUser(db, { tenantId }));
  const { rows } = await db.query<{ id: string }>(sql`
    select d.id from public.webhook_deliveries d join public.webhook_endpoints w on w.id = d.endpoint_id
    where w.user_id = ${owner.id}`);
  assert.equal(rows.length, 1);
  return { deliveryId: (rows[0] as { id: string }).id, bookingId: booking.id };
}

async function jobOf(deliveryId: string) {
  const { rows } = await db.query<{ id: string }>(
    sql`select id::text from graphile_worker.jobs where key = ${`webhook:${deliveryId}`}`,
  );
  return rows[0];
}

const sweep = (maxRows = 1000) =>
  asRole(
    db,
    'service_role',
    { role: 'service_role' },
    (tx) => tx.query<{ n: number }>(sql`select app.requeue_orphaned_webhook_deliveries(${maxRows}) as n`),
    { commit: true },
  ).then(({ rows }) => rows[0]?.n);

describe(`the webhook delivery sweeper (${testBackend()})`, () => {
  test('a delivery whose job was deleted gets one again, and is delivered once by the scheduled task', async () => {
    const orphan = await pendingDelivery();
    const kept = await pendingDelivery();
    const early = await pendingDelivery();
    // An operator deletes two jobs; the deliveries of the first two have been due for a while.
    await db.query(sql`delete from graphile_worker._private_jobs
                       where key = any(${[`webhook:${orphan.deliveryId}`, `webhook:${early.deliveryId}`]}::text[])`);
    await db.query(sql`update public.webhook_deliveries set next_attempt_at = now() - interval '5 minutes'
                       where id = any(${[orphan.deliveryId, kept.deliveryId]}::uuid[])`);
    assert.equal(await jobOf(orphan.deliveryId), undefined);
    const keptJob = await jobOf(kept.deliveryId);

    jobs = await startJobs({
      db,
      databaseUrl: db.location.url,
      log: testLogger(),
      tasks: [deliverWebhook, sweepWebhookDeliveries],
      schedule: false,
      pollInterval: 50,
    });
    await addJob(db, 'webhooks.sweep', {}, { maxAttempts: 1 });
    // Settled once the attempt is recorded, which comes after the receiver has answered.
    await until(async () => {
      const { rows } = await db.query<{ status: string }>(
        sql`select status::text from public.webhook_deliveries where id = ${orphan.deliveryId}`,
      );
      return rows[0]?.status === 'succeeded';
    });
    // The kept delivery went out through its own job, once; the one not yet due for a minute
    // is not swept (nothing in flight is taken for an orphan).
    await until(async () => received.some((body) => body.includes(kept.bookingId)));
    assert.ok(keptJob, 'its job was there all along');
    assert.equal(received.filter((body) => body.includes(kept.bookingId)).length, 1);
    assert.equal(await sweep(), 0, 'nothing left to sweep');
    assert.equal(
      received.filter((body) => body.includes(early.bookingId)).length,
      0,
      'not due for a minute: left alone',
    );
    assert.equal(received.filter((body) => body.includes(orphan.bookingId)).length, 1);
  });

  test('the sweep refuses a max_rows below 1 and is not callable by signed-in users', async () => {
    await assert.rejects(sweep(0), /max_rows must be a positive integer/);
    await assert.rejects(
      asRole(db, 'authenticated', { role: 'authenticated', sub: 'user_x' }, (tx) =>
        tx.query(sql`select app.requeue_orphaned_webhook_deliveries(10)`),
      ),
      /permission denied/,
    );
  });
});
