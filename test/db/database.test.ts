import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { TEXTS_CACHED } from '../../src/db/context.js';
import { sql } from '../../src/db/sql.js';
import { getTestDatabase, type TestDatabase, testBackend } from '../helpers/index.js';

/*
 * The Database interface, on whichever backend this run uses. The expected values are
 * written out literally, so passing on both runs means both backends give identical values.
 */

let db: TestDatabase;
before(async () => {
  db = await getTestDatabase('empty');
  await db.exec(`
    create table t (id int primary key, label text);
    create table "Odd ""Name""" ("a b" int, "c""d" text);
    create type mood as enum ('happy', 'sad');`);
});
after(() => db?.dispose());

describe(`values (${testBackend()})`, () => {
  test('come back with node-postgres types for every common column type', async () => {
    const { rows, rowCount } = await db.query(sql`select
      42::int4 as int4,
      9007199254740993::int8 as int8,
      12.50::numeric as numeric,
      true as bool,
      '{"a": [1, "x"], "b": {"c": null}}'::json as json,
      '{"k": 1.5}'::jsonb as jsonb,
      '2024-01-02 03:04:05.678+00'::timestamptz as timestamptz,
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as uuid,
      array['a', 'b,c', null, 'd"e']::text[] as text_array,
      null::int as nothing`);
    assert.equal(rowCount, 1);
    assert.deepStrictEqual(rows[0], {
      int4: 42,
      int8: '9007199254740993',
      numeric: '12.50',
      bool: true,
      json: { a: [1, 'x'], b: { c: null } },
      jsonb: { k: 1.5 },
      timestamptz: new Date('2024-01-02T03:04:05.678Z'),
      uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      text_array: ['a', 'b,c', null, 'd"e'],
      nothing: null,
    });
  });

  test('come back the same for the less common types too', async () => {
    const { rows } = await db.query(sql`select
      1.5::float8 as float8, 7::int2 as int2, array[1, 2]::int4[] as int_array,
      array[1]::int8[] as int8_array, '\\x6869'::bytea as bytea, 'happy'::mood as mood,
      array['happy', 'sad']::mood[] as mood_array, '2024-05-06'::date as date`);
    assert.deepStrictEqual(rows[0], {
      float8: 1.5,
      int2: 7,
      int_array: [1, 2],
      int8_array: ['1'],
      bytea: Buffer.from('hi'),
      mood: 'happy',
      mood_array: '{happy,sad}', // node-postgres does not parse arrays of user-defined types
      date: new Date(2024, 4, 6), // local midnight, as node-postgres parses dates
    });
  });

  test('send parameters as node-postgres does (dates, arrays, objects, buffers, bigints)', async () => {
    const when = new Date('2020-02-29T12:00:00.123Z');
    const { rows } = await db.query(sql`select
      ${when}::timestamptz as when, ${[1, 2, 3]}::int[] as ints, ${['x', 'y,z']}::text[] as texts,
      ${{ a: [1, { b: 'c' }] }}::jsonb as doc, ${Buffer.from([0, 255])}::bytea as bytes,
      ${'9007199254740993'}::int8 as big, ${10n}::int8 as bigint, ${true}::bool as yes, ${null}::text as none`);
    assert.deepStrictEqual(rows[0], {
      when,
      ints: [1, 2, 3],
      texts: ['x', 'y,z'],
      doc: { a: [1, { b: 'c' }] },
      bytes: Buffer.from([0, 255]),
      big: '9007199254740993',
      bigint: '10',
      yes: true,
      none: null,
    });
  });

  test('keep a hostile string a plain value', async () => {
    const evil = "'); drop table t; --";
    const { rows } = await db.query(sql`select ${evil}::text as v`);
    assert.equal(rows[0]?.v, evil);
    assert.equal((await db.query(`select count(*)::int as n from t`)).rows[0]?.n, 0, 'table t still there');
  });

  test('reach oddly named tables and columns through sql.ident', async () => {
    await db.query(
      sql`insert into ${sql.ident('Odd "Name"')} (${sql.ident('a b')}, ${sql.ident('c"d')}) values (${1}, ${'x'})`,
    );
    const { rows } = await db.query(
      sql`select ${sql.ident('a b')} as a, ${sql.ident('c"d')} as c from ${sql.ident('Odd "Name"')}`,
    );
    assert.deepStrictEqual(rows, [{ a: 1, c: 'x' }]);
  });

  test('report rowCount as node-postgres does', async () => {
    assert.equal((await db.query(sql`insert into t values (1, 'a'), (2, 'b')`)).rowCount, 2);
    assert.equal((await db.query(sql`update t set label = 'z' where id > ${0}`)).rowCount, 2);
    assert.equal((await db.query(sql`select * from t`)).rowCount, 2);
    assert.equal((await db.query(sql`delete from t where id = ${99}`)).rowCount, 0);
    assert.equal((await db.query(sql`delete from t`)).rowCount, 2);
    assert.equal((await db.query('create temporary table tmp_x (a int)')).rowCount, 0);
  });

  test('accept plain text with separate parameters', async () => {
    const { rows } = await db.query<{ sum: number }>('select $1::int + $2::int as sum', [2, 3]);
    assert.equal(rows[0]?.sum, 5);
  });

  test('come back as arrays in column order when asked (arrayMode), typed the same, prepared or not', async () => {
    // Two columns of one name both survive as array entries (an object row would keep one).
    const text = "select 1::int as a, 'x'::text as a, null::int as c, 2::int8 as d, '{1,2}'::int[] as e";
    const expected = [[1, 'x', null, '2', [1, 2]]];
    for (const prepare of [false, true]) {
      const { rows } = await db.query<unknown[]>({ text, values: [], arrayMode: true, prepare });
      assert.deepEqual(rows, expected, `prepare: ${prepare}`);
      const inTx = await db.transaction((tx) => tx.query<unknown[]>({ text, values: [], arrayMode: true, prepare }));
      assert.deepEqual(inTx.rows, expected, `in a transaction, prepare: ${prepare}`);
    }
  });

  test('surface PostgreSQL errors with their SQLSTATE code', async () => {
    await assert.rejects(db.query('select * from no_such_table'), { code: '42P01' });
    await assert.rejects(db.query(sql`select 1 / ${0}::int`), { code: '22012' });
  });
});

