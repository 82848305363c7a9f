import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import {
  createBooking,
  createListing,
  createTenant,
  createUser,
  grantPermission,
  type ListingFixture,
  type UserFixture,
} from '../helpers/fixtures.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';

/*
 * The review workflow over REST with supabase-js and real tokens: submit_review (double-blind
 * until both parties are in or the window closes), publish_due_reviews (the scheduler),
 * edit_review, delete_review, respond_to_review, vote_review, hide_review / unhide_review,
 * reviews_to_write; the aggregates (count, average, Bayesian average) after every change;
 * every refused call with its status and proof that nothing was written; and the table doors
 * that stay shut.
 */

let db: TestDatabase;
let server: TestServer;
let stranger: UserFixture;
let voter: UserFixture;
let moderator: UserFixture;
let foreignAdmin: UserFixture;
let asStranger: SupabaseClient;
let asVoter: SupabaseClient;
let asModerator: SupabaseClient;
let asForeignAdmin: SupabaseClient;
let anon: SupabaseClient;
let service: SupabaseClient;

before(async () => {
  db = await getTestDatabase();
  server = await startTestServer(db);
  stranger = await createUser(db);
  voter = await createUser(db);
  moderator = await createUser(db);
  await grantPermission(db, moderator, 'reviews.moderate');
  foreignAdmin = await createUser(db, { role: 'admin', tenantId: await createTenant(db) });
  asStranger = await clientFor(stranger);
  asVoter = await clientFor(voter);
  asModerator = await clientFor(moderator);
  asForeignAdmin = await clientFor(foreignAdmin);
  anon = server.client();
  service = server.client({ apikey: server.keys.service_role });
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

async function clientFor(user: UserFixture): Promise<SupabaseClient> {
  return server.client({ token: await server.tokenFor(user.clerkId) });
}

interface Deal {
  provider: UserFixture;
  customer: UserFixture;
  listing: ListingFixture;
  bookingId: string;
  asProvider: SupabaseClient;
  asCustomer: SupabaseClient;
}

let slot = 0;

/**
 * A provider, a customer, a listing and a booking between them, completed `completedDaysAgo`
 * days ago (status as given; completed by default).
 */
async function deal(
  options: { status?: string; completedDaysAgo?: number; provider?: UserFixture; listing?: ListingFixture } = {},
): Promise<Deal> {
  const provider = options.provider ?? (await createUser(db, { role: 'provider' }));
  const listing = options.listing ?? (await createListing(db, provider));
  const customer = await createUser(db, { tenantId: provider.tenantId });
  const status = options.status ?? 'completed';
  const { id } = await createBooking(db, listing, customer, { status, startsInHours: -500 + 2 * slot++ });
  if (status === 'completed') {
    await db.query(
      sql`update public.bookings set completed_at = now() - make_interval(days => ${
        options.completedDaysAgo ?? 1
      }) where id = ${id}`,
    );
  }
  return {
    provider,
    customer,
    listing,
    bookingId: id,
    asProvider: await clientFor(provider),
    asCustomer: await clientFor(customer),
  };
}

const review = (stars = 4, extra: Record<string, unknown> = {}) => ({
  rating: stars,
  quality_rating: stars,
  communication_rating: 5,
  timeliness_rating: 3,
  title: 'Fixed the leak',
  comment: 'Quick, tidy and friendly.',
  ...extra,
});

/** Submits a review as a client and returns the row (fails the test on an error). */
async function submit(client: SupabaseClient, bookingId: string, stars = 4, extra: Record<string, unknown> = {}) {
  const { data, error } = await client.rpc('submit_review', { booking_id: bookingId, ...review(stars, extra) });
  assert.equal(error, null, JSON.stringify(error));
  return data as Record<string, unknown> & { id: string };
}

/** Both parties review: the second publishes both. */
async function publishedPair(d: Deal, customerStars = 4, providerStars = 5) {
  const byCustomer = await submit(d.asCustomer, d.bookingId, customerStars);
  const byProvider = await submit(d.asProvider, d.bookingId, providerStars);
  return { byCustomer: byCustomer.id, byProvider: byProvider.id };
}

async function reviewsOf(bookingId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    sql`select count(*)::int as n from public.reviews where booking_id = ${bookingId}`,
  );
  return rows[0]?.n ?? -1;
}

async function row(reviewId: string) {
  const { rows } = await db.query<Record<string, unknown>>(sql`select * from public.reviews where id = ${reviewId}`);
  return rows[0];
}

/** What a client reads of one review through REST (RLS decides). */
async function sees(client: SupabaseClient, reviewId: string): Promise<boolean> {
  const { data, error } = await client.from('reviews').select('id').eq('id', reviewId);
  assert.equal(error, null);
  return (data ?? []).length === 1;
}

function bayesian(sum: number, n: number): string {
  return ((5 * 3 + sum) / (5 + n)).toFixed(4);
}

/** Listing and profile aggregates, and what they should be recomputed from the reviews. */
async function aggregates(listingId: string, userId: string) {
  const { rows } = await db.query<Record<string, unknown>>(sql`
    select l.rating_average::text as listing_average, l.review_count as listing_count,
           l.rating_bayesian::text as listing_bayesian,
           p.rating_average::text as profile_average, p.review_count as profile_count,
           p.rating_bayesian::text as profile_bayesian
      from public.listings l, public.user_profiles p
     where l.id = ${listingId} and p.user_id = ${userId}`);
  return rows[0];
}

/** Asserts the stored aggregates equal a recount of the public reviews, and returns them. */
async function assertConsistent(listingId: string, userId: string) {
  const stored = await aggregates(listingId, userId);
  const { rows } = await db.query<{ ls: number | null; ln: number; ps: number | null; pn: number }>(sql`
    select (select sum(r.rating)::int from public.reviews r join public.listings l on l.id = r.listing_id
             where r.listing_id = ${listingId} and r.is_public and r.reviewee_id = l.provider_id) as ls,
           (select count(*)::int from public.reviews r join public.listings l on l.id = r.listing_id
             where r.listing_id = ${listingId} and r.is_public and r.reviewee_id = l.provider_id) as ln,
           (select sum(r.rating)::int from public.reviews r where r.reviewee_id = ${userId} and r.is_public) as ps,
           (select count(*)::int from public.reviews r where r.reviewee_id = ${userId} and r.is_public) as pn`);
  const c = rows[0] as { ls: number | null; ln: number; ps: number | null; pn: number };
  const avg = (s: number | null, n: number) => (n === 0 ? null : ((s ?? 0) / n).toFixed(2));
  assert.deepEqual(stored, {
    listing_average: avg(c.ls, c.ln),
    listing_count: c.ln,
    listing_bayesian: bayesian(c.ls ?? 0, c.ln),
    profile_average: avg(c.ps, c.pn),
    profile_count: c.pn,
    profile_bayesian: bayesian(c.ps ?? 0, c.pn),
  });
  return stored;
}

// ---------------------------------------------------------------------------------------------
// Double-blind
// ---------------------------------------------------------------------------------------------

describe(`reviews: double-blind reveal (${testBackend()})`, () => {
  test('the first review stays hidden from the other party and the public; the second publishes both', async () => {
    const d = await deal();
    const first = await submit(d.asCustomer, d.bookingId, 4);
    assert.equal(first.reviewee_id, d.provider.id);
    assert.equal(first.listing_id, d.listing.id);
    assert.equal(first.published_at, null);
    assert.equal(first.is_public, false);
    assert.equal(await sees(d.asCustomer, first.id), true);
    for (const other of [d.asProvider, anon, asStranger]) assert.equal(await sees(other, first.id), false);
    // Not through an embedding either.
    const embedded = await d.asProvider.from('bookings').select('id, reviews(id, rating)').eq('id', d.bookingId);
    assert.deepEqual(embedded.data, [{ id: d.bookingId, reviews: [] }]);
    // Nothing counts yet.
    assert.deepEqual(await assertConsistent(d.listing.id, d.provider.id), {
      listing_average: null,
      listing_count: 0,
      listing_bayesian: '3.0000',
      profile_average: null,
      profile_count: 0,
      profile_bayesian: '3.0000',
    });

    const second = await submit(d.asProvider, d.bookingId, 5);
    assert.equal(second.reviewee_id, d.customer.id);
    assert.equal(second.is_public, true);
    assert.notEqual(second.published_at, null);
    for (const reader of [d.asProvider, d.asCustomer, anon, asStranger]) {
      assert.equal(await sees(reader, first.id), true);
      assert.equal(await sees(reader, second.id), true);
    }
    assert.equal((await row(first.id))?.is_public, true);
    assert.deepEqual(await assertConsistent(d.listing.id, d.provider.id), {
      listing_average: '4.00',
      listing_count: 1,
      listing_bayesian: bayesian(4, 1),
      profile_average: '4.00',
      profile_count: 1,
      profile_bayesian: bayesian(4, 1),
    });
    assert.equal((await assertConsistent(d.listing.id, d.customer.id)).profile_average, '5.00');
  });

  test('the reviewee is told a review arrived, never its stars or words', async () => {
    const d = await deal();
    const first = await submit(d.asCustomer, d.bookingId, 1, { comment: 'Flooded my kitchen', title: 'Awful' });
    const { rows } = await db.query<{ user_id: string; type: string; title: string; body: string; data: object }>(
      sql`select user_id, type::text, title, body, data from public.notifications where data ->> 'review_id' = ${first.id}`,
    );
    assert.equal(rows.length, 1);
    const sent = rows[0] as { user_id: string; type: string; title: string; body: string; data: object };
    assert.equal(sent.user_id, d.provider.id);
    assert.equal(sent.type, 'review_received');
    assert.deepEqual(sent.data, { review_id: first.id, booking_id: d.bookingId, published: false });
    const text = `${sent.title} ${sent.body}`;
    for (const secret of ['Flooded', 'Awful', '1-star', '1 star']) assert.equal(text.includes(secret), false, text);
    // The provider's own notification list shows it (RLS), still without content.
    const { data } = await d.asProvider.from('notifications').select('title, body').eq('data->>review_id', first.id);
    assert.equal((data ?? []).length, 1);
  });

  test('when the window closes the scheduler publishes a lone review; clients cannot run it', async () => {
    const d = await deal({ completedDaysAgo: 13 });
    const lone = await submit(d.asCustomer, d.bookingId, 2);
    assert.equal(lone.is_public, false);
    // Not yet due: running the scheduler changes nothing for it.
    assert.equal((await service.rpc('publish_due_reviews')).error, null);
    assert.equal((await row(lone.id))?.is_public, false);

    for (const client of [d.asCustomer, d.asProvider, asModerator]) {
      const { error, status } = await client.rpc('publish_due_reviews');
      assert.equal(status, 403);
      assert.equal(error?.code, '42501');
    }
    const refused = await anon.rpc('publish_due_reviews');
    assert.equal(refused.status, 401);

    // The window closes (as if a day passed).
    await db.query(sql`update public.reviews set publish_due_at = now() - interval '1 second' where id = ${lone.id}`);
    assert.equal(await sees(anon, lone.id), false);
    const { data, error } = await service.rpc('publish_due_reviews');
    assert.equal(error, null);
    assert.ok((data as number) >= 1);
    assert.equal(await sees(anon, lone.id), true);
    assert.equal(await sees(d.asProvider, lone.id), true);
    assert.deepEqual((await assertConsistent(d.listing.id, d.provider.id)).listing_count, 1);
    // Run again: nothing left to publish for it, nothing double-counted.
    await service.rpc('publish_due_reviews');
    assert.deepEqual((await assertConsistent(d.listing.id, d.provider.id)).listing_count, 1);
  });

  test('the window is 14 days after completion, or what the tenant sets', async () => {
    const late = await deal({ completedDaysAgo: 15 });
    const { error, status } = await late.asCustomer.rpc('submit_review', { booking_id: late.bookingId, rating: 5 });
    assert.equal(status, 400);
    assert.equal(error?.code, '23514');
    assert.match(error?.message ?? '', /^the review window for this booking closed at /);
    assert.equal(await reviewsOf(late.bookingId), 0);

    const { rows } = await db.query<{ due: boolean }>(sql`
      select app.review_window(tenant_id) = interval '14 days' as due from public.bookings where id = ${late.bookingId}`);
    assert.deepEqual(rows, [{ due: true }]);
    const tenant = await createTenant(db);
    await db.query(sql`update public.tenants set settings = '{"reviews": {"window_days": 30}}' where id = ${tenant}`);
    const custom = await db.query<{ days: string }>(sql`select app.review_window(${tenant})::text as days`);
    assert.deepEqual(custom.rows, [{ days: '30 days' }]);
    // In that tenant a booking completed 20 days ago is still open for review.
    const provider = await createUser(db, { role: 'provider', tenantId: tenant });
    const there = await deal({ provider, completedDaysAgo: 20 });
    const inTime = await there.asCustomer.rpc('submit_review', { booking_id: there.bookingId, rating: 5 });
    assert.equal(inTime.error, null);
  });

  test('reviews_to_write lists what the caller still owes, and whether the other side is in', async () => {
    const d = await deal();
    const owed = async (client: SupabaseClient) => {
      const { data, error } = await client.rpc('reviews_to_write');
      assert.equal(error, null);
      return (data as { booking_id: string; reviewee_id: string; reviewee_has_reviewed: boolean }[]).filter(
        (r) => r.booking_id === d.bookingId,
      );
    };
    assert.deepEqual(
      (await owed(d.asProvider)).map((r) => [r.reviewee_id, r.reviewee_has_reviewed]),
      [[d.customer.id, false]],
    );
    await submit(d.asCustomer, d.bookingId);
    assert.deepEqual(await owed(d.asCustomer), []);
    assert.deepEqual(
      (await owed(d.asProvider)).map((r) => [r.reviewee_id, r.reviewee_has_reviewed]),
      [[d.customer.id, true]],
    );
    assert.equal((await anon.rpc('reviews_to_write')).status, 401);
  });

  test('both parties submitting at the same moment still publish both', async () => {
    const d = await deal();
    const [a, b] = await Promise.all([
      d.asCustomer.rpc('submit_review', { booking_id: d.bookingId, rating: 4 }),
      d.asProvider.rpc('submit_review', { booking_id: d.bookingId, rating: 5 }),
    ]);
    assert.equal(a.error, null);
    assert.equal(b.error, null);
    const { rows } = await db.query<{ n: number }>(
      sql`select count(*)::int as n from public.reviews where booking_id = ${d.bookingId} and is_public`,
    );
    assert.deepEqual(rows, [{ n: 2 }]);
  });
});

// ---------------------------------------------------------------------------------------------
// Refused submissions
// ---------------------------------------------------------------------------------------------

describe(`reviews: refused submissions (${testBackend()})`, () => {
  test('bad stars and texts are 400 with the limit named, and nothing is written', async () => {
    const d = await deal();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ rating: 0 }, /^rating must be a whole number of stars from 1 to 5, not 0$/],
      [{ rating: 6 }, /not 6$/],
      [{ rating: null }, /not null$/],
      [{ rating: 5, quality_rating: 0 }, /quality_rating, communication_rating and timeliness_rating/],
      [{ rating: 5, communication_rating: 6 }, /must be from 1 to 5 when given/],
      [{ rating: 5, timeliness_rating: -1 }, /must be from 1 to 5 when given/],
      [{ rating: 5, title: 'x'.repeat(201) }, /^title is 201 characters; the limit is 200$/],
      [{ rating: 5, comment: 'x'.repeat(10001) }, /^comment is 10001 characters; the limit is 10000$/],
    ];
    for (const [args, message] of cases) {
      const { error, status } = await d.asCustomer.rpc('submit_review', { booking_id: d.bookingId, ...args });
      assert.equal(status, 400, JSON.stringify(args));
      assert.equal(error?.code, '22023');
      assert.match(error?.message ?? '', message);
    }
    const notANumber = await d.asCustomer.rpc('submit_review', { booking_id: d.bookingId, rating: 'five' });
    assert.equal(notANumber.status, 400);
    const unknown = await d.asCustomer.rpc('submit_review', { booking_id: d.bookingId, rating: 5, stars: 5 });
    assert.equal(unknown.status, 404);
    assert.equal(await reviewsOf(d.bookingId), 0);
  });

  test('only a completed booking can be reviewed', async () => {
    for (const status of ['pending', 'confirmed', 'cancelled']) {
      const d = await deal({ status });
      const { error, status: http } = await d.asCustomer.rpc('submit_review', { booking_id: d.bookingId, rating: 5 });
      assert.equal(http, 400, status);
      assert.equal(error?.code, '23514');
      assert.equal(error?.message, `only a completed booking can be reviewed; this one is ${status}`);
      assert.equal(await reviewsOf(d.bookingId), 0);
    }
  });

  test('outsiders get 404 (learning nothing), anonymous callers 401, and a second review 409', async () => {
    const d = await deal();
    for (const client of [asStranger, asModerator, asForeignAdmin]) {
      const { error, status } = await client.rpc('submit_review', { booking_id: d.bookingId, rating: 5 });
      assert.equal(status, 404);
      assert.equal(error?.message, `booking ${d.bookingId} not found`);
    }
    const missing = await d.asCustomer.rpc('submit_review', {
      booking_id: '00000000-0000-4000-8000-000000000000',
      rating: 5,
    });
    assert.equal(missing.status, 404);
    const signedOut = await anon.rpc('submit_review', { booking_id: d.bookingId, rating: 5 });
    assert.equal(signedOut.status, 401);
    assert.match(signedOut.error?.message ?? '', /sign in/);
    assert.equal(await reviewsOf(d.bookingId), 0);

    await submit(d.asCustomer, d.bookingId, 3);
    const again = await d.asCustomer.rpc('submit_review', { booking_id: d.bookingId, rating: 5 });
    assert.equal(again.status, 409);
    assert.equal(again.error?.message, 'you have already reviewed this booking');
    assert.equal(await reviewsOf(d.bookingId), 1);
  });
});

