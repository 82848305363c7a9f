import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Queryable } from '../../../src/db/database.js';
import { type Query, sql } from '../../../src/db/sql.js';
import {
  createBooking,
  createListing,
  createTenant,
  createUser,
  defaultTenantId,
  grantPermission,
  type ListingFixture,
  type UserFixture,
} from '../../helpers/fixtures.js';
import { asRole, asUser, getTestDatabase, type TestDatabase, testBackend } from '../../helpers/index.js';

/*
 * 0006 scheduling: provider_availability, availability_overrides, bookings, booking_status_history,
 * create_booking / transition_booking / provider_is_available, and the booking notifications of
 * 0010 (app.bookings_notify). Acts as anon, an unrelated user, the parties and admins.
 */

let db: TestDatabase;
let tenantId: string;
let otherTenantId: string;
let admin: UserFixture; // role admin: bookings.manage and payments.refund in the default tenant
let foreignAdmin: UserFixture; // role admin of another tenant
let stranger: UserFixture; // signed in, party to nothing
let customer: UserFixture; // books in the default tenant

before(async () => {
  db = await getTestDatabase();
  tenantId = await defaultTenantId(db);
  otherTenantId = await createTenant(db);
  admin = await createUser(db, { role: 'admin' });
  foreignAdmin = await createUser(db, { role: 'admin', tenantId: otherTenantId });
  stranger = await createUser(db);
  customer = await createUser(db, { timeZone: 'Europe/Berlin' });
});
after(() => db?.dispose());

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

async function rows<T = Record<string, unknown>>(tx: Queryable, query: Query): Promise<T[]> {
  return (await tx.query<T>(query)).rows;
}

async function one<T = Record<string, unknown>>(tx: Queryable, query: Query): Promise<T> {
  const found = await rows<T>(tx, query);
  assert.equal(found.length, 1, `expected one row, got ${found.length}`);
  return found[0] as T;
}

async function count(tx: Queryable, query: Query): Promise<number> {
  return (await rows(tx, query)).length;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The first date (UTC calendar) on ISO weekday `isoDow` at least `minDays` days from now: YYYY-MM-DD. */
function upcoming(isoDow: number, minDays = 2): string {
  for (let t = Date.now() + minDays * DAY; ; t += DAY) {
    const d = new Date(t);
    if ((d.getUTCDay() || 7) === isoDow) return d.toISOString().slice(0, 10);
  }
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY).toISOString().slice(0, 10);
}

/** An instant given in UTC: date + HH:MM. */
const utc = (date: string, time: string) => `${date}T${time}:00.000Z`;

/** New York's UTC offset in hours at an instant (-4 EDT, -5 EST), from ICU rather than PostgreSQL. */
function newYorkOffset(instant: string): number {
  const name = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', timeZoneName: 'shortOffset' })
    .formatToParts(new Date(instant))
    .find((part) => part.type === 'timeZoneName')?.value;
  assert.match(name ?? '', /^GMT-[45]$/);
  return Number((name as string).slice(3));
}

/** The UTC instant of a New York wall-clock time on a date (no DST change happens at that hour). */
function newYork(date: string, time: string): string {
  const offset = newYorkOffset(utc(date, '12:00'));
  return new Date(Date.parse(utc(date, time)) - offset * HOUR).toISOString();
}

const pad = (n: number) => String(n).padStart(2, '0');
/** `hours` from now, rounded up to a half hour: listing_slots() starts slots on a 30-minute grid. */
const inHours = (hours: number) =>
  new Date(Math.ceil((Date.now() + hours * HOUR) / (30 * 60_000)) * 30 * 60_000).toISOString();
/**
 * `hours` after 07:00 New York time tomorrow: far enough ahead, and never a slot that runs over
 * local midnight (which no schedule allows), whatever the hour the suite runs at.
 */
const tomorrowMorning = Date.parse(newYork(new Date(Date.now() + 24 * HOUR).toISOString().slice(0, 10), '07:00'));
const later = (hours: number) => new Date(tomorrowMorning + hours * HOUR).toISOString();

/**
 * A provider (New York unless told) with an active hourly listing that needs no notice, open
 * around the clock every day (create_booking takes only the slots listing_slots() offers, and a
 * provider without a schedule has none) unless `open` is false.
 */
async function newProvider(
  options: { tenantId?: string; timeZone?: string; open?: boolean } = {},
): Promise<{ provider: UserFixture; listing: ListingFixture }> {
  const provider = await createUser(db, {
    role: 'provider',
    tenantId: options.tenantId,
    timeZone: options.timeZone ?? 'America/New_York',
  });
  if (options.open ?? true) {
    await db.query(sql`insert into public.provider_availability (provider_id, day_of_week, start_time, end_time)
                       select ${provider.id}, d, '00:00', '24:00' from generate_series(1, 7) d`);
  }
  return { provider, listing: await createListing(db, provider) };
}

async function addWindow(provider: UserFixture, day: number, from: string, to: string): Promise<string> {
  return (
    await one<{ id: string }>(
      db,
      sql`insert into public.provider_availability (provider_id, day_of_week, start_time, end_time)
          values (${provider.id}, ${day}, ${from}::time, ${to}::time) returning id`,
    )
  ).id;
}

async function addOverride(
  provider: UserFixture,
  date: string,
  kind: 'blocked' | 'available',
  from: string | null = null,
  to: string | null = null,
): Promise<string> {
  return (
    await one<{ id: string }>(
      db,
      sql`insert into public.availability_overrides (provider_id, date, kind, start_time, end_time)
          values (${provider.id}, ${date}::date, ${kind}::public.availability_override_kind, ${from}::time, ${to}::time)
          returning id`,
    )
  ).id;
}

interface Booked {
  id: string;
  status: string;
  listing_id: string;
  provider_id: string;
  customer_id: string;
  tenant_id: string;
  time_zone: string;
  local_start: string;
  local_end: string;
  minutes: number;
  currency: string;
  base: number;
  fee: number;
  tax: number;
  discount: number;
  total: number;
  platform_fee: number;
  service_title: string;
  confirmation_code: string;
}

/** create_booking as whoever tx acts for, with the result's local times and money as numbers. */
function book(tx: Queryable, listingId: string, startsAt: string, minutes: number | null = null): Promise<Booked> {
  return one<Booked>(
    tx,
    sql`select b.id, b.status::text as status, b.listing_id, b.provider_id, b.customer_id, b.tenant_id, b.time_zone,
               to_char(b.starts_at at time zone b.time_zone, 'YYYY-MM-DD HH24:MI') as local_start,
               to_char(b.ends_at at time zone b.time_zone, 'YYYY-MM-DD HH24:MI') as local_end,
               (extract(epoch from b.ends_at - b.starts_at) / 60)::int as minutes, b.currency,
               b.base_price_cents::int as base, b.service_fee_cents::int as fee, b.tax_cents::int as tax,
               b.discount_cents::int as discount, b.total_cents::int as total,
               b.platform_fee_cents::int as platform_fee, b.service_title, b.confirmation_code
        from public.create_booking(${listingId}::uuid, ${startsAt}::timestamptz, ${minutes}::integer) b`,
  );
}

const notAvailable = { code: '23514', message: 'the provider is not available at that time' };

async function status(bookingId: string): Promise<string> {
  return (await one<{ status: string }>(db, sql`select status::text from public.bookings where id = ${bookingId}`))
    .status;
}

// ---------------------------------------------------------------------------
// provider_availability
// ---------------------------------------------------------------------------

