import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import {
  getTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
  testLogger,
} from '../helpers/index.js';

/*
 * Query.bytes (src/db/row-bytes.ts): on PostgreSQL the named columns of that statement come
 * back as the bytes the server sent, every other value as before; PGlite returns text. The
 * REST layer reads table pages this way and sends the bytes on, so the JSON a client gets must
 * be byte for byte what the database built.
 */

const postgres = testBackend() === 'postgres';
const TEXT = 'Zoë’s plumbing — 24/7 🚰 ok';
const BIG = `${'ß€🚀'.repeat(100_000)}end`; // about 1 MB: many socket reads

let db: TestDatabase;
let single: Database | undefined;
let server: TestServer;
before(async () => {
  db = await getTestDatabase();
  await db.exec(`
    create table public.bytes_probe (id int primary key, label text not null);
    grant select on public.bytes_probe to anon;
    alter table public.bytes_probe enable row level security;
    create policy bytes_probe_read on public.bytes_probe for select using (true);`);
  await db.query('insert into public.bytes_probe values (1, $1), (2, $2)', [TEXT, BIG]);
  await db.exec(`notify pgrst, 'reload schema'`);
  // One connection, so every statement below shares it with the ones before.
  if (db.location.url)
    single = openPostgres({ url: db.location.url, searchPath: 'public', log: testLogger(), poolSize: 1 });
  server = await startTestServer(db);
});
after(async () => {
  await server?.close();
  await single?.close();
  await db?.dispose();
});

const probe = (bytes?: string[]) => ({
  text: 'select id, label as body, label, null::text as nothing from public.bytes_probe order by id',
  values: [],
  bytes,
  prepare: true,
});

describe(`columns as bytes (${testBackend()})`, () => {
  test('the named columns are the bytes PostgreSQL sent; the rest, and PGlite, are text', async () => {
    const { rows } = await db.transaction((tx) => tx.last(probe(['body', 'nothing'])));
    const bodies = rows.map((r) => r.body);
    if (postgres) {
      assert.ok(bodies.every((b) => Buffer.isBuffer(b)));
      assert.deepEqual(bodies, [Buffer.from(TEXT), Buffer.from(BIG)]);
    } else assert.deepEqual(bodies, [TEXT, BIG]);
    assert.deepEqual(
      rows.map((r) => [r.id, r.label, r.nothing]),
      [
        [1, TEXT, null],
        [2, BIG, null],
      ],
    );
  });

  test('only that statement: the next one in the pipeline and the next request read text', {
    skip: !postgres,
  }, async () => {
    const conn = single as Database;
    const [first, second] = await conn.transaction(async (tx) => [
      await tx.query(probe(['body'])),
      await tx.last(probe()),
    ]);
    assert.ok(Buffer.isBuffer(first?.rows[0]?.body));
    assert.equal(second?.rows[0]?.body, TEXT);
    assert.equal((await conn.query(probe())).rows[0]?.body, TEXT);
  });

  test('a statement that fails after a bytes statement leaves the connection reading text', {
    skip: !postgres,
  }, async () => {
    const conn = single as Database;
    await assert.rejects(
      conn.transaction(async (tx) => {
        await tx.query(probe(['body']));
        await tx.last({ text: 'select 1 / 0 as body', values: [], bytes: ['body'] });
      }),
      /division by zero/,
    );
    assert.equal((await conn.query(probe())).rows[0]?.body, TEXT);
  });

  test('bytes kept from one statement stay as sent while the connection reads the next ones', {
    skip: !postgres,
  }, async () => {
    // The kept values are views of the buffers the connection read into: nothing may write
    // over them afterwards, whatever sizes the following messages have.
    const conn = single as Database;
    const kept = (await conn.query(probe(['body']))).rows.map((r) => r.body as Buffer);
    // Small and large rows in turn: a row's end and the next one's start share a read.
    const mixed = (n: number) => ({ letter: String.fromCharCode(65 + (n % 26)), size: n % 2 ? 30_000 + n : 50 });
    const { rows: pages } = await conn.transaction((tx) =>
      tx.last({
        text: `select repeat(chr(65 + n % 26), case when n % 2 = 1 then 30000 + n else 50 end) as body
                 from generate_series(1, 60) n order by n`,
        values: [],
        bytes: ['body'],
      }),
    );
    const sizes = [10, 70_000, 3, 300_000, 8_000, 1_500_000, 1];
    for (const size of sizes) {
      const { rows } = await conn.transaction((tx) =>
        tx.last({
          text: `select repeat('x', $1::int) as body, repeat('y', $1::int) as other from generate_series(1, 3)`,
          values: [size],
          bytes: size % 2 === 0 ? ['body'] : undefined,
        }),
      );
      assert.equal(rows.length, 3);
      assert.equal(String(rows[2]?.other).length, size);
    }
    assert.deepEqual(kept, [Buffer.from(TEXT), Buffer.from(BIG)]);
    pages.forEach((row, i) => {
      const { letter, size } = mixed(i + 1);
      assert.ok((row.body as Buffer).equals(Buffer.from(letter.repeat(size))), `row ${i + 1} changed`);
    });
  });

  test('over REST the page is the database’s JSON, byte for byte', async () => {
    const response = await server.request('bytes_probe?select=id,label&order=id');
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json, [
      { id: 1, label: TEXT },
      { id: 2, label: BIG },
    ]);
    assert.equal(Number(response.headers.get('content-length')), Buffer.byteLength(response.text));
    const one = await server.request('bytes_probe?select=label&id=eq.1', {
      headers: { Accept: 'application/vnd.pgrst.object+json' },
    });
    assert.deepEqual(one.json, { label: TEXT });
  });
});
