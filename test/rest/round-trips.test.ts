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
 * One round trip per REST request on PostgreSQL (decision 0014): the begin, the request
 * context, the statement and the end travel under one Sync. What that must not change: a
 * failure anywhere rolls the whole request back and leaves the connection idle and usable, a
 * lost connection is a clean 503 the pool recovers from, and no setting outlives its request.
 * Servers here run on a pool of one connection, so every request shares it.
 */

const onlyPostgres = testBackend() !== 'postgres' && 'the wire protocol is the PostgreSQL backend’s';
const JSON_BODY = { 'Content-Type': 'application/json' };

let db: TestDatabase;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  db = await getTestDatabase();
  await db.exec(`
    create table public.rt_notes (id int primary key, body text not null check (length(body) <= 20));
    grant select, insert, update, delete on public.rt_notes to anon, authenticated;
    alter table public.rt_notes enable row level security;
    create policy "anyone may read notes" on public.rt_notes for select to anon, authenticated using (true);
    create policy "anyone may add notes" on public.rt_notes for insert to anon, authenticated with check (true);
    create policy "anyone may change notes" on public.rt_notes for update to anon, authenticated using (true);
    insert into public.rt_notes values (1, 'one'), (2, 'two'), (3, 'three');
    create function public.rt_whoami() returns json language sql stable as $$
      select json_build_object(
        'user', current_user,
        'claims', current_setting('request.jwt.claims', true),
        'timezone', current_setting('timezone'),
        'read_only', current_setting('transaction_read_only'),
        'path', current_setting('request.path', true))
    $$;
    create function public.rt_write_then_fail(note_id int) returns void language plpgsql volatile as $$
    begin
      insert into public.rt_notes values (note_id, 'written');
      raise exception 'rt_write_then_fail ran';
    end $$;
    create function public.rt_sleep(seconds float8) returns int language sql volatile as $$
      select 1 from pg_sleep(seconds)
    $$;
    grant execute on function public.rt_whoami(), public.rt_write_then_fail(int) to anon, authenticated;
    grant execute on function public.rt_sleep(float8) to service_role;`);
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await db?.dispose();
});

/** A server on a pool of one connection (PostgreSQL), or over the one PGlite session. */
async function serve(url?: string): Promise<{ server: TestServer }> {
  const server = await startPoolOfOneServer(db, { url, env: { LOCONOMY_DB_TX_END: 'commit-allow-override' } });
  cleanups.push(() => server.close());
  return { server };
}

async function notes(): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>(sql`select id from public.rt_notes order by id`);
  return rows.map((r) => r.id);
}