describe(`provider_availability (${testBackend()})`, () => {
  test('a provider adds a weekly window; tenant and time zone come from their account', async () => {
    const { provider } = await newProvider({ open: false });
    const row = await asUser(db, provider.clerkId, (tx) =>
      one(
        tx,
        sql`insert into public.provider_availability (provider_id, day_of_week, start_time, end_time)
            values (${provider.id}, 1, '09:00', '17:00')
            returning provider_id, tenant_id, time_zone, day_of_week, start_time::text, end_time::text`,
      ),
    );
    assert.deepEqual(row, {
      provider_id: provider.id,
      tenant_id: tenantId,
      time_zone: 'America/New_York',
      day_of_week: 1,
      start_time: '09:00:00',
      end_time: '17:00:00',
    });
  });

  test('overlapping windows of one provider on one weekday are rejected by the exclusion constraint', async () => {
    const { provider } = await newProvider({ open: false });
    await addWindow(provider, 1, '09:00', '12:00');
    for (const [from, to] of [
      ['11:00', '14:00'],
      ['08:00', '09:30'],
      ['10:00', '11:00'],
      ['09:00', '12:00'],
    ]) {
      await assert.rejects(
        asUser(db, provider.clerkId, (tx) =>
          tx.query(sql`insert into public.provider_availability (provider_id, day_of_week, start_time, end_time)
                       values (${provider.id}, 1, ${from}::time, ${to}::time)`),
        ),
        { code: '23P01', message: /provider_availability_no_overlap/ },
        `${from}–${to}`,
      );
    }
  });

  test('adjacent windows, other weekdays and other providers do not conflict', async () => {
    const { provider } = await newProvider({ open: false });
    const { provider: other } = await newProvider({ open: false });
    await addWindow(provider, 1, '09:00', '12:00');
    await addWindow(provider, 1, '12:00', '15:00');
    await addWindow(provider, 2, '09:00', '12:00');
    await addWindow(other, 1, '09:00', '12:00');
    const { rows: windows } = await db.query(
      sql`select day_of_week, start_time::text from public.provider_availability where provider_id = ${provider.id}
          order by day_of_week, start_time`,
    );
    assert.deepEqual(windows, [
      { day_of_week: 1, start_time: '09:00:00' },
      { day_of_week: 1, start_time: '12:00:00' },
      { day_of_week: 2, start_time: '09:00:00' },
    ]);
  });

  test('a window may end at midnight (24:00)', async () => {
    const { provider } = await newProvider({ open: false });
    const row = await asUser(db, provider.clerkId, (tx) =>
      one(
        tx,
        sql`insert into public.provider_availability (provider_id, day_of_week, start_time, end_time)
            values (${provider.id}, 5, '18:00', '24:00') returning end_time::text`,
      ),
    );
    assert.deepEqual(row, { end_time: '24:00:00' });
  });

  test('a window must end after it starts, on weekday 1–7, in an IANA zone, with a valid date range', async () => {
    const { provider } = await newProvider({ open: false });
    for (const [day, from, to, zone, validFrom, validUntil] of [
      [1, '10:00', '10:00', null, null, null],
      [1, '17:00', '09:00', null, null, null],
      [0, '09:00', '17:00', null, null, null],
      [8, '09:00', '17:00', null, null, null],
      [1, '09:00', '17:00', 'EST', null, null],
      [1, '09:00', '17:00', 'Mars/Olympus_Mons', null, null],
      [1, '09:00', '17:00', null, '2030-02-01', '2030-01-31'],
    ] as const) {
      await assert.rejects(
        asUser(db, provider.clerkId, (tx) =>
          tx.query(sql`insert into public.provider_availability
                         (provider_id, day_of_week, start_time, end_time, time_zone, valid_from, valid_until)
                       values (${provider.id}, ${day}, ${from}::time, ${to}::time, coalesce(${zone}, 'UTC'),
                               ${validFrom}::date, ${validUntil}::date)`),
        ),
        { code: '23514' },
        `${day} ${from}–${to} ${zone} ${validFrom}..${validUntil}`,
      );
    }
  });

  test('nobody but the provider adds, changes or removes their windows', async () => {
    const { provider } = await newProvider({ open: false });
    const id = await addWindow(provider, 1, '09:00', '17:00');
    for (const someone of [stranger, admin]) {
      await assert.rejects(
        asUser(db, someone.clerkId, (tx) =>
          tx.query(sql`insert into public.provider_availability (provider_id, day_of_week, start_time, end_time)
                       values (${provider.id}, 2, '09:00', '17:00')`),
        ),
        { code: '42501' },
      );
      const changed = await asUser(db, someone.clerkId, async (tx) => [
        (await tx.query(sql`update public.provider_availability set end_time = '18:00' where id = ${id}`)).rowCount,
        (await tx.query(sql`delete from public.provider_availability where id = ${id}`)).rowCount,
      ]);
      assert.deepEqual(changed, [0, 0], someone.role);
    }
    const own = await asUser(db, provider.clerkId, async (tx) => [
      (await tx.query(sql`update public.provider_availability set end_time = '18:00' where id = ${id}`)).rowCount,
      (await tx.query(sql`delete from public.provider_availability where id = ${id}`)).rowCount,
    ]);
    assert.deepEqual(own, [1, 1]);
  });

  test('a provider can neither move a window to another provider nor choose its tenant', async () => {
    const { provider } = await newProvider({ open: false });
    const id = await addWindow(provider, 1, '09:00', '17:00');
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) =>
        tx.query(sql`update public.provider_availability set provider_id = ${stranger.id} where id = ${id}`),
      ),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) =>
        tx.query(sql`update public.provider_availability set tenant_id = ${otherTenantId} where id = ${id}`),
      ),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) =>
        tx.query(sql`insert into public.provider_availability (provider_id, tenant_id, day_of_week, start_time, end_time)
                     values (${provider.id}, ${otherTenantId}, 2, '09:00', '17:00')`),
      ),
      { code: '42501' },
    );
  });

  test('anyone reads the schedules of their own tenant and none of another tenant', async () => {
    const { provider: here } = await newProvider({ open: false });
    const { provider: there } = await newProvider({ tenantId: otherTenantId, open: false });
    const hereId = await addWindow(here, 1, '09:00', '17:00');
    const thereId = await addWindow(there, 1, '09:00', '17:00');
    const visible = (tx: Queryable) =>
      rows<{ id: string }>(
        tx,
        sql`select id from public.provider_availability where id in (${hereId}, ${thereId}) order by id = ${hereId} desc`,
      ).then((found) => found.map((row) => row.id));
    assert.deepEqual(await asUser(db, null, visible), [hereId]);
    assert.deepEqual(await asUser(db, stranger.clerkId, visible), [hereId]);
    assert.deepEqual(await asUser(db, foreignAdmin.clerkId, visible), [thereId]);
    assert.deepEqual(await asRole(db, 'anon', { role: 'anon', tenant_id: otherTenantId }, visible), [thereId]);
  });

  test('anonymous callers cannot write schedules', async () => {
    const { provider } = await newProvider({ open: false });
    await assert.rejects(
      asUser(db, null, (tx) =>
        tx.query(sql`insert into public.provider_availability (provider_id, day_of_week, start_time, end_time)
                     values (${provider.id}, 1, '09:00', '17:00')`),
      ),
      { code: '42501' },
    );
  });
});

// ---------------------------------------------------------------------------
// availability_overrides
// ---------------------------------------------------------------------------

