import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from '../../src/db/sql.js';
import {
  getTestDatabase,
  startPoolOfOneServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';
import { startWireProxy, type WireProxy } from '../helpers/wire.js';

/*
 * GraphQL on PostgreSQL runs through Loconomy's adaptor (src/graphql/postgres-adaptor.ts): the
 * settings travel with the query under one Sync, one round trip per query, as REST's requests do
 * (decision 0014). What that must not change: a failing mutation leaves nothing behind and the
 * connection usable, a lost connection is an error the pool recovers from, and no setting
 * outlives its request. Servers here run on a pool of one connection, so every request shares it.
 */

const onlyPostgres = testBackend() !== 'postgres' && 'the wire protocol is the PostgreSQL backend’s';

let db: TestDatabase;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  db = await getTestDatabase();
  await db.exec(`
    create table public.gq_notes (id int primary key, body text not null check (length(body) <= 20));
    grant select, insert, update, delete on public.gq_notes to anon, authenticated;
    alter table public.gq_notes enable row level security;
    create policy "anyone may read notes" on public.gq_notes for select to anon, authenticated using (true);
    create policy "anyone may add notes" on public.gq_notes for insert to anon, authenticated with check (true);
    insert into public.gq_notes values (1, 'one'), (2, 'two'), (3, 'three');
    create function public.gq_whoami() returns json language sql stable as $$
      select json_build_object(
        'user', current_user,
        'claims', current_setting('request.jwt.claims', true),
        'path', current_setting('request.path', true))
    $$;
    create function public.gq_write_then_fail(note_id int) returns int language plpgsql volatile as $$
    begin
      insert into public.gq_notes values (note_id, 'written');
      raise exception 'gq_write_then_fail ran';
    end $$;
    create function public.gq_sleep(seconds float8) returns int language sql volatile as $$
      select 1 from pg_sleep(seconds)
    $$;
    grant execute on function public.gq_whoami(), public.gq_write_then_fail(int) to anon, authenticated;
    grant execute on function public.gq_sleep(float8) to service_role;`);
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await db?.dispose();
});

/** A server on a pool of one connection (PostgreSQL), or over the one PGlite session. */
async function serve(url?: string): Promise<TestServer> {
  const server = await startPoolOfOneServer(db, { url });
  cleanups.push(() => server.close());
  return server;
}

// biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
type Answer = { status: number; body: any };

