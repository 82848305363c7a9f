import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Queryable } from '../../../src/db/database.js';
import { type SqlFragment, sql } from '../../../src/db/sql.js';
import { createTenant, createUser, defaultTenantId, type UserFixture } from '../../helpers/fixtures.js';
import { asRole, asUser, getTestDatabase, type TestDatabase, testBackend } from '../../helpers/index.js';

/*
 * 0003 identity: tenants, users, user_profiles, user_addresses and user_sessions as anon, an
 * unrelated user, the owner and an admin; self sign-up; the identity helpers that turn the JWT
 * claims into "the current user" and "the current tenant"; become_provider().
 */

let db: TestDatabase;
let tenant: string; // the default tenant
let other: string; // a second tenant
let alice: UserFixture; // customer, default tenant
let bob: UserFixture; // unrelated customer, default tenant
let paula: UserFixture; // provider, default tenant
let admin: UserFixture; // admin (users.read), default tenant
let boss: UserFixture; // super_admin (tenant.manage), default tenant
let otto: UserFixture; // provider in the other tenant
let otherAdmin: UserFixture; // admin in the other tenant
let suspended: UserFixture;
let banned: UserFixture;
let deleted: UserFixture;
let session: string; // one of alice's sessions

async function rows<T = Record<string, unknown>>(tx: Queryable, query: SqlFragment): Promise<T[]> {
  return (await tx.query<T>(query)).rows;
}

/** Runs as anon with extra claims (a tenant_id claim, say). */
function asAnon<T>(claims: object, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return asRole(db, 'anon', { role: 'anon', ...claims }, fn);
}

before(async () => {
  db = await getTestDatabase();
  tenant = await defaultTenantId(db);
  other = await createTenant(db, 'Other marketplace');
  alice = await createUser(db);
  bob = await createUser(db);
  paula = await createUser(db, { role: 'provider' });
  admin = await createUser(db, { role: 'admin' });
  boss = await createUser(db, { role: 'super_admin' });
  otto = await createUser(db, { role: 'provider', tenantId: other });
  otherAdmin = await createUser(db, { role: 'admin', tenantId: other });
  suspended = await createUser(db, { role: 'provider', status: 'suspended' });
  banned = await createUser(db, { status: 'banned' });
  deleted = await createUser(db, { role: 'provider' });
  await db.query(sql`update public.users set deleted_at = now() where id = ${deleted.id}`);
  const { rows: sessions } = await db.query<{ id: string }>(sql`
    insert into public.user_sessions (user_id, clerk_session_id, session_token_hash, ip_address, expires_at)
    values (${alice.id}, 'sess_alice', ${'a'.repeat(64)}, '203.0.113.7', now() + interval '1 day'),
           (${otto.id}, 'sess_otto', ${'b'.repeat(64)}, '203.0.113.8', now() + interval '1 day')
    returning id`);
  session = (sessions[0] as { id: string }).id;
});
after(() => db?.dispose());