describe(`availability_overrides (${testBackend()})`, () => {
  test('a provider blocks a date; only they can read the override', async () => {
    const { provider } = await newProvider();
    const row = await asUser(
      db,
      provider.clerkId,
      (tx) =>
        one<{ id: string; tenant_id: string }>(
          tx,
          sql`insert into public.availability_overrides (provider_id, date, kind, reason)
              values (${provider.id}, '2030-07-04', 'blocked', 'Holiday') returning id, tenant_id`,
        ),
      { commit: true },
    );
    assert.equal(row.tenant_id, tenantId);
    const seen = (tx: Queryable) => count(tx, sql`select 1 from public.availability_overrides where id = ${row.id}`);
    assert.equal(await asUser(db, provider.clerkId, seen), 1);
    assert.equal(await asUser(db, stranger.clerkId, seen), 0);
    assert.equal(await asUser(db, admin.clerkId, seen), 0);
    await assert.rejects(asUser(db, null, seen), { code: '42501' });
  });

  test('nobody but the provider adds, changes or removes their overrides', async () => {
    const { provider } = await newProvider();
    const id = await addOverride(provider, '2030-07-04', 'blocked');
    for (const someone of [stranger, admin]) {
      await assert.rejects(
        asUser(db, someone.clerkId, (tx) =>
          tx.query(sql`insert into public.availability_overrides (provider_id, date, kind)
                       values (${provider.id}, '2030-07-05', 'blocked')`),
        ),
        { code: '42501' },
      );
      const changed = await asUser(db, someone.clerkId, async (tx) => [
        (await tx.query(sql`update public.availability_overrides set reason = 'mine now' where id = ${id}`)).rowCount,
        (await tx.query(sql`delete from public.availability_overrides where id = ${id}`)).rowCount,
      ]);
      assert.deepEqual(changed, [0, 0], someone.role);
    }
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`delete from public.availability_overrides where id = ${id}`)),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) =>
        tx.query(sql`update public.availability_overrides set provider_id = ${stranger.id} where id = ${id}`),
      ),
      { code: '42501' },
    );
    const own = await asUser(db, provider.clerkId, async (tx) => [
      (await tx.query(sql`update public.availability_overrides set reason = 'Fourth of July' where id = ${id}`))
        .rowCount,
      (await tx.query(sql`delete from public.availability_overrides where id = ${id}`)).rowCount,
    ]);
    assert.deepEqual(own, [1, 1]);
  });

  test('a whole-day block is the only override of its date', async () => {
    const { provider } = await newProvider();
    await addOverride(provider, '2030-07-04', 'blocked');
    for (const [kind, from, to] of [
      ['blocked', null, null],
      ['blocked', '10:00', '11:00'],
      ['available', '20:00', '22:00'],
    ] as const) {
      await assert.rejects(
        asUser(db, provider.clerkId, (tx) =>
          tx.query(sql`insert into public.availability_overrides (provider_id, date, kind, start_time, end_time)
                       values (${provider.id}, '2030-07-04', ${kind}, ${from}::time, ${to}::time)`),
        ),
        { code: '23P01', message: /availability_overrides_no_overlap/ },
        `${kind} ${from}–${to}`,
      );
    }
    // The next day is free, and partial overrides of one date may sit side by side.
    await addOverride(provider, '2030-07-05', 'blocked', '09:00', '12:00');
    await addOverride(provider, '2030-07-05', 'available', '12:00', '14:00');
    await assert.rejects(addOverride(provider, '2030-07-05', 'blocked', '13:00', '15:00'), { code: '23P01' });
    await assert.rejects(addOverride(provider, '2030-07-05', 'blocked'), { code: '23P01' });
  });

  test('an override has both times or neither, ends after it starts, and open hours have times', async () => {
    const { provider } = await newProvider();
    for (const [kind, from, to] of [
      ['blocked', '10:00', null],
      ['blocked', null, '10:00'],
      ['blocked', '11:00', '10:00'],
      ['available', '10:00', '10:00'],
      ['available', null, null],
    ] as const) {
      await assert.rejects(addOverride(provider, '2030-07-04', kind, from, to), { code: '23514' }, `${kind} ${from}`);
    }
  });
});

// ---------------------------------------------------------------------------
// create_booking: schedule and time zones
// ---------------------------------------------------------------------------

describe(`create_booking in the provider's time zone (${testBackend()})`, () => {
  test("Monday 14:00 UTC falls inside a New York provider's Monday 09:00–17:00", async () => {
    const { provider, listing } = await newProvider({ open: false });
    await addWindow(provider, 1, '09:00', '17:00');
    const monday = upcoming(1);
    const local = 14 + newYorkOffset(utc(monday, '14:00')); // 10:00 EDT or 09:00 EST
    const booked = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, utc(monday, '14:00')));
    assert.equal(booked.status, 'pending');
    assert.equal(booked.time_zone, 'America/New_York');
    assert.equal(booked.local_start, `${monday} ${pad(local)}:00`);
    assert.equal(booked.local_end, `${monday} ${pad(local + 1)}:00`);
  });

  test('Monday 22:00 UTC (17:00 or 18:00 in New York) is refused', async () => {
    const { provider, listing } = await newProvider({ open: false });
    await addWindow(provider, 1, '09:00', '17:00');
    const monday = upcoming(1);
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, utc(monday, '22:00'))),
      notAvailable,
    );
    // So is a slot that starts inside the window and ends after it, and one before it opens.
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '16:30'))),
      notAvailable,
    );
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '08:30'))),
      notAvailable,
    );
    // The last full hour fits exactly.
    const last = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '16:00')));
    assert.equal(last.local_end, `${monday} 17:00`);
  });

  test('another weekday without a window is refused', async () => {
    const { provider, listing } = await newProvider({ open: false });
    await addWindow(provider, 1, '09:00', '17:00');
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(upcoming(2), '10:00'))),
      notAvailable,
    );
  });

  test('a blocked override on the local date refuses the slot; a partial block only its hours', async () => {
    const { provider, listing } = await newProvider({ open: false });
    await addWindow(provider, 1, '09:00', '17:00');
    const monday = upcoming(1);
    const blockId = await addOverride(provider, monday, 'blocked');
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, utc(monday, '14:00'))),
      notAvailable,
    );
    await db.query(sql`delete from public.availability_overrides where id = ${blockId}`);
    await addOverride(provider, monday, 'blocked', '12:00', '13:00');
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '11:30'))),
      notAvailable,
    );
    const morning = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '11:00')));
    assert.equal(morning.local_start, `${monday} 11:00`);
    const afternoon = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '13:00')));
    assert.equal(afternoon.local_start, `${monday} 13:00`);
  });

  test("a Tuesday-in-UTC slot on Monday evening in New York follows Monday's schedule and overrides", async () => {
    const { provider, listing } = await newProvider({ open: false });
    await addWindow(provider, 1, '17:00', '23:00');
    const monday = upcoming(1);
    const tuesday = addDays(monday, 1);
    const at = utc(tuesday, '01:00'); // 20:00 or 21:00 on Monday in New York
    const local = 24 + 1 + newYorkOffset(at);
    await addOverride(provider, tuesday, 'blocked'); // Tuesday's block does not touch Monday evening
    const booked = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, at));
    assert.equal(booked.local_start, `${monday} ${pad(local)}:00`);
    await addOverride(provider, monday, 'blocked');
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, at)),
      notAvailable,
    );
  });

  test("an 'available' override opens a Sunday slot outside the weekly schedule", async () => {
    const { provider, listing } = await newProvider({ open: false });
    await addWindow(provider, 1, '09:00', '17:00');
    const sunday = upcoming(7);
    const at = newYork(sunday, '10:00');
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, at)),
      notAvailable,
    );
    await addOverride(provider, sunday, 'available', '09:00', '13:00');
    const booked = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, at));
    assert.equal(booked.local_start, `${sunday} 10:00`);
    // Only the opened hours: 12:30–13:30 runs past them.
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(sunday, '12:30'))),
      notAvailable,
    );
  });

  test('a slot may end at local midnight but not run into the next day', async () => {
    const { provider, listing } = await newProvider({ open: false });
    await addWindow(provider, 1, '20:00', '24:00');
    const monday = upcoming(1);
    const booked = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '23:00')));
    assert.equal(booked.local_end, `${addDays(monday, 1)} 00:00`);
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '23:30'))),
      notAvailable,
    );
  });

  test('a window outside its valid_from … valid_until dates does not count', async () => {
    const { provider, listing } = await newProvider({ open: false });
    const monday = upcoming(1);
    await db.query(sql`
      insert into public.provider_availability (provider_id, day_of_week, start_time, end_time, valid_until)
      values (${provider.id}, 1, '09:00', '17:00', ${addDays(monday, -1)}::date),
             (${provider.id}, 2, '09:00', '17:00', null)`);
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '10:00'))),
      notAvailable,
    );
    await db.query(sql`update public.provider_availability set valid_from = ${monday}::date, valid_until = null
                       where provider_id = ${provider.id} and day_of_week = 1`);
    const booked = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '10:00')));
    assert.equal(booked.local_start, `${monday} 10:00`);
  });

  test('a provider without a weekly schedule has no slots, so nothing can be booked', async () => {
    const { listing } = await newProvider({ open: false });
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(upcoming(7), '10:00'))),
      notAvailable,
    );
  });

  test("a start off the listing's slot grid is refused; the grid starts where the window opens", async () => {
    const { provider, listing } = await newProvider({ open: false });
    await addWindow(provider, 1, '09:15', '17:00');
    const monday = upcoming(1);
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '10:00'))),
      notAvailable,
    );
    const booked = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '10:15')));
    assert.equal(booked.local_start, `${monday} 10:15`);
  });

  test('New York wall-clock hours hold on both sides of a daylight-saving change', async () => {
    const { provider, listing } = await newProvider({ open: false });
    await addWindow(provider, 1, '09:00', '17:00');
    await db.query(sql`update public.listings set advance_booking_days = 730 where id = ${listing.id}`);
    // The last Monday before New York's next clock change, and the Monday after it.
    let before = upcoming(1);
    for (let i = 0; newYorkOffset(utc(before, '12:00')) === newYorkOffset(utc(addDays(before, 7), '12:00')); i++) {
      assert.ok(i < 60, 'no daylight-saving change within 60 weeks');
      before = addDays(before, 7);
    }
    const afterChange = addDays(before, 7);
    const offsets = [before, afterChange].map((monday) => newYorkOffset(utc(monday, '12:00')));
    assert.deepEqual([...offsets].sort(), [-4, -5]);

    for (const monday of [before, afterChange]) {
      const daylight = newYorkOffset(utc(monday, '12:00')) === -4;
      const at = (time: string) => (tx: Queryable) => book(tx, listing.id, utc(monday, time));
      // 14:00 UTC is 10:00 EDT or 09:00 EST: inside the window either way.
      const two = await asUser(db, customer.clerkId, at('14:00'));
      assert.equal(two.local_start, `${monday} ${daylight ? '10:00' : '09:00'}`);
      // 13:00 UTC is 09:00 EDT (open) but 08:00 EST (closed).
      if (daylight) {
        assert.equal((await asUser(db, customer.clerkId, at('13:00'))).local_start, `${monday} 09:00`);
      } else {
        await assert.rejects(asUser(db, customer.clerkId, at('13:00')), notAvailable, `${monday} 13:00Z`);
      }
      // 21:00 UTC is 17:00 EDT (closed) but 16:00 EST (the last hour).
      if (daylight) {
        await assert.rejects(asUser(db, customer.clerkId, at('21:00')), notAvailable, `${monday} 21:00Z`);
      } else {
        assert.equal((await asUser(db, customer.clerkId, at('21:00'))).local_end, `${monday} 17:00`);
      }
    }
  });

  test("the booking keeps the provider's zone even when the customer lives elsewhere", async () => {
    const { provider, listing } = await newProvider({ timeZone: 'Asia/Kolkata', open: false });
    await addWindow(provider, 3, '09:00', '17:00');
    const booked = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, utc(upcoming(3), '04:30')));
    assert.equal(booked.time_zone, 'Asia/Kolkata');
    assert.match(booked.local_start, / 10:00$/); // UTC+05:30, no daylight saving
  });
});

