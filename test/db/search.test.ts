import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type Query, sql } from '../../src/db/sql.js';
import { createListing, createTenant, createUser, type ListingFixture, type UserFixture } from '../helpers/fixtures.js';
import { asUser, getTestDatabase, type TestDatabase, testBackend } from '../helpers/index.js';

/*
 * Listing search with known answers (migration 0005): weighted full-text search per language,
 * trigram typo search, radius / nearest / service-area geo search, and the indexes behind them.
 * Every test builds its own tenant, so the listings it searches are exactly the ones it made.
 */

let db: TestDatabase;
before(async () => {
  db = await getTestDatabase();
});
after(() => db?.dispose());

const uniq = () => randomUUID().slice(0, 8);

interface Market {
  readonly tenantId: string;
  readonly provider: UserFixture;
  /** A customer of this tenant: searches run as them, so they see this tenant only. */
  readonly searcher: UserFixture;
}

async function market(): Promise<Market> {
  const tenantId = await createTenant(db);
  return {
    tenantId,
    provider: await createUser(db, { role: 'provider', tenantId }),
    searcher: await createUser(db, { tenantId }),
  };
}

/** The titles a query returns, in order, run as the market's customer. */
async function titles(m: Market, query: Query): Promise<string[]> {
  return asUser(db, m.searcher.clerkId, async (tx) => {
    const { rows } = await tx.query<{ title: string }>(query);
    return rows.map((r) => r.title);
  });
}

/**
 * EXPLAIN as the owner (the role the SECURITY DEFINER search functions run as), with index
 * scans preferred, over a table of a few thousand spread-out listings with fresh statistics
 * (on a near-empty table any index scanned end to end costs as little as the right one).
 * Rolled back afterwards.
 */
async function plan(query: (tenantId: string) => string): Promise<string> {
  const bulk = await market();
  let text = '';
  await db
    .transaction(async (tx) => {
      await tx.query(sql`
        insert into public.listings (provider_id, category_id, title, description, slug, hourly_rate_cents, location, status)
        select ${bulk.provider.id}, c.id, 'Service ' || i, 'Filler listing number ' || i, 'filler-' || i, 5000,
               public.geo_point((i % 359) - 179.5, ((i * 7) % 160) - 80), 'active'
        from generate_series(1, 1000) i, public.categories c
        where c.slug = 'handyman' and c.tenant_id is null`);
      // What autovacuum would do: move the GIN pending lists into the indexes, then gather statistics.
      await tx.query(`
        select gin_clean_pending_list(c.oid)
        from pg_index i join pg_class c on c.oid = i.indexrelid join pg_am a on a.oid = c.relam
        where i.indrelid = 'public.listings'::regclass and a.amname = 'gin'`);
      await tx.query('analyze public.listings');
      await tx.query('set local enable_seqscan = off');
      await tx.query('set local search_path = public, extensions'); // as the search functions set it
      const { rows } = await tx.query<{ 'QUERY PLAN': string }>(`explain ${query(bulk.tenantId)}`);
      text = rows.map((r) => r['QUERY PLAN']).join('\n');
      throw new RolledBack();
    })
    .catch((error) => {
      if (!(error instanceof RolledBack)) throw error;
    });
  return text;
}

class RolledBack extends Error {}

// --------------------------------------------------------------------------------------------
// full-text search
// --------------------------------------------------------------------------------------------