describe(`tenants (${testBackend()})`, () => {
  test('anon sees only the default tenant', async () => {
    const seen = await asUser(db, null, (tx) => rows(tx, sql`select id, is_default from public.tenants`));
    assert.deepEqual(seen, [{ id: tenant, is_default: true }]);
  });

  test('anon with a tenant_id claim sees that tenant instead of the default one', async () => {
    const seen = await asAnon({ tenant_id: other }, (tx) => rows(tx, sql`select id from public.tenants`));
    assert.deepEqual(seen, [{ id: other }]);
  });

  test('a signed-in user sees their own tenant, whatever tenant the token claims', async () => {
    const seen = await asRole(
      db,
      'authenticated',
      { role: 'authenticated', sub: otto.clerkId, tenant_id: tenant },
      (tx) => rows(tx, sql`select id from public.tenants`),
    );
    assert.deepEqual(seen, [{ id: other }]);
  });

  test('nobody on the API can read tenant settings or metadata', async () => {
    for (const clerkId of [null, boss.clerkId]) {
      await assert.rejects(
        asUser(db, clerkId, (tx) => tx.query(sql`select settings from public.tenants`)),
        { code: '42501' },
      );
      await assert.rejects(
        asUser(db, clerkId, (tx) => tx.query(sql`select metadata from public.tenants`)),
        { code: '42501' },
      );
    }
  });

  test('anon and signed-in users cannot create or delete tenants', async () => {
    for (const clerkId of [null, alice.clerkId, boss.clerkId]) {
      await assert.rejects(
        asUser(db, clerkId, (tx) => tx.query(sql`insert into public.tenants (name, slug) values ('Mine', 'mine')`)),
        { code: '42501' },
      );
      await assert.rejects(
        asUser(db, clerkId, (tx) => tx.query(sql`delete from public.tenants where id = ${tenant}`)),
        { code: '42501' },
      );
    }
  });

  test("a tenant manager can change their own tenant's name and fees", async () => {
    const updated = await asUser(db, boss.clerkId, async (tx) => {
      const result = await tx.query(
        sql`update public.tenants set service_fee_bps = 700, name = 'Loconomy NYC' where id = ${tenant}`,
      );
      const after = await rows(tx, sql`select name, service_fee_bps from public.tenants where id = ${tenant}`);
      return { count: result.rowCount, after };
    });
    assert.deepEqual(updated, { count: 1, after: [{ name: 'Loconomy NYC', service_fee_bps: 700 }] });
  });

  test('a tenant manager cannot change another tenant', async () => {
    const count = await asUser(
      db,
      boss.clerkId,
      async (tx) => (await tx.query(sql`update public.tenants set service_fee_bps = 0 where id = ${other}`)).rowCount,
    );
    assert.equal(count, 0);
  });

  test('a tenant manager cannot flip is_default, is_active or the subscription tier', async () => {
    for (const change of [
      sql`update public.tenants set is_default = false where id = ${tenant}`,
      sql`update public.tenants set is_active = false where id = ${tenant}`,
      sql`update public.tenants set subscription_tier = 'enterprise' where id = ${tenant}`,
    ]) {
      await assert.rejects(
        asUser(db, boss.clerkId, (tx) => tx.query(change)),
        { code: '42501' },
      );
    }
  });

  test('an admin without tenant.manage and a customer change no tenant', async () => {
    for (const who of [admin, alice]) {
      const count = await asUser(
        db,
        who.clerkId,
        async (tx) =>
          (await tx.query(sql`update public.tenants set service_fee_bps = 0 where id = ${tenant}`)).rowCount,
      );
      assert.equal(count, 0, who.role);
    }
  });
});

describe(`identity helpers (${testBackend()})`, () => {
  const whoIs = sql`select app.current_user_id() as user_id, app.current_tenant_id() as tenant_id,
                           app.current_user_role()::text as role`;

  test('a signed-in active user is themselves, in their tenant, with their role', async () => {
    const me = await asUser(db, paula.clerkId, (tx) => rows(tx, whoIs));
    assert.deepEqual(me, [{ user_id: paula.id, tenant_id: tenant, role: 'provider' }]);
  });

  test('anon is nobody, a guest, in the default tenant', async () => {
    const me = await asUser(db, null, (tx) => rows(tx, whoIs));
    assert.deepEqual(me, [{ user_id: null, tenant_id: tenant, role: 'guest' }]);
  });

  test("the user's own tenant wins over a tenant_id claim", async () => {
    const me = await asRole(
      db,
      'authenticated',
      { role: 'authenticated', sub: alice.clerkId, tenant_id: other },
      (tx) => rows(tx, whoIs),
    );
    assert.deepEqual(me, [{ user_id: alice.id, tenant_id: tenant, role: 'customer' }]);
  });

  test('a tenant_id claim picks the tenant for anon and for someone without an account yet', async () => {
    assert.deepEqual(await asAnon({ tenant_id: other }, (tx) => rows(tx, whoIs)), [
      { user_id: null, tenant_id: other, role: 'guest' },
    ]);
    const newcomer = await asRole(
      db,
      'authenticated',
      { role: 'authenticated', sub: 'user_newcomer', tenant_id: other },
      (tx) => rows(tx, whoIs),
    );
    assert.deepEqual(newcomer, [{ user_id: null, tenant_id: other, role: 'guest' }]);
  });

  test('a malformed tenant_id claim falls back to the default tenant', async () => {
    const me = await asAnon({ tenant_id: 'not-a-uuid' }, (tx) => rows(tx, whoIs));
    assert.deepEqual(me, [{ user_id: null, tenant_id: tenant, role: 'guest' }]);
  });

  test('a claim naming an unknown or inactive tenant gives no tenant at all, not the default one', async () => {
    const inactive = await createTenant(db, 'Closed marketplace');
    await db.query(sql`update public.tenants set is_active = false where id = ${inactive}`);
    for (const claimed of [inactive, '00000000-0000-4000-8000-000000000000']) {
      const me = await asAnon({ tenant_id: claimed }, (tx) => rows(tx, whoIs));
      assert.deepEqual(me, [{ user_id: null, tenant_id: null, role: 'guest' }]);
      const tenants = await asAnon({ tenant_id: claimed }, (tx) => rows(tx, sql`select id from public.tenants`));
      assert.deepEqual(tenants, []);
    }
  });

  test('suspended, banned and soft-deleted users are treated as anonymous', async () => {
    for (const who of [suspended, banned, deleted]) {
      const me = await asUser(db, who.clerkId, (tx) => rows(tx, whoIs));
      assert.deepEqual(me, [{ user_id: null, tenant_id: tenant, role: 'guest' }], who.clerkId);
      const own = await asUser(db, who.clerkId, (tx) => rows(tx, sql`select id from public.users`));
      assert.deepEqual(own, [], who.clerkId);
      const profile = await asUser(
        db,
        who.clerkId,
        async (tx) =>
          (await tx.query(sql`update public.user_profiles set bio = 'still here' where user_id = ${who.id}`)).rowCount,
      );
      assert.equal(profile, 0, who.clerkId);
    }
  });

  test('a suspended user of another tenant browses the default tenant like anon', async () => {
    const drifter = await createUser(db, { tenantId: other, status: 'suspended' });
    const me = await asUser(db, drifter.clerkId, (tx) => rows(tx, whoIs));
    assert.deepEqual(me, [{ user_id: null, tenant_id: tenant, role: 'guest' }]);
  });

  test('a user waiting for verification or inactive is still themselves', async () => {
    for (const status of ['pending_verification', 'inactive']) {
      const who = await createUser(db, { status });
      const me = await asUser(db, who.clerkId, (tx) => rows(tx, whoIs));
      assert.deepEqual(me, [{ user_id: who.id, tenant_id: tenant, role: 'customer' }], status);
    }
  });
});

