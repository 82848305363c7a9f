import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from '../../src/db/sql.js';
import { installQueueSchema } from '../../src/jobs/runner.js';
import { createBooking, createListing, createTenant, createUser } from '../helpers/fixtures.js';
import { getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';

/*
 * `serve --no-jobs` installs the queue's schema without running jobs, so an event emitted
 * before any worker has started on the database is enqueued, not an error that fails the
 * booking that caused it.
 */
let db: TestDatabase;
before(async () => {
  db = await getTestDatabase();
});
after(async () => {
  await db?.dispose();
});

test(`an event emitted before any worker ran is enqueued once the schema is installed (${testBackend()})`, async () => {
  const schema = async () =>
    (await db.query<{ ok: boolean }>(sql`select to_regnamespace('graphile_worker') is not null as ok`)).rows[0]?.ok;
  const tenantId = await createTenant(db);
  const owner = await createUser(db, { tenantId });
  const provider = await createUser(db, { tenantId, role: 'provider' });
  const customer = await createUser(db, { tenantId });
  const listing = await createListing(db, provider);
  await db.query(sql`
    insert into public.webhook_endpoints (user_id, url, events, secret)
    values (${owner.id}::uuid, 'https://example.com/hook', '{booking.*}', app.new_webhook_secret())`);

  if (!(await schema()))
    await assert.rejects(
      createBooking(db, listing, customer),
      /graphile_worker/,
      'without the schema the change fails',
    );
  await installQueueSchema(db, db.location.url, testLogger());
  assert.equal(await schema(), true);
  const booking = await createBooking(db, listing, customer);
  const { rows } = await db.query<{ n: number }>(sql`
    select count(*)::int as n from graphile_worker._private_jobs j
      join public.webhook_deliveries d on j.key = 'webhook:' || d.id
     where j.payload ->> 'delivery_id' = d.id::text and d.payload -> 'data' ->> 'id' = ${booking.id}`);
  assert.equal(rows[0]?.n, 1);
});
