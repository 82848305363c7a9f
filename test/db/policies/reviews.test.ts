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
 * 0007 reviews (+ 0022): reviews (two-way, of completed bookings, double-blind), responses,
 * review_votes and the rating aggregates on listings and user_profiles. Acts as anon, an
 * unrelated user, the reviewer, the reviewee and moderators (reviews.moderate). Clients write
 * reviews only through the 0022 functions (test/workflows/reviews.test.ts covers them over
 * REST); here: the SQL door to the same functions, the table doors that stay shut, and what
 * trusted writers (service_role, the demo seed) get from the triggers.
 */

let db: TestDatabase;
let tenantId: string;
let otherTenantId: string;
let admin: UserFixture; // role admin: reviews.moderate in the default tenant
let moderator: UserFixture; // a customer granted reviews.moderate only
let foreignAdmin: UserFixture; // role admin of another tenant
let stranger: UserFixture; // signed in, party to nothing
let voter: UserFixture; // another unrelated user

before(async () => {
  db = await getTestDatabase();
  tenantId = await defaultTenantId(db);
  otherTenantId = await createTenant(db);
  admin = await createUser(db, { role: 'admin' });
  moderator = await createUser(db);
  await grantPermission(db, moderator, 'reviews.moderate');
  foreignAdmin = await createUser(db, { role: 'admin', tenantId: otherTenantId });
  stranger = await createUser(db);
  voter = await createUser(db);
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

let slot = 0;

interface Deal {
  provider: UserFixture;
  customer: UserFixture;
  listing: ListingFixture;
  bookingId: string;
}

/** A provider, a customer, a listing and a booking between them (completed yesterday unless told). */
async function deal(
  options: { status?: string; provider?: UserFixture; listing?: ListingFixture } = {},
): Promise<Deal> {
  const provider = options.provider ?? (await createUser(db, { role: 'provider' }));
  const listing = options.listing ?? (await createListing(db, provider));
  const customer = await createUser(db);
  const { id } = await createBooking(db, listing, customer, {
    status: options.status ?? 'completed',
    startsInHours: -1000 + 2 * slot++,
  });
  await db.query(sql`update public.bookings set completed_at = now() - interval '1 day'
                     where id = ${id} and status = 'completed'`);
  return { provider, customer, listing, bookingId: id };
}

/** A review written by a trusted writer (the test's owner connection), published unless told. */
async function reviewed(bookingId: string, reviewer: UserFixture, rating = 4, published = true): Promise<string> {
  return (
    await one<{ id: string }>(
      db,
      sql`insert into public.reviews (booking_id, reviewer_id, rating, comment, published_at)
          values (${bookingId}, ${reviewer.id}, ${rating}, 'Fixed the leak in no time.',
                  case when ${published}::boolean then now() end) returning id`,
    )
  ).id;
}

/** Submits a review as the signed-in reviewer through the SQL door of submit_review. */
const submit = (tx: Queryable, bookingId: string, rating: number | null = 5) =>
  one(
    tx,
    sql`select reviewer_id, reviewee_id, listing_id, tenant_id, rating, is_public, published_at is null as blind,
               is_verified, response, responded_at, helpful_count, not_helpful_count
          from public.submit_review(booking_id => ${bookingId}, rating => ${rating}::int, title => 'Great',
                                    comment => 'On time and tidy.')`,
  );

/** Commits a change as a signed-in user. */
const commitAs = (who: UserFixture, query: Query) => asUser(db, who.clerkId, (tx) => tx.query(query), { commit: true });

const counts = async (reviewId: string) =>
  one(db, sql`select helpful_count, not_helpful_count from public.reviews where id = ${reviewId}`);

// ---------------------------------------------------------------------------
// Writing reviews
// ---------------------------------------------------------------------------

describe(`writing reviews (${testBackend()})`, () => {
  test('the customer reviews a completed booking; reviewee, listing and tenant come from the booking', async () => {
    const { provider, customer, listing, bookingId } = await deal();
    const row = await asUser(db, customer.clerkId, (tx) => submit(tx, bookingId, 5));
    assert.deepEqual(row, {
      reviewer_id: customer.id,
      reviewee_id: provider.id,
      listing_id: listing.id,
      tenant_id: tenantId,
      rating: 5,
      is_public: false,
      blind: true,
      is_verified: false,
      response: null,
      responded_at: null,
      helpful_count: 0,
      not_helpful_count: 0,
    });
  });

  test('the provider reviews the customer of the same booking; the second review publishes both', async () => {
    const { provider, customer, listing, bookingId } = await deal();
    await reviewed(bookingId, customer, 4, false);
    const row = await asUser(db, provider.clerkId, (tx) => submit(tx, bookingId, 3));
    assert.deepEqual(
      [row.reviewer_id, row.reviewee_id, row.listing_id, row.tenant_id, row.is_public],
      [provider.id, customer.id, listing.id, tenantId, true],
    );
  });

  test('clients cannot write the reviews table, whatever the columns', async () => {
    const { customer, bookingId } = await deal();
    for (const who of [customer, admin, moderator]) {
      await assert.rejects(
        asUser(db, who.clerkId, (tx) =>
          tx.query(
            sql`insert into public.reviews (booking_id, reviewer_id, rating) values (${bookingId}, ${who.id}, 5)`,
          ),
        ),
        { code: '42501' },
        who.clerkId,
      );
    }
    await assert.rejects(
      asUser(db, null, (tx) =>
        tx.query(
          sql`insert into public.reviews (booking_id, reviewer_id, rating) values (${bookingId}, ${customer.id}, 5)`,
        ),
      ),
      { code: '42501' },
    );
    assert.equal(await count(db, sql`select 1 from public.reviews where booking_id = ${bookingId}`), 0);
  });

  test("a trusted writer's reviewee, listing, tenant, response, counters and verification come from the booking", async () => {
    const { provider, customer, listing, bookingId } = await deal();
    const other = await deal();
    const row = await one(
      db,
      sql`insert into public.reviews (booking_id, reviewer_id, reviewee_id, listing_id, tenant_id, rating, is_verified,
                                      response, responded_at, helpful_count, not_helpful_count, is_public)
          values (${bookingId}, ${customer.id}, ${customer.id}, ${other.listing.id}, ${otherTenantId}, 4, true,
                  'Planted', now(), 50, 7, true)
          returning reviewee_id, listing_id, tenant_id, is_verified, response, responded_at, helpful_count,
                    not_helpful_count, is_public, published_at, publish_due_at - now() > interval '12 days' as due`,
    );
    assert.deepEqual(row, {
      reviewee_id: provider.id,
      listing_id: listing.id,
      tenant_id: tenantId,
      is_verified: false,
      response: null,
      responded_at: null,
      helpful_count: 0,
      not_helpful_count: 0,
      is_public: false,
      published_at: null,
      due: true,
    });
  });

  test('only a completed booking can be reviewed', async () => {
    for (const status of ['pending', 'confirmed', 'in_progress', 'cancelled', 'disputed', 'refunded']) {
      const { customer, bookingId } = await deal({ status });
      await assert.rejects(
        asUser(db, customer.clerkId, (tx) => submit(tx, bookingId)),
        { code: '23514', message: `only a completed booking can be reviewed; this one is ${status}` },
      );
      await assert.rejects(reviewed(bookingId, customer), {
        code: '23514',
        message: 'only a completed booking can be reviewed',
      });
    }
  });

  test("only the booking's parties review it; outsiders learn nothing about it", async () => {
    const { bookingId } = await deal();
    const pending = await deal({ status: 'pending' });
    for (const outsider of [stranger, admin]) {
      for (const id of [bookingId, pending.bookingId]) {
        await assert.rejects(
          asUser(db, outsider.clerkId, (tx) => submit(tx, id)),
          {
            code: 'PT404',
            message: `booking ${id} not found`,
          },
        );
      }
    }
    await assert.rejects(
      asUser(db, null, (tx) => submit(tx, bookingId)),
      { code: '42501' },
    );
    await assert.rejects(reviewed(bookingId, stranger), {
      code: '23514',
      message: "only the booking's customer or provider can review it",
    });
  });

  test('a booking that does not exist cannot be reviewed', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    await assert.rejects(
      asUser(db, stranger.clerkId, (tx) => submit(tx, missing)),
      {
        code: 'PT404',
        message: `booking ${missing} not found`,
      },
    );
    await assert.rejects(reviewed(missing, stranger), { code: '23503', message: `booking ${missing} does not exist` });
  });

  test('one review per direction: a second one is a unique violation', async () => {
    const { provider, customer, bookingId } = await deal();
    await reviewed(bookingId, customer, 4, false);
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => submit(tx, bookingId)),
      {
        code: '23505',
        message: 'you have already reviewed this booking',
      },
    );
    await assert.rejects(reviewed(bookingId, customer), { code: '23505' });
    const other = await asUser(db, provider.clerkId, (tx) => submit(tx, bookingId));
    assert.equal(other.reviewee_id, customer.id);
  });

  test('the reviewer is never the reviewee', async () => {
    const { customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer);
    await assert.rejects(db.query(sql`update public.reviews set reviewee_id = reviewer_id where id = ${id}`), {
      code: '23514',
      message: "a review's booking and parties cannot change",
    });
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) =>
        tx.query(sql`update public.reviews set reviewee_id = ${customer.id} where id = ${id}`),
      ),
      { code: '42501' },
    );
  });

  test('ratings are whole stars from 1 to 5', async () => {
    const { customer, bookingId } = await deal();
    for (const rating of [0, 6, -1, null]) {
      await assert.rejects(
        asUser(db, customer.clerkId, (tx) => submit(tx, bookingId, rating)),
        { code: '22023' },
        String(rating),
      );
    }
    for (const column of ['quality_rating', 'communication_rating', 'timeliness_rating', 'value_rating']) {
      for (const rating of [0, 6]) {
        await assert.rejects(
          db.query(sql`insert into public.reviews (booking_id, reviewer_id, rating, ${sql.ident(column)})
                       values (${bookingId}, ${customer.id}, 5, ${rating})`),
          { code: '23514' },
          `${column} ${rating}`,
        );
      }
    }
    for (const rating of [1, 5]) {
      assert.equal((await asUser(db, customer.clerkId, (tx) => submit(tx, bookingId, rating))).rating, rating);
    }
  });

  test('a new review tells the reviewee that it arrived, not what it says', async () => {
    const { provider, customer, bookingId } = await deal();
    const id = await asUser(
      db,
      customer.clerkId,
      async (tx) =>
        (
          await one<{ id: string }>(
            tx,
            sql`select id from public.submit_review(booking_id => ${bookingId}, rating => 4)`,
          )
        ).id,
      { commit: true },
    );
    const sent = await rows(
      db,
      sql`select user_id, sender_id, type::text, title, data from public.notifications
          where data ->> 'review_id' = ${id}`,
    );
    assert.deepEqual(sent, [
      {
        user_id: provider.id,
        sender_id: customer.id,
        type: 'review_received',
        title: 'You received a review',
        data: { review_id: id, booking_id: bookingId, published: false },
      },
    ]);
  });
});