describe(`users: sign-up (${testBackend()})`, () => {
  const signUp = (extra = sql``, tenantId?: string) => sql`
    insert into public.users (tenant_id, clerk_id, email, first_name, last_name ${extra})
    values (${tenantId ?? tenant}, 'user_signup', 'new@example.com', 'Nina', 'Newman'`;

  test('a signed-in person creates their own account and gets it back, unverified', async () => {
    const created = await asUser(db, 'user_signup', (tx) =>
      rows(tx, sql`${signUp()}) returning clerk_id, tenant_id, role, status, verification_status, email_verified_at`),
    );
    assert.deepEqual(created, [
      {
        clerk_id: 'user_signup',
        tenant_id: tenant,
        role: 'customer',
        status: 'pending_verification',
        verification_status: 'pending',
        email_verified_at: null,
      },
    ]);
  });

  test('after signing up, the new account is the current user', async () => {
    const me = await asUser(db, 'user_signup', async (tx) => {
      await tx.query(sql`${signUp()})`);
      return rows(tx, sql`select u.email, app.current_user_id() = u.id as is_me from public.users u`);
    });
    assert.deepEqual(me, [{ email: 'new@example.com', is_me: true }]);
  });

  test('a new account may be a provider', async () => {
    const created = await asUser(db, 'user_signup', async (tx) => {
      await tx.query(sql`${signUp(sql`, role`)}, 'provider')`);
      return rows(
        tx,
        sql`select u.role, p.is_public from public.users u join public.user_profiles p on p.user_id = u.id`,
      );
    });
    assert.deepEqual(created, [{ role: 'provider', is_public: true }]);
  });

  test('nobody signs up as admin, super_admin or guest', async () => {
    for (const role of ['admin', 'super_admin', 'guest']) {
      await assert.rejects(
        asUser(db, 'user_signup', (tx) => tx.query(sql`${signUp(sql`, role`)}, ${role}::public.user_role)`)),
        { code: '42501', message: 'a new account can only be a customer or a provider' },
        role,
      );
    }
  });

  test('a sign-up cannot set its own status, verification, counters or deletion', async () => {
    for (const column of [
      sql`, status) values (${tenant}, 'user_signup', 'new@example.com', 'N', 'N', 'active')`,
      sql`, verification_status) values (${tenant}, 'user_signup', 'new@example.com', 'N', 'N', 'verified')`,
      sql`, email_verified_at) values (${tenant}, 'user_signup', 'new@example.com', 'N', 'N', now())`,
      sql`, login_count) values (${tenant}, 'user_signup', 'new@example.com', 'N', 'N', 99)`,
      sql`, deleted_at) values (${tenant}, 'user_signup', 'new@example.com', 'N', 'N', now())`,
      sql`, stripe_customer_id) values (${tenant}, 'user_signup', 'new@example.com', 'N', 'N', 'cus_x')`,
    ]) {
      await assert.rejects(
        asUser(db, 'user_signup', (tx) =>
          tx.query(sql`insert into public.users (tenant_id, clerk_id, email, first_name, last_name ${column}`),
        ),
        { code: '42501' },
      );
    }
  });

  test('a sign-up into another tenant than the current one is refused', async () => {
    await assert.rejects(
      asUser(db, 'user_signup', (tx) => tx.query(sql`${signUp(sql``, other)})`)),
      { code: '42501', message: /row-level security/ },
    );
  });

  test('a sign-up into the tenant the token claims is accepted', async () => {
    const created = await asRole(
      db,
      'authenticated',
      { role: 'authenticated', sub: 'user_signup', tenant_id: other },
      async (tx) => {
        await tx.query(sql`${signUp(sql``, other)})`);
        return rows(tx, sql`select tenant_id from public.users`);
      },
    );
    assert.deepEqual(created, [{ tenant_id: other }]);
  });

  test("nobody signs up with someone else's Clerk id", async () => {
    await assert.rejects(
      asUser(db, 'user_signup', (tx) =>
        tx.query(
          sql`insert into public.users (tenant_id, clerk_id, email) values (${tenant}, 'user_victim', 'v@example.com')`,
        ),
      ),
      { code: '42501', message: /row-level security/ },
    );
  });

  test('anon cannot create an account', async () => {
    await assert.rejects(
      asUser(db, null, (tx) =>
        tx.query(
          sql`insert into public.users (tenant_id, clerk_id, email) values (${tenant}, 'user_anon', 'a@example.com')`,
        ),
      ),
      { code: '42501' },
    );
  });

  test('an existing user cannot sign up a second account', async () => {
    await assert.rejects(
      asUser(db, alice.clerkId, (tx) =>
        tx.query(
          sql`insert into public.users (tenant_id, clerk_id, email) values (${tenant}, ${alice.clerkId}, 'second@example.com')`,
        ),
      ),
      { code: '23505' },
    );
  });
});

