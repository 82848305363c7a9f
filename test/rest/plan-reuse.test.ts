import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';

/*
 * A read's plan is kept for the next identical request (src/rest/plan/reuse.ts). The same URL
 * must still answer each request as if planned afresh: per role (column grants expand `*`),
 * per Range, Accept and Prefer: count, and a refused request is refused every time. The
 * schema cache reload that drops kept plans is covered by reload.test.ts (`select=*` before
 * and after a column is added).
 */

let db: TestDatabase;
let server: TestServer;
let userToken: string;
before(async () => {
  db = await getTestDatabase();
  server = await startTestServer(db);
  await db.exec(`
    create table public.reuse_probe (id int primary key, label text not null, secret text not null);
    alter table public.reuse_probe enable row level security;
    create policy reuse_probe_read on public.reuse_probe for select using (true);
    grant select (id, label) on public.reuse_probe to anon;
    grant select on public.reuse_probe to authenticated;
    insert into public.reuse_probe values (1, 'one', 's1'), (2, 'two', 's2'), (3, 'three', 's3');
    notify pgrst, 'reload schema';`);
  for (let i = 0; i < 100 && (await server.request('reuse_probe?select=id')).status !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  userToken = await server.tokenFor('user_reuse_probe');
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

describe(`kept read plans (${testBackend()})`, () => {
  test('the same URL expands * per role, whoever asked first', async () => {
    const path = 'reuse_probe?select=*&order=id&limit=1';
    const asUser = { headers: { Authorization: `Bearer ${userToken}` } };
    for (let round = 0; round < 2; round++) {
      assert.deepEqual((await server.request(path)).json, [{ id: 1, label: 'one' }]);
      assert.deepEqual((await server.request(path, asUser)).json, [{ id: 1, label: 'one', secret: 's1' }]);
    }
  });

  test('Range, Accept and Prefer: count still shape the answer of a URL seen before', async () => {
    const path = 'reuse_probe?select=id&order=id';
    assert.deepEqual((await server.request(path)).json, [{ id: 1 }, { id: 2 }, { id: 3 }]);
    const ranged = await server.request(path, { headers: { Range: '1-1' } });
    assert.deepEqual(ranged.json, [{ id: 2 }]);
    const counted = await server.request(path, { headers: { Prefer: 'count=exact' } });
    assert.equal(counted.headers.get('content-range'), '0-2/3');
    const csv = await server.request(path, { headers: { Accept: 'text/csv' } });
    assert.equal(csv.text, 'id\n1\n2\n3');
    assert.equal((await server.request(path)).headers.get('content-range'), '0-2/*');
  });

  test('a refused read is refused again, not served from a kept plan', async () => {
    for (let round = 0; round < 2; round++) {
      const hidden = await server.request('reuse_probe?select=secret');
      assert.equal(hidden.status, 401, hidden.text);
      assert.equal(hidden.json.code, '42501');
    }
  });
});
