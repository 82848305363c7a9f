import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from '../../src/db/sql.js';
import { createListing, createUser, type UserFixture } from '../helpers/fixtures.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';

/*
 * Reads through /rest/v1 with @supabase/supabase-js (raw fetch where the client cannot say
 * it): select lists, filters, ordering, ranges and counts, embedding through the Loconomy
 * schema's relationships, and the errors PostgREST gives for bad requests.
 */

let db: TestDatabase;
let server: TestServer;
let provider: UserFixture;
let other: UserFixture;
const tag = `rt${Date.now().toString(36)}`;
const titles = [`${tag} alpha drain cleaning`, `${tag} bravo pipe fitting`, `${tag} charlie boiler service`];
const prices = [5000, 7000, 9000];

before(async () => {
  db = await getTestDatabase();
  provider = await createUser(db, { role: 'provider' });
  other = await createUser(db, { role: 'provider' });
  for (const [i, title] of titles.entries()) {
    await createListing(db, provider, { title, hourlyRateCents: prices[i], keywords: ['plumbing', `k${i}`] });
  }
  await createListing(db, provider, { title: `${tag} delta draft`, status: 'draft' });
  await createListing(db, other, { title: `${tag} echo other`, hourlyRateCents: 100 });
  const { rows } = await db.query<{ id: string }>(sql`select id from public.tags order by slug limit 2`);
  const listings = await db.query<{ id: string }>(
    sql`select id from public.listings where title like ${`${tag}%`} and provider_id = ${provider.id} order by title`,
  );
  for (const t of rows)
    await db.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${listings.rows[0]?.id}, ${t.id})`);
  server = await startTestServer(db, { LOCONOMY_DB_AGGREGATES_ENABLED: 'true' });
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

function raw(path: string, init: Omit<RequestInit, 'headers'> & { headers?: Record<string, string> } = {}) {
  return server.request(path, init);
}

describe(`REST reads (${testBackend()})`, () => {
  test('anon sees active listings only, with the columns asked for', async () => {
    const { data, error, status } = await server
      .client()
      .from('listings')
      .select('title, hourly_rate_cents')
      .like('title', `${tag}%`)
      .order('title');
    assert.equal(error, null);
    assert.equal(status, 200);
    assert.deepEqual(
      data?.map((r) => r.title),
      [...titles, `${tag} echo other`],
    );
    assert.deepEqual(Object.keys(data?.[0] ?? {}), ['title', 'hourly_rate_cents']);
  });

  test('the owner also sees their draft', async () => {
    const client = server.client({ token: await server.tokenFor(provider.clerkId) });
    const { data, error } = await client
      .from('listings')
      .select('title')
      .like('title', `${tag}%`)
      .eq('status', 'draft');
    assert.equal(error, null);
    assert.deepEqual(data, [{ title: `${tag} delta draft` }]);
  });

  test('aliases, casts and filters combine', async () => {
    const { data, error } = await server
      .client()
      .from('listings')
      .select('name:title, price:hourly_rate_cents::text')
      .like('title', `${tag}%`)
      .gte('hourly_rate_cents', 6000)
      .lt('hourly_rate_cents', 9500)
      .order('hourly_rate_cents', { ascending: false });
    assert.equal(error, null);
    assert.deepEqual(data, [
      { name: titles[2], price: '9000' },
      { name: titles[1], price: '7000' },
    ]);
  });

  test('in, or, not, ilike and is', async () => {
    const c = server.client().from('listings').select('title').like('title', `${tag}%`).order('title');
    const inList = await c.in('hourly_rate_cents', [5000, 9000]);
    assert.deepEqual(
      inList.data?.map((r) => r.title),
      [titles[0], titles[2]],
    );
    const either = await server
      .client()
      .from('listings')
      .select('title')
      .like('title', `${tag}%`)
      .or(`hourly_rate_cents.eq.100,title.ilike.*BRAVO*`)
      .order('title');
    assert.deepEqual(
      either.data?.map((r) => r.title),
      [titles[1], `${tag} echo other`],
    );
    const not = await server
      .client()
      .from('listings')
      .select('title')
      .like('title', `${tag}%`)
      .not('hourly_rate_cents', 'in', '(5000,7000,100)');
    assert.deepEqual(
      not.data?.map((r) => r.title),
      [titles[2]],
    );
    const isNull = await server
      .client()
      .from('listings')
      .select('title')
      .like('title', `${tag}%`)
      .is('deleted_at', null);
    assert.equal(isNull.data?.length, 4);
  });

  test('full-text search on the search vector', async () => {
    const { data, error } = await server
      .client()
      .from('listings')
      .select('title')
      .like('title', `${tag}%`)
      .textSearch('search_vector', 'boiler', { config: 'english', type: 'plain' });
    assert.equal(error, null);
    assert.deepEqual(data, [{ title: titles[2] }]);
  });

  test('range with an exact count answers 206 and Content-Range', async () => {
    const { data, count, status, error } = await server
      .client()
      .from('listings')
      .select('title', { count: 'exact' })
      .like('title', `${tag}%`)
      .order('title')
      .range(1, 2);
    assert.equal(error, null);
    assert.equal(status, 206);
    assert.equal(count, 4);
    assert.deepEqual(
      data?.map((r) => r.title),
      [titles[1], titles[2]],
    );
    const head = await raw(`listings?select=title&title=like.${encodeURIComponent(`${tag}*`)}&order=title`, {
      headers: { Range: '0-1', Prefer: 'count=exact' },
    });
    assert.equal(head.headers.get('content-range'), '0-1/4');
    // Content-Location: the request, its parameters sorted by name (PostgREST's canonical form).
    assert.equal(
      head.headers.get('content-location'),
      `/listings?order=title&select=title&title=${encodeURIComponent(`like.${tag}*`)}`,
    );
  });

  test('count=planned answers the planner estimate; count=estimated counts up to the row limit', async () => {
    const planned = await raw(`listings?select=title&title=like.${encodeURIComponent(`${tag}*`)}&limit=1`, {
      headers: { Prefer: 'count=planned' },
    });
    assert.equal(planned.json.length, 1);
    const estimate = Number(planned.headers.get('content-range')?.split('/')[1]);
    assert.ok(
      Number.isInteger(estimate) && estimate >= 1,
      `a whole estimate, got ${planned.headers.get('content-range')}`,
    );
    const estimated = await raw(`listings?select=title&title=like.${encodeURIComponent(`${tag}*`)}&limit=1`, {
      headers: { Prefer: 'count=estimated' },
    });
    // No LOCONOMY_DB_MAX_ROWS here: estimated is the exact count.
    assert.equal(estimated.status, 206);
    assert.equal(estimated.headers.get('content-range'), '0-0/4');
  });

  test('embeds many-to-one, one-to-many, many-to-many and one-to-one', async () => {
    const { data, error } = await server
      .client()
      .from('listings')
      .select('title, category:categories(slug), provider:user_profiles(user_id), tags(slug)')
      .eq('title', titles[0] as string)
      .single();
    assert.equal(error, null);
    // Without generated types supabase-js cannot tell to-one from to-many; the body can.
    const row = data as unknown as { category: { slug: string }; provider: { user_id: string }; tags: unknown[] };
    assert.equal(row.category.slug, 'plumbing');
    assert.equal(row.provider.user_id, provider.id);
    assert.equal(row.tags.length, 2);
    const profile = await server
      .client()
      .from('user_profiles')
      .select('user_id, listings(title)')
      .eq('user_id', provider.id)
      .eq('listings.status', 'active')
      .order('title', { referencedTable: 'listings' })
      .single();
    assert.equal(profile.error, null);
    assert.deepEqual(
      profile.data?.listings.map((l: { title: string }) => l.title),
      titles,
    );
    // One-to-one both ways: users.id ↔ user_profiles.user_id (a primary key and a foreign key).
    const asProvider = server.client({ token: await server.tokenFor(provider.clerkId) });
    const own = await asProvider
      .from('users')
      .select('id, user_profiles(user_id), profile:user_profiles(users(id))')
      .eq('id', provider.id)
      .single();
    assert.equal(own.error, null);
    assert.deepEqual(own.data, {
      id: provider.id,
      user_profiles: { user_id: provider.id },
      profile: { users: { id: provider.id } },
    });
  });

  test('!inner embedding filters the parent; spread hoists columns', async () => {
    const { data, error } = await server
      .client()
      .from('listings')
      .select('title, tags!inner(slug)')
      .like('title', `${tag}%`);
    assert.equal(error, null);
    assert.deepEqual(
      data?.map((r) => r.title),
      [titles[0]],
    );
    const spread = await server
      .client()
      .from('listings')
      .select('title, ...categories(category_slug:slug)')
      .eq('title', titles[1] as string);
    assert.equal(spread.error, null);
    assert.deepEqual(spread.data, [{ title: titles[1], category_slug: 'plumbing' }]);
  });

  test('aggregates group by the other columns', async () => {
    const { data, error } = await server
      .client()
      .from('listings')
      .select('provider_id, hourly_rate_cents.sum(), count()')
      .like('title', `${tag}%`)
      .eq('provider_id', provider.id);
    assert.equal(error, null);
    assert.deepEqual(data, [{ provider_id: provider.id, sum: 21000, count: 3 }]);
  });

  test('maybeSingle/single: 406 PGRST116 when not exactly one row', async () => {
    const { error, status } = await server.client().from('listings').select('title').like('title', `${tag}%`).single();
    assert.equal(status, 406);
    assert.equal(error?.code, 'PGRST116');
  });

  test('CSV when asked for', async () => {
    const csv = await raw(`listings?select=title,hourly_rate_cents&title=like.${encodeURIComponent(`${tag} a*`)}`, {
      headers: { Accept: 'text/csv' },
    });
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    // PostgreSQL's record text, as PostgREST sends it: text with spaces quoted, no final newline.
    assert.equal(csv.text, `title,hourly_rate_cents\n"${titles[0]}",5000`);
  });

  test('RPC: a set-returning function filtered and ordered like a table', async () => {
    const { data, error } = await server
      .client()
      .rpc('nearby_listings', { lon: -73.99, lat: 40.73, radius_m: 1000 })
      .like('title', `${tag} b%`)
      .select('title');
    assert.equal(error, null);
    assert.deepEqual(data, [{ title: titles[1] }]);
  });
});

describe(`REST read errors (${testBackend()})`, () => {
  test('an unknown table is 404 PGRST205 with a suggestion', async () => {
    const { error, status } = await server.client().from('listing').select('*');
    assert.equal(status, 404);
    assert.equal(error?.code, 'PGRST205');
    assert.match(error?.hint ?? '', /public\.listings/);
  });

  test('an unknown column is 400 42703', async () => {
    const { error, status } = await server.client().from('listings').select('titel');
    assert.equal(status, 400);
    assert.equal(error?.code, '42703');
    assert.match(error?.hint ?? '', /listings\.title/);
  });

  test('a filter out of grammar is 400 PGRST100', async () => {
    for (const query of [
      'title=nope.x',
      'title=eq',
      'or=(title.eq.1',
      'select=title,,id',
      'order=title.sideways',
      'limit=-1',
    ]) {
      const r = await raw(`listings?${query}`);
      assert.equal(r.status, 400, query);
      assert.equal(r.json.code, 'PGRST100', query);
      assert.deepEqual(Object.keys(r.json).sort(), ['code', 'details', 'hint', 'message'], query);
    }
  });

  test('a value of the wrong type is 400 22P02 from PostgreSQL', async () => {
    const r = await raw('listings?hourly_rate_cents=eq.lots');
    assert.equal(r.status, 400);
    assert.equal(r.json.code, '22P02');
  });

  test('no relationship is 400 PGRST200; a filter on a non-embedded resource is 400 PGRST108', async () => {
    const none = await raw('listings?select=title,regions(name)');
    assert.equal(none.status, 400);
    assert.equal(none.json.code, 'PGRST200');
    const notEmbedded = await raw('listings?select=title&tags.slug=eq.x');
    assert.equal(notEmbedded.status, 400);
    assert.equal(notEmbedded.json.code, 'PGRST108');
  });

  test('a schema that is not exposed is 406 PGRST106', async () => {
    const r = await raw('listings', { headers: { 'Accept-Profile': 'app' } });
    assert.equal(r.status, 406);
    assert.equal(r.json.code, 'PGRST106');
  });

  test('an unknown function is 404 PGRST202', async () => {
    const { error, status } = await server.client().rpc('no_such_function', {});
    assert.equal(status, 404);
    assert.equal(error?.code, 'PGRST202');
  });

  test('an unsupported method is 405 PGRST117', async () => {
    const r = await raw('listings', { method: 'PROPFIND' });
    assert.equal(r.status, 405);
    assert.equal(r.json.code, 'PGRST117');
  });

  test('a table anon may not read is 401 42501', async () => {
    const r = await raw('api_keys?select=id');
    assert.equal(r.status, 401);
    assert.equal(r.json.code, '42501');
  });
});

describe(`REST query plans (${testBackend()})`, () => {
  let planServer: TestServer;
  before(async () => {
    planServer = await startTestServer(db, { LOCONOMY_DB_PLAN_ENABLED: 'true' });
  });
  after(() => planServer?.close());

  test('Accept: application/vnd.pgrst.plan+json answers the plan of the statement instead of its rows', async () => {
    const r = await planServer.request(
      `listings?select=title,categories(slug)&title=like.${encodeURIComponent(`${tag}*`)}`,
      {
        headers: { Accept: 'application/vnd.pgrst.plan+json' },
      },
    );
    assert.equal(r.status, 200);
    assert.equal(
      r.headers.get('content-type'),
      'application/vnd.pgrst.plan+json; for="application/json"; charset=utf-8',
    );
    assert.equal(typeof r.json[0].Plan['Node Type'], 'string');
    assert.equal(r.json[0].Plan['Actual Rows'], undefined, 'no analyze unless asked for');
  });

  test('options=analyze runs a write for its plan and keeps nothing', async () => {
    const listing = await createListing(db, provider, { title: `${tag} planned update` });
    const r = await planServer.request(`listings?id=eq.${listing.id}`, {
      method: 'PATCH',
      headers: {
        Authorization: `Bearer ${await planServer.tokenFor(provider.clerkId)}`,
        'Content-Type': 'application/json',
        Accept: 'application/vnd.pgrst.plan+text; options=analyze',
      },
      body: JSON.stringify({ title: `${tag} changed by a plan` }),
    });
    assert.equal(r.status, 200);
    assert.match(r.text, /actual time=/);
    const { rows } = await db.query<{ title: string }>(sql`select title from public.listings where id = ${listing.id}`);
    assert.deepEqual(rows, [{ title: `${tag} planned update` }]);
  });

  test('an unknown plan option is 406 PGRST107', async () => {
    const r = await planServer.request('listings', {
      headers: { Accept: 'application/vnd.pgrst.plan+json; options=analyze|drop' },
    });
    assert.equal(r.status, 406);
    assert.equal(r.json.code, 'PGRST107');
  });
});
