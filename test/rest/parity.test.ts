import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  getTestDatabase,
  ROOT,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';

/*
 * PostgREST 13 behaviours the golden cases cannot show, because every golden transaction is
 * rolled back (issue 16): what a refused request leaves behind, and what postgrest-js itself
 * makes of the answers. The generic fixture schema, committed writes.
 */

let db: TestDatabase;
let server: TestServer;
before(async () => {
  db = await getTestDatabase('empty');
  await db.exec(readFileSync(join(ROOT, 'test', 'rest', 'fixture', 'schema.sql'), 'utf8'));
  // Aggregates off, as on Supabase: the legacy `count` must work without them.
  server = await startTestServer(db, { LOCONOMY_DB_SCHEMAS: 'fixture' });
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

async function featured(): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>('select id from fixture.books where is_featured order by id');
  return rows.map((r) => r.id);
}

describe(`REST parity with PostgREST 13 (${testBackend()})`, () => {
  test('max-affected on a set-returning function: too many rows is 400 PGRST124 and nothing changes', async () => {
    const before = await featured();
    const refused = await server.request('rpc/feature_books', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Prefer: 'handling=strict, max-affected=1' },
      body: JSON.stringify({ book_status: 'published' }),
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.json.code, 'PGRST124');
    assert.deepEqual(await featured(), before);

    // Through postgrest-js, as a client sends it: the error, and still nothing written.
    const client = server.client().schema('fixture');
    const call = client.rpc('feature_books', { book_status: 'draft' });
    // maxAffected is typed for clients that declare PostgREST 13; this untyped client does not.
    const { data, error } = await (call as unknown as { maxAffected(rows: number): typeof call }).maxAffected(1);
    assert.equal(data, null);
    assert.equal(error?.code, 'PGRST124');
    assert.deepEqual(await featured(), before);
  });

  test('count=exact on a function returning one value: postgrest-js reads count 1', async () => {
    const client = server.client().schema('fixture');
    const get = await client.rpc('add', { a: 1, b: 2 }, { get: true, count: 'exact' });
    assert.deepEqual({ data: get.data, count: get.count, error: get.error }, { data: 3, count: 1, error: null });
    const head = await client.rpc('add', { a: 1, b: 2 }, { head: true, count: 'exact' });
    assert.deepEqual({ data: head.data, count: head.count, error: head.error }, { data: null, count: 1, error: null });
    const post = await client.rpc('add', { a: 1, b: 2 }, { count: 'exact' });
    assert.deepEqual({ data: post.data, count: post.count, error: post.error }, { data: 3, count: 1, error: null });
  });

  test('a raw text body: refused on a table (nothing written), 404 PGRST202 for a function without a text parameter', async () => {
    const before = await db.query<{ n: number }>('select count(*)::int as n from fixture.tags');
    const table = await server.request('tags', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: 'hello',
    });
    assert.equal(table.status, 415);
    assert.equal(table.json.code, 'PGRST107');
    const after = await db.query<{ n: number }>('select count(*)::int as n from fixture.tags');
    assert.deepEqual(after.rows, before.rows);
    const call = await server.request('rpc/add', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: '1',
    });
    assert.equal(call.status, 404);
    assert.equal(call.json.code, 'PGRST202');
  });

  test('the OpenAPI document lists the functions /rpc calls, not computed fields or unnamed integers', async () => {
    const response = await server.request('');
    assert.equal(response.status, 200);
    const paths = Object.keys(response.json.paths as Record<string, unknown>);
    for (const exposed of ['/rpc/add', '/rpc/poly', '/rpc/echo', '/rpc/poly_default'])
      assert.ok(paths.includes(exposed), exposed);
    for (const hidden of ['/rpc/full_name', '/rpc/top_books', '/rpc/poly_i'])
      assert.ok(!paths.includes(hidden), hidden);
  });

  test('a bare count in an embedding works with aggregates off, as on Supabase; count() does not', async () => {
    const client = server.client().schema('fixture');
    const legacy = await client.from('authors').select('id, books(count)').order('id').limit(2);
    assert.deepEqual(legacy, {
      ...legacy,
      error: null,
      data: [
        { id: 1, books: [{ count: 2 }] },
        { id: 2, books: [{ count: 2 }] },
      ],
    });
    const modern = await client.from('authors').select('id, books(count())').limit(1);
    assert.equal(modern.error?.code, 'PGRST123');
  });
});

// application/geo+json needs PostGIS, which the generic fixture does without: the marketplace's
// cities (a geography point each) show it.
describe(`REST application/geo+json on the marketplace schema (${testBackend()})`, () => {
  let market: TestDatabase;
  let api: TestServer;
  before(async () => {
    market = await getTestDatabase();
    api = await startTestServer(market);
  });
  after(async () => {
    await api?.close();
    await market?.dispose();
  });

  test('rows with a geography column come back as a FeatureCollection with coordinates', async () => {
    const response = await api.request('cities?select=name,location&name=in.(Amsterdam,Austin)&order=name', {
      headers: { Accept: 'application/geo+json' },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/geo+json; charset=utf-8');
    assert.deepEqual(JSON.parse(response.text), {
      type: 'FeatureCollection',
      features: [
        {
          type: 'Feature',
          geometry: { type: 'Point', coordinates: [4.9041, 52.3676] },
          properties: { name: 'Amsterdam' },
        },
        {
          type: 'Feature',
          geometry: { type: 'Point', coordinates: [-97.7431, 30.2672] },
          properties: { name: 'Austin' },
        },
      ],
    });
  });

  test('through postgrest-js, and an empty result is an empty FeatureCollection', async () => {
    const client = api.client();
    const { data, error } = await client.from('cities').select('name, location').eq('name', 'Amsterdam').geojson();
    assert.equal(error, null);
    assert.deepEqual(data, {
      type: 'FeatureCollection',
      features: [
        {
          type: 'Feature',
          geometry: { type: 'Point', coordinates: [4.9041, 52.3676] },
          properties: { name: 'Amsterdam' },
        },
      ],
    });
    const none = await api.request('cities?select=name,location&name=eq.Atlantis', {
      headers: { Accept: 'application/geo+json' },
    });
    assert.deepEqual(JSON.parse(none.text), { type: 'FeatureCollection', features: [] });
  });
});
