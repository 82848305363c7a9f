import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createAuthenticator } from '../../src/auth/authenticate.js';
import type { Authenticator, Caller } from '../../src/auth/caller.js';
import { userToken } from '../../src/auth/keys.js';
import { checkScopes } from '../../src/auth/scopes.js';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { sql } from '../../src/db/sql.js';
import { ApiError } from '../../src/errors.js';
import { createUser, type UserFixture } from '../helpers/fixtures.js';
import { asUser, getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';
import { bearer, refused, SECRET } from './support.js';

/*
 * Loconomy API keys through the real parts: keys made by create_api_key() as their owner,
 * resolved, counted and rate-limited by app.use_api_key() in the database (0015), and the
 * scopes they carry checked by checkScopes().
 */

let db: TestDatabase;
let auth: Authenticator;
let owner: UserFixture;

before(async () => {
  db = await getTestDatabase();
  auth = newAuthenticator(db);
  owner = await createUser(db);
});
after(() => db?.dispose());

function newAuthenticator(on: Database): Authenticator {
  return createAuthenticator({ db: on, jwtSecret: SECRET, anonRole: 'anon', clerk: {}, log: testLogger() });
}

interface CreatedKey {
  key_id: string;
  api_key: string;
  prefix: string;
}

/** A key made the way users make them: create_api_key() as its owner, committed. */
async function createKey(
  user: UserFixture,
  options: { scopes?: string[]; ratePerHour?: number } = {},
): Promise<CreatedKey> {
  return asUser(
    db,
    user.clerkId,
    async (tx) => {
      const { rows } = await tx.query<CreatedKey>(sql`
        select key_id, api_key, prefix from public.create_api_key(
          'test key', ${options.scopes ?? ['listings:read']}::text[], null, ${options.ratePerHour ?? 1000})`);
      return rows[0] as CreatedKey;
    },
    { commit: true },
  );
}

async function usage(keyId: string): Promise<{ usage_count: string; last_used_at: Date | null; changed: boolean }> {
  const { rows } = await db.query<{ usage_count: string; last_used_at: Date | null; changed: boolean }>(sql`
    select usage_count, last_used_at, updated_at <> created_at as changed from public.api_keys where id = ${keyId}`);
  return rows[0] as { usage_count: string; last_used_at: Date | null; changed: boolean };
}

describe(`authentication: Loconomy API keys (${testBackend()})`, () => {
  test('a valid key acts as its owner, with its id, prefix and scopes', async () => {
    const key = await createKey(owner, { scopes: ['listings:read', 'bookings:*'] });
    const caller = await auth.authenticate({ apikey: key.api_key });
    assert.equal(caller.role, 'authenticated');
    assert.deepEqual(caller.claims, {
      sub: owner.clerkId,
      role: 'authenticated',
      tenant_id: owner.tenantId,
      api_key_id: key.key_id,
    });
    assert.deepEqual(caller.apiKey, { id: key.key_id, prefix: key.prefix, scopes: ['listings:read', 'bookings:*'] });
    // The database recognises the owner from these claims.
    const { rows } = await db.asRole(caller.role, caller.claims, (tx) =>
      tx.query<{ me: string }>(sql`select app.current_user_id() as me`),
    );
    assert.equal(rows[0]?.me, owner.id);
  });

  test('is accepted as a Bearer token too, and counted once when sent in both headers', async () => {
    const key = await createKey(owner);
    assert.equal((await auth.authenticate(bearer(key.api_key))).apiKey?.id, key.key_id);
    await auth.authenticate(bearer(key.api_key, { apikey: key.api_key }));
    assert.equal((await usage(key.key_id)).usage_count, '2');
  });

  test('each use is recorded in usage_count and last_used_at, without touching updated_at', async () => {
    const key = await createKey(owner);
    assert.deepEqual(await usage(key.key_id), { usage_count: '0', last_used_at: null, changed: false });
    await auth.authenticate({ apikey: key.api_key });
    await auth.authenticate({ apikey: key.api_key });
    const used = await usage(key.key_id);
    assert.equal(used.usage_count, '2');
    assert.ok(used.last_used_at instanceof Date);
    assert.equal(used.changed, false);
  });

  test('successful responses carry RateLimit-Limit, -Remaining and -Reset', async () => {
    const key = await createKey(owner, { ratePerHour: 50 });
    const headers = (await auth.authenticate({ apikey: key.api_key })).responseHeaders ?? {};
    assert.equal(headers['RateLimit-Limit'], '50');
    assert.equal(headers['RateLimit-Remaining'], '49');
    const reset = Number(headers['RateLimit-Reset']);
    assert.ok(Number.isInteger(reset) && reset >= 1 && reset <= 3600, `RateLimit-Reset ${reset}`);
  });

  test('a revoked key is refused', async () => {
    const key = await createKey(owner);
    await asUser(
      db,
      owner.clerkId,
      (tx) => tx.query(sql`update public.api_keys set revoked_at = now() where id = ${key.key_id}`),
      { commit: true },
    );
    await refused(auth.authenticate({ apikey: key.api_key }), {
      status: 401,
      code: 'PGRST301',
      message: 'Invalid API key',
    });
  });

  test('a key revoked after it was used is refused on the very next request (keys are never cached)', async () => {
    const key = await createKey(owner);
    assert.equal((await auth.authenticate({ apikey: key.api_key })).role, 'authenticated');
    assert.equal((await auth.authenticate(bearer(key.api_key))).role, 'authenticated');
    await asUser(
      db,
      owner.clerkId,
      (tx) => tx.query(sql`update public.api_keys set revoked_at = now() where id = ${key.key_id}`),
      { commit: true },
    );
    for (const headers of [{ apikey: key.api_key }, bearer(key.api_key)]) {
      await refused(auth.authenticate(headers), { status: 401, code: 'PGRST301', message: 'Invalid API key' });
    }
  });

  test('an expired key is refused', async () => {
    const key = await createKey(owner);
    await db.query(sql`
      update public.api_keys set created_at = now() - interval '2 days', expires_at = now() - interval '1 day'
      where id = ${key.key_id}`);
    await refused(auth.authenticate(bearer(key.api_key)), {
      status: 401,
      code: 'PGRST301',
      message: 'Invalid API key',
    });
  });

  test('unknown and malformed keys are refused', async () => {
    const unknown = `lk_${randomBytes(4).toString('hex')}_${randomBytes(32).toString('hex')}`;
    for (const key of [unknown, 'lk_', 'lk_1234abcd', `${unknown}0`, unknown.toUpperCase().replace('LK_', 'lk_')]) {
      await refused(auth.authenticate({ apikey: key }), { status: 401, code: 'PGRST301', message: 'Invalid API key' });
    }
  });

  test('the key of a banned, suspended or deleted owner is refused', async () => {
    for (const change of ['banned', 'suspended', 'deleted'] as const) {
      const user = await createUser(db);
      const key = await createKey(user);
      assert.equal((await auth.authenticate({ apikey: key.api_key })).role, 'authenticated');
      if (change === 'deleted') await db.query(sql`update public.users set deleted_at = now() where id = ${user.id}`);
      else await db.query(sql`update public.users set status = ${change}::public.user_status where id = ${user.id}`);
      await refused(auth.authenticate({ apikey: key.api_key }), { status: 401, code: 'PGRST301' });
    }
  });

  test('with a user token as Bearer, the token decides; the API key in apikey is still checked and counted', async () => {
    const key = await createKey(owner, { ratePerHour: 10 });
    const other = await createUser(db);
    const token = await userToken(SECRET, { sub: other.clerkId });
    const caller = await auth.authenticate(bearer(token, { apikey: key.api_key }));
    assert.equal(caller.claims.sub, other.clerkId);
    assert.equal(caller.apiKey, undefined);
    assert.equal(caller.responseHeaders?.['RateLimit-Remaining'], '9');
    // Change the last character (to another one: a key ending in 0 made this pass 1 time in 16).
    const altered = `${key.api_key.slice(0, -1)}${key.api_key.endsWith('0') ? '1' : '0'}`;
    await refused(auth.authenticate(bearer(token, { apikey: altered })), {
      status: 401,
      code: 'PGRST301',
    });
  });

  test('only service_role may call app.use_api_key(), and no API role can read the rate windows', async () => {
    const key = await createKey(owner);
    for (const clerkId of [null, owner.clerkId]) {
      await assert.rejects(
        asUser(db, clerkId, (tx) => tx.query(sql`select * from app.use_api_key(${key.api_key})`)),
        /permission denied/,
      );
      await assert.rejects(
        asUser(db, clerkId, (tx) => tx.query(sql`select * from app.api_key_rate_windows`)),
        /permission denied/,
      );
    }
  });
});

describe(`authentication: API key rate limits, kept in the database (${testBackend()})`, () => {
  test('a key allows rate_limit_per_hour requests, then answers 429 with Retry-After', async () => {
    const key = await createKey(owner, { ratePerHour: 3 });
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      remaining.push((await auth.authenticate({ apikey: key.api_key })).responseHeaders?.['RateLimit-Remaining'] ?? '');
    }
    assert.deepEqual(remaining, ['2', '1', '0']);
    const error = await refused(auth.authenticate({ apikey: key.api_key }), {
      status: 429,
      code: 'LOCO_AUTH_RATE_LIMITED',
    });
    assert.equal(error.headers['RateLimit-Limit'], '3');
    assert.equal(error.headers['RateLimit-Remaining'], '0');
    const retryAfter = Number(error.headers['Retry-After']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
    assert.equal(error.headers['RateLimit-Reset'], error.headers['Retry-After']);
    // Refused requests are neither used nor counted.
    assert.equal((await usage(key.key_id)).usage_count, '3');
    await refused(auth.authenticate(bearer(key.api_key)), { status: 429, code: 'LOCO_AUTH_RATE_LIMITED' });
  });

  test('two authenticators on the same database share one count', async () => {
    const key = await createKey(owner, { ratePerHour: 3 });
    // On PostgreSQL the second one has its own connection pool, as a second server process would.
    const second =
      testBackend() === 'postgres'
        ? openPostgres({
            url: db.location.url as string,
            searchPath: '"public", "extensions"',
            log: testLogger(),
            poolSize: 2,
          })
        : db;
    try {
      const other = newAuthenticator(second);
      assert.equal((await auth.authenticate({ apikey: key.api_key })).responseHeaders?.['RateLimit-Remaining'], '2');
      assert.equal((await other.authenticate({ apikey: key.api_key })).responseHeaders?.['RateLimit-Remaining'], '1');
      assert.equal((await auth.authenticate({ apikey: key.api_key })).responseHeaders?.['RateLimit-Remaining'], '0');
      await refused(other.authenticate({ apikey: key.api_key }), { status: 429, code: 'LOCO_AUTH_RATE_LIMITED' });
    } finally {
      if (second !== db) await second.close();
    }
  });

  test('concurrent requests never exceed the limit', async () => {
    const key = await createKey(owner, { ratePerHour: 5 });
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, () => auth.authenticate({ apikey: key.api_key })),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
    for (const r of results) {
      if (r.status === 'rejected') assert.equal((r.reason as ApiError).code, 'LOCO_AUTH_RATE_LIMITED');
    }
  });

  test('the next hour starts a new window', async () => {
    const key = await createKey(owner, { ratePerHour: 1 });
    await auth.authenticate({ apikey: key.api_key });
    await refused(auth.authenticate({ apikey: key.api_key }), { status: 429, code: 'LOCO_AUTH_RATE_LIMITED' });
    // As if an hour passed: the stored window is the previous one.
    await db.query(sql`
      update app.api_key_rate_windows set window_start = window_start - interval '1 hour' where api_key_id = ${key.key_id}`);
    const caller = await auth.authenticate({ apikey: key.api_key });
    assert.equal(caller.responseHeaders?.['RateLimit-Remaining'], '0');
    const { rows } = await db.query<{ request_count: number }>(sql`
      select request_count from app.api_key_rate_windows where api_key_id = ${key.key_id}`);
    assert.deepEqual(rows, [{ request_count: 1 }]);
  });

  test('keys are limited separately, and deleting a key deletes its window', async () => {
    const a = await createKey(owner, { ratePerHour: 1 });
    const b = await createKey(owner, { ratePerHour: 1 });
    await auth.authenticate({ apikey: a.api_key });
    assert.equal((await auth.authenticate({ apikey: b.api_key })).role, 'authenticated');
    await db.query(sql`delete from public.api_keys where id = ${a.key_id}`);
    const { rows } = await db.query(sql`select 1 from app.api_key_rate_windows where api_key_id = ${a.key_id}`);
    assert.equal(rows.length, 0);
  });
});

