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
 * 0007 reviews: reviews (two-way, of completed bookings), responses, review_votes and the rating
 * aggregates on listings and user_profiles. Acts as anon, an unrelated user, the reviewer, the
 * reviewee and moderators (reviews.moderate).
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

/** A provider, a customer, a listing and a booking between them (completed unless told). */
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
  return { provider, customer, listing, bookingId: id };
}

/** A review written as the owner (trusted), e.g. to set up a scenario. */
async function reviewed(bookingId: string, reviewer: UserFixture, rating = 4, isPublic = true): Promise<string> {
  return (
    await one<{ id: string }>(
      db,
      sql`insert into public.reviews (booking_id, reviewer_id, rating, comment, is_public)
          values (${bookingId}, ${reviewer.id}, ${rating}, 'Fixed the leak in no time.', ${isPublic}) returning id`,
    )
  ).id;
}

/** Writes a review as the signed-in reviewer. */
const write = (tx: Queryable, bookingId: string, reviewerId: string, rating = 5) =>
  one(
    tx,
    sql`insert into public.reviews (booking_id, reviewer_id, rating, title, comment)
        values (${bookingId}, ${reviewerId}, ${rating}, 'Great', 'On time and tidy.')
        returning reviewer_id, reviewee_id, listing_id, tenant_id, rating, is_public, is_verified, response,
                  responded_at, helpful_count, not_helpful_count`,
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
    const row = await asUser(db, customer.clerkId, (tx) => write(tx, bookingId, customer.id, 5));
    assert.deepEqual(row, {
      reviewer_id: customer.id,
      reviewee_id: provider.id,
      listing_id: listing.id,
      tenant_id: tenantId,
      rating: 5,
      is_public: true,
      is_verified: true,
      response: null,
      responded_at: null,
      helpful_count: 0,
      not_helpful_count: 0,
    });
  });

  test('the provider reviews the customer of the same booking', async () => {
    const { provider, customer, listing, bookingId } = await deal();
    const row = await asUser(db, provider.clerkId, (tx) => write(tx, bookingId, provider.id, 3));
    assert.deepEqual(
      [row.reviewer_id, row.reviewee_id, row.listing_id, row.tenant_id],
      [provider.id, customer.id, listing.id, tenantId],
    );
  });

  test('clients cannot send the reviewee, listing, tenant, response, verification or counters', async () => {
    const { customer, bookingId } = await deal();
    for (const [column, value] of [
      ['reviewee_id', customer.id],
      ['listing_id', (await deal()).listing.id],
      ['tenant_id', otherTenantId],
      ['response', 'Thanks!'],
      ['responded_at', new Date().toISOString()],
      ['is_verified', false],
      ['helpful_count', 99],
      ['not_helpful_count', 99],
    ] as const) {
      await assert.rejects(
        asUser(db, customer.clerkId, (tx) =>
          tx.query(sql`insert into public.reviews (booking_id, reviewer_id, rating, ${sql.ident(column)})
                       values (${bookingId}, ${customer.id}, 5, ${value})`),
        ),
        { code: '42501' },
        column,
      );
    }
  });

  test("a trusted writer's reviewee, listing, tenant, response and counters are overwritten from the booking", async () => {
    const { provider, customer, listing, bookingId } = await deal();
    const other = await deal();
    const row = await one(
      db,
      sql`insert into public.reviews (booking_id, reviewer_id, reviewee_id, listing_id, tenant_id, rating, is_verified,
                                      response, responded_at, helpful_count, not_helpful_count)
          values (${bookingId}, ${customer.id}, ${customer.id}, ${other.listing.id}, ${otherTenantId}, 4, false,
                  'Planted', now(), 50, 7)
          returning reviewee_id, listing_id, tenant_id, is_verified, response, responded_at, helpful_count,
                    not_helpful_count`,
    );
    assert.deepEqual(row, {
      reviewee_id: provider.id,
      listing_id: listing.id,
      tenant_id: tenantId,
      is_verified: true,
      response: null,
      responded_at: null,
      helpful_count: 0,
      not_helpful_count: 0,
    });
  });

  test('only a completed booking can be reviewed', async () => {
    for (const status of ['pending', 'confirmed', 'in_progress', 'cancelled', 'disputed', 'refunded']) {
      const { customer, bookingId } = await deal({ status });
      await assert.rejects(
        asUser(db, customer.clerkId, (tx) => write(tx, bookingId, customer.id)),
        {
          code: '23514',
          message: 'only a completed booking can be reviewed',
        },
      );
    }
  });

  test("only the booking's parties review it", async () => {
    const { customer, bookingId } = await deal();
    for (const outsider of [stranger, admin]) {
      await assert.rejects(
        asUser(db, outsider.clerkId, (tx) => write(tx, bookingId, outsider.id)),
        {
          code: '23514',
          message: "only the booking's customer or provider can review it",
        },
      );
    }
    // An outsider learns nothing about a booking's status either.
    const pending = await deal({ status: 'pending' });
    await assert.rejects(
      asUser(db, stranger.clerkId, (tx) => write(tx, pending.bookingId, stranger.id)),
      {
        code: '23514',
        message: "only the booking's customer or provider can review it",
      },
    );
    // Writing in the customer's name is refused by the policy.
    await assert.rejects(
      asUser(db, stranger.clerkId, (tx) => write(tx, bookingId, customer.id)),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, null, (tx) => write(tx, bookingId, customer.id)),
      { code: '42501' },
    );
  });

  test('a booking that does not exist cannot be reviewed', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    await assert.rejects(
      asUser(db, stranger.clerkId, (tx) => write(tx, missing, stranger.id)),
      { code: '23503', message: `booking ${missing} does not exist` },
    );
  });

  test('one review per direction: a second one is a unique violation', async () => {
    const { provider, customer, bookingId } = await deal();
    await reviewed(bookingId, customer);
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => write(tx, bookingId, customer.id)),
      { code: '23505' },
    );
    const other = await asUser(db, provider.clerkId, (tx) => write(tx, bookingId, provider.id));
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
    for (const rating of [0, 6, -1]) {
      await assert.rejects(
        asUser(db, customer.clerkId, (tx) => write(tx, bookingId, customer.id, rating)),
        { code: '23514' },
        String(rating),
      );
    }
    for (const column of ['quality_rating', 'communication_rating', 'timeliness_rating', 'value_rating']) {
      for (const rating of [0, 6]) {
        await assert.rejects(
          asUser(db, customer.clerkId, (tx) =>
            tx.query(sql`insert into public.reviews (booking_id, reviewer_id, rating, ${sql.ident(column)})
                         values (${bookingId}, ${customer.id}, 5, ${rating})`),
          ),
          { code: '23514' },
          `${column} ${rating}`,
        );
      }
    }
    for (const rating of [1, 5]) {
      assert.equal(
        (await asUser(db, customer.clerkId, (tx) => write(tx, bookingId, customer.id, rating))).rating,
        rating,
      );
    }
  });

  test('a new review tells the reviewee', async () => {
    const { provider, customer, bookingId } = await deal();
    const id = await asUser(
      db,
      customer.clerkId,
      async (tx) =>
        (
          await one<{ id: string }>(
            tx,
            sql`
        insert into public.reviews (booking_id, reviewer_id, rating, comment)
        values (${bookingId}, ${customer.id}, 4, 'Quick and friendly.') returning id`,
          )
        ).id,
      { commit: true },
    );
    const sent = await rows(
      db,
      sql`select user_id, sender_id, type::text, title, body, data from public.notifications
          where data ->> 'review_id' = ${id}`,
    );
    assert.deepEqual(sent, [
      {
        user_id: provider.id,
        sender_id: customer.id,
        type: 'review_received',
        title: 'New 4-star review',
        body: 'Quick and friendly.',
        data: { review_id: id, booking_id: bookingId },
      },
    ]);
  });
});

