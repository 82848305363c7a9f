import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Queryable } from '../../src/db/database.js';
import { type SqlFragment, sql } from '../../src/db/sql.js';
import { createBooking, createListing, createUser, grantPermission, type UserFixture } from '../helpers/fixtures.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';

/*
 * 0019 credits: the append-only credit ledger. The trusted internals (app.grant_credit,
 * app.spend_credit, app.return_credit, app.expire_credit, app.credit_balance) as the workflows
 * call them, and what a client sees: my_credit_balance() and its own ledger rows over REST,
 * every direct write refused.
 */

let db: TestDatabase;
let server: TestServer;
let provider: UserFixture;
let listing: Awaited<ReturnType<typeof createListing>>;

before(async () => {
  db = await getTestDatabase();
  provider = await createUser(db, { role: 'provider' });
  listing = await createListing(db, provider);
  server = await startTestServer(db);
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

async function one<T>(q: Queryable, query: SqlFragment): Promise<T> {
  const { rows } = await q.query<T>(query);
  assert.equal(rows.length, 1, 'expected exactly one row');
  return rows[0] as T;
}

const balance = async (user: UserFixture, currency = 'USD') =>
  Number((await one<{ b: string }>(db, sql`select app.credit_balance(${user.id}, ${currency}) as b`)).b);

const grant = async (user: UserFixture, cents: number, options: { currency?: string; expiresAt?: string } = {}) =>
  (
    await one<{ id: string }>(
      db,
      sql`select app.grant_credit(${user.id}, ${options.currency ?? 'USD'}, ${cents}::bigint,
                                  expires_at => ${options.expiresAt ?? null}::timestamptz) as id`,
    )
  ).id;

const spend = async (user: UserFixture, bookingId: string, maxCents: number, currency = 'USD') =>
  Number(
    (
      await one<{ n: string }>(
        db,
        sql`select app.spend_credit(${user.id}, ${bookingId}, ${currency}, ${maxCents}::bigint) as n`,
      )
    ).n,
  );

const giveBack = async (bookingId: string) =>
  Number((await one<{ n: string }>(db, sql`select app.return_credit(${bookingId}) as n`)).n);

const ledgerRows = async (user: UserFixture) =>
  (await db.query<{ n: number }>(sql`select count(*)::int as n from public.credit_ledger where user_id = ${user.id}`))
    .rows[0]?.n;

const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

async function customerWithBooking(): Promise<{ customer: UserFixture; booking: string }> {
  const customer = await createUser(db);
  const { id } = await createBooking(db, listing, customer);
  return { customer, booking: id };
}

describe(`credit ledger internals (${testBackend()})`, () => {
  test('grants add up per currency; an expired grant no longer counts', async () => {
    const c = await createUser(db);
    await grant(c, 1500, { expiresAt: inDays(30) });
    await grant(c, 500);
    await grant(c, 900, { currency: 'EUR' });
    await grant(c, 700, { expiresAt: inDays(-1) });
    assert.equal(await balance(c), 2000);
    assert.equal(await balance(c, 'EUR'), 900);
    assert.equal(await balance(c, 'GBP'), 0);
  });

  test('a grant must be positive (22023, nothing written)', async () => {
    const c = await createUser(db);
    for (const cents of [0, -100]) {
      await assert.rejects(grant(c, cents), (e: { code?: string; message?: string }) => {
        assert.equal(e.code, '22023');
        assert.match(e.message ?? '', /positive amount/);
        return true;
      });
    }
    assert.equal(await ledgerRows(c), 0);
  });

  test('an idempotency key grants once', async () => {
    const c = await createUser(db);
    const first = await one<{ id: string }>(
      db,
      sql`select app.grant_credit(${c.id}, 'USD', 300::bigint, idempotency_key => 'goodwill-1') as id`,
    );
    const again = await one<{ id: string }>(
      db,
      sql`select app.grant_credit(${c.id}, 'USD', 300::bigint, idempotency_key => 'goodwill-1') as id`,
    );
    assert.equal(again.id, first.id);
    assert.equal(await balance(c), 300);
  });

  test('spend_credit applies up to max_cents, soonest-expiring credit first, once per booking', async () => {
    const { customer, booking } = await customerWithBooking();
    const never = await grant(customer, 1000);
    const late = await grant(customer, 1000, { expiresAt: inDays(60) });
    const soon = await grant(customer, 400, { expiresAt: inDays(5) });
    assert.equal(await spend(customer, booking, 1000), 1000);
    const { rows } = await db.query<{ credit_id: string; amount_cents: string }>(
      sql`select credit_id, amount_cents from public.credit_ledger
          where booking_id = ${booking} and reason = 'booking_spend' order by amount_cents`,
    );
    assert.deepEqual(
      rows.map((r) => [r.credit_id, Number(r.amount_cents)]),
      [
        [late, -600],
        [soon, -400],
      ],
    );
    assert.equal(await balance(customer), 1400);
    // A replay (a retried create_booking) writes nothing and answers the same amount.
    assert.equal(await spend(customer, booking, 1000), 1000);
    assert.equal(await spend(customer, booking, 50), 1000);
    assert.equal(await balance(customer), 1400);
    assert.ok(never);
  });

  test('spend_credit takes no more than the balance, nothing from another currency or an expired grant', async () => {
    const { customer, booking } = await customerWithBooking();
    await grant(customer, 250);
    await grant(customer, 5000, { currency: 'EUR' });
    await grant(customer, 5000, { expiresAt: inDays(-2) });
    assert.equal(await spend(customer, booking, 10_000), 250);
    assert.equal(await balance(customer), 0);
    assert.equal(await balance(customer, 'EUR'), 5000);
    const other = await customerWithBooking();
    assert.equal(await spend(other.customer, other.booking, 1000), 0);
    assert.equal(await ledgerRows(other.customer), 0);
  });

  test('spend_credit refuses a negative or missing max_cents (22023, nothing written)', async () => {
    const { customer, booking } = await customerWithBooking();
    await grant(customer, 800);
    await assert.rejects(spend(customer, booking, -1), { code: '22023' });
    await assert.rejects(
      db.query(sql`select app.spend_credit(${customer.id}, ${booking}, 'USD', null)`),
      (e: { code?: string }) => e.code === '22023',
    );
    assert.equal(await balance(customer), 800);
    assert.equal(await ledgerRows(customer), 1);
  });

  test('spend_credit for a booking id that never appears fails at commit', async () => {
    const c = await createUser(db);
    await grant(c, 800);
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`select app.spend_credit(${c.id}, gen_random_uuid(), 'USD', 100::bigint)`);
      }),
      (e: { code?: string }) => e.code === '23503',
    );
    assert.equal(await balance(c), 800);
  });

  test('a workflow may spend for a booking it inserts later in the same transaction', async () => {
    const c = await createUser(db);
    await grant(c, 800);
    const applied = await db.transaction(async (tx) => {
      const id = (await one<{ id: string }>(tx, sql`select gen_random_uuid() as id`)).id;
      const n = await one<{ n: string }>(tx, sql`select app.spend_credit(${c.id}, ${id}, 'USD', 300::bigint) as n`);
      await tx.query(sql`
        insert into public.bookings (id, listing_id, provider_id, customer_id, tenant_id, starts_at, ends_at, time_zone,
                                     service_title, currency, base_price_cents, discount_cents, total_cents)
        values (${id}, ${listing.id}, ${provider.id}, ${c.id}, ${c.tenantId}, now() + interval '900 days',
                now() + interval '900 days 1 hour', 'UTC', 'Paid with credit', 'USD', 8000, 300, 7700)`);
      return Number(n.n);
    });
    assert.equal(applied, 300);
    assert.equal(await balance(c), 500);
  });

  test('return_credit gives a booking its credit back to the lots it came from, once', async () => {
    const { customer, booking } = await customerWithBooking();
    await grant(customer, 300, { expiresAt: inDays(10) });
    await grant(customer, 1000);
    assert.equal(await spend(customer, booking, 800), 800);
    assert.equal(await balance(customer), 500);
    assert.equal(await giveBack(booking), 800);
    assert.equal(await balance(customer), 1300);
    assert.equal(await giveBack(booking), 800);
    assert.equal(await balance(customer), 1300);
    const { rows } = await db.query<{ n: number }>(
      sql`select count(*)::int as n from public.credit_ledger where booking_id = ${booking} and reason = 'booking_return'`,
    );
    assert.equal(rows[0]?.n, 2);
    // Spending again for the same booking is still a replay: the booking spent once.
    assert.equal(await spend(customer, booking, 800), 800);
    assert.equal(await balance(customer), 1300);
  });

  test('return_credit of a booking that spent nothing is 0 and writes nothing', async () => {
    const { customer, booking } = await customerWithBooking();
    assert.equal(await giveBack(booking), 0);
    assert.equal(await ledgerRows(customer), 0);
  });

  test('expire_credit writes what is left of each expired grant, once; returned credit keeps its expiry', async () => {
    const { customer, booking } = await customerWithBooking();
    const lot = await grant(customer, 1000, { expiresAt: inDays(3) });
    await grant(customer, 200);
    assert.equal(await spend(customer, booking, 600), 600);
    // Time passes: the lot's expiry is moved into the past by the owner (rows are otherwise immutable).
    await db.query(sql`alter table public.credit_ledger disable trigger credit_ledger_append_only`);
    try {
      await db.query(sql`update public.credit_ledger set expires_at = now() - interval '1 minute' where id = ${lot}`);
    } finally {
      await db.query(sql`alter table public.credit_ledger enable trigger credit_ledger_append_only`);
    }
    assert.equal(await balance(customer), 200);
    await db.query(sql`select app.expire_credit()`);
    const expiry = await one<{ amount_cents: string; credit_id: string }>(
      db,
      sql`select amount_cents, credit_id from public.credit_ledger where user_id = ${customer.id} and reason = 'expiry'`,
    );
    assert.deepEqual([Number(expiry.amount_cents), expiry.credit_id], [-400, lot]);
    await db.query(sql`select app.expire_credit()`);
    assert.equal(await ledgerRows(customer), 4);
    // The cancelled booking's 600 goes back to its expired lot: not usable, and expired by the next run.
    assert.equal(await giveBack(booking), 600);
    assert.equal(await balance(customer), 200);
    await db.query(sql`select app.expire_credit()`);
    const { rows } = await db.query<{ s: string }>(
      sql`select sum(amount_cents) as s from public.credit_ledger where user_id = ${customer.id} and reason = 'expiry'`,
    );
    assert.equal(Number(rows[0]?.s), -1000);
    assert.equal(await balance(customer), 200);
  });

  test('ledger rows are never updated, even by the owner', async () => {
    const c = await createUser(db);
    const id = await grant(c, 100);
    await assert.rejects(
      db.query(sql`update public.credit_ledger set amount_cents = 1000000 where id = ${id}`),
      (e: { code?: string; message?: string }) => e.code === 'PT405' && /never changed/.test(e.message ?? ''),
    );
  });

  if (testBackend() === 'postgres') {
    test('concurrent spends of one balance never overdraw it', async () => {
      const customer = await createUser(db);
      await grant(customer, 1000);
      // The bookings one after another: the concurrency under test is the spending.
      const bookings: { id: string }[] = [];
      for (let i = 0; i < 6; i++)
        bookings.push(await createBooking(db, listing, customer, { startsInHours: 5000 + i * 3 }));
      const applied = await Promise.all(bookings.map((b) => spend(customer, b.id, 300)));
      assert.equal(
        applied.reduce((a, b) => a + b, 0),
        1000,
      );
      assert.deepEqual(
        applied.filter((n) => n > 0).sort((x, y) => x - y),
        [100, 300, 300, 300],
      );
      assert.equal(await balance(customer), 0);
    });

    test('concurrent expiry runs expire a grant once', async () => {
      const c = await createUser(db);
      await grant(c, 700, { expiresAt: inDays(-1) });
      await Promise.all([1, 2, 3].map(() => db.query(sql`select app.expire_credit()`)));
      const { rows } = await db.query<{ amount_cents: string }>(
        sql`select amount_cents from public.credit_ledger where user_id = ${c.id} and reason = 'expiry'`,
      );
      assert.deepEqual(
        rows.map((r) => Number(r.amount_cents)),
        [-700],
      );
    });
  }
});