// ---------------------------------------------------------------------------
// create_booking: prices and rules
// ---------------------------------------------------------------------------

describe(`create_booking prices and rules (${testBackend()})`, () => {
  test("the price is rate × minutes / 60 plus the tenant's fee and the region's tax, and it adds up", async () => {
    const tenant = await createTenant(db);
    await db.query(sql`
      update public.tenants set region_id = (select id from public.regions where code = 'UK'),
                                service_fee_bps = 750, platform_fee_bps = 1200
      where id = ${tenant}`);
    const provider = await createUser(db, { role: 'provider', tenantId: tenant, timeZone: 'Europe/London' });
    await db.query(sql`insert into public.provider_availability (provider_id, day_of_week, start_time, end_time)
                       select ${provider.id}, d, '00:00', '24:00' from generate_series(1, 7) d`);
    const listing = await createListing(db, provider, { hourlyRateCents: 7999 });
    const buyer = await createUser(db, { tenantId: tenant });
    const booked = await asUser(db, buyer.clerkId, (tx) => book(tx, listing.id, later(72), 90));
    // base round(7999 × 90 / 60 = 11998.5) = 11999; fee round(11999 × 7.5%) = 900;
    // UK tax round((11999 + 900) × 20%) = 2580; commission round(11999 × 12%) = 1440.
    assert.deepEqual(
      {
        minutes: booked.minutes,
        base: booked.base,
        fee: booked.fee,
        tax: booked.tax,
        discount: booked.discount,
        total: booked.total,
        platform_fee: booked.platform_fee,
      },
      { minutes: 90, base: 11999, fee: 900, tax: 2580, discount: 0, total: 15479, platform_fee: 1440 },
    );
    assert.equal(booked.total, booked.base + booked.fee + booked.tax - booked.discount);
    assert.deepEqual(
      [booked.provider_id, booked.tenant_id, booked.customer_id, booked.listing_id, booked.currency],
      [provider.id, tenant, buyer.id, listing.id, 'USD'],
    );
    assert.equal(booked.service_title, 'Leak repair and pipe fitting');
  });

  test("the default tenant adds its 5% fee and no US tax; the duration defaults to the listing's minimum", async () => {
    const { listing } = await newProvider();
    const booked = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, later(72)));
    assert.deepEqual(
      [booked.minutes, booked.base, booked.fee, booked.tax, booked.total, booked.platform_fee],
      [60, 8000, 400, 0, 8400, 800],
    );
  });

  test('a fixed-price listing costs its base price whatever the duration', async () => {
    const { listing } = await newProvider();
    await db.query(sql`update public.listings set pricing_type = 'fixed', base_price_cents = 12345, duration_minutes = 120
                       where id = ${listing.id}`);
    const booked = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, later(72)));
    assert.deepEqual([booked.minutes, booked.base, booked.fee, booked.total], [120, 12345, 617, 12962]);
  });

  test('a duration below the listing minimum or above a day is refused', async () => {
    const { listing } = await newProvider();
    for (const minutes of [30, 1441]) {
      await assert.rejects(
        asUser(db, customer.clerkId, (tx) => book(tx, listing.id, later(72), minutes)),
        { code: '23514', message: 'duration must be between 60 and 1440 minutes' },
      );
    }
  });

  test('a customer cannot book their own listing', async () => {
    const { provider, listing } = await newProvider();
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) => book(tx, listing.id, later(72))),
      { code: '23514', message: 'you cannot book your own listing' },
    );
  });

  test("the listing's notice and booking horizon are enforced", async () => {
    const { listing } = await newProvider();
    await db.query(sql`update public.listings set min_notice_minutes = 120, advance_booking_days = 60
                       where id = ${listing.id}`);
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, inHours(1))),
      { code: '23514', message: "bookings need at least 120 minutes' notice" },
    );
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, inHours(61 * 24))),
      { code: '23514', message: 'bookings open at most 60 days ahead' },
    );
    for (const hours of [3, 59 * 24]) {
      assert.equal(
        (await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, inHours(hours)))).status,
        'pending',
      );
    }
  });

  test('an overlapping booking of the same provider is refused as a taken slot (PT409); cancelling frees the slot', async () => {
    const { provider, listing } = await newProvider();
    const other = await newProvider();
    const second = await createUser(db);
    const start = Date.parse(later(100));
    const at = (minutes: number) => new Date(start + minutes * 60_000).toISOString();
    const first = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, at(0)), { commit: true });
    for (const minutes of [0, 30, -30]) {
      await assert.rejects(
        asUser(db, second.clerkId, (tx) => book(tx, listing.id, at(minutes))),
        { code: 'PT409', message: 'slot taken: the provider is already booked at that time' },
        `${minutes} minutes later`,
      );
    }
    // Back to back is fine ([starts, ends)), and so is another provider at the same time.
    assert.equal((await asUser(db, second.clerkId, (tx) => book(tx, listing.id, at(60)))).status, 'pending');
    assert.equal((await asUser(db, second.clerkId, (tx) => book(tx, other.listing.id, at(0)))).status, 'pending');
    await asUser(
      db,
      provider.clerkId,
      (tx) => tx.query(sql`select public.transition_booking(${first.id}::uuid, 'cancelled', 'Sick')`),
      { commit: true },
    );
    assert.equal((await asUser(db, second.clerkId, (tx) => book(tx, listing.id, at(30)))).status, 'pending');
  });

  test('a listing that is fully booked that day refuses more bookings', async () => {
    const { listing } = await newProvider();
    await db.query(sql`update public.listings set max_bookings_per_day = 1 where id = ${listing.id}`);
    const monday = upcoming(1);
    await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '09:00')), { commit: true });
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(monday, '15:00'))),
      { code: '23514', message: 'this listing is fully booked that day' },
    );
    assert.equal(
      (await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, newYork(addDays(monday, 1), '09:00')))).status,
      'pending',
    );
  });

  test('a start in the past is refused even without notice', async () => {
    const { listing } = await newProvider();
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => book(tx, listing.id, inHours(-24))),
      { code: '23514', message: "bookings need at least 0 minutes' notice" },
    );
  });

  test("the customer's own address is copied onto the booking; someone else's is not found", async () => {
    const { listing } = await newProvider();
    const address = async (owner: UserFixture) =>
      (
        await one<{ id: string }>(
          db,
          sql`insert into public.user_addresses (user_id, line1, city, state_province, postal_code, country_code, location)
              values (${owner.id}, '1 Main St', 'New York', 'NY', '10001', 'US', public.geo_point(-73.98, 40.75))
              returning id`,
        )
      ).id;
    const mine = await address(customer);
    const theirs = await address(stranger);
    const bookWith = (addressId: string) => (tx: Queryable) =>
      one(
        tx,
        sql`select service_address, round(st_x(service_location::geometry)::numeric, 2)::float as lon
            from public.create_booking(${listing.id}::uuid, ${later(72)}::timestamptz, null, 'Gate code 1234',
                                       ${addressId}::uuid)`,
      );
    assert.deepEqual(await asUser(db, customer.clerkId, bookWith(mine)), {
      service_address: {
        line1: '1 Main St',
        line2: null,
        city: 'New York',
        state_province: 'NY',
        postal_code: '10001',
        country_code: 'US',
      },
      lon: -73.98,
    });
    await assert.rejects(asUser(db, customer.clerkId, bookWith(theirs)), {
      code: 'PT404',
      message: `address ${theirs} not found`,
    });
  });

  test('a draft, deleted or other-tenant listing cannot be booked', async () => {
    const { listing: draft } = await newProvider();
    await db.query(sql`update public.listings set status = 'draft' where id = ${draft.id}`);
    const { listing: deleted } = await newProvider();
    await db.query(sql`update public.listings set deleted_at = now() where id = ${deleted.id}`);
    const { listing: foreign } = await newProvider({ tenantId: otherTenantId });
    for (const listing of [draft, deleted, foreign]) {
      await assert.rejects(
        asUser(db, customer.clerkId, (tx) => book(tx, listing.id, later(72))),
        { code: 'PT404', message: `listing ${listing.id} is not available for booking` },
      );
    }
  });

  test('anonymous callers cannot book, and neither can suspended users', async () => {
    const { listing } = await newProvider();
    await assert.rejects(
      asUser(db, null, (tx) => book(tx, listing.id, later(72))),
      { code: '42501' },
    );
    const suspended = await createUser(db, { status: 'suspended' });
    await assert.rejects(
      asUser(db, suspended.clerkId, (tx) => book(tx, listing.id, later(72))),
      { code: 'PT403', message: 'this account is suspended' },
    );
  });
});

