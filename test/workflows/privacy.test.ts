import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import {
  createBooking,
  createListing,
  createTenant,
  createUser,
  type ListingFixture,
  type UserFixture,
} from '../helpers/fixtures.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';

/*
 * Sessions, analytics, listing views and the data-subject rights over REST with supabase-js
 * and real tokens: start_session / end_session, track_event batches and their bounds, the
 * client IP (socket peer unless LOCONOMY_TRUST_PROXY trusts X-Forwarded-For),
 * record_listing_view de-duplication, export_my_data and delete_my_account in a
 * de-identify (US, CCPA) and an erase (EU, GDPR) region.
 */

let db: TestDatabase;
let server: TestServer;
let proxied: TestServer;

const uniq = () => randomUUID().slice(0, 8);

async function count(query: ReturnType<typeof sql>): Promise<number> {
  const { rows } = await db.query<{ n: number }>(query);
  return Number(rows[0]?.n);
}

async function as(user: UserFixture, on: TestServer = server): Promise<SupabaseClient> {
  return on.client({ token: await on.tokenFor(user.clerkId) });
}

/** A raw RPC call (for headers supabase-js does not let a test set per call). */
async function rpc(on: TestServer, fn: string, body: object, headers: Record<string, string> = {}) {
  return on.request(`rpc/${fn}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

before(async () => {
  db = await getTestDatabase();
  server = await startTestServer(db);
  proxied = await startTestServer(db, { LOCONOMY_TRUST_PROXY: 'true' });
});
after(async () => {
  await server?.close();
  await proxied?.close();
  await db?.dispose();
});

describe(`sessions and analytics (${testBackend()})`, () => {
  test('start_session records IP and user agent; a retry with the Clerk session id returns the same session; end_session ends it once', async () => {
    const user = await createUser(db);
    const client = await as(user);
    const clerkSession = `sess_${uniq()}`;
    const started = await client.rpc('start_session', {
      device_info: { platform: 'ios' },
      clerk_session_id: clerkSession,
    });
    assert.equal(started.error, null);
    const again = await client.rpc('start_session', {
      device_info: { platform: 'ios' },
      clerk_session_id: clerkSession,
    });
    assert.equal(again.data.session_id, started.data.session_id);
    const { rows } = await db.query<{ ip: string; ua: string; device: object; logins: number }>(sql`
      select host(s.ip_address) as ip, s.user_agent as ua, s.device_info as device, u.login_count as logins
      from public.user_sessions s join public.users u on u.id = s.user_id where s.id = ${started.data.session_id}`);
    assert.equal(rows[0]?.ip, '127.0.0.1');
    assert.ok(rows[0]?.ua, 'user agent recorded');
    assert.deepEqual(rows[0]?.device, { platform: 'ios' });
    assert.equal(rows[0]?.logins, 1);
    assert.equal(
      await count(
        sql`select count(*) as n from public.audit_logs where action = 'login' and resource_id = ${started.data.session_id}`,
      ),
      1,
    );

    const ended = await client.rpc('end_session', { session_id: started.data.session_id });
    assert.equal(ended.error, null);
    assert.ok(ended.data.ended_at);
    const twice = await client.rpc('end_session', { session_id: started.data.session_id });
    assert.equal(twice.data.ended_at, ended.data.ended_at);
    assert.equal(
      await count(
        sql`select count(*) as n from public.audit_logs where action = 'logout' and resource_id = ${started.data.session_id}`,
      ),
      1,
    );
  });

  test("sessions: anon is told to sign in, someone else's session is 404, bad input is 400, nothing written", async () => {
    const user = await createUser(db);
    const other = await createUser(db);
    const before = await count(sql`select count(*) as n from public.user_sessions`);
    const anon = await server.client().rpc('start_session', {});
    assert.equal(anon.status, 401);
    assert.match(anon.error?.message ?? '', /sign in first/);
    const client = await as(user);
    const big = await client.rpc('start_session', { device_info: { blob: 'x'.repeat(3000) } });
    assert.equal(big.status, 400);
    assert.match(big.error?.message ?? '', /at most 2048 bytes/);
    const notObject = await client.rpc('start_session', { device_info: [1, 2] });
    assert.equal(notObject.status, 400);
    const badId = await client.rpc('start_session', { clerk_session_id: 'sess with spaces' });
    assert.equal(badId.status, 400);
    assert.equal(await count(sql`select count(*) as n from public.user_sessions`), before);

    const theirs = await (await as(other)).rpc('start_session', { clerk_session_id: `sess_${uniq()}` });
    const foreign = await client.rpc('end_session', { session_id: theirs.data.session_id });
    assert.equal(foreign.status, 404);
    assert.match(foreign.error?.message ?? '', /is not one of your sessions/);
    const taken = await client.rpc('start_session', {
      clerk_session_id: (
        await db.query<{ c: string }>(sql`
      select clerk_session_id as c from public.user_sessions where id = ${theirs.data.session_id}`)
      ).rows[0]?.c,
    });
    assert.equal(taken.status, 409);
    assert.equal(
      await count(
        sql`select count(*) as n from public.user_sessions where ended_at is not null and id = ${theirs.data.session_id}`,
      ),
      0,
    );
  });

  test('track_event records a batch with user, tenant, session, IP and user agent from the request', async () => {
    const user = await createUser(db);
    const client = await as(user);
    const session = (await client.rpc('start_session', {})).data.session_id;
    await db.query(sql`update public.user_sessions set last_seen_at = now() - interval '1 hour' where id = ${session}`);
    const name = `t.batch-${uniq()}`;
    const { data, error } = await client.rpc('track_event', {
      events: [
        { event_name: name, page_url: 'https://example.com/a', properties: { n: 1 } },
        { event_name: name, event_category: 'search', event_action: 'submit', event_label: 'plumber' },
        { event_name: name, referrer: 'https://example.org/' },
      ],
      session_id: session,
    });
    assert.equal(error, null);
    assert.equal(data, 3);
    const { rows } = await db.query<{
      user_id: string;
      tenant_id: string;
      session_id: string;
      ip: string;
      ua: string;
    }>(sql`
      select user_id, tenant_id, session_id, host(ip_address) as ip, user_agent as ua from public.events where event_name = ${name}`);
    assert.equal(rows.length, 3);
    for (const row of rows) {
      assert.equal(row.user_id, user.id);
      assert.equal(row.tenant_id, user.tenantId);
      assert.equal(row.session_id, session);
      assert.equal(row.ip, '127.0.0.1');
      assert.ok(row.ua);
    }
    assert.equal(
      await count(
        sql`select count(*) as n from public.user_sessions where id = ${session} and last_seen_at > now() - interval '1 minute'`,
      ),
      1,
    );
  });

  test('track_event: anonymous visitors record events under their anonymous id; a single object is a batch of one', async () => {
    const name = `t.anon-${uniq()}`;
    const { data, error } = await server
      .client()
      .rpc('track_event', { events: { event_name: name }, anonymous_id: 'device-42' });
    assert.equal(error, null);
    assert.equal(data, 1);
    const { rows } = await db.query<{ user_id: string | null; anonymous_id: string }>(sql`
      select user_id, anonymous_id from public.events where event_name = ${name}`);
    assert.deepEqual(rows, [{ user_id: null, anonymous_id: 'device-42' }]);
  });

  test('track_event bounds: each too-large or malformed batch is a 400 naming the event, and nothing is recorded', async () => {
    const user = await createUser(db);
    const client = await as(user);
    const other = (await (await as(await createUser(db))).rpc('start_session', {})).data.session_id;
    const name = `t.bounds-${uniq()}`;
    const ok = { event_name: name };
    const cases: [object, RegExp][] = [
      [{ events: [] }, /non-empty array/],
      [{ events: 'page.view' }, /non-empty array/],
      [{ events: Array.from({ length: 101 }, () => ok) }, /at most 100 events; this one has 101/],
      [{ events: [ok, { event_name: 'Bad Name' }] }, /events\[1\] needs an event_name/],
      [
        { events: [ok, ok, { event_name: name, properties: { blob: 'x'.repeat(9000) } }] },
        /events\[2\] properties is \d+ bytes of JSON; the limit is 8192/,
      ],
      [{ events: [{ event_name: name, properties: [1] }] }, /properties must be a JSON object/],
      [
        { events: [{ event_name: name, page_url: `https://example.com/${'p'.repeat(2048)}` }] },
        /page_url is 2068 characters; the limit is 2048/,
      ],
      [{ events: [{ event_name: name, referrer: 'r'.repeat(2049) }] }, /referrer is 2049 characters/],
      [
        { events: [{ event_name: name, event_label: 'l'.repeat(201) }] },
        /event_label is 201 characters; the limit is 200/,
      ],
      [{ events: [{ event_name: name, user_id: user.id }] }, /unknown field "user_id"/],
      [{ events: [{ event_name: name, page_url: 7 }] }, /page_url must be a string/],
      [{ events: [ok], anonymous_id: 'a'.repeat(101) }, /anonymous_id must be 1–100 characters/],
      [{ events: [ok], session_id: other }, /is not one of your sessions/],
    ];
    for (const [body, message] of cases) {
      const { status, error } = await client.rpc('track_event', body);
      assert.equal(status, 400, JSON.stringify(body).slice(0, 80));
      assert.match(error?.message ?? '', message);
    }
    const anonSession = await server.client().rpc('track_event', { events: [ok], session_id: other });
    assert.equal(anonSession.status, 400);
    assert.match(anonSession.error?.hint ?? '', /send anonymous_id/);
    // The same bounds hold for a direct insert into events.
    const direct = await client.from('events').insert({ event_name: name, page_url: 'u'.repeat(3000) });
    assert.equal(direct.status, 400);
    assert.match(direct.error?.message ?? '', /page_url is 3000 characters/);
    assert.equal(await count(sql`select count(*) as n from public.events where event_name = ${name}`), 0);
  });

  test('the client IP comes from X-Forwarded-For only behind a trusted proxy (LOCONOMY_TRUST_PROXY)', async () => {
    const name = `t.ip-${uniq()}`;
    const forwarded = { 'x-forwarded-for': '203.0.113.7, 10.0.0.1' };
    assert.equal(
      (await rpc(server, 'track_event', { events: { event_name: name, event_label: 'direct' } }, forwarded)).status,
      200,
    );
    assert.equal(
      (await rpc(proxied, 'track_event', { events: { event_name: name, event_label: 'proxied' } }, forwarded)).status,
      200,
    );
    const { rows } = await db.query<{ label: string; ip: string }>(sql`
      select event_label as label, host(ip_address) as ip from public.events where event_name = ${name} order by 1`);
    assert.deepEqual(rows, [
      { label: 'direct', ip: '127.0.0.1' },
      { label: 'proxied', ip: '203.0.113.7' },
    ]);
    // The audit trail and sessions use the same address.
    const user = await createUser(db);
    const token = await proxied.tokenFor(user.clerkId);
    const started = await rpc(proxied, 'start_session', {}, { ...forwarded, authorization: `Bearer ${token}` });
    assert.equal(started.status, 200);
    const { rows: audit } = await db.query<{ ip: string }>(sql`
      select host(ip_address) as ip from public.audit_logs where action = 'login' and resource_id = ${started.json.session_id}`);
    assert.deepEqual(audit, [{ ip: '203.0.113.7' }]);
    const spoofed = await rpc(
      server,
      'start_session',
      {},
      { ...forwarded, authorization: `Bearer ${await server.tokenFor(user.clerkId)}` },
    );
    assert.equal(
      await count(
        sql`select count(*) as n from public.user_sessions where id = ${spoofed.json.session_id} and host(ip_address) = '127.0.0.1'`,
      ),
      1,
    );
  });
});

