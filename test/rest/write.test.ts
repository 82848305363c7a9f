import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import { categoryId, createListing, createUser, type UserFixture } from '../helpers/fixtures.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';

/*
 * Writes through /rest/v1 with supabase-js: inserts (single, bulk, upsert), updates, deletes,
 * PUT, the Prefer options, and for every refused write the PostgREST error and proof that
 * nothing was written.
 */

let db: TestDatabase;
let server: TestServer;
let provider: UserFixture;
let customer: UserFixture;
let asProvider: SupabaseClient;
let asCustomer: SupabaseClient;
let category: string;

before(async () => {
  db = await getTestDatabase();
  provider = await createUser(db, { role: 'provider' });
  customer = await createUser(db);
  category = await categoryId(db);
  server = await startTestServer(db, { LOCONOMY_DB_TX_END: 'commit-allow-override' });
  asProvider = server.client({ token: await server.tokenFor(provider.clerkId) });
  asCustomer = server.client({ token: await server.tokenFor(customer.clerkId) });
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

function listing(title: string, extra: Record<string, unknown> = {}) {
  return {
    provider_id: provider.id,
    category_id: category,
    title,
    description: 'Written through the REST API',
    slug: `rest-${randomUUID().slice(0, 8)}`,
    pricing_type: 'hourly',
    hourly_rate_cents: 6500,
    location: 'SRID=4326;POINT(-73.99 40.73)',
    service_radius_m: 5000,
    status: 'active',
    ...extra,
  };
}

async function countTitles(prefix: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    sql`select count(*)::int as n from public.listings where title like ${`${prefix}%`}`,
  );
  return rows[0]?.n ?? -1;
}

async function raw(path: string, init: Omit<RequestInit, 'headers'> & { headers?: Record<string, string> } = {}) {
  const auth = { Authorization: `Bearer ${await server.tokenFor(provider.clerkId)}` };
  return server.request(path, { ...init, headers: { ...auth, ...init.headers } });
}

describe(`REST writes (${testBackend()})`, () => {
  test('insert one row and get it back with an embedding', async () => {
    const { data, error, status } = await asProvider
      .from('listings')
      .insert(listing('w1 single insert'))
      .select('title, status, category:categories(slug)')
      .single();
    assert.equal(error, null);
    assert.equal(status, 201);
    assert.deepEqual(data, { title: 'w1 single insert', status: 'active', category: { slug: 'plumbing' } });
  });

  test('bulk insert with return=minimal answers 201 without a body', async () => {
    const { data, error, status } = await asProvider
      .from('listings')
      .insert([listing('w2 bulk a'), listing('w2 bulk b')]);
    assert.equal(error, null);
    assert.equal(status, 201);
    assert.equal(data, null);
    assert.equal(await countTitles('w2 bulk'), 2);
  });

  test('update with filters returns the changed rows', async () => {
    await asProvider.from('listings').insert(listing('w3 to update'));
    const { data, error } = await asProvider
      .from('listings')
      .update({ hourly_rate_cents: 12345 })
      .eq('title', 'w3 to update')
      .select('title, hourly_rate_cents');
    assert.equal(error, null);
    assert.deepEqual(data, [{ title: 'w3 to update', hourly_rate_cents: 12345 }]);
  });

  test("RLS: another user's update changes nothing; inserting for someone else is 403", async () => {
    await createListing(db, provider, { title: 'w4 owned' });
    const update = await asCustomer.from('listings').update({ title: 'w4 stolen' }).eq('title', 'w4 owned').select();
    assert.equal(update.error, null);
    assert.deepEqual(update.data, []);
    assert.equal(await countTitles('w4 stolen'), 0);
    const insert = await asCustomer.from('listings').insert(listing('w4 forged'));
    assert.equal(insert.status, 403);
    assert.equal(insert.error?.code, '42501');
    assert.equal(await countTitles('w4 forged'), 0);
  });

  test('upsert: merge-duplicates updates, ignore-duplicates leaves the row', async () => {
    const row = listing('w5 upsert');
    await asProvider.from('listings').insert(row);
    const { rows } = await db.query<{ id: string }>(sql`select id from public.listings where title = 'w5 upsert'`);
    const id = rows[0]?.id;
    // Clients may not choose listing ids (no column grant), so upserting by id is a trusted job.
    const denied = await asProvider.from('listings').upsert({ ...row, id, hourly_rate_cents: 1 });
    assert.equal(denied.status, 403);
    assert.equal(denied.error?.code, '42501');
    const asService = server.client({ apikey: server.keys.service_role });
    const merged = await asService
      .from('listings')
      .upsert({ ...row, id, hourly_rate_cents: 7777 })
      .select('hourly_rate_cents');
    assert.equal(merged.error, null);
    assert.deepEqual(merged.data, [{ hourly_rate_cents: 7777 }]);
    const ignored = await asService
      .from('listings')
      .upsert({ ...row, id, hourly_rate_cents: 1 }, { ignoreDuplicates: true })
      .select('hourly_rate_cents');
    assert.equal(ignored.error, null);
    assert.deepEqual(ignored.data, []);
    assert.equal(await countTitles('w5 upsert'), 1);
  });

  test('delete from a junction table', async () => {
    const l = await createListing(db, provider, { title: 'w6 tagged' });
    const { rows } = await db.query<{ id: string }>(sql`select id from public.tags order by slug limit 1`);
    const tagId = rows[0]?.id as string;
    const added = await asProvider.from('listing_tags').insert({ listing_id: l.id, tag_id: tagId });
    assert.equal(added.error, null);
    const removed = await asProvider.from('listing_tags').delete().eq('listing_id', l.id).select('tag_id');
    assert.equal(removed.error, null);
    assert.deepEqual(removed.data, [{ tag_id: tagId }]);
  });

  test('a unique violation is 409 23505 and writes nothing', async () => {
    const row = listing('w7 dup');
    const first = await asProvider.from('listings').insert(row);
    assert.equal(first.error, null);
    const again = await asProvider.from('listings').insert([listing('w7 dup other'), { ...row }]);
    assert.equal(again.status, 409);
    assert.equal(again.error?.code, '23505');
    assert.equal(await countTitles('w7 dup'), 1);
  });

  test('Prefer: tx=rollback runs the write and keeps nothing', async () => {
    const r = await raw('listings?select=title', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Prefer: 'return=representation, tx=rollback' },
      body: JSON.stringify(listing('w8 rolled back')),
    });
    assert.equal(r.status, 201);
    assert.deepEqual(r.json, [{ title: 'w8 rolled back' }]);
    assert.equal(await countTitles('w8 rolled back'), 0);
  });

  test('Prefer: max-affected with handling=strict refuses a wide update', async () => {
    await asProvider.from('listings').insert([listing('w9 wide a'), listing('w9 wide b')]);
    const r = await raw(`listings?title=like.${encodeURIComponent('w9 wide*')}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', Prefer: 'handling=strict, max-affected=1' },
      body: JSON.stringify({ hourly_rate_cents: 1 }),
    });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'PGRST124');
    const { rows } = await db.query<{ n: number }>(
      sql`select count(*)::int as n from public.listings where title like 'w9 wide%' and hourly_rate_cents = 1`,
    );
    assert.equal(rows[0]?.n, 0);
  });

  test('PATCH and DELETE with limit change only the first rows by order', async () => {
    await asProvider
      .from('listings')
      .insert([listing('w11 limited a'), listing('w11 limited b'), listing('w11 limited c')]);
    const like = `title=like.${encodeURIComponent('w11 limited*')}`;
    const patched = await raw(`listings?${like}&order=title.desc&limit=2&select=title`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', Prefer: 'return=representation' },
      body: JSON.stringify({ hourly_rate_cents: 4242 }),
    });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.json.map((r: { title: string }) => r.title).sort(), ['w11 limited b', 'w11 limited c']);
    const { rows } = await db.query<{ title: string; hourly_rate_cents: string }>(
      sql`select title, hourly_rate_cents from public.listings where title like 'w11 limited%' order by title`,
    );
    assert.deepEqual(
      rows.map((r) => r.hourly_rate_cents),
      ['6500', '4242', '4242'], // bigint: node-postgres returns text,
    );
    // listings soft-delete; a junction table really deletes.
    const l = await createListing(db, provider, { title: 'w11 limited tags' });
    const tags = await db.query<{ id: string }>(sql`select id from public.tags order by id limit 2`);
    await asProvider.from('listing_tags').insert(tags.rows.map((t) => ({ listing_id: l.id, tag_id: t.id })));
    const deleted = await asProvider
      .from('listing_tags')
      .delete()
      .eq('listing_id', l.id)
      .order('tag_id', { ascending: false })
      .limit(1)
      .select('tag_id');
    assert.equal(deleted.error, null);
    assert.deepEqual(deleted.data, [{ tag_id: tags.rows[1]?.id }]);
    const left = await db.query(sql`select tag_id from public.listing_tags where listing_id = ${l.id}`);
    assert.deepEqual(left.rows, [{ tag_id: tags.rows[0]?.id }]);
  });

  test('a limit on a write without an order is 400 PGRST109 and changes nothing', async () => {
    await asProvider.from('listings').insert(listing('w12 unordered'));
    const r = await raw(`listings?title=eq.${encodeURIComponent('w12 unordered')}&limit=1`, { method: 'DELETE' });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'PGRST109');
    assert.equal(await countTitles('w12 unordered'), 1);
  });

  test('PUT upserts one row by its primary key', async () => {
    const id = randomUUID();
    const row = { id, ...listing('w10 put') };
    const service = { apikey: server.keys.service_role, Authorization: `Bearer ${server.keys.service_role}` };
    const r = await raw(`listings?id=eq.${id}&select=title`, {
      method: 'PUT',
      headers: { ...service, 'Content-Type': 'application/json', Prefer: 'return=representation' },
      body: JSON.stringify(row),
    });
    assert.equal(r.status, 201, 'a PUT that creates the row is 201');
    assert.deepEqual(r.json, [{ title: 'w10 put' }]);
    const again = await raw(`listings?id=eq.${id}&select=title`, {
      method: 'PUT',
      headers: { ...service, 'Content-Type': 'application/json', Prefer: 'return=representation' },
      body: JSON.stringify({ ...row, title: 'w10 put again' }),
    });
    assert.equal(again.status, 200, 'a PUT that replaces the row is 200');
    assert.deepEqual(again.json, [{ title: 'w10 put again' }]);
    const mismatch = await raw(`listings?id=eq.${randomUUID()}`, {
      method: 'PUT',
      headers: { ...service, 'Content-Type': 'application/json' },
      body: JSON.stringify(row),
    });
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.json.code, 'PGRST115');
  });
});

describe(`REST write errors (${testBackend()})`, () => {
  test('invalid JSON is 400 PGRST102', async () => {
    const r = await raw('listings', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"title": ',
    });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'PGRST102');
  });

  test('a body that is not an object is 400 PGRST102', async () => {
    for (const body of ['42', '"x"', '[1,2]', 'null']) {
      const r = await raw('listings', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
      assert.equal(r.status, 400, body);
      assert.equal(r.json.code, 'PGRST102', body);
    }
  });

  test('an unknown column is 400 PGRST204 and nothing is written', async () => {
    const { error, status } = await asProvider.from('listings').insert({ ...listing('w11 unknown'), colour: 'red' });
    assert.equal(status, 400);
    assert.equal(error?.code, 'PGRST204');
    assert.equal(await countTitles('w11 unknown'), 0);
  });

  test('bulk rows with different keys are 400 PGRST102', async () => {
    const { title: _t, ...short } = listing('w12 keys');
    const r = await raw('listings', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([listing('w12 keys a'), short]),
    });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'PGRST102');
    assert.equal(await countTitles('w12 keys'), 0);
  });

  test('a check violation is 400 23514', async () => {
    const { error, status } = await asProvider
      .from('listings')
      .insert(listing('w13 negative', { hourly_rate_cents: -5 }));
    assert.equal(status, 400);
    assert.equal(error?.code, '23514');
    assert.equal(await countTitles('w13 negative'), 0);
  });

  test('an unsupported Content-Type is 415 PGRST107', async () => {
    const r = await raw('listings', { method: 'POST', headers: { 'Content-Type': 'text/xml' }, body: '<x/>' });
    assert.equal(r.status, 415);
    assert.equal(r.json.code, 'PGRST107');
  });

  test('a body over the limit is 413', async () => {
    const big = JSON.stringify([listing('w14 big', { description: 'x'.repeat(9 * 1024 * 1024) })]);
    const r = await raw('listings', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: big });
    assert.equal(r.status, 413);
    assert.equal(r.json.code, 'LOCO_BODY_TOO_LARGE');
    assert.equal(await countTitles('w14 big'), 0);
  });

  test('anon cannot write: 401 42501', async () => {
    const { error, status } = await server.client().from('listings').insert(listing('w15 anon'));
    assert.equal(status, 401);
    assert.equal(error?.code, '42501');
    assert.equal(await countTitles('w15 anon'), 0);
  });
});