describe(`transactions (${testBackend()})`, () => {
  test('commit when the callback resolves', async () => {
    await db.transaction(async (tx) => {
      await tx.query(sql`insert into t values (${10}, ${'kept'})`);
    });
    assert.equal((await db.query(sql`select label from t where id = 10`)).rows[0]?.label, 'kept');
  });

  test('roll back everything when the callback throws', async () => {
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`insert into t values (${11}, ${'lost'})`);
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal((await db.query(sql`select * from t where id = 11`)).rowCount, 0);
  });

  test('roll back when a statement fails, and leave the database usable', async () => {
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`insert into t values (${12}, ${'lost'})`);
        await tx.query(sql`insert into t values (${12}, ${'duplicate'})`);
      }),
      { code: '23505' },
    );
    assert.equal((await db.query(sql`select * from t where id = 12`)).rowCount, 0);
    assert.equal((await db.query('select 1 as one')).rows[0]?.one, 1);
  });

  test('run multi-statement scripts with exec', async () => {
    await db.transaction((tx) => tx.exec(`insert into t values (20, 'a'); insert into t values (21, 'b');`));
    assert.equal((await db.query(sql`select * from t where id in (20, 21)`)).rowCount, 2);
  });

  test('serialize concurrent transactions without mixing their statements', async () => {
    await Promise.all(
      [30, 31, 32, 33].map((id) =>
        db.transaction(async (tx) => {
          await tx.query(sql`insert into t values (${id}, ${'first'})`);
          await tx.query(sql`update t set label = ${'second'} where id = ${id}`);
        }),
      ),
    );
    const { rows } = await db.query(sql`select distinct label from t where id between 30 and 33`);
    assert.deepStrictEqual(rows, [{ label: 'second' }]);
  });

  if (testBackend() === 'pglite') {
    test('refuse db.query inside a PGlite transaction instead of deadlocking', async () => {
      await assert.rejects(
        db.transaction(async () => {
          await db.query('select 1');
        }),
        /would deadlock on PGlite/,
      );
    });
  }
});

