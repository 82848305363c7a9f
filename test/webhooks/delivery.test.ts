import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { sql } from '../../src/db/sql.js';
import { type Jobs, startJobs } from '../../src/jobs/runner.js';
import { deliverWebhook } from '../../src/jobs/tasks/deliver-webhook.js';
import {
  createBooking,
  createListing,
  createTenant,
  createUser,
  grantPermission,
  type UserFixture,
} from '../helpers/fixtures.js';
import {
  getTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
  testLogger,
} from '../helpers/index.js';

/*
 * Outbound webhooks end to end on this backend (decision 0022): endpoints registered through
 * REST, events written by the booking triggers in the changing transaction, delivered by real
 * graphile-worker jobs to real local HTTP receivers, signed per Standard Webhooks and verified
 * with the standardwebhooks library. Back-off is made short through the settings, never by
 * waiting on a clock.
 */

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let db: TestDatabase;
let server: TestServer;
let jobs: Jobs;
let receiver: Server;
let base: string;
const received: Received[] = [];
const failuresLeft = new Map<string, number>();

const SETTINGS = {
  LOCONOMY_WEBHOOKS_ALLOW_PRIVATE: 'true',
  LOCONOMY_WEBHOOKS_RETRY_BASE_MS: '1',
  LOCONOMY_WEBHOOKS_DISABLE_AFTER_FAILURES: '1000',
  LOCONOMY_WEBHOOKS_DISABLE_AFTER_HOURS: '0',
  LOCONOMY_WEBHOOKS_ROTATION_GRACE_HOURS: '24',
};
const saved = new Map<string, string | undefined>();
function setEnv(values: Record<string, string>) {
  for (const [k, v] of Object.entries(values)) {
    if (!saved.has(k)) saved.set(k, process.env[k]);
    process.env[k] = v;
  }
}