describe(`users: reading and changing accounts (${testBackend()})`, () => {
  test("a user reads their own account and no one else's", async () => {
    const seen = await asUser(db, alice.clerkId, (tx) => rows(tx, sql`select id from public.users`));
    assert.deepEqual(seen, [{ id: alice.id }]);
  });

  test('anon cannot read accounts at all', async () => {
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`select id from public.users`)),
      { code: '42501' },
    );
  });

  test('nobody on the API reads Stripe ids of accounts', async () => {
    for (const column of [sql`stripe_customer_id`, sql`stripe_connect_account_id`]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) => tx.query(sql`select ${column} from public.users`)),
        { code: '42501' },
      );
    }
  });

  test('a user manager reads every account of their tenant and none of another tenant', async () => {
    const seen = await asUser(db, admin.clerkId, (tx) =>
      rows<{ id: string }>(tx, sql`select id from public.users where id in (${alice.id}, ${suspended.id}, ${otto.id})`),
    );
    assert.deepEqual(seen.map((r) => r.id).sort(), [alice.id, suspended.id].sort());
    const mine = await asUser(db, otherAdmin.clerkId, (tx) =>
      rows(tx, sql`select id from public.users where id = ${alice.id}`),
    );
    assert.deepEqual(mine, []);
  });

  test('a user updates their own name, time zone, locale and preferences', async () => {
    const changed = await asUser(db, alice.clerkId, async (tx) => {
      const before = await rows<{ updated_at: Date }>(
        tx,
        sql`select updated_at from public.users where id = ${alice.id}`,
      );
      const result = await tx.query(sql`
        update public.users set first_name = 'Alicia', time_zone = 'Europe/Berlin', locale = 'de-DE',
               preferences = '{"units": "metric"}' where id = ${alice.id}`);
      const after = await rows<Record<string, unknown>>(
        tx,
        sql`select first_name, time_zone, locale, preferences, updated_at from public.users where id = ${alice.id}`,
      );
      return { count: result.rowCount, before: before[0]?.updated_at, after: after[0] };
    });
    assert.equal(changed.count, 1);
    const { updated_at: updatedAt, ...values } = changed.after as { updated_at: Date };
    assert.deepEqual(values, {
      first_name: 'Alicia',
      time_zone: 'Europe/Berlin',
      locale: 'de-DE',
      preferences: { units: 'metric' },
    });
    // set_updated_at stamps now(), the transaction's start; it differs from the fixture's insert time.
    assert.notEqual(updatedAt.getTime(), (changed.before as Date).getTime());
  });

  test('a user cannot set a time zone PostgreSQL does not know', async () => {
    await assert.rejects(
      asUser(db, alice.clerkId, (tx) =>
        tx.query(sql`update public.users set time_zone = 'Mars/Olympus' where id = ${alice.id}`),
      ),
      { code: '23514' },
    );
  });

  test('a user cannot change their own role, status, verification, email, phone, counters, tenant or identity', async () => {
    for (const change of [
      sql`role = 'admin'`,
      sql`role = 'provider'`,
      sql`status = 'active'`,
      sql`verification_status = 'verified'`,
      sql`email = 'alice@evil.example'`,
      sql`email_verified_at = now()`,
      sql`phone = '+1 555 0100'`,
      sql`phone_verified_at = now()`,
      sql`login_count = 1000`,
      sql`last_active_at = now()`,
      sql`tenant_id = ${other}`,
      sql`clerk_id = 'user_other'`,
      sql`deleted_at = now()`,
      sql`stripe_customer_id = 'cus_123'`,
      sql`stripe_connect_account_id = 'acct_123'`,
      sql`created_at = now()`,
    ]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) => tx.query(sql`update public.users set ${change} where id = ${alice.id}`)),
        { code: '42501' },
        change.text,
      );
    }
  });

  test("an unrelated user and an admin cannot change someone else's account", async () => {
    for (const who of [bob, admin, boss]) {
      const count = await asUser(
        db,
        who.clerkId,
        async (tx) =>
          (await tx.query(sql`update public.users set first_name = 'Hacked' where id = ${alice.id}`)).rowCount,
      );
      assert.equal(count, 0, who.role);
    }
  });

  test('nobody deletes accounts through the API, not even themselves', async () => {
    for (const clerkId of [alice.clerkId, boss.clerkId]) {
      await assert.rejects(
        asUser(db, clerkId, (tx) => tx.query(sql`delete from public.users where id = ${alice.id}`)),
        { code: '42501' },
      );
    }
  });
});

