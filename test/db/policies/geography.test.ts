import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Queryable } from '../../../src/db/database.js';
import { type SqlFragment, sql } from '../../../src/db/sql.js';
import { createUser, type UserFixture } from '../../helpers/fixtures.js';
import { asRole, asUser, getTestDatabase, type TestDatabase, testBackend } from '../../helpers/index.js';

/*
 * 0002 geography: regions and cities are global reference data anyone reads (active rows only)
 * and only service_role writes; region_at() and nearest_cities() answer on the GIST indexes.
 * Also the shared domains and helpers of 0001 (time_zone, currency_code, cents, slug).
 */

let db: TestDatabase;
let user: UserFixture;
let admin: UserFixture;

const ACTIVE_REGIONS = ['AU', 'BR', 'CA', 'EU', 'IN', 'MX', 'UK', 'US'];
const MANHATTAN = { lon: -73.9712, lat: 40.7831 }; // Central Park
const BERLIN = { lon: 13.405, lat: 52.52 };
const ATLANTIC = { lon: -40, lat: 35 };
const PACIFIC = { lon: -150, lat: 0 };

async function rows<T = Record<string, unknown>>(tx: Queryable, query: SqlFragment): Promise<T[]> {
  return (await tx.query<T>(query)).rows;
}

function asServiceRole<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return asRole(db, 'service_role', { role: 'service_role' }, fn);
}

/** Every index an EXPLAIN (FORMAT JSON) plan scans. */
function indexesIn(plan: unknown): string[] {
  const found: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'Index Name' && typeof value === 'string') found.push(value);
        else walk(value);
      }
    }
  };
  walk(typeof plan === 'string' ? JSON.parse(plan) : plan);
  return found;
}

/** The indexes a trusted caller's query uses when sequential scans are off. */
async function indexesUsed(query: SqlFragment): Promise<string[]> {
  return asServiceRole(async (tx) => {
    await tx.query(sql`set local enable_seqscan = off`);
    const plan = await rows<Record<string, unknown>>(tx, sql`explain (format json) ${query}`);
    return indexesIn(plan[0]?.['QUERY PLAN']);
  });
}

before(async () => {
  db = await getTestDatabase();
  user = await createUser(db);
  admin = await createUser(db, { role: 'super_admin' });
  // A market not launched yet, covering a point in the Pacific, and a closed city right next
  // to Central Park (nearer to it than New York's own centre).
  await db.query(sql`
    insert into public.regions (code, name, country_codes, time_zone, currency, boundary, is_active)
    values ('ZZ', 'Not launched', '{KI}', 'Pacific/Tarawa', 'AUD',
            extensions.st_multi(extensions.st_buffer(public.geo_point(${PACIFIC.lon}, ${PACIFIC.lat}), 100000)::extensions.geometry)::extensions.geography, false)`);
  await db.query(sql`
    insert into public.cities (region_id, name, slug, country_code, time_zone, location, is_active)
    select id, 'Hoboken', 'hoboken', 'US', 'America/New_York', public.geo_point(-74.0324, 40.744), false
    from public.regions where code = 'US'`);
});
after(() => db?.dispose());