// ---------------------------------------------------------------------------
// Changing reviews
// ---------------------------------------------------------------------------

describe(`changing reviews (${testBackend()})`, () => {
  test('no client changes or deletes a review through the table, its parties and moderators included', async () => {
    const { provider, customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer, 2);
    const other = await deal();
    for (const who of [customer, provider, stranger, admin, moderator, foreignAdmin]) {
      for (const change of [
        sql`rating = 5`,
        sql`comment = 'Perfect'`,
        sql`response = 'Thanks'`,
        sql`is_public = true`,
        sql`hidden_at = null`,
        sql`published_at = now()`,
        sql`booking_id = ${other.bookingId}`,
        sql`helpful_count = 100`,
        sql`is_verified = true`,
      ]) {
        await assert.rejects(
          asUser(db, who.clerkId, (tx) => tx.query(sql`update public.reviews set ${change} where id = ${id}`)),
          { code: '42501' },
          `${who.clerkId} ${change.text}`,
        );
      }
      await assert.rejects(
        asUser(db, who.clerkId, (tx) => tx.query(sql`delete from public.reviews where id = ${id}`)),
        { code: '42501' },
      );
    }
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`update public.reviews set rating = 5 where id = ${id}`)),
      { code: '42501' },
    );
    const after = await one(db, sql`select rating, response from public.reviews where id = ${id}`);
    assert.deepEqual(after, { rating: 2, response: null });
  });

  test('a trusted response is stamped, and the stamp cleared with it', async () => {
    const { customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer);
    const answered = await one(
      db,
      sql`update public.reviews set response = 'Thank you!' where id = ${id} returning response, responded_at is not null as stamped`,
    );
    const withdrawn = await one(
      db,
      sql`update public.reviews set response = null where id = ${id} returning response, responded_at`,
    );
    assert.deepEqual(
      { answered, withdrawn },
      {
        answered: { response: 'Thank you!', stamped: true },
        withdrawn: { response: null, responded_at: null },
      },
    );
  });

  test('is_public is derived from publication and moderation, whatever a trusted writer sends', async () => {
    const { customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer, 4, false);
    const state = (change: Query) =>
      one(db, sql`update public.reviews set ${change} where id = ${id} returning is_public`);
    assert.deepEqual(await state(sql`is_public = true`), { is_public: false });
    assert.deepEqual(await state(sql`published_at = now()`), { is_public: true });
    assert.deepEqual(await state(sql`hidden_at = now(), hidden_reason = 'spam'`), { is_public: false });
    assert.deepEqual(await state(sql`hidden_at = null`), { is_public: true });
    const cleared = await one(db, sql`select hidden_reason, hidden_by from public.reviews where id = ${id}`);
    assert.deepEqual(cleared, { hidden_reason: null, hidden_by: null });
  });
});

