import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { createAuthenticator } from '../../src/auth/authenticate.js';
import type { Caller } from '../../src/auth/caller.js';
import { userToken } from '../../src/auth/keys.js';
import { VerifiedTokens } from '../../src/auth/token-cache.js';
import { getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';
import { bearer, refused, SECRET } from './support.js';

/*
 * Verified JWTs remembered by token string (src/auth/token-cache.ts): reused while valid, never
 * past the token's exp (with its skew) nor the cache's lifetime, bounded, failures not kept.
 * That a hit is served from the cache shows as the very same Caller object.
 */

const NOW = 1_900_000_000; // seconds

let db: TestDatabase;
before(async () => {
  db = await getTestDatabase();
});
after(() => db?.dispose());

/** An authenticator whose clock the test moves (milliseconds). */
function withClock(options: { maxEntries?: number; maxLifetimeMs?: number } = {}) {
  const clock = { ms: NOW * 1000 };
  const auth = createAuthenticator({
    db,
    jwtSecret: SECRET,
    anonRole: 'anon',
    clerk: {},
    log: testLogger(),
    now: () => clock.ms,
    tokenCache: options,
  });
  return { auth, clock };
}

describe(`authentication: verified tokens reused (${testBackend()})`, () => {
  test('a token verified once is served again as the same caller', async () => {
    const { auth } = withClock();
    const token = await userToken(SECRET, { sub: 'user_cache', ttlSeconds: 3600 }, NOW);
    const first = await auth.authenticate(bearer(token));
    const second = await auth.authenticate(bearer(token));
    assert.equal(first.role, 'authenticated');
    assert.equal(first.claims.sub, 'user_cache');
    assert.equal(second, first);
  });

  test('a cached token is refused once its exp has passed (30 s skew), as without the cache', async () => {
    const { auth, clock } = withClock();
    const token = await userToken(SECRET, { sub: 'user_cache', ttlSeconds: 60 }, NOW); // exp = NOW + 60
    await auth.authenticate(bearer(token));
    clock.ms = (NOW + 90) * 1000 + 999; // exp + skew, still accepted
    assert.equal((await auth.authenticate(bearer(token))).claims.sub, 'user_cache');
    clock.ms = (NOW + 91) * 1000;
    await refused(auth.authenticate(bearer(token)), { status: 401, code: 'PGRST303', message: 'JWT expired' });
  });

  test('a verification is reused for at most the cache lifetime, then made again', async () => {
    const { auth, clock } = withClock({ maxLifetimeMs: 1000 });
    const token = await userToken(SECRET, { sub: 'user_cache', ttlSeconds: 3600 }, NOW);
    const first = await auth.authenticate(bearer(token));
    clock.ms += 999;
    assert.equal(await auth.authenticate(bearer(token)), first);
    clock.ms += 1;
    const again = await auth.authenticate(bearer(token));
    assert.notEqual(again, first);
    assert.deepEqual(again, first);
  });

  test('a lifetime of 0 turns reuse off', async () => {
    const { auth } = withClock({ maxLifetimeMs: 0 });
    const token = await userToken(SECRET, { sub: 'user_cache', ttlSeconds: 3600 }, NOW);
    assert.notEqual(await auth.authenticate(bearer(token)), await auth.authenticate(bearer(token)));
  });

  test('a refused token is refused every time (failures are not kept), and its valid twin is not confused with it', async () => {
    const { auth } = withClock();
    const token = await userToken(SECRET, { sub: 'user_cache', ttlSeconds: 3600 }, NOW);
    const forged = await new SignJWT({ sub: 'user_cache', role: 'service_role', exp: NOW + 3600 })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(`${SECRET}-not`));
    await auth.authenticate(bearer(token));
    for (let i = 0; i < 2; i++) {
      await refused(auth.authenticate(bearer(forged)), {
        status: 401,
        code: 'PGRST301',
        message: 'JWT cryptographic operation failed',
      });
    }
    // One changed character of a cached token is another string: verified, and refused.
    const tampered = `${token.slice(0, -2)}${token.at(-2) === 'A' ? 'B' : 'A'}${token.at(-1)}`;
    await refused(auth.authenticate(bearer(tampered)), { status: 401, code: 'PGRST301' });
  });

  test('a token not yet valid is not kept, and is accepted once its nbf is reached', async () => {
    const { auth, clock } = withClock();
    const token = await new SignJWT({ role: 'authenticated', sub: 'user_cache', nbf: NOW + 100, exp: NOW + 3600 })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(SECRET));
    await refused(auth.authenticate(bearer(token)), { status: 401, code: 'PGRST303', message: 'JWT not yet valid' });
    clock.ms = (NOW + 100) * 1000;
    assert.equal((await auth.authenticate(bearer(token))).claims.sub, 'user_cache');
  });

  test('at most maxEntries tokens are kept; the least recently used goes first', async () => {
    const { auth } = withClock({ maxEntries: 2 });
    const tokens = await Promise.all(
      ['a', 'b', 'c'].map((sub) => userToken(SECRET, { sub: `user_${sub}`, ttlSeconds: 3600 }, NOW)),
    );
    const [a, b, c] = tokens as [string, string, string];
    const callerA = await auth.authenticate(bearer(a));
    const callerB = await auth.authenticate(bearer(b));
    assert.equal(await auth.authenticate(bearer(a)), callerA); // a is now the most recent
    await auth.authenticate(bearer(c)); // evicts b
    assert.equal(await auth.authenticate(bearer(a)), callerA);
    assert.notEqual(await auth.authenticate(bearer(b)), callerB);
  });
});

describe('VerifiedTokens', () => {
  const caller = (exp?: number): Caller => ({
    role: 'authenticated',
    claims: { role: 'authenticated', ...(exp === undefined ? {} : { exp }) },
  });

  test('holds at most maxEntries', () => {
    const cache = new VerifiedTokens({ maxEntries: 3 });
    for (let i = 0; i < 10; i++) cache.set(`t${i}`, caller(), 0, 0);
    assert.equal(cache.size, 3);
    assert.equal(cache.get('t6', 0), undefined);
    assert.ok(cache.get('t9', 0));
  });

  test('drops an entry past exp + skew, and one without exp after the lifetime', () => {
    const cache = new VerifiedTokens({ maxLifetimeMs: 200_000 });
    cache.set('exp', caller(100), 5, 0);
    cache.set('none', caller(), 5, 0);
    assert.ok(cache.get('exp', 105_999));
    assert.equal(cache.get('exp', 106_000), undefined);
    assert.equal(cache.size, 1);
    assert.ok(cache.get('none', 199_999));
    assert.equal(cache.get('none', 200_000), undefined);
    assert.equal(cache.size, 0);
  });

  test('refuses nonsense sizes', () => {
    assert.throws(() => new VerifiedTokens({ maxEntries: 0 }), RangeError);
    assert.throws(() => new VerifiedTokens({ maxLifetimeMs: -1 }), RangeError);
  });
});
