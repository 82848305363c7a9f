import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from '../../src/db/sql.js';
import { geoJsonToWkt } from '../../src/graphql/geojson.js';
import {
  createBooking,
  createListing,
  createUser,
  type ListingFixture,
  type UserFixture,
} from '../helpers/fixtures.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer } from '../helpers/index.js';

/*
 * /graphql/v1 on this backend (decision 0025): the same callers as REST (anon key, a user's
 * token, the service key) get the rows RLS gives them over REST — compared in each test — and
 * workflow functions are mutations that run as the caller.
 */

let db: TestDatabase;
let server: TestServer;
let provider: UserFixture;
let other: UserFixture;
let customer: UserFixture;
let active: ListingFixture;
let draft: ListingFixture;
let othersListing: ListingFixture;
let ownBooking: { id: string };
let othersBooking: { id: string };

before(async () => {
  db = await getTestDatabase();
  server = await startTestServer(db, {});
  provider = await createUser(db, { role: 'provider' });
  other = await createUser(db, { role: 'provider' });
  customer = await createUser(db);
  const stranger = await createUser(db);
  active = await createListing(db, provider, { lon: -73.99, lat: 40.73 });
  draft = await createListing(db, provider, { status: 'draft' });
  othersListing = await createListing(db, other);
  ownBooking = await createBooking(db, active, customer);
  othersBooking = await createBooking(db, othersListing, stranger);
});

after(async () => {
  await server?.close();
  await db?.dispose();
});

type Who = 'anon' | 'customer' | 'provider' | 'service_role';

async function headersFor(who: Who): Promise<Record<string, string>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (who === 'service_role') return { ...headers, apikey: server.keys.service_role };
  headers.apikey = server.keys.anon;
  if (who === 'customer') headers.authorization = `Bearer ${await server.tokenFor(customer.clerkId)}`;
  if (who === 'provider') headers.authorization = `Bearer ${await server.tokenFor(provider.clerkId)}`;
  return headers;
}

interface GraphqlAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
  body: any;
}