describe(`one round trip per request (${testBackend()})`, { skip: onlyPostgres }, () => {
  let proxy: WireProxy;
  let server: TestServer;
  before(async () => {
    proxy = await startWireProxy(db.location.url as string);
    cleanups.push(() => proxy.close());
    ({ server } = await serve(proxy.url));
  });

  /** The round trips (Syncs and simple Queries) the request sent to PostgreSQL. */
  async function roundTrips(
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
    status = 200,
  ): Promise<number> {
    proxy.reset();
    const r = await server.request(path, init);
    assert.equal(r.status, status, r.text);
    return proxy.roundTrips();
  }

  test('a read, a write and a function call each send begin, context, statement and commit under one Sync', async () => {
    assert.equal(await roundTrips('rt_notes?select=id&id=eq.1'), 1);
    const insert = { method: 'POST', headers: JSON_BODY, body: JSON.stringify({ id: 10, body: 'ten' }) };
    assert.equal(await roundTrips('rt_notes', insert, 201), 1);
    const representation = { ...insert, headers: { ...JSON_BODY, Prefer: 'return=representation' } };
    assert.equal(
      await roundTrips('rt_notes', { ...representation, body: JSON.stringify({ id: 11, body: 'eleven' }) }, 201),
      1,
    );
    assert.equal(await roundTrips('rpc/rt_whoami', { method: 'POST', headers: JSON_BODY, body: '{}' }), 1);
    assert.equal(await roundTrips('rpc/rt_whoami'), 1);
    assert.deepEqual(await notes(), [1, 2, 3, 10, 11]);
  });

  test('Prefer: tx=rollback sends the rollback with the statement, and keeps nothing', async () => {
    const init = {
      method: 'POST',
      headers: { ...JSON_BODY, Prefer: 'tx=rollback' },
      body: JSON.stringify({ id: 20, body: 'twenty' }),
    };
    assert.equal(await roundTrips('rt_notes', init, 201), 1);
    assert.deepEqual(await notes(), [1, 2, 3, 10, 11]);
  });

  test('a check of the result that can still refuse the request keeps the transaction open: two round trips', async () => {
    const single = { headers: { Accept: 'application/vnd.pgrst.object+json' } };
    assert.equal(await roundTrips('rt_notes?select=id&id=eq.1', single), 2);
    const strict = {
      method: 'PATCH',
      headers: { ...JSON_BODY, Prefer: 'handling=strict, max-affected=1' },
      body: JSON.stringify({ body: 'changed' }),
    };
    assert.equal(await roundTrips('rt_notes?id=eq.1', strict, 204), 2);
    assert.equal(await roundTrips('rt_notes?id=lt.3', strict, 400), 2);
    const { rows } = await db.query<{ body: string }>(sql`select body from public.rt_notes where id = 2`);
    assert.equal(rows[0]?.body, 'two', 'the refused PATCH was rolled back');
  });

  test('a shape is parsed once per connection: later requests of it send no Parse', async () => {
    const path = 'rt_notes?select=id,body&id=gte.2&order=id.desc';
    proxy.reset();
    assert.equal((await server.request(path)).status, 200);
    assert.ok(proxy.namedParses() >= 1, 'the first request parsed its new shape');
    for (let i = 0; i < 3; i++) {
      assert.equal(await roundTrips(path), 1);
      assert.equal(proxy.namedParses(), 0, 'no Parse: the connection holds the shape and the context statement');
      assert.ok(
        proxy.messages.some((m) => m.type === 'B'),
        'the statements were bound to their names',
      );
    }
  });
});