describe(`user_profiles (${testBackend()})`, () => {
  test('a profile is created with the user: display name, tenant, and public for providers only', async () => {
    const { rows: created } = await db.query<{ id: string }>(sql`
      insert into public.users (tenant_id, clerk_id, email, role, first_name, last_name)
      values (${other}, 'user_prof_1', 'p1@example.com', 'provider', 'Maria', 'Lopez'),
             (${tenant}, 'user_prof_2', 'p2@example.com', 'customer', 'Sam', null),
             (${tenant}, 'user_prof_3', 'p3@example.com', 'customer', null, 'Quinn'),
             (${tenant}, 'user_prof_4', 'p4@example.com', 'customer', null, null)
      returning id`);
    const profiles = await rows(
      db,
      sql`select u.clerk_id, p.tenant_id, p.display_name, p.is_public, p.review_count, p.rating_average,
                 p.identity_verified
            from public.user_profiles p join public.users u on u.id = p.user_id
           where p.user_id = any(${created.map((r) => r.id)}::uuid[]) order by u.clerk_id`,
    );
    const base = { review_count: 0, rating_average: null, identity_verified: false };
    assert.deepEqual(profiles, [
      { clerk_id: 'user_prof_1', tenant_id: other, display_name: 'Maria L.', is_public: true, ...base },
      { clerk_id: 'user_prof_2', tenant_id: tenant, display_name: 'Sam', is_public: false, ...base },
      { clerk_id: 'user_prof_3', tenant_id: tenant, display_name: 'Q.', is_public: false, ...base },
      { clerk_id: 'user_prof_4', tenant_id: tenant, display_name: null, is_public: false, ...base },
    ]);
  });

  test("anon reads public profiles of the current tenant only, never customers' private ones", async () => {
    const ids = [alice.id, paula.id, otto.id, admin.id];
    const seen = await asUser(db, null, (tx) =>
      rows<{ user_id: string }>(tx, sql`select user_id from public.user_profiles where user_id = any(${ids}::uuid[])`),
    );
    assert.deepEqual(seen.map((r) => r.user_id).sort(), [paula.id, admin.id].sort());
    const inOther = await asAnon({ tenant_id: other }, (tx) =>
      rows(tx, sql`select user_id from public.user_profiles where user_id = any(${ids}::uuid[])`),
    );
    assert.deepEqual(inOther, [{ user_id: otto.id }]);
  });

  test("a signed-in user reads public profiles of their tenant and their own, not another customer's", async () => {
    const ids = [alice.id, bob.id, paula.id, otto.id];
    const seen = await asUser(db, bob.clerkId, (tx) =>
      rows<{ user_id: string }>(tx, sql`select user_id from public.user_profiles where user_id = any(${ids}::uuid[])`),
    );
    assert.deepEqual(seen.map((r) => r.user_id).sort(), [bob.id, paula.id].sort());
  });

  test("a provider in another tenant does not see this tenant's public profiles", async () => {
    const seen = await asUser(db, otto.clerkId, (tx) =>
      rows(tx, sql`select user_id from public.user_profiles where user_id = ${paula.id}`),
    );
    assert.deepEqual(seen, []);
  });

  test('a user manager reads private profiles in their tenant, not in another tenant', async () => {
    const seen = await asUser(db, admin.clerkId, (tx) =>
      rows(tx, sql`select user_id from public.user_profiles where user_id in (${alice.id}, ${otto.id})`),
    );
    assert.deepEqual(seen, [{ user_id: alice.id }]);
  });

  test('the owner edits their profile and can make it public', async () => {
    const after = await asUser(db, alice.clerkId, async (tx) => {
      await tx.query(sql`update public.user_profiles
                            set bio = 'Dog person', skills = '{gardening}', is_public = true
                          where user_id = ${alice.id}`);
      return rows(tx, sql`select bio, skills, is_public from public.user_profiles where user_id = ${alice.id}`);
    });
    assert.deepEqual(after, [{ bio: 'Dog person', skills: ['gardening'], is_public: true }]);
  });

  test('the owner can set their tax id but nobody on the API can read it back', async () => {
    await asUser(
      db,
      alice.clerkId,
      (tx) => tx.query(sql`update public.user_profiles set tax_id = '12-3456789' where user_id = ${alice.id}`),
      { commit: true },
    );
    const stored = await rows(db, sql`select tax_id from public.user_profiles where user_id = ${alice.id}`);
    assert.deepEqual(stored, [{ tax_id: '12-3456789' }]);
    for (const clerkId of [alice.clerkId, admin.clerkId, boss.clerkId, null]) {
      for (const read of [
        sql`select tax_id from public.user_profiles where user_id = ${alice.id}`,
        sql`select * from public.user_profiles where user_id = ${alice.id}`,
        sql`select user_id from public.user_profiles where tax_id = '12-3456789'`,
      ]) {
        await assert.rejects(
          asUser(db, clerkId, (tx) => tx.query(read)),
          { code: '42501' },
          read.text,
        );
      }
    }
    for (const sneaky of [
      sql`update public.user_profiles set bio = tax_id where user_id = ${alice.id}`,
      sql`update public.user_profiles set tax_id = '1' where user_id = ${alice.id} returning tax_id`,
    ]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) => tx.query(sneaky)),
        { code: '42501' },
        sneaky.text,
      );
    }
  });

  test('the owner cannot change ratings, counters, verification flags, tenant or owner of their profile', async () => {
    for (const change of [
      sql`rating_average = 5`,
      sql`review_count = 100`,
      sql`total_jobs_completed = 100`,
      sql`identity_verified = true`,
      sql`background_check_verified = true`,
      sql`business_verified = true`,
      sql`tenant_id = ${other}`,
      sql`user_id = ${bob.id}`,
      sql`metadata = '{"vip": true}'`,
      sql`created_at = now()`,
    ]) {
      await assert.rejects(
        asUser(db, paula.clerkId, (tx) =>
          tx.query(sql`update public.user_profiles set ${change} where user_id = ${paula.id}`),
        ),
        { code: '42501' },
        change.text,
      );
    }
  });

  test("an unrelated user and an admin cannot edit someone else's profile", async () => {
    for (const who of [bob, admin, boss]) {
      const count = await asUser(
        db,
        who.clerkId,
        async (tx) =>
          (await tx.query(sql`update public.user_profiles set bio = 'defaced' where user_id = ${paula.id}`)).rowCount,
      );
      assert.equal(count, 0, who.role);
    }
  });

  test('profiles are neither inserted nor deleted through the API', async () => {
    await assert.rejects(
      asUser(db, alice.clerkId, (tx) =>
        tx.query(sql`insert into public.user_profiles (user_id, tenant_id) values (${alice.id}, ${tenant})`),
      ),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, alice.clerkId, (tx) => tx.query(sql`delete from public.user_profiles where user_id = ${alice.id}`)),
      { code: '42501' },
    );
  });
});