// ---------------------------------------------------------------------------------------------
// Editing, withdrawing, responding
// ---------------------------------------------------------------------------------------------

describe(`reviews: edit, withdraw, respond (${testBackend()})`, () => {
  test('the reviewer edits an unpublished review; a published one is fixed', async () => {
    const d = await deal();
    const mine = await submit(d.asCustomer, d.bookingId, 2);
    const edited = await d.asCustomer.rpc('edit_review', {
      review_id: mine.id,
      rating: 3,
      comment: '  Better on the second visit  ',
    });
    assert.equal(edited.error, null);
    const after = edited.data as Record<string, unknown>;
    assert.deepEqual(
      [after.rating, after.comment, after.title, after.quality_rating],
      [3, 'Better on the second visit', null, null],
    );
    for (const client of [d.asProvider, asStranger, asModerator]) {
      const { status } = await client.rpc('edit_review', { review_id: mine.id, rating: 5 });
      assert.equal(status, 404);
    }
    const bad = await d.asCustomer.rpc('edit_review', { review_id: mine.id, rating: 9 });
    assert.equal(bad.status, 400);
    assert.equal((await row(mine.id))?.rating, 3);

    await submit(d.asProvider, d.bookingId, 5);
    const late = await d.asCustomer.rpc('edit_review', { review_id: mine.id, rating: 5 });
    assert.equal(late.status, 400);
    assert.equal(late.error?.message, 'a published review cannot be edited');
    assert.equal((await row(mine.id))?.rating, 3);
    await assertConsistent(d.listing.id, d.provider.id);
  });

  test('an unpublished review can be withdrawn and written again; a published one only a moderator removes', async () => {
    const d = await deal();
    const first = await submit(d.asCustomer, d.bookingId, 1);
    for (const client of [d.asProvider, asStranger, asForeignAdmin]) {
      assert.equal((await client.rpc('delete_review', { review_id: first.id })).status, 404);
    }
    const withdrawn = await d.asCustomer.rpc('delete_review', { review_id: first.id });
    assert.equal(withdrawn.error, null);
    assert.equal(await reviewsOf(d.bookingId), 0);
    const { byCustomer } = await publishedPair(d, 4, 5);
    assert.equal((await assertConsistent(d.listing.id, d.provider.id)).listing_count, 1);
    const refused = await d.asCustomer.rpc('delete_review', { review_id: byCustomer });
    assert.equal(refused.status, 400);
    assert.equal(refused.error?.message, 'a published review cannot be withdrawn');
    assert.equal(await reviewsOf(d.bookingId), 2);
    const removed = await asModerator.rpc('delete_review', { review_id: byCustomer });
    assert.equal(removed.error, null);
    assert.equal(await reviewsOf(d.bookingId), 1);
    assert.equal((await assertConsistent(d.listing.id, d.provider.id)).listing_count, 0);
  });

  test('the reviewee responds once to a published review', async () => {
    const d = await deal();
    const first = await submit(d.asCustomer, d.bookingId, 3);
    const early = await d.asProvider.rpc('respond_to_review', { review_id: first.id, response: 'Thanks!' });
    assert.equal(early.status, 404);
    await submit(d.asProvider, d.bookingId, 5);
    for (const client of [d.asCustomer, asStranger, asModerator]) {
      const { status } = await client.rpc('respond_to_review', { review_id: first.id, response: 'Hi' });
      assert.equal(status, 404);
    }
    for (const [response, message] of [
      ['   ', 'response is empty'],
      ['x'.repeat(5001), 'response is 5001 characters; the limit is 5000'],
    ]) {
      const { error, status } = await d.asProvider.rpc('respond_to_review', { review_id: first.id, response });
      assert.equal(status, 400);
      assert.equal(error?.message, message);
    }
    assert.equal((await row(first.id))?.response, null);
    const { data, error } = await d.asProvider.rpc('respond_to_review', {
      review_id: first.id,
      response: 'Thank you, see you soon.',
    });
    assert.equal(error, null);
    assert.equal((data as Record<string, unknown>).response, 'Thank you, see you soon.');
    assert.notEqual((data as Record<string, unknown>).responded_at, null);
    const again = await d.asProvider.rpc('respond_to_review', { review_id: first.id, response: 'Edited' });
    assert.equal(again.status, 409);
    assert.equal(again.error?.message, 'you have already responded to this review');
    assert.equal((await row(first.id))?.response, 'Thank you, see you soon.');
    await assertConsistent(d.listing.id, d.provider.id);
  });
});

