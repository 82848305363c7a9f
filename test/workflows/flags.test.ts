import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import {
  createListing,
  createTenant,
  createUser,
  defaultTenantId,
  grantPermission,
  type UserFixture,
} from '../helpers/fixtures.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';

/*
 * Feature flags end to end: evaluate_feature_flag and my_feature_flags over REST with
 * supabase-js and real tokens; the rollout bucket against a TypeScript reference (the one
 * docs/workflows.md gives clients); rollout and variant shares over 100,000 generated ids in
 * SQL; targeting, overrides and expiry, anonymous callers, who may write flags, and bad input.
 */

// ---- The reference implementation clients copy (docs/workflows.md, "Feature flags") ----
function bucket(input: string): number {
  return createHash('sha256').update(input, 'utf8').digest().readUInt32BE(0) % 10000;
}
function inRollout(flagKey: string, userId: string, rolloutPercentage: number): boolean {
  return rolloutPercentage === 100 || bucket(`${flagKey}:${userId}`) < rolloutPercentage * 100;
}
function variantOf(flagKey: string, userId: string, variants: { key: string; weight: number }[]): string | undefined {
  const total = variants.reduce((sum, v) => sum + v.weight, 0);
  const point = bucket(`${flagKey}:variant:${userId}`) * total;
  let cumulative = 0;
  for (const v of variants) {
    cumulative += v.weight;
    if (v.weight > 0 && point < 10000 * cumulative) return v.key;
  }
  return undefined;
}
// ------------------------------------------------------------------------------------------

let db: TestDatabase;
let server: TestServer;
let tenant: string;
let customer: UserFixture;
let provider: UserFixture;
let manager: UserFixture;
let asCustomer: SupabaseClient;
let asProvider: SupabaseClient;
let asManager: SupabaseClient;
let anon: SupabaseClient;

const uniq = () => randomUUID().slice(0, 8);