describe(`full-text search (${testBackend()})`, () => {
  test('a title match ranks above a description match, which ranks above a keyword or tag match', async () => {
    const m = await market();
    await createListing(db, m.provider, { title: 'Chimney sweeping', description: 'Soot and creosote removed.' });
    await createListing(db, m.provider, { title: 'Roof work', description: 'Tiles, flashing and chimney repairs.' });
    await createListing(db, m.provider, { title: 'Gutter care', description: 'Clean gutters.', keywords: ['chimney'] });
    const tagged = await createListing(db, m.provider, { title: 'Attic insulation', description: 'Warmer homes.' });
    const { rows } = await db.query<{ id: string }>(sql`
      insert into public.tags (tenant_id, name, slug) values (${m.tenantId}, 'Chimney', 'chimney') returning id`);
    await db.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${tagged.id}, ${rows[0]?.id})`);
    await createListing(db, m.provider, { title: 'Piano lessons', description: 'Beginners welcome.' });

    const found = await titles(
      m,
      sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('chimney')->'results') r`,
    );
    assert.deepEqual(found.slice(0, 2), ['Chimney sweeping', 'Roof work']);
    assert.deepEqual(found.slice(2).sort(), ['Attic insulation', 'Gutter care']);
  });

  test('the rank itself orders title (A) over description (B) over keywords and tags (C)', async () => {
    const m = await market();
    for (const [title, description, keywords] of [
      ['Mural painting', 'Walls brought to life.', []],
      ['Wall art', 'Hand-painted murals.', []],
      ['Decor advice', 'Colour schemes.', ['mural']],
    ] as const) {
      await createListing(db, m.provider, { title, description, keywords: [...keywords] });
    }
    const { rows } = await db.query<{ title: string; rank: number }>(sql`
      select title, ts_rank_cd(search_vector, websearch_to_tsquery('english', 'mural'))::float8 as rank
      from public.listings where tenant_id = ${m.tenantId} order by rank desc`);
    assert.deepEqual(
      rows.map((r) => r.title),
      ['Mural painting', 'Wall art', 'Decor advice'],
    );
    const [a, b, c] = rows.map((r) => r.rank);
    assert.ok((a as number) > (b as number) && (b as number) > (c as number) && (c as number) > 0, `${a} ${b} ${c}`);
  });

  test('a listing with empty keywords, no tags and an empty description is still searchable', async () => {
    const m = await market();
    const listing = await createListing(db, m.provider, { title: 'Tuba lessons', description: '', keywords: [] });
    const { rows } = await db.query(sql`
      select search_vector is not null as has_vector, length(search_vector) as lexemes
      from public.listings where id = ${listing.id}`);
    assert.deepEqual(rows, [{ has_vector: true, lexemes: 2 }]);
    assert.deepEqual(
      await titles(
        m,
        sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('tuba')->'results') r`,
      ),
      ['Tuba lessons'],
    );
    assert.deepEqual(
      await titles(
        m,
        sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('lesson')->'results') r`,
      ),
      ['Tuba lessons'],
    );
  });

  test('tag names become searchable when a listing is tagged and stop matching when it is untagged', async () => {
    const m = await market();
    const listing = await createListing(db, m.provider, {
      title: 'Keyboard care',
      description: 'Instruments serviced.',
    });
    const { rows } = await db.query<{ id: string }>(sql`
      insert into public.tags (tenant_id, name, slug)
      values (${m.tenantId}, 'Harpsichord tuning', ${`harpsichord-${uniq()}`}) returning id`);
    const tag = rows[0]?.id as string;
    const search = sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('harpsichord')->'results') r`;
    await asUser(db, m.provider.clerkId, async (tx) => {
      const found = async () => (await tx.query<{ title: string }>(search)).rows.map((r) => r.title);
      assert.deepEqual(await found(), []);
      await tx.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${listing.id}, ${tag})`);
      assert.deepEqual(await found(), ['Keyboard care']);
      await tx.query(sql`delete from public.listing_tags where listing_id = ${listing.id} and tag_id = ${tag}`);
      assert.deepEqual(await found(), []);
      // Untagging recomputes the vector from what is left: title and description still match.
      assert.deepEqual(
        (
          await tx.query<{ title: string }>(
            sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('instrument')->'results') r`,
          )
        ).rows,
        [{ title: 'Keyboard care' }],
      );
    });
  });

  test('editing a title re-indexes the listing', async () => {
    const m = await market();
    const listing = await createListing(db, m.provider, { title: 'Bicycle repair', description: 'Tyres and brakes.' });
    await asUser(db, m.provider.clerkId, async (tx) => {
      await tx.query(sql`update public.listings set title = 'Scooter repair' where id = ${listing.id}`);
      const found = async (q: string) =>
        (
          await tx.query<{ title: string }>(
            sql`select r->>'title' as title from jsonb_array_elements(public.search_listings(${q})->'results') r`,
          )
        ).rows.map((r) => r.title);
      assert.deepEqual(await found('scooter'), ['Scooter repair']);
      assert.deepEqual(await found('bicycle'), []);
    });
  });

  test('a Spanish listing is found by a Spanish stemmed query in lang es, not by the English stemmer', async () => {
    const m = await market();
    await createListing(db, m.provider, {
      title: 'Fontanero',
      description: 'fontanero reparaciones',
      language: 'es',
    });
    const { rows } = await db.query(sql`
      select search_vector::text as vector from public.listings where tenant_id = ${m.tenantId}`);
    assert.deepEqual(rows, [{ vector: "'fontaner':1A,2B 'repar':3B" }]);
    assert.deepEqual(
      await titles(
        m,
        sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('fontaneros reparación', lang => 'es')->'results') r`,
      ),
      ['Fontanero'],
    );
    assert.deepEqual(
      await titles(
        m,
        sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('fontaneros reparación')->'results') r`,
      ),
      [],
    );
  });

  test('a German listing is found by a German stemmed query in lang de', async () => {
    const m = await market();
    await createListing(db, m.provider, {
      title: 'Klempner',
      description: 'Reparaturen an Rohrleitungen',
      language: 'de',
    });
    assert.deepEqual(
      await titles(
        m,
        sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('Rohrleitung', lang => 'de')->'results') r`,
      ),
      ['Klempner'],
    );
    assert.deepEqual(
      await titles(
        m,
        sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('Reparatur', lang => 'de')->'results') r`,
      ),
      ['Klempner'],
    );
  });

  test('a listing in a language without a configuration is indexed without stemming', async () => {
    const m = await market();
    await createListing(db, m.provider, { title: 'Mpishi wa sherehe', description: 'Chakula kitamu', language: 'sw' });
    assert.deepEqual(
      await titles(
        m,
        sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('sherehe', lang => 'sw')->'results') r`,
      ),
      ['Mpishi wa sherehe'],
    );
  });

  test('search only returns active, not deleted listings of the caller’s tenant', async () => {
    const m = await market();
    const other = await market();
    await createListing(db, m.provider, { title: 'Window washing', description: 'Streak free.' });
    await createListing(db, m.provider, { title: 'Window tinting', description: 'Draft.', status: 'draft' });
    await createListing(db, m.provider, { title: 'Window fitting', description: 'Suspended.', status: 'suspended' });
    const gone = await createListing(db, m.provider, { title: 'Window repair', description: 'Deleted.' });
    await db.query(sql`update public.listings set deleted_at = now() where id = ${gone.id}`);
    await createListing(db, other.provider, { title: 'Window cleaning', description: 'Elsewhere.' });
    assert.deepEqual(
      await titles(
        m,
        sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('window')->'results') r`,
      ),
      ['Window washing'],
    );
    // The provider's own drafts are not search results either.
    assert.deepEqual(
      await asUser(db, m.provider.clerkId, async (tx) =>
        (
          await tx.query<{ title: string }>(
            sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('window')->'results') r`,
          )
        ).rows.map((r) => r.title),
      ),
      ['Window washing'],
    );
    assert.deepEqual(
      await titles(
        other,
        sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('window')->'results') r`,
      ),
      ['Window cleaning'],
    );
  });

  test('the category filter matches the category and its subcategories, by path segment', async () => {
    const m = await market();
    // A tenant category whose slug ends in the filter's slug, with a child: not "plumbing".
    const { rows } = await db.query<{ id: string }>(sql`
      with parent as (
        insert into public.categories (tenant_id, parent_id, name, slug)
        select ${m.tenantId}, c.id, 'Emergency plumbing', 'emergency-plumbing'
        from public.categories c where c.slug = 'home-services' and c.tenant_id is null
        returning id)
      insert into public.categories (tenant_id, parent_id, name, slug)
      select ${m.tenantId}, parent.id, 'Burst pipes', 'burst-pipes' from parent
      returning id`);
    const burstPipes = rows[0]?.id as string;
    await createListing(db, m.provider, { title: 'Leak fixing', description: 'Plumbing.' });
    const burst = await createListing(db, m.provider, { title: 'Burst pipe rescue', description: 'Night calls.' });
    const wiring = await createListing(db, m.provider, { title: 'Rewiring', description: 'Electrics.' });
    await db.query(sql`update public.listings set category_id = ${burstPipes} where id = ${burst.id}`);
    await db.query(sql`
      update public.listings set category_id = (select id from public.categories where slug = 'electrical' and tenant_id is null)
      where id = ${wiring.id}`);
    const inCategory = async (category: string) =>
      (
        await titles(
          m,
          sql`select r->>'title' as title from jsonb_array_elements(public.search_listings(category => ${category})->'results') r`,
        )
      ).sort();
    assert.deepEqual(await inCategory('plumbing'), ['Leak fixing']);
    assert.deepEqual(await inCategory('emergency-plumbing'), ['Burst pipe rescue']);
    assert.deepEqual(await inCategory('home-services'), ['Burst pipe rescue', 'Leak fixing', 'Rewiring']);
    assert.deepEqual(await inCategory('pet-care'), []);
  });

  test('the full-text predicate uses listings_search_gin', async () => {
    const text = await plan(
      (tenant) => `
        select id from public.listings l
        where l.tenant_id = '${tenant}' and l.status = 'active' and l.deleted_at is null
          and l.search_vector @@ websearch_to_tsquery('english'::regconfig, 'plumbing')`,
    );
    assert.match(text, /listings_search_gin/, text);
  });
});

// --------------------------------------------------------------------------------------------
// trigram typo search
// --------------------------------------------------------------------------------------------

describe(`typo-tolerant title search (${testBackend()})`, () => {
  test("a misspelt 'plumbng' finds 'Plumbing Pro' by trigram similarity", async () => {
    const m = await market();
    await createListing(db, m.provider, { title: 'Plumbing Pro' });
    await createListing(db, m.provider, { title: 'Plumber on call' });
    await createListing(db, m.provider, { title: 'Piano lessons' });
    assert.deepEqual(await titles(m, sql`select title from public.listings where title % 'plumbng'`), ['Plumbing Pro']);
    const { rows } = await db.query<{ title: string; score: number }>(sql`
      select title, round(extensions.similarity(title, 'plumbng')::numeric, 2)::float8 as score
      from public.listings where tenant_id = ${m.tenantId} order by score desc`);
    assert.deepEqual(rows, [
      { title: 'Plumbing Pro', score: 0.43 },
      { title: 'Plumber on call', score: 0.26 },
      { title: 'Piano lessons', score: 0.05 },
    ]);
  });

  test('the trigram predicate uses listings_title_trgm', async () => {
    const text = await plan(
      (tenant) => `
        select id from public.listings l
        where l.tenant_id = '${tenant}' and l.deleted_at is null and l.title % 'plumbng'`,
    );
    assert.match(text, /listings_title_trgm/, text);
  });
});

// --------------------------------------------------------------------------------------------
// geo search
// --------------------------------------------------------------------------------------------

/** A point `metres` north of (lon, lat): one degree of latitude is 111,132 m at 45°N. */
const LON = 2.0;
const LAT = 45.0;
const north = (metres: number) => LAT + metres / 111_132;
const east = (metres: number) => LON + metres / (111_132 * Math.cos((LAT * Math.PI) / 180));

describe(`geo search (${testBackend()})`, () => {
  let m: Market;
  let other: Market;
  let near: ListingFixture;
  let mid: ListingFixture;
  let far: ListingFixture;

  before(async () => {
    m = await market();
    other = await market();
    near = await createListing(db, m.provider, { title: 'Near 1 km', lon: LON, lat: north(1000) });
    mid = await createListing(db, m.provider, { title: 'Mid 4 km', lon: east(4000), lat: LAT });
    far = await createListing(db, m.provider, { title: 'Far 12 km', lon: LON, lat: north(-12_000) });
    await createListing(db, m.provider, { title: 'Draft 2 km', lon: LON, lat: north(2000), status: 'draft' });
    await createListing(db, other.provider, { title: 'Other tenant 0.5 km', lon: LON, lat: north(500) });
  });

  test('the fixtures lie at the stated distances', async () => {
    const { rows } = await db.query<{ id: string; d: number }>(sql`
      select id, round(extensions.st_distance(location, public.geo_point(${LON}, ${LAT})))::int as d
      from public.listings where id = any(${[near.id, mid.id, far.id]}::uuid[])`);
    const byId = new Map(rows.map((r) => [r.id, r.d]));
    for (const [listing, metres] of [
      [near, 1000],
      [mid, 4000],
      [far, 12_000],
    ] as const) {
      const d = byId.get(listing.id) as number;
      assert.ok(Math.abs(d - metres) <= metres * 0.01, `${d} m instead of ${metres} m`);
    }
  });

  test('search_listings() by radius returns exactly the listings within it, nearest first', async () => {
    const within = (radius: number) =>
      titles(
        m,
        sql`select r->>'title' as title from jsonb_array_elements(public.search_listings(lon => ${LON}, lat => ${LAT}, radius_m => ${radius})->'results') r`,
      );
    assert.deepEqual(await within(500), []);
    assert.deepEqual(await within(1500), ['Near 1 km']);
    assert.deepEqual(await within(5000), ['Near 1 km', 'Mid 4 km']);
    assert.deepEqual(await within(15_000), ['Near 1 km', 'Mid 4 km', 'Far 12 km']);
  });

  test('search_listings() combines text and radius', async () => {
    assert.deepEqual(
      await titles(
        m,
        sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('leak', lon => ${LON}, lat => ${LAT}, radius_m => ${5000})->'results') r`,
      ),
      ['Near 1 km', 'Mid 4 km'],
    );
    assert.deepEqual(
      await titles(
        m,
        sql`select r->>'title' as title from jsonb_array_elements(public.search_listings('far', lon => ${LON}, lat => ${LAT}, radius_m => ${5000})->'results') r`,
      ),
      [],
    );
  });

  test('nearby_listings() returns the listings within the radius, nearest first, up to max_results', async () => {
    const nearby = (radius: number, max = 20) =>
      titles(m, sql`select title from public.nearby_listings(${LON}, ${LAT}, ${radius}, ${max})`);
    assert.deepEqual(await nearby(500), []);
    assert.deepEqual(await nearby(5000), ['Near 1 km', 'Mid 4 km']);
    assert.deepEqual(await nearby(15_000), ['Near 1 km', 'Mid 4 km', 'Far 12 km']);
    assert.deepEqual(await nearby(15_000, 2), ['Near 1 km', 'Mid 4 km']);
  });

  test('anon browsing the default tenant finds none of these listings', async () => {
    const found = await asUser(db, null, async (tx) => {
      const { rows } = await tx.query<{ title: string }>(
        sql`select title from public.nearby_listings(${LON}, ${LAT}, ${15_000})`,
      );
      return rows.map((r) => r.title);
    });
    assert.deepEqual(found, []);
    assert.deepEqual(await titles(other, sql`select title from public.nearby_listings(${LON}, ${LAT}, ${15_000})`), [
      'Other tenant 0.5 km',
    ]);
  });

  test('the radius query and the nearest-first order use a GIST index on listings.location', async () => {
    const radius = await plan(
      (tenant) => `
        select id from public.listings l
        where l.tenant_id = '${tenant}' and l.status = 'active' and l.deleted_at is null
          and st_dwithin(l.location, public.geo_point(${LON}, ${LAT}), 5000)`,
    );
    assert.match(
      radius,
      /Index (Only )?Scan using listings_(active_)?location_gist|Bitmap Index Scan on listings_(active_)?location_gist/,
      radius,
    );
    const knn = await plan(
      (tenant) => `
        select id from public.listings l
        where l.tenant_id = '${tenant}' and l.status = 'active' and l.deleted_at is null
        order by l.location <-> public.geo_point(${LON}, ${LAT}) limit 20`,
    );
    assert.match(knn, /Index Scan using listings_(active_)?location_gist/, knn);
    assert.match(knn, /Order By: \(location <-> /, knn);
  });
});