async function graphql(who: Who, query: string, variables: Record<string, unknown> = {}): Promise<GraphqlAnswer> {
  const response = await fetch(`${server.url}/graphql/v1`, {
    method: 'POST',
    headers: await headersFor(who),
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: await response.json() };
}

/** The ids REST answers, or its error message when it refuses. */
async function restIds(who: Who, table: string): Promise<string[] | string> {
  const answer = await server.request(`${table}?select=id`, { headers: await headersFor(who) });
  if (answer.status !== 200) return answer.json.message;
  return (answer.json as { id: string }[]).map((r) => r.id).sort();
}

/** The ids GraphQL answers, or its error message when it refuses. */
async function graphqlIds(who: Who, connection: string): Promise<string[] | string> {
  const answer = await graphql(who, `{ ${connection} { nodes { id } } }`);
  assert.equal(answer.status, 200);
  if (answer.body.errors) return answer.body.errors[0].message;
  return (answer.body.data[connection].nodes as { id: string }[]).map((n) => n.id).sort();
}

describe('the rows RLS gives each caller, as over REST', () => {
  for (const who of ['anon', 'customer', 'provider', 'service_role'] as const) {
    test(`listings and bookings as ${who}`, async () => {
      const listings = await graphqlIds(who, 'listings');
      assert.deepEqual(listings, await restIds(who, 'listings'));
      const bookings = await graphqlIds(who, 'bookings');
      assert.deepEqual(bookings, await restIds(who, 'bookings'));

      // And what RLS means here, so the comparison cannot pass on two empty answers.
      assert.ok(Array.isArray(listings) && listings.includes(active.id));
      assert.equal(listings.includes(draft.id), who === 'provider' || who === 'service_role');
      if (who === 'anon') {
        assert.equal(bookings, 'permission denied for table bookings');
        return;
      }
      const expectedBookings = {
        customer: [ownBooking.id],
        provider: [ownBooking.id],
        service_role: [ownBooking.id, othersBooking.id].sort(),
      }[who];
      assert.deepEqual(
        (bookings as string[]).filter((id) => id === ownBooking.id || id === othersBooking.id),
        expectedBookings,
      );
    });
  }
});

test('relations both ways, and PostGIS values as GeoJSON', async () => {
  const answer = await graphql(
    'provider',
    `query ($id: UUID!) {
       listing(id: $id) {
         id title status location
         bookings { totalCount nodes { id customerId } }
       }
       booking(id: "${ownBooking.id}") { listing { id } }
     }`,
    { id: active.id },
  );
  assert.equal(answer.body.errors, undefined, JSON.stringify(answer.body.errors));
  const listing = answer.body.data.listing;
  assert.equal(listing.id, active.id);
  assert.equal(listing.status, 'active');
  assert.deepEqual(listing.location, { type: 'Point', coordinates: [-73.99, 40.73] });
  assert.deepEqual(listing.bookings, { totalCount: 1, nodes: [{ id: ownBooking.id, customerId: customer.id }] });
  assert.deepEqual(answer.body.data.booking.listing, { id: active.id });
});

test('filters, ordering and pages, as the listing screens use them', async () => {
  const answer = await graphql(
    'provider',
    `query ($provider: UUID!) {
       listings(filter: { providerId: { equalTo: $provider } }, orderBy: CREATED_AT_DESC, first: 1) {
         totalCount
         pageInfo { hasNextPage }
         nodes { id status }
       }
     }`,
    { provider: provider.id },
  );
  assert.equal(answer.body.errors, undefined, JSON.stringify(answer.body.errors));
  // Both of the provider's listings (the draft is theirs to see), newest first, one per page.
  assert.deepEqual(answer.body.data.listings, {
    totalCount: 2,
    pageInfo: { hasNextPage: true },
    nodes: [{ id: draft.id, status: 'draft' }],
  });
});

test('the queries docs/graphql.md shows for the main screens answer', async () => {
  const listings = await graphql(
    'anon',
    `query Listings($category: UUID!, $after: Cursor) {
       listings(filter: { categoryId: { equalTo: $category } }, orderBy: CREATED_AT_DESC, first: 20, after: $after) {
         totalCount
         pageInfo { hasNextPage endCursor }
         nodes { id title hourlyRateCents ratingAverage location provider { displayName avatarUrl } }
       }
     }`,
    {
      category: (
        await db.query<{ id: string }>(sql`select category_id as id from public.listings where id = ${active.id}`)
      ).rows[0]?.id,
      after: null,
    },
  );
  assert.equal(listings.body.errors, undefined, JSON.stringify(listings.body.errors));
  assert.ok(listings.body.data.listings.nodes.some((n: { id: string }) => n.id === active.id));
  const page = await graphql(
    'anon',
    `query Listing($id: UUID!) {
       listing(id: $id) {
         id title description hourlyRateCents cancellationPolicyKind instantBook location
         provider { displayName headline avatarUrl }
         reviews(first: 10, orderBy: CREATED_AT_DESC) { totalCount nodes { rating comment } }
       }
     }`,
    { id: active.id },
  );
  assert.equal(page.body.errors, undefined, JSON.stringify(page.body.errors));
  assert.equal(page.body.data.listing.reviews.totalCount, 0);
  const mine = await graphql(
    'customer',
    '{ bookings(orderBy: STARTS_AT_DESC, first: 20) { nodes { id status startsAt listing { title } } } }',
  );
  assert.equal(mine.body.errors, undefined, JSON.stringify(mine.body.errors));
  assert.deepEqual(
    mine.body.data.bookings.nodes.map((n: { id: string }) => n.id),
    [ownBooking.id],
  );
});

test('a workflow function is a mutation run as the caller, refused as REST refuses it', async () => {
  const mutation = `mutation ($id: UUID!) { confirmBooking(input: { bookingId: $id }) { result { id status } } }`;
  // The customer may not confirm: the function's own check, and nothing changes.
  const refused = await graphql('customer', mutation, { id: ownBooking.id });
  assert.equal(refused.status, 200, JSON.stringify(refused.body));
  assert.equal(refused.body.data.confirmBooking, null);
  assert.equal(refused.body.errors.length, 1);
  const rest = await server.request('rpc/confirm_booking', {
    method: 'POST',
    headers: await headersFor('customer'),
    body: JSON.stringify({ booking_id: ownBooking.id }),
  });
  assert.equal(refused.body.errors[0].message, rest.json.message, 'the same message as REST');
  assert.deepEqual(refused.body.errors[0].extensions, {
    code: rest.json.code,
    details: rest.json.details,
    hint: rest.json.hint,
    status: rest.status,
  });
  const status = async () =>
    (await db.query<{ status: string }>(sql`select status::text from public.bookings where id = ${ownBooking.id}`))
      .rows[0]?.status;
  assert.equal(await status(), 'pending');

  const done = await graphql('provider', mutation, { id: ownBooking.id });
  assert.equal(done.body.errors, undefined, JSON.stringify(done.body.errors));
  assert.deepEqual(done.body.data.confirmBooking.result, { id: ownBooking.id, status: 'confirmed' });
  assert.equal(await status(), 'confirmed');
});

test('credentials are checked as for REST, with the same errors', async () => {
  const refusals: Record<string, string>[] = [
    { apikey: server.keys.anon, authorization: 'Bearer not-a-token' },
    { apikey: 'wrong' },
    { apikey: server.keys.anon, authorization: `Bearer ${server.keys.anon.slice(0, -2)}xx` },
  ];
  for (const headers of refusals) {
    const viaGraphql = await fetch(`${server.url}/graphql/v1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{"query":"{ __typename }"}',
    });
    const viaRest = await fetch(`${server.url}/rest/v1/listings`, { headers });
    assert.equal(viaRest.status, 401);
    assert.equal(viaGraphql.status, 401);
    assert.deepEqual(await viaGraphql.json(), await viaRest.json());
  }
});

test('GeoJSON input: geometries become EWKT, anything else is refused with a reason', () => {
  assert.equal(geoJsonToWkt({ type: 'Point', coordinates: [-73.98, 40.75] }), 'POINT(-73.98 40.75)');
  assert.equal(
    geoJsonToWkt({
      type: 'MultiPolygon',
      coordinates: [
        [
          [
            [0, 0],
            [1, 0],
            [1, 1],
            [0, 0],
          ],
        ],
      ],
    }),
    'MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)))',
  );
  assert.throws(() => geoJsonToWkt({ type: 'Point', coordinates: ['x', 1] }), /positions are arrays of 2 to 4/);
  assert.throws(() => geoJsonToWkt({ type: 'Circle', coordinates: [0, 0] }), /"Circle" is not a GeoJSON geometry type/);
  assert.throws(() => geoJsonToWkt('POINT(0 0)'), /expected a GeoJSON geometry object/);
});