// ---------------------------------------------------------------------------
// Reading reviews
// ---------------------------------------------------------------------------

describe(`reading reviews (${testBackend()})`, () => {
  let open: Deal;
  let openId: string;
  let blind: Deal;
  let blindId: string;
  let hidden: Deal;
  let hiddenId: string;

  before(async () => {
    open = await deal();
    openId = await reviewed(open.bookingId, open.customer, 5);
    blind = await deal();
    blindId = await reviewed(blind.bookingId, blind.customer, 1, false);
    hidden = await deal();
    hiddenId = await reviewed(hidden.bookingId, hidden.customer, 1);
    await db.query(sql`update public.reviews set hidden_at = now(), hidden_reason = 'spam' where id = ${hiddenId}`);
  });

  const sees = (clerkId: string | null, id: string) =>
    asUser(db, clerkId, (tx) => count(tx, sql`select 1 from public.reviews where id = ${id}`));

  test('a published review is read by anyone in the tenant, anonymous callers included', async () => {
    for (const who of [null, stranger.clerkId, open.customer.clerkId, open.provider.clerkId, admin.clerkId]) {
      assert.equal(await sees(who, openId), 1, String(who));
    }
  });

  test('another tenant reads none of its reviews, even a published one', async () => {
    assert.equal(await sees(foreignAdmin.clerkId, openId), 0);
    const anonThere = await asRole(db, 'anon', { role: 'anon', tenant_id: otherTenantId }, (tx) =>
      count(tx, sql`select 1 from public.reviews where id = ${openId}`),
    );
    assert.equal(anonThere, 0);
  });

  test("an unpublished review is read only by its author and the tenant's moderators, not by the reviewee", async () => {
    for (const [who, n] of [
      [null, 0],
      [stranger.clerkId, 0],
      [foreignAdmin.clerkId, 0],
      [blind.provider.clerkId, 0],
      [blind.customer.clerkId, 1],
      [admin.clerkId, 1],
      [moderator.clerkId, 1],
    ] as const) {
      assert.equal(await sees(who, blindId), n, String(who));
    }
  });

  test("a hidden review is read only by its author and the tenant's moderators", async () => {
    for (const [who, n] of [
      [null, 0],
      [stranger.clerkId, 0],
      [hidden.provider.clerkId, 0],
      [hidden.customer.clerkId, 1],
      [moderator.clerkId, 1],
    ] as const) {
      assert.equal(await sees(who, hiddenId), n, String(who));
    }
  });
});