describe(`listing views (${testBackend()})`, () => {
  let listing: ListingFixture;
  let provider: UserFixture;
  const views = () => count(sql`select view_count as n from public.listings where id = ${listing.id}`);
  before(async () => {
    provider = await createUser(db, { role: 'provider' });
    listing = await createListing(db, provider);
  });

  test('one view per viewer per listing per window; the provider and invisible listings do not count; updated_at stays', async () => {
    const alice = await createUser(db);
    const bob = await createUser(db);
    const view = async (client: SupabaseClient, id = listing.id) => {
      const { error, status } = await client.rpc('record_listing_view', { listing_id: id });
      assert.equal(error, null);
      assert.equal(status, 204);
    };
    const asAlice = await as(alice);
    const updatedAt = () =>
      db.query(sql`select updated_at::text as t from public.listings where id = ${listing.id}`).then((r) => r.rows[0]);
    const edited = await updatedAt();
    await view(asAlice);
    await view(asAlice);
    assert.equal(await views(), 1);
    await view(await as(bob));
    assert.equal(await views(), 2);
    await view(await as(provider));
    assert.equal(await views(), 2);

    // Anonymous: the viewer is a salted hash of IP and user agent; no address is stored.
    const anonView = (ua: string) =>
      server.request('rpc/record_listing_view', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': ua },
        body: JSON.stringify({ listing_id: listing.id }),
      });
    await anonView('browser-a');
    await anonView('browser-a');
    assert.equal(await views(), 3);
    await anonView('browser-b');
    assert.equal(await views(), 4);
    assert.equal(
      await count(
        sql`select count(*) as n from app.listing_views where listing_id = ${listing.id} and viewer like '%127.0.0.1%'`,
      ),
      0,
    );

    // Once the window has passed, the same viewer counts again.
    await db.query(
      sql`update app.listing_views set counted_at = now() - interval '61 minutes' where viewer = ${`user:${alice.id}`}`,
    );
    await view(asAlice);
    assert.equal(await views(), 5);

    const draft = await createListing(db, provider, { status: 'draft' });
    await view(asAlice, draft.id);
    await view(asAlice, randomUUID());
    assert.equal(await count(sql`select view_count as n from public.listings where id = ${draft.id}`), 0);
    assert.deepEqual(await updatedAt(), edited);
  });

  test("a tenant's settings.listing_view_window_minutes sets the window", async () => {
    const tenant = await createTenant(db);
    await db.query(sql`update public.tenants set settings = '{"listing_view_window_minutes": 5}' where id = ${tenant}`);
    const p = await createUser(db, { role: 'provider', tenantId: tenant });
    const l = await createListing(db, p);
    const viewer = await createUser(db, { tenantId: tenant });
    const client = await as(viewer);
    await client.rpc('record_listing_view', { listing_id: l.id });
    await db.query(
      sql`update app.listing_views set counted_at = now() - interval '6 minutes' where listing_id = ${l.id}`,
    );
    await client.rpc('record_listing_view', { listing_id: l.id });
    assert.equal(await count(sql`select view_count as n from public.listings where id = ${l.id}`), 2);
  });

  test('a listing id that is not a uuid is a 400', async () => {
    const { status } = await server.client().rpc('record_listing_view', { listing_id: 'nope' });
    assert.equal(status, 400);
  });
});