// ---------------------------------------------------------------------------------------------
// Votes
// ---------------------------------------------------------------------------------------------

describe(`reviews: helpfulness votes (${testBackend()})`, () => {
  const counts = async (id: string) => {
    const r = await row(id);
    return [r?.helpful_count, r?.not_helpful_count];
  };

  test('one vote per user, changeable and withdrawable; the counts follow', async () => {
    const d = await deal();
    const { byCustomer } = await publishedPair(d);
    const vote = async (client: SupabaseClient, helpful: boolean | null) => {
      const { data, error } = await client.rpc('vote_review', { review_id: byCustomer, helpful });
      assert.equal(error, null);
      return [(data as Record<string, unknown>).helpful_count, (data as Record<string, unknown>).not_helpful_count];
    };
    assert.deepEqual(await vote(asStranger, true), [1, 0]);
    assert.deepEqual(await vote(asStranger, true), [1, 0]);
    assert.deepEqual(await vote(asVoter, true), [2, 0]);
    assert.deepEqual(await vote(asStranger, false), [1, 1]);
    assert.deepEqual(await vote(asStranger, null), [1, 0]);
    // The caller's own vote is readable; nobody else's.
    const mine = await asVoter.from('review_votes').select('user_id, is_helpful').eq('review_id', byCustomer);
    assert.deepEqual(mine.data, [{ user_id: voter.id, is_helpful: true }]);
  });

  test('never on a review one wrote or received, nor on an unpublished or foreign one', async () => {
    const d = await deal();
    const first = await submit(d.asCustomer, d.bookingId, 5);
    const unpublished = await asStranger.rpc('vote_review', { review_id: first.id, helpful: true });
    assert.equal(unpublished.status, 404);
    await submit(d.asProvider, d.bookingId, 5);
    for (const party of [d.asCustomer, d.asProvider]) {
      const { error, status } = await party.rpc('vote_review', { review_id: first.id, helpful: true });
      assert.equal(status, 400);
      assert.equal(error?.message, 'you cannot vote on a review you wrote or received');
    }
    // The table door refuses the same.
    const direct = await d.asProvider
      .from('review_votes')
      .insert({ review_id: first.id, user_id: d.provider.id, is_helpful: true });
    assert.equal(direct.status, 400);
    assert.equal((await asForeignAdmin.rpc('vote_review', { review_id: first.id, helpful: true })).status, 404);
    assert.equal((await anon.rpc('vote_review', { review_id: first.id, helpful: true })).status, 401);
    assert.deepEqual(await counts(first.id), [0, 0]);
  });
});

