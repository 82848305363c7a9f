import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { sql } from '../../src/db/sql.js';
import { createUser } from '../helpers/fixtures.js';
import {
  asUser,
  createTestDatabaseLocation,
  type ServeProcess,
  startServe,
  testBackend,
  testLogger,
} from '../helpers/index.js';

/*
 * Two `loconomy serve` processes on one PostgreSQL database, as a deployment with several
 * instances runs: an API key's hourly limit is counted in the database, so it holds across
 * both, whichever process a request reaches.
 */

const skip = testBackend() !== 'postgres' && 'two processes need PostgreSQL (PGlite is one process per data directory)';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe(`two serve processes on one database (${testBackend()})`, { skip }, () => {
  test('share an API key rate limit: the request past it is 429 from either process, and each use is counted once', async () => {
    const where = await createTestDatabaseLocation('migrated');
    cleanups.push(() => where.dispose());
    const db: Database = openPostgres({
      url: where.url as string,
      searchPath: '"public", "extensions"',
      log: testLogger(),
    });
    cleanups.push(() => db.close());
    const owner = await createUser(db);
    const key = await asUser(
      db,
      owner.clerkId,
      async (tx) =>
        (
          await tx.query<{ key_id: string; api_key: string }>(
            sql`select key_id, api_key from public.create_api_key('two processes', ${['listings:read']}::text[], null, ${3})`,
          )
        ).rows[0] as { key_id: string; api_key: string },
      { commit: true },
    );

    const servers: ServeProcess[] = [];
    for (let i = 0; i < 2; i++) {
      const serve = await startServe(where.env);
      cleanups.push(() => serve.stop());
      servers.push(serve);
    }
    const [a, b] = servers as [ServeProcess, ServeProcess];
    const get = (serve: ServeProcess) =>
      fetch(`${serve.url}/rest/v1/listings?select=id&limit=1`, { headers: { apikey: key.api_key } });

    const remaining: (string | null)[] = [];
    for (const serve of [a, b, a]) {
      const response = await get(serve);
      assert.equal(response.status, 200, await response.text());
      assert.equal(response.headers.get('ratelimit-limit'), '3');
      remaining.push(response.headers.get('ratelimit-remaining'));
    }
    assert.deepEqual(remaining, ['2', '1', '0']);

    for (const serve of [b, a]) {
      const limited = await get(serve);
      assert.equal(limited.status, 429);
      assert.equal(((await limited.json()) as { code: string }).code, 'LOCO_AUTH_RATE_LIMITED');
      const retryAfter = Number(limited.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
      assert.equal(limited.headers.get('ratelimit-limit'), '3');
      assert.equal(limited.headers.get('ratelimit-remaining'), '0');
      assert.equal(limited.headers.get('ratelimit-reset'), String(retryAfter));
    }

    // Three requests were served, by two processes: three uses, one window count of three.
    const { rows } = await db.query<{ usage_count: string; request_count: number }>(sql`
      select k.usage_count, w.request_count
      from public.api_keys k join app.api_key_rate_windows w on w.api_key_id = k.id
      where k.id = ${key.key_id}`);
    assert.deepEqual(rows, [{ usage_count: '3', request_count: 3 }]);

    for (const serve of servers) {
      assert.equal(await serve.stop(), 0);
      assert.equal(serve.stderr(), '');
    }
  });
});
