/**
 * What just-in-time Clerk accounts (src/integrations/clerk/accounts.ts) cost a request
 * (decision 0021). Three figures, on a private copy of the migrated database (PGlite, or
 * PostgreSQL with LOCONOMY_TEST_DATABASE_URL):
 *
 *   1. authenticate() of a Clerk session token whose sub has an account, verification not
 *      reused (as with CLERK_JWKS_URL), without and with the just-in-time hook: the hook's
 *      share of a request is a Set lookup;
 *   2. the hook alone for a known sub, in ns per call;
 *   3. the first request of a new sub: one app.clerk_ensure_user() statement, against the raw
 *      SQL lookup of users by clerk_id on the same connection (the ratio).
 *
 * Settings: LOCONOMY_BENCH_REQUESTS (authentications per run, 5000), LOCONOMY_BENCH_NEW_SUBS (300).
 */
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { createAuthenticator } from '../src/auth/authenticate.js';
import { sql } from '../src/db/sql.js';
import { clerkAccounts } from '../src/integrations/clerk/accounts.js';
import { getTestDatabase, testBackend, testLogger } from '../test/helpers/index.js';

const REQUESTS = Number(process.env.LOCONOMY_BENCH_REQUESTS ?? 5000);
const NEW_SUBS = Number(process.env.LOCONOMY_BENCH_NEW_SUBS ?? 300);
const log = testLogger();
const db = await getTestDatabase();
try {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const pem = await exportSPKI(publicKey);
  const token = (sub: string) =>
    new SignJWT({ sid: 'sess_bench' })
      .setProtectedHeader({ alg: 'RS256' })
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
  const accounts = clerkAccounts(db, [], log);
  const options = {
    db,
    jwtSecret: 'x'.repeat(40),
    anonRole: 'anon',
    clerk: { jwtKey: pem },
    log,
    tokenCache: { maxLifetimeMs: 0 },
  };
  const plain = createAuthenticator(options);
  const withHook = createAuthenticator({ ...options, ensureClerkAccount: accounts.ensure });
  const headers = { authorization: `Bearer ${await token('user_bench_known')}` };
  await withHook.authenticate(headers); // creates the account once

  const perCall = async (auth: typeof plain) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < REQUESTS; i++) await auth.authenticate(headers);
    return Number(process.hrtime.bigint() - start) / REQUESTS / 1000;
  };
  const without: number[] = [];
  const withJit: number[] = [];
  for (let round = 0; round < 5; round++) {
    without.push(await perCall(plain));
    withJit.push(await perCall(withHook));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  console.log(`backend ${testBackend()}, ${REQUESTS} authentications × 5 rounds (medians)`);
  console.log(`  1. authenticate, no hook:   ${median(without).toFixed(1)} µs`);
  console.log(
    `     authenticate, with hook: ${median(withJit).toFixed(1)} µs (${(median(withJit) / median(without)).toFixed(3)}×)`,
  );

  const claims = { sub: 'user_bench_known' };
  const loops = 1_000_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < loops; i++) await accounts.ensure(claims);
  console.log(`  2. hook for a known sub:    ${(Number(process.hrtime.bigint() - start) / loops).toFixed(0)} ns`);

  const subs = Array.from({ length: NEW_SUBS }, (_, i) => `user_bench_new_${i}`);
  let t = process.hrtime.bigint();
  for (const sub of subs) await accounts.ensure({ sub });
  const create = Number(process.hrtime.bigint() - t) / NEW_SUBS / 1000;
  t = process.hrtime.bigint();
  for (const sub of subs)
    await db.query(sql`select id from public.users where clerk_id = ${sub} and deleted_at is null`);
  const lookup = Number(process.hrtime.bigint() - t) / NEW_SUBS / 1000;
  console.log(
    `  3. first request of a new sub: ${create.toFixed(0)} µs (creates the account) vs raw lookup ${lookup.toFixed(0)} µs: ${(create / lookup).toFixed(1)}×, once per sub and process`,
  );
} finally {
  await db.dispose();
}