// ---------------------------------------------------------------------------
// Aggregates on listings and user_profiles
// ---------------------------------------------------------------------------

describe(`rating aggregates (${testBackend()})`, () => {
  const listingStats = async (listing: ListingFixture) =>
    one(
      db,
      sql`select rating_average::text as avg, review_count as n, rating_bayesian::text as bayes
          from public.listings where id = ${listing.id}`,
    );
  const profileStats = async (user: UserFixture) =>
    one(
      db,
      sql`select rating_average::text as avg, review_count as n, rating_bayesian::text as bayes
          from public.user_profiles where user_id = ${user.id}`,
    );
  const stats = (avg: string | null, n: number, sum = 0) => ({ avg, n, bayes: ((15 + sum) / (5 + n)).toFixed(4) });

  test('listing and profile averages are exact after reviews are written, published, re-rated, hidden and deleted', async () => {
    const provider = await createUser(db, { role: 'provider' });
    const main = await createListing(db, provider);
    const second = await createListing(db, provider);
    const d1 = await deal({ provider, listing: main });
    const d2 = await deal({ provider, listing: main });
    const d3 = await deal({ provider, listing: main });
    const d4 = await deal({ provider, listing: second });
    assert.deepEqual(await listingStats(main), stats(null, 0));
    assert.deepEqual(await profileStats(provider), stats(null, 0));

    const r1 = await reviewed(d1.bookingId, d1.customer, 5);
    assert.deepEqual(await listingStats(main), stats('5.00', 1, 5));
    assert.deepEqual(await profileStats(provider), stats('5.00', 1, 5));
    const r2 = await reviewed(d2.bookingId, d2.customer, 4);
    assert.deepEqual(await listingStats(main), stats('4.50', 2, 9));
    // Unpublished: not counted until the provider's review of d3 publishes it.
    const r3 = await reviewed(d3.bookingId, d3.customer, 2, false);
    assert.deepEqual(await listingStats(main), stats('4.50', 2, 9));
    await asUser(db, d3.provider.clerkId, (tx) => submit(tx, d3.bookingId, 5), { commit: true });
    assert.deepEqual(await listingStats(main), stats('3.67', 3, 11));
    assert.deepEqual(await profileStats(provider), stats('3.67', 3, 11));
    assert.deepEqual(await profileStats(d3.customer), stats('5.00', 1, 5));

    // A review of the provider's other listing counts for the provider, not for this listing.
    await reviewed(d4.bookingId, d4.customer, 1);
    assert.deepEqual(await listingStats(main), stats('3.67', 3, 11));
    assert.deepEqual(await listingStats(second), stats('1.00', 1, 1));
    assert.deepEqual(await profileStats(provider), stats('3.00', 4, 12));

    // The provider's review of a customer counts for the customer, not for the listing.
    await reviewed(d1.bookingId, provider, 3);
    assert.deepEqual(await listingStats(main), stats('3.67', 3, 11));
    assert.deepEqual(await profileStats(d1.customer), stats('3.00', 1, 3));

    // Re-rated 2 → 5 (a trusted correction).
    await db.query(sql`update public.reviews set rating = 5 where id = ${r3}`);
    assert.deepEqual(await listingStats(main), stats('4.67', 3, 14));
    assert.deepEqual(await profileStats(provider), stats('3.75', 4, 15));

    // Hidden by a moderator: out of every average; shown again: back in.
    await commitAs(admin, sql`select public.hide_review(${r2}, 'spam')`);
    assert.deepEqual(await listingStats(main), stats('5.00', 2, 10));
    assert.deepEqual(await profileStats(provider), stats('3.67', 3, 11));
    await commitAs(moderator, sql`select public.unhide_review(${r2})`);
    assert.deepEqual(await listingStats(main), stats('4.67', 3, 14));
    await commitAs(moderator, sql`select public.hide_review(${r2}, 'spam')`);

    // A response changes no average.
    await db.query(sql`update public.reviews set response = 'Thanks' where id = ${r1}`);
    assert.deepEqual(await listingStats(main), stats('5.00', 2, 10));

    // Removed by moderators.
    await commitAs(admin, sql`select public.delete_review(${r1})`);
    assert.deepEqual(await listingStats(main), stats('5.00', 1, 5));
    assert.deepEqual(await profileStats(provider), stats('3.00', 2, 6));
    await commitAs(moderator, sql`select public.delete_review(${r3})`);
    assert.deepEqual(await listingStats(main), stats(null, 0));
    assert.deepEqual(await profileStats(provider), stats('1.00', 1, 1));
  });

  test("a purged booking's reviews leave the averages", async () => {
    const provider = await createUser(db, { role: 'provider' });
    const listing = await createListing(db, provider);
    const kept = await deal({ provider, listing });
    const purged = await deal({ provider, listing });
    await reviewed(kept.bookingId, kept.customer, 5);
    await reviewed(purged.bookingId, purged.customer, 2);
    assert.deepEqual(await listingStats(listing), stats('3.50', 2, 7));
    await asRole(
      db,
      'service_role',
      { role: 'service_role' },
      (tx) => tx.query(sql`delete from public.bookings where id = ${purged.bookingId}`),
      { commit: true },
    );
    assert.deepEqual(await listingStats(listing), stats('5.00', 1, 5));
    assert.deepEqual(await profileStats(provider), stats('5.00', 1, 5));
  });

  test('clients cannot write ratings or counters on listings and profiles', async () => {
    const { provider, listing } = await deal();
    for (const statement of [
      sql`update public.listings set rating_average = 5 where id = ${listing.id}`,
      sql`update public.listings set review_count = 100 where id = ${listing.id}`,
      sql`update public.listings set rating_bayesian = 5 where id = ${listing.id}`,
      sql`update public.user_profiles set rating_average = 5 where user_id = ${provider.id}`,
      sql`update public.user_profiles set review_count = 100 where user_id = ${provider.id}`,
      sql`update public.user_profiles set rating_bayesian = 5 where user_id = ${provider.id}`,
    ]) {
      await assert.rejects(
        asUser(db, provider.clerkId, (tx) => tx.query(statement)),
        { code: '42501' },
        statement.text,
      );
    }
  });
});

