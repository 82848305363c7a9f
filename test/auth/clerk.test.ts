import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { createAuthenticator } from '../../src/auth/authenticate.js';
import type { Authenticator } from '../../src/auth/caller.js';
import type { ClerkOptions } from '../../src/auth/clerk.js';
import { projectKeys } from '../../src/auth/keys.js';
import { LoconomyError } from '../../src/errors.js';
import { freePort, getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';
import { bearer, refused, SECRET } from './support.js';

/*
 * Clerk session tokens (RS256) against a local JWKS endpoint standing in for Clerk's: real RSA
 * keys generated here, real signatures, key rotation, Clerk down, and the PEM alternative.
 */

const NOW = 1_900_000_000;

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
  readonly pem: string;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return {
    kid,
    privateKey,
    jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
    pem: await exportSPKI(publicKey),
  };
}

/** A token as Clerk issues one: sub is the user id, short-lived, with azp and sid. */
function clerkToken(key: SigningKey, claims: Record<string, unknown> = {}, kid: string | null = key.kid) {
  return new SignJWT({
    sub: 'user_2clerk',
    sid: 'sess_2abc',
    azp: 'http://localhost:3000',
    iss: 'https://clerk.example.test',
    iat: NOW - 10,
    nbf: NOW - 10,
    exp: NOW + 50,
    ...claims,
  })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(kid === null ? {} : { kid }) })
    .sign(key.privateKey);
}