// ---------------------------------------------------------------------------
// Editing and responding
// ---------------------------------------------------------------------------

describe(`editing and responding to reviews (${testBackend()})`, () => {
  test('the reviewee responds: responded_at is set, and cleared with the response', async () => {
    const { provider, customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer);
    const seen = await asUser(db, provider.clerkId, async (tx) => {
      const answered = await one(
        tx,
        sql`update public.reviews set response = 'Thank you!' where id = ${id}
            returning response, responded_at = now() as stamped`,
      );
      const withdrawn = await one(
        tx,
        sql`update public.reviews set response = null where id = ${id} returning response, responded_at`,
      );
      return { answered, withdrawn };
    });
    assert.deepEqual(seen, {
      answered: { response: 'Thank you!', stamped: true },
      withdrawn: { response: null, responded_at: null },
    });
  });

  test('the reviewee may only respond: not rate, retitle, reword or hide', async () => {
    const { provider, customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer, 2);
    for (const change of [
      sql`rating = 5`,
      sql`title = 'Best ever'`,
      sql`comment = 'Perfect'`,
      sql`is_public = false`,
      sql`quality_rating = 5`,
      sql`rating = 5, response = 'Glad you liked it'`,
    ]) {
      await assert.rejects(
        asUser(db, provider.clerkId, (tx) => tx.query(sql`update public.reviews set ${change} where id = ${id}`)),
        { code: '42501', message: 'the reviewee may only respond to a review' },
        change.text,
      );
    }
  });

  test('the reviewer edits their rating and words but cannot respond', async () => {
    const { customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer, 2);
    const edited = await asUser(db, customer.clerkId, (tx) =>
      one(
        tx,
        sql`update public.reviews set rating = 3, comment = 'Better on the second visit', value_rating = 4
            where id = ${id} returning rating, comment, value_rating`,
      ),
    );
    assert.deepEqual(edited, { rating: 3, comment: 'Better on the second visit', value_rating: 4 });
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) =>
        tx.query(sql`update public.reviews set response = 'me too' where id = ${id}`),
      ),
      { code: '42501', message: 'only the reviewee can respond to a review' },
    );
  });

  test('nobody else edits a review, and no party changes its booking, parties, counters or stamps', async () => {
    const { provider, customer, bookingId } = await deal();
    const id = await reviewed(bookingId, customer, 2);
    for (const outsider of [stranger, admin, moderator, foreignAdmin]) {
      const changed = await asUser(db, outsider.clerkId, (tx) =>
        tx.query(sql`update public.reviews set rating = 5, response = 'hi' where id = ${id}`),
      );
      assert.equal(changed.rowCount, 0, outsider.clerkId);
    }
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`update public.reviews set rating = 5 where id = ${id}`)),
      { code: '42501' },
    );
    const other = await deal();
    for (const who of [customer, provider]) {
      for (const change of [
        sql`booking_id = ${other.bookingId}`,
        sql`reviewer_id = ${stranger.id}`,
        sql`listing_id = ${other.listing.id}`,
        sql`tenant_id = ${otherTenantId}`,
        sql`helpful_count = 100`,
        sql`not_helpful_count = 0`,
        sql`responded_at = now()`,
        sql`is_verified = false`,
        sql`created_at = now() - interval '1 year'`,
      ]) {
        await assert.rejects(
          asUser(db, who.clerkId, (tx) => tx.query(sql`update public.reviews set ${change} where id = ${id}`)),
          { code: '42501' },
          change.text,
        );
      }
    }
    const after = await one(db, sql`select rating, response from public.reviews where id = ${id}`);
    assert.deepEqual(after, { rating: 2, response: null });
  });
});

