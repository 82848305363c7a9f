import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { openPostgres } from '../../src/db/postgres.js';
import {
  getTestDatabase,
  startTestServer,
  TEST_JWT_SECRET,
  type TestDatabase,
  type TestServer,
  testBackend,
  testLogger,
} from '../helpers/index.js';
import { genericRunsOf, preparedSession, runsOf } from '../helpers/prepared.js';

/*
 * REST requests as named prepared statements (decision 0010), over HTTP, each server on a
 * one-connection pool so pg_prepared_statements of that connection shows what it prepared.
 */

const skip =
  testBackend() !== 'postgres' && 'prepared statements are a PostgreSQL backend feature (PGlite ignores them)';

describe(`REST prepared statements (${testBackend()})`, { skip }, () => {
  let db: TestDatabase;
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    db = await getTestDatabase();
    await db.exec(`
      create table public.prep_notes (
        id int primary key,
        body text not null check (length(body) <= 20),
        public boolean not null default false
      );
      grant select, insert on public.prep_notes to anon, authenticated;
      alter table public.prep_notes enable row level security;
      create policy "anyone may read public notes" on public.prep_notes for select to anon using (public);
      create policy "signed-in users may read every note" on public.prep_notes for select to authenticated using (true);
      create policy "signed-in users may add notes" on public.prep_notes for insert to authenticated with check (true);
      insert into public.prep_notes values (1, 'open', true), (2, 'hidden', false), (3, 'also open', true);
      create table public.prep_pages (id int primary key, kind text not null);
      grant select on public.prep_pages to anon;
      alter table public.prep_pages enable row level security;
      create policy "anyone may read pages" on public.prep_pages for select to anon using (true);
      insert into public.prep_pages select n, case when n % 10 = 0 then 'rare' else 'common' end
        from generate_series(1, 20000) n;
      analyze public.prep_pages;
      create table public.prep_codes (code int primary key);
      grant select on public.prep_codes to anon;
      insert into public.prep_codes values (7);`);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await db?.dispose();
  });

  /** A server over its own one-connection pool, opened from settings as `serve` opens it. */
  async function serve(settings: Record<string, string> = {}): Promise<{ rest: Database; server: TestServer }> {
    const config = loadConfig({
      DATABASE_URL: db.location.url as string,
      LOCONOMY_JWT_SECRET: TEST_JWT_SECRET,
      LOCONOMY_DB_POOL: '1',
      ...settings,
    });
    return serveOn(await openDatabase(config, testLogger()));
  }

  async function serveOn(rest: Database): Promise<{ rest: Database; server: TestServer }> {
    const server = await startTestServer(rest);
    cleanups.push(
      () => rest.close(),
      () => server.close(),
    );
    return { rest, server };
  }

  async function ids(server: TestServer, path: string, headers: Record<string, string> = {}): Promise<unknown> {
    const r = await server.request(path, { headers });
    assert.equal(r.status, 200, r.text);
    return r.json.map((row: { id: number }) => row.id);
  }

  test('repeated requests of one shape run one prepared statement, and so does their request context', async () => {
    const { rest, server } = await serve();
    for (const id of [1, 3, 1, 3, 1])
      assert.deepEqual(await ids(server, `prep_notes?select=id,body&id=eq.${id}`), [id]);
    const session = await preparedSession(rest);
    assert.deepEqual(runsOf(session, 'prep_notes'), [5]);
    assert.deepEqual(runsOf(session, 'request.jwt.claims'), [5]);
  });

  test('anon and a signed-in user see the rows their policies allow through one prepared shape', async () => {
    const { rest, server } = await serve();
    const user = { Authorization: `Bearer ${await server.tokenFor('user_prepared')}` };
    // More than five runs each, so PostgreSQL considers a generic plan too.
    for (let i = 0; i < 7; i++) {
      assert.deepEqual(await ids(server, 'prep_notes?select=id&order=id'), [1, 3], 'anon');
      assert.deepEqual(await ids(server, 'prep_notes?select=id&order=id', user), [1, 2, 3], 'user');
    }
    assert.deepEqual(runsOf(await preparedSession(rest), 'prep_notes'), [14]);
  });

  test('a write that fails leaves its prepared shape working for the next request', async () => {
    const { rest, server } = await serve();
    const headers = {
      Authorization: `Bearer ${await server.tokenFor('user_prepared')}`,
      'Content-Type': 'application/json',
    };
    const post = (id: number, body: string) =>
      server.request('prep_notes', { method: 'POST', headers, body: JSON.stringify({ id, body }) });
    const failed = await post(10, 'far too long for the check constraint');
    assert.equal(failed.status, 400, failed.text);
    assert.equal(failed.json.code, '23514');
    assert.equal((await post(11, 'fits')).status, 201);
    assert.deepEqual(runsOf(await preparedSession(rest), 'insert into'), [2]);
  });

  test('a page (limit, offset, Range) runs on its cached plan after five runs, not planned at every request', async () => {
    // With `limit $1` PostgreSQL's generic plan assumes a tenth of the table is fetched, always
    // costs more than a plan for the value given, and the statement is planned at every request.
    const { rest, server } = await serve();
    for (let i = 0; i < 8; i++) {
      assert.deepEqual(await ids(server, 'prep_pages?select=id&kind=eq.common&order=id&limit=3'), [1, 2, 3]);
      assert.deepEqual(await ids(server, 'prep_pages?select=id&kind=eq.rare&order=id&limit=2&offset=1'), [20, 30]);
      assert.deepEqual(await ids(server, 'prep_pages?select=id&order=id', { Range: '5-6' }), [6, 7]);
    }
    const session = await preparedSession(rest);
    assert.deepEqual(runsOf(session, 'prep_pages'), [8, 8, 8]);
    // PostgreSQL plans the first five runs for their values, then compares, and keeps the
    // generic plan (a statement without parameters runs on it from the first run).
    const generic = genericRunsOf(session, 'prep_pages');
    assert.equal(generic.length, 3);
    for (const runs of generic) assert.ok(runs >= 3, `generic plan runs: ${generic.join(', ')}`);
  });

  test('LOCONOMY_DB_PREPARED_STATEMENTS=false runs every statement unnamed', async () => {
    const { rest, server } = await serve({ LOCONOMY_DB_PREPARED_STATEMENTS: 'false' });
    for (let i = 0; i < 3; i++) assert.deepEqual(await ids(server, 'prep_notes?select=id&id=eq.1'), [1]);
    assert.equal((await preparedSession(rest)).statements.size, 0);
  });

  test('a connection holds at most the cap of named statements, however many shapes clients send', async () => {
    const rest = openPostgres({
      url: db.location.url as string,
      searchPath: '"public", "extensions"',
      log: testLogger(),
      poolSize: 1,
      maxPreparedPerConnection: 3,
    });
    const { server } = await serveOn(rest);
    const shapes = ['id', 'body,id', 'id,body', 'id,public', 'public,id', 'id,body,public'];
    const preparing = new Set<number>(); // connections seen holding named statements
    for (let round = 0; round < 2; round++) {
      for (const select of shapes) {
        assert.deepEqual(await ids(server, `prep_notes?select=${select}&id=eq.3`), [3], select);
        const session = await preparedSession(rest);
        assert.ok(session.statements.size <= 3, `${session.statements.size} named statements`);
        if (session.statements.size > 0) preparing.add(session.pid);
      }
    }
    // The context and two shapes fit per connection: full connections were replaced and prepared again.
    assert.ok(preparing.size >= 3, `${preparing.size} connections prepared statements`);
  });

  test('ALTER TABLE and NOTIFY pgrst reload: prepared shapes keep working, and changed types are re-prepared', async () => {
    const { rest, server } = await serve();
    assert.deepEqual((await server.request('prep_codes?select=code')).json, [{ code: 7 }]);
    assert.deepEqual((await server.request('prep_codes?select=code&code=eq.7')).json, [{ code: 7 }]);
    // A new column does not change what a prepared REST statement returns (one JSON text), so
    // the shape prepared before it still runs: no "cached plan must not change result type".
    await db.exec(`alter table public.prep_codes add column note text not null default 'n'`);
    const same = await server.request('prep_codes?select=code');
    assert.equal(same.status, 200, same.text);
    assert.deepEqual(same.json, [{ code: 7 }]);

    // A parameter's type changes with its column; the statements prepared with the old type are
    // discarded on reload, so the same shape runs again.
    await db.exec(`
      alter table public.prep_codes alter column code type text;
      insert into public.prep_codes values ('A7', 'm');
      notify pgrst, 'reload schema';`);
    let found: Awaited<ReturnType<TestServer['request']>> | undefined;
    for (let attempt = 0; attempt < 100; attempt++) {
      found = await server.request('prep_codes?select=code&code=eq.A7');
      if (found.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(found?.status, 200, found?.text);
    assert.deepEqual(found?.json, [{ code: 'A7' }]);
    assert.deepEqual((await server.request('prep_codes?select=*&code=eq.7')).json, [{ code: '7', note: 'n' }]);
    assert.deepEqual(runsOf(await preparedSession(rest), 'prep_codes'), [1, 1]);
  });
});
