import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from '../../src/db/sql.js';
import { asRole, asUser, getTestDatabase, type TestDatabase, testBackend } from './index.js';

/* The helpers policy tests act through: as a user, as anon, as a role; rolled back by default. */

let db: TestDatabase;
before(async () => {
  db = await getTestDatabase();
  await db.exec(
    'create table public.helper_probe (note text); grant insert, select on public.helper_probe to anon, authenticated',
  );
});
after(() => db?.dispose());

const whoami = sql`select current_user as role, current_setting('request.jwt.claims', true)::json as claims`;

describe(`asUser / asRole (${testBackend()})`, () => {
  test('asUser with a Clerk id acts as role authenticated with that sub', async () => {
    const seen = await asUser(db, 'user_2xyz', async (tx) => (await tx.query(whoami)).rows[0]);
    assert.deepEqual(seen, { role: 'authenticated', claims: { sub: 'user_2xyz', role: 'authenticated' } });
  });

  test('asUser with null acts as anon', async () => {
    const seen = await asUser(db, null, async (tx) => (await tx.query(whoami)).rows[0]);
    assert.deepEqual(seen, { role: 'anon', claims: { role: 'anon' } });
  });

  test('rolls back what the callback wrote, unless asked to commit', async () => {
    await asUser(db, 'user_a', (tx) => tx.query(sql`insert into public.helper_probe values ('rolled back')`));
    await asRole(db, 'anon', { role: 'anon' }, (tx) => tx.query(sql`insert into public.helper_probe values ('kept')`), {
      commit: true,
    });
    const { rows } = await db.query(sql`select note from public.helper_probe`);
    assert.deepEqual(rows, [{ note: 'kept' }]);
  });

  test('passes errors through', async () => {
    await assert.rejects(
      asUser(db, 'user_a', (tx) => tx.query('select * from no_such_table')),
      { code: '42P01' },
    );
  });
});