/** The stand-in for Clerk's /.well-known/jwks.json: serves `keys`, counts fetches, can fail. */
class JwksServer {
  keys: JWK[] = [];
  fetches = 0;
  status = 200;
  #server: Server = createServer((_req, res) => {
    this.fetches += 1;
    res.writeHead(this.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(this.status === 200 ? { keys: this.keys } : { error: 'down' }));
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

let db: TestDatabase;
let jwks: JwksServer;
let jwksUrl: string;
let first: SigningKey;
let second: SigningKey;

before(async () => {
  db = await getTestDatabase();
  [first, second] = await Promise.all([signingKey('ins_key_1'), signingKey('ins_key_2')]);
  jwks = new JwksServer();
  jwksUrl = await jwks.start();
});
after(async () => {
  await jwks?.close();
  await db?.dispose();
});

function authenticator(clerk: ClerkOptions, now = NOW): Authenticator {
  return createAuthenticator({
    db,
    jwtSecret: SECRET,
    anonRole: 'anon',
    clerk,
    log: testLogger(),
    now: () => now * 1000,
  });
}

describe(`authentication: Clerk session tokens (${testBackend()})`, () => {
  test('a token verified with the JWKS is authenticated, with its claims and sub passed on', async () => {
    jwks.keys = [first.jwk];
    const caller = await authenticator({ jwksUrl }).authenticate(bearer(await clerkToken(first)));
    assert.equal(caller.role, 'authenticated');
    assert.equal(caller.claims.sub, 'user_2clerk');
    assert.equal(caller.claims.sid, 'sess_2abc');
    assert.equal(caller.claims.role, 'authenticated');
  });

  test('the role is authenticated whatever the token claims', async () => {
    jwks.keys = [first.jwk];
    const auth = authenticator({ jwksUrl });
    for (const role of ['service_role', 'postgres', 'anon']) {
      const caller = await auth.authenticate(bearer(await clerkToken(first, { role })));
      assert.equal(caller.role, 'authenticated');
      assert.equal(caller.claims.role, 'authenticated');
    }
  });

  test('the JWKS is fetched once and cached', async () => {
    jwks.keys = [first.jwk];
    const auth = authenticator({ jwksUrl });
    const before = jwks.fetches;
    for (let i = 0; i < 3; i++) await auth.authenticate(bearer(await clerkToken(first)));
    assert.equal(jwks.fetches - before, 1);
  });

  test('after Clerk rotates its keys, a token with the new kid verifies (the JWKS is fetched again)', async () => {
    jwks.keys = [first.jwk];
    const auth = authenticator({ jwksUrl, jwksCooldownMs: 0 });
    await auth.authenticate(bearer(await clerkToken(first)));
    const before = jwks.fetches;
    jwks.keys = [second.jwk]; // rotation: the old key is gone
    const caller = await auth.authenticate(bearer(await clerkToken(second)));
    assert.equal(caller.claims.sub, 'user_2clerk');
    assert.equal(jwks.fetches - before, 1, 'one refetch for the unknown kid');
    await refused(auth.authenticate(bearer(await clerkToken(first))), {
      status: 401,
      code: 'PGRST301',
      message: 'No suitable key or wrong key type',
    });
  });

  test('a token verified with JWKS keys is verified again on every request, so a withdrawn key fails at once', async () => {
    jwks.keys = [first.jwk];
    const auth = authenticator({ jwksUrl });
    const token = await clerkToken(first);
    assert.notEqual(await auth.authenticate(bearer(token)), await auth.authenticate(bearer(token)));
  });

  test('with CLERK_JWT_KEY (a fixed key) a verified token is reused until its exp', async () => {
    const clock = { s: NOW };
    const auth = createAuthenticator({
      db,
      jwtSecret: SECRET,
      anonRole: 'anon',
      clerk: { jwtKey: first.pem },
      log: testLogger(),
      now: () => clock.s * 1000,
    });
    const token = await clerkToken(first); // exp NOW + 50, 5 s of skew
    const caller = await auth.authenticate(bearer(token));
    clock.s = NOW + 55;
    assert.equal(await auth.authenticate(bearer(token)), caller);
    clock.s = NOW + 56;
    await refused(auth.authenticate(bearer(token)), { status: 401, code: 'PGRST303', message: 'JWT expired' });
  });

  test('unknown kids do not refetch the JWKS more than once per cool-down', async () => {
    jwks.keys = [first.jwk];
    const auth = authenticator({ jwksUrl }); // default cool-down: 30 s
    await auth.authenticate(bearer(await clerkToken(first)));
    const before = jwks.fetches;
    for (let i = 0; i < 3; i++) {
      await refused(auth.authenticate(bearer(await clerkToken(second, {}, `made_up_${i}`))), {
        status: 401,
        code: 'PGRST301',
        message: 'No suitable key or wrong key type',
      });
    }
    assert.equal(jwks.fetches - before, 0);
  });

  test('a token signed by a key Clerk does not publish is refused', async () => {
    jwks.keys = [first.jwk];
    const impostor = { ...second, kid: first.kid }; // claims Clerk's kid, signed with another key
    await refused(authenticator({ jwksUrl }).authenticate(bearer(await clerkToken(impostor))), {
      status: 401,
      code: 'PGRST301',
      message: 'JWT cryptographic operation failed',
    });
  });

  test('expiry and not-before allow 5 seconds of clock skew, not 30', async () => {
    jwks.keys = [first.jwk];
    const token = await clerkToken(first, { exp: NOW, nbf: NOW - 60, iat: NOW - 60 });
    assert.equal((await authenticator({ jwksUrl }, NOW + 5).authenticate(bearer(token))).role, 'authenticated');
    await refused(authenticator({ jwksUrl }, NOW + 6).authenticate(bearer(token)), {
      status: 401,
      code: 'PGRST303',
      message: 'JWT expired',
    });
    const early = await clerkToken(first, { nbf: NOW + 6, iat: NOW });
    await refused(authenticator({ jwksUrl }).authenticate(bearer(early)), {
      status: 401,
      code: 'PGRST303',
      message: 'JWT not yet valid',
    });
  });

  test('a Clerk token without exp or sub is refused', async () => {
    jwks.keys = [first.jwk];
    const auth = authenticator({ jwksUrl });
    await refused(auth.authenticate(bearer(await clerkToken(first, { exp: undefined }))), {
      status: 401,
      code: 'PGRST303',
      message: "The JWT 'exp' claim must be a number",
    });
    await refused(auth.authenticate(bearer(await clerkToken(first, { sub: undefined }))), {
      status: 401,
      code: 'PGRST303',
      message: "The JWT 'sub' claim must be a string",
    });
  });

  test('an HS256 token signed with the Clerk public key as HMAC secret is refused (algorithm confusion)', async () => {
    jwks.keys = [first.jwk];
    for (const clerk of [{ jwksUrl }, { jwtKey: first.pem }]) {
      const forged = await new SignJWT({ sub: 'user_2clerk', role: 'service_role', exp: NOW + 60 })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: first.kid })
        .sign(new TextEncoder().encode(first.pem));
      await refused(authenticator(clerk).authenticate(bearer(forged)), {
        status: 401,
        code: 'PGRST301',
        message: 'JWT cryptographic operation failed',
      });
    }
  });

