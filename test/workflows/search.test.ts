import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import { createTenant, createUser, type UserFixture } from '../helpers/fixtures.js';
import {
  getTestDatabase,
  ROOT,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';

/*
 * The search page (migration 0024, docs/workflows.md ## Search): public.search_listings over
 * REST and supabase-js, as anon and as users of two tenants. One small marketplace around a
 * fixed point, so every expected list is exact: each filter, each sort, pagination through
 * every page, the typo fallback, facets and total, "serves my address", tenant isolation, bad
 * inputs (400), and the plan of the statement a search runs.
 */

let db: TestDatabase;
let server: TestServer;
let anon: SupabaseClient;

const uniq = () => randomUUID().slice(0, 8);
// The origin: 45°N 2°E (central France). One degree of latitude is 111,132 m here.
const LON = 2.0;
const LAT = 45.0;
const north = (m: number) => LAT + m / 111_132;
const east = (m: number) => LON + m / (111_132 * Math.cos((LAT * Math.PI) / 180));

interface Spec {
  title: string;
  category: string;
  lon?: number | null;
  lat?: number;
  pricing?: 'hourly' | 'fixed' | 'custom';
  cents?: number | null;
  locationType?: 'on_site' | 'remote' | 'both';
  radius?: number | null;
  rating?: [number, number]; // average, count
  featured?: boolean;
  status?: string;
  description?: string;
  keywords?: string[];
  language?: string;
}

async function addListing(provider: UserFixture, s: Spec): Promise<string> {
  const pricing = s.pricing ?? 'hourly';
  const located = s.lon !== null;
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.listings (provider_id, category_id, title, description, slug, language, pricing_type,
                                 hourly_rate_cents, base_price_cents, location_type, location, service_radius_m,
                                 status, keywords, is_featured, rating_average, review_count)
    values (${provider.id}, (select id from public.categories where slug = ${s.category} and tenant_id is null),
            ${s.title}, ${s.description ?? `${s.title}, done well.`}, ${`s-${uniq()}`}, ${s.language ?? 'en'},
            ${pricing}::public.pricing_type,
            ${pricing === 'hourly' ? (s.cents ?? 5000) : null}, ${pricing === 'hourly' ? null : (s.cents ?? null)},
            ${s.locationType ?? 'on_site'}::public.location_type,
            ${located ? sql`public.geo_point(${s.lon ?? LON}, ${s.lat ?? LAT})` : sql`null`},
            ${located ? (s.radius === undefined ? 10_000 : s.radius) : null},
            ${s.status ?? 'active'}::public.listing_status, ${s.keywords ?? []}, ${s.featured ?? false},
            ${s.rating?.[0] ?? null}, ${s.rating?.[1] ?? 0})
    returning id`);
  const id = rows[0]?.id as string;
  // The Bayesian average the reviews workflow would keep for that rating (app.rating_bayesian).
  await db.query(sql`
    update public.listings set rating_bayesian = app.rating_bayesian(coalesce(rating_average, 0) * review_count, review_count)
    where id = ${id}`);
  return id;
}

let provider: UserFixture;
let otherProvider: UserFixture;
let otherTenantUser: UserFixture;
const ids: Record<string, string> = {};

// A 10 km square centred 50 km east of the origin: the only place "Far area" serves.
const AREA_LON = east(50_000);
const square = (() => {
  const dLon = east(5000) - LON;
  const dLat = north(5000) - LAT;
  const [w, e, s, n] = [AREA_LON - dLon, AREA_LON + dLon, LAT - dLat, LAT + dLat];
  return `MULTIPOLYGON(((${w} ${s}, ${e} ${s}, ${e} ${n}, ${w} ${n}, ${w} ${s})))`;
})();

before(async () => {
  db = await getTestDatabase();
  provider = await createUser(db, { role: 'provider' });
  otherProvider = await createUser(db, { role: 'provider' });
  await db.query(
    sql`update public.user_profiles set display_name = 'Pat the Plumber', is_public = true where user_id = ${provider.id}`,
  );
  const otherTenant = await createTenant(db);
  otherTenantUser = await createUser(db, { tenantId: otherTenant });
  const foreign = await createUser(db, { role: 'provider', tenantId: otherTenant });

  ids.emergency = await addListing(provider, {
    title: 'Emergency plumbing',
    category: 'plumbing',
    lat: north(1000),
    cents: 6000,
    rating: [4.8, 10],
    keywords: ['leak'],
  });
  ids.drain = await addListing(provider, {
    title: 'Drain unclogging',
    category: 'plumbing',
    lon: east(3000),
    pricing: 'fixed',
    cents: 12_000,
    locationType: 'both',
    description: 'Blocked sinks and plumbing cleared.',
  });
  ids.cleaning = await addListing(otherProvider, {
    title: 'House cleaning',
    category: 'house-cleaning',
    lat: north(-2000),
    cents: 3000,
    rating: [4.0, 2],
  });
  ids.tutoring = await addListing(otherProvider, {
    title: 'Online maths tutoring',
    category: 'tutoring',
    lon: null,
    locationType: 'remote',
    cents: 2500,
  });
  ids.rewiring = await addListing(otherProvider, {
    title: 'Electrical rewiring',
    category: 'electrical',
    lat: north(20_000),
    cents: 9000,
    featured: true,
    radius: 25_000,
  });
  ids.quote = await addListing(provider, {
    title: 'Bathroom renovation quote',
    category: 'plumbing',
    lon: east(-6000),
    pricing: 'custom',
    cents: null,
  });
  // Based inside its own polygon, 50 km east: its polygon, not its radius, says where it serves.
  ids.area = await addListing(otherProvider, {
    title: 'Far area gardening',
    category: 'gardening',
    lon: east(48_000),
    radius: 15_000,
  });
  await db.query(sql`
    insert into public.listing_service_areas (listing_id, area) values (${ids.area}, extensions.st_geogfromtext(${square}))`);
  // Hidden from every search: a draft, a deleted listing, another tenant's listing.
  await addListing(provider, { title: 'Plumbing draft', category: 'plumbing', status: 'draft' });
  const gone = await addListing(provider, { title: 'Deleted plumbing', category: 'plumbing' });
  await db.query(sql`update public.listings set deleted_at = now() where id = ${gone}`);
  ids.foreign = await addListing(foreign, { title: 'Plumbing elsewhere', category: 'plumbing', lat: north(500) });

  const { rows: tag } = await db.query<{ id: string }>(
    sql`select id from public.tags where slug = 'emergency' and tenant_id is null`,
  );
  await db.query(
    sql`insert into public.listing_tags (listing_id, tag_id) values (${ids.emergency}, ${tag[0]?.id}), (${ids.rewiring}, ${tag[0]?.id})`,
  );
  const { rows: tag2 } = await db.query<{ id: string }>(
    sql`select id from public.tags where slug = 'licensed' and tenant_id is null`,
  );
  await db.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${ids.rewiring}, ${tag2[0]?.id})`);

  server = await startTestServer(db);
  anon = server.client();
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

// biome-ignore lint/suspicious/noExplicitAny: search results are JSON
type Json = any;

async function search(args: Record<string, unknown>, client: SupabaseClient = anon): Promise<Json> {
  const { data, error } = await client.rpc('search_listings', args);
  assert.equal(error, null, JSON.stringify(error));
  return data;
}
const titles = (page: Json): string[] => page.results.map((r: Json) => r.title);
const near = { lat: LAT, lon: LON };

describe(`search: free text (${testBackend()})`, () => {
  test('websearch syntax over title, description and tags, title matches first', async () => {
    const page = await search({ query: 'plumbing' });
    assert.equal(page.query_mode, 'text');
    assert.deepEqual(titles(page), ['Emergency plumbing', 'Drain unclogging']);
    assert.deepEqual(titles(await search({ query: '"drain unclogging"' })), ['Drain unclogging']);
    assert.deepEqual(titles(await search({ query: 'plumbing -emergency' })), ['Drain unclogging']);
    assert.deepEqual(titles(await search({ query: 'emergency' })).sort(), [
      'Electrical rewiring',
      'Emergency plumbing',
    ]);
  });

  test('the query language picks the stemmer', async () => {
    const id = await addListing(provider, {
      title: 'Fontanero urgente',
      description: 'reparaciones de fontanería',
      category: 'plumbing',
      language: 'es',
      lon: east(-40_000),
    });
    try {
      assert.deepEqual(titles(await search({ query: 'reparación', lang: 'es' })), ['Fontanero urgente']);
      assert.equal((await search({ query: 'reparación', lang: 'en' })).query_mode, 'similar');
    } finally {
      await db.query(sql`delete from public.listings where id = ${id}`);
    }
  });

  test('a typo falls back to trigram similarity of the title when the text finds nothing', async () => {
    const page = await search({ query: 'plumbng' });
    assert.equal(page.query_mode, 'similar');
    assert.deepEqual(titles(page), ['Emergency plumbing']);
    const none = await search({ query: 'xylophone' });
    assert.deepEqual(none.results, []);
  });
});

describe(`search: where (${testBackend()})`, () => {
  test('a point and radius: listings within it, each with latitude, longitude and distance', async () => {
    const page = await search({ ...near, radius_m: 2500, sort: 'distance' });
    assert.deepEqual(titles(page), ['Emergency plumbing', 'House cleaning']);
    const [first, second] = page.results;
    assert.ok(Math.abs(first.distance_m - 1000) <= 10, String(first.distance_m));
    assert.ok(Math.abs(second.distance_m - 2000) <= 20, String(second.distance_m));
    assert.ok(Math.abs(first.latitude - north(1000)) < 1e-6 && Math.abs(first.longitude - LON) < 1e-6);
    assert.deepEqual(titles(await search({ ...near, radius_m: 7000, sort: 'distance' })), [
      'Emergency plumbing',
      'House cleaning',
      'Drain unclogging',
      'Bathroom renovation quote',
    ]);
  });

  test('serving: a service area decides where a listing serves; without one, its travel radius does', async () => {
    assert.deepEqual(titles(await search({ lat: LAT, lon: AREA_LON, serving: true })), ['Far area gardening']);
    // At the origin: inside every radius but "Far area gardening"'s, which its polygon overrides.
    assert.deepEqual(titles(await search({ ...near, serving: true, sort: 'distance' })), [
      'Emergency plumbing',
      'House cleaning',
      'Drain unclogging',
      'Bathroom renovation quote',
      'Electrical rewiring',
    ]);
    // 22 km north: only the rewiring listing's 25 km radius reaches.
    assert.deepEqual(titles(await search({ lat: north(22_000), lon: LON, serving: true })), ['Electrical rewiring']);
  });
});

describe(`search: filters (${testBackend()})`, () => {
  test('category: the category and its subtree, by slug or id', async () => {
    assert.deepEqual(titles(await search({ category: 'plumbing', sort: 'price' })), [
      'Emergency plumbing',
      'Drain unclogging',
      'Bathroom renovation quote',
    ]);
    const { rows } = await db.query<{ id: string }>(sql`select id from public.categories where slug = 'home-services'`);
    assert.deepEqual(titles(await search({ category: rows[0]?.id, sort: 'price' })), [
      'House cleaning',
      'Far area gardening',
      'Emergency plumbing',
      'Electrical rewiring',
      'Drain unclogging',
      'Bathroom renovation quote',
    ]);
  });

  test('tags: listings carrying every given tag', async () => {
    assert.deepEqual(titles(await search({ tags: ['emergency'], sort: 'price' })), [
      'Emergency plumbing',
      'Electrical rewiring',
    ]);
    assert.deepEqual(titles(await search({ tags: ['emergency', 'licensed'] })), ['Electrical rewiring']);
  });

  test('price range (hourly rate or fixed price, in cents), currency and pricing type', async () => {
    assert.deepEqual(titles(await search({ min_price_cents: 3000, max_price_cents: 9000, sort: 'price' })), [
      'House cleaning',
      'Far area gardening',
      'Emergency plumbing',
      'Electrical rewiring',
    ]);
    assert.deepEqual(titles(await search({ min_price_cents: 10_000, currency: 'USD' })), ['Drain unclogging']);
    assert.deepEqual(titles(await search({ min_price_cents: 1, currency: 'EUR' })), []);
    assert.deepEqual(titles(await search({ pricing_type: 'fixed' })), ['Drain unclogging']);
    assert.deepEqual(titles(await search({ pricing_type: 'custom' })), ['Bathroom renovation quote']);
  });

  test('location type: remote and on_site also match listings offered both ways', async () => {
    assert.deepEqual(titles(await search({ location_type: 'remote', sort: 'price' })), [
      'Online maths tutoring',
      'Drain unclogging',
    ]);
    assert.deepEqual(titles(await search({ location_type: 'both' })), ['Drain unclogging']);
    assert.equal((await search({ location_type: 'on_site', page_size: 100 })).results.length, 6);
  });

  test('minimum rating', async () => {
    assert.deepEqual(titles(await search({ min_rating: 4.5 })), ['Emergency plumbing']);
    assert.deepEqual(titles(await search({ min_rating: 4, sort: 'rating' })), ['Emergency plumbing', 'House cleaning']);
  });

  test('available on a date: listings with a bookable slot that day, in the provider’s zone', async () => {
    // Pat works Mondays 09:00–17:00 UTC; the other provider has no schedule. A Monday 8–14 days away.
    const own = server.client({ token: await server.tokenFor(provider.clerkId) });
    const { error } = await own.rpc('set_weekly_schedule', {
      time_zone: 'UTC',
      windows: [{ day_of_week: 1, start_time: '09:00', end_time: '17:00' }],
    });
    assert.equal(error, null, JSON.stringify(error));
    const day = new Date(Date.now() + 8 * 86_400_000);
    while (day.getUTCDay() !== 1) day.setUTCDate(day.getUTCDate() + 1);
    const monday = day.toISOString().slice(0, 10);
    const tuesday = new Date(day.getTime() + 86_400_000).toISOString().slice(0, 10);
    const open = await search({ available_on: monday, sort: 'price', with_total: true });
    assert.deepEqual(titles(open), ['Emergency plumbing', 'Drain unclogging', 'Bathroom renovation quote']);
    assert.equal(open.total, 3);
    assert.deepEqual(titles(await search({ available_on: tuesday })), []);
    // Each card says when its first slot is: a Monday at 09:00 UTC.
    for (const card of open.results) {
      assert.equal(new Date(card.next_available_at).getUTCDay(), 1, card.next_available_at);
      assert.equal(new Date(card.next_available_at).getUTCHours(), 9, card.next_available_at);
    }
    const [unscheduled] = (await search({ query: 'house cleaning' })).results;
    assert.equal(unscheduled.next_available_at, null);
  });

  test('filters combine', async () => {
    assert.deepEqual(
      titles(await search({ query: 'plumbing', ...near, radius_m: 2000, max_price_cents: 7000, min_rating: 4 })),
      ['Emergency plumbing'],
    );
  });
});

describe(`search: sorts and pages (${testBackend()})`, () => {
  test('relevance blends text rank, proximity, Bayesian rating and featured', async () => {
    // Without text: the rated, near listing first; the featured one beats unrated ones further away.
    const page = await search({ ...near, radius_m: 25_000 });
    assert.deepEqual(titles(page), [
      'Emergency plumbing',
      'House cleaning',
      'Drain unclogging',
      'Bathroom renovation quote',
      'Electrical rewiring',
    ]);
    const scores = page.results.map((r: Json) => r.score);
    assert.deepEqual(
      scores,
      [...scores].sort((a: number, b: number) => b - a),
    );
  });

  test('rating sorts by the Bayesian average; price puts listings without a price last', async () => {
    const rated = titles(await search({ sort: 'rating', page_size: 3 }));
    assert.deepEqual(rated.slice(0, 2), ['Emergency plumbing', 'House cleaning']);
    const priced = titles(await search({ sort: 'price', page_size: 100 }));
    assert.equal(priced[0], 'Online maths tutoring');
    assert.equal(priced.at(-1), 'Bathroom renovation quote');
  });

  test('distance needs a point; unknown sorts are refused', async () => {
    const { error, status } = await anon.rpc('search_listings', { sort: 'distance' });
    assert.equal(status, 400);
    assert.match(error?.message ?? '', /sort by distance needs a point/);
  });

  test('keyset pages: every listing once, in order, under ties, for each sort', async () => {
    // Twelve listings with the same price and place: ties broken by id, stable across pages.
    const tied: string[] = [];
    for (let i = 0; i < 12; i++) {
      tied.push(
        await addListing(provider, { title: `Tied ${i}`, category: 'handyman', lon: east(30_000), cents: 4200 }),
      );
    }
    try {
      for (const args of [
        { sort: 'price' },
        { sort: 'rating' },
        { sort: 'relevance', lat: LAT, lon: east(30_000), radius_m: 100_000 },
        { sort: 'distance', lat: LAT, lon: east(30_000), radius_m: 100_000 },
        { sort: 'relevance', query: 'tied' },
      ]) {
        const all = await search({ ...args, page_size: 100, with_total: true });
        const seen: string[] = [];
        let after: string | undefined;
        let pages = 0;
        do {
          const page = await search({ ...args, page_size: 5, ...(after ? { after } : {}) });
          seen.push(...page.results.map((r: Json) => r.id));
          after = page.next_cursor ?? undefined;
          pages++;
        } while (after);
        const expected = all.results.map((r: Json) => r.id);
        assert.deepEqual(seen, expected, JSON.stringify(args));
        assert.equal(new Set(seen).size, seen.length);
        assert.equal(all.total, expected.length);
        assert.equal(pages, Math.max(1, Math.ceil(expected.length / 5)));
      }
    } finally {
      await db.query(sql`delete from public.listings where id = any(${tied}::uuid[])`);
    }
  });

  test('a typo search pages in the same mode', async () => {
    const first = await search({ query: 'plumbng', page_size: 1, category: 'plumbing' });
    assert.equal(first.query_mode, 'similar');
    assert.equal(first.next_cursor, null);
  });
});

describe(`search: near listings first (${testBackend()})`, () => {
  /*
   * Migration 0029: a search by location without text (relevance or distance) runs within 2 km
   * of the point first and widens only while a listing further out could still make the page.
   * A search with total (which counts every match) runs whole, so it is the reference: paging
   * through the stepped search must give exactly its list.
   */
  test('stepped pages are exactly the whole search: a far, well-rated or featured listing keeps its place', async () => {
    // 200 km north of the origin, away from every other listing of this file.
    const at = (m: number) => north(200_000 + m);
    const point = { lat: at(0), lon: LON };
    const added: string[] = [];
    try {
      // Thirty unrated listings within 1.5 km: they fill the first 2 km step.
      for (let i = 0; i < 30; i++) {
        added.push(
          await addListing(provider, { title: `Near ${i}`, category: 'handyman', lat: at(50 * i), radius: 10_000 }),
        );
      }
      // Further out but rated or featured enough to rank among them (0.274 and 0.269 against
      // 0.267 for an unrated listing 1 km away), so the steps must reach them.
      const star = await addListing(otherProvider, {
        title: 'Far star',
        category: 'handyman',
        lat: at(8000),
        radius: 20_000,
        rating: [5, 200],
      });
      const featured = await addListing(otherProvider, {
        title: 'Far featured',
        category: 'handyman',
        lat: at(-12_000),
        radius: 20_000,
        rating: [4.5, 20],
        featured: true,
      });
      // Within a 30 km radius, but its 5 km travel radius does not reach the point.
      const short = await addListing(otherProvider, {
        title: 'Short reach',
        category: 'handyman',
        lat: at(9000),
        radius: 5000,
      });
      added.push(star, featured, short);

      const cases: Record<string, unknown>[] = [
        { ...point, serving: true },
        { ...point, radius_m: 30_000 },
        { ...point, serving: true, sort: 'distance' },
        { ...point, radius_m: 30_000, sort: 'distance' },
      ];
      for (const args of cases) {
        const whole = (await search({ ...args, page_size: 100, with_total: true })).results.map((r: Json) => r.title);
        const stepped: string[] = [];
        let after: string | undefined;
        do {
          const page = await search({ ...args, page_size: 5, ...(after ? { after } : {}) });
          stepped.push(...titles(page));
          after = page.next_cursor ?? undefined;
        } while (after);
        assert.deepEqual(stepped, whole, JSON.stringify(args));
        assert.equal(whole.includes('Short reach'), !args.serving, JSON.stringify(args));
        if (args.sort === undefined) {
          // Both far listings outrank some of the near ones: the steps widened to them.
          assert.ok(whole.indexOf('Far star') < whole.indexOf('Near 29'), whole.join());
          assert.ok(whole.indexOf('Far featured') < whole.indexOf('Near 29'), whole.join());
        }
      }
    } finally {
      await db.query(sql`delete from public.listings where id = any(${added}::uuid[])`);
    }
  });
});

describe(`search: cards, total and facets (${testBackend()})`, () => {
  test('a result carries what a card shows', async () => {
    const [card] = (await search({ query: 'emergency plumbing', ...near, radius_m: 5000 })).results;
    assert.equal(card.id, ids.emergency);
    assert.deepEqual(card.category, { id: card.category.id, slug: 'plumbing', name: 'Plumbing' });
    assert.equal(card.price_cents, 6000);
    assert.equal(card.pricing_type, 'hourly');
    assert.equal(card.currency, 'USD');
    assert.equal(card.rating_average, 4.8);
    assert.equal(card.review_count, 10);
    assert.equal(card.location_type, 'on_site');
    assert.equal(typeof card.distance_m, 'number');
    assert.equal(card.provider.display_name, 'Pat the Plumber');
    assert.equal(card.provider.id, provider.id);
    assert.ok('next_available_at' in card);
    assert.ok('avatar_url' in card.provider);
  });

  test('total and facets on request: categories with their ancestors, price bands', async () => {
    const plain = await search({ query: 'plumbing' });
    assert.equal(plain.total, null);
    assert.equal(plain.facets, null);
    const page = await search({ ...near, radius_m: 25_000, with_total: true, with_facets: true, page_size: 1 });
    assert.equal(page.total, 5);
    assert.equal(page.results.length, 1);
    const categories = Object.fromEntries(page.facets.categories.map((c: Json) => [c.slug, c.count]));
    assert.deepEqual(categories, { 'home-services': 5, plumbing: 3, 'house-cleaning': 1, electrical: 1 });
    assert.deepEqual(
      page.facets.price_bands.map((b: Json) => [b.min_cents, b.max_cents, b.count]),
      [
        [0, 2500, 0],
        [2500, 5000, 1],
        [5000, 10000, 2],
        [10000, 20000, 1],
        [20000, null, 0],
      ],
    );
  });
});

describe(`search: who sees what (${testBackend()})`, () => {
  test('each tenant searches its own marketplace; drafts and deleted listings are never results', async () => {
    const everything = titles(await search({ page_size: 100 }));
    assert.equal(everything.length, 7);
    for (const hidden of ['Plumbing draft', 'Deleted plumbing', 'Plumbing elsewhere']) {
      assert.ok(!everything.includes(hidden), hidden);
    }
    const elsewhere = server.client({ token: await server.tokenFor(otherTenantUser.clerkId) });
    assert.deepEqual(titles(await search({ query: 'plumbing' }, elsewhere)), ['Plumbing elsewhere']);
    // The provider's own draft is theirs to see in listings, not a search result.
    const own = server.client({ token: await server.tokenFor(provider.clerkId) });
    assert.deepEqual(titles(await search({ query: 'plumbing' }, own)), ['Emergency plumbing', 'Drain unclogging']);
  });

  test('GET and POST /rest/v1/rpc/search_listings answer the same JSON', async () => {
    const get = await server.request('rpc/search_listings?query=plumbing&lat=45&lon=2&radius_m=2000');
    assert.equal(get.status, 200);
    assert.deepEqual(titles(get.json), ['Emergency plumbing']);
    const post = await server.request('rpc/search_listings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'plumbing', lat: 45, lon: 2, radius_m: 2000 }),
    });
    assert.equal(post.status, 200);
    assert.deepEqual(post.json, get.json);
  });
});