/** A flag in the default tenant, written as the database owner (as service_role would). */
async function flag(fields: {
  key?: string;
  rollout?: number;
  active?: boolean;
  rules?: object;
  variants?: object[];
  type?: string;
  defaultValue?: unknown;
  enabledValue?: unknown;
}): Promise<{ id: string; key: string }> {
  const key = fields.key ?? `t.flag-${uniq()}`;
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.feature_flags (tenant_id, key, flag_type, default_value, enabled_value, variants,
                                      targeting_rules, is_active, rollout_percentage)
    values (${tenant}, ${key}, ${fields.type ?? 'boolean'}, ${JSON.stringify(fields.defaultValue ?? false)},
            ${JSON.stringify(fields.enabledValue ?? true)}, ${JSON.stringify(fields.variants ?? [])},
            ${JSON.stringify(fields.rules ?? {})}, ${fields.active ?? true}, ${fields.rollout ?? 100})
    returning id`);
  return { id: rows[0]?.id as string, key };
}

async function count(query: ReturnType<typeof sql>): Promise<number> {
  const { rows } = await db.query<{ n: number }>(query);
  return Number(rows[0]?.n);
}

before(async () => {
  db = await getTestDatabase();
  tenant = await defaultTenantId(db);
  customer = await createUser(db);
  provider = await createUser(db, { role: 'provider' });
  manager = await createUser(db);
  await grantPermission(db, manager, 'flags.manage');
  server = await startTestServer(db);
  asCustomer = server.client({ token: await server.tokenFor(customer.clerkId) });
  asProvider = server.client({ token: await server.tokenFor(provider.clerkId) });
  asManager = server.client({ token: await server.tokenFor(manager.clerkId) });
  anon = server.client();
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

describe(`feature flags (${testBackend()})`, () => {
  test('the SQL bucket is the documented hash: the TypeScript reference gives the same bucket for 2,000 ids', async () => {
    const { rows } = await db.query<{ id: string; b: number }>(sql`
      select md5(i::text)::uuid::text as id, app.flag_bucket('checkout.theme:' || md5(i::text)::uuid) as b
      from generate_series(1, 2000) i`);
    assert.equal(rows.length, 2000);
    for (const row of rows) assert.equal(row.b, bucket(`checkout.theme:${row.id}`), row.id);
  });

  test('a 25 % rollout over 100,000 users lands within 1 point of 25 %, and each tenth of the buckets is as full', async () => {
    const { rows } = await db.query<{ share: number; min_decile: number; max_decile: number }>(sql`
      with b as (select app.flag_bucket('rollout.check:' || md5(i::text)::uuid) as b from generate_series(1, 100000) i),
           d as (select b / 1000 as decile, count(*) as n from b group by 1)
      select (select count(*) filter (where b < 2500) from b)::float8 / 1000 as share,
             (select min(n) from d)::int as min_decile, (select max(n) from d)::int as max_decile`);
    const { share, min_decile, max_decile } = rows[0] as { share: number; min_decile: number; max_decile: number };
    assert.ok(Math.abs(share - 25) < 1, `${share} %`);
    assert.ok(min_decile > 9600 && max_decile < 10400, `deciles ${min_decile}..${max_decile}`);
  });

  test('variant weights hold over 20,000 users (within 1 point each) and match the reference', async () => {
    const variants = [
      { key: 'control', weight: 50 },
      { key: 'bold', weight: 30 },
      { key: 'calm', weight: 20 },
    ];
    const f = await flag({ type: 'string', defaultValue: 'classic', enabledValue: 'classic', variants });
    const { rows } = await db.query<{ variant: string; n: number }>(sql`
      select app.evaluate_flag(f, jsonb_build_object('user_id', md5(i::text)::uuid, 'role', 'customer')) ->> 'variant' as variant,
             count(*)::int as n
      from public.feature_flags f cross join generate_series(1, 20000) i
      where f.id = ${f.id} group by 1 order by 1`);
    const shares = Object.fromEntries(rows.map((r) => [r.variant, r.n / 200]));
    assert.deepEqual(Object.keys(shares).sort(), ['bold', 'calm', 'control']);
    for (const v of variants) assert.ok(Math.abs((shares[v.key] ?? 0) - v.weight) < 1, `${v.key}: ${shares[v.key]} %`);
    const sample = await db.query<{ id: string; variant: string }>(sql`
      select md5(i::text)::uuid::text as id,
             app.evaluate_flag(f, jsonb_build_object('user_id', md5(i::text)::uuid)) ->> 'variant' as variant
      from public.feature_flags f cross join generate_series(1, 500) i where f.id = ${f.id}`);
    for (const row of sample.rows) assert.equal(row.variant, variantOf(f.key, row.id, variants));
  });

  test('a user gets the same answer on every call, from both functions, as the reference predicts', async () => {
    const f = await flag({
      rollout: 50,
      variants: [
        { key: 'a', weight: 1 },
        { key: 'b', weight: 1 },
      ],
      type: 'string',
      defaultValue: 'off',
      enabledValue: 'on',
    });
    const users = [customer, provider, manager];
    for (const [user, client] of [
      [customer, asCustomer],
      [provider, asProvider],
      [manager, asManager],
    ] as const) {
      const first = await client.rpc('evaluate_feature_flag', { flag_key: f.key });
      const second = await client.rpc('evaluate_feature_flag', { flag_key: f.key });
      assert.equal(first.error, null);
      assert.deepEqual(second.data, first.data);
      const enabled = inRollout(f.key, user.id, 50);
      assert.equal(first.data.enabled, enabled, user.id);
      assert.equal(first.data.reason, 'rollout');
      assert.equal(
        first.data.variant,
        enabled
          ? variantOf(f.key, user.id, [
              { key: 'a', weight: 1 },
              { key: 'b', weight: 1 },
            ])
          : null,
      );
      assert.equal(first.data.value, enabled ? first.data.variant : 'off');
      const all = await client.rpc('my_feature_flags');
      assert.equal(all.error, null);
      assert.deepEqual(all.data[f.key], {
        enabled: first.data.enabled,
        variant: first.data.variant,
        value: first.data.value,
      });
    }
    assert.equal(users.length, 3);
  });

  test('my_feature_flags returns every flag of the tenant and the shared ones, a tenant flag shadowing a shared key', async () => {
    const shared = `t.shared-${uniq()}`;
    await db.query(
      sql`insert into public.feature_flags (tenant_id, key, is_active, rollout_percentage) values (null, ${shared}, true, 100)`,
    );
    await flag({ key: shared, active: false });
    const { data, error } = await asCustomer.rpc('my_feature_flags');
    assert.equal(error, null);
    assert.deepEqual(data[shared], { enabled: false, variant: null, value: false });
    for (const seeded of ['instant-booking', 'checkout.theme', 'search.typo-tolerant', 'provider-payouts-v2'])
      assert.ok(seeded in data);
    const other = await createTenant(db);
    const outsider = await createUser(db, { tenantId: other });
    const theirs = await server.client({ token: await server.tokenFor(outsider.clerkId) }).rpc('my_feature_flags');
    assert.deepEqual(theirs.data[shared], { enabled: true, variant: null, value: true });
  });

  test('targeting: role, region, subscription tier, verification status and category each decide', async () => {
    const evaluate = async (client: SupabaseClient, key: string) => {
      const { data, error } = await client.rpc('evaluate_feature_flag', { flag_key: key });
      assert.equal(error, null);
      return `${data.enabled}/${data.reason}`;
    };
    const providers = await flag({ rules: { roles: ['provider'] } });
    assert.equal(await evaluate(asProvider, providers.key), 'true/rollout');
    assert.equal(await evaluate(asCustomer, providers.key), 'false/not_targeted');

    const eu = await flag({ rules: { regions: ['EU'] } });
    assert.equal(await evaluate(asCustomer, eu.key), 'false/not_targeted'); // the default tenant is in US
    await db.query(sql`update public.user_profiles set city_id = (select c.id from public.cities c join public.regions r on r.id = c.region_id
                       where r.code = 'EU' limit 1) where user_id = ${customer.id}`);
    assert.equal(await evaluate(asCustomer, eu.key), 'true/rollout');
    const us = await flag({ rules: { regions: ['US'] } });
    assert.equal(await evaluate(asProvider, us.key), 'true/rollout'); // no city: the tenant's region

    const pro = await flag({ rules: { subscription_tiers: ['professional', 'enterprise'] } });
    const free = await flag({ rules: { subscription_tiers: ['free'] } });
    assert.equal(await evaluate(asProvider, pro.key), 'false/not_targeted');
    assert.equal(await evaluate(asProvider, free.key), 'true/rollout');
    await db.query(
      sql`insert into public.subscriptions (user_id, tier, status) values (${provider.id}, 'professional', 'active')`,
    );
    assert.equal(await evaluate(asProvider, pro.key), 'true/rollout');
    assert.equal(await evaluate(asProvider, free.key), 'false/not_targeted');

    const verified = await flag({ rules: { verification_statuses: ['verified'] } });
    assert.equal(await evaluate(asManager, verified.key), 'false/not_targeted');
    await db.query(sql`update public.users set verification_status = 'verified' where id = ${manager.id}`);
    assert.equal(await evaluate(asManager, verified.key), 'true/rollout');

    // A parent category matches a listing in its subtree (plumbing is under home-services).
    const home = await flag({ rules: { categories: ['home-services'] } });
    assert.equal(await evaluate(asProvider, home.key), 'false/not_targeted');
    await createListing(db, provider);
    assert.equal(await evaluate(asProvider, home.key), 'true/rollout');

    // Every key must match: a provider outside EU is not in {roles: provider, regions: EU}.
    const both = await flag({ rules: { roles: ['provider'], regions: ['EU'] } });
    assert.equal(await evaluate(asProvider, both.key), 'false/not_targeted');
  });

  test('anonymous callers: in a flag only at 100 % (first variant), or when targeted as guest', async () => {
    const half = await flag({ rollout: 50 });
    const full = await flag({
      rollout: 100,
      type: 'string',
      defaultValue: 'x',
      enabledValue: 'y',
      variants: [
        { key: 'zero', weight: 0 },
        { key: 'first', weight: 1, value: 'F' },
        { key: 'second', weight: 5 },
      ],
    });
    const guests = await flag({ rules: { roles: ['guest'] } });
    const members = await flag({ rules: { roles: ['customer', 'provider'] } });
    const r = async (key: string) => (await anon.rpc('evaluate_feature_flag', { flag_key: key })).data;
    assert.deepEqual(await r(half.key), {
      key: half.key,
      enabled: false,
      variant: null,
      value: false,
      reason: 'rollout',
    });
    assert.deepEqual(await r(full.key), {
      key: full.key,
      enabled: true,
      variant: 'first',
      value: 'F',
      reason: 'rollout',
    });
    assert.equal((await r(guests.key)).enabled, true);
    assert.equal((await r(members.key)).reason, 'not_targeted');
    const all = await anon.rpc('my_feature_flags');
    assert.deepEqual(all.data[full.key], { enabled: true, variant: 'first', value: 'F' });
  });

  test('an inactive flag gives its default to everyone but overridden users', async () => {
    const f = await flag({ active: false, rollout: 100 });
    const { data } = await asCustomer.rpc('evaluate_feature_flag', { flag_key: f.key });
    assert.deepEqual(data, { key: f.key, enabled: false, variant: null, value: false, reason: 'inactive' });
  });

  test('overrides force a user in, out or onto a variant; an expired override is ignored', async () => {
    const variants = [
      { key: 'a', weight: 1 },
      { key: 'b', weight: 0, value: { color: 'blue' } },
    ];
    const off = await flag({ rollout: 0, variants, type: 'json', enabledValue: {} });
    const on = await flag({ rollout: 100 });
    const set = (f: { id: string }, user: UserFixture, value: unknown, expiresAt: string | null = null) =>
      asManager
        .from('user_feature_flags')
        .insert({ user_id: user.id, flag_id: f.id, value, expires_at: expiresAt, reason: 'beta' });
    const r = async (client: SupabaseClient, key: string) =>
      (await client.rpc('evaluate_feature_flag', { flag_key: key })).data;

    assert.equal((await r(asCustomer, off.key)).enabled, false);
    assert.equal((await set(off, customer, { variant: 'b' })).error, null);
    assert.deepEqual(await r(asCustomer, off.key), {
      key: off.key,
      enabled: true,
      variant: 'b',
      value: { color: 'blue' },
      reason: 'override',
    });
    assert.equal((await set(off, provider, true)).error, null);
    assert.deepEqual(await r(asProvider, off.key), {
      key: off.key,
      enabled: true,
      variant: 'a',
      value: 'a',
      reason: 'override',
    });
    assert.equal((await set(on, customer, false, new Date(Date.now() + 86_400_000).toISOString())).error, null);
    assert.deepEqual(await r(asCustomer, on.key), {
      key: on.key,
      enabled: false,
      variant: null,
      value: false,
      reason: 'override',
    });

    // The override's user sees it; set_by is the manager, whatever the client sends.
    const mine = await asCustomer.from('user_feature_flags').select('value, set_by').eq('flag_id', on.id);
    assert.deepEqual(mine.data, [{ value: false, set_by: manager.id }]);

    // Expired (recorded by a trusted import): the rollout decides again.
    await db.query(sql`update public.user_feature_flags set expires_at = now() - interval '1 minute'
                       where flag_id = ${on.id} and user_id = ${customer.id}`);
    assert.deepEqual(await r(asCustomer, on.key), {
      key: on.key,
      enabled: true,
      variant: null,
      value: true,
      reason: 'rollout',
    });
  });

  test('only flag managers write flags and overrides, and only in their own tenant', async () => {
    const key = `t.written-${uniq()}`;
    const denied = await asCustomer
      .from('feature_flags')
      .insert({ tenant_id: tenant, key, is_active: true, rollout_percentage: 100 });
    assert.equal(denied.status, 403);
    assert.equal(denied.error?.code, '42501');
    assert.equal(await count(sql`select count(*) as n from public.feature_flags where key = ${key}`), 0);

    const created = await asManager
      .from('feature_flags')
      .insert({
        tenant_id: tenant,
        key,
        is_active: true,
        rollout_percentage: 10,
        targeting_rules: { roles: ['customer'] },
      })
      .select('key, rollout_percentage')
      .single();
    assert.equal(created.error, null);
    assert.deepEqual(created.data, { key, rollout_percentage: 10 });
    const raised = await asManager
      .from('feature_flags')
      .update({ rollout_percentage: 100 })
      .eq('key', key)
      .select('rollout_percentage');
    assert.deepEqual(raised.data, [{ rollout_percentage: 100 }]);
    assert.equal((await asCustomer.rpc('evaluate_feature_flag', { flag_key: key })).data.enabled, true);

    // Customers change nothing; managers cannot touch shared flags (service_role owns them).
    const tampered = await asCustomer.from('feature_flags').update({ rollout_percentage: 0 }).eq('key', key).select();
    assert.deepEqual(tampered.data, []);
    const sharedEdit = await asManager
      .from('feature_flags')
      .update({ rollout_percentage: 100 })
      .eq('key', 'instant-booking')
      .select();
    assert.deepEqual(sharedEdit.data, []);
    assert.equal(
      await count(
        sql`select rollout_percentage as n from public.feature_flags where key = 'instant-booking' and tenant_id is null`,
      ),
      0,
    );

    // Overrides: not for oneself without the permission, not for another tenant's user.
    const f = await flag({ rollout: 0 });
    const self = await asCustomer
      .from('user_feature_flags')
      .insert({ user_id: customer.id, flag_id: f.id, value: true });
    assert.equal(self.status, 403);
    const outsider = await createUser(db, { tenantId: await createTenant(db) });
    const foreign = await asManager
      .from('user_feature_flags')
      .insert({ user_id: outsider.id, flag_id: f.id, value: true });
    assert.ok(foreign.status === 403 || foreign.status === 409, `${foreign.status}`);
    assert.equal(await count(sql`select count(*) as n from public.user_feature_flags where flag_id = ${f.id}`), 0);
  });

  test('bad input is a clear 4xx and writes nothing', async () => {
    const bad = await asCustomer.rpc('evaluate_feature_flag', { flag_key: 'Not A Key' });
    assert.equal(bad.status, 400);
    assert.match(bad.error?.message ?? '', /is not a flag key/);
    const missing = await asCustomer.rpc('evaluate_feature_flag', { flag_key: 'no.such-flag' });
    assert.equal(missing.status, 404);
    assert.match(missing.error?.message ?? '', /feature flag "no.such-flag" does not exist/);
    assert.match(missing.error?.hint ?? '', /my_feature_flags/);

    const before = await count(sql`select count(*) as n from public.feature_flags`);
    const cases: [object, RegExp][] = [
      [{ targeting_rules: { countries: ['US'] } }, /unknown key "countries"/],
      [
        { targeting_rules: { roles: ['wizard'] } },
        /targeting_rules.roles has a value that is not one of guest, customer/,
      ],
      [{ targeting_rules: { regions: [] } }, /targeting_rules.regions must be a non-empty array of strings/],
      [{ variants: [{ key: 'A B', weight: 1 }] }, /variant .* is not/],
      [{ variants: [{ key: 'a', weight: 1.5 }] }, /variant .* is not/],
      [
        {
          variants: [
            { key: 'a', weight: 1 },
            { key: 'a', weight: 2 },
          ],
        },
        /variant key "a" appears twice/,
      ],
      [{ variants: [{ key: 'a', weight: 0 }] }, /weights add up to 0/],
      [{ rollout_percentage: 101 }, /check constraint|rollout_percentage|100/],
    ];
    for (const [fields, message] of cases) {
      const { status, error } = await asManager
        .from('feature_flags')
        .insert({ tenant_id: tenant, key: `t.bad-${uniq()}`, ...fields });
      assert.equal(status, 400, JSON.stringify(fields));
      assert.match(error?.message ?? '', message);
    }
    assert.equal(await count(sql`select count(*) as n from public.feature_flags`), before);

    const f = await flag({ variants: [{ key: 'a', weight: 1 }] });
    const overrides: [object, RegExp][] = [
      [{ value: 'yes' }, /true, false or \{"variant": "<key>"\}/],
      [{ value: { variant: 'zzz' } }, /the flag has no variant "zzz"/],
      [{ value: true, expires_at: '2001-01-01T00:00:00Z' }, /expires_at is in the past/],
    ];
    for (const [fields, message] of overrides) {
      const { status, error } = await asManager
        .from('user_feature_flags')
        .insert({ user_id: customer.id, flag_id: f.id, ...fields });
      assert.equal(status, 400, JSON.stringify(fields));
      assert.match(error?.message ?? '', message);
    }
    assert.equal(await count(sql`select count(*) as n from public.user_feature_flags where flag_id = ${f.id}`), 0);
  });
});