// ---------------------------------------------------------------------------
// Reading and deleting
// ---------------------------------------------------------------------------

describe(`reading and deleting reviews (${testBackend()})`, () => {
  let open: Deal;
  let openId: string;
  let hidden: Deal;
  let hiddenId: string;

  before(async () => {
    open = await deal();
    openId = await reviewed(open.bookingId, open.customer, 5);
    hidden = await deal();
    hiddenId = await reviewed(hidden.bookingId, hidden.customer, 1, false);
  });

  const sees = (clerkId: string | null, id: string) =>
    asUser(db, clerkId, (tx) => count(tx, sql`select 1 from public.reviews where id = ${id}`));

  test('a public review is read by anyone in the tenant, anonymous callers included', async () => {
    for (const who of [null, stranger.clerkId, open.customer.clerkId, open.provider.clerkId, admin.clerkId]) {
      assert.equal(await sees(who, openId), 1, String(who));
    }
  });

  test('another tenant reads none of its reviews, even a public one', async () => {
    assert.equal(await sees(foreignAdmin.clerkId, openId), 0);
    const anonThere = await asRole(db, 'anon', { role: 'anon', tenant_id: otherTenantId }, (tx) =>
      count(tx, sql`select 1 from public.reviews where id = ${openId}`),
    );
    assert.equal(anonThere, 0);
  });

  test("a hidden review is read only by its parties and the tenant's moderators", async () => {
    assert.equal(await sees(null, hiddenId), 0);
    assert.equal(await sees(stranger.clerkId, hiddenId), 0);
    assert.equal(await sees(foreignAdmin.clerkId, hiddenId), 0);
    assert.equal(await sees(hidden.customer.clerkId, hiddenId), 1);
    assert.equal(await sees(hidden.provider.clerkId, hiddenId), 1);
    assert.equal(await sees(admin.clerkId, hiddenId), 1);
    assert.equal(await sees(moderator.clerkId, hiddenId), 1);
  });

  test("the reviewer and the tenant's moderators delete a review; the reviewee and others cannot", async () => {
    const remove = (clerkId: string) =>
      asUser(
        db,
        clerkId,
        async (tx) => (await tx.query(sql`delete from public.reviews where id = ${openId}`)).rowCount,
      );
    for (const who of [open.provider, stranger, foreignAdmin]) {
      assert.equal(await remove(who.clerkId), 0, who.clerkId);
    }
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`delete from public.reviews where id = ${openId}`)),
      { code: '42501' },
    );
    for (const who of [open.customer, admin, moderator]) {
      assert.equal(await remove(who.clerkId), 1, who.clerkId);
    }
  });
});