async function graphql(
  server: TestServer,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<Answer> {
  const response = await fetch(`${server.url}/graphql/v1`, {
    method: 'POST',
    headers: {
      apikey: server.keys.anon,
      'content-type': 'application/json',
      ...(token !== undefined && { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: await response.json() };
}

async function notes(): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>(sql`select id from public.gq_notes order by id`);
  return rows.map((r) => r.id);
}

const WRITE_THEN_FAIL = 'mutation F($id: Int!) { gqWriteThenFail(input: { noteId: $id }) { result } }';
const WHOAMI = '{ gqWhoami }';

describe(`one round trip per GraphQL query (${testBackend()})`, { skip: onlyPostgres }, () => {
  let proxy: WireProxy;
  let server: TestServer;
  before(async () => {
    proxy = await startWireProxy(db.location.url as string);
    cleanups.push(() => proxy.close());
    server = await serve(proxy.url);
    // The first request builds the schema (introspection): not counted.
    assert.equal((await graphql(server, WHOAMI)).status, 200);
  });

  /**
   * The round trips of the request, the fewest of three tries of it: the proxy also sees whatever
   * else the server sends meanwhile (a schema reload's catalog queries), which only adds.
   */
  async function roundTrips(
    query: string,
    variables: Record<string, unknown> | ((attempt: number) => Record<string, unknown>) = {},
  ): Promise<number> {
    let fewest = Number.POSITIVE_INFINITY;
    for (let attempt = 0; attempt < 3 && fewest > 1; attempt++) {
      proxy.reset();
      const answer = await graphql(server, query, typeof variables === 'function' ? variables(attempt) : variables);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.errors, undefined, JSON.stringify(answer.body.errors));
      fewest = Math.min(fewest, proxy.roundTrips());
    }
    return fewest;
  }

  test('a query, a function call and a mutation each send the settings with the statement under one Sync', async () => {
    assert.equal(await roundTrips('query N($id: Int!) { gqNote(id: $id) { id body } }', { id: 1 }), 1);
    assert.equal(await roundTrips('{ gqNotes(orderBy: ID_ASC) { nodes { id } } }'), 1);
    // The count is a statement of its own in PostGraphile's plan: two statements, a round trip each.
    assert.equal(await roundTrips('{ gqNotes(orderBy: ID_ASC) { nodes { id } totalCount } }'), 2);
    assert.equal(await roundTrips(WHOAMI), 1);
    const create =
      'mutation C($id: Int!) { createGqNote(input: { gqNote: { id: $id, body: "new" } }) { gqNote { id } } }';
    assert.equal(await roundTrips(create, (attempt) => ({ id: 10 + attempt })), 1);
    assert.deepEqual((await notes()).slice(0, 4), [1, 2, 3, 10]);
  });

  test('a query shape is parsed once per connection: later requests of it send no Parse', async () => {
    const query = 'query N($id: Int!) { gqNote(id: $id) { id body } }';
    await roundTrips(query, { id: 2 });
    for (const id of [1, 2, 3]) {
      assert.equal(await roundTrips(query, { id }), 1);
      assert.equal(proxy.namedParses(), 0, 'no Parse: the connection holds the shape and the settings statement');
    }
  });
});

describe(`failures and settings in GraphQL requests (${testBackend()})`, () => {
  let server: TestServer;
  before(async () => {
    server = await serve();
  });

  test('a mutation that fails rolls back what it wrote and leaves the connection usable', async () => {
    const before = await notes();
    const failed = await graphql(server, WRITE_THEN_FAIL, { id: 30 });
    assert.equal(failed.status, 200, JSON.stringify(failed.body));
    assert.equal(failed.body.errors?.[0]?.message, 'gq_write_then_fail ran');
    assert.deepEqual(await notes(), before, 'the insert before the error was rolled back');
    const next = await graphql(server, 'query N($id: Int!) { gqNote(id: $id) { id } }', { id: 1 });
    assert.deepEqual(next.body, { data: { gqNote: { id: 1 } } });
  });

  test('settings never leak: two roles alternating on one connection each see only their own', async () => {
    const token = await server.tokenFor('user_graphql_round_trips');
    for (let round = 0; round < 3; round++) {
      const anon = (await graphql(server, WHOAMI)).body.data.gqWhoami;
      assert.equal(anon.user, 'anon');
      assert.equal(JSON.parse(anon.claims).role, 'anon');
      assert.equal(JSON.parse(anon.claims).sub, undefined, 'no subject left from the signed-in request');
      assert.equal(anon.path, '/graphql/v1');

      const signedIn = (await graphql(server, WHOAMI, {}, token)).body.data.gqWhoami;
      assert.equal(signedIn.user, 'authenticated');
      assert.equal(JSON.parse(signedIn.claims).sub, 'user_graphql_round_trips');

      // A failed mutation in between, as the signed-in user, leaves nothing behind either.
      const failed = await graphql(server, WRITE_THEN_FAIL, { id: 40 + round }, token);
      assert.equal(failed.body.errors?.[0]?.message, 'gq_write_then_fail ran');
      const { rows } = await db.query<{ n: number }>(
        sql`select count(*)::int as n from public.gq_notes where id >= 40`,
      );
      assert.equal(rows[0]?.n, 0);
    }
  });
});

describe(`a connection lost mid-query (${testBackend()})`, { skip: onlyPostgres }, () => {
  test('a network drop fails that query only, and the pool recovers', async () => {
    const proxy = await startWireProxy(db.location.url as string);
    cleanups.push(() => proxy.close());
    const server = await serve(proxy.url);
    assert.equal((await graphql(server, WHOAMI)).status, 200);
    const pending = fetch(`${server.url}/graphql/v1`, {
      method: 'POST',
      headers: { apikey: server.keys.service_role, 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { gqSleep(input: { seconds: 60 }) { result } }' }),
    });
    let settled = false;
    void pending.finally(() => {
      settled = true;
    });
    let pid: number | undefined;
    while (pid === undefined) {
      assert.equal(settled, false, 'the sleeping mutation answered before it ran');
      const { rows } = await db.query<{ pid: number }>(sql`
        select pid from pg_stat_activity
         where datname = current_database() and state = 'active' and query like '%gq_sleep%' and pid <> pg_backend_pid()`);
      pid = rows[0]?.pid;
      if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    proxy.cut();
    // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
    const lost = (await (await pending).json()) as any;
    assert.deepEqual(lost.data, { gqSleep: null });
    assert.match(lost.errors[0].message, /connection/i);
    await db.query(sql`select pg_terminate_backend(${pid})`); // it sleeps on, unaware
    const next = await graphql(server, 'query N($id: Int!) { gqNote(id: $id) { id } }', { id: 1 });
    assert.deepEqual(next.body, { data: { gqNote: { id: 1 } } });
  });
});