// ---------------------------------------------------------------------------------------------
// Moderation and aggregates
// ---------------------------------------------------------------------------------------------

describe(`reviews: moderation and aggregates (${testBackend()})`, () => {
  test('hide and unhide need reviews.moderate in the tenant; the aggregates follow every change', async () => {
    const provider = await createUser(db, { role: 'provider' });
    const listing = await createListing(db, provider);
    const d1 = await deal({ provider, listing });
    const d2 = await deal({ provider, listing });
    const d3 = await deal({ provider, listing });
    const r1 = (await publishedPair(d1, 5, 4)).byCustomer;
    const r2 = (await publishedPair(d2, 2, 4)).byCustomer;
    assert.deepEqual(await assertConsistent(listing.id, provider.id), {
      listing_average: '3.50',
      listing_count: 2,
      listing_bayesian: bayesian(7, 2),
      profile_average: '3.50',
      profile_count: 2,
      profile_bayesian: bayesian(7, 2),
    });
    // An unpublished third review counts for nothing yet.
    const r3 = (await submit(d3.asCustomer, d3.bookingId, 1)).id;
    assert.equal((await assertConsistent(listing.id, provider.id)).listing_count, 2);

    for (const client of [d1.asCustomer, d1.asProvider, asStranger]) {
      const { error, status } = await client.rpc('hide_review', { review_id: r2, reason: 'spam' });
      assert.equal(status, 403);
      assert.equal(error?.message, 'permission denied: reviews.moderate is required');
    }
    assert.equal((await asForeignAdmin.rpc('hide_review', { review_id: r2, reason: 'spam' })).status, 404);
    assert.equal((await anon.rpc('hide_review', { review_id: r2, reason: 'spam' })).status, 401);
    const noReason = await asModerator.rpc('hide_review', { review_id: r2, reason: ' ' });
    assert.equal(noReason.status, 400);
    assert.equal((await row(r2))?.is_public, true);

    const hidden = await asModerator.rpc('hide_review', { review_id: r2, reason: 'Personal details in the text' });
    assert.equal(hidden.error, null);
    assert.equal(await sees(anon, r2), false);
    assert.equal(await sees(d2.asProvider, r2), false);
    const own = await d2.asCustomer.from('reviews').select('is_public, hidden_reason').eq('id', r2).single();
    assert.deepEqual(own.data, { is_public: false, hidden_reason: 'Personal details in the text' });
    assert.deepEqual(await assertConsistent(listing.id, provider.id), {
      listing_average: '5.00',
      listing_count: 1,
      listing_bayesian: bayesian(5, 1),
      profile_average: '5.00',
      profile_count: 1,
      profile_bayesian: bayesian(5, 1),
    });
    // Hidden reviews cannot be answered or voted on.
    assert.equal((await d2.asProvider.rpc('respond_to_review', { review_id: r2, response: 'Hm' })).status, 404);
    assert.equal((await asVoter.rpc('vote_review', { review_id: r2, helpful: false })).status, 404);

    assert.equal((await d1.asCustomer.rpc('unhide_review', { review_id: r2 })).status, 403);
    const shown = await asModerator.rpc('unhide_review', { review_id: r2 });
    assert.equal(shown.error, null);
    assert.equal(await sees(anon, r2), true);
    assert.equal((await assertConsistent(listing.id, provider.id)).listing_count, 2);

    // A trusted correction of the stars (service_role) and the window closing on r3.
    assert.equal((await service.from('reviews').update({ rating: 4 }).eq('id', r1)).error, null);
    assert.equal((await assertConsistent(listing.id, provider.id)).listing_average, '3.00');
    await db.query(sql`update public.reviews set publish_due_at = now() - interval '1 second' where id = ${r3}`);
    await service.rpc('publish_due_reviews');
    assert.deepEqual(await assertConsistent(listing.id, provider.id), {
      listing_average: '2.33',
      listing_count: 3,
      listing_bayesian: bayesian(7, 3),
      profile_average: '2.33',
      profile_count: 3,
      profile_bayesian: bayesian(7, 3),
    });
    // Purging a booking takes its reviews out of the averages.
    await service.from('bookings').delete().eq('id', d3.bookingId);
    assert.equal((await assertConsistent(listing.id, provider.id)).listing_count, 2);
  });

  test('a review of the provider on another listing counts for the provider, not this listing', async () => {
    const provider = await createUser(db, { role: 'provider' });
    const main = await createListing(db, provider);
    const other = await createListing(db, provider);
    await publishedPair(await deal({ provider, listing: main }), 5, 2);
    await publishedPair(await deal({ provider, listing: other }), 1, 2);
    const stats = await assertConsistent(main.id, provider.id);
    assert.deepEqual([stats?.listing_count, stats?.profile_count], [1, 2]);
  });

  test('verified means the booking was completed and paid; a later payment verifies it', async () => {
    const d = await deal();
    const first = await submit(d.asCustomer, d.bookingId, 4);
    assert.equal(first.is_verified, false);
    await db.query(sql`
      insert into public.transactions (user_id, booking_id, type, status, amount_cents, currency)
      values (${d.customer.id}, ${d.bookingId}, 'payment', 'completed', 8400, 'USD')`);
    assert.equal((await row(first.id))?.is_verified, true);
    const second = await submit(d.asProvider, d.bookingId, 5);
    assert.equal(second.is_verified, true);
    await db.query(sql`update public.transactions set status = 'refunded' where booking_id = ${d.bookingId}`);
    assert.equal((await row(first.id))?.is_verified, false);
  });
});