/** Resolves once `ready()` holds, checked every 50 ms. */
async function until<T>(ready: () => Promise<T | undefined | false>): Promise<T> {
  for (;;) {
    const value = await ready();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

before(async () => {
  setEnv(SETTINGS);
  db = await getTestDatabase();
  server = await startTestServer(db);
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (path.startsWith('/dead')) return res.writeHead(500).end('down');
      if (path.startsWith('/moved')) return res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
      const left = failuresLeft.get(path) ?? 0;
      if (left > 0) {
        failuresLeft.set(path, left - 1);
        return res.writeHead(503).end('try later');
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  jobs = await startJobs({
    db,
    databaseUrl: db.location.url,
    log: testLogger(),
    tasks: [deliverWebhook],
    schedule: false,
    pollInterval: 50,
  });
});

after(async () => {
  await jobs?.stop();
  await server?.close();
  await new Promise((resolve) => receiver?.close(resolve));
  await db?.dispose();
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/** A tenant with a webhook manager, a provider with a listing and a customer. */
async function marketplace() {
  const tenantId = await createTenant(db);
  const manager = await createUser(db, { tenantId });
  await grantPermission(db, manager, 'webhooks.manage');
  const provider = await createUser(db, { tenantId, role: 'provider' });
  const customer = await createUser(db, { tenantId });
  const listing = await createListing(db, provider);
  return { tenantId, manager, provider, customer, listing };
}

async function clientFor(user: UserFixture) {
  return server.client({ token: await server.tokenFor(user.clerkId) });
}

interface Endpoint {
  id: string;
  secret: string;
}

async function register(user: UserFixture, path: string, events = ['booking.*']): Promise<Endpoint> {
  const { data, error } = await (await clientFor(user)).rpc('create_webhook_endpoint', {
    url: `${base}${path}`,
    events,
  });
  assert.equal(error, null, error?.message);
  const [row] = data as { endpoint_id: string; signing_secret: string }[];
  assert.match(row?.signing_secret ?? '', /^whsec_[A-Za-z0-9+/=]{32,}$/);
  return { id: row?.endpoint_id as string, secret: row?.signing_secret as string };
}

async function deliveries(endpointId: string) {
  const { rows } = await db.query<{
    id: string;
    message_id: string;
    status: string;
    attempt_count: number;
    attempts: { attempt: number; http_status: number | null; duration_ms: number; error: string | null }[];
    error_message: string | null;
    payload: { type: string; data: { id: string } };
  }>(sql`select id, message_id, status::text, attempt_count, attempts, error_message, payload
           from public.webhook_deliveries where endpoint_id = ${endpointId}::uuid order by created_at, id`);
  return rows;
}

const at = (path: string) => received.filter((r) => r.path === path);

describe(`outbound webhooks (${testBackend()})`, () => {
  test('an endpoint failing twice then succeeding gets one accepted, verifiable delivery after 3 attempts', async () => {
    const m = await marketplace();
    const endpoint = await register(m.manager, '/flaky');
    failuresLeft.set('/flaky', 2);
    const booking = await createBooking(db, m.listing, m.customer);

    const [delivery] = await until(async () => {
      const rows = await deliveries(endpoint.id);
      return rows[0]?.status === 'succeeded' && rows;
    });
    assert.ok(delivery);
    assert.equal(delivery.attempt_count, 3);
    assert.deepEqual(
      delivery.attempts.map((a) => [a.attempt, a.http_status, a.error]),
      [
        [1, 503, 'HTTP 503'],
        [2, 503, 'HTTP 503'],
        [3, 204, null],
      ],
    );
    assert.ok(delivery.attempts.every((a) => Number.isInteger(a.duration_ms) && a.duration_ms >= 0));

    const requests = at('/flaky');
    assert.equal(requests.length, 3, 'three requests, the last one accepted');
    assert.deepEqual(new Set(requests.map((r) => r.headers['webhook-id'])), new Set([delivery.message_id]));
    const accepted = requests[2] as Received;
    const event = new Webhook(endpoint.secret).verify(accepted.body, accepted.headers as Record<string, string>) as {
      type: string;
      data: { id: string; status: string };
    };
    assert.equal(event.type, 'booking.created');
    assert.equal(event.data.id, booking.id);
    assert.equal(event.data.status, 'pending');
    assert.throws(() =>
      new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw').verify(
        accepted.body,
        accepted.headers as Record<string, string>,
      ),
    );

    // Replay by delivery id re-sends the same event: same webhook-id, same body.
    const client = await clientFor(m.manager);
    const { data: replayId, error } = await client.rpc('replay_webhook_delivery', { delivery_id: delivery.id });
    assert.equal(error, null, error?.message);
    await until(async () => (await deliveries(endpoint.id)).find((d) => d.id === replayId && d.status === 'succeeded'));
    const replayed = at('/flaky')[3] as Received;
    assert.equal(replayed.headers['webhook-id'], delivery.message_id);
    assert.equal(replayed.body, accepted.body);
    new Webhook(endpoint.secret).verify(replayed.body, replayed.headers as Record<string, string>);

    // And by time range: each event of the range once, with its webhook-id.
    const { data: count, error: rangeError } = await client.rpc('replay_webhook_deliveries', {
      endpoint_id: endpoint.id,
      since: new Date(Date.now() - 3_600_000).toISOString(),
      until: new Date(Date.now() + 60_000).toISOString(),
    });
    assert.equal(rangeError, null, rangeError?.message);
    assert.equal(count, 1);
    await until(async () => at('/flaky').length === 5);
    assert.equal(at('/flaky')[4]?.headers['webhook-id'], delivery.message_id);
  });

  test('a booking rolled back emits nothing; its committed successor does', async () => {
    const m = await marketplace();
    const endpoint = await register(m.manager, '/rollback');
    let rolledBack = '';
    await db.transaction(
      async (tx) => {
        rolledBack = (await createBooking(tx, m.listing, m.customer)).id;
      },
      { end: 'rollback' },
    );
    const kept = await createBooking(db, m.listing, m.customer);
    await until(async () => (await deliveries(endpoint.id)).some((d) => d.status === 'succeeded'));
    const rows = await deliveries(endpoint.id);
    assert.deepEqual(
      rows.map((d) => d.payload.data.id),
      [kept.id],
    );
    assert.ok(rolledBack !== '');
    assert.equal(at('/rollback').length, 1);
    assert.ok(!at('/rollback')[0]?.body.includes(rolledBack));
  });

  test('one event to several endpoints: a delivery and a job each, enqueued together, the same webhook-id', async () => {
    const m = await marketplace();
    const paths = ['/fan/a', '/fan/b', '/fan/c'];
    const endpoints: Awaited<ReturnType<typeof register>>[] = [];
    for (const path of paths) endpoints.push(await register(m.manager, path));
    const other = await register(m.manager, '/fan/reviews', ['review.*']);
    const booking = await createBooking(db, m.listing, m.customer);
    // The attempt is recorded after the receiver answers: wait for the records, not the requests.
    const recorded = async () => (await Promise.all(endpoints.map((e) => deliveries(e.id)))).flat();
    await until(async () => (await recorded()).filter((d) => d.status === 'succeeded').length === 3);
    const rows = await recorded();
    assert.ok(paths.every((path) => at(path).length === 1));
    assert.equal(rows.length, 3);
    assert.ok(rows.every((d) => d.status === 'succeeded' && d.payload.data.id === booking.id));
    assert.equal(new Set(rows.map((d) => d.message_id)).size, 1, 'one event, one webhook-id');
    assert.equal(new Set(paths.map((path) => at(path)[0]?.headers['webhook-id'])).size, 1);
    assert.deepEqual(await deliveries(other.id), [], 'an endpoint not subscribed gets nothing');
  });

  test('booking status changes and reschedules are events of their own', async () => {
    const m = await marketplace();
    const endpoint = await register(m.manager, '/lifecycle', ['booking.confirmed', 'booking.rescheduled']);
    const booking = await createBooking(db, m.listing, m.customer);
    await db.query(sql`update public.bookings set status = 'confirmed' where id = ${booking.id}::uuid`);
    await db.query(
      sql`update public.bookings set starts_at = starts_at + interval '1 day', ends_at = ends_at + interval '1 day'
           where id = ${booking.id}::uuid`,
    );
    const rows = await until(async () => {
      const all = await deliveries(endpoint.id);
      return all.length > 0 && all.every((d) => d.status === 'succeeded') && all;
    });
    assert.deepEqual(
      rows.map((d) => d.payload.type),
      ['booking.confirmed', 'booking.rescheduled'],
    );
  });

  test('user and message changes are events too; activity counters are not', async () => {
    const m = await marketplace();
    const endpoint = await register(m.manager, '/people', ['user.*', 'message.created']);
    const newcomer = await createUser(db, { tenantId: m.tenantId });
    await db.query(sql`update public.users set last_active_at = now(), login_count = login_count + 1
                        where id = ${newcomer.id}::uuid`);
    await db.query(sql`update public.users set role = 'provider' where id = ${newcomer.id}::uuid`);
    const { rows } = await db.query<{ id: string }>(sql`
      insert into public.conversations (tenant_id, created_by) values (${m.tenantId}, ${newcomer.id}) returning id`);
    const conversation = rows[0]?.id as string;
    await db.query(sql`insert into public.conversation_participants (conversation_id, user_id)
                        values (${conversation}, ${newcomer.id}), (${conversation}, ${m.customer.id})`);
    await db.query(sql`insert into public.messages (conversation_id, sender_id, content)
                        values (${conversation}, ${newcomer.id}, 'hello')`);
    await db.query(sql`update public.users set deleted_at = now() where id = ${newcomer.id}::uuid`);
    // Delivery rows exist from each change's commit: wait only for their sending.
    const delivered = await until(async () => {
      const all = await deliveries(endpoint.id);
      return all.length > 0 && all.every((d) => d.status === 'succeeded') && all;
    });
    assert.deepEqual(
      delivered.map((d) => [d.payload.type, d.payload.data.id === newcomer.id]),
      [
        ['user.created', true],
        ['user.updated', true],
        ['message.created', false],
        ['user.deleted', true],
      ],
    );
    assert.ok(!at('/people').some((r) => r.body.includes('hello')), 'no message text in a payload');
  });

  test('after a rotation both secrets verify during the grace period, then only the new one', async () => {
    const m = await marketplace();
    const endpoint = await register(m.manager, '/rotate');
    const client = await clientFor(m.manager);
    const { data: rotated, error } = await client.rpc('rotate_webhook_secret', { endpoint_id: endpoint.id });
    assert.equal(error, null, error?.message);
    const newSecret = (rotated as { signing_secret: string }[])[0]?.signing_secret ?? '';
    assert.match(newSecret, /^whsec_/);
    assert.notEqual(newSecret, endpoint.secret);

    await client.rpc('send_test_webhook', { endpoint_id: endpoint.id });
    await until(async () => at('/rotate').length === 1);
    const during = at('/rotate')[0] as Received;
    assert.equal(String(during.headers['webhook-signature']).split(' ').length, 2);
    for (const secret of [endpoint.secret, newSecret])
      new Webhook(secret).verify(during.body, during.headers as Record<string, string>);

    setEnv({ LOCONOMY_WEBHOOKS_ROTATION_GRACE_HOURS: '0' });
    try {
      await client.rpc('send_test_webhook', { endpoint_id: endpoint.id });
      await until(async () => at('/rotate').length === 2);
    } finally {
      setEnv({ LOCONOMY_WEBHOOKS_ROTATION_GRACE_HOURS: SETTINGS.LOCONOMY_WEBHOOKS_ROTATION_GRACE_HOURS });
    }
    const afterGrace = at('/rotate')[1] as Received;
    const event = new Webhook(newSecret).verify(afterGrace.body, afterGrace.headers as Record<string, string>);
    assert.equal((event as { type: string }).type, 'webhook.test');
    assert.throws(() =>
      new Webhook(endpoint.secret).verify(afterGrace.body, afterGrace.headers as Record<string, string>),
    );
  });

  test('an endpoint failing without end is disabled and its owner notified', async () => {
    const m = await marketplace();
    const endpoint = await register(m.manager, '/dead');
    setEnv({ LOCONOMY_WEBHOOKS_DISABLE_AFTER_FAILURES: '3' });
    try {
      await createBooking(db, m.listing, m.customer);
      await until(async () => (await deliveries(endpoint.id))[0]?.status === 'dead');
    } finally {
      setEnv({ LOCONOMY_WEBHOOKS_DISABLE_AFTER_FAILURES: SETTINGS.LOCONOMY_WEBHOOKS_DISABLE_AFTER_FAILURES });
    }
    const [delivery] = await deliveries(endpoint.id);
    assert.equal(delivery?.attempt_count, 3);
    assert.equal(at('/dead').length, 3);
    const { rows } = await db.query<{ is_active: boolean; disabled: boolean }>(
      sql`select is_active, disabled_at is not null as disabled from public.webhook_endpoints where id = ${endpoint.id}::uuid`,
    );
    assert.deepEqual(rows[0], { is_active: false, disabled: true });
    const { rows: notes } = await db.query<{ title: string }>(sql`
      select title from public.notifications
       where user_id = ${m.manager.id}::uuid and data ->> 'endpoint_id' = ${endpoint.id}`);
    assert.deepEqual(
      notes.map((n) => n.title),
      ['Webhook endpoint disabled'],
    );
    // A disabled endpoint gets no new events, and cannot be sent a test one.
    await createBooking(db, m.listing, m.customer);
    assert.equal((await deliveries(endpoint.id)).length, 1);
    const { error } = await (await clientFor(m.manager)).rpc('send_test_webhook', { endpoint_id: endpoint.id });
    assert.match(error?.message ?? '', /disabled/);
  });

  test('with private addresses not allowed, a loopback endpoint is refused, by IP and by name; redirects are not followed', async () => {
    const m = await marketplace();
    const client = await clientFor(m.manager);
    const byIp = await register(m.manager, '/private-ip');
    const port = (receiver.address() as AddressInfo).port;
    const { data: created, error } = await client.rpc('create_webhook_endpoint', {
      url: `http://localhost:${port}/private-name`,
      events: ['booking.*'],
    });
    assert.equal(error, null, error?.message);
    const byName = { id: (created as { endpoint_id: string }[])[0]?.endpoint_id as string };
    for (const id of [byIp.id, byName.id]) {
      const { error: updateError } = await client.from('webhook_endpoints').update({ max_retries: 0 }).eq('id', id);
      assert.equal(updateError, null, updateError?.message);
    }
    setEnv({ LOCONOMY_WEBHOOKS_ALLOW_PRIVATE: 'false' });
    try {
      await createBooking(db, m.listing, m.customer);
      for (const id of [byIp.id, byName.id]) await until(async () => (await deliveries(id))[0]?.status === 'dead');
    } finally {
      setEnv({ LOCONOMY_WEBHOOKS_ALLOW_PRIVATE: 'true' });
    }
    assert.match((await deliveries(byIp.id))[0]?.error_message ?? '', /refused: 127\.0\.0\.1 is not a public address/);
    assert.match((await deliveries(byName.id))[0]?.error_message ?? '', /refused: localhost resolves to a non-public/);
    assert.equal(at('/private-ip').length + at('/private-name').length, 0, 'nothing reached the receiver');

    const moved = await register(m.manager, '/moved');
    await client.from('webhook_endpoints').update({ max_retries: 0 }).eq('id', moved.id);
    await client.rpc('send_test_webhook', { endpoint_id: moved.id });
    await until(async () => (await deliveries(moved.id))[0]?.status === 'dead');
    assert.match(
      (await deliveries(moved.id))[0]?.error_message ?? '',
      /redirect to http:\/\/169\.254\.169\.254\/ not followed/,
    );
  });

  test('another tenant cannot see or manage an endpoint; registering needs webhooks.manage', async () => {
    const m = await marketplace();
    const endpoint = await register(m.manager, '/private-to-tenant');
    const other = await marketplace();
    const client = await clientFor(other.manager);

    const { data: seen } = await client.from('webhook_endpoints').select('id').eq('id', endpoint.id);
    assert.deepEqual(seen, []);
    const { data: updated } = await client
      .from('webhook_endpoints')
      .update({ url: 'https://example.com/hook' })
      .eq('id', endpoint.id)
      .select('id');
    assert.deepEqual(updated, []);
    await client.from('webhook_endpoints').delete().eq('id', endpoint.id);
    for (const [fn, args] of [
      ['rotate_webhook_secret', { endpoint_id: endpoint.id }],
      ['send_test_webhook', { endpoint_id: endpoint.id }],
      ['replay_webhook_deliveries', { endpoint_id: endpoint.id, since: new Date(0).toISOString() }],
    ] as const) {
      const { error } = await client.rpc(fn, args);
      assert.match(error?.message ?? '', /not found/, fn);
    }
    const { rows } = await db.query<{ url: string }>(
      sql`select url from public.webhook_endpoints where id = ${endpoint.id}::uuid`,
    );
    assert.equal(rows[0]?.url, `${base}/private-to-tenant`, 'untouched');

    // The owner's colleague without the permission can neither register nor see the secret.
    const { error } = await (await clientFor(m.customer)).rpc('create_webhook_endpoint', {
      url: `${base}/nope`,
      events: ['booking.*'],
    });
    assert.match(error?.message ?? '', /webhooks\.manage/);
    const { error: secretError } = await (await clientFor(m.manager))
      .from('webhook_endpoints')
      .select('secret')
      .eq('id', endpoint.id);
    assert.ok(secretError, 'the secret column is not readable');
    const { error: badEvents } = await (await clientFor(m.manager)).rpc('create_webhook_endpoint', {
      url: `${base}/x`,
      events: ['listing.created'],
    });
    assert.match(badEvents?.message ?? '', /events must list/);
  });
});
