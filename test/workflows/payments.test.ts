import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import {
  createListing,
  createTenant,
  createUser,
  grantPermission,
  type ListingFixture,
  type UserFixture,
} from '../helpers/fixtures.js';
import {
  asUser,
  getTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';

/*
 * Booking payments and the ledger (migration 0040, decision 0024) in an offline marketplace,
 * through supabase-js as the customer, the provider and a payments manager: the payment a
 * booking gets, authorised at confirmation and captured at completion with its fee breakdown,
 * cancellations before and after capture at each policy tier, a manager's refund, referral
 * credit, zero-decimal currencies, idempotent movements, offline payouts and balances, the
 * operator's report adding up, who may read and write what, and bad input changing nothing.
 * The movements themselves (app.payment_*) are for trusted code (the Stripe jobs of the next
 * slice): the tests call them as the database owner, the way those jobs will.
 */

let db: TestDatabase;
let server: TestServer;
let customer: UserFixture;
let stranger: UserFixture;
let manager: UserFixture;
let asCustomer: SupabaseClient;
let asStranger: SupabaseClient;
let asManager: SupabaseClient;
let anon: SupabaseClient;

const HOUR = 3_600_000;

before(async () => {
  db = await getTestDatabase();
  customer = await createUser(db);
  stranger = await createUser(db);
  manager = await createUser(db);
  for (const permission of ['payments.manage', 'payments.read', 'payments.refund', 'bookings.manage']) {
    await grantPermission(db, manager, permission);
  }
  server = await startTestServer(db);
  asCustomer = await clientOf(customer);
  asStranger = await clientOf(stranger);
  asManager = await clientOf(manager);
  anon = server.client();
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

async function clientOf(user: UserFixture): Promise<SupabaseClient> {
  return server.client({ token: await server.tokenFor(user.clerkId) });
}

/** A provider open around the clock with an hourly listing (80.00 unless told) that needs no notice. */
async function newProvider(
  options: { tenantId?: string; policy?: string; instantBook?: boolean; currency?: string; rate?: number } = {},
): Promise<{ provider: UserFixture; listing: ListingFixture; client: SupabaseClient }> {
  const provider = await createUser(db, { role: 'provider', tenantId: options.tenantId });
  await db.query(sql`insert into public.provider_availability (provider_id, day_of_week, start_time, end_time)
                     select ${provider.id}, d, '00:00', '24:00' from generate_series(1, 7) d`);
  const listing = await createListing(db, provider, { hourlyRateCents: options.rate ?? 8000 });
  await db.query(sql`update public.listings
                        set instant_book = ${options.instantBook ?? false}, currency = ${options.currency ?? 'USD'},
                            cancellation_policy_kind = ${options.policy ?? 'moderate'}::public.cancellation_policy_kind
                      where id = ${listing.id}`);
  return { provider, listing, client: await clientOf(provider) };
}

const inHours = (hours: number) => new Date(Date.now() + hours * HOUR).toISOString();
const onGrid = (hours: number) =>
  new Date(Math.ceil((Date.now() + hours * HOUR) / 1_800_000) * 1_800_000).toISOString();

interface Price {
  base: number;
  fee: number;
  total: number;
  commission: number;
}
/** 80.00 base, 4.00 service fee, 8.00 commission: total 84.00, provider payout 72.00, application fee 12.00. */
const PRICE: Price = { base: 8000, fee: 400, total: 8400, commission: 800 };

/** A booking written directly (confirmed ones get their payment authorised by the trigger). */
async function insertBooking(
  listing: ListingFixture,
  who: UserFixture,
  options: { startsAt: string; status?: string; policy?: string; price?: Price; discount?: number },
): Promise<string> {
  const price = options.price ?? PRICE;
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.bookings (listing_id, provider_id, customer_id, tenant_id, starts_at, ends_at, time_zone,
                                 service_title, currency, base_price_cents, service_fee_cents, tax_cents,
                                 discount_cents, total_cents, platform_fee_cents, status, cancellation_policy)
    values (${listing.id}, ${listing.providerId}, ${who.id}, ${listing.tenantId},
            ${options.startsAt}::timestamptz, ${options.startsAt}::timestamptz + interval '1 hour',
            'UTC', 'Fixture booking', 'USD', ${price.base}, ${price.fee}, 0, ${options.discount ?? 0},
            ${price.total - (options.discount ?? 0)}, ${price.commission},
            ${options.status ?? 'confirmed'}::public.booking_status,
            ${options.policy ?? 'moderate'}::public.cancellation_policy_kind)
    returning id`);
  return rows[0]?.id as string;
}

interface PaymentRow {
  id: string;
  status: string;
  method: string;
  currency: string;
  amount: number;
  fee: number;
  share: number;
  shortfall: number;
  authorised: number;
  captured: number;
  capturedFee: number;
  refunded: number;
  feeRefunded: number;
  reversed: number;
}

async function paymentOf(bookingId: string): Promise<PaymentRow> {
  const { rows } = await db.query<PaymentRow>(sql`
    select id, status::text, method::text, currency, amount_cents::int as amount, application_fee_cents::int as fee,
           provider_amount_cents::int as share, credit_shortfall_cents::int as shortfall,
           authorised_cents::int as authorised, captured_cents::int as captured, captured_fee_cents::int as "capturedFee",
           refunded_cents::int as refunded, application_fee_refunded_cents::int as "feeRefunded",
           transfer_reversed_cents::int as reversed
      from public.payments where booking_id = ${bookingId}`);
  const row = rows[0];
  assert.ok(row, `no payment for booking ${bookingId}`);
  return row;
}

/** The booking's ledger rows as [type, who, amount, platform fee, processing fee]. */
async function ledgerOf(bookingId: string): Promise<[string, string, number, number, number][]> {
  const { rows } = await db.query<{ type: string; user_id: string; a: number; f: number; p: number }>(sql`
    select type::text, user_id, amount_cents::int as a, platform_fee_cents::int as f, processing_fee_cents::int as p
      from public.transactions where booking_id = ${bookingId} order by created_at, type`);
  return rows.map((r) => [r.type, r.user_id, r.a, r.f, r.p]);
}

async function ledgerCount(): Promise<number> {
  const { rows } = await db.query<{ n: number }>(sql`select count(*)::int as n from public.transactions`);
  return rows[0]?.n ?? -1;
}

/** Moves the booking's time into the past so it can be completed (its payment unchanged). */
async function startedAnHourAgo(bookingId: string): Promise<void> {
  await db.query(sql`update public.bookings set starts_at = now() - interval '1 hour', ends_at = now()
                      where id = ${bookingId}`);
}

/** What the Stripe jobs will do: a movement called by trusted code. */
async function move(fn: string, paymentId: string, ...args: (string | number | null)[]): Promise<PaymentRow> {
  const call = {
    authorise: sql`select status::text from app.payment_authorise(${paymentId})`,
    capture: sql`select status::text from app.payment_capture(${paymentId}, ${args[0] ?? null}::bigint)`,
    refund: sql`select status::text from app.payment_refund(${paymentId}, ${args[0] ?? null}::bigint, ${args[1] ?? null}::text,
                  application_fee_refunded_cents => ${args[2] ?? null}::bigint, transfer_reversed_cents => ${args[3] ?? null}::bigint)`,
    void: sql`select status::text from app.payment_void(${paymentId})`,
    fail: sql`select status::text from app.payment_fail(${paymentId}, 'card_declined', 'Your card was declined.')`,
  }[fn];
  assert.ok(call, fn);
  await db.query(call);
  const { rows } = await db.query<{ booking_id: string }>(
    sql`select booking_id from public.payments where id = ${paymentId}`,
  );
  return paymentOf(rows[0]?.booking_id as string);
}

const prorate = (part: number, numerator: number, denominator: number) => Math.round((part * numerator) / denominator);

describe(`offline payments end to end (${testBackend()})`, () => {
  test('book → confirm → complete → captured with the fee breakdown → payout recorded → balances', async () => {
    const { provider, listing, client: asProvider } = await newProvider();
    const booked = await asCustomer
      .rpc('create_booking', { listing_id: listing.id, starts_at: onGrid(2) })
      .single<{ id: string; status: string }>();
    assert.equal(booked.error, null);
    const id = booked.data?.id as string;

    // The customer sees the payment the booking got: nothing taken yet.
    const mine = await asCustomer
      .from('payments')
      .select('status, method, currency, amount_cents, application_fee_cents, provider_amount_cents, captured_cents')
      .eq('booking_id', id)
      .single();
    assert.equal(mine.error, null);
    assert.deepEqual(mine.data, {
      status: 'requires_payment',
      method: 'offline',
      currency: 'USD',
      amount_cents: 8400,
      application_fee_cents: 1200,
      provider_amount_cents: 7200,
      captured_cents: 0,
    });

    assert.equal((await asProvider.rpc('confirm_booking', { booking_id: id })).error, null);
    const confirmed = await asProvider
      .from('payments')
      .select('status, authorised_cents')
      .eq('booking_id', id)
      .single();
    assert.deepEqual(confirmed.data, { status: 'authorised', authorised_cents: 8400 });
    assert.deepEqual(await ledgerOf(id), [], 'authorising moves no money');

    await startedAnHourAgo(id);
    assert.equal((await asProvider.rpc('complete_booking', { booking_id: id })).error, null);
    const captured = await paymentOf(id);
    assert.deepEqual(
      [captured.status, captured.captured, captured.capturedFee, captured.refunded],
      ['captured', 8400, 1200, 0],
    );
    assert.deepEqual(await ledgerOf(id), [
      ['payment', customer.id, 8400, 1200, 0],
      ['transfer', provider.id, 7200, 0, 0],
    ]);
    // The provider is told once (0018's transactions trigger).
    const { rows: told } = await db.query<{ n: number }>(sql`
      select count(*)::int as n from public.notifications where user_id = ${provider.id} and type = 'payment_received'`);
    assert.equal(told[0]?.n, 1);

    const payout = await asManager
      .rpc('record_payout', {
        provider_id: provider.id,
        amount_cents: 5000,
        currency: 'USD',
        method: 'cash',
        reference: 'receipt 12',
      })
      .single<Record<string, unknown>>();
    assert.equal(payout.error, null);
    assert.deepEqual(
      [payout.data?.type, payout.data?.status, payout.data?.amount_cents, payout.data?.user_id],
      ['payout', 'completed', 5000, provider.id],
    );
    const balances = await asProvider.rpc('provider_balances');
    assert.equal(balances.error, null);
    assert.deepEqual(balances.data, [
      {
        currency: 'USD',
        earned_cents: 7200,
        reversed_cents: 0,
        net_cents: 7200,
        paid_out_cents: 5000,
        balance_cents: 2200,
      },
    ]);

    // More than the balance is refused, and nothing is written.
    const before = await ledgerCount();
    const over = await asManager.rpc('record_payout', {
      provider_id: provider.id,
      amount_cents: 2201,
      currency: 'USD',
    });
    assert.deepEqual([over.status, over.error?.code], [409, 'PT409']);
    assert.match(over.error?.message ?? '', /exceeds the provider's balance of 2200 USD/);
    assert.equal(await ledgerCount(), before);
    // The rest of it is fine.
    const rest = await asManager.rpc('record_payout', {
      provider_id: provider.id,
      amount_cents: 2200,
      currency: 'USD',
    });
    assert.equal(rest.error, null);
    const empty = await asProvider.rpc('provider_balances');
    assert.equal((empty.data as { balance_cents: number }[])[0]?.balance_cents, 0);
  });

  test('an instant booking is authorised at once; a no-show captures; decline and expiry void', async () => {
    const { listing, client: asProvider } = await newProvider({ instantBook: true });
    const instant = await asCustomer
      .rpc('create_booking', { listing_id: listing.id, starts_at: onGrid(3) })
      .single<{ id: string }>();
    assert.equal(instant.error, null);
    assert.equal((await paymentOf(instant.data?.id as string)).status, 'authorised');

    const noShow = await insertBooking(listing, customer, { startsAt: inHours(-1) });
    assert.equal((await asProvider.rpc('mark_booking_no_show', { booking_id: noShow })).error, null);
    assert.deepEqual([(await paymentOf(noShow)).status, (await paymentOf(noShow)).captured], ['captured', 8400]);

    const { listing: requests, client: asOther } = await newProvider();
    const declined = await insertBooking(requests, customer, { startsAt: inHours(30), status: 'pending' });
    assert.equal((await asOther.rpc('decline_booking', { booking_id: declined })).error, null);
    assert.equal((await paymentOf(declined)).status, 'voided');
    const expiring = await insertBooking(requests, customer, { startsAt: inHours(40), status: 'pending' });
    await db.query(sql`update public.bookings set expires_at = now() - interval '1 minute' where id = ${expiring}`);
    await db.query(sql`select public.expire_pending_bookings()`);
    assert.equal((await paymentOf(expiring)).status, 'voided');
    assert.deepEqual([...(await ledgerOf(declined)), ...(await ledgerOf(expiring))], []);
  });

  test("a manager's refund returns what remains; fee refunded and transfer reversed in full", async () => {
    const { provider, listing, client: asProvider } = await newProvider();
    const id = await insertBooking(listing, customer, { startsAt: inHours(-2) });
    assert.equal((await asProvider.rpc('complete_booking', { booking_id: id })).error, null);
    const refused = await asProvider.rpc('transition_booking', { booking_id: id, new_status: 'refunded' });
    assert.equal(refused.status, 403);
    const refunded = await asManager.rpc('transition_booking', { booking_id: id, new_status: 'refunded' });
    assert.equal(refunded.error, null);
    const p = await paymentOf(id);
    assert.deepEqual([p.status, p.refunded, p.feeRefunded, p.reversed], ['refunded', 8400, 1200, 7200]);
    assert.deepEqual(await ledgerOf(id), [
      ['payment', customer.id, 8400, 1200, 0],
      ['transfer', provider.id, 7200, 0, 0],
      ['refund', customer.id, 8400, 1200, 0],
      ['transfer_reversal', provider.id, 7200, 0, 0],
    ]);
    // A payment refunded in full no longer counts as paid (reviews' "verified").
    const { rows } = await db.query<{ paid: boolean }>(sql`select app.booking_is_paid(${id}) as paid`);
    assert.equal(rows[0]?.paid, false);
  });

  test('in a stripe marketplace the workflow only records that payment is required', async () => {
    const tenant = await createTenant(db);
    const { listing, client: asProvider } = await newProvider({ tenantId: tenant });
    await db.query(sql`update public.tenants set payment_mode = 'stripe' where id = ${tenant}`);
    const buyer = await createUser(db, { tenantId: tenant });
    const id = await insertBooking(listing, buyer, { startsAt: inHours(-1), status: 'pending' });
    assert.deepEqual([(await paymentOf(id)).method, (await paymentOf(id)).status], ['stripe', 'requires_payment']);
    await db.query(sql`update public.bookings set status = 'confirmed', expires_at = null where id = ${id}`);
    assert.equal((await asProvider.rpc('complete_booking', { booking_id: id })).error, null);
    assert.equal((await paymentOf(id)).status, 'requires_payment');
    assert.deepEqual(await ledgerOf(id), []);
  });
});

describe(`the movements take what Stripe reports (${testBackend()})`, () => {
  test('a stripe payment is authorised with its PaymentIntent, captured with its charge and fees, refunded with its refund id', async () => {
    const tenant = await createTenant(db);
    const { provider, listing } = await newProvider({ tenantId: tenant });
    await db.query(sql`update public.tenants set payment_mode = 'stripe' where id = ${tenant}`);
    const buyer = await createUser(db, { tenantId: tenant });
    const id = await insertBooking(listing, buyer, { startsAt: inHours(20), status: 'pending' });
    const { id: pay } = await paymentOf(id);
    const refused = async (query: ReturnType<typeof sql>, message: RegExp) =>
      assert.rejects(db.query(query), (e: { code?: string; message?: string }) => {
        assert.equal(e.code, '22023', e.message);
        assert.match(e.message ?? '', message);
        return true;
      });
    await refused(sql`select app.payment_authorise(${pay})`, /PaymentIntent id/);
    await db.query(sql`select app.payment_authorise(${pay}, 'pi_3Demo')`);
    const { rows: held } = await db.query<{ days: number }>(sql`
      select round(extract(epoch from capture_before - authorised_at) / 86400)::int as days
        from public.payments where id = ${pay}`);
    assert.equal(held[0]?.days, 6, 'captured at the latest 6 days after the authorisation');
    await assert.rejects(db.query(sql`select app.payment_authorise(${pay}, 'pi_3Other')`), { code: 'PT409' });
    await refused(sql`select app.payment_capture(${pay})`, /charge id/);
    await db.query(sql`select app.payment_capture(${pay}, stripe_charge_id => 'ch_3Demo', stripe_transfer_id => 'tr_3Demo',
                                                  processing_fee_cents => 274)`);
    await refused(sql`select app.payment_refund(${pay}, 1000, 're_1')`, /refund id/);
    // Stripe's own split of the refund is taken as reported, when it adds up.
    await refused(
      sql`select app.payment_refund(${pay}, 1000, 're_1', 're_1', application_fee_refunded_cents => 100,
                                    transfer_reversed_cents => 800)`,
      /must add up to 1000/,
    );
    await db.query(sql`select app.payment_refund(${pay}, 1000, 're_1', 're_1', application_fee_refunded_cents => 142,
                                                 transfer_reversed_cents => 858)`);
    const { rows } = await db.query(sql`
      select type::text, user_id, amount_cents::int as amount, platform_fee_cents::int as fee,
             processing_fee_cents::int as processing, stripe_payment_intent_id as pi, stripe_charge_id as ch,
             stripe_refund_id as re, stripe_transfer_id as tr
        from public.transactions where payment_id = ${pay} order by created_at, type`);
    assert.deepEqual(rows, [
      {
        type: 'payment',
        user_id: buyer.id,
        amount: 8400,
        fee: 1200,
        processing: 274,
        pi: 'pi_3Demo',
        ch: 'ch_3Demo',
        re: null,
        tr: null,
      },
      {
        type: 'transfer',
        user_id: provider.id,
        amount: 7200,
        fee: 0,
        processing: 0,
        pi: null,
        ch: null,
        re: null,
        tr: 'tr_3Demo',
      },
      {
        type: 'refund',
        user_id: buyer.id,
        amount: 1000,
        fee: 142,
        processing: 0,
        pi: null,
        ch: null,
        re: 're_1',
        tr: null,
      },
      {
        type: 'transfer_reversal',
        user_id: provider.id,
        amount: 858,
        fee: 0,
        processing: 0,
        pi: null,
        ch: null,
        re: null,
        tr: null,
      },
    ]);
    // The same Stripe refund delivered again (a replayed webhook) changes nothing.
    await db.query(sql`select app.payment_refund(${pay}, 1000, 're_1', 're_1')`);
    assert.equal((await paymentOf(id)).refunded, 1000);
  });
});

describe(`cancellations move the money by the policy (${testBackend()})`, () => {
  // [policy, hours before the start, refund %]
  const tiers: [string, number, number][] = [
    ['moderate', 130, 100],
    ['moderate', 50, 50],
    ['moderate', 2, 0],
    ['flexible', 30, 100],
    ['flexible', 2, 50],
    ['strict', 200, 50],
    ['strict', 100, 0],
  ];
  for (const [policy, hours, percent] of tiers) {
    test(`${policy}, ${hours} h before, after capture: the customer gets ${percent} % back with the fee refunded and the transfer reversed in proportion`, async () => {
      const { provider, listing } = await newProvider({ policy });
      const id = await insertBooking(listing, customer, { startsAt: inHours(hours), policy });
      // Captured early, as a Stripe authorisation about to lapse is (decision 0023).
      await move('capture', (await paymentOf(id)).id);
      const cancelled = await asCustomer.rpc('cancel_booking', { booking_id: id, reason: 'Plans changed' });
      assert.equal(cancelled.error, null);
      const refund = (8400 * percent) / 100;
      const fee = prorate(1200, refund, 8400);
      const p = await paymentOf(id);
      assert.deepEqual(
        [p.status, p.captured, p.refunded, p.feeRefunded, p.reversed],
        [
          percent === 100 ? 'refunded' : percent > 0 ? 'partially_refunded' : 'captured',
          8400,
          refund,
          fee,
          refund - fee,
        ],
      );
      const expected: [string, string, number, number, number][] = [
        ['payment', customer.id, 8400, 1200, 0],
        ['transfer', provider.id, 7200, 0, 0],
      ];
      if (refund > 0) {
        expected.push(['refund', customer.id, refund, fee, 0], ['transfer_reversal', provider.id, refund - fee, 0, 0]);
      }
      assert.deepEqual(await ledgerOf(id), expected);
    });
  }

  test("the provider's cancellation after capture refunds everything; before capture it voids", async () => {
    const { listing, client: asProvider } = await newProvider({ policy: 'strict' });
    const captured = await insertBooking(listing, customer, { startsAt: inHours(5), policy: 'strict' });
    await move('capture', (await paymentOf(captured)).id);
    const uncaptured = await insertBooking(listing, customer, { startsAt: inHours(9), policy: 'strict' });
    for (const id of [captured, uncaptured]) {
      assert.equal((await asProvider.rpc('cancel_booking', { booking_id: id, reason: 'Van broke down' })).error, null);
    }
    const a = await paymentOf(captured);
    assert.deepEqual([a.status, a.refunded, a.feeRefunded, a.reversed], ['refunded', 8400, 1200, 7200]);
    const b = await paymentOf(uncaptured);
    assert.deepEqual([b.status, b.captured], ['voided', 0]);
    assert.deepEqual(await ledgerOf(uncaptured), []);
  });

  test('a partial capture at cancellation, then a manager refunds the kept part', async () => {
    const { provider, listing } = await newProvider({ policy: 'moderate' });
    const id = await insertBooking(listing, customer, { startsAt: inHours(50) });
    assert.equal((await asCustomer.rpc('cancel_booking', { booking_id: id, reason: 'Sick' })).error, null);
    const kept = await paymentOf(id);
    assert.deepEqual([kept.status, kept.authorised, kept.captured, kept.capturedFee], ['captured', 8400, 4200, 600]);
    assert.equal((await asManager.rpc('transition_booking', { booking_id: id, new_status: 'refunded' })).error, null);
    assert.deepEqual(await ledgerOf(id), [
      ['payment', customer.id, 4200, 600, 0],
      ['transfer', provider.id, 3600, 0, 0],
      ['refund', customer.id, 4200, 600, 0],
      ['transfer_reversal', provider.id, 3600, 0, 0],
    ]);
  });

  test('zero-decimal currencies (JPY): whole yen, rounded half up, parts adding up', async () => {
    // ¥1,111/h: base 1111, service fee 5 % = 55.55 → 56, total 1167; commission 10 % = 111.1 → 111,
    // payout 1000, application fee 167.
    const { provider, listing } = await newProvider({
      policy: 'flexible',
      instantBook: true,
      currency: 'JPY',
      rate: 1111,
    });
    const made = await asCustomer
      .rpc('create_booking', { listing_id: listing.id, starts_at: onGrid(2) })
      .single<{ id: string; total_cents: number; currency: string }>();
    assert.equal(made.error, null);
    assert.deepEqual([made.data?.currency, made.data?.total_cents], ['JPY', 1167]);
    const id = made.data?.id as string;
    const p0 = await paymentOf(id);
    assert.deepEqual([p0.currency, p0.amount, p0.fee, p0.share, p0.status], ['JPY', 1167, 167, 1000, 'authorised']);
    // Within 24 hours the flexible policy refunds 50 %: (1167 × 50 + 50) / 100 = 584 back, 583 kept,
    // of which the fee is 167 × 583 / 1167 = 83.43 → 83 and the provider's 500.
    assert.equal((await asCustomer.rpc('cancel_booking', { booking_id: id, reason: 'Rain' })).error, null);
    assert.deepEqual(await ledgerOf(id), [
      ['payment', customer.id, 583, 83, 0],
      ['transfer', provider.id, 500, 0, 0],
    ]);

    // Captured first, the same refund of 584: fee 167 × 584 / 1167 = 83.57 → 84, reversal 500.
    const other = await asCustomer
      .rpc('create_booking', { listing_id: listing.id, starts_at: onGrid(5) })
      .single<{ id: string }>();
    const second = other.data?.id as string;
    await move('capture', (await paymentOf(second)).id);
    assert.equal((await asCustomer.rpc('cancel_booking', { booking_id: second, reason: 'Rain' })).error, null);
    const p = await paymentOf(second);
    assert.deepEqual([p.refunded, p.feeRefunded, p.reversed], [584, 84, 500]);
    // The rest, later: the fee and the transfer come back exactly in full.
    await move('refund', p.id, 583, 'rest');
    const done = await paymentOf(second);
    assert.deepEqual([done.status, done.feeRefunded, done.reversed], ['refunded', 167, 1000]);
  });
});

describe(`movements are idempotent (${testBackend()})`, () => {
  test('authorise, capture, refund and payouts run twice move money once', async () => {
    const { provider, listing } = await newProvider();
    const id = await insertBooking(listing, customer, { startsAt: inHours(60), status: 'pending' });
    const { id: pay } = await paymentOf(id);
    await move('authorise', pay);
    assert.equal((await move('authorise', pay)).status, 'authorised');
    await move('capture', pay);
    const twice = await move('capture', pay);
    assert.deepEqual([twice.status, twice.captured], ['captured', 8400]);
    assert.equal((await ledgerOf(id)).length, 2);

    // Three refunds with their keys, each sent twice; the fee is prorated on the running total:
    // 1000 → 143 (142.86), 1500 → 214 (214.29), 8400 → 1200.
    for (const [amount, key] of [
      [1000, 're_1'],
      [1000, 're_1'],
      [500, 're_2'],
      [500, 're_2'],
      [6900, 're_3'],
      [6900, 're_3'],
    ] as const) {
      await move('refund', pay, amount, key);
    }
    const p = await paymentOf(id);
    assert.deepEqual([p.status, p.refunded, p.feeRefunded, p.reversed], ['refunded', 8400, 1200, 7200]);
    assert.deepEqual(await ledgerOf(id), [
      ['payment', customer.id, 8400, 1200, 0],
      ['transfer', provider.id, 7200, 0, 0],
      ['refund', customer.id, 1000, 143, 0],
      ['transfer_reversal', provider.id, 857, 0, 0],
      ['refund', customer.id, 500, 71, 0],
      ['transfer_reversal', provider.id, 429, 0, 0],
      ['refund', customer.id, 6900, 986, 0],
      ['transfer_reversal', provider.id, 5914, 0, 0],
    ]);
    // Void and fail are idempotent too, on payments where they apply.
    const other = await insertBooking(listing, customer, { startsAt: inHours(70) });
    const { id: otherPay } = await paymentOf(other);
    await move('fail', otherPay);
    assert.equal((await move('fail', otherPay)).status, 'failed');
    await move('void', otherPay);
    assert.equal((await move('void', otherPay)).status, 'voided');

    // A payout retried with its key is recorded once.
    const paid = await insertBooking(listing, customer, { startsAt: inHours(-3) });
    await move('capture', (await paymentOf(paid)).id);
    const key = randomUUID();
    const args = { provider_id: provider.id, amount_cents: 7000, currency: 'USD', idempotency_key: key };
    const first = await asManager.rpc('record_payout', args).single<{ id: string }>();
    const again = await asManager.rpc('record_payout', args).single<{ id: string }>();
    assert.equal(first.error, null);
    assert.equal(again.data?.id, first.data?.id);
    const changed = await asManager.rpc('record_payout', { ...args, amount_cents: 100 });
    assert.equal(changed.status, 422);
    const { rows } = await db.query<{ n: number }>(
      sql`select count(*)::int as n from public.transactions where user_id = ${provider.id} and type = 'payout'`,
    );
    assert.equal(rows[0]?.n, 1);
  });
});

describe(`who may read and write payments (${testBackend()})`, () => {
  test('the parties read their payment, nobody else; billing readers read their tenant', async () => {
    const { listing, client: asProvider } = await newProvider();
    const id = await insertBooking(listing, customer, { startsAt: inHours(80) });
    for (const [client, n] of [
      [asCustomer, 1],
      [asProvider, 1],
      [asStranger, 0],
      [asManager, 1],
      [anon, 0],
    ] as const) {
      const { data, error, status } = await client.from('payments').select('id').eq('booking_id', id);
      if (client === anon) assert.deepEqual([status, error?.code], [401, '42501']);
      else assert.deepEqual([error, data?.length], [null, n]);
    }
    // A manager of another marketplace sees nothing.
    const elsewhere = await createUser(db, { tenantId: await createTenant(db) });
    await grantPermission(db, elsewhere, 'payments.read');
    const foreign = await (await clientOf(elsewhere)).from('payments').select('id').eq('booking_id', id);
    assert.deepEqual(foreign.data, []);
  });

  test("the provider cannot read the customer's card; no payment column is private to the customer", async () => {
    const { listing, client: asProvider } = await newProvider();
    await db.query(sql`insert into public.payment_methods (user_id, type, card_brand, card_last4, is_default)
                       values (${customer.id}, 'card', 'visa', '4242', true)`);
    await insertBooking(listing, customer, { startsAt: inHours(90) });
    const cards = await asProvider.from('payment_methods').select('card_last4').eq('user_id', customer.id);
    assert.deepEqual(cards.data, []);
    const { rows } = await db.query<{ column_name: string }>(sql`
      select column_name from information_schema.columns
       where table_schema = 'public' and table_name = 'payments' and column_name ~ 'secret|card|method_id'`);
    assert.deepEqual(rows, []);
  });

  test('only trusted code writes: clients cannot insert, update or delete payments or ledger rows, nor call movements', async () => {
    const { listing } = await newProvider();
    const id = await insertBooking(listing, customer, { startsAt: inHours(100) });
    const { id: pay } = await paymentOf(id);
    const attempts = [
      asCustomer.from('payments').update({ status: 'refunded' }).eq('id', pay),
      asCustomer.from('payments').delete().eq('id', pay),
      asCustomer.from('payments').insert({ booking_id: id, amount_cents: 1 }),
      asCustomer
        .from('transactions')
        .insert({ user_id: customer.id, type: 'refund', status: 'completed', amount_cents: 1, currency: 'USD' }),
    ];
    for (const attempt of attempts) {
      const { error, status } = await attempt;
      assert.deepEqual([status, error?.code], [403, '42501']);
    }
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => tx.query(sql`select app.payment_capture(${pay})`)),
      { code: '42501' },
    );
    assert.equal((await paymentOf(id)).status, 'authorised');
    const report = await asCustomer.rpc('payments_report');
    assert.equal(report.status, 403);
    const payout = await asCustomer.rpc('record_payout', {
      provider_id: listing.providerId,
      amount_cents: 1,
      currency: 'USD',
    });
    assert.equal(payout.status, 403);
    const theirs = await asCustomer.rpc('provider_balances', { provider_id: listing.providerId });
    assert.equal(theirs.status, 404);
    assert.equal((await anon.rpc('provider_balances')).status, 401);
  });
});

describe(`bad input is refused with a clear error and writes nothing (${testBackend()})`, () => {
  test('payouts', async () => {
    const { provider, listing } = await newProvider();
    await move('capture', (await paymentOf(await insertBooking(listing, customer, { startsAt: inHours(-4) }))).id);
    const stripeTenant = await createTenant(db);
    await db.query(sql`update public.tenants set payment_mode = 'stripe' where id = ${stripeTenant}`);
    const stripeManager = await createUser(db, { tenantId: stripeTenant });
    await grantPermission(db, stripeManager, 'payments.manage');
    const stripeProvider = await createUser(db, { tenantId: stripeTenant, role: 'provider' });
    const cases: [SupabaseClient, Record<string, unknown>, number, string, RegExp][] = [
      [asManager, { provider_id: provider.id, amount_cents: 0, currency: 'USD' }, 400, '22023', /positive/],
      [asManager, { provider_id: provider.id, amount_cents: -5, currency: 'USD' }, 400, '22023', /positive/],
      [asManager, { provider_id: provider.id, amount_cents: 10, currency: 'usd' }, 400, '22023', /ISO 4217/],
      [
        asManager,
        { provider_id: provider.id, amount_cents: 10, currency: 'USD', method: 'gold' },
        400,
        '22023',
        /method/,
      ],
      [asManager, { provider_id: provider.id, amount_cents: 10, currency: 'EUR' }, 409, 'PT409', /balance of 0 EUR/],
      [asManager, { provider_id: randomUUID(), amount_cents: 10, currency: 'USD' }, 404, 'PT404', /not found/],
      [
        await clientOf(stripeManager),
        { provider_id: stripeProvider.id, amount_cents: 10, currency: 'USD' },
        409,
        'PT409',
        /through Stripe/,
      ],
    ];
    const before = await ledgerCount();
    for (const [client, args, status, code, message] of cases) {
      const { error, status: got } = await client.rpc('record_payout', args);
      assert.deepEqual([got, error?.code], [status, code], JSON.stringify(args));
      assert.match(error?.message ?? '', message);
    }
    assert.equal(await ledgerCount(), before);
    const period = await asManager.rpc('payments_report', {
      period_start: '2026-02-01T00:00:00Z',
      period_end: '2026-01-01T00:00:00Z',
    });
    assert.deepEqual([period.status, period.error?.code], [400, '22023']);
  });

  test('movements', async () => {
    const { listing } = await newProvider();
    const pending = await insertBooking(listing, customer, { startsAt: inHours(110), status: 'pending' });
    const { id: unpaid } = await paymentOf(pending);
    const confirmed = await insertBooking(listing, customer, { startsAt: inHours(120) });
    const { id: pay } = await paymentOf(confirmed);
    const before = await ledgerCount();
    const cases: [() => Promise<unknown>, string, RegExp][] = [
      [() => move('capture', unpaid), 'PT409', /only an authorised payment can be captured/],
      [() => move('refund', unpaid, 100, 'x'), 'PT409', /only captured money can be refunded/],
      [() => move('capture', pay, 8401), '22023', /between 1 and 8400/],
      [() => move('capture', pay, 0), '22023', /between 1 and 8400/],
      [() => move('refund', pay, 100, 'x'), 'PT409', /only captured money/],
      [() => move('void', randomUUID()), 'PT404', /not found/],
    ];
    for (const [run, code, message] of cases) {
      await assert.rejects(run, (e: { code?: string; message?: string }) => {
        assert.equal(e.code, code, e.message);
        assert.match(e.message ?? '', message);
        return true;
      });
    }
    await move('capture', pay);
    const after = await ledgerCount();
    const refunds: [() => Promise<unknown>, RegExp][] = [
      [() => move('refund', pay, 8401, 'too-much'), /between 1 and 8400/],
      [() => move('refund', pay, 100, ''), /refund_key/],
      [() => move('refund', pay, 100, 'split', 50, 40), /must add up to 100/],
      [() => move('refund', pay, 100, 'split', 1300, -1200), /must add up/],
    ];
    for (const [run, message] of refunds) {
      await assert.rejects(run, (e: { code?: string; message?: string }) => {
        assert.equal(e.code, '22023', e.message);
        assert.match(e.message ?? '', message);
        return true;
      });
    }
    await assert.rejects(() => move('void', pay), { code: 'PT409' });
    assert.equal(await ledgerCount(), after);
    assert.equal(after, before + 2);
    const p = await paymentOf(confirmed);
    assert.deepEqual([p.status, p.refunded], ['captured', 0]);
  });
});

describe(`the reports add up (${testBackend()})`, () => {
  test('for a mix of bookings: captured − refunded = platform net + processing + provider net; balance = net − payouts', async () => {
    const tenant = await createTenant(db);
    const { provider, listing, client: asProvider } = await newProvider({ tenantId: tenant });
    const buyer = await createUser(db, { tenantId: tenant });
    const operator = await createUser(db, { tenantId: tenant });
    for (const permission of ['payments.manage', 'payments.read', 'payments.refund', 'bookings.manage']) {
      await grantPermission(db, operator, permission);
    }
    const asBuyer = await clientOf(buyer);
    const asOperator = await clientOf(operator);
    // Odd prices so the proration rounds.
    const odd: Price = { base: 7777, fee: 389, total: 8166, commission: 778 };
    const ids: string[] = [];
    const book = async (options: Parameters<typeof insertBooking>[2]) => {
      const id = await insertBooking(listing, buyer, options);
      ids.push(id);
      return id;
    };

    // Completed, twice.
    for (const price of [PRICE, odd]) {
      const id = await book({ startsAt: inHours(-2 - ids.length * 2), price });
      assert.equal((await asProvider.rpc('complete_booking', { booking_id: id })).error, null);
    }
    // Cancelled by the customer at each moderate tier, before and after capture.
    for (const hours of [130, 50, 2]) {
      for (const early of [false, true]) {
        const id = await book({ startsAt: inHours(hours + ids.length), price: odd });
        if (early) await move('capture', (await paymentOf(id)).id);
        assert.equal((await asBuyer.rpc('cancel_booking', { booking_id: id, reason: 'Changed plans' })).error, null);
      }
    }
    // Cancelled by the provider after capture.
    const byProvider = await book({ startsAt: inHours(300), price: odd });
    await move('capture', (await paymentOf(byProvider)).id);
    assert.equal((await asProvider.rpc('cancel_booking', { booking_id: byProvider, reason: 'Ill' })).error, null);
    // Completed, then refunded by a manager.
    const refunded = await book({ startsAt: inHours(-30), price: odd });
    assert.equal((await asProvider.rpc('complete_booking', { booking_id: refunded })).error, null);
    assert.equal(
      (await asOperator.rpc('transition_booking', { booking_id: refunded, new_status: 'refunded' })).error,
      null,
    );
    // Paid mostly with referral credit: total 10.00 < the 72.00 payout, so no fee and a shortfall.
    const credit = await book({ startsAt: inHours(-40), discount: 7400 });
    assert.equal((await asProvider.rpc('complete_booking', { booking_id: credit })).error, null);
    const c = await paymentOf(credit);
    assert.deepEqual([c.amount, c.fee, c.share, c.shortfall, c.captured], [1000, 0, 1000, 6200, 1000]);

    // A payout of part of the balance.
    const before = await asProvider.rpc('provider_balances');
    const owed = (before.data as { balance_cents: number }[])[0]?.balance_cents as number;
    assert.ok(owed > 0);
    const paidOut = owed - 1234;
    assert.equal(
      (await asOperator.rpc('record_payout', { provider_id: provider.id, amount_cents: paidOut, currency: 'USD' }))
        .error,
      null,
    );

    // The same sums, independently, from the payments.
    const { rows } = await db.query<Record<string, number>>(sql`
      select sum(captured_cents)::int as captured, sum(refunded_cents)::int as refunded,
             sum(captured_fee_cents)::int as fees, sum(application_fee_refunded_cents)::int as fees_refunded,
             sum(captured_cents - captured_fee_cents)::int as shares, sum(transfer_reversed_cents)::int as reversed,
             count(*) filter (where captured_cents > 0)::int as n
        from public.payments where booking_id = any(${ids}::uuid[])`);
    const sums = rows[0] as Record<string, number>;
    const report = await asOperator.rpc('payments_report');
    assert.equal(report.error, null);
    const usd = (report.data as Record<string, number | string>[]).find((r) => r.currency === 'USD');
    assert.ok(usd);
    assert.deepEqual(usd, {
      currency: 'USD',
      payments: sums.n,
      captured_cents: sums.captured,
      refunded_cents: sums.refunded,
      collected_net_cents: (sums.captured as number) - (sums.refunded as number),
      platform_fees_cents: sums.fees,
      platform_fees_refunded_cents: sums.fees_refunded,
      processing_fees_cents: 0,
      platform_net_cents: (sums.fees as number) - (sums.fees_refunded as number),
      provider_share_cents: sums.shares,
      transfers_reversed_cents: sums.reversed,
      provider_net_cents: (sums.shares as number) - (sums.reversed as number),
      payouts_cents: paidOut,
      providers_owed_cents: 1234,
    });
    assert.equal(
      (usd.captured_cents as number) - (usd.refunded_cents as number),
      (usd.platform_net_cents as number) + (usd.processing_fees_cents as number) + (usd.provider_net_cents as number),
    );
    const balance = await asProvider.rpc('provider_balances');
    assert.deepEqual(balance.data, [
      {
        currency: 'USD',
        earned_cents: sums.shares,
        reversed_cents: sums.reversed,
        net_cents: usd.provider_net_cents,
        paid_out_cents: paidOut,
        balance_cents: 1234,
      },
    ]);
    // The operator reads any provider of the marketplace; a period before any of it is empty.
    const viaOperator = await asOperator.rpc('provider_balances', { provider_id: provider.id });
    assert.deepEqual(viaOperator.data, balance.data);
    const past = await asOperator.rpc('payments_report', { period_end: '2020-01-01T00:00:00Z' });
    assert.deepEqual(past.data, []);
  });
});

describe(`concurrent movements (${testBackend()})`, { skip: testBackend() !== 'postgres' }, () => {
  test('two payouts racing for one balance: one is recorded, the other refused', async () => {
    const { provider, listing } = await newProvider();
    await move('capture', (await paymentOf(await insertBooking(listing, customer, { startsAt: inHours(-5) }))).id);
    const results = await Promise.all(
      [1, 2, 3, 4].map(() =>
        asManager.rpc('record_payout', { provider_id: provider.id, amount_cents: 5000, currency: 'USD' }),
      ),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 409, 409, 409]);
    const { rows } = await db.query<{ balance: number }>(
      sql`select balance_cents::int as balance from app.provider_ledger(${provider.id})`,
    );
    assert.equal(rows[0]?.balance, 2200);
  });

  test('the same capture and refund sent at once move money once', async () => {
    const { listing } = await newProvider();
    const id = await insertBooking(listing, customer, { startsAt: inHours(-6) });
    const { id: pay } = await paymentOf(id);
    await Promise.all([1, 2, 3].map(() => db.query(sql`select app.payment_capture(${pay})`)));
    await Promise.all([1, 2, 3].map(() => db.query(sql`select app.payment_refund(${pay}, 2100, 're_same')`)));
    const p = await paymentOf(id);
    assert.deepEqual([p.captured, p.refunded, p.feeRefunded, p.reversed], [8400, 2100, 300, 1800]);
    assert.equal((await ledgerOf(id)).length, 4);
  });
});
