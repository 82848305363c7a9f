import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import { createListing, createUser, type ListingFixture, type UserFixture } from '../helpers/fixtures.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';

/*
 * The booking lifecycle (migration 0021) through /rest/v1/rpc with supabase-js and real tokens:
 * create_booking (price breakdown, instant book, idempotency keys, taken slots), the actions
 * (confirm, decline, start, complete, no-show, cancel, dispute, reschedule), who may take each
 * and when, refunds at each cancellation-policy boundary with the payment they leave (offline mode), expiry of
 * unanswered requests, and on PostgreSQL many simultaneous requests for one provider's time.
 */

let db: TestDatabase;
let server: TestServer;
let customer: UserFixture;
let stranger: UserFixture;
let asCustomer: SupabaseClient;
let asStranger: SupabaseClient;
let anon: SupabaseClient;

const HOUR = 3_600_000;
const MINUTE = 60_000;

before(async () => {
  db = await getTestDatabase();
  customer = await createUser(db);
  stranger = await createUser(db);
  server = await startTestServer(db);
  asCustomer = await clientOf(customer);
  asStranger = await clientOf(stranger);
  anon = server.client();
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

async function clientOf(user: UserFixture): Promise<SupabaseClient> {
  return server.client({ token: await server.tokenFor(user.clerkId) });
}

/**
 * A provider open around the clock every day (in UTC unless told), so every start on the
 * listing's 30-minute slot grid is bookable whatever the hour the suite runs, with an hourly
 * listing at 80.00 that needs no notice.
 */
async function newProvider(
  listingOptions: { instantBook?: boolean; policy?: string; timeZone?: string } = {},
): Promise<{ provider: UserFixture; listing: ListingFixture; client: SupabaseClient }> {
  const provider = await createUser(db, { role: 'provider', timeZone: listingOptions.timeZone ?? 'UTC' });
  await db.query(sql`insert into public.provider_availability (provider_id, day_of_week, start_time, end_time)
                     select ${provider.id}, d, '00:00', '24:00' from generate_series(1, 7) d`);
  const listing = await createListing(db, provider);
  await db.query(sql`update public.listings
                        set instant_book = ${listingOptions.instantBook ?? false},
                            cancellation_policy_kind = ${listingOptions.policy ?? 'moderate'}::public.cancellation_policy_kind
                      where id = ${listing.id}`);
  return { provider, listing, client: await clientOf(provider) };
}

/** An instant `hours` (may be fractional) from now. */
const inHours = (hours: number) => new Date(Date.now() + hours * HOUR).toISOString();

/** The first 12:00 UTC between 12 and 36 hours from now. */
const firstNoon = (() => {
  const day = new Date(Date.now() + 24 * HOUR);
  day.setUTCHours(12, 0, 0, 0);
  return day.getTime();
})();
/** 12:00 UTC `days` after firstNoon, plus `hours` (keep within ±10 so the day stays the same). */
const noon = (days: number, hours = 0) => new Date(firstNoon + days * 24 * HOUR + hours * HOUR).toISOString();

/** The next half hour at least `hours` from now (on the slot grid). */
const onGrid = (hours: number) =>
  new Date(Math.ceil((Date.now() + hours * HOUR) / (30 * MINUTE)) * 30 * MINUTE).toISOString();

async function bookingsOf(listingId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    sql`select count(*)::int as n from public.bookings where listing_id = ${listingId}`,
  );
  return rows[0]?.n ?? -1;
}

async function bookingRow(id: string): Promise<Record<string, unknown>> {
  const { rows } = await db.query(
    sql`select status::text, refund_cents::int, cancellation_reason, cancelled_by, starts_at, ends_at
        from public.bookings where id = ${id}`,
  );
  return rows[0] as Record<string, unknown>;
}

/** The booking's payment (status, captured, refunded) and its ledger rows, in the order written. */
async function moneyOf(bookingId: string) {
  const { rows: payments } = await db.query<{ status: string; captured: number; refunded: number }>(
    sql`select status::text, captured_cents::int as captured, refunded_cents::int as refunded
        from public.payments where booking_id = ${bookingId}`,
  );
  const { rows: ledger } = await db.query<{ type: string; user_id: string; amount: number; fee: number }>(
    sql`select type::text, user_id, amount_cents::int as amount, platform_fee_cents::int as fee
        from public.transactions where booking_id = ${bookingId} order by created_at, type`,
  );
  return { ...payments[0], ledger };
}

/**
 * A booking written directly (as the payment integration would), `minutes` long starting at
 * `startsAt`, in a status (confirmed ones are stamped confirmed_at), total 84.00.
 */
async function insertBooking(
  listing: ListingFixture,
  options: { startsAt: string; minutes?: number; status?: string; policy?: string; who?: UserFixture },
): Promise<string> {
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.bookings (listing_id, provider_id, customer_id, tenant_id, starts_at, ends_at, time_zone,
                                 service_title, currency, base_price_cents, service_fee_cents, tax_cents,
                                 discount_cents, total_cents, platform_fee_cents, status, cancellation_policy)
    values (${listing.id}, ${listing.providerId}, ${(options.who ?? customer).id}, ${listing.tenantId},
            ${options.startsAt}::timestamptz, ${options.startsAt}::timestamptz + make_interval(mins => ${options.minutes ?? 60}),
            'America/New_York', 'Fixture booking', 'USD', 8000, 400, 0, 0, 8400, 800,
            ${options.status ?? 'confirmed'}::public.booking_status,
            ${options.policy ?? 'moderate'}::public.cancellation_policy_kind)
    returning id`);
  return rows[0]?.id as string;
}

describe(`create_booking over REST (${testBackend()})`, () => {
  test('a customer books: the booking comes back pending with its price breakdown and a 24-hour deadline', async () => {
    const { provider, listing } = await newProvider();
    const startsAt = noon(2);
    const { data, error, status } = await asCustomer
      .rpc('create_booking', { listing_id: listing.id, starts_at: startsAt, duration_minutes: 90 })
      .single<Record<string, unknown>>();
    assert.equal(error, null);
    assert.equal(status, 200);
    assert.equal(data?.status, 'pending');
    assert.equal(data?.customer_id, customer.id);
    assert.equal(data?.provider_id, provider.id);
    assert.equal(data?.cancellation_policy, 'moderate');
    // 80.00/h × 90 min = 120.00; 5 % service fee; no US tax; 10 % commission.
    assert.deepEqual(data?.price_breakdown, {
      currency: 'USD',
      pricing_type: 'hourly',
      minutes: 90,
      unit_price_cents: 8000,
      base_cents: 12000,
      service_fee_bps: 500,
      service_fee_cents: 600,
      tax_rate_bps: 0,
      tax_cents: 0,
      discount_cents: 0,
      credit_cents: 0,
      total_cents: 12600,
      platform_fee_bps: 1000,
      platform_fee_cents: 1200,
      provider_payout_cents: 10800,
    });
    assert.equal(data?.total_cents, 12600);
    const deadline = Date.parse(String(data?.expires_at)) - Date.parse(String(data?.created_at));
    assert.equal(deadline, 24 * HOUR);
    const { rows: history } = await db.query(
      sql`select from_status, to_status::text, changed_by from public.booking_status_history where booking_id = ${data?.id as string}`,
    );
    assert.deepEqual(history, [{ from_status: null, to_status: 'pending', changed_by: customer.id }]);
  });

  test('a request for a start within 24 hours expires at its start', async () => {
    const startsAt = onGrid(3);
    const { listing } = await newProvider();
    const { data, error } = await asCustomer
      .rpc('create_booking', { listing_id: listing.id, starts_at: startsAt })
      .single<Record<string, unknown>>();
    assert.equal(error, null);
    assert.equal(Date.parse(String(data?.expires_at)), Date.parse(startsAt));
  });

  test('an instant-book listing confirms at once, without a deadline', async () => {
    const { listing } = await newProvider({ instantBook: true, policy: 'strict' });
    const { data, error } = await asCustomer
      .rpc('create_booking', { listing_id: listing.id, starts_at: noon(3) })
      .single<Record<string, unknown>>();
    assert.equal(error, null);
    assert.deepEqual([data?.status, data?.expires_at, data?.cancellation_policy], ['confirmed', null, 'strict']);
    assert.notEqual(data?.confirmed_at, null);
  });

  test('the same idempotency key twice makes one booking; the key with other arguments is refused (422)', async () => {
    const { listing } = await newProvider();
    const key = randomUUID();
    const args = { listing_id: listing.id, starts_at: noon(3), idempotency_key: key };
    const first = await asCustomer.rpc('create_booking', args).single<{ id: string }>();
    const retry = await asCustomer.rpc('create_booking', args).single<{ id: string }>();
    assert.equal(first.error, null);
    assert.equal(retry.error, null);
    assert.equal(retry.status, 200);
    assert.equal(retry.data?.id, first.data?.id);
    assert.equal(await bookingsOf(listing.id), 1);

    const changed = await asCustomer.rpc('create_booking', { ...args, starts_at: noon(3, 5) });
    assert.equal(changed.status, 422);
    assert.equal(changed.error?.code, 'PT422');
    assert.equal(changed.error?.message, 'this idempotency_key was already used for a different booking request');
    assert.match(changed.error?.hint ?? '', /new idempotency_key/);
    assert.equal(await bookingsOf(listing.id), 1);

    // Keys belong to their customer: another customer's same key is another request.
    const other = await asStranger.rpc('create_booking', { ...args, starts_at: noon(4) });
    assert.equal(other.error, null);
    assert.equal(await bookingsOf(listing.id), 2);
  });

  test('referral credit pays part of the total and comes back when the booking is cancelled', async () => {
    const { listing } = await newProvider();
    const buyer = await createUser(db);
    const asBuyer = await clientOf(buyer);
    await db.query(sql`select app.grant_credit(${buyer.id}::uuid, 'USD', 1500)`);
    const balance = async () =>
      (await db.query<{ n: number }>(sql`select app.credit_balance(${buyer.id}::uuid, 'USD')::int as n`)).rows[0]?.n;
    const { data, error } = await asBuyer
      .rpc('create_booking', { listing_id: listing.id, starts_at: noon(6) })
      .single<{ id: string; discount_cents: number; total_cents: number; price_breakdown: Record<string, number> }>();
    assert.equal(error, null);
    // 80.00 + 4.00 service fee − 15.00 credit.
    assert.deepEqual(
      [data?.discount_cents, data?.total_cents, data?.price_breakdown.credit_cents, data?.price_breakdown.total_cents],
      [1500, 6900, 1500, 6900],
    );
    assert.equal(await balance(), 0);
    const cancelled = await asBuyer
      .rpc('cancel_booking', { booking_id: data?.id, reason: 'Changed my mind' })
      .single<{ refund_cents: number }>();
    assert.equal(cancelled.data?.refund_cents, 6900);
    assert.equal(await balance(), 1500);
  });

  test('with use_credit false the credit stays', async () => {
    const { listing } = await newProvider();
    const buyer = await createUser(db);
    await db.query(sql`select app.grant_credit(${buyer.id}::uuid, 'USD', 1500)`);
    const { data } = await (await clientOf(buyer))
      .rpc('create_booking', { listing_id: listing.id, starts_at: noon(6), use_credit: false })
      .single<{ total_cents: number }>();
    assert.equal(data?.total_cents, 8400);
  });

  test('an overlapping request is refused as a taken slot (409) and writes nothing', async () => {
    const { listing } = await newProvider();
    const startsAt = Date.parse(noon(4));
    await asCustomer.rpc('create_booking', { listing_id: listing.id, starts_at: new Date(startsAt).toISOString() });
    const clash = await asStranger.rpc('create_booking', {
      listing_id: listing.id,
      starts_at: new Date(startsAt + 30 * MINUTE).toISOString(),
    });
    assert.equal(clash.status, 409);
    assert.equal(clash.error?.code, 'PT409');
    assert.equal(clash.error?.message, 'slot taken: the provider is already booked at that time');
    assert.equal(await bookingsOf(listing.id), 1);
  });

  test('bad inputs get a clear 4xx and write nothing', async () => {
    const { listing, client: asProvider } = await newProvider();
    const cases: [SupabaseClient, Record<string, unknown>, number, string, RegExp][] = [
      [asCustomer, { starts_at: inHours(-2) }, 400, '23514', /notice/],
      [asCustomer, { starts_at: inHours(24 * 400) }, 400, '23514', /at most 60 days ahead/],
      [asCustomer, { duration_minutes: 30 }, 400, '23514', /duration must be between 60 and 1440 minutes/],
      [asCustomer, { idempotency_key: 'x'.repeat(256) }, 400, '22023', /idempotency_key must be 1 to 255/],
      [asCustomer, { idempotency_key: '' }, 400, '22023', /idempotency_key must be 1 to 255/],
      [asCustomer, { listing_id: randomUUID() }, 404, 'PT404', /is not available for booking/],
      [asCustomer, { address_id: randomUUID() }, 404, 'PT404', /address .* not found/],
      [asProvider, {}, 400, '23514', /you cannot book your own listing/],
      [anon, {}, 401, '42501', /sign in/],
    ];
    for (const [client, args, status, code, message] of cases) {
      const { error, status: got } = await client.rpc('create_booking', {
        listing_id: listing.id,
        starts_at: noon(5),
        ...args,
      });
      assert.equal(got, status, JSON.stringify(args));
      assert.equal(error?.code, code, JSON.stringify(args));
      assert.match(error?.message ?? '', message);
    }
    assert.equal(await bookingsOf(listing.id), 0);
  });
});

describe(`booking actions over REST (${testBackend()})`, () => {
  test('the provider confirms a request; the customer, a stranger and anon cannot', async () => {
    const { listing, client: asProvider } = await newProvider();
    const id = await insertBooking(listing, { startsAt: inHours(50), status: 'pending' });
    const denied: [SupabaseClient, number, string][] = [
      [asCustomer, 403, '42501'],
      [asStranger, 404, 'PT404'],
      [anon, 401, '42501'],
    ];
    for (const [client, status, code] of denied) {
      const { error, status: got } = await client.rpc('confirm_booking', { booking_id: id });
      assert.deepEqual([got, error?.code], [status, code]);
    }
    assert.equal((await bookingRow(id)).status, 'pending');
    const { data, error } = await asProvider.rpc('confirm_booking', { booking_id: id }).single<{ status: string }>();
    assert.equal(error, null);
    assert.equal(data?.status, 'confirmed');
    const again = await asProvider.rpc('confirm_booking', { booking_id: id });
    assert.equal(again.status, 409);
    assert.equal(again.error?.message, 'a booking cannot move from confirmed to confirmed');
  });

  test('the provider declines a request, which frees its slot', async () => {
    const { listing, client: asProvider } = await newProvider();
    const startsAt = noon(2);
    const id = await insertBooking(listing, { startsAt, status: 'pending' });
    const { data, error } = await asProvider
      .rpc('decline_booking', { booking_id: id, reason: 'Fully booked that week' })
      .single<{ status: string }>();
    assert.equal(error, null);
    assert.equal(data?.status, 'declined');
    const rebook = await asStranger.rpc('create_booking', { listing_id: listing.id, starts_at: startsAt });
    assert.equal(rebook.error, null);
  });

  test('a booking cannot be started early, completed or marked a no-show before it starts', async () => {
    const { listing, client: asProvider } = await newProvider();
    const id = await insertBooking(listing, { startsAt: inHours(5) });
    for (const [fn, message] of [
      ['start_booking', /cannot start more than 30 minutes before its start/],
      ['complete_booking', /cannot be completed before it starts/],
      ['mark_booking_no_show', /cannot be marked a no-show before it starts/],
    ] as const) {
      const { error, status } = await asProvider.rpc(fn, { booking_id: id });
      assert.equal(status, 409, fn);
      assert.equal(error?.code, 'PT409');
      assert.match(error?.message ?? '', message);
    }
    assert.equal((await bookingRow(id)).status, 'confirmed');
  });

  test('after its start the provider starts and completes a booking; only the customer disputes it', async () => {
    const { listing, client: asProvider } = await newProvider();
    const id = await insertBooking(listing, { startsAt: inHours(-0.5) });
    assert.equal((await asProvider.rpc('start_booking', { booking_id: id })).error, null);
    assert.equal((await asCustomer.rpc('complete_booking', { booking_id: id })).status, 403);
    const done = await asProvider.rpc('complete_booking', { booking_id: id }).single<{ status: string }>();
    assert.equal(done.data?.status, 'completed');
    const byProvider = await asProvider.rpc('dispute_booking', { booking_id: id, reason: 'Not paid' });
    assert.deepEqual([byProvider.status, byProvider.error?.message], [403, 'you cannot dispute this booking']);
    const noReason = await asCustomer.rpc('dispute_booking', { booking_id: id, reason: ' ' });
    assert.equal(noReason.status, 400);
    const disputed = await asCustomer
      .rpc('dispute_booking', { booking_id: id, reason: 'The leak is back' })
      .single<{ status: string }>();
    assert.equal(disputed.data?.status, 'disputed');
  });

  test('a no-show after the start; a dispute after the 72-hour window is refused', async () => {
    const { listing, client: asProvider } = await newProvider();
    const recent = await insertBooking(listing, { startsAt: inHours(-1) });
    const noShow = await asProvider.rpc('mark_booking_no_show', { booking_id: recent }).single<{ status: string }>();
    assert.equal(noShow.data?.status, 'no_show');
    const old = await insertBooking(listing, { startsAt: inHours(-80), status: 'completed' });
    const late = await asCustomer.rpc('dispute_booking', { booking_id: old, reason: 'Too late?' });
    assert.equal(late.status, 409);
    assert.match(late.error?.message ?? '', /^the dispute window closed at /);
    const inTime = await asCustomer.rpc('dispute_booking', { booking_id: recent, reason: 'I was there' });
    assert.equal(inTime.error, null);
  });

  test('transition_booking follows the same rules', async () => {
    const { listing, client: asProvider } = await newProvider();
    const id = await insertBooking(listing, { startsAt: inHours(30) });
    const early = await asProvider.rpc('transition_booking', { booking_id: id, new_status: 'completed' });
    assert.equal(early.status, 409);
    assert.match(early.error?.message ?? '', /cannot be completed before it starts/);
    const expire = await asProvider.rpc('transition_booking', { booking_id: id, new_status: 'expired' });
    assert.equal(expire.status, 403);
  });
});

describe(`cancellation refunds (${testBackend()})`, () => {
  // [policy, hours before the start, refund %]: two minutes either side of each threshold.
  const boundaries: [string, number, number][] = [
    ['flexible', 24, 100],
    ['flexible', 24 - 1 / 30, 50],
    ['flexible', 1, 50],
    ['moderate', 120, 100],
    ['moderate', 120 - 1 / 30, 50],
    ['moderate', 24, 50],
    ['moderate', 24 - 1 / 30, 0],
    ['strict', 168, 50],
    ['strict', 168 - 1 / 30, 0],
  ];
  for (const [policy, hours, percent] of boundaries) {
    const label = hours === Math.round(hours) ? `${hours} h + 2 min` : `${Math.ceil(hours)} h − 2 min`;
    test(`${policy}: a customer cancelling ${label} before the start gets ${percent} %`, async () => {
      const { listing } = await newProvider({ policy });
      const margin = hours === Math.round(hours) ? 2 / 60 : 0;
      const id = await insertBooking(listing, { startsAt: inHours(hours + margin), policy });
      const { data, error } = await asCustomer
        .rpc('cancel_booking', { booking_id: id, reason: 'Plans changed' })
        .single<Record<string, unknown>>();
      assert.equal(error, null);
      const refund = (8400 * percent) / 100;
      assert.deepEqual([data?.status, data?.refund_cents, data?.cancelled_by], ['cancelled', refund, customer.id]);
      // Offline, the confirmed booking's payment was authorised: the part the policy keeps is
      // captured (with the 12.00 application fee in proportion) and the rest released.
      const kept = 8400 - refund;
      const fee = Math.round((1200 * kept) / 8400);
      const money = await moneyOf(id);
      assert.deepEqual(
        money,
        kept === 0
          ? { status: 'voided', captured: 0, refunded: 0, ledger: [] }
          : {
              status: 'captured',
              captured: kept,
              refunded: 0,
              ledger: [
                { type: 'payment', user_id: customer.id, amount: kept, fee },
                { type: 'transfer', user_id: listing.providerId, amount: kept - fee, fee: 0 },
              ],
            },
      );
    });
  }

  test("the provider's cancellation refunds everything, whatever the policy", async () => {
    const { listing, client: asProvider } = await newProvider({ policy: 'strict' });
    const id = await insertBooking(listing, { startsAt: inHours(2), policy: 'strict' });
    const { data } = await asProvider
      .rpc('cancel_booking', { booking_id: id, reason: 'Van broke down' })
      .single<Record<string, unknown>>();
    assert.equal(data?.refund_cents, 8400);
    assert.deepEqual(await moneyOf(id), { status: 'voided', captured: 0, refunded: 0, ledger: [] });
  });

  test('cancelling an unconfirmed request voids its payment and writes no ledger row (nothing was charged)', async () => {
    const { listing } = await newProvider({ policy: 'strict' });
    const id = await insertBooking(listing, { startsAt: inHours(2), status: 'pending', policy: 'strict' });
    const { data } = await asCustomer
      .rpc('cancel_booking', { booking_id: id, reason: 'Found someone sooner' })
      .single<Record<string, unknown>>();
    assert.equal(data?.refund_cents, 8400);
    assert.deepEqual(await moneyOf(id), { status: 'voided', captured: 0, refunded: 0, ledger: [] });
  });

  test('a cancellation needs a reason, a party and a cancellable status; failures change nothing', async () => {
    const { listing } = await newProvider();
    const id = await insertBooking(listing, { startsAt: inHours(40) });
    const done = await insertBooking(listing, { startsAt: inHours(-30), status: 'completed' });
    const cases: [SupabaseClient, Record<string, unknown>, number, string][] = [
      [asCustomer, { booking_id: id, reason: '' }, 400, '22023'],
      [asCustomer, { booking_id: id }, 404, 'PGRST202'],
      [asStranger, { booking_id: id, reason: 'Mine now' }, 404, 'PT404'],
      [anon, { booking_id: id, reason: 'Who am I' }, 401, '42501'],
      [asCustomer, { booking_id: done, reason: 'Too late' }, 409, 'PT409'],
    ];
    for (const [client, args, status, code] of cases) {
      const { error, status: got } = await client.rpc('cancel_booking', args);
      assert.deepEqual([got, error?.code], [status, code], JSON.stringify(args));
    }
    assert.equal((await bookingRow(id)).status, 'confirmed');
    assert.equal((await bookingRow(done)).status, 'completed');
    assert.deepEqual(await moneyOf(id), { status: 'authorised', captured: 0, refunded: 0, ledger: [] });
  });

  test('anyone reads the policies behind the refunds', async () => {
    const { data, error } = await anon
      .from('cancellation_policy_tiers')
      .select('policy, min_hours_before, refund_percent')
      .order('policy')
      .order('min_hours_before', { ascending: false });
    assert.equal(error, null);
    assert.deepEqual(data, [
      { policy: 'flexible', min_hours_before: 24, refund_percent: 100 },
      { policy: 'flexible', min_hours_before: 0, refund_percent: 50 },
      { policy: 'moderate', min_hours_before: 120, refund_percent: 100 },
      { policy: 'moderate', min_hours_before: 24, refund_percent: 50 },
      { policy: 'moderate', min_hours_before: 0, refund_percent: 0 },
      { policy: 'strict', min_hours_before: 168, refund_percent: 50 },
      { policy: 'strict', min_hours_before: 0, refund_percent: 0 },
    ]);
  });
});

describe(`reschedule and expiry (${testBackend()})`, () => {
  test('either party moves a booking to a free time, keeping its length and price', async () => {
    const { listing, client: asProvider } = await newProvider();
    const id = await insertBooking(listing, { startsAt: noon(2), minutes: 90 });
    const to = noon(2, 4);
    const { data, error } = await asCustomer
      .rpc('reschedule_booking', { booking_id: id, starts_at: to })
      .single<Record<string, unknown>>();
    assert.equal(error, null);
    assert.equal(Date.parse(String(data?.starts_at)), Date.parse(to));
    assert.equal(Date.parse(String(data?.ends_at)) - Date.parse(to), 90 * MINUTE);
    assert.deepEqual([data?.status, data?.total_cents], ['confirmed', 8400]);
    // Half an hour later overlaps only itself: fine.
    const nudged = await asProvider.rpc('reschedule_booking', {
      booking_id: id,
      starts_at: new Date(Date.parse(to) + 30 * MINUTE).toISOString(),
    });
    assert.equal(nudged.error, null);
  });

  test('a move into a taken slot (409), by a stranger (404) or of a cancelled booking (409) changes nothing', async () => {
    const { listing } = await newProvider();
    const id = await insertBooking(listing, { startsAt: noon(2) });
    await insertBooking(listing, { startsAt: noon(2, 4), who: stranger });
    const cancelled = await insertBooking(listing, { startsAt: noon(3), status: 'cancelled' });
    const before = await bookingRow(id);
    const cases: [SupabaseClient, Record<string, unknown>, number, string][] = [
      [asCustomer, { booking_id: id, starts_at: noon(2, 4.5) }, 409, 'PT409'],
      [asCustomer, { booking_id: id, starts_at: inHours(-3) }, 400, '23514'],
      [asStranger, { booking_id: id, starts_at: noon(4) }, 404, 'PT404'],
      [anon, { booking_id: id, starts_at: noon(4) }, 401, '42501'],
      [asCustomer, { booking_id: cancelled, starts_at: noon(5) }, 409, 'PT409'],
    ];
    for (const [client, args, status, code] of cases) {
      const { error, status: got } = await client.rpc('reschedule_booking', args);
      assert.deepEqual([got, error?.code], [status, code], JSON.stringify(args));
    }
    assert.deepEqual(await bookingRow(id), before);
  });

  test('expire_pending_bookings expires unanswered requests for the scheduler only', async () => {
    const { listing, client: asProvider } = await newProvider();
    const overdue = await insertBooking(listing, { startsAt: inHours(30), status: 'pending' });
    const fresh = await insertBooking(listing, { startsAt: inHours(40), status: 'pending' });
    await db.query(sql`update public.bookings set expires_at = now() - interval '1 minute' where id = ${overdue}`);
    await db.query(sql`update public.bookings set expires_at = now() + interval '1 hour' where id = ${fresh}`);
    for (const client of [asProvider, asCustomer, anon]) {
      const { status } = await client.rpc('expire_pending_bookings');
      assert.ok([401, 403].includes(status), String(status));
    }
    const asService = server.client({ apikey: server.keys.service_role });
    const { data, error } = await asService.rpc('expire_pending_bookings');
    assert.equal(error, null);
    assert.ok((data as number) >= 1);
    assert.deepEqual([(await bookingRow(overdue)).status, (await bookingRow(fresh)).status], ['expired', 'pending']);
    const late = await asProvider.rpc('confirm_booking', { booking_id: overdue });
    assert.equal(late.status, 409);
  });
});

describe(`concurrent bookings (${testBackend()})`, { skip: testBackend() !== 'postgres' }, () => {
  test('of 24 simultaneous requests for overlapping times exactly one wins; the rest get 409', async () => {
    const { listing } = await newProvider();
    const customers = await Promise.all(Array.from({ length: 24 }, () => createUser(db)));
    const clients = await Promise.all(customers.map(clientOf));
    const start = Date.parse(noon(8));
    const results = await Promise.all(
      clients.map((client, i) =>
        client.rpc('create_booking', {
          listing_id: listing.id,
          // Two hours from one of four half-hour starts: every pair overlaps.
          starts_at: new Date(start + (i % 4) * 30 * MINUTE).toISOString(),
          duration_minutes: 120,
          idempotency_key: randomUUID(),
        }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, ...Array(23).fill(409)], JSON.stringify(results.map((r) => r.error)));
    for (const r of results.filter((x) => x.status === 409)) {
      assert.equal(r.error?.code, 'PT409');
    }
    assert.equal(await bookingsOf(listing.id), 1);
  });

  test('one idempotency key sent 8 times at once makes one booking, returned to every request', async () => {
    const { listing } = await newProvider();
    const args = { listing_id: listing.id, starts_at: noon(9), idempotency_key: randomUUID() };
    const results = await Promise.all(
      Array.from({ length: 8 }, () => asCustomer.rpc('create_booking', args).single<{ id: string }>()),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      Array(8).fill(200),
    );
    assert.equal(new Set(results.map((r) => r.data?.id)).size, 1);
    assert.equal(await bookingsOf(listing.id), 1);
  });
});