  test('Clerk unreachable is 503 LOCO_AUTH_UNAVAILABLE, not 401', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/.well-known/jwks.json`;
    await refused(authenticator({ jwksUrl: closed }).authenticate(bearer(await clerkToken(first))), {
      status: 503,
      code: 'LOCO_AUTH_UNAVAILABLE',
    });
    jwks.status = 500;
    try {
      await refused(authenticator({ jwksUrl }).authenticate(bearer(await clerkToken(first))), {
        status: 503,
        code: 'LOCO_AUTH_UNAVAILABLE',
      });
    } finally {
      jwks.status = 200;
    }
  });

  test('when a refetch fails, the keys fetched before still verify; a kid they lack is 503', async () => {
    jwks.keys = [first.jwk];
    const auth = authenticator({ jwksUrl, jwksMaxAgeMs: 0, jwksCooldownMs: 0 }); // refetch on every use
    await auth.authenticate(bearer(await clerkToken(first)));
    jwks.status = 500;
    try {
      const before = jwks.fetches;
      assert.equal((await auth.authenticate(bearer(await clerkToken(first)))).role, 'authenticated');
      assert.ok(jwks.fetches > before, 'it did try to refetch');
      await refused(auth.authenticate(bearer(await clerkToken(second))), {
        status: 503,
        code: 'LOCO_AUTH_UNAVAILABLE',
      });
    } finally {
      jwks.status = 200;
    }
  });

  test('project tokens still verify with the project secret while Clerk is down', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/.well-known/jwks.json`;
    const keys = await projectKeys(SECRET, NOW);
    assert.equal((await authenticator({ jwksUrl: closed }).authenticate({ apikey: keys.anon })).role, 'anon');
  });
});

describe(`authentication: Clerk with a PEM public key (${testBackend()})`, () => {
  test('verifies without fetching anything', async () => {
    const before = jwks.fetches;
    const caller = await authenticator({ jwtKey: first.pem, jwksUrl }).authenticate(bearer(await clerkToken(first)));
    assert.equal(caller.claims.sub, 'user_2clerk');
    assert.equal(jwks.fetches, before, 'the PEM wins over the JWKS');
  });

  test('accepts the PEM on one line with literal \\n, as environment files hold it', async () => {
    const oneLine = first.pem.trim().replaceAll('\n', '\\n');
    const caller = await authenticator({ jwtKey: oneLine }).authenticate(bearer(await clerkToken(first, {}, null)));
    assert.equal(caller.role, 'authenticated');
  });

  test('refuses tokens signed by another key', async () => {
    await refused(authenticator({ jwtKey: first.pem }).authenticate(bearer(await clerkToken(second))), {
      status: 401,
      code: 'PGRST301',
      message: 'JWT cryptographic operation failed',
    });
  });

  test('a CLERK_JWT_KEY that is not an RSA public key fails at start-up', async () => {
    const configError = (error: unknown) => error instanceof LoconomyError && error.code === 'LOCO_CONFIG_INVALID';
    assert.throws(() => authenticator({ jwtKey: 'not a pem' }), configError);
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const ec = await exportSPKI(publicKey);
    assert.throws(
      () => authenticator({ jwtKey: ec }),
      (error: unknown) => configError(error) && /RSA/.test(String(error)),
    );
  });
});
