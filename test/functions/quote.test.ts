import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import { createListing, createUser, type ListingFixture, type UserFixture } from '../helpers/fixtures.js';
import {
  getTestDatabase,
  ROOT,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';
import { invoke } from './support.js';

/*
 * The example function the marketplace ships, functions/quote/index.ts, through
 * supabase.functions.invoke('quote'): the price a booking would have, computed as create_booking
 * prices it (checked against app.price_booking on the same listing), from what the caller may
 * see — a provider's draft is quotable by the provider only.
 */

let db: TestDatabase;
let server: TestServer;
let provider: UserFixture;
let customer: UserFixture;
let active: ListingFixture;
let draft: ListingFixture;

const HOUR = 3_600_000;
/** The next half hour (the listing's slot grid) at least `hours` from now. */
const onGrid = (hours: number) => new Date(Math.ceil((Date.now() + hours * HOUR) / (HOUR / 2)) * (HOUR / 2));

before(async () => {
  db = await getTestDatabase();
  server = await startTestServer(db, { LOCONOMY_FUNCTIONS_DIR: join(ROOT, 'functions') });
  provider = await createUser(db, { role: 'provider' });
  customer = await createUser(db);
  // Open around the clock, so any start on the grid is free whenever the suite runs.
  await db.query(sql`insert into public.provider_availability (provider_id, day_of_week, start_time, end_time)
                     select ${provider.id}, d, '00:00', '24:00' from generate_series(1, 7) d`);
  active = await createListing(db, provider, { hourlyRateCents: 8333 });
  draft = await createListing(db, provider, { status: 'draft', hourlyRateCents: 6000 });
  // In London: the UK's 20 % tax applies (the marketplace's own region, the US, has none).
  await db.query(sql`
    update public.listings
       set city_id = (select c.id from public.cities c where c.slug = 'london'),
           minimum_duration_minutes = 30, duration_minutes = 60,
           metadata = ${JSON.stringify({
             add_ons: [
               { id: 'parts', name: 'Standard parts kit', price_cents: 2500 },
               { id: 'after-hours', name: 'After hours', price_cents: 4000 },
             ],
           })}::jsonb
     where id = ${active.id}`);
});

after(async () => {
  await server?.close();
  await db?.dispose();
});

const as = async (user: UserFixture): Promise<SupabaseClient> =>
  server.client({ token: await server.tokenFor(user.clerkId) });

/** create_booking's own pricing of this listing for this many minutes, read as the database owner. */
async function priceBooking(listingId: string, minutes: number): Promise<Record<string, unknown>> {
  const { rows } = await db.query<{ price: Record<string, unknown> }>(sql`
    select app.price_booking(l, ${minutes}) as price from public.listings l where l.id = ${listingId}`);
  return rows[0]?.price as Record<string, unknown>;
}

const SAME_AS_BOOKING = [
  'currency',
  'pricing_type',
  'minutes',
  'unit_price_cents',
  'base_cents',
  'service_fee_bps',
  'service_fee_cents',
  'tax_rate_bps',
  'tax_cents',
  'total_cents',
  'platform_fee_bps',
  'platform_fee_cents',
  'provider_payout_cents',
] as const;

const pick = (o: Record<string, unknown>) => Object.fromEntries(SAME_AS_BOOKING.map((k) => [k, o[k]]));

describe(`quote (${testBackend()})`, () => {
  test('anon quotes an active listing as create_booking would price it (rate × minutes, fee, tax, commission)', async () => {
    for (const minutes of [60, 50, 95]) {
      const { status, data } = await invoke(server.client(), 'quote', {
        body: { listing_id: active.id, duration_minutes: minutes },
      });
      assert.equal(status, 200, JSON.stringify(data));
      assert.deepEqual(pick(data), pick(await priceBooking(active.id, minutes)), `${minutes} minutes`);
    }
    const { data } = await invoke(server.client(), 'quote', { body: { listing_id: active.id, duration_minutes: 50 } });
    // 8333 × 50 / 60 = 6944.17 → 6944; fee 5 % → 347.2 → 347; tax 20 % of 7291 → 1458.2 → 1458.
    assert.deepEqual(
      [data.base_cents, data.service_fee_cents, data.tax_cents, data.total_cents, data.provider_payout_cents],
      [6944, 347, 1458, 8749, 6944 - 694],
    );
  });

  test('quantity and add-ons join the base before fees and tax; the duration defaults to the listing’s', async () => {
    const { status, data } = await invoke(await as(customer), 'quote', {
      body: { listing_id: active.id, quantity: 2, add_ons: ['parts', 'after-hours'] },
    });
    assert.equal(status, 200);
    assert.equal(data.minutes, 60);
    assert.equal(data.service_cents, 2 * 8333);
    assert.equal(data.add_ons_cents, 6500);
    assert.equal(data.base_cents, 2 * 8333 + 6500);
    assert.deepEqual(
      data.add_ons.map((a: { id: string }) => a.id),
      ['parts', 'after-hours'],
    );
    const fee = Math.round((data.base_cents * 500) / 10_000);
    assert.equal(data.service_fee_cents, fee);
    assert.equal(data.total_cents, data.base_cents + fee + Math.round(((data.base_cents + fee) * 2000) / 10_000));
  });

  test('a fixed-price listing is its price whatever the duration; a custom one is priced on request (422)', async () => {
    const fixed = await createListing(db, provider);
    await db.query(
      sql`update public.listings set pricing_type = 'fixed', base_price_cents = 15000 where id = ${fixed.id}`,
    );
    const { data } = await invoke(server.client(), 'quote', { body: { listing_id: fixed.id, duration_minutes: 180 } });
    assert.deepEqual(pick(data), pick(await priceBooking(fixed.id, 180)));
    assert.equal(data.base_cents, 15000);

    await db.query(sql`update public.listings set pricing_type = 'custom' where id = ${fixed.id}`);
    const custom = await invoke(server.client(), 'quote', { body: { listing_id: fixed.id } });
    assert.deepEqual([custom.status, custom.data.code], [422, 'LOCO_QUOTE_ON_REQUEST']);
  });

  test('RLS inside: the provider quotes their own draft; another user and anon cannot see it (404)', async () => {
    const own = await invoke(await as(provider), 'quote', { body: { listing_id: draft.id, duration_minutes: 90 } });
    assert.equal(own.status, 200);
    assert.equal(own.data.base_cents, 9000);
    for (const client of [await as(customer), server.client()]) {
      const hidden = await invoke(client, 'quote', { body: { listing_id: draft.id } });
      assert.deepEqual([hidden.status, hidden.data.code], [404, 'LOCO_QUOTE_NOT_FOUND']);
    }
  });

  test('with starts_at, whether that start is free', async () => {
    const start = onGrid(3);
    const free = await invoke(server.client(), 'quote', {
      body: { listing_id: active.id, starts_at: start.toISOString() },
    });
    assert.deepEqual([free.data.starts_at, free.data.available], [start.toISOString(), true]);
    const offGrid = new Date(start.getTime() + 7 * 60_000).toISOString();
    const taken = await invoke(server.client(), 'quote', { body: { listing_id: active.id, starts_at: offGrid } });
    assert.equal(taken.data.available, false);
  });

  describe('bad input is 400 with what is wrong', () => {
    const cases: [string, unknown, RegExp][] = [
      ['no listing_id', {}, /^listing_id: /],
      ['a listing_id that is not a UUID', { listing_id: 'abc' }, /^listing_id: must be a listing id/],
      ['a duration under 5 minutes', { duration_minutes: 3 }, /^duration_minutes: must be at least 5/],
      ['a fractional duration', { duration_minutes: 60.5 }, /^duration_minutes: must be a whole number/],
      ['a duration under the listing’s minimum', { duration_minutes: 25 }, /at least 30 minutes for this listing/],
      ['a quantity of 0', { quantity: 0 }, /^quantity: must be at least 1/],
      ['an add-on the listing does not have', { add_ons: ['gold'] }, /^add_ons: this listing has no add-on gold/],
      ['a date without an offset', { starts_at: '2027-03-14T10:00:00' }, /^starts_at: must be an ISO 8601/],
      ['an unknown field', { price: 1 }, /^body: unknown field price/],
    ];
    for (const [what, body, message] of cases) {
      test(what, async () => {
        const full = typeof body === 'object' && body !== null && !('listing_id' in body) && what !== 'no listing_id';
        const sent = full ? { listing_id: active.id, ...body } : body;
        const { status, data } = await invoke(server.client(), 'quote', { body: sent as Record<string, unknown> });
        assert.equal(status, 400, JSON.stringify(data));
        assert.equal(data.code, 'LOCO_QUOTE_INVALID');
        assert.match(data.message, message);
        assert.ok(data.hint);
      });
    }

    test('a body that is not JSON', async () => {
      const { status, data } = await invoke(server.client(), 'quote', {
        body: '{"listing_id":',
        headers: { 'content-type': 'application/json' },
      });
      assert.deepEqual([status, data.code, data.message], [400, 'LOCO_QUOTE_INVALID', 'The body must be JSON']);
    });

    test('another method than POST is 405', async () => {
      const { status } = await invoke(server.client(), 'quote', { method: 'GET' });
      assert.equal(status, 405);
    });
  });
});
