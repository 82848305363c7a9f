import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import { categoryId, createUser, type UserFixture } from '../helpers/fixtures.js';
import {
  asUser,
  getTestDatabase,
  ROOT,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';

/*
 * Bookable slots (migration 0020, docs/workflows.md#slots) through /rest/v1/rpc with supabase-js:
 * exact slot lists across DST, midnight, display zones, buffers, steps, notice, horizon, daily
 * capacity, overrides and bookings; the calendar calls with their refusals (nothing written);
 * and app.is_bookable_slot / next_available_slot / listing_available_on agreeing with the list.
 * Dates are fixed and in the future; test listings book up to 730 days ahead with no notice.
 */

let db: TestDatabase;
let server: TestServer;
let customer: UserFixture;
let anon: SupabaseClient;

before(async () => {
  db = await getTestDatabase();
  customer = await createUser(db);
  server = await startTestServer(db);
  anon = server.client();
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

interface Window {
  day_of_week: number;
  start_time: string;
  end_time: string;
}

interface Provider {
  user: UserFixture;
  client: SupabaseClient;
}

async function provider(timeZone = 'UTC'): Promise<Provider> {
  const user = await createUser(db, { role: 'provider', timeZone });
  return { user, client: server.client({ token: await server.tokenFor(user.clerkId) }) };
}

interface ListingOptions {
  duration?: number;
  minimum?: number;
  step?: number;
  before?: number;
  after?: number;
  notice?: number;
  advanceDays?: number;
  maxPerDay?: number | null;
  status?: string;
}

async function listing(p: Provider, o: ListingOptions = {}): Promise<string> {
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.listings (provider_id, category_id, title, description, slug, pricing_type, hourly_rate_cents,
                                 location, service_radius_m, status, duration_minutes, minimum_duration_minutes,
                                 slot_step_minutes, buffer_before_minutes, buffer_after_minutes, min_notice_minutes,
                                 advance_booking_days, max_bookings_per_day)
    values (${p.user.id}, ${await categoryId(db)}, 'Slot test listing', 'Slots', ${`slots-${randomUUID().slice(0, 8)}`},
            'hourly', 8000, public.geo_point(-73.99, 40.73), 15000, ${o.status ?? 'active'}::public.listing_status,
            ${o.duration ?? 60}, ${o.minimum ?? 30}, ${o.step ?? 60}, ${o.before ?? 0}, ${o.after ?? 0},
            ${o.notice ?? 0}, ${o.advanceDays ?? 730}, ${o.maxPerDay ?? null})
    returning id`);
  return rows[0]?.id as string;
}

async function schedule(p: Provider, timeZone: string, windows: Window[]): Promise<void> {
  const { error } = await p.client.rpc('set_weekly_schedule', { time_zone: timeZone, windows });
  assert.equal(error, null);
}

const everyDay = (start_time: string, end_time: string): Window[] =>
  [1, 2, 3, 4, 5, 6, 7].map((day_of_week) => ({ day_of_week, start_time, end_time }));

interface Slot {
  starts_at: string;
  ends_at: string;
  local_starts_at: string;
  local_ends_at: string;
  display_time_zone: string;
}

async function listSlots(
  listingId: string,
  from: string,
  to: string,
  extra: { time_zone?: string; duration_minutes?: number } = {},
  client: SupabaseClient = anon,
): Promise<Slot[]> {
  const { data, error } = await client.rpc('listing_slots', {
    listing_id: listingId,
    from_at: from,
    to_at: to,
    ...extra,
  });
  assert.equal(error, null, JSON.stringify(error));
  return data as Slot[];
}

/** Local starts as "YYYY-MM-DD HH:MM". */
const local = (list: Slot[]) => list.map((s) => s.local_starts_at.slice(0, 16).replace('T', ' '));
/** UTC starts as ISO strings. */
const utc = (list: Slot[]) => list.map((s) => new Date(s.starts_at).toISOString());

async function book(listingId: string, startsAt: string, endsAt: string, status = 'confirmed'): Promise<string> {
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.bookings (listing_id, provider_id, customer_id, tenant_id, starts_at, ends_at, time_zone,
                                 service_title, currency, base_price_cents, service_fee_cents, tax_cents,
                                 discount_cents, total_cents, platform_fee_cents, status)
    select l.id, l.provider_id, ${customer.id}, l.tenant_id, ${startsAt}::timestamptz, ${endsAt}::timestamptz, 'UTC',
           'Fixture booking', 'USD', 8000, 0, 0, 0, 8000, 0, ${status}::public.booking_status
    from public.listings l where l.id = ${listingId}
    returning id`);
  return rows[0]?.id as string;
}

async function bookable(listingId: string, startsAt: string, minutes: number | null = null): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>(
    sql`select app.is_bookable_slot(${listingId}::uuid, ${startsAt}::timestamptz, ${minutes}::integer) as ok`,
  );
  return rows[0]?.ok as boolean;
}

const hours = (day: string, list: number[], minute = '00') =>
  list.map((h) => `${day} ${String(h).padStart(2, '0')}:${minute}`);

describe(`listing_slots (${testBackend()})`, () => {
  test('a 09:00–17:00 New York schedule yields the same local slots on the spring-forward and fall-back days', async () => {
    const p = await provider('America/New_York');
    await schedule(p, 'America/New_York', everyDay('09:00', '17:00'));
    const id = await listing(p);

    const spring = await listSlots(id, '2027-03-14T00:00:00-05:00', '2027-03-15T00:00:00-04:00');
    assert.deepEqual(local(spring), hours('2027-03-14', [9, 10, 11, 12, 13, 14, 15, 16]));
    // After the change New York is UTC-4: 09:00 is 13:00Z.
    assert.deepEqual(
      utc(spring),
      [13, 14, 15, 16, 17, 18, 19, 20].map((h) => `2027-03-14T${h}:00:00.000Z`),
    );
    assert.ok(spring.every((s) => s.display_time_zone === 'America/New_York'));
    assert.equal(spring[0]?.local_ends_at.slice(11, 16), '10:00');

    const fall = await listSlots(id, '2027-11-07T00:00:00-04:00', '2027-11-08T00:00:00-05:00');
    assert.deepEqual(local(fall), hours('2027-11-07', [9, 10, 11, 12, 13, 14, 15, 16]));
    // After the change New York is UTC-5: 09:00 is 14:00Z.
    assert.deepEqual(
      utc(fall),
      [14, 15, 16, 17, 18, 19, 20, 21].map((h) => `2027-11-07T${h}:00:00.000Z`),
    );

    // The days around agree, and is_bookable_slot says yes exactly to the listed starts.
    for (const s of [...spring, ...fall]) assert.equal(await bookable(id, s.starts_at), true);
    assert.equal(await bookable(id, '2027-03-14T12:00:00Z'), false); // 08:00 local
    assert.equal(await bookable(id, '2027-03-14T13:30:00Z'), false); // off the grid
    assert.equal(await bookable(id, '2027-11-07T21:00:00Z'), true); // 16:00 local
    assert.equal(await bookable(id, '2027-11-07T22:00:00Z'), false); // would end at 18:00
  });

  test('a window across the spring-forward hour holds slots of real length: 02:00 local never exists', async () => {
    const p = await provider('America/New_York');
    await schedule(p, 'America/New_York', [{ day_of_week: 7, start_time: '00:00', end_time: '05:00' }]);
    const id = await listing(p);
    const list = await listSlots(id, '2027-03-14T00:00:00-05:00', '2027-03-15T00:00:00-04:00');
    // 00:00 EST … 05:00 EDT is four real hours.
    assert.deepEqual(local(list), hours('2027-03-14', [0, 1, 3, 4]));
    assert.deepEqual(
      utc(list),
      [5, 6, 7, 8].map((h) => `2027-03-14T0${h}:00:00.000Z`),
    );
  });

  test('a window across the fall-back hour holds one more slot: 01:00 local comes twice', async () => {
    const p = await provider('America/New_York');
    await schedule(p, 'America/New_York', [{ day_of_week: 7, start_time: '00:00', end_time: '03:00' }]);
    const id = await listing(p);
    const list = await listSlots(id, '2027-11-07T00:00:00-04:00', '2027-11-08T00:00:00-05:00');
    // 00:00 EDT … 03:00 EST is four real hours.
    assert.deepEqual(local(list), hours('2027-11-07', [0, 1, 1, 2]));
    assert.deepEqual(
      utc(list),
      [4, 5, 6, 7].map((h) => `2027-11-07T0${h}:00:00.000Z`),
    );
  });

  test('windows that meet at local midnight form one stretch a slot can span', async () => {
    const p = await provider('Europe/Berlin');
    // Monday 22:00–24:00 and Tuesday 00:00–02:00.
    await schedule(p, 'Europe/Berlin', [
      { day_of_week: 1, start_time: '22:00', end_time: '24:00' },
      { day_of_week: 2, start_time: '00:00', end_time: '02:00' },
    ]);
    const id = await listing(p, { duration: 120, minimum: 60 });
    const from = '2027-01-04T00:00:00+01:00'; // Monday
    const to = '2027-01-06T00:00:00+01:00';
    const twoHours = await listSlots(id, from, to);
    assert.deepEqual(local(twoHours), ['2027-01-04 22:00', '2027-01-04 23:00', '2027-01-05 00:00']);
    assert.equal(twoHours[2]?.local_ends_at.slice(0, 16).replace('T', ' '), '2027-01-05 02:00');
    const oneHour = await listSlots(id, from, to, { duration_minutes: 60 });
    assert.deepEqual(local(oneHour), ['2027-01-04 22:00', '2027-01-04 23:00', '2027-01-05 00:00', '2027-01-05 01:00']);
    // A range starting after midnight still finds the stretch that began on Monday.
    // From 23:30 Berlin: the grid stays on the stretch's hours, so the next start is 00:00.
    const late = await listSlots(id, '2027-01-04T22:30:00Z', to);
    assert.deepEqual(utc(late), ['2027-01-04T23:00:00.000Z']);
    assert.equal(await bookable(id, '2027-01-04T22:00:00Z', 120), true);
    assert.equal(await bookable(id, '2027-01-05T00:00:00Z', 120), false); // 01:00–03:00 local
  });

  test('a customer in another zone sees the same instants in their own wall-clock time', async () => {
    const p = await provider('America/New_York');
    await schedule(p, 'America/New_York', [{ day_of_week: 3, start_time: '09:00', end_time: '12:00' }]);
    const id = await listing(p);
    const from = '2027-01-06T00:00:00-05:00'; // Wednesday in New York
    const to = '2027-01-07T00:00:00-05:00';
    const supabase = anon;
    const listingId = id;
    // --- docs/workflows.md#slots: listing page ---
    const { data: slots } = await supabase.rpc('listing_slots', {
      listing_id: listingId,
      from_at: '2027-01-06T00:00:00-05:00',
      to_at: '2027-01-07T00:00:00-05:00',
      time_zone: 'Asia/Tokyo',
    });
    // --- end ---
    const tokyo = slots as Slot[];
    assert.deepEqual(utc(tokyo), ['2027-01-06T14:00:00.000Z', '2027-01-06T15:00:00.000Z', '2027-01-06T16:00:00.000Z']);
    assert.deepEqual(local(tokyo), ['2027-01-06 23:00', '2027-01-07 00:00', '2027-01-07 01:00']);
    assert.ok(tokyo.every((s) => s.display_time_zone === 'Asia/Tokyo'));
    const kolkata = await listSlots(id, from, to, { time_zone: 'Asia/Kolkata' });
    assert.deepEqual(local(kolkata), ['2027-01-06 19:30', '2027-01-06 20:30', '2027-01-06 21:30']);
  });

  test('slot step, duration and buffers around an existing booking', async () => {
    const p = await provider('UTC');
    await schedule(p, 'UTC', everyDay('08:00', '14:00'));
    const id = await listing(p, { step: 30, before: 15, after: 15 });
    const day = ['2027-02-10T00:00:00Z', '2027-02-11T00:00:00Z'] as const;
    assert.deepEqual(
      local(await listSlots(id, ...day)),
      ['08:00', '08:30', '09:00', '09:30', '10:00', '10:30', '11:00', '11:30', '12:00', '12:30', '13:00'].map(
        (t) => `2027-02-10 ${t}`,
      ),
    );
    await book(id, '2027-02-10T10:00:00Z', '2027-02-10T11:00:00Z');
    // The booking holds 09:45–11:15 with its buffers; a slot needs 15 minutes free on each side too.
    assert.deepEqual(
      local(await listSlots(id, ...day)),
      ['08:00', '08:30', '11:30', '12:00', '12:30', '13:00'].map((t) => `2027-02-10 ${t}`),
    );
    // A 30-minute request fits where a 60-minute one does not.
    assert.deepEqual(
      local(await listSlots(id, ...day, { duration_minutes: 30 })),
      ['08:00', '08:30', '09:00', '11:30', '12:00', '12:30', '13:00', '13:30'].map((t) => `2027-02-10 ${t}`),
    );
    assert.equal(await bookable(id, '2027-02-10T09:00:00Z', 30), true);
    assert.equal(await bookable(id, '2027-02-10T09:00:00Z', 60), false);
  });

  test('bookings in blocking statuses remove slots, across the provider’s listings; cancelled ones do not', async () => {
    const p = await provider('UTC');
    await schedule(p, 'UTC', everyDay('09:00', '13:00'));
    const id = await listing(p);
    const other = await listing(p);
    const day = ['2027-02-12T00:00:00Z', '2027-02-13T00:00:00Z'] as const;
    await book(id, '2027-02-12T09:00:00Z', '2027-02-12T10:00:00Z', 'pending');
    await book(other, '2027-02-12T11:00:00Z', '2027-02-12T12:00:00Z', 'confirmed');
    await book(id, '2027-02-12T12:00:00Z', '2027-02-12T13:00:00Z', 'cancelled');
    assert.deepEqual(local(await listSlots(id, ...day)), ['2027-02-12 10:00', '2027-02-12 12:00']);
    assert.deepEqual(local(await listSlots(other, ...day)), ['2027-02-12 10:00', '2027-02-12 12:00']);
  });

  test('max_bookings_per_day closes the provider’s local date once reached', async () => {
    const p = await provider('America/Los_Angeles');
    await schedule(p, 'America/Los_Angeles', everyDay('09:00', '12:00'));
    const id = await listing(p, { maxPerDay: 1 });
    const from = '2027-02-15T00:00:00-08:00';
    const to = '2027-02-17T00:00:00-08:00';
    assert.equal((await listSlots(id, from, to)).length, 6);
    await book(id, '2027-02-15T09:00:00-08:00', '2027-02-15T10:00:00-08:00', 'cancelled');
    assert.equal((await listSlots(id, from, to)).length, 6);
    await book(id, '2027-02-15T10:00:00-08:00', '2027-02-15T11:00:00-08:00', 'confirmed');
    assert.deepEqual(local(await listSlots(id, from, to)), hours('2027-02-16', [9, 10, 11]));
  });

  test('minimum notice and the booking horizon count from now', async () => {
    const p = await provider('UTC');
    await schedule(p, 'UTC', everyDay('00:00', '24:00'));
    const id = await listing(p, { notice: 180, advanceDays: 2 });
    const before = Date.now();
    const list = await listSlots(id, new Date(before).toISOString(), new Date(before + 5 * 86_400_000).toISOString());
    const afterwards = Date.now();
    const starts = list.map((s) => Date.parse(s.starts_at));
    const hour = 3_600_000;
    assert.ok(starts.length > 0);
    assert.ok((starts[0] as number) >= before + 3 * hour, 'the first slot keeps three hours of notice');
    assert.ok((starts[0] as number) < afterwards + 4 * hour, 'and is the first hour after that');
    const last = starts.at(-1) as number;
    assert.ok(last <= afterwards + 2 * 86_400_000, 'the last slot is within two days');
    assert.ok(last > before + 2 * 86_400_000 - 2 * hour, 'and close to two days');
  });

  test('overrides: a day off, a partial block and an extra window', async () => {
    const p = await provider('Europe/Paris');
    await schedule(p, 'Europe/Paris', everyDay('09:00', '17:00'));
    const id = await listing(p);
    const { error: e1 } = await p.client.rpc('add_availability_override', {
      date: '2027-04-05',
      kind: 'blocked',
      reason: 'Family day (private)',
    });
    assert.equal(e1, null);
    const { error: e2 } = await p.client.rpc('add_availability_override', {
      date: '2027-04-06',
      kind: 'blocked',
      start_time: '12:00',
      end_time: '13:30',
    });
    assert.equal(e2, null);
    const { error: e3 } = await p.client.rpc('add_availability_override', {
      date: '2027-04-07',
      kind: 'available',
      start_time: '18:00',
      end_time: '20:00',
    });
    assert.equal(e3, null);
    const { error: e4 } = await p.client.rpc('add_availability_override', {
      date: '2027-04-08',
      kind: 'available',
      start_time: '17:00',
      end_time: '18:00',
    });
    assert.equal(e4, null);
    const day = async (d: string, next: string) =>
      local(await listSlots(id, `${d}T00:00:00+02:00`, `${next}T00:00:00+02:00`));
    assert.deepEqual(await day('2027-04-05', '2027-04-06'), []);
    assert.equal(await bookable(id, '2027-04-05T09:00:00+02:00'), false);
    // 12:00–13:30 blocked: the afternoon stretch starts at 13:30.
    assert.deepEqual(await day('2027-04-06', '2027-04-07'), [
      ...hours('2027-04-06', [9, 10, 11]),
      ...hours('2027-04-06', [13, 14, 15], '30'),
    ]);
    assert.deepEqual(
      await day('2027-04-07', '2027-04-08'),
      hours('2027-04-07', [9, 10, 11, 12, 13, 14, 15, 16, 18, 19]),
    );
    // An extra hour touching the schedule extends the stretch.
    assert.deepEqual(await day('2027-04-08', '2027-04-09'), hours('2027-04-08', [9, 10, 11, 12, 13, 14, 15, 16, 17]));
    assert.equal(
      (await db.query<{ ok: boolean }>(sql`select app.listing_available_on(${id}::uuid, '2027-04-05') as ok`)).rows[0]
        ?.ok,
      false,
    );
    assert.equal(
      (await db.query<{ ok: boolean }>(sql`select app.listing_available_on(${id}::uuid, '2027-04-06') as ok`)).rows[0]
        ?.ok,
      true,
    );
    const next = await db.query<{ at: string }>(
      sql`select app.next_available_slot(${id}::uuid, '2027-04-04T17:00:00+02:00') as at`,
    );
    assert.equal(new Date(next.rows[0]?.at as string).toISOString(), '2027-04-06T07:00:00.000Z'); // Tuesday 09:00 Paris

    // The private reason never reaches other callers.
    const { data: seen } = await anon.from('availability_overrides').select('*').eq('provider_id', p.user.id);
    assert.ok(!seen?.length);
    const asCustomer = server.client({ token: await server.tokenFor(customer.clerkId) });
    const { data: seenByCustomer } = await asCustomer.from('availability_overrides').select('reason');
    assert.deepEqual(seenByCustomer, []);
  });

  test('authenticated callers and providers previewing their own draft listing', async () => {
    const p = await provider('UTC');
    await schedule(p, 'UTC', everyDay('09:00', '10:00'));
    const draft = await listing(p, { status: 'draft' });
    const range = ['2027-02-20T00:00:00Z', '2027-02-21T00:00:00Z'] as const;
    assert.deepEqual(local(await listSlots(draft, ...range, {}, p.client)), ['2027-02-20 09:00']);
    const { error, status } = await anon.rpc('listing_slots', {
      listing_id: draft,
      from_at: range[0],
      to_at: range[1],
    });
    assert.equal(status, 404);
    assert.match(error?.message ?? '', /not found/);
    assert.equal(await bookable(draft, '2027-02-20T09:00:00Z'), false);
  });

  test('app.is_bookable_slot says yes exactly at the starts listing_slots lists', async () => {
    const p = await provider('Europe/Berlin');
    await schedule(p, 'Europe/Berlin', [
      { day_of_week: 1, start_time: '22:00', end_time: '24:00' },
      { day_of_week: 2, start_time: '00:00', end_time: '02:00' },
      { day_of_week: 2, start_time: '09:00', end_time: '17:00' },
    ]);
    const id = await listing(p, { duration: 50, step: 25, before: 10, after: 20 });
    const { error } = await p.client.rpc('add_availability_override', {
      date: '2027-01-12',
      kind: 'blocked',
      start_time: '12:00',
      end_time: '12:40',
    });
    assert.equal(error, null);
    await book(id, '2027-01-12T10:00:00+01:00', '2027-01-12T11:00:00+01:00');
    const from = '2027-01-11T20:00:00+01:00'; // Monday evening in Berlin
    const to = '2027-01-13T00:00:00+01:00';
    const listed = utc(await listSlots(id, from, to));
    assert.ok(listed.length > 10);
    const { rows } = await asUser(db, null, (tx) =>
      tx.query<{ at: string }>(sql`
        select t as at from generate_series(${from}::timestamptz, ${to}::timestamptz - interval '5 minutes', interval '5 minutes') t
        where app.is_bookable_slot(${id}::uuid, t, null)`),
    );
    assert.deepEqual(
      rows.map((r) => new Date(r.at).toISOString()),
      listed,
    );
  });

  test('a provider without any schedule has no bookable slots', async () => {
    const p = await provider('UTC');
    const id = await listing(p);
    assert.deepEqual(await listSlots(id, '2027-02-20T00:00:00Z', '2027-02-27T00:00:00Z'), []);
    const { rows } = await db.query<{ at: Date | null }>(sql`select app.next_available_slot(${id}::uuid) as at`);
    assert.equal(rows[0]?.at, null);
  });

  test('app.next_available_slots (the search cards) gives each listing what app.next_available_slot gives it', async () => {
    const override = async (p: Provider, args: Record<string, unknown>) => {
      const { error } = await p.client.rpc('add_availability_override', args);
      assert.equal(error, null, JSON.stringify(error));
    };
    const weekdays = (start_time: string, end_time: string): Window[] =>
      [1, 2, 3, 4, 5].map((day_of_week) => ({ day_of_week, start_time, end_time }));
    // New York on weekdays, buffers, a booking on the Monday after spring-forward.
    const ny = await provider('America/New_York');
    await schedule(ny, 'America/New_York', weekdays('09:00', '17:00'));
    const nyListing = await listing(ny, { step: 30, before: 15, after: 15 });
    await book(nyListing, '2027-03-15T09:00:00-04:00', '2027-03-15T10:00:00-04:00');
    // Paris with a day off, a partial block and an extra window.
    const paris = await provider('Europe/Paris');
    await schedule(paris, 'Europe/Paris', everyDay('09:00', '17:00'));
    const parisListing = await listing(paris, { duration: 90, step: 45 });
    await override(paris, { date: '2027-04-05', kind: 'blocked' });
    await override(paris, { date: '2027-04-06', kind: 'blocked', start_time: '08:00', end_time: '12:00' });
    await override(paris, { date: '2027-04-04', kind: 'available', start_time: '18:00', end_time: '21:00' });
    // Los Angeles, one booking a day, the first day taken.
    const la = await provider('America/Los_Angeles');
    await schedule(la, 'America/Los_Angeles', everyDay('09:00', '12:00'));
    const capped = await listing(la, { maxPerDay: 1 });
    await book(capped, '2027-02-15T10:00:00-08:00', '2027-02-15T11:00:00-08:00');
    // Only an extra window, no weekly schedule.
    const extra = await provider('Asia/Tokyo');
    await override(extra, { date: '2027-05-10', kind: 'available', start_time: '10:00', end_time: '12:00' });
    const extraOnly = await listing(extra);
    // Around the clock with a 45-minute step, nine days off: the slot is in the second 7-day chunk.
    const allDay = await provider('UTC');
    await schedule(allDay, 'UTC', everyDay('00:00', '24:00'));
    const longBlock = await listing(allDay, { step: 45, duration: 45 });
    for (let d = 1; d <= 9; d++) await override(allDay, { date: `2027-06-0${d}`, kind: 'blocked' });
    // Windows meeting at midnight in Berlin; a short horizon; a draft; no schedule at all.
    const berlin = await provider('Europe/Berlin');
    await schedule(berlin, 'Europe/Berlin', [
      { day_of_week: 1, start_time: '22:00', end_time: '24:00' },
      { day_of_week: 2, start_time: '00:00', end_time: '02:00' },
    ]);
    const midnight = await listing(berlin, { duration: 180, step: 60 });
    const shortHorizon = await listing(berlin, { advanceDays: 1 });
    const draft = await listing(berlin, { status: 'draft' });
    const unscheduled = await listing(await provider('UTC'));

    const ids = [nyListing, parisListing, capped, extraOnly, longBlock, midnight, shortHorizon, draft, unscheduled];
    const compare = async (after: string | null) => {
      const { rows } = await db.query<{ id: string; one: Date | null; many: Date | null }>(sql`
        select i.id, app.next_available_slot(i.id, coalesce(${after}::timestamptz, now())) as one, s.next_available_at as many
        from unnest(${ids}::uuid[]) i (id)
        left join app.next_available_slots(${ids}::uuid[], coalesce(${after}::timestamptz, now())) s on s.listing_id = i.id`);
      assert.equal(rows.length, ids.length);
      for (const r of rows) assert.equal(r.many?.toISOString(), r.one?.toISOString(), `${r.id} after ${after}`);
      return new Map(rows.map((r) => [r.id, r.many ? new Date(r.many).toISOString() : null]));
    };
    for (const after of [
      null,
      '2027-01-11T23:00:00+01:00',
      '2027-02-15T00:00:00-08:00',
      '2027-03-13T12:00:00-05:00',
      '2027-03-14T08:00:00-04:00',
      '2027-04-04T17:00:00+02:00',
      '2027-05-09T00:00:00Z',
      '2027-06-01T00:00:00Z',
      '2027-10-30T23:30:00+02:00',
      '2027-11-06T23:30:00-04:00',
    ]) {
      await compare(after);
    }
    // And the cases are what they say, so the comparison compares something.
    const spring = await compare('2027-03-13T12:00:00-05:00');
    // Monday after spring-forward: 09:00–10:00 booked, with 15-minute buffers 10:30 is first.
    assert.equal(spring.get(nyListing), '2027-03-15T14:30:00.000Z');
    assert.equal(spring.get(draft), null);
    assert.equal(spring.get(unscheduled), null);
    assert.equal((await compare('2027-02-15T00:00:00-08:00')).get(capped), '2027-02-16T17:00:00.000Z');
    const paris4 = await compare('2027-04-04T17:00:00+02:00');
    assert.equal(paris4.get(parisListing), '2027-04-04T16:00:00.000Z'); // the extra window, 18:00 Paris
    assert.equal(paris4.get(extraOnly), '2027-05-10T01:00:00.000Z'); // 10:00 Tokyo
    assert.equal((await compare('2027-06-01T00:00:00Z')).get(longBlock), '2027-06-10T00:00:00.000Z');
    assert.equal((await compare('2027-01-11T23:00:00+01:00')).get(midnight), '2027-01-11T22:00:00.000Z');
  });

  test('bad ranges, zones, durations and listings answer 4xx with the fix', async () => {
    const p = await provider('UTC');
    await schedule(p, 'UTC', everyDay('09:00', '17:00'));
    const id = await listing(p);
    const call = (args: Record<string, unknown>) =>
      anon.rpc('listing_slots', {
        listing_id: id,
        from_at: '2027-02-01T00:00:00Z',
        to_at: '2027-02-02T00:00:00Z',
        ...args,
      });
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ to_at: '2027-04-05T00:00:00Z' }, 400, /at most 62 days/],
      [{ to_at: '2027-01-31T00:00:00Z' }, 400, /to_at must be after from_at/],
      [{ time_zone: 'Mars/Olympus' }, 400, /unknown time zone/],
      [{ time_zone: 'EST' }, 400, /unknown time zone/],
      [{ duration_minutes: 10 }, 400, /between 30 and 1440/],
      [{ listing_id: randomUUID() }, 404, /not found/],
    ];
    for (const [args, status, message] of cases) {
      const result = await call(args);
      assert.equal(result.status, status, JSON.stringify(args));
      assert.match(result.error?.message ?? '', message);
      assert.ok(result.error?.hint, 'the error says what to do');
    }
  });
});