describe(`regions and cities: who reads and writes (${testBackend()})`, () => {
  test('anon and signed-in users read the active markets only', async () => {
    for (const clerkId of [null, user.clerkId]) {
      const seen = await asUser(db, clerkId, (tx) =>
        rows<{ code: string }>(tx, sql`select code from public.regions order by code`),
      );
      assert.deepEqual(
        seen.map((r) => r.code),
        ACTIVE_REGIONS,
      );
    }
  });

  test('anon reads the active cities with their market, and not a closed city', async () => {
    const seen = await asUser(db, null, (tx) =>
      rows<{ n: number; closed: number }>(
        tx,
        sql`select count(*)::int as n, count(*) filter (where slug = 'hoboken')::int as closed from public.cities`,
      ),
    );
    assert.deepEqual(seen, [{ n: 34, closed: 0 }]);
    const berlin = await asUser(db, null, (tx) =>
      rows(
        tx,
        sql`select c.name, c.country_code, c.time_zone, r.code, r.currency
              from public.cities c join public.regions r on r.id = c.region_id where c.slug = 'berlin'`,
      ),
    );
    assert.deepEqual(berlin, [
      { name: 'Berlin', country_code: 'DE', time_zone: 'Europe/Berlin', code: 'EU', currency: 'EUR' },
    ]);
  });

  test('service_role sees inactive markets and cities too', async () => {
    const seen = await asServiceRole((tx) =>
      rows(
        tx,
        sql`select (select count(*)::int from public.regions) as regions, (select count(*)::int from public.cities) as cities`,
      ),
    );
    assert.deepEqual(seen, [{ regions: 9, cities: 35 }]);
  });

  test('anon, users and admins cannot insert, update or delete regions or cities', async () => {
    const writes = [
      sql`insert into public.regions (code, name, country_codes, time_zone, currency)
          values ('XX', 'Mine', '{XX}', 'UTC', 'USD')`,
      sql`update public.regions set commission_rate_bps = 0`,
      sql`update public.regions set is_active = true where code = 'ZZ'`,
      sql`delete from public.regions where code = 'ZZ'`,
      sql`insert into public.cities (region_id, name, slug, country_code, time_zone, location)
          select id, 'Nowhere', 'nowhere', 'US', 'UTC', public.geo_point(0, 0) from public.regions limit 1`,
      sql`update public.cities set service_radius_m = 1`,
      sql`delete from public.cities where slug = 'berlin'`,
    ];
    for (const clerkId of [null, user.clerkId, admin.clerkId]) {
      for (const write of writes) {
        await assert.rejects(
          asUser(db, clerkId, (tx) => tx.query(write)),
          { code: '42501' },
          write.text,
        );
      }
    }
  });

  test('service_role maintains cities', async () => {
    const changed = await asServiceRole(async (tx) => {
      const updated = await tx.query(sql`update public.cities set population = 3900000 where slug = 'berlin'`);
      return updated.rowCount;
    });
    assert.equal(changed, 1);
  });

  test('a market that still has cities cannot be deleted', async () => {
    // restrict_violation since PostgreSQL 18, foreign_key_violation before.
    await assert.rejects(
      asServiceRole((tx) => tx.query(sql`delete from public.regions where code = 'EU'`)),
      (error: { code?: string; message?: string }) =>
        ['23001', '23503'].includes(error.code ?? '') && /cities_region_id_fkey/.test(error.message ?? ''),
    );
  });
});