describe(`asRole (${testBackend()})`, () => {
  const role = `loconomy_test_${process.pid}`;
  before(async () => {
    // Roles are cluster-wide on PostgreSQL: a name per process keeps parallel runs apart.
    await db.exec(`create role ${sql.ident(role).text} nologin; grant select on t to ${sql.ident(role).text};`);
  });
  after(async () => {
    await db.exec(`drop owned by ${sql.ident(role).text}; drop role if exists ${sql.ident(role).text};`);
  });

  test('sets the role, claims, request details and search_path for one transaction only', async () => {
    const claims = { sub: 'user_123', role, email: "o'brien@example.com" };
    const seen = await db.asRole(
      role,
      claims,
      async (tx) =>
        (
          await tx.query(sql`select current_user as who,
            current_setting('request.jwt.claims', true)::json as claims,
            current_setting('request.method', true) as method,
            current_setting('request.path', true) as path,
            current_setting('request.headers', true)::json as headers,
            current_setting('search_path') as search_path`)
        ).rows[0],
      { method: 'GET', path: '/rest/v1/listings', headers: { 'x-client': 'test' } },
    );
    assert.deepStrictEqual(seen, {
      who: role,
      claims,
      method: 'GET',
      path: '/rest/v1/listings',
      headers: { 'x-client': 'test' },
      search_path: '"public", "extensions"',
    });
    const afterwards = (
      await db.query(`select current_user as who, current_setting('request.jwt.claims', true) as claims`)
    ).rows[0];
    assert.notEqual(afterwards?.who, role, 'the role ended with the transaction');
    assert.ok(!afterwards?.claims, 'the claims ended with the transaction');
  });

  test('sets every further setting, whatever their number (the statement text is kept per number)', async () => {
    // The text is compiled once per number of settings, up to TEXTS_CACHED, and each time past
    // it: each number must still get its own text, and the values of this request.
    for (const count of [0, 1, 3, 1, 0, 3, TEXTS_CACHED - 1, TEXTS_CACHED, TEXTS_CACHED + 2]) {
      const settings = Object.fromEntries(
        Array.from({ length: count }, (_, i) => [`loconomy.s${i}`, `v${count}.${i}`]),
      );
      const seen = await db.asRole(
        role,
        { role },
        async (tx) =>
          (
            await tx.query<{ values: (string | null)[]; path: string }>(
              sql`select array(select current_setting('loconomy.s' || i, true) from generate_series(0, ${count + 1}) i) as values,
                current_setting('request.path', true) as path`,
            )
          ).rows[0],
        { method: 'GET', path: `/p${count}`, settings },
      );
      const expected = [...Object.values(settings), null, null];
      assert.deepStrictEqual(
        seen?.values.map((v) => v || null),
        expected,
        `${count} settings`,
      );
      assert.equal(seen?.path, `/p${count}`);
    }
  });

  test('runs with the role’s privileges', async () => {
    await assert.rejects(
      db.asRole(role, {}, (tx) => tx.query(sql`insert into t values (${40}, ${'no'})`)),
      { code: '42501' },
    );
  });

  test('quotes the role, so a role name cannot inject SQL', async () => {
    await assert.rejects(
      db.asRole('anon; drop table t', {}, async () => 1),
      { code: '22023' },
    );
    assert.equal((await db.query('select count(*)::int as n from t')).rows.length, 1, 'table t still there');
  });
});