describe(`user_addresses (${testBackend()})`, () => {
  const addHome = (userId: string) => sql`
    insert into public.user_addresses (user_id, line1, city, postal_code, country_code, is_default)
    values (${userId}, '1 Main St', 'New York', '10001', 'US', true)`;

  test('the owner adds an address, which takes their tenant, and reads it back', async () => {
    const seen = await asUser(db, otto.clerkId, async (tx) => {
      await tx.query(addHome(otto.id));
      return rows(tx, sql`select user_id, tenant_id, label, line1, is_default from public.user_addresses`);
    });
    assert.deepEqual(seen, [
      { user_id: otto.id, tenant_id: other, label: 'home', line1: '1 Main St', is_default: true },
    ]);
  });

  test('nobody adds an address for another user', async () => {
    await assert.rejects(
      asUser(db, bob.clerkId, (tx) => tx.query(addHome(alice.id))),
      { code: '42501' },
    );
  });

  test('the owner cannot choose the tenant of an address', async () => {
    await assert.rejects(
      asUser(db, alice.clerkId, (tx) =>
        tx.query(sql`insert into public.user_addresses (user_id, tenant_id, line1, city, country_code)
                     values (${alice.id}, ${other}, '1 Main St', 'New York', 'US')`),
      ),
      { code: '42501' },
    );
  });

  test('a user has at most one default address', async () => {
    await assert.rejects(
      asUser(db, alice.clerkId, async (tx) => {
        await tx.query(addHome(alice.id));
        await tx.query(addHome(alice.id));
      }),
      { code: '23505' },
    );
  });

  test('an unrelated user, an admin and anon cannot read, change or delete an address', async () => {
    await asUser(db, alice.clerkId, (tx) => tx.query(addHome(alice.id)), { commit: true });
    for (const who of [bob, admin, boss]) {
      const outcome = await asUser(db, who.clerkId, async (tx) => ({
        read: (await tx.query(sql`select id from public.user_addresses where user_id = ${alice.id}`)).rowCount,
        updated: (await tx.query(sql`update public.user_addresses set line1 = 'x' where user_id = ${alice.id}`))
          .rowCount,
        deleted: (await tx.query(sql`delete from public.user_addresses where user_id = ${alice.id}`)).rowCount,
      }));
      assert.deepEqual(outcome, { read: 0, updated: 0, deleted: 0 }, who.role);
    }
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`select id from public.user_addresses`)),
      { code: '42501' },
    );
  });

  test('the owner updates and deletes their address but cannot move it to another user or tenant', async () => {
    const outcome = await asUser(db, alice.clerkId, async (tx) => {
      const updated = (
        await tx.query(sql`update public.user_addresses set line2 = 'Apt 4' where user_id = ${alice.id}`)
      ).rowCount;
      const deleted = (await tx.query(sql`delete from public.user_addresses where user_id = ${alice.id}`)).rowCount;
      return { updated, deleted };
    });
    assert.deepEqual(outcome, { updated: 1, deleted: 1 });
    for (const change of [sql`user_id = ${bob.id}`, sql`tenant_id = ${other}`]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) =>
          tx.query(sql`update public.user_addresses set ${change} where user_id = ${alice.id}`),
        ),
        { code: '42501' },
      );
    }
  });
});