describe(`credit over REST (${testBackend()})`, () => {
  test('my_credit_balance: one row per currency with the soonest expiry', async () => {
    const c = await createUser(db);
    await grant(c, 1000);
    await grant(c, 300, { expiresAt: '2999-03-01T00:00:00Z' });
    await grant(c, 200, { expiresAt: '2999-03-01T00:00:00Z' });
    await grant(c, 400, { expiresAt: '2999-06-01T00:00:00Z' });
    await grant(c, 50, { currency: 'EUR', expiresAt: inDays(-1) });
    const client = server.client({ token: await server.tokenFor(c.clerkId) });
    const { data, error } = await client.rpc('my_credit_balance');
    assert.equal(error, null);
    assert.deepEqual(data, [
      { currency: 'EUR', balance_cents: 0, next_expires_at: null, expiring_cents: null },
      { currency: 'USD', balance_cents: 1900, next_expires_at: '2999-03-01T00:00:00+00:00', expiring_cents: 500 },
    ]);
  });

  test('my_credit_balance is empty for a user who never had credit, 401 for anonymous callers', async () => {
    const c = await createUser(db);
    const { data, error } = await server.client({ token: await server.tokenFor(c.clerkId) }).rpc('my_credit_balance');
    assert.equal(error, null);
    assert.deepEqual(data, []);
    const anon = await server.client().rpc('my_credit_balance');
    assert.equal(anon.status, 401);
    assert.equal(anon.error?.code, '42501');
  });

  test('a user reads their own ledger rows only; payment staff read their tenant', async () => {
    const a = await createUser(db);
    const b = await createUser(db);
    await grant(a, 111);
    await grant(b, 222);
    const asA = server.client({ token: await server.tokenFor(a.clerkId) });
    // As docs/workflows.md shows the history screen.
    const own = await asA
      .from('credit_ledger')
      .select('created_at, amount_cents, currency, reason, booking_id, expires_at')
      .order('created_at', { ascending: false });
    assert.equal(own.error, null);
    assert.deepEqual(
      own.data?.map(({ created_at, ...rest }) => rest),
      [{ amount_cents: 111, currency: 'USD', reason: 'adjustment', booking_id: null, expires_at: null }],
    );
    const staff = await createUser(db);
    await grantPermission(db, staff, 'payments.read');
    const asStaff = server.client({ token: await server.tokenFor(staff.clerkId) });
    const seen = await asStaff.from('credit_ledger').select('user_id').in('user_id', [a.id, b.id]);
    assert.equal(seen.error, null);
    assert.equal(seen.data?.length, 2);
  });

  test('direct writes are refused for users and for service_role; nothing is written', async () => {
    const a = await createUser(db);
    const id = await grant(a, 100);
    const asA = server.client({ token: await server.tokenFor(a.clerkId) });
    const insert = await asA
      .from('credit_ledger')
      .insert({ user_id: a.id, currency: 'USD', amount_cents: 100000, reason: 'adjustment' });
    assert.equal(insert.status, 403);
    assert.equal(insert.error?.code, '42501');
    const update = await asA.from('credit_ledger').update({ amount_cents: 100000 }).eq('id', id);
    assert.equal(update.status, 403);
    const remove = await asA.from('credit_ledger').delete().eq('id', id);
    assert.equal(remove.status, 403);
    const asService = server.client({ apikey: server.keys.service_role });
    const serviceInsert = await asService
      .from('credit_ledger')
      .insert({ user_id: a.id, currency: 'USD', amount_cents: 100000, reason: 'adjustment' });
    assert.equal(serviceInsert.status, 403);
    const serviceDelete = await asService.from('credit_ledger').delete().eq('id', id);
    assert.equal(serviceDelete.status, 403);
    assert.equal(await balance(a), 100);
    assert.equal(await ledgerRows(a), 1);
  });
});