// ---------------------------------------------------------------------------
// bookings: who reads and writes what
// ---------------------------------------------------------------------------

describe(`bookings visibility and writes (${testBackend()})`, () => {
  let provider: UserFixture;
  let listing: ListingFixture;
  let manager: UserFixture; // a customer granted bookings.manage only
  let bookingId: string;

  before(async () => {
    ({ provider, listing } = await newProvider());
    manager = await createUser(db);
    await grantPermission(db, manager, 'bookings.manage');
    bookingId = (await createBooking(db, listing, customer, { startsInHours: 500 })).id;
  });

  const sees = (clerkId: string) =>
    asUser(db, clerkId, (tx) => count(tx, sql`select 1 from public.bookings where id = ${bookingId}`));

  test('the customer and the provider read their booking; an unrelated user sees nothing', async () => {
    assert.equal(await sees(customer.clerkId), 1);
    assert.equal(await sees(provider.clerkId), 1);
    assert.equal(await sees(stranger.clerkId), 0);
  });

  test('anonymous callers cannot read bookings at all', async () => {
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`select 1 from public.bookings`)),
      { code: '42501' },
    );
  });

  test('holders of bookings.manage read the bookings of their own tenant only', async () => {
    assert.equal(await sees(admin.clerkId), 1);
    assert.equal(await sees(manager.clerkId), 1);
    assert.equal(await sees(foreignAdmin.clerkId), 0);
  });

  test('an admin whose bookings.manage is revoked by an override reads nothing', async () => {
    const revoked = await createUser(db, { role: 'admin' });
    await db.query(sql`
      insert into public.user_permissions (user_id, permission_id, granted)
      select ${revoked.id}, id, false from public.permissions where name = 'bookings.manage'`);
    assert.equal(await sees(revoked.clerkId), 0);
  });

  test('clients cannot insert bookings directly, even as the customer', async () => {
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) =>
        tx.query(sql`
          insert into public.bookings (listing_id, provider_id, customer_id, tenant_id, starts_at, ends_at, time_zone,
                                       service_title, currency, base_price_cents, total_cents)
          values (${listing.id}, ${provider.id}, ${customer.id}, ${tenantId}, now() + interval '9 days',
                  now() + interval '9 days 1 hour', 'UTC', 'Free', 'USD', 0, 0)`),
      ),
      { code: '42501' },
    );
  });

  test("no party can change a booking's status, money, parties, times or code directly", async () => {
    for (const who of [customer, provider, admin]) {
      for (const change of [
        sql`status = 'confirmed'`,
        sql`status = 'cancelled'`,
        sql`total_cents = 1, base_price_cents = 1, service_fee_cents = 0`,
        sql`platform_fee_cents = 0`,
        sql`provider_id = ${stranger.id}`,
        sql`customer_id = ${stranger.id}`,
        sql`tenant_id = ${otherTenantId}`,
        sql`starts_at = starts_at + interval '1 day'`,
        sql`confirmation_code = 'LC-AAAAAAAAAA'`,
        sql`confirmed_at = now()`,
      ]) {
        await assert.rejects(
          asUser(db, who.clerkId, (tx) => tx.query(sql`update public.bookings set ${change} where id = ${bookingId}`)),
          { code: '42501' },
          `${who.role}: ${change.text}`,
        );
      }
    }
    assert.equal(await status(bookingId), 'pending');
  });

  test('each party edits only their own notes', async () => {
    const edit = (who: UserFixture, column: 'customer_notes' | 'provider_notes') =>
      asUser(db, who.clerkId, async (tx) => {
        const { rowCount } = await tx.query(
          sql`update public.bookings set ${sql.ident(column)} = 'Ring twice' where id = ${bookingId}`,
        );
        const after = await one<{ notes: string | null }>(
          tx,
          sql`select ${sql.ident(column)} as notes from public.bookings where id = ${bookingId}`,
        );
        return [rowCount, after.notes];
      });
    assert.deepEqual(await edit(customer, 'customer_notes'), [1, 'Ring twice']);
    assert.deepEqual(await edit(provider, 'provider_notes'), [1, 'Ring twice']);
    await assert.rejects(edit(customer, 'provider_notes'), {
      code: '42501',
      message: 'only the provider can edit provider_notes',
    });
    await assert.rejects(edit(provider, 'customer_notes'), {
      code: '42501',
      message: 'only the customer can edit customer_notes',
    });
    for (const outsider of [stranger, admin]) {
      const changed = await asUser(db, outsider.clerkId, (tx) =>
        tx.query(sql`update public.bookings set customer_notes = 'x', provider_notes = 'x' where id = ${bookingId}`),
      );
      assert.equal(changed.rowCount, 0, outsider.role);
    }
  });

  test('nobody deletes bookings through the API', async () => {
    for (const who of [customer, provider, admin]) {
      await assert.rejects(
        asUser(db, who.clerkId, (tx) => tx.query(sql`delete from public.bookings where id = ${bookingId}`)),
        { code: '42501' },
        who.role,
      );
    }
  });

  test("a booking's history is read by those who read the booking, and written by nobody", async () => {
    const history = (clerkId: string | null) =>
      asUser(db, clerkId, (tx) =>
        rows(
          tx,
          sql`select from_status, to_status::text from public.booking_status_history where booking_id = ${bookingId}`,
        ),
      );
    const entry = [{ from_status: null, to_status: 'pending' }];
    assert.deepEqual(await history(customer.clerkId), entry);
    assert.deepEqual(await history(provider.clerkId), entry);
    assert.deepEqual(await history(manager.clerkId), entry);
    assert.deepEqual(await history(stranger.clerkId), []);
    assert.deepEqual(await history(foreignAdmin.clerkId), []);
    await assert.rejects(history(null), { code: '42501' });
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) =>
        tx.query(sql`insert into public.booking_status_history (booking_id, tenant_id, to_status)
                     values (${bookingId}, ${tenantId}, 'completed')`),
      ),
      { code: '42501' },
    );
    for (const statement of [
      sql`update public.booking_status_history set to_status = 'completed' where booking_id = ${bookingId}`,
      sql`delete from public.booking_status_history where booking_id = ${bookingId}`,
    ]) {
      await assert.rejects(
        asUser(db, provider.clerkId, (tx) => tx.query(statement)),
        { code: '42501' },
      );
    }
  });
});