describe(`user_sessions (${testBackend()})`, () => {
  test('the owner reads their sessions, but never the token hash', async () => {
    const seen = await asUser(db, alice.clerkId, (tx) =>
      rows(tx, sql`select id, clerk_session_id, tenant_id, ip_address from public.user_sessions`),
    );
    assert.deepEqual(seen, [
      { id: session, clerk_session_id: 'sess_alice', tenant_id: tenant, ip_address: '203.0.113.7' },
    ]);
    for (const read of [
      sql`select session_token_hash from public.user_sessions`,
      sql`select * from public.user_sessions`,
    ]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) => tx.query(read)),
        { code: '42501' },
      );
    }
  });

  test('an unrelated user sees no sessions of others; anon cannot read sessions', async () => {
    assert.deepEqual(await asUser(db, bob.clerkId, (tx) => rows(tx, sql`select id from public.user_sessions`)), []);
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`select id from public.user_sessions`)),
      { code: '42501' },
    );
  });

  test('a user manager reads sessions of their tenant only', async () => {
    const seen = await asUser(db, admin.clerkId, (tx) =>
      rows(tx, sql`select clerk_session_id from public.user_sessions`),
    );
    assert.deepEqual(seen, [{ clerk_session_id: 'sess_alice' }]);
    const theirs = await asUser(db, otherAdmin.clerkId, (tx) =>
      rows(tx, sql`select clerk_session_id from public.user_sessions`),
    );
    assert.deepEqual(theirs, [{ clerk_session_id: 'sess_otto' }]);
  });

  test('the owner ends their session; nothing else about it is theirs to change', async () => {
    const ended = await asUser(db, alice.clerkId, async (tx) => {
      const count = (await tx.query(sql`update public.user_sessions set ended_at = now() where id = ${session}`))
        .rowCount;
      const after = await rows(
        tx,
        sql`select ended_at is not null as ended from public.user_sessions where id = ${session}`,
      );
      return { count, after };
    });
    assert.deepEqual(ended, { count: 1, after: [{ ended: true }] });
    for (const change of [
      sql`expires_at = now() + interval '1 year'`,
      sql`user_id = ${bob.id}`,
      sql`ip_address = '10.0.0.1'`,
    ]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) =>
          tx.query(sql`update public.user_sessions set ${change} where id = ${session}`),
        ),
        { code: '42501' },
      );
    }
  });

  test("an unrelated user and an admin cannot end someone else's session", async () => {
    for (const who of [bob, admin]) {
      const count = await asUser(
        db,
        who.clerkId,
        async (tx) =>
          (await tx.query(sql`update public.user_sessions set ended_at = now() where id = ${session}`)).rowCount,
      );
      assert.equal(count, 0, who.role);
    }
  });

  test('sessions are neither created nor deleted through the API', async () => {
    await assert.rejects(
      asUser(db, alice.clerkId, (tx) => tx.query(sql`insert into public.user_sessions (user_id) values (${alice.id})`)),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, alice.clerkId, (tx) => tx.query(sql`delete from public.user_sessions where id = ${session}`)),
      { code: '42501' },
    );
  });

  test('a session for an unknown user is refused with a clear message', async () => {
    const ghost = '00000000-0000-4000-8000-000000000001';
    await assert.rejects(db.query(sql`insert into public.user_sessions (user_id) values (${ghost})`), {
      code: '23503',
      message: `users ${ghost} does not exist`,
    });
  });
});

