import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { prepared } from '../../src/db/prepared.js';
import { sql } from '../../src/db/sql.js';
import { getTestDatabase, ROOT, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';
import { startWireProxy } from '../helpers/wire.js';

/*
 * Statements sent together (decision 0014): the transaction API they need (`last`, the end
 * chosen up front) on both backends, and on PostgreSQL what the pipeline of src/db/pipeline.ts
 * relies on inside node-postgres — these tests are the ones to break if those internals change.
 */

let db: TestDatabase;
before(async () => {
  db = await getTestDatabase('empty');
  await db.exec(`create table k (id int primary key, label text); create type feeling as enum ('calm', 'busy');
    do $$ begin if not exists (select from pg_roles where rolname = 'anon') then create role anon; end if; end $$;`);
});
after(() => db?.dispose());

const onlyPostgres = testBackend() !== 'postgres' && 'the pipeline is the PostgreSQL backend’s';

describe(`transactions that end with their last statement (${testBackend()})`, () => {
  test('last() runs the statement and ends the transaction: committed, or rolled back when opened so', async () => {
    const row = await db.transaction((tx) => tx.last(sql`insert into k values (${1}, ${'kept'}) returning label`));
    assert.deepEqual(row.rows, [{ label: 'kept' }]);
    const undone = await db.transaction(
      (tx) => tx.last(sql`insert into k values (${2}, ${'undone'}) returning label`),
      { end: 'rollback' },
    );
    assert.deepEqual(undone.rows, [{ label: 'undone' }], 'the rows come back before the rollback');
    await db.transaction(
      async (tx) => {
        await tx.query(sql`insert into k values (${3}, ${'undone too'})`);
      },
      { end: 'rollback' },
    );
    assert.deepEqual((await db.query(sql`select id from k order by id`)).rows, [{ id: 1 }]);
  });

  test('nothing runs after last(): the transaction refuses it', async () => {
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.last(sql`select 1`);
        await tx.query(sql`select 2`);
      }),
      /nothing may run after last\(\)/,
    );
  });

  test('asRole sends the request context with the statement, and a failing statement undoes it all', async () => {
    const seen = await db.asRole('anon', { role: 'anon', sub: 'x' }, (tx) =>
      tx.last<{ who: string; sub: string }>(
        sql`select current_user as who, current_setting('request.jwt.claims', true)::json->>'sub' as sub`,
      ),
    );
    assert.deepEqual(seen.rows, [{ who: 'anon', sub: 'x' }]);
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`insert into k values (${4}, ${'first'})`);
        await tx.last(sql`insert into k values (${4}, ${'duplicate'})`);
      }),
      { code: '23505' },
    );
    assert.deepEqual((await db.query(sql`select id from k where id = 4`)).rows, []);
  });

  test('a caller that catches the error of last() still leaves the connection idle', async () => {
    for (const end of ['commit', 'rollback'] as const) {
      await db.transaction(
        async (tx) => {
          await tx.query(sql`insert into k values (${8}, ${'before'})`);
          await tx.last(sql`select 1 / 0`).catch(() => {});
        },
        { end },
      );
      assert.deepEqual((await db.query(sql`select id from k where id = 8`)).rows, [], `end ${end}`);
    }
  });

  test('exec and copyFrom inside a transaction run after its begin', async () => {
    const n = await db.transaction(async (tx) => {
      await tx.exec(`insert into k values (5, 'exec'); insert into k values (6, 'exec');`);
      await tx.copyFrom('k', ['id', 'label'], [[7, 'copied']]);
      return (await tx.last<{ n: number }>(sql`select count(*)::int as n from k where id between 5 and 7`)).rows[0]?.n;
    });
    assert.equal(n, 3);
  });
});