describe(`the calendar calls (${testBackend()})`, () => {
  const windowsOf = async (p: Provider) =>
    (
      await db.query<{ w: string }>(sql`
        select day_of_week || ' ' || start_time::text || '-' || end_time::text || ' ' || time_zone as w
        from public.provider_availability where provider_id = ${p.user.id} order by day_of_week, start_time`)
    ).rows.map((r) => r.w);

  test('the calendar screen: replace the week, add and remove a day off', async () => {
    const p = await provider('America/New_York');
    const supabase = p.client;
    // --- docs/workflows.md#slots: calendar ---
    // Replace the whole weekly schedule in one call (all or nothing).
    const { data: week, error } = await supabase.rpc('set_weekly_schedule', {
      time_zone: 'America/New_York',
      windows: [
        { day_of_week: 1, start_time: '09:00', end_time: '12:00' },
        { day_of_week: 1, start_time: '13:00', end_time: '17:00' },
        { day_of_week: 5, start_time: '22:00', end_time: '24:00' },
        { day_of_week: 6, start_time: '00:00', end_time: '02:00' },
      ],
    });
    // A day off, and an extra evening window.
    const { data: dayOff } = await supabase.rpc('add_availability_override', {
      date: '2027-05-31',
      kind: 'blocked',
      reason: 'Memorial Day',
    });
    await supabase.rpc('add_availability_override', {
      date: '2027-06-02',
      kind: 'available',
      start_time: '18:00',
      end_time: '21:00',
    });
    // The calendar screen: zone, weekly windows and the overrides to come, in one call.
    const { data: calendar } = await supabase.rpc('my_schedule', { from_date: '2027-05-01' });
    // Changed your mind about the day off.
    await supabase.rpc('remove_availability_override', { override_id: dayOff.id });
    // --- end ---
    assert.equal(error, null);
    assert.equal(week.length, 4);
    assert.equal(calendar.time_zone, 'America/New_York');
    assert.deepEqual(calendar.windows.at(-1), {
      id: week[3].id,
      day_of_week: 6,
      start_time: '00:00',
      end_time: '02:00',
    });
    assert.deepEqual(
      calendar.overrides.map((o: { date: string; kind: string; start_time: string | null; reason: string | null }) => [
        o.date,
        o.kind,
        o.start_time,
        o.reason,
      ]),
      [
        ['2027-05-31', 'blocked', null, 'Memorial Day'],
        ['2027-06-02', 'available', '18:00', null],
      ],
    );
    const { data: left } = await supabase.rpc('my_schedule', { from_date: '2027-05-01' });
    assert.deepEqual(
      left.overrides.map((o: { date: string }) => o.date),
      ['2027-06-02'],
    );
    assert.deepEqual(await windowsOf(p), [
      '1 09:00:00-12:00:00 America/New_York',
      '1 13:00:00-17:00:00 America/New_York',
      '5 22:00:00-24:00:00 America/New_York',
      '6 00:00:00-02:00:00 America/New_York',
    ]);
  });

  test('the snippets in docs/workflows.md#slots are the ones this file runs', async () => {
    const docs = await readFile(join(ROOT, 'docs/workflows.md'), 'utf8');
    const self = await readFile(join(ROOT, 'test/workflows/slots.test.ts'), 'utf8');
    const dedent = (text: string) =>
      text
        .split('\n')
        .map((line) => line.replace(/^ {4}/, ''))
        .join('\n')
        .trim();
    const shown = (text: string) =>
      text
        .split('\n')
        .filter((line) => !line.startsWith('// ['))
        .join('\n')
        .trim();
    for (const name of ['listing page', 'calendar']) {
      const block = new RegExp(`<!-- slots ${name} -->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(docs)?.[1];
      assert.ok(block, `docs/workflows.md has the ${name} snippet`);
      const marker = `// --- docs/workflows.md#slots: ${name} ---`;
      const body = self.split(`${marker}\n`)[1]?.split('    // --- end ---')[0] ?? '';
      assert.ok(body.length > 0, `this file runs the ${name} snippet`);
      assert.equal(shown(block), dedent(body), `the ${name} snippet matches the test`);
    }
  });

  test('bad schedules are refused with 400 and leave the old one in place', async () => {
    const p = await provider('UTC');
    await schedule(p, 'UTC', [{ day_of_week: 1, start_time: '09:00', end_time: '17:00' }]);
    const kept = await windowsOf(p);
    const cases: [string, unknown, RegExp][] = [
      [
        'UTC',
        [
          { day_of_week: 2, start_time: '09:00', end_time: '12:00' },
          { day_of_week: 2, start_time: '11:00', end_time: '13:00' },
        ],
        /windows 1 and 2 overlap/,
      ],
      [
        'UTC',
        [{ day_of_week: 2, start_time: '17:00', end_time: '09:00' }],
        /window 1: end_time 09:00 is not after start_time 17:00/,
      ],
      ['UTC', [{ day_of_week: 2, start_time: '09:00', end_time: '09:00' }], /not after/],
      ['Mars/Olympus', [], /unknown time zone/],
      ['UTC', [{ day_of_week: 8, start_time: '09:00', end_time: '10:00' }], /day_of_week must be 1/],
      ['UTC', [{ day_of_week: 1, start_time: '9am', end_time: '10:00' }], /start_time must be a time/],
      ['UTC', [{ day_of_week: 1, start_time: '09:00', end_time: '25:00' }], /end_time must be a time/],
      ['UTC', [{ day_of_week: 1, start_time: '09:00' }], /end_time must be a time/],
      ['UTC', [{ day_of_week: 1, start_time: '09:00', end_time: '10:00', zone: 'UTC' }], /unknown key/],
      ['UTC', { day_of_week: 1 }, /windows must be an array/],
    ];
    for (const [timeZone, windows, message] of cases) {
      const { error, status } = await p.client.rpc('set_weekly_schedule', { time_zone: timeZone, windows });
      assert.equal(status, 400, String(message));
      assert.match(error?.message ?? '', message);
      assert.deepEqual(await windowsOf(p), kept, 'nothing written');
    }
    // Touching windows are fine.
    await schedule(p, 'UTC', [
      { day_of_week: 2, start_time: '09:00', end_time: '12:00' },
      { day_of_week: 2, start_time: '12:00', end_time: '13:00' },
    ]);
    assert.equal((await windowsOf(p)).length, 2);
    // An empty list clears the schedule.
    await schedule(p, 'UTC', []);
    assert.deepEqual(await windowsOf(p), []);
  });

  test('only a signed-in provider keeps a schedule', async () => {
    const asCustomer = server.client({ token: await server.tokenFor(customer.clerkId) });
    const windows = [{ day_of_week: 1, start_time: '09:00', end_time: '17:00' }];
    const signedOut = await anon.rpc('set_weekly_schedule', { time_zone: 'UTC', windows });
    assert.equal(signedOut.status, 401);
    const notProvider = await asCustomer.rpc('set_weekly_schedule', { time_zone: 'UTC', windows });
    assert.equal(notProvider.status, 403);
    assert.match(notProvider.error?.message ?? '', /only providers keep a schedule/);
    const override = await asCustomer.rpc('add_availability_override', { date: '2027-05-31', kind: 'blocked' });
    assert.equal(override.status, 403);
    assert.equal((await asCustomer.rpc('my_schedule')).status, 403);
    assert.equal((await anon.rpc('my_schedule')).status, 401);
    const { rows } = await db.query<{ n: number }>(sql`
      select (select count(*) from public.provider_availability where provider_id = ${customer.id})::int
           + (select count(*) from public.availability_overrides where provider_id = ${customer.id})::int as n`);
    assert.equal(rows[0]?.n, 0, 'nothing written');
  });

  test('bad overrides are refused with 400/404 and nothing is written', async () => {
    const p = await provider('UTC');
    const stranger = await provider('UTC');
    const { data: mine, error } = await p.client.rpc('add_availability_override', {
      date: '2027-06-10',
      kind: 'blocked',
      start_time: '09:00',
      end_time: '12:00',
    });
    assert.equal(error, null);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ date: '2020-01-01', kind: 'blocked' }, /in the past/],
      [{ date: '2027-06-10', kind: 'blocked', start_time: '11:00', end_time: '13:00' }, /overlaps another override/],
      [{ date: '2027-06-10', kind: 'blocked' }, /overlaps another override/],
      [{ date: '2027-06-11', kind: 'available' }, /needs start_time and end_time/],
      [{ date: '2027-06-11', kind: 'blocked', start_time: '10:00' }, /both start_time and end_time/],
      [{ date: '2027-06-11', kind: 'available', start_time: '10:00', end_time: '09:00' }, /not after/],
      [{ date: '2027-06-11', kind: 'blocked', reason: 'x'.repeat(501) }, /at most 500/],
    ];
    for (const [args, message] of cases) {
      const result = await p.client.rpc('add_availability_override', args);
      assert.equal(result.status, 400, String(message));
      assert.match(result.error?.message ?? '', message);
    }
    const invalidKind = await p.client.rpc('add_availability_override', { date: '2027-06-11', kind: 'holiday' });
    assert.equal(invalidKind.status, 400);
    const { rows } = await db.query<{ n: number }>(
      sql`select count(*)::int as n from public.availability_overrides where provider_id = ${p.user.id}`,
    );
    assert.equal(rows[0]?.n, 1, 'only the first override was written');

    const theirs = await stranger.client.rpc('remove_availability_override', { override_id: mine.id });
    assert.equal(theirs.status, 404);
    const after = await db.query<{ n: number }>(
      sql`select count(*)::int as n from public.availability_overrides where id = ${mine.id}`,
    );
    assert.equal(after.rows[0]?.n, 1, 'still there');
  });
});
