import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from '../../../src/db/sql.js';
import { createBooking, createListing, createUser, type UserFixture } from '../../helpers/fixtures.js';
import {
  getTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../../helpers/index.js';
import { deliver, userDeleted, WEBHOOK_SECRET } from './support.js';

/*
 * user.deleted from Clerk closes the account (decision 0021) and, in the same transaction,
 * cancels its open bookings as the booking workflow cancels them: a full refund (captured money
 * refunded, authorisations released), the reason recorded, the other party notified.
 */

let db: TestDatabase;
let server: TestServer;

before(async () => {
  db = await getTestDatabase();
  server = await startTestServer(db, { CLERK_WEBHOOK_SECRET: WEBHOOK_SECRET });
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

interface BookingState {
  status: string;
  refund_cents: number | null;
  total_cents: number;
  cancellation_reason: string | null;
  cancelled_by: string | null;
  payment_status: string | null;
  captured_cents: number | null;
  refunded_cents: number | null;
}

async function booking(id: string): Promise<BookingState> {
  const { rows } = await db.query<BookingState>(sql`
    select b.status, b.refund_cents::int, b.total_cents::int, b.cancellation_reason, b.cancelled_by,
           p.status as payment_status, p.captured_cents::int, p.refunded_cents::int
    from public.bookings b left join public.payments p on p.booking_id = b.id where b.id = ${id}`);
  return rows[0] as BookingState;
}

/** A confirmed booking whose payment was captured in full (money already paid). */
async function paidBooking(listing: Awaited<ReturnType<typeof createListing>>, customer: UserFixture) {
  const made = await createBooking(db, listing, customer, { status: 'confirmed' });
  await db.query(sql`
    select app.payment_capture(p.id) from public.payments p where p.booking_id = ${made.id}`);
  const state = await booking(made.id);
  assert.equal(state.payment_status, 'captured');
  assert.equal(state.captured_cents, state.total_cents);
  return made;
}

async function cancelledNotices(user: UserFixture, bookingId: string) {
  const { rows } = await db.query<{ body: string }>(sql`
    select body from public.notifications
    where user_id = ${user.id} and type = 'booking_cancelled' and data ->> 'booking_id' = ${bookingId}`);
  return rows;
}

describe(`the open bookings of an account deleted at Clerk (${testBackend()})`, () => {
  test('a provider gone: open bookings cancelled, customers refunded in full and notified; finished ones kept', async () => {
    const provider = await createUser(db, { role: 'provider' });
    const listing = await createListing(db, provider);
    const [ana, ben, cy] = [await createUser(db), await createUser(db), await createUser(db)];
    const requested = await createBooking(db, listing, ana, { status: 'pending' });
    const paid = await paidBooking(listing, ben);
    const done = await createBooking(db, listing, cy, { status: 'completed', startsInHours: -30 });

    const answer = await deliver(server, userDeleted(provider.clerkId));
    assert.equal(answer.status, 200);
    assert.equal(answer.json.outcome, 'applied');
    assert.equal(answer.json.bookings_cancelled, 2);

    for (const [customer, made] of [
      [ana, requested],
      [ben, paid],
    ] as const) {
      const state = await booking(made.id);
      assert.equal(state.status, 'cancelled');
      assert.equal(state.refund_cents, state.total_cents, 'refunded in full');
      assert.match(state.cancellation_reason ?? '', /provider's account was closed/);
      assert.equal(state.cancelled_by, provider.id);
      const [notice, ...more] = await cancelledNotices(customer, made.id);
      assert.equal(more.length, 0);
      assert.match(notice?.body ?? '', /provider's account was closed/);
    }
    const refunded = await booking(paid.id);
    assert.equal(refunded.payment_status, 'refunded');
    assert.equal(refunded.refunded_cents, refunded.captured_cents, 'the money paid went back');
    assert.notEqual((await booking(requested.id)).payment_status, 'captured');
    assert.equal((await booking(done.id)).status, 'completed');

    const { rows } = await db.query<{ deleted_at: Date | null; clerk_id: string | null }>(
      sql`select deleted_at, clerk_id from public.users where id = ${provider.id}`,
    );
    assert.ok(rows[0]?.deleted_at, 'the account is closed as before');
    assert.equal(rows[0]?.clerk_id, null);
  });

  test("a customer gone: their bookings are cancelled and refunded, the provider notified; others' stay", async () => {
    const provider = await createUser(db, { role: 'provider' });
    const listing = await createListing(db, provider);
    const leaving = await createUser(db);
    const staying = await createUser(db);
    const theirs = await paidBooking(listing, leaving);
    const started = await createBooking(db, listing, leaving, { status: 'in_progress', startsInHours: 0 });
    const other = await createBooking(db, listing, staying, { status: 'confirmed' });

    const answer = await deliver(server, userDeleted(leaving.clerkId));
    assert.equal(answer.json.bookings_cancelled, 2);
    for (const made of [theirs, started]) {
      const state = await booking(made.id);
      assert.equal(state.status, 'cancelled');
      assert.equal(state.refund_cents, state.total_cents);
      assert.match(state.cancellation_reason ?? '', /customer's account was closed/);
      assert.equal((await cancelledNotices(provider, made.id)).length, 1);
    }
    const refunded = await booking(theirs.id);
    assert.equal(refunded.refunded_cents, refunded.captured_cents);
    assert.equal((await booking(other.id)).status, 'confirmed');

    // Clerk redelivering the event changes nothing more.
    const again = await deliver(server, userDeleted(leaving.clerkId));
    assert.equal(again.json.outcome, 'ignored');
    assert.equal((await cancelledNotices(provider, theirs.id)).length, 1);
  });

  test('an account without open bookings is closed with none cancelled', async () => {
    const loner = await createUser(db);
    const answer = await deliver(server, userDeleted(loner.clerkId));
    assert.equal(answer.json.outcome, 'applied');
    assert.equal(answer.json.bookings_cancelled, 0);
  });
});