describe(`search: bad input is a 400 that says what to fix (${testBackend()})`, () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['radius 0', { ...near, radius_m: 0 }, /radius_m 0 is out of range/],
    ['negative radius', { ...near, radius_m: -5 }, /radius_m -5 is out of range/],
    ['huge radius', { ...near, radius_m: 600_000 }, /at most 500000/],
    ['radius without a point', { radius_m: 1000 }, /radius_m needs a point/],
    ['lat out of range', { lat: 95, lon: 2 }, /lat 95 is out of range/],
    ['lon out of range', { lat: 45, lon: 200 }, /lon 200 is out of range/],
    ['lat without lon', { lat: 45 }, /lat and lon go together/],
    ['serving without a point', { serving: true }, /serving needs a point/],
    ['malformed cursor', { after: 'not-a-cursor!' }, /malformed cursor/],
    ['base64 that is not a cursor', { after: 'eyJ4IjoxfQ' }, /malformed cursor/],
    ['unknown sort', { sort: 'cheapest' }, /unknown sort 'cheapest'/],
    [
      'min price above max',
      { min_price_cents: 5000, max_price_cents: 100 },
      /min_price_cents 5000 is more than max_price_cents 100/,
    ],
    ['negative price', { min_price_cents: -1 }, /prices cannot be negative/],
    ['rating out of range', { min_rating: 6 }, /min_rating 6 is out of range/],
    ['page too large', { page_size: 500 }, /page_size 500 is out of range/],
    ['unknown category', { category: 'no-such-category' }, /no category 'no-such-category'/],
    ['unknown tag', { tags: ['no-such-tag'] }, /unknown tag\(s\): no-such-tag/],
    ['unknown pricing type', { pricing_type: 'free' }, /unknown pricing_type 'free'/],
    ['unknown location type', { location_type: 'moon' }, /unknown location_type 'moon'/],
  ];
  for (const [name, args, message] of cases) {
    test(name, async () => {
      const { data, error, status } = await anon.rpc('search_listings', args);
      assert.equal(status, 400, JSON.stringify(error));
      assert.equal(data, null);
      assert.equal(error?.code, '22023');
      assert.match(error?.message ?? '', message);
      assert.ok(error?.hint, 'a hint says what to do');
    });
  }

  test('a value of the wrong type is a 400 naming the value', async () => {
    for (const [args, code, message] of [
      [{ available_on: 'someday' }, '22007', /invalid input syntax for type date: "someday"/],
      [{ lat: 'north', lon: 2 }, '22P02', /invalid input syntax for type double precision: "north"/],
    ] as const) {
      const { error, status } = await anon.rpc('search_listings', args);
      assert.equal(status, 400);
      assert.equal(error?.code, code);
      assert.match(error?.message ?? '', message);
    }
  });

  test('a cursor from another search is refused', async () => {
    const page = await search({ category: 'home-services', page_size: 1 });
    assert.ok(page.next_cursor);
    const { error, status } = await anon.rpc('search_listings', { category: 'plumbing', after: page.next_cursor });
    assert.equal(status, 400);
    assert.match(error?.message ?? '', /the cursor belongs to a different search/);
  });
});