// ---------------------------------------------------------------------------
// bookings: the state machine
// ---------------------------------------------------------------------------

type Actor = 'provider' | 'customer' | 'admin';
const STATUSES = [
  'pending',
  'confirmed',
  'in_progress',
  'completed',
  'cancelled',
  'disputed',
  'refunded',
  'declined',
  'expired',
  'no_show',
] as const;
const LEGAL: [from: string, to: string, actor: Actor, stamp: string][] = [
  ['pending', 'confirmed', 'provider', 'confirmed_at'],
  ['pending', 'declined', 'provider', 'updated_at'],
  ['pending', 'cancelled', 'customer', 'cancelled_at'],
  ['confirmed', 'in_progress', 'provider', 'started_at'],
  ['confirmed', 'completed', 'provider', 'completed_at'],
  ['confirmed', 'cancelled', 'provider', 'cancelled_at'],
  ['confirmed', 'no_show', 'provider', 'updated_at'],
  ['in_progress', 'completed', 'provider', 'completed_at'],
  ['in_progress', 'cancelled', 'customer', 'cancelled_at'],
  ['in_progress', 'disputed', 'customer', 'disputed_at'],
  ['completed', 'disputed', 'customer', 'disputed_at'],
  ['completed', 'refunded', 'admin', 'refunded_at'],
  ['no_show', 'disputed', 'customer', 'disputed_at'],
  ['disputed', 'completed', 'admin', 'completed_at'],
  ['disputed', 'refunded', 'admin', 'refunded_at'],
  ['disputed', 'cancelled', 'admin', 'cancelled_at'],
  ['cancelled', 'refunded', 'admin', 'refunded_at'],
];

describe(`booking state machine (${testBackend()})`, () => {
  let provider: UserFixture;
  let listing: ListingFixture;
  let slot = 0;
  /** A fixture booking in a status, each in its own hour so none overlap. */
  const bookingIn = async (state: string) =>
    (await createBooking(db, listing, customer, { status: state, startsInHours: 200 + 2 * slot++ })).id;
  const transition = (clerkId: string | null, bookingId: string, to: string, reason: string | null = null) =>
    asUser(db, clerkId, (tx) =>
      tx.query(sql`select public.transition_booking(${bookingId}::uuid, ${to}::public.booking_status, ${reason})`),
    );

  before(async () => {
    ({ provider, listing } = await newProvider());
  });

  for (const [from, to, actor, stamp] of LEGAL) {
    test(`the ${actor} moves a booking from ${from} to ${to}, stamping ${stamp}`, async () => {
      // Starting, completing and no-shows wait for the start time: those bookings began an hour ago.
      const id = ['in_progress', 'completed', 'no_show'].includes(to)
        ? (await createBooking(db, listing, customer, { status: from, startsInHours: -1 - 2 * slot++ })).id
        : await bookingIn(from);
      const who = { provider, customer, admin }[actor];
      const seen = await asUser(db, who.clerkId, async (tx) => {
        const moved = await one<{ status: string }>(
          tx,
          sql`select status::text from public.transition_booking(${id}::uuid, ${to}::public.booking_status, 'why')`,
        );
        const row = await one<Record<string, unknown>>(
          tx,
          sql`select ${sql.ident(stamp)} = now() as stamped, cancelled_by, cancellation_reason
              from public.bookings where id = ${id}`,
        );
        const history = await rows(
          tx,
          sql`select from_status::text, to_status::text, changed_by, reason from public.booking_status_history
              where booking_id = ${id} and from_status is not null`,
        );
        return { status: moved.status, ...row, history };
      });
      assert.deepEqual(seen, {
        status: to,
        stamped: true,
        cancelled_by: to === 'cancelled' ? who.id : null,
        cancellation_reason: to === 'cancelled' ? 'why' : null,
        history: [{ from_status: from, to_status: to, changed_by: who.id, reason: 'why' }],
      });
    });
  }

  test('every move not in the table is rejected with a clear message, even for the database owner', async () => {
    const legal = new Set(LEGAL.map(([from, to]) => `${from}→${to}`));
    for (const from of STATUSES) {
      const id = await bookingIn(from);
      for (const to of STATUSES) {
        // pending → expired is legal, but only expire_pending_bookings() takes it (tested with it).
        if (to === from || legal.has(`${from}→${to}`) || `${from}→${to}` === 'pending→expired') continue;
        const message = `a booking cannot move from ${from} to ${to}`;
        await assert.rejects(db.query(sql`update public.bookings set status = ${to} where id = ${id}`), {
          code: '23514',
          message,
        });
        // An admin holding bookings.manage and payments.refund gets no further through the
        // functions: 409, the booking's status conflicts (expiring is the scheduler's alone).
        await assert.rejects(
          transition(admin.clerkId, id, to),
          to === 'expired'
            ? { code: '42501', message: 'you cannot mark this booking expired' }
            : { code: 'PT409', message },
        );
      }
      assert.equal(await status(id), from);
    }
  });

  test('a booking cannot "move" to the status it already has', async () => {
    for (const state of STATUSES) {
      const id = await bookingIn(state);
      await assert.rejects(
        transition(admin.clerkId, id, state),
        state === 'expired'
          ? { code: '42501', message: 'you cannot mark this booking expired' }
          : { code: 'PT409', message: `a booking cannot move from ${state} to ${state}` },
      );
    }
  });

  test('a customer cannot confirm, start or complete a booking', async () => {
    const pending = await bookingIn('pending');
    const confirmed = await bookingIn('confirmed');
    for (const [id, to] of [
      [pending, 'confirmed'],
      [confirmed, 'in_progress'],
      [confirmed, 'completed'],
    ] as const) {
      await assert.rejects(transition(customer.clerkId, id, to), {
        code: '42501',
        message: `you cannot ${{ confirmed: 'confirm', in_progress: 'start', completed: 'complete' }[to]} this booking`,
      });
    }
    assert.deepEqual([await status(pending), await status(confirmed)], ['pending', 'confirmed']);
  });

  test('refunds need payments.refund: the parties and a bookings.manage holder without it cannot refund', async () => {
    const manager = await createUser(db);
    await grantPermission(db, manager, 'bookings.manage');
    const completed = await bookingIn('completed');
    for (const who of [provider, customer, manager]) {
      await assert.rejects(transition(who.clerkId, completed, 'refunded'), {
        code: '42501',
        message: 'you cannot refund this booking',
      });
    }
    // The manager may otherwise move it (completed → disputed), as the admin may refund.
    await transition(manager.clerkId, completed, 'disputed');
    await transition(admin.clerkId, completed, 'refunded');
    assert.equal(await status(completed), 'completed');
  });

  test("unrelated users and other tenants' admins cannot find the booking; anon cannot call", async () => {
    const id = await bookingIn('pending');
    for (const who of [stranger, foreignAdmin]) {
      await assert.rejects(transition(who.clerkId, id, 'cancelled'), {
        code: 'PT404',
        message: `booking ${id} not found`,
      });
    }
    await assert.rejects(transition(null, id, 'cancelled'), { code: '42501' });
    assert.equal(await status(id), 'pending');
  });

  test('a suspended party can no longer act on their booking', async () => {
    const suspended = await createUser(db);
    const { id } = await createBooking(db, listing, suspended, { startsInHours: 200 + 2 * slot++ });
    await db.query(sql`update public.users set status = 'suspended' where id = ${suspended.id}`);
    await assert.rejects(transition(suspended.clerkId, id, 'cancelled'), {
      code: 'PT403',
      message: 'this account is suspended',
    });
    assert.equal(await status(id), 'pending');
  });

  test('the history records every status with who moved it and why', async () => {
    const { provider: p, listing: l } = await newProvider();
    const created = await asUser(db, customer.clerkId, (tx) => book(tx, l.id, later(300)), { commit: true });
    await asUser(
      db,
      p.clerkId,
      (tx) => tx.query(sql`select public.transition_booking(${created.id}::uuid, 'confirmed', 'See you then')`),
      { commit: true },
    );
    await asUser(
      db,
      customer.clerkId,
      (tx) => tx.query(sql`select public.transition_booking(${created.id}::uuid, 'cancelled', 'Plans changed')`),
      { commit: true },
    );
    const history = await rows(
      db,
      sql`select from_status::text, to_status::text, changed_by, reason, tenant_id from public.booking_status_history
          where booking_id = ${created.id} order by created_at`,
    );
    assert.deepEqual(history, [
      { from_status: null, to_status: 'pending', changed_by: customer.id, reason: null, tenant_id: tenantId },
      { from_status: 'pending', to_status: 'confirmed', changed_by: p.id, reason: 'See you then', tenant_id: tenantId },
      {
        from_status: 'confirmed',
        to_status: 'cancelled',
        changed_by: customer.id,
        reason: 'Plans changed',
        tenant_id: tenantId,
      },
    ]);
    const booking = await one(
      db,
      sql`select cancelled_by, cancellation_reason, confirmed_at is not null as confirmed, cancelled_at is not null as cancelled
          from public.bookings where id = ${created.id}`,
    );
    assert.deepEqual(booking, {
      cancelled_by: customer.id,
      cancellation_reason: 'Plans changed',
      confirmed: true,
      cancelled: true,
    });
  });
});

