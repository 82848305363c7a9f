import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  getTestDatabase,
  type RawResponse,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';

/*
 * The schema cache follows DDL on `NOTIFY pgrst, 'reload schema'`, as PostgREST's does: over
 * HTTP, on a real server, with the notification sent by the database owner after the change.
 */

let db: TestDatabase;
let server: TestServer;
before(async () => {
  db = await getTestDatabase();
  server = await startTestServer(db);
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

/** The request, repeated (a bounded number of times, 50 ms apart) until it answers `status`. */
async function answered(path: string, status: number): Promise<RawResponse> {
  let response = await server.request(path);
  for (let attempt = 0; attempt < 100 && response.status !== status; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    response = await server.request(path);
  }
  return response;
}

describe(`schema cache reload over HTTP (${testBackend()})`, () => {
  test('a table created after start is 404 PGRST205 until NOTIFY pgrst, then served', async () => {
    await db.exec(`
      create table public.reload_probe (id int primary key, label text not null);
      grant select on public.reload_probe to anon;
      insert into public.reload_probe values (1, 'first');`);
    const unknown = await server.request('reload_probe?select=id,label');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.code, 'PGRST205');
    assert.equal(unknown.json.message, "Could not find the table 'public.reload_probe' in the schema cache");

    await db.exec(`notify pgrst, 'reload schema'`);
    const served = await answered('reload_probe?select=id,label', 200);
    assert.equal(served.status, 200, served.text);
    assert.deepEqual(served.json, [{ id: 1, label: 'first' }]);
  });

  test('a column added after the reload shows in select=* after the next one', async () => {
    await db.exec(`alter table public.reload_probe add column note text not null default 'later'`);
    const before = await server.request('reload_probe?select=*');
    assert.deepEqual(before.json, [{ id: 1, label: 'first' }]);
    await db.exec(`notify pgrst`); // an empty payload reloads too
    const after = await answered('reload_probe?select=note', 200);
    assert.equal(after.status, 200, after.text);
    assert.deepEqual((await server.request('reload_probe?select=*')).json, [{ id: 1, label: 'first', note: 'later' }]);
  });
});
