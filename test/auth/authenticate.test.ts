import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { createAuthenticator } from '../../src/auth/authenticate.js';
import type { Authenticator } from '../../src/auth/caller.js';
import { projectKeys, userToken } from '../../src/auth/keys.js';
import { opaqueKeys } from '../../src/auth/opaque-keys.js';
import { getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';
import { bearer, refused, SECRET } from './support.js';

/*
 * The header rules and project credentials: no credentials, the anon and service_role JWTs,
 * user tokens, opaque keys, and every way a token is refused. Clerk tokens are in
 * clerk.test.ts, Loconomy API keys in api-keys.test.ts.
 */

const NOW = 1_900_000_000; // seconds; every token here is dated against this clock
const at = (seconds: number) => () => seconds * 1000;

let db: TestDatabase;
let auth: Authenticator;
let keys: { anon: string; service_role: string };
const encode = (secret: string) => new TextEncoder().encode(secret);

before(async () => {
  db = await getTestDatabase();
  auth = createAuthenticator({ db, jwtSecret: SECRET, anonRole: 'anon', clerk: {}, log: testLogger(), now: at(NOW) });
  keys = await projectKeys(SECRET, NOW - 86_400);
});
after(() => db?.dispose());

/** An HS256 token with the project secret and exactly these claims. */
function signed(claims: Record<string, unknown>, secret = SECRET, alg = 'HS256'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(encode(secret));
}

describe(`authentication: headers and project credentials (${testBackend()})`, () => {
  test('no credentials at all is the anon role with claims {role: anon}', async () => {
    assert.deepEqual(await auth.authenticate({}), { role: 'anon', claims: { role: 'anon' } });
  });

  test('the configured anon role replaces anon, for no credentials and for the anon key', async () => {
    const custom = createAuthenticator({
      db,
      jwtSecret: SECRET,
      anonRole: 'web_anon',
      clerk: {},
      log: testLogger(),
      now: at(NOW),
    });
    assert.deepEqual(await custom.authenticate({}), { role: 'web_anon', claims: { role: 'web_anon' } });
    const caller = await custom.authenticate({ apikey: keys.anon });
    assert.equal(caller.role, 'web_anon');
    assert.equal(caller.claims.role, 'web_anon');
  });

  test('the anon key in apikey is anon, with its claims passed on', async () => {
    const caller = await auth.authenticate({ apikey: keys.anon });
    assert.equal(caller.role, 'anon');
    assert.equal(caller.claims.role, 'anon');
    assert.equal(caller.claims.iss, 'loconomy');
    assert.equal(caller.apiKey, undefined);
    assert.equal(caller.responseHeaders, undefined);
  });

  test('the service_role key is service_role, in apikey or as a Bearer token', async () => {
    assert.equal((await auth.authenticate({ apikey: keys.service_role })).role, 'service_role');
    assert.equal((await auth.authenticate(bearer(keys.service_role))).role, 'service_role');
  });

  test('a user token decides over the anon key, as supabase-js sends them', async () => {
    const token = await userToken(SECRET, { sub: 'user_2alice' }, NOW);
    const caller = await auth.authenticate(bearer(token, { apikey: keys.anon }));
    assert.equal(caller.role, 'authenticated');
    assert.equal(caller.claims.sub, 'user_2alice');
    assert.equal(caller.claims.role, 'authenticated');
  });

  test('the Bearer token decides even when it grants less than apikey', async () => {
    const caller = await auth.authenticate(bearer(keys.anon, { apikey: keys.service_role }));
    assert.equal(caller.role, 'anon');
  });

  test('the same key in both headers, and a lower-case bearer scheme, are accepted', async () => {
    assert.equal((await auth.authenticate(bearer(keys.anon, { apikey: keys.anon }))).role, 'anon');
    assert.equal((await auth.authenticate({ authorization: `bearer ${keys.service_role}` })).role, 'service_role');
  });

  test('an invalid apikey is refused even when the Bearer token is valid', async () => {
    const token = await userToken(SECRET, { sub: 'user_2alice' }, NOW);
    const wrong = await userToken('another-secret-another-secret-0123456789', { sub: 'x' }, NOW);
    await refused(auth.authenticate(bearer(token, { apikey: wrong })), {
      status: 401,
      code: 'PGRST301',
      message: 'JWT cryptographic operation failed',
    });
    await refused(auth.authenticate(bearer(token, { apikey: 'nonsense' })), {
      status: 401,
      code: 'PGRST301',
      message: 'Expected 3 parts in JWT; got 1',
    });
    await refused(auth.authenticate({ apikey: '' }), { status: 401, code: 'PGRST301', message: 'Invalid API key' });
  });

  test('an Authorization header that is not "Bearer <token>" is refused', async () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', `Token ${keys.anon}`, `Bearer ${keys.anon} extra`, keys.anon]) {
      await refused(auth.authenticate({ authorization }), {
        status: 401,
        code: 'PGRST301',
        message: 'The Authorization header must be "Bearer <token>"',
      });
    }
    await refused(auth.authenticate({ authorization: 'Bearer ' }), {
      status: 401,
      code: 'PGRST301',
      message: 'Empty JWT is sent in Authorization header',
    });
  });

  test('tokens with another issuer, or none, are accepted when the signature is ours', async () => {
    const supabase = await signed({ iss: 'supabase', role: 'authenticated', sub: 'user_2s', exp: NOW + 60 });
    assert.equal((await auth.authenticate(bearer(supabase))).claims.iss, 'supabase');
    const bare = await signed({ role: 'service_role' });
    assert.equal((await auth.authenticate(bearer(bare))).role, 'service_role');
  });

  test('a token without a role claim is anon, as in PostgREST', async () => {
    const caller = await auth.authenticate(bearer(await signed({ sub: 'user_2x' })));
    assert.equal(caller.role, 'anon');
    assert.equal(caller.claims.role, 'anon');
  });

  test('a role other than anon, authenticated or service_role is refused, never set', async () => {
    for (const role of ['postgres', 'provider', 'pg_read_all_data', '', 42]) {
      const token = await signed({ sub: 'user_2x', role, exp: NOW + 60 });
      await refused(auth.authenticate(bearer(token)), {
        status: 401,
        code: 'PGRST303',
        message: "The JWT 'role' claim must be anon, authenticated or service_role",
      });
    }
  });

  test('an expired token is refused after 30 seconds of clock skew, not before', async () => {
    const token = await userToken(SECRET, { sub: 'user_2x', ttlSeconds: 60 }, NOW - 60); // exp = NOW
    const late = (s: number) =>
      createAuthenticator({ db, jwtSecret: SECRET, anonRole: 'anon', clerk: {}, log: testLogger(), now: at(NOW + s) });
    assert.equal((await late(30).authenticate(bearer(token))).role, 'authenticated');
    await refused(late(31).authenticate(bearer(token)), { status: 401, code: 'PGRST303', message: 'JWT expired' });
  });

  test('a token that is not valid yet, or issued in the future, is refused beyond the skew', async () => {
    await refused(auth.authenticate(bearer(await signed({ role: 'anon', nbf: NOW + 31 }))), {
      status: 401,
      code: 'PGRST303',
      message: 'JWT not yet valid',
    });
    await refused(auth.authenticate(bearer(await signed({ role: 'anon', iat: NOW + 31 }))), {
      status: 401,
      code: 'PGRST303',
      message: 'JWT issued at future',
    });
    assert.equal((await auth.authenticate(bearer(await signed({ role: 'anon', nbf: NOW + 30 })))).role, 'anon');
  });

  test('time claims that are not numbers are refused', async () => {
    await refused(auth.authenticate(bearer(await signed({ role: 'anon', exp: 'tomorrow' }))), {
      status: 401,
      code: 'PGRST303',
      message: "The JWT 'exp' claim must be a number",
    });
  });

  test('a token signed with another secret is refused', async () => {
    const token = await userToken('not-the-project-secret-not-the-project-secret', { sub: 'user_2x' }, NOW);
    await refused(auth.authenticate(bearer(token)), {
      status: 401,
      code: 'PGRST301',
      message: 'JWT cryptographic operation failed',
    });
  });

  test('a tampered payload is refused', async () => {
    const [header, , signature] = (await userToken(SECRET, { sub: 'user_2x' }, NOW)).split('.');
    const payload = Buffer.from(JSON.stringify({ sub: 'user_2x', role: 'service_role' })).toString('base64url');
    await refused(auth.authenticate(bearer(`${header}.${payload}.${signature}`)), {
      status: 401,
      code: 'PGRST301',
      message: 'JWT cryptographic operation failed',
    });
  });

  test('alg none, HS512 and ES256 tokens are refused whatever they claim', async () => {
    const none = new UnsecuredJWT({ role: 'service_role' }).encode();
    const hs512 = await signed({ role: 'service_role' }, SECRET, 'HS512');
    const { privateKey } = await generateKeyPair('ES256');
    const es256 = await new SignJWT({ role: 'service_role' }).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    for (const token of [none, hs512, es256]) {
      await refused(auth.authenticate(bearer(token)), {
        status: 401,
        code: 'PGRST301',
        message: 'Wrong or unsupported encoding algorithm',
      });
    }
  });

  test('an RS256 token is refused when Clerk is not configured', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({ sub: 'user_2x', exp: NOW + 60 })
      .setProtectedHeader({ alg: 'RS256' })
      .sign(privateKey);
    const error = await refused(auth.authenticate(bearer(token)), {
      status: 401,
      code: 'PGRST301',
      message: 'Wrong or unsupported encoding algorithm',
    });
    assert.match(String(error.details), /Clerk is not configured/);
  });

  test('garbage is refused as undecodable, and claims that are not an object as unparsable', async () => {
    await refused(auth.authenticate(bearer('a.b.c')), {
      status: 401,
      code: 'PGRST301',
      message: "JWT couldn't be decoded",
    });
    const header = Buffer.from('{"alg":"HS256"}').toString('base64url');
    const array = Buffer.from('[1,2]').toString('base64url');
    const mac = createHmac('sha256', SECRET).update(`${header}.${array}`).digest('base64url');
    await refused(auth.authenticate(bearer(`${header}.${array}.${mac}`)), {
      status: 401,
      code: 'PGRST303',
      message: 'Parsing claims failed',
    });
  });
});