describe(`export_my_data and delete_my_account (${testBackend()})`, () => {
  /** A user with a little of everything: address, session, events, a completed booking, a payment. */
  async function populated(tenantId?: string) {
    const user = await createUser(db, tenantId ? { tenantId } : {});
    const provider = await createUser(db, { role: 'provider', ...(tenantId ? { tenantId } : {}) });
    const listing = await createListing(db, provider);
    const client = await as(user);
    await client
      .from('user_addresses')
      .insert({ user_id: user.id, line1: `${uniq()} Main St`, city: 'Springfield', country_code: 'US' });
    const session = (await client.rpc('start_session', { device_info: { platform: 'web' } })).data.session_id;
    await client.rpc('track_event', {
      events: [{ event_name: 'listing.viewed', properties: { q: 'plumber' } }],
      session_id: session,
    });
    const booking = await createBooking(db, listing, user, { status: 'completed', startsInHours: -48 });
    await db.query(sql`update public.bookings set customer_notes = 'gate code 1234' where id = ${booking.id}`);
    await db.query(sql`insert into public.transactions (user_id, booking_id, type, status, amount_cents, currency, processed_at)
                       values (${user.id}, ${booking.id}, 'payment', 'completed', 8400, 'USD', now())`);
    await db.query(
      sql`update public.user_profiles set tax_id = 'TAX-SECRET', bio = 'I like pipes' where user_id = ${user.id}`,
    );
    const { rows } = await db.query<{ id: string }>(sql`
      insert into public.conversations (tenant_id, booking_id, created_by) values (${user.tenantId}, ${booking.id}, ${user.id}) returning id`);
    const conversation = rows[0]?.id as string;
    await db.query(
      sql`insert into public.conversation_participants (conversation_id, user_id) values (${conversation}, ${user.id}), (${conversation}, ${provider.id})`,
    );
    await db.query(
      sql`insert into public.messages (conversation_id, sender_id, content) values (${conversation}, ${user.id}, 'my phone is 555-0100')`,
    );
    return { user, provider, client, booking, session };
  }

  test("export_my_data returns every table that references users, with the caller's rows only and no secrets", async () => {
    const { user, client, booking } = await populated();
    const other = await populated();
    const { data, error } = await client.rpc('export_my_data');
    assert.equal(error, null);
    assert.equal(data.format, 'loconomy.export/1');
    assert.equal(data.user_id, user.id);
    const { rows } = await db.query<{ t: string }>(sql`
      select distinct c.conrelid::regclass::text as t from pg_constraint c
      where c.contype = 'f' and c.confrelid in ('public.users'::regclass, 'public.user_profiles'::regclass)
        and c.connamespace = 'public'::regnamespace`);
    for (const { t } of rows) assert.ok(Array.isArray(data.tables[t.replace(/^public\./, '')]), `export covers ${t}`);
    assert.equal(data.tables.users[0].email, `${user.clerkId}@example.com`);
    assert.equal(data.tables.user_addresses.length, 1);
    assert.equal(data.tables.user_sessions.length, 1);
    assert.equal(data.tables.events.length, 1);
    assert.deepEqual(
      data.tables.bookings.map((b: { id: string }) => b.id),
      [booking.id],
    );
    assert.equal(data.tables.transactions.length, 1);
    assert.equal(data.tables.messages[0].content, 'my phone is 555-0100');
    assert.ok(data.tables.audit_logs.some((l: { action: string }) => l.action === 'login'));
    const text = JSON.stringify(data);
    assert.ok(!text.includes(other.user.id), "no other user's rows");
    assert.ok(!text.includes('TAX-SECRET'), 'tax_id stays out');
    assert.ok(!('session_token_hash' in data.tables.user_sessions[0]), 'token hashes stay out');

    const anon = await server.client().rpc('export_my_data');
    assert.equal(anon.status, 401);
    assert.match(anon.error?.message ?? '', /sign in first/);
  });

  test('delete_my_account refuses a wrong confirmation, open bookings and a running subscription, changing nothing', async () => {
    const { user, client, provider } = await populated();
    const snapshot = () =>
      db
        .query(sql`select u.email, u.deleted_at, (select count(*) from public.user_addresses a where a.user_id = u.id) as a
                                        from public.users u where u.id = ${user.id}`)
        .then((r) => JSON.stringify(r.rows));
    const before = await snapshot();
    const wrong = await client.rpc('delete_my_account', { confirm_email: 'someone@else.com' });
    assert.equal(wrong.status, 400);
    assert.match(wrong.error?.message ?? '', /confirm_email does not match/);
    const listing = await createListing(db, provider);
    const open = await createBooking(db, listing, user, { status: 'confirmed' });
    const busy = await client.rpc('delete_my_account', { confirm_email: `${user.clerkId}@example.com` });
    assert.equal(busy.status, 409);
    assert.match(busy.error?.message ?? '', /1 open booking/);
    await db.query(sql`update public.bookings set status = 'cancelled' where id = ${open.id}`);
    await db.query(
      sql`insert into public.subscriptions (user_id, tier, status) values (${user.id}, 'basic', 'active')`,
    );
    const subscribed = await client.rpc('delete_my_account', { confirm_email: `${user.clerkId}@example.com` });
    assert.equal(subscribed.status, 409);
    assert.match(subscribed.error?.message ?? '', /running subscription/);
    assert.equal(await snapshot(), before);
    const anon = await server.client().rpc('delete_my_account', { confirm_email: 'x@example.com' });
    assert.equal(anon.status, 401);
  });

  test('in a de-identify region (US, CCPA) the account is anonymised, private data deleted, events unlinked, money kept', async () => {
    const { user, client, booking } = await populated();
    const { data, error } = await client.rpc('delete_my_account', {
      confirm_email: `${user.clerkId.toUpperCase()}@EXAMPLE.COM`,
    });
    assert.equal(error, null);
    assert.equal(data.mode, 'deidentify');
    assert.equal(data.region, 'US');
    assert.equal(data.deleted.user_addresses, 1);
    assert.equal(data.deleted.user_sessions, 1);
    assert.ok(data.kept.transactions.user_id);
    assert.ok(data.anonymised.users.id);

    const { rows } = await db.query<Record<string, unknown>>(sql`
      select u.email, u.clerk_id, u.first_name, u.status, u.deleted_at is not null as deleted, p.display_name, p.bio, p.tax_id
      from public.users u join public.user_profiles p on p.user_id = u.id where u.id = ${user.id}`);
    assert.deepEqual(rows[0], {
      email: `deleted-${user.id}@deleted.invalid`,
      clerk_id: null,
      first_name: null,
      status: 'inactive',
      deleted: true,
      display_name: 'Deleted user',
      bio: null,
      tax_id: null,
    });
    assert.equal(await count(sql`select count(*) as n from public.events where user_id = ${user.id}`), 0);
    assert.equal(
      (await count(
        sql`select count(*) as n from public.events where event_name = 'listing.viewed' and user_id is null and ip_address is null`,
      )) >= 1,
      true,
    );
    assert.equal(
      await count(
        sql`select count(*) as n from public.bookings where id = ${booking.id} and customer_notes = 'gate code 1234'`,
      ),
      1,
    );
    assert.equal(await count(sql`select count(*) as n from public.transactions where user_id = ${user.id}`), 1);
    assert.equal(
      await count(sql`select count(*) as n from public.messages where sender_id = ${user.id} and content is not null`),
      1,
    );

    // The token no longer maps to an account.
    const after = await client.rpc('export_my_data');
    assert.equal(after.status, 403);
    assert.match(after.error?.message ?? '', /no account exists/);
  });

  test('in an erase region (EU, GDPR) what the user wrote is erased and events are deleted; audit values are scrubbed', async () => {
    const tenant = await createTenant(db);
    await db.query(
      sql`update public.tenants set region_id = (select id from public.regions where code = 'EU') where id = ${tenant}`,
    );
    const { user, client, booking } = await populated(tenant);
    const { data, error } = await client.rpc('delete_my_account', { confirm_email: `${user.clerkId}@example.com` });
    assert.equal(error, null);
    assert.equal(data.mode, 'erase');
    assert.equal(data.region, 'EU');
    assert.equal(data.deleted.events, 1);
    assert.equal(
      await count(
        sql`select count(*) as n from public.messages where sender_id = ${user.id} and content is null and deleted_at is not null`,
      ),
      1,
    );
    assert.equal(
      await count(
        sql`select count(*) as n from public.bookings where id = ${booking.id} and customer_notes is null and total_cents = 8400`,
      ),
      1,
    );
    assert.equal(await count(sql`select count(*) as n from public.transactions where user_id = ${user.id}`), 1);
    const text = JSON.stringify(
      (await db.query(sql`select old_values, new_values from public.audit_logs where resource_id = ${user.id}`)).rows,
    );
    assert.ok(!text.includes(`${user.clerkId}@example.com`), 'the email is gone from the audit trail');
    assert.ok(
      (await count(sql`select count(*) as n from public.audit_logs where resource_id = ${user.id}`)) >= 2,
      'the trail itself stays',
    );
  });
});
