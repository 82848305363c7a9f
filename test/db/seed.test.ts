import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { prepareDatabase } from '../../src/db/prepare.js';
import { readSeeds, seedReference } from '../../src/db/seed.js';
import { sql } from '../../src/db/sql.js';
import { LoconomyError } from '../../src/errors.js';
import { getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';

const log = testLogger();
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'loconomy-seed-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

async function blank(): Promise<TestDatabase> {
  const db = await getTestDatabase('empty');
  cleanups.push(() => db.dispose());
  return db;
}

const MIGRATIONS = { '0001_colors.sql': 'create table colors (name text primary key, n int not null default 0);' };
const SEEDS = {
  '01_colors.sql': "insert into colors (name) values ('red'), ('blue') on conflict do nothing;",
  '02_count.sql': 'update colors set n = n + 1;',
};

describe(`reference seeds (${testBackend()})`, () => {
  test('run in file order on first start, and not again on the next start', async () => {
    const db = await blank();
    const migrationsDir = await dirWith(MIGRATIONS);
    const seedsDir = await dirWith(SEEDS);
    const first = await prepareDatabase(db, { log, migrationsDir, seedsDir });
    assert.deepEqual(
      first.seeded.map((s) => s.name),
      ['01_colors.sql', '02_count.sql'],
    );
    assert.equal(first.schemaVersion, '0001');
    const second = await prepareDatabase(db, { log, migrationsDir, seedsDir });
    assert.deepEqual(second.migrated, []);
    assert.deepEqual(second.seeded, []);
    const { rows } = await db.query(sql`select name, n from colors order by name`);
    assert.deepEqual(rows, [
      { name: 'blue', n: 1 },
      { name: 'red', n: 1 },
    ]);
  });

  test('run again when a seed file changed', async () => {
    const db = await blank();
    const migrationsDir = await dirWith(MIGRATIONS);
    const seedsDir = await dirWith(SEEDS);
    await prepareDatabase(db, { log, migrationsDir, seedsDir });
    await writeFile(
      join(seedsDir, '01_colors.sql'),
      "insert into colors (name) values ('red'), ('blue'), ('green') on conflict do nothing;",
    );
    const again = await prepareDatabase(db, { log, migrationsDir, seedsDir });
    assert.equal(again.seeded.length, 2, 'all seed files run, in one transaction');
    assert.equal((await db.query(sql`select * from colors`)).rowCount, 3);
  });

  test('roll back every file when one fails, naming it', async () => {
    const db = await blank();
    await prepareDatabase(db, { log, migrationsDir: await dirWith(MIGRATIONS), seedsDir: await dirWith({}) });
    const files = await readSeeds(
      await dirWith({ ...SEEDS, '03_bad.sql': "insert into colors (name, n) values ('x', null);" }),
    );
    await assert.rejects(seedReference(db, { log, files }), (error: unknown) => {
      assert.ok(error instanceof LoconomyError);
      assert.equal(error.code, 'LOCO_SEED_FAILED');
      assert.match(error.message, /^seed 03_bad\.sql failed/);
      return true;
    });
    assert.equal((await db.query(sql`select * from colors`)).rowCount, 0, 'nothing from 01 or 02 either');
  });
});