describe(`listings serving a point (${testBackend()})`, () => {
  // A 10 km square centred 50 km east of the origin.
  const AREA_LON = east(50_000);
  const square = (() => {
    const dLon = east(5000) - LON;
    const dLat = north(5000) - LAT;
    const [w, e, s, n] = [AREA_LON - dLon, AREA_LON + dLon, LAT - dLat, LAT + dLat];
    return `MULTIPOLYGON(((${w} ${s}, ${e} ${s}, ${e} ${n}, ${w} ${n}, ${w} ${s})))`;
  })();
  const addArea = (listing: ListingFixture) =>
    db.query(sql`
      insert into public.listing_service_areas (listing_id, area) values (${listing.id}, extensions.st_geogfromtext(${square}))`);

  test('a service area decides where a listing serves; without one, its radius does', async () => {
    const m = await market();
    const other = await market();
    // Both based at the origin with a 15 km radius; only the first draws an area 50 km away.
    await addArea(await createListing(db, m.provider, { title: 'Area based', lon: LON, lat: LAT }));
    await createListing(db, m.provider, { title: 'Radius based', lon: LON, lat: LAT });
    // Hidden ones covering the same points.
    await addArea(await createListing(db, m.provider, { title: 'Draft area', lon: LON, lat: LAT, status: 'draft' }));
    await addArea(await createListing(db, other.provider, { title: 'Other tenant area', lon: LON, lat: LAT }));

    const serving = (lon: number, lat: number) =>
      titles(m, sql`select title from public.listings_serving(${lon}, ${lat})`);
    // Inside the polygon, far outside both radii.
    assert.deepEqual(await serving(AREA_LON, LAT), ['Area based']);
    assert.deepEqual(await serving(AREA_LON + 0.04, LAT + 0.03), ['Area based']);
    // At the base: inside both radii, outside the polygon.
    assert.deepEqual(await serving(LON, LAT), ['Radius based']);
    assert.deepEqual(await serving(LON, north(14_000)), ['Radius based']);
    // Outside the radius and outside the polygon.
    assert.deepEqual(await serving(LON, north(16_000)), []);
    assert.deepEqual(await serving(east(56_000), LAT), []);
    assert.deepEqual(await titles(other, sql`select title from public.listings_serving(${AREA_LON}, ${LAT})`), [
      'Other tenant area',
    ]);
  });
});