describe(`authentication: opaque keys (${testBackend()})`, () => {
  test('sb_publishable_ is anon and sb_secret_ is service_role, in either header', async () => {
    const opaque = opaqueKeys(SECRET);
    assert.deepEqual(await auth.authenticate({ apikey: opaque.publishable }), {
      role: 'anon',
      claims: { role: 'anon' },
    });
    assert.deepEqual(await auth.authenticate(bearer(opaque.secret)), {
      role: 'service_role',
      claims: { role: 'service_role' },
    });
    const user = await userToken(SECRET, { sub: 'user_2o' }, NOW);
    assert.equal((await auth.authenticate(bearer(user, { apikey: opaque.publishable }))).role, 'authenticated');
  });

  test('are derived from the project secret: stable, distinct, and different for another secret', () => {
    const a = opaqueKeys(SECRET);
    assert.deepEqual(opaqueKeys(SECRET), a);
    assert.match(a.publishable, /^sb_publishable_[A-Za-z0-9_-]{32}$/);
    assert.match(a.secret, /^sb_secret_[A-Za-z0-9_-]{32}$/);
    assert.notEqual(a.publishable.slice(15), a.secret.slice(10));
    assert.notDeepEqual(opaqueKeys(`${SECRET}-other`), a);
  });

  test("another project's keys, altered keys and bare prefixes are refused", async () => {
    const mine = opaqueKeys(SECRET);
    const theirs = opaqueKeys('some-other-project-secret-some-other-project');
    const altered = `${mine.secret.slice(0, -1)}${mine.secret.endsWith('A') ? 'B' : 'A'}`;
    for (const key of [theirs.publishable, theirs.secret, altered, 'sb_secret_', `${mine.publishable}x`]) {
      await refused(auth.authenticate({ apikey: key }), { status: 401, code: 'PGRST301', message: 'Invalid API key' });
      await refused(auth.authenticate(bearer(key)), { status: 401, code: 'PGRST301', message: 'Invalid API key' });
    }
  });
});