describe(`region_at and nearest_cities (${testBackend()})`, () => {
  const regionAt = (p: { lon: number; lat: number }) => sql`select code from public.region_at(${p.lon}, ${p.lat})`;

  test('a point in Manhattan is in the US market, central Berlin in the EU, mid-Atlantic in none', async () => {
    const found = await asUser(db, null, async (tx) => ({
      manhattan: await rows(tx, regionAt(MANHATTAN)),
      berlin: await rows(tx, regionAt(BERLIN)),
      atlantic: await rows(tx, regionAt(ATLANTIC)),
    }));
    assert.deepEqual(found, { manhattan: [{ code: 'US' }], berlin: [{ code: 'EU' }], atlantic: [] });
  });

  test('an inactive market is found by nobody, not even service_role', async () => {
    assert.deepEqual(await asUser(db, null, (tx) => rows(tx, regionAt(PACIFIC))), []);
    assert.deepEqual(await asServiceRole((tx) => rows(tx, regionAt(PACIFIC))), []);
  });

  test('nearest_cities orders the active cities by distance', async () => {
    const near = await asUser(db, null, async (tx) => ({
      manhattan: await rows<{ slug: string }>(
        tx,
        sql`select slug from public.nearest_cities(${MANHATTAN.lon}, ${MANHATTAN.lat}, 4)`,
      ),
      berlin: await rows<{ slug: string }>(
        tx,
        sql`select slug from public.nearest_cities(${BERLIN.lon}, ${BERLIN.lat}, 3)`,
      ),
    }));
    // Hoboken is closer to Central Park than New York's centre, but it is closed.
    assert.deepEqual(
      near.manhattan.map((r) => r.slug),
      ['new-york', 'boston', 'montreal', 'toronto'],
    );
    assert.deepEqual(
      near.berlin.map((r) => r.slug),
      ['berlin', 'amsterdam', 'stockholm'],
    );
  });

  test('nearest_cities returns five by default and clamps max_results to 1..100', async () => {
    const counts = await asUser(db, user.clerkId, (tx) =>
      rows(
        tx,
        sql`select (select count(*)::int from public.nearest_cities(0, 0)) as default_count,
                   (select count(*)::int from public.nearest_cities(0, 0, 0)) as at_least_one,
                   (select count(*)::int from public.nearest_cities(0, 0, -5)) as negative,
                   (select count(*)::int from public.nearest_cities(0, 0, 1000)) as all_active`,
      ),
    );
    assert.deepEqual(counts, [{ default_count: 5, at_least_one: 1, negative: 1, all_active: 34 }]);
  });

  test('a radius search on cities uses the location GIST index', async () => {
    const used = await indexesUsed(
      sql`select * from public.cities where st_dwithin(location, public.geo_point(-73.97, 40.78), 50000)`,
    );
    assert.deepEqual(used, ['cities_location_gist']);
  });

  test('a nearest-first search on cities uses the location GIST index', async () => {
    const used = await indexesUsed(
      sql`select * from public.cities order by location <-> public.geo_point(-73.97, 40.78) limit 3`,
    );
    assert.deepEqual(used, ['cities_location_gist']);
  });

  test('a containment search on regions uses the boundary GIST index', async () => {
    const used = await indexesUsed(
      sql`select * from public.regions where st_covers(boundary, public.geo_point(13.405, 52.52))`,
    );
    assert.deepEqual(used, ['regions_boundary_gist']);
  });
});

describe(`shared domains and helpers (${testBackend()})`, () => {
  const cast = (value: unknown, domain: string) =>
    asUser(db, null, (tx) => rows(tx, sql`select ${value}::${sql.ident('public', domain)} as v`));

  test('time_zone accepts IANA names and UTC', async () => {
    for (const zone of ['America/New_York', 'Europe/Berlin', 'America/Argentina/Buenos_Aires', 'UTC']) {
      assert.deepEqual(await cast(zone, 'time_zone'), [{ v: zone }]);
    }
  });

  test('time_zone rejects unknown names, abbreviations and offsets', async () => {
    for (const zone of ['Mars/Olympus', 'EST', 'est', 'PST8PDT', '+02:00', 'america/new_york', '']) {
      await assert.rejects(cast(zone, 'time_zone'), { code: '23514' }, zone);
    }
  });

  test('currency_code accepts upper-case ISO codes and rejects anything else', async () => {
    assert.deepEqual(await cast('USD', 'currency_code'), [{ v: 'USD' }]);
    for (const code of ['usd', 'US', 'USDT', 'U$D']) {
      await assert.rejects(cast(code, 'currency_code'), { code: '23514' }, code);
    }
  });

  test('cents rejects negative amounts', async () => {
    assert.deepEqual(await cast(0, 'cents'), [{ v: '0' }]);
    await assert.rejects(cast(-1, 'cents'), { code: '23514' });
  });

  test('slug accepts lower-case words joined by single hyphens', async () => {
    assert.deepEqual(await cast('new-york-2', 'slug'), [{ v: 'new-york-2' }]);
    for (const slug of ['New-York', 'new york', '-new', 'new-', 'new--york', '', 'a'.repeat(121)]) {
      await assert.rejects(cast(slug, 'slug'), { code: '23514' }, slug);
    }
  });

  test('app.random_code draws only unambiguous characters, and API roles cannot call it', async () => {
    const codes = await rows<{ code: string }>(db, sql`select app.random_code(12) as code from generate_series(1, 50)`);
    for (const { code } of codes) assert.match(code, /^[2-9A-HJKMNP-Z]{12}$/);
    await assert.rejects(
      asUser(db, user.clerkId, (tx) => tx.query(sql`select app.random_code(6)`)),
      { code: '42501' },
    );
  });
});