describe(`checkScopes (${testBackend()})`, () => {
  async function callerWith(scopes: string[]): Promise<Caller> {
    const key = await createKey(owner, { scopes });
    return auth.authenticate({ apikey: key.api_key });
  }

  test('does nothing for callers without an API key', async () => {
    const token = await userToken(SECRET, { sub: owner.clerkId });
    checkScopes(await auth.authenticate(bearer(token)), [{ resource: 'bookings', action: 'write' }]);
    checkScopes({ role: 'anon', claims: { role: 'anon' } }, [{ resource: 'listings', action: 'read' }]);
  });

  test('resource:read grants reading that resource only; write does not imply read', async () => {
    const reader = await callerWith(['listings:read']);
    checkScopes(reader, [{ resource: 'listings', action: 'read' }]);
    checkScopes(reader, []);
    assert.throws(() => checkScopes(reader, [{ resource: 'listings', action: 'write' }]), scopeError('listings:write'));
    assert.throws(() => checkScopes(reader, [{ resource: 'bookings', action: 'read' }]), scopeError('bookings:read'));
    const writer = await callerWith(['bookings:write']);
    checkScopes(writer, [{ resource: 'bookings', action: 'write' }]);
    assert.throws(() => checkScopes(writer, [{ resource: 'bookings', action: 'read' }]), scopeError('bookings:read'));
  });

  test('resource:*, *:action and *:* are wildcards', async () => {
    const all = await callerWith(['bookings:*']);
    checkScopes(all, [
      { resource: 'bookings', action: 'read' },
      { resource: 'bookings', action: 'write' },
    ]);
    assert.throws(() => checkScopes(all, [{ resource: 'listings', action: 'read' }]), scopeError('listings:read'));
    const readAll = await callerWith(['*:read']);
    checkScopes(readAll, [
      { resource: 'listings', action: 'read' },
      { resource: 'reviews', action: 'read' },
    ]);
    assert.throws(() => checkScopes(readAll, [{ resource: 'reviews', action: 'write' }]), scopeError('reviews:write'));
    checkScopes(await callerWith(['*:*']), [
      { resource: 'listings', action: 'write' },
      { resource: 'messages', action: 'read' },
    ]);
  });

  test('a key without scopes may do nothing; the error names every missing scope', async () => {
    const none = await callerWith([]);
    assert.throws(
      () =>
        checkScopes(none, [
          { resource: 'listings', action: 'read' },
          { resource: 'bookings', action: 'write' },
          { resource: 'listings', action: 'read' },
        ]),
      (error: unknown) =>
        error instanceof ApiError &&
        error.status === 403 &&
        error.code === 'LOCO_AUTH_SCOPE' &&
        /lacks the scopes listings:read, bookings:write$/.test(String(error.details)),
    );
  });
});

function scopeError(scope: string) {
  return (error: unknown) =>
    error instanceof ApiError &&
    error.status === 403 &&
    error.code === 'LOCO_AUTH_SCOPE' &&
    String(error.details).endsWith(`the scope ${scope}`);
}