describe(`search: the plan uses the indexes (${testBackend()})`, () => {
  /**
   * EXPLAIN of the statement a search runs (app.search_explain builds it exactly as
   * app.search_page does), called as anon over a tenant of 2,000 spread-out listings with
   * fresh statistics and seq scans discouraged, as on a big table. Rolled back.
   */
  async function plan(request: Record<string, unknown>): Promise<string> {
    let text = '';
    await db
      .transaction(async (tx) => {
        await tx.query(sql`
          insert into public.listings (provider_id, category_id, title, description, slug, hourly_rate_cents, location,
                                       service_radius_m, status)
          select ${provider.id}, c.id, 'Service ' || i, 'Filler listing number ' || i, 'filler-' || i, 5000,
                 public.geo_point((i % 359) - 179.5, ((i * 7) % 160) - 80), 5000, 'active'
          from generate_series(1, 2000) i, public.categories c
          where c.slug = 'handyman' and c.tenant_id is null`);
        // A service area for every other filler: a 0.1° square around its point.
        await tx.query(sql`
          insert into public.listing_service_areas (listing_id, area)
          select id, extensions.st_multi(extensions.st_expand(location::extensions.geometry, 0.05))::extensions.geography
          from public.listings where slug like 'filler-%' and right(slug, 1) in ('0', '2', '4', '6', '8')`);
        await tx.query(`
          select gin_clean_pending_list(c.oid)
          from pg_index i join pg_class c on c.oid = i.indexrelid join pg_am a on a.oid = c.relam
          where i.indrelid = 'public.listings'::regclass and a.amname = 'gin'`);
        await tx.query('analyze public.listings');
        await tx.query('analyze public.listing_service_areas');
        await tx.query('set local enable_seqscan = off');
        await tx.query('grant execute on function app.search_explain(jsonb, boolean) to anon');
        await tx.query(`set local role anon`);
        await tx.query(`select set_config('request.jwt.claims', '{"role":"anon"}', true)`);
        const { rows } = await tx.query<{ line: string }>(
          sql`select app.search_explain(${JSON.stringify(request)}::jsonb) as line`,
        );
        text = rows.map((r) => r.line).join('\n');
        throw new RolledBack();
      })
      .catch((error) => {
        if (!(error instanceof RolledBack)) throw error;
      });
    return text;
  }

  const noSeqScan = (text: string) => assert.doesNotMatch(text, /Seq Scan on listings/, text);

  test('text and radius: the GIN and GiST indexes', async () => {
    const text = await plan({ query: 'plumbing', lat: LAT, lon: LON, radius_m: 10_000 });
    assert.match(text, /listings_search_gin|listings_(active_)?location_gist/, text);
    noSeqScan(text);
  });

  test('text alone: the GIN index; the typo step: the trigram index', async () => {
    const fts = await plan({ query: 'plumbing' });
    assert.match(fts, /listings_search_gin/, fts);
    noSeqScan(fts);
    const similar = await plan({ query: 'plumbng', text_mode: 'similar' });
    assert.match(similar, /listings_title_trgm/, similar);
    noSeqScan(similar);
  });

  test('serving: the service-area polygons and the travel-radius boxes', async () => {
    const text = await plan({ lat: LAT, lon: LON, serving: true, category: 'plumbing' });
    assert.match(text, /listing_service_areas_area_gist/, text);
    assert.match(text, /listings_service_bbox_gist/, text);
    noSeqScan(text);
  });

  test('a stepped search by location: the location index near the point, not the travel-radius boxes', async () => {
    const text = await plan({ lat: LAT, lon: LON, serving: true, within_m: 2000 });
    assert.match(text, /listing_service_areas_area_gist/, text);
    assert.match(text, /listings_(active_)?location_gist/, text);
    assert.doesNotMatch(text, /listings_service_bbox_gist/, text);
    noSeqScan(text);
  });
});

describe(`search: the docs' snippet runs (${testBackend()})`, () => {
  test('docs/workflows.md ## Search: the search page with supabase-js', async () => {
    const docs = await readFile(join(ROOT, 'docs', 'workflows.md'), 'utf8');
    const section = docs.split(/^## /m).find((s) => s.startsWith('Search'));
    const code = /```ts\n([\s\S]*?)```/.exec(section ?? '')?.[1];
    assert.ok(code, 'docs/workflows.md has a ## Search section with a ts snippet');
    // The snippet expects `supabase` (a client) and the customer's point; it leaves `page`, `cards`, `more`.
    const run = new Function(
      'supabase',
      'lat',
      'lon',
      `return (async () => { ${code}; return { page, cards, more }; })()`,
    );
    const { page, cards, more } = await run(anon, LAT, LON);
    assert.equal(page.total, 2);
    assert.deepEqual(
      cards.map((c: Json) => [c.title, c.km, c.provider]),
      [
        ['Emergency plumbing', '1.0', 'Pat the Plumber'],
        ['Drain unclogging', '3.0', 'Pat the Plumber'],
      ],
    );
    assert.equal(more, null);
  });
});

class RolledBack extends Error {}