describe(`the PostgreSQL pipeline (${testBackend()})`, { skip: onlyPostgres }, () => {
  const opened: Database[] = [];
  after(async () => {
    for (const one of opened) await one.close();
  });
  function open(url = db.location.url as string): Database {
    const one = openPostgres({ url, searchPath: 'public', log: testLogger(), poolSize: 1 });
    opened.push(one);
    return one;
  }

  test('node-postgres is pinned to the exact version whose internals the pipeline uses', async () => {
    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
    const installed = createRequire(import.meta.url)('pg/package.json').version;
    assert.match(manifest.dependencies.pg, /^\d+\.\d+\.\d+$/, 'an exact version, no range');
    assert.equal(installed, manifest.dependencies.pg);
  });

  test('gives exactly the values node-postgres’s own queries give (decision 0001)', async () => {
    const one = open();
    const shape = (q: ReturnType<typeof sql>) => [q, prepared(q)] as const;
    const [plain, piped] = shape(sql`select
      ${7}::int2 as int2, ${42}::int4 as int4, ${'9007199254740993'}::int8 as int8, ${'12.50'}::numeric as numeric,
      ${1.5}::float8 as float8, ${true}::bool as bool, ${{ a: [1, 'x'] }}::json as json, ${{ k: null }}::jsonb as jsonb,
      ${new Date('2024-01-02T03:04:05.678Z')}::timestamptz as timestamptz, '2024-01-02 03:04:05'::timestamp as timestamp,
      '2024-01-02'::date as date, ${'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'}::uuid as uuid,
      ${['a', 'b,c', null]}::text[] as text_array, ${[1, 2]}::int4[] as int_array,
      array['calm', 'busy']::feeling[] as enum_array, ${Buffer.from([0, 1, 255])}::bytea as bytea,
      '1 day 02:03:04'::interval as interval, ${null}::text as nothing`);
    const expected = await one.query(plain); // node-postgres's Query (unnamed: not marked prepare)
    const got = await one.query(piped); // the pipeline, as a named statement
    const inTransaction = await one.transaction((tx) => tx.last(piped));
    assert.deepStrictEqual(got, expected);
    assert.deepStrictEqual(inTransaction, expected);
    assert.equal(got.rowCount, 1);
  });

  test('rowCount is node-postgres’s for DML in a pipeline', async () => {
    const one = open();
    const result = await one.transaction((tx) =>
      tx.last(prepared(sql`update k set label = label where id in (${1}, ${5}, ${6})`)),
    );
    assert.deepEqual(result, { rows: [], rowCount: 3 });
  });

  test('a parameter node-postgres cannot send fails before anything is written, and the connection goes on', async () => {
    const one = open();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await assert.rejects(one.transaction((tx) => tx.last(prepared(sql`select ${circular}::json as j`))));
    assert.deepEqual((await one.transaction((tx) => tx.last(prepared(sql`select ${1}::int as n`)))).rows, [{ n: 1 }]);
  });

  test('one Sync per transaction of one statement, one per statement before it otherwise', async () => {
    const proxy = await startWireProxy(db.location.url as string);
    try {
      const one = open(proxy.url);
      await one.query(sql`select 1`); // connect outside the count
      proxy.reset();
      await one.asRole('anon', {}, (tx) => tx.last(prepared(sql`select ${1}::int as n`)));
      assert.equal(proxy.roundTrips(), 1);
      assert.deepEqual(
        proxy.messages.map((m) => m.type).join(''),
        'PBDEPBDES',
        'Parse/Bind/Describe/Execute for the context and the statement, one Sync, no BEGIN or COMMIT',
      );
      proxy.reset();
      await one.asRole('anon', {}, (tx) => tx.last(prepared(sql`select ${2}::int as n`)));
      assert.equal(proxy.messages.map((m) => m.type).join(''), 'BDEBDES', 'the second time, only Bind/Execute');
      proxy.reset();
      await one.asRole('anon', {}, async (tx) => {
        await tx.query(prepared(sql`select ${1}::int as n`));
        await tx.last(prepared(sql`select ${2}::int as n`));
      });
      assert.equal(proxy.roundTrips(), 2, 'begin, context and the first statement; then the last and commit');
      proxy.reset();
      await one.asRole('anon', {}, async () => {});
      assert.equal(proxy.roundTrips(), 1, 'a transaction that ran nothing still checks its context');
    } finally {
      await proxy.close();
    }
  });
});