describe(`copyFrom (${testBackend()})`, () => {
  test('bulk-loads rows of values, with NULLs, tabs, newlines and backslashes intact', async () => {
    await db.exec('create table bulk (id int, note text, tags text[], doc jsonb)');
    const rows = [
      [1, 'tab\there', ['a', 'b'], { x: 1 }],
      [2, 'line\nbreak \\ backslash', [], null],
      [3, null, null, { y: 'z' }],
    ];
    assert.equal(await db.copyFrom('bulk', ['id', 'note', 'tags', 'doc'], rows), 3);
    const { rows: back } = await db.query(sql`select * from bulk order by id`);
    assert.deepStrictEqual(back, [
      { id: 1, note: 'tab\there', tags: ['a', 'b'], doc: { x: 1 } },
      { id: 2, note: 'line\nbreak \\ backslash', tags: [], doc: null },
      { id: 3, note: null, tags: null, doc: { y: 'z' } },
    ]);
  });

  test('bulk-loads a CSV stream into a schema-qualified table', async () => {
    await db.exec('create schema if not exists s; create table s.csv (a int, b text)');
    const source = Readable.from(['a,b\n', '1,"x, y"\n2,\n']);
    assert.equal(await db.copyFrom(['s', 'csv'], ['a', 'b'], source, { format: 'csv', header: true }), 2);
    const { rows } = await db.query(sql`select * from s.csv order by a`);
    assert.deepStrictEqual(rows, [
      { a: 1, b: 'x, y' },
      { a: 2, b: null },
    ]);
  });

  test('bulk-loads inside a transaction and rolls back with it', async () => {
    await db.exec('create table bulk_tx (id int)');
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.copyFrom('bulk_tx', ['id'], [[1], [2]]);
        throw new Error('undo');
      }),
      /undo/,
    );
    assert.equal((await db.query('select * from bulk_tx')).rowCount, 0);
  });
});

describe(`listen/notify (${testBackend()})`, () => {
  function next(channel: string): Promise<{ payload: string; stop: () => Promise<void> }> {
    return new Promise((resolve, reject) => {
      let stop: () => Promise<void> = async () => {};
      db.listen(channel, (payload) => resolve({ payload, stop }))
        .then((unsubscribe) => {
          stop = unsubscribe;
        })
        .catch(reject);
    });
  }

  test('delivers a payload on a mixed-case channel name', async () => {
    const received: string[] = [];
    const unsubscribe = await db.listen('Booking Events', (p) => received.push(p));
    await db.notify('Booking Events', '{"id":1}');
    await waitFor(() => received.length === 1);
    assert.deepStrictEqual(received, ['{"id":1}']);
    await unsubscribe();
  });

  test('delivers a notification sent from inside a committed transaction', async () => {
    const got = next('tx_channel');
    await new Promise((r) => setTimeout(r, 50)); // the LISTEN is issued asynchronously above
    await db.transaction((tx) => tx.query(sql`select pg_notify(${'tx_channel'}, ${'from tx'})`));
    const { payload, stop } = await got;
    assert.equal(payload, 'from tx');
    await stop();
  });

  if (testBackend() === 'postgres') {
    test('listens again after the LISTEN connection is killed', async () => {
      const received: string[] = [];
      const unsubscribe = await db.listen('survivor', (p) => received.push(p));
      await db.query(sql`select pg_terminate_backend(pid) from pg_stat_activity
        where application_name = 'loconomy-listen' and datname = current_database()`);
      // Notifications sent while it reconnects are lost, as with any LISTEN client: keep
      // sending until one arrives.
      for (let i = 0; received.length === 0 && i < 100; i++) {
        await db.notify('survivor', `ping ${i}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(received.length > 0, 'a notification arrived after reconnecting');
      await unsubscribe();
    });
  }

  test('stops delivering after unsubscribe', async () => {
    const received: string[] = [];
    const unsubscribe = await db.listen('stop_me', (p) => received.push(p));
    await unsubscribe();
    await db.notify('stop_me', 'late');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepStrictEqual(received, []);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