describe(`failures inside the pipeline (${testBackend()})`, () => {
  let server: TestServer;
  before(async () => {
    ({ server } = await serve());
  });

  const fail = (id: number, headers: Record<string, string> = {}) =>
    server.request('rpc/rt_write_then_fail', {
      method: 'POST',
      headers: { ...JSON_BODY, ...headers },
      body: JSON.stringify({ note_id: id }),
    });

  test('a statement that fails rolls the whole request back and leaves the connection usable', async () => {
    const before = await notes();
    const failed = await fail(30);
    assert.equal(failed.status, 400, failed.text);
    assert.equal(failed.json.message, 'rt_write_then_fail ran');
    assert.deepEqual(await notes(), before, 'the insert before the error was rolled back');
    const next = await server.request('rt_notes?select=id&id=eq.1');
    assert.equal(next.status, 200, next.text);
    assert.deepEqual(next.json, [{ id: 1 }]);
  });

  test('so does one that fails before an explicit end (Prefer: tx=rollback) or a check that refuses the result', async () => {
    const before = await notes();
    const failed = await fail(31, { Prefer: 'tx=rollback' });
    assert.equal(failed.status, 400, failed.text);
    const refused = await server.request('rt_notes?id=gt.0', {
      method: 'PATCH',
      headers: { ...JSON_BODY, Prefer: 'handling=strict, max-affected=1' },
      body: JSON.stringify({ body: 'all' }),
    });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json.code, 'PGRST124');
    const bad = await server.request('rt_notes', {
      method: 'POST',
      headers: JSON_BODY,
      body: JSON.stringify({ id: 32, body: 'far too long for the check constraint' }),
    });
    assert.equal(bad.status, 400, bad.text);
    assert.deepEqual(await notes(), before);
    const { rows } = await db.query<{ n: number }>(
      sql`select count(*)::int as n from public.rt_notes where body = 'all'`,
    );
    assert.equal(rows[0]?.n, 0);
    const next = await server.request('rpc/rt_whoami');
    assert.equal(next.status, 200, next.text);
    assert.equal(next.json.read_only, 'on', 'the next request runs in its own, fresh transaction');
  });

  test('settings never leak: two roles alternating on one connection each see only their own', async () => {
    const user = { Authorization: `Bearer ${await server.tokenFor('user_round_trips')}` };
    const whoami = async (headers: Record<string, string> = {}) => {
      const r = await server.request('rpc/rt_whoami', { headers });
      assert.equal(r.status, 200, r.text);
      return r.json as { user: string; claims: string; timezone: string; read_only: string; path: string };
    };
    const defaultZone = (await whoami()).timezone;
    const otherZone = defaultZone === 'Pacific/Auckland' ? 'America/New_York' : 'Pacific/Auckland';
    for (let round = 0; round < 3; round++) {
      const anon = await whoami();
      assert.equal(anon.user, 'anon');
      assert.equal(JSON.parse(anon.claims).role, 'anon');
      assert.equal(JSON.parse(anon.claims).sub, undefined, 'no subject left from the signed-in request');
      assert.equal(anon.timezone, defaultZone);
      assert.equal(anon.path, '/rpc/rt_whoami');

      const signedIn = await whoami({ ...user, Prefer: `timezone=${otherZone}` });
      assert.equal(signedIn.user, 'authenticated');
      assert.equal(JSON.parse(signedIn.claims).sub, 'user_round_trips');
      assert.equal(signedIn.timezone, otherZone);

      // A failed request in between, as the other role, leaves nothing behind either.
      assert.equal((await fail(40 + round, user)).status, 400);
      const { rows } = await db.query<{ n: number }>(
        sql`select count(*)::int as n from public.rt_notes where id >= 40`,
      );
      assert.equal(rows[0]?.n, 0);
    }
  });
});

describe(`a connection lost mid-request (${testBackend()})`, { skip: onlyPostgres }, () => {
  const service = (server: TestServer) => ({ ...JSON_BODY, Authorization: `Bearer ${server.keys.service_role}` });
  const sleep = (server: TestServer) =>
    server.request('rpc/rt_sleep', { method: 'POST', headers: service(server), body: JSON.stringify({ seconds: 60 }) });

  /** The backend running rt_sleep, once it runs it. */
  async function sleepingBackend(): Promise<number> {
    for (;;) {
      const { rows } = await db.query<{ pid: number }>(sql`
        select pid from pg_stat_activity
         where datname = current_database() and state = 'active' and query like '%rt_sleep%' and pid <> pg_backend_pid()`);
      if (rows[0]) return rows[0].pid;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  test('pg_terminate_backend of its connection answers 503, and the next request gets a new one', async () => {
    const { server } = await serve();
    const pending = sleep(server);
    const pid = await sleepingBackend();
    await db.query(sql`select pg_terminate_backend(${pid})`);
    const lost = await pending;
    assert.equal(lost.status, 503, lost.text);
    assert.equal(lost.json.code, '57P01');
    const next = await server.request('rt_notes?select=id&id=eq.1');
    assert.equal(next.status, 200, next.text);
    assert.deepEqual(next.json, [{ id: 1 }]);
  });

  test('a network drop answers 503 PGRST001, and the pool recovers', async () => {
    const proxy = await startWireProxy(db.location.url as string);
    cleanups.push(() => proxy.close());
    const { server } = await serve(proxy.url);
    const pending = sleep(server);
    const pid = await sleepingBackend();
    proxy.cut();
    const lost = await pending;
    assert.equal(lost.status, 503, lost.text);
    assert.equal(lost.json.code, 'PGRST001');
    await db.query(sql`select pg_terminate_backend(${pid})`); // it sleeps on, unaware
    const next = await server.request('rt_notes?select=id&id=eq.1');
    assert.equal(next.status, 200, next.text);
    assert.deepEqual(next.json, [{ id: 1 }]);
  });
});