// ---------------------------------------------------------------------------
// bookings: integrity and counters
// ---------------------------------------------------------------------------

describe(`bookings integrity and counters (${testBackend()})`, () => {
  /** Inserts a booking as the owner with the given overrides of the fixture's values. */
  const insert = (
    listing: ListingFixture,
    values: { customer?: string; provider?: string; tenant?: string; total?: number; code?: string; hours?: number },
  ) =>
    db.query<{ id: string; provider_id: string; tenant_id: string; confirmation_code: string }>(sql`
      insert into public.bookings (listing_id, provider_id, customer_id, tenant_id, starts_at, ends_at, time_zone,
                                   service_title, currency, base_price_cents, service_fee_cents, total_cents,
                                   confirmation_code)
      values (${listing.id}, ${values.provider ?? listing.providerId}, ${values.customer ?? customer.id},
              ${values.tenant ?? listing.tenantId}, now() + make_interval(hours => ${values.hours ?? 400}),
              now() + make_interval(hours => ${values.hours ?? 400}, mins => 60), 'UTC', 'Direct', 'USD',
              8000, 400, ${values.total ?? 8400}, ${values.code ?? null})
      returning id, provider_id, tenant_id, confirmation_code`);

  test('confirmation codes look like LC-XXXXXXXXXX, are unique and never change', async () => {
    const { listing } = await newProvider();
    const codes: string[] = [];
    for (let i = 0; i < 25; i++) {
      const { id } = await createBooking(db, listing, customer, { startsInHours: 100 + 2 * i });
      codes.push(
        (await one<{ code: string }>(db, sql`select confirmation_code as code from public.bookings where id = ${id}`))
          .code,
      );
    }
    for (const code of codes) assert.match(code, /^LC-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{10}$/);
    assert.equal(new Set(codes).size, codes.length);
    await assert.rejects(insert(listing, { code: codes[0], hours: 900 }), { code: '23505' });
    await assert.rejects(
      db.query(
        sql`update public.bookings set confirmation_code = 'LC-2222222222' where confirmation_code = ${codes[1]}`,
      ),
      { code: '23514', message: "a booking's listing, parties, tenant and confirmation code cannot change" },
    );
  });

  test('the provider and tenant come from the listing, whatever the writer sends', async () => {
    const { provider, listing } = await newProvider();
    const { rows: inserted } = await insert(listing, { provider: stranger.id, tenant: otherTenantId });
    assert.deepEqual(
      inserted.map((row) => [row.provider_id, row.tenant_id]),
      [[provider.id, tenantId]],
    );
  });

  test('a customer from another marketplace cannot book a listing', async () => {
    const { listing } = await newProvider();
    const outsider = await createUser(db, { tenantId: otherTenantId });
    await assert.rejects(insert(listing, { customer: outsider.id }), {
      code: '23514',
      message: "the customer does not belong to the listing's marketplace",
    });
  });

  test('a booking whose customer is its provider is rejected', async () => {
    const { provider, listing } = await newProvider();
    await assert.rejects(insert(listing, { customer: provider.id }), { code: '23514' });
  });

  test('a total that is not base + service fee + tax − discount is rejected', async () => {
    const { listing } = await newProvider();
    for (const total of [8399, 8401, 0]) {
      await assert.rejects(insert(listing, { total }), { code: '23514' }, String(total));
    }
  });

  test('a booking must end after it starts', async () => {
    const { listing } = await newProvider();
    await assert.rejects(
      db.query(sql`
        insert into public.bookings (listing_id, provider_id, customer_id, tenant_id, starts_at, ends_at, time_zone,
                                     service_title, currency, base_price_cents, total_cents)
        values (${listing.id}, ${listing.providerId}, ${customer.id}, ${tenantId}, now() + interval '5 days',
                now() + interval '5 days', 'UTC', 'Zero', 'USD', 0, 0)`),
      { code: '23514' },
    );
  });

  test("booking_count counts the listing's bookings; cancelling keeps them counted", async () => {
    const { provider, listing } = await newProvider();
    const bookingCount = async () =>
      (await one<{ n: number }>(db, sql`select booking_count as n from public.listings where id = ${listing.id}`)).n;
    assert.equal(await bookingCount(), 0);
    const first = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, later(80)), { commit: true });
    assert.equal(await bookingCount(), 1);
    await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, later(90)), { commit: true });
    assert.equal(await bookingCount(), 2);
    await asUser(
      db,
      provider.clerkId,
      (tx) => tx.query(sql`select public.transition_booking(${first.id}::uuid, 'cancelled')`),
      { commit: true },
    );
    assert.equal(await bookingCount(), 2);
    // A rolled-back booking leaves no trace.
    await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, later(110)));
    assert.equal(await bookingCount(), 2);
  });

  test("the provider's total_jobs_completed follows completed bookings, refunds and disputes", async () => {
    const { provider, listing } = await newProvider();
    const jobs = async () =>
      (
        await one<{ n: number }>(
          db,
          sql`select total_jobs_completed as n from public.user_profiles where user_id = ${provider.id}`,
        )
      ).n;
    const move = (id: string, to: string) => db.query(sql`update public.bookings set status = ${to} where id = ${id}`);
    assert.equal(await jobs(), 0);
    await createBooking(db, listing, customer, { status: 'completed', startsInHours: -50 });
    assert.equal(await jobs(), 1);
    const { id } = await createBooking(db, listing, customer, { status: 'confirmed', startsInHours: 120 });
    await move(id, 'in_progress');
    assert.equal(await jobs(), 1);
    await move(id, 'completed');
    assert.equal(await jobs(), 2);
    await move(id, 'disputed');
    assert.equal(await jobs(), 1);
    await move(id, 'completed');
    assert.equal(await jobs(), 2);
    await move(id, 'refunded');
    assert.equal(await jobs(), 1);
    // The customer's own counter is untouched.
    const customerJobs = await one<{ n: number }>(
      db,
      sql`select total_jobs_completed as n from public.user_profiles where user_id = ${customer.id}`,
    );
    assert.equal(customerJobs.n, 0);
  });

  test('deleting bookings (as service_role) takes them out of both counters', async () => {
    const { listing } = await newProvider();
    const counters = async () =>
      one(
        db,
        sql`select l.booking_count, p.total_jobs_completed from public.listings l
            join public.user_profiles p on p.user_id = l.provider_id where l.id = ${listing.id}`,
      );
    const done = await createBooking(db, listing, customer, { status: 'completed', startsInHours: -30 });
    const open = await createBooking(db, listing, customer, { startsInHours: 130 });
    assert.deepEqual(await counters(), { booking_count: 2, total_jobs_completed: 1 });
    const deleted = await asRole(
      db,
      'service_role',
      { role: 'service_role' },
      (tx) => tx.query(sql`delete from public.bookings where id in (${done.id}, ${open.id})`),
      { commit: true },
    );
    assert.equal(deleted.rowCount, 2);
    assert.deepEqual(await counters(), { booking_count: 0, total_jobs_completed: 0 });
  });
});

