import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from '../../src/db/sql.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';

/*
 * Role settings (ALTER ROLE … SET, migration 0016's statement_timeout) apply to GraphQL requests
 * as to REST's (test/rest/timeouts.test.ts, the same probe): a statement past the caller's
 * timeout is cancelled, and the error says so.
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

async function probe(seconds: number, key: string) {
  const response = await fetch(`${server.url}/graphql/v1`, {
    method: 'POST',
    headers: { apikey: key, 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation P($seconds: Float!) { timeoutProbe(input: { seconds: $seconds }) { result } }',
      variables: { seconds },
    }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
  return { status: response.status, body: (await response.json()) as any };
}

describe(`role settings in GraphQL requests (${testBackend()})`, () => {
  test("a request runs with its role's settings: anon's timeout, none for service_role", async () => {
    const anon = await probe(0, server.keys.anon);
    assert.equal(anon.status, 200, JSON.stringify(anon.body));
    assert.equal(anon.body.data.timeoutProbe.result, '150ms ');
    const service = await probe(0, server.keys.service_role);
    assert.equal(service.status, 200, JSON.stringify(service.body));
    assert.notEqual(service.body.data.timeoutProbe.result, '150ms ', 'service_role keeps the server default');
  });

  test('a statement past the timeout is cancelled: 57014 (PostgreSQL; PGlite does not enforce timeouts)', {
    skip: testBackend() === 'pglite' ? 'PGlite ignores statement_timeout' : false,
  }, async () => {
    const slow = await probe(2, server.keys.anon);
    assert.equal(slow.status, 200, JSON.stringify(slow.body));
    assert.deepEqual(slow.body.data, { timeoutProbe: null });
    const [error] = slow.body.errors;
    assert.equal(error.message, 'canceling statement due to statement timeout');
    assert.equal(error.extensions.code, '57014');
    assert.equal(error.extensions.status, 500);
    const service = await probe(0.3, server.keys.service_role);
    assert.equal(service.status, 200, 'service_role has no timeout');
    assert.equal(service.body.errors, undefined);
  });
});
