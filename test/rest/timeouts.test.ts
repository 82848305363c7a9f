import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from '../../src/db/sql.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';

/*
 * Role settings (ALTER ROLE … SET) apply to REST requests, as PostgREST applies them: switching
 * role inside a transaction does not, so each request sets its role's settings itself. The one
 * that matters most is statement_timeout (migration 0016): an expensive request is cancelled.
 */

let db: TestDatabase;
let server: TestServer;
before(async () => {
  db = await getTestDatabase();
  const { rows } = await db.query<{ name: string }>(sql`select current_database() as name`);
  // For this database only, so that no other test database (or process) sees it.
  await db.exec(`
    alter role anon in database ${sql.ident(rows[0]?.name as string).text} set statement_timeout = '150ms';
    create function public.timeout_probe(seconds double precision) returns text
      language sql volatile as $$ select current_setting('statement_timeout') || ' ' || pg_sleep(seconds)::text $$;
    grant execute on function public.timeout_probe(double precision) to anon, service_role;`);
  server = await startTestServer(db);
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

describe(`role settings in REST requests (${testBackend()})`, () => {
  test('migration 0016 gives anon 3 s and authenticated 8 s, service_role no limit', async () => {
    const { rows } = await db.query<{ rolname: string; rolconfig: string[] | null }>(
      sql`select rolname, rolconfig from pg_roles where rolname in ('anon', 'authenticated', 'service_role') order by rolname`,
    );
    assert.deepEqual(
      rows.map((r) => [r.rolname, (r.rolconfig ?? []).filter((c) => c.startsWith('statement_timeout='))]),
      [
        ['anon', ['statement_timeout=3s']],
        ['authenticated', ['statement_timeout=8s']],
        ['service_role', []],
      ],
    );
  });

  test("a request runs with its role's settings, the database's own overriding the cluster's", async () => {
    const r = await server.request('rpc/timeout_probe', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ seconds: 0 }),
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json, '150ms ');
    const service = await server.request('rpc/timeout_probe', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${server.keys.service_role}` },
      body: JSON.stringify({ seconds: 0 }),
    });
    assert.equal(service.status, 200, service.text);
    assert.notEqual(service.json, '150ms ', 'service_role keeps the server default');
  });

  test('a statement past the timeout is cancelled: 500 57014 (PostgreSQL; PGlite does not enforce timeouts)', {
    skip: testBackend() === 'pglite' ? 'PGlite ignores statement_timeout' : false,
  }, async () => {
    const slow = await server.request('rpc/timeout_probe', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ seconds: 2 }),
    });
    assert.equal(slow.status, 500, slow.text);
    assert.equal(slow.json.code, '57014');
    const service = await server.request('rpc/timeout_probe', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${server.keys.service_role}` },
      body: JSON.stringify({ seconds: 0.3 }),
    });
    assert.equal(service.status, 200, 'service_role has no timeout');
  });
});