describe(`become_provider() (${testBackend()})`, () => {
  test('a customer becomes a provider with a public profile', async () => {
    const outcome = await asUser(db, bob.clerkId, async (tx) => {
      const returned = await rows(tx, sql`select id, role from public.become_provider()`);
      const profile = await rows(tx, sql`select is_public from public.user_profiles where user_id = ${bob.id}`);
      const role = await rows(tx, sql`select app.current_user_role()::text as role`);
      return { returned, profile, role };
    });
    assert.deepEqual(outcome, {
      returned: [{ id: bob.id, role: 'provider' }],
      profile: [{ is_public: true }],
      role: [{ role: 'provider' }],
    });
  });

  test('a provider or an admin cannot use it to change role', async () => {
    for (const who of [paula, admin]) {
      await assert.rejects(
        asUser(db, who.clerkId, (tx) => tx.query(sql`select public.become_provider()`)),
        {
          code: '42501',
          message: 'only a signed-in customer can become a provider',
        },
      );
    }
  });

  test('a suspended or banned customer cannot become a provider', async () => {
    const parked = await createUser(db, { status: 'suspended' });
    for (const who of [parked, banned]) {
      await assert.rejects(
        asUser(db, who.clerkId, (tx) => tx.query(sql`select public.become_provider()`)),
        {
          code: '42501',
          message: 'only a signed-in customer can become a provider',
        },
      );
    }
    const roles = await rows(db, sql`select role::text from public.users where id in (${parked.id}, ${banned.id})`);
    assert.deepEqual(roles, [{ role: 'customer' }, { role: 'customer' }]);
  });

  test('anon cannot call it', async () => {
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`select public.become_provider()`)),
      { code: '42501' },
    );
  });
});