// ---------------------------------------------------------------------------
// Booking notifications (0010: app.bookings_notify)
// ---------------------------------------------------------------------------

describe(`booking notifications (${testBackend()})`, () => {
  const notifications = (bookingId: string) =>
    rows<{ user_id: string; sender_id: string | null; type: string }>(
      db,
      sql`select user_id, sender_id, type::text from public.notifications
          where data ->> 'booking_id' = ${bookingId} order by created_at, user_id`,
    );
  const act = (who: UserFixture, bookingId: string, to: string) =>
    asUser(
      db,
      who.clerkId,
      (tx) => tx.query(sql`select public.transition_booking(${bookingId}::uuid, ${to}::public.booking_status)`),
      {
        commit: true,
      },
    );

  test('a new booking tells the provider, in their local time', async () => {
    const { provider, listing } = await newProvider();
    const monday = upcoming(1);
    const booked = await asUser(db, customer.clerkId, (tx) => book(tx, listing.id, utc(monday, '14:00')), {
      commit: true,
    });
    const { rows: sent } = await db.query(
      sql`select user_id, sender_id, type::text, title, body, data, action_url from public.notifications
          where data ->> 'booking_id' = ${booked.id}`,
    );
    const { rows: conversations } = await db.query<{ id: string }>(
      sql`select id from public.conversations where booking_id = ${booked.id}`,
    );
    const conversation = conversations[0]?.id;
    const [year, month, day] = monday.split('-');
    const monthName = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
      Number(month) - 1
    ];
    const local = pad(14 + newYorkOffset(utc(monday, '14:00')));
    assert.deepEqual(sent, [
      {
        user_id: provider.id,
        sender_id: customer.id,
        type: 'booking_received',
        title: 'New booking request',
        body: `Leak repair and pipe fitting on Mon ${day} ${monthName} ${year} ${local}:00 (America/New_York), ${booked.confirmation_code}`,
        data: { booking_id: booked.id, status: 'pending', conversation_id: conversation, urgent: false },
        action_url: `/bookings/${booked.id}`,
      },
    ]);
  });

  test("each move tells the other party; a manager's move tells both", async () => {
    const { provider, listing } = await newProvider();
    const { id } = await createBooking(db, listing, customer, { startsInHours: 150 });
    // Ten minutes ahead: still confirmable, and near enough to start.
    await db.query(sql`update public.bookings set starts_at = now() + interval '10 minutes',
                       ends_at = now() + interval '70 minutes' where id = ${id}`);
    // The request, then the move (made by the system, so both parties hear of it).
    assert.deepEqual(
      (await notifications(id)).map((n) => [n.user_id === provider.id ? 'provider' : 'customer', n.type]).sort(),
      [
        ['customer', 'booking_rescheduled'],
        ['provider', 'booking_received'],
        ['provider', 'booking_rescheduled'],
      ],
    );
    await db.query(sql`delete from public.notifications where data ->> 'booking_id' = ${id}`);

    await act(provider, id, 'confirmed');
    await act(provider, id, 'in_progress');
    await act(customer, id, 'disputed');
    const sent = await notifications(id);
    assert.deepEqual(sent, [
      { user_id: customer.id, sender_id: provider.id, type: 'booking_confirmed' },
      { user_id: customer.id, sender_id: provider.id, type: 'booking_started' },
      { user_id: provider.id, sender_id: customer.id, type: 'booking_disputed' },
    ]);
    await db.query(sql`delete from public.notifications where data ->> 'booking_id' = ${id}`);
    await act(admin, id, 'refunded');
    const both = [customer.id, provider.id].sort();
    assert.deepEqual(
      await notifications(id),
      both.map((user) => ({ user_id: user, sender_id: admin.id, type: 'booking_refunded' })),
    );
  });

  test('cancelling and completing notify the counterparty', async () => {
    const { provider, listing } = await newProvider();
    const cancelled = (await createBooking(db, listing, customer, { startsInHours: 160 })).id;
    const completed = (await createBooking(db, listing, customer, { status: 'confirmed', startsInHours: -1 })).id;
    await db.query(sql`delete from public.notifications where data ->> 'booking_id' in (${cancelled}, ${completed})`);
    await act(customer, cancelled, 'cancelled');
    await act(provider, completed, 'completed');
    assert.deepEqual(await notifications(cancelled), [
      { user_id: provider.id, sender_id: customer.id, type: 'booking_cancelled' },
    ]);
    // Completion also captures the payment (offline, migration 0040): the provider hears of it.
    // (Both in one transaction: same created_at, so compared by type.)
    const byType = (await notifications(completed)).sort((a, b) => a.type.localeCompare(b.type));
    assert.deepEqual(byType, [
      { user_id: customer.id, sender_id: provider.id, type: 'booking_completed' },
      { user_id: provider.id, sender_id: null, type: 'payment_received' },
    ]);
  });

  test('a notification reaches only its recipient', async () => {
    const { provider, listing } = await newProvider();
    const { id } = await createBooking(db, listing, customer, { startsInHours: 180 });
    const mine = (who: UserFixture) =>
      asUser(db, who.clerkId, (tx) =>
        count(tx, sql`select 1 from public.notifications where data ->> 'booking_id' = ${id}`),
      );
    assert.deepEqual([await mine(provider), await mine(customer), await mine(stranger)], [1, 0, 0]);
  });
});