// ---------------------------------------------------------------------------
// Aggregates on listings and user_profiles
// ---------------------------------------------------------------------------

describe(`rating aggregates (${testBackend()})`, () => {
  const listingStats = async (listing: ListingFixture) =>
    one(db, sql`select rating_average::text as avg, review_count as n from public.listings where id = ${listing.id}`);
  const profileStats = async (user: UserFixture) =>
    one(
      db,
      sql`select rating_average::text as avg, review_count as n from public.user_profiles where user_id = ${user.id}`,
    );
  const stats = (avg: string | null, n: number) => ({ avg, n });

  test('listing and profile averages are exact after reviews are written, re-rated, hidden and deleted', async () => {
    const provider = await createUser(db, { role: 'provider' });
    const main = await createListing(db, provider);
    const second = await createListing(db, provider);
    const d1 = await deal({ provider, listing: main });
    const d2 = await deal({ provider, listing: main });
    const d3 = await deal({ provider, listing: main });
    const d4 = await deal({ provider, listing: second });
    assert.deepEqual(await listingStats(main), stats(null, 0));
    assert.deepEqual(await profileStats(provider), stats(null, 0));

    const review = async (d: Deal, rating: number) =>
      (
        await asUser(
          db,
          d.customer.clerkId,
          (tx) =>
            one<{ id: string }>(
              tx,
              sql`insert into public.reviews (booking_id, reviewer_id, rating)
                  values (${d.bookingId}, ${d.customer.id}, ${rating}) returning id`,
            ),
          { commit: true },
        )
      ).id;

    const r1 = await review(d1, 5);
    assert.deepEqual(await listingStats(main), stats('5.00', 1));
    assert.deepEqual(await profileStats(provider), stats('5.00', 1));
    const r2 = await review(d2, 4);
    assert.deepEqual(await listingStats(main), stats('4.50', 2));
    const r3 = await review(d3, 2);
    assert.deepEqual(await listingStats(main), stats('3.67', 3));
    assert.deepEqual(await profileStats(provider), stats('3.67', 3));

    // A review of the provider's other listing counts for the provider, not for this listing.
    await review(d4, 1);
    assert.deepEqual(await listingStats(main), stats('3.67', 3));
    assert.deepEqual(await listingStats(second), stats('1.00', 1));
    assert.deepEqual(await profileStats(provider), stats('3.00', 4));

    // The provider's review of a customer counts for the customer, not for the listing.
    await commitAs(
      provider,
      sql`insert into public.reviews (booking_id, reviewer_id, rating) values (${d1.bookingId}, ${provider.id}, 3)`,
    );
    assert.deepEqual(await listingStats(main), stats('3.67', 3));
    assert.deepEqual(await profileStats(d1.customer), stats('3.00', 1));
    assert.deepEqual(await profileStats(provider), stats('3.00', 4));

    // Re-rated 2 → 5.
    await commitAs(d3.customer, sql`update public.reviews set rating = 5 where id = ${r3}`);
    assert.deepEqual(await listingStats(main), stats('4.67', 3));
    assert.deepEqual(await profileStats(provider), stats('3.75', 4));

    // Hidden by its reviewer: out of every average; shown again: back in.
    await commitAs(d2.customer, sql`update public.reviews set is_public = false where id = ${r2}`);
    assert.deepEqual(await listingStats(main), stats('5.00', 2));
    assert.deepEqual(await profileStats(provider), stats('3.67', 3));
    await commitAs(d2.customer, sql`update public.reviews set is_public = true where id = ${r2}`);
    assert.deepEqual(await listingStats(main), stats('4.67', 3));
    await commitAs(d2.customer, sql`update public.reviews set is_public = false where id = ${r2}`);

    // A response changes no average.
    await commitAs(provider, sql`update public.reviews set response = 'Thanks' where id = ${r1}`);
    assert.deepEqual(await listingStats(main), stats('5.00', 2));

    // Deleted by its reviewer, then by a moderator.
    await commitAs(d1.customer, sql`delete from public.reviews where id = ${r1}`);
    assert.deepEqual(await listingStats(main), stats('5.00', 1));
    assert.deepEqual(await profileStats(provider), stats('3.00', 2));
    await commitAs(admin, sql`delete from public.reviews where id = ${r3}`);
    assert.deepEqual(await listingStats(main), stats(null, 0));
    assert.deepEqual(await profileStats(provider), stats('1.00', 1));
  });

  test("a purged booking's reviews leave the averages", async () => {
    const provider = await createUser(db, { role: 'provider' });
    const listing = await createListing(db, provider);
    const kept = await deal({ provider, listing });
    const purged = await deal({ provider, listing });
    await reviewed(kept.bookingId, kept.customer, 5);
    await reviewed(purged.bookingId, purged.customer, 2);
    assert.deepEqual(await listingStats(listing), stats('3.50', 2));
    await asRole(
      db,
      'service_role',
      { role: 'service_role' },
      (tx) => tx.query(sql`delete from public.bookings where id = ${purged.bookingId}`),
      { commit: true },
    );
    assert.deepEqual(await listingStats(listing), stats('5.00', 1));
    assert.deepEqual(await profileStats(provider), stats('5.00', 1));
  });

  test('clients cannot write ratings or counters on listings and profiles', async () => {
    const { provider, listing } = await deal();
    for (const statement of [
      sql`update public.listings set rating_average = 5 where id = ${listing.id}`,
      sql`update public.listings set review_count = 100 where id = ${listing.id}`,
      sql`update public.user_profiles set rating_average = 5 where user_id = ${provider.id}`,
      sql`update public.user_profiles set review_count = 100 where user_id = ${provider.id}`,
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
    await commitAs(customer, sql`delete from public.reviews where id = ${id}`);
    assert.equal(await count(db, sql`select 1 from public.review_votes where review_id = ${id}`), 0);
  });
});
