import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { PreparedStatements, prepared, statementName } from '../../src/db/prepared.js';
import { sql } from '../../src/db/sql.js';
import { getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';
import { preparedSession as session } from '../helpers/prepared.js';

/*
 * Named prepared statements (decision 0010): the bookkeeping on its own, then what
 * PostgreSQL does with statements marked `prepare` — observed in pg_prepared_statements of
 * the one connection a one-connection pool has.
 */

let db: TestDatabase;
before(async () => {
  db = await getTestDatabase('empty');
  await db.exec('create table p (id int primary key, label text); insert into p values (1, $$one$$), (2, $$two$$);');
});
after(() => db?.dispose());

const onlyPostgres = testBackend() !== 'postgres' && 'prepared statements are a PostgreSQL backend feature';

describe('PreparedStatements bookkeeping', () => {
  test('names a text by a hash of it: the same text the same name, short enough for PostgreSQL', () => {
    const a = statementName('select 1');
    assert.equal(a, statementName('select 1'));
    assert.notEqual(a, statementName('select 2'));
    assert.match(a, /^loco_[0-9a-f]{32}$/);
    assert.ok(Buffer.byteLength(a) <= 63);
  });

  test('gives a connection at most max names; past that it runs unnamed and the connection is retired', () => {
    const statements = new PreparedStatements<object>(2);
    const connection = {};
    assert.equal(statements.nameFor(connection, 'a'), statementName('a'));
    assert.equal(statements.nameFor(connection, 'b'), statementName('b'));
    assert.equal(statements.nameFor(connection, 'a'), statementName('a'));
    assert.equal(statements.retired(connection), false);
    assert.equal(statements.nameFor(connection, 'c'), undefined);
    assert.equal(statements.count(connection), 2);
    assert.equal(statements.retired(connection), true);
    // Another connection has its own names.
    assert.equal(statements.nameFor({}, 'c'), statementName('c'));
  });

  test('discard() retires connections holding statements and names nothing on them meanwhile', () => {
    const statements = new PreparedStatements<object>(5);
    const used = {};
    const unused = {};
    statements.nameFor(used, 'a');
    statements.discard();
    assert.equal(statements.retired(used), true);
    assert.equal(statements.retired(unused), false);
    assert.equal(statements.nameFor(used, 'a'), undefined);
    assert.equal(statements.nameFor(unused, 'a'), statementName('a'));
  });

  test('refuses a max that is not a positive integer', () => {
    assert.throws(() => new PreparedStatements(0), RangeError);
    assert.throws(() => new PreparedStatements(1.5), RangeError);
  });
});

describe(`statements marked prepare (${testBackend()})`, () => {
  test('run like any other statement, inside and outside a transaction', async () => {
    const q = prepared(sql`select label from p where id = ${2}`);
    assert.deepEqual((await db.query(q)).rows, [{ label: 'two' }]);
    assert.deepEqual((await db.transaction((tx) => tx.query(q))).rows, [{ label: 'two' }]);
    assert.deepEqual((await db.query(prepared('select label from p where id = $1', [1]))).rows, [{ label: 'one' }]);
  });
});

describe(`named prepared statements on PostgreSQL (${testBackend()})`, { skip: onlyPostgres }, () => {
  const opened: Database[] = [];
  after(async () => {
    for (const one of opened) await one.close();
  });
  function open(options: { preparedStatements?: boolean; maxPreparedPerConnection?: number } = {}): Database {
    const one = openPostgres({
      url: db.location.url as string,
      searchPath: 'public',
      log: testLogger(),
      poolSize: 1,
      ...options,
    });
    opened.push(one);
    return one;
  }
  const byId = (id: number) => prepared(sql`select label from p where id = ${id}`);
  const byIdText = byId(0).text;

  test('a shape is prepared once per connection and reused, with new values each time', async () => {
    const one = open();
    const labels = [];
    for (const id of [1, 2, 1]) labels.push((await one.transaction((tx) => tx.query(byId(id)))).rows[0]?.label);
    assert.deepEqual(labels, ['one', 'two', 'one']);
    assert.deepEqual([...(await session(one)).statements], [[byIdText, 3]]);
  });

  test('statements not marked stay unnamed, and so does everything with preparedStatements: false', async () => {
    const one = open();
    await one.transaction((tx) => tx.query(sql`select label from p where id = ${1}`));
    assert.equal((await session(one)).statements.size, 0);
    const off = open({ preparedStatements: false });
    await off.transaction((tx) => tx.query(byId(1)));
    await off.query(byId(2));
    assert.equal((await session(off)).statements.size, 0);
  });

  test('a statement that fails when run in a transaction stays prepared for the next one', async () => {
    const one = open();
    const insert = (id: number) => prepared(sql`insert into p values (${id}, ${'new'}) returning label`);
    await assert.rejects(
      one.transaction((tx) => tx.query(insert(1))),
      { code: '23505' },
    );
    // Prepared statements are not transactional: the rollback kept it, and node-postgres knows.
    assert.deepEqual((await one.transaction((tx) => tx.query(insert(3)))).rows, [{ label: 'new' }]);
    assert.deepEqual([...(await session(one)).statements], [[insert(0).text, 2]]);
  });

  test('a statement refused by an aborted transaction is prepared when next used', async () => {
    const one = open();
    await assert.rejects(
      one.transaction(async (tx) => {
        await tx.query(sql`select 1 / 0`).catch(() => {});
        await tx.query(byId(1)); // 25P02: the server parses nothing in an aborted transaction
      }),
      { code: '25P02' },
    );
    assert.equal((await session(one)).statements.size, 0);
    assert.deepEqual((await one.transaction((tx) => tx.query(byId(1)))).rows, [{ label: 'one' }]);
    assert.deepEqual([...(await session(one)).statements], [[byIdText, 1]]);
  });

  test('holds at most maxPreparedPerConnection names per connection, replacing a full connection', async () => {
    const one = open({ maxPreparedPerConnection: 2 });
    const preparing = new Set<number>(); // connections seen holding named statements
    for (let round = 0; round < 2; round++) {
      for (let n = 1; n <= 5; n++) {
        const shape = prepared(sql`select label, ${sql.int(n)} as n from p where id = ${1}`);
        assert.deepEqual((await one.transaction((tx) => tx.query(shape))).rows, [{ label: 'one', n }]);
        const seen = await session(one);
        assert.ok(seen.statements.size <= 2, `${seen.statements.size} named statements`);
        if (seen.statements.size > 0) preparing.add(seen.pid);
      }
    }
    // Ten uses of five shapes at two per connection: replaced connections prepare again.
    assert.ok(preparing.size >= 3, `${preparing.size} connections prepared statements`);
  });

  test('after DDL, discardPreparedStatements() lets a shape whose parameter types changed run again', async () => {
    await db.exec('create table codes (code int); insert into codes values (7);');
    const one = open();
    const find = (code: string) => prepared(sql`select code::text as code from codes where code = ${code}`);
    assert.deepEqual((await one.transaction((tx) => tx.query(find('7')))).rows, [{ code: '7' }]);
    const before = (await session(one)).pid;
    await db.exec(`alter table codes alter column code type text; insert into codes values ('A7');`);
    // The statement keeps the parameter type it was prepared with (int4): this is the hazard.
    await assert.rejects(one.transaction((tx) => tx.query(find('A7'))));
    one.discardPreparedStatements();
    assert.deepEqual((await one.transaction((tx) => tx.query(find('A7')))).rows, [{ code: 'A7' }]);
    const after = await session(one);
    assert.notEqual(after.pid, before, 'the connection holding the stale statement was replaced');
    assert.deepEqual([...after.statements], [[find('').text, 1]]);
  });

  test('a statement deallocated behind its back fails once, then its connection is replaced', async () => {
    const one = open();
    await one.transaction((tx) => tx.query(byId(1)));
    const before = (await session(one)).pid;
    await one.transaction((tx) => tx.query(sql`deallocate all`));
    await assert.rejects(
      one.transaction((tx) => tx.query(byId(1))),
      { code: '26000' },
    );
    assert.deepEqual((await one.transaction((tx) => tx.query(byId(2)))).rows, [{ label: 'two' }]);
    assert.notEqual((await session(one)).pid, before);
  });
});
