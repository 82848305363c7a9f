import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Database } from '../../src/db/database.js';
import { migrate, readState } from '../../src/db/migrator.js';
import { openPostgres } from '../../src/db/postgres.js';
import { sql } from '../../src/db/sql.js';
import { LoconomyError } from '../../src/errors.js';
import { getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';

/*
 * The migrator on fixture migrations written into a temporary directory per test, on a blank
 * database per test: never the real db/migrations.
 */

const log = testLogger();
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function fixture(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'loconomy-migrations-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

async function blank(): Promise<TestDatabase> {
  const db = await getTestDatabase('empty');
  cleanups.push(() => db.dispose());
  return db;
}

async function tables(db: Database): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    sql`select table_name as name from information_schema.tables where table_schema = 'public' order by 1`,
  );
  return rows.map((r) => r.name);
}

async function expectRefusal(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<LoconomyError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof LoconomyError, `expected a LoconomyError, got ${error}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    assert.doesNotMatch(error.message, /\n/, 'one line');
    return error;
  }
  assert.fail('expected a refusal');
}

const FIRST = {
  '0001_first.sql': 'create table one (id int primary key);',
  '0002_second.sql': "create table two (id int references one);\ncomment on table two is 'second';",
};

describe(`migrator (${testBackend()})`, () => {
  test('applies pending files in order, each recorded with its checksum and duration', async () => {
    const db = await blank();
    const dir = await fixture(FIRST);
    const { steps, state } = await migrate(db, { log, dir });
    assert.deepEqual(
      steps.map((s) => [s.version, s.name]),
      [
        ['0001', '0001_first.sql'],
        ['0002', '0002_second.sql'],
      ],
    );
    for (const s of steps) assert.ok(s.ms >= 0);
    assert.deepEqual(await tables(db), ['one', 'two']);
    const { rows } = await db.query(
      sql`select version, name, checksum, duration_ms, applied_at from loconomy_migrations.applied order by version`,
    );
    assert.equal(rows.length, 2);
    assert.match(String(rows[0]?.checksum), /^[0-9a-f]{64}$/);
    assert.equal(typeof rows[0]?.duration_ms, 'number');
    assert.ok(rows[0]?.applied_at instanceof Date);
    assert.deepEqual([...state.migrations.keys()], ['0001', '0002']);
  });

  test('is a no-op costing one query when the database is up to date', async () => {
    const db = await blank();
    const dir = await fixture(FIRST);
    await migrate(db, { log, dir });
    let queries = 0;
    const counting: Database = {
      ...db,
      query: (q, p) => {
        queries++;
        return db.query(q, p);
      },
      transaction: () => assert.fail('no transaction on a warm start'),
    };
    const { steps } = await migrate(counting, { log, dir });
    assert.deepEqual(steps, []);
    assert.equal(queries, 1);
  });

  test('applies only the new file when one is added', async () => {
    const db = await blank();
    const dir = await fixture(FIRST);
    await migrate(db, { log, dir });
    await writeFile(join(dir, '0003_third.sql'), 'create table three (id int);');
    const { steps } = await migrate(db, { log, dir });
    assert.deepEqual(
      steps.map((s) => s.name),
      ['0003_third.sql'],
    );
  });

  test('runs files with search_path public, extensions', async () => {
    const db = await blank();
    const dir = await fixture({
      '0001_path.sql': "create table seen as select current_setting('search_path') as path;",
    });
    await migrate(db, { log, dir });
    assert.equal((await db.query(sql`select path from public.seen`)).rows[0]?.path, 'public, extensions');
  });

  test('refuses, naming the file, when an applied migration was changed', async () => {
    const db = await blank();
    const dir = await fixture(FIRST);
    await migrate(db, { log, dir });
    await writeFile(join(dir, '0002_second.sql'), 'create table two (id int); -- edited');
    await writeFile(join(dir, '0003_third.sql'), 'create table three (id int);');
    const error = await expectRefusal(
      migrate(db, { log, dir }),
      'LOCO_MIGRATION_CHANGED',
      /migration 0002_second\.sql was changed after it was applied/,
    );
    assert.match(error.todo, /new migration/);
    assert.deepEqual(await tables(db), ['one', 'two'], 'nothing else was applied');
  });

  test('refuses a database written by a newer Loconomy schema', async () => {
    const db = await blank();
    const dir = await fixture(FIRST);
    await migrate(db, { log, dir });
    await db.query(
      sql`insert into loconomy_migrations.applied (version, name, checksum, duration_ms) values ('0007', '0007_future.sql', 'x', 1)`,
    );
    const error = await expectRefusal(
      migrate(db, { log, dir }),
      'LOCO_MIGRATION_NEWER',
      /^data directory\/database was written by a newer Loconomy schema \(version 0007/,
    );
    assert.equal(error.todo, 'upgrade Loconomy');
  });

  test('refuses when an applied migration file has disappeared', async () => {
    const db = await blank();
    const dir = await fixture(FIRST);
    await migrate(db, { log, dir });
    await rm(join(dir, '0001_first.sql'));
    await expectRefusal(migrate(db, { log, dir }), 'LOCO_MIGRATION_INVALID', /applied migration 0001 is missing/);
  });

  test('leaves nothing half-applied when a file fails, and names the file and line', async () => {
    const db = await blank();
    const dir = await fixture({
      '0001_first.sql': FIRST['0001_first.sql'],
      '0002_broken.sql': 'create table half (id int);\ninsert into half values (1);\nselect * from no_such_table;\n',
      '0003_after.sql': 'create table after_broken (id int);',
    });
    const error = await expectRefusal(
      migrate(db, { log, dir }),
      'LOCO_MIGRATION_FAILED',
      /^migration 0002_broken\.sql failed at line 3: .*no_such_table/,
    );
    assert.match(error.todo, /nothing of it was applied/);
    assert.deepEqual(await tables(db), ['one'], 'neither half of 0002 nor 0003 exists');
    assert.deepEqual([...((await readState(db))?.migrations.keys() ?? [])], ['0001']);

    await writeFile(join(dir, '0002_broken.sql'), 'create table half (id int);');
    const { steps } = await migrate(db, { log, dir });
    assert.deepEqual(
      steps.map((s) => s.version),
      ['0002', '0003'],
      'a fixed file applies on the next run',
    );
  });

  test('refuses a file whose name has no version number', async () => {
    const db = await blank();
    const dir = await fixture({ 'first.sql': 'select 1;' });
    await expectRefusal(
      migrate(db, { log, dir }),
      'LOCO_MIGRATION_INVALID',
      /first\.sql does not match NNNN_<name>\.sql/,
    );
  });

  test('refuses two files with the same version', async () => {
    const db = await blank();
    const dir = await fixture({ '0001_a.sql': 'select 1;', '0001_b.sql': 'select 1;' });
    await expectRefusal(migrate(db, { log, dir }), 'LOCO_MIGRATION_INVALID', /share the version 0001/);
  });

  test('creates its bookkeeping even when there is nothing to apply', async () => {
    const db = await blank();
    const dir = await fixture({});
    const { steps, state } = await migrate(db, { log, dir });
    assert.deepEqual(steps, []);
    assert.equal(state.migrations.size, 0);
    assert.ok(await readState(db), 'loconomy_migrations exists');
  });

  test('is safe when two processes migrate the same database at once', {
    skip: testBackend() === 'pglite' && 'PGlite has one process per data directory (see the data directory lock test)',
  }, async () => {
    const db = await blank();
    const dir = await fixture({
      '0001_slow.sql': 'create table slow (id int); select pg_sleep(0.3);',
      '0002_next.sql': 'create table next (id int); select pg_sleep(0.1);',
    });
    // A second, independent connection pool stands in for a second server process.
    const other = openPostgres({ url: db.location.url as string, searchPath: 'public', log });
    cleanups.push(() => other.close());
    const [a, b] = await Promise.all([migrate(db, { log, dir }), migrate(other, { log, dir })]);
    const applied = [...a.steps, ...b.steps].map((s) => s.version).sort();
    assert.deepEqual(applied, ['0001', '0002'], 'each file applied exactly once');
    assert.deepEqual(await tables(db), ['next', 'slow']);
    assert.deepEqual([...a.state.migrations.keys()].sort(), ['0001', '0002']);
    assert.deepEqual([...b.state.migrations.keys()].sort(), ['0001', '0002']);
  });
});