// ---------------------------------------------------------------------------
// review_votes
// ---------------------------------------------------------------------------

describe(`review_votes (${testBackend()})`, () => {
  const vote = (who: UserFixture, reviewId: string, helpful: boolean, options: { as?: string } = {}) =>
    asUser(
      db,
      who.clerkId,
      (tx) =>
        tx.query(sql`insert into public.review_votes (review_id, user_id, is_helpful)
                     values (${reviewId}, ${options.as ?? who.id}, ${helpful})`),
      { commit: true },
    );

  test('a reader votes once per review, and the counts follow votes, changes and withdrawals', async () => {
    const { customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer);
    await vote(stranger, id, true);
    assert.deepEqual(await counts(id), { helpful_count: 1, not_helpful_count: 0 });
    await assert.rejects(vote(stranger, id, false), { code: '23505' });
    await vote(voter, id, false);
    assert.deepEqual(await counts(id), { helpful_count: 1, not_helpful_count: 1 });
    await commitAs(stranger, sql`update public.review_votes set is_helpful = false where review_id = ${id}`);
    assert.deepEqual(await counts(id), { helpful_count: 0, not_helpful_count: 2 });
    await commitAs(stranger, sql`delete from public.review_votes where review_id = ${id}`);
    assert.deepEqual(await counts(id), { helpful_count: 0, not_helpful_count: 1 });
    // Only their own vote went: the other voter's remains.
    const left = await rows(db, sql`select user_id from public.review_votes where review_id = ${id}`);
    assert.deepEqual(left, [{ user_id: voter.id }]);
  });

  test('the reviewer and the reviewee cannot vote on the review', async () => {
    const { provider, customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer);
    for (const party of [customer, provider]) {
      await assert.rejects(vote(party, id, true), {
        code: '23514',
        message: 'you cannot vote on a review you wrote or received',
      });
    }
    assert.deepEqual(await counts(id), { helpful_count: 0, not_helpful_count: 0 });
  });

  test("nobody votes in someone else's name, and anonymous callers do not vote", async () => {
    const { customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer);
    await assert.rejects(vote(stranger, id, true, { as: voter.id }), { code: '42501' });
    await assert.rejects(
      asUser(db, null, (tx) =>
        tx.query(
          sql`insert into public.review_votes (review_id, user_id, is_helpful) values (${id}, ${voter.id}, true)`,
        ),
      ),
      { code: '42501' },
    );
    assert.deepEqual(await counts(id), { helpful_count: 0, not_helpful_count: 0 });
  });

  test('a review the voter cannot read cannot be voted on', async () => {
    const { customer, bookingId } = await deal();
    const hidden = await reviewed(bookingId, customer, 3, false);
    await assert.rejects(vote(stranger, hidden, true), { code: '42501' });
    const other = await deal();
    const open = await reviewed(other.bookingId, other.customer, 3);
    await assert.rejects(vote(foreignAdmin, open, true), { code: '42501' });
    // A moderator reads the unpublished review but cannot vote on it either.
    await assert.rejects(vote(moderator, hidden, true), {
      code: '23514',
      message: 'only published reviews can be voted on',
    });
  });

  test('users see only their own votes and change only their own', async () => {
    const { customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer);
    await vote(stranger, id, true);
    await vote(voter, id, true);
    const mine = (clerkId: string) =>
      asUser(db, clerkId, (tx) =>
        rows<{ user_id: string }>(tx, sql`select user_id from public.review_votes where review_id = ${id}`),
      );
    assert.deepEqual(await mine(stranger.clerkId), [{ user_id: stranger.id }]);
    assert.deepEqual(await mine(voter.clerkId), [{ user_id: voter.id }]);
    assert.deepEqual(await mine(customer.clerkId), []);
    assert.deepEqual(await mine(admin.clerkId), []);
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`select 1 from public.review_votes`)),
      { code: '42501' },
    );
    const touched = await asUser(db, stranger.clerkId, async (tx) => [
      (await tx.query(sql`update public.review_votes set is_helpful = false where user_id = ${voter.id}`)).rowCount,
      (await tx.query(sql`delete from public.review_votes where user_id = ${voter.id}`)).rowCount,
    ]);
    assert.deepEqual(touched, [0, 0]);
    for (const change of [sql`user_id = ${voter.id}`, sql`review_id = ${(await deal()).bookingId}`]) {
      await assert.rejects(
        asUser(db, stranger.clerkId, (tx) =>
          tx.query(sql`update public.review_votes set ${change} where user_id = ${stranger.id}`),
        ),
        { code: '42501' },
        change.text,
      );
    }
    assert.deepEqual(await counts(id), { helpful_count: 2, not_helpful_count: 0 });
  });

  test('a deleted review takes its votes with it', async () => {
    const { customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer);
    await vote(stranger, id, true);
    await commitAs(moderator, sql`select public.delete_review(${id})`);
    assert.equal(await count(db, sql`select 1 from public.review_votes where review_id = ${id}`), 0);
  });
});