// ---------------------------------------------------------------------------------------------
// Table doors
// ---------------------------------------------------------------------------------------------

describe(`reviews: no direct table writes (${testBackend()})`, () => {
  test('clients cannot insert, change, un-hide or delete reviews through the table', async () => {
    const d = await deal();
    const { byCustomer } = await publishedPair(d, 2, 5);
    await asModerator.rpc('hide_review', { review_id: byCustomer, reason: 'Off topic' });
    const before = await row(byCustomer);

    const fresh = await deal();
    const insert = await fresh.asCustomer
      .from('reviews')
      .insert({ booking_id: fresh.bookingId, reviewer_id: fresh.customer.id, rating: 5 });
    assert.equal(insert.status, 403);
    assert.equal(insert.error?.code, '42501');
    assert.equal(await reviewsOf(fresh.bookingId), 0);
    const anonInsert = await anon.from('reviews').insert({ booking_id: fresh.bookingId, rating: 5 });
    assert.equal(anonInsert.status, 401);

    for (const [client, change] of [
      [d.asCustomer, { rating: 5 }],
      [d.asCustomer, { is_public: true }],
      [d.asCustomer, { hidden_at: null }],
      [d.asProvider, { response: 'Not true' }],
      [asModerator, { hidden_at: null }],
      [d.asCustomer, { published_at: null }],
    ] as [SupabaseClient, Record<string, unknown>][]) {
      const { status, error } = await client.from('reviews').update(change).eq('id', byCustomer);
      assert.equal(status, 403, JSON.stringify(change));
      assert.equal(error?.code, '42501');
    }
    for (const client of [d.asCustomer, asModerator]) {
      const { status } = await client.from('reviews').delete().eq('id', byCustomer);
      assert.equal(status, 403);
    }
    assert.deepEqual(await row(byCustomer), before);
  });
});
