import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Queryable } from '../../../src/db/database.js';
import { type SqlFragment, sql } from '../../../src/db/sql.js';
import { createTenant, createUser, grantPermission, type UserFixture } from '../../helpers/fixtures.js';
import { asUser, getTestDatabase, type TestDatabase, testBackend } from '../../helpers/index.js';

/*
 * 0004 permissions: app.has_permission() through the role mapping and per-user overrides, the
 * admin_set_* functions (permission, tenant, self and admin-role checks), and the permission
 * tables themselves, which no API role may write.
 */

let db: TestDatabase;
let other: string;
let customer: UserFixture;
let provider: UserFixture;
let admin: UserFixture; // admin role: users.read/moderate/verify/manage_roles, no permissions.manage
let admin2: UserFixture;
let boss: UserFixture; // super_admin: everything
let foreigner: UserFixture; // customer in another tenant
let foreignBoss: UserFixture; // super_admin in another tenant

async function rows<T = Record<string, unknown>>(tx: Queryable, query: SqlFragment): Promise<T[]> {
  return (await tx.query<T>(query)).rows;
}

async function holds(who: UserFixture | null, permission: string): Promise<boolean> {
  const result = await asUser(db, who?.clerkId ?? null, (tx) =>
    rows<{ ok: boolean }>(tx, sql`select app.has_permission(${permission}) as ok`),
  );
  return (result[0] as { ok: boolean }).ok;
}

async function override(who: UserFixture, permission: string, granted: boolean, expires = sql`null`): Promise<void> {
  await db.query(sql`
    insert into public.user_permissions (user_id, permission_id, granted, expires_at)
    select ${who.id}, id, ${granted}, ${expires} from public.permissions where name = ${permission}`);
}

async function user(id: string): Promise<Record<string, unknown>> {
  const found = await rows(
    db,
    sql`select u.role::text, u.status::text, u.verification_status::text, p.is_public, p.identity_verified,
               p.background_check_verified, p.business_verified
          from public.users u join public.user_profiles p on p.user_id = u.id where u.id = ${id}`,
  );
  return found[0] as Record<string, unknown>;
}

const denied = (permission: string) => ({
  code: '42501',
  message: `permission denied: ${permission} is required`,
});

before(async () => {
  db = await getTestDatabase();
  other = await createTenant(db);
  customer = await createUser(db);
  provider = await createUser(db, { role: 'provider' });
  admin = await createUser(db, { role: 'admin' });
  admin2 = await createUser(db, { role: 'admin' });
  boss = await createUser(db, { role: 'super_admin' });
  foreigner = await createUser(db, { tenantId: other });
  foreignBoss = await createUser(db, { role: 'super_admin', tenantId: other });
});
after(() => db?.dispose());

describe(`has_permission (${testBackend()})`, () => {
  test('an admin holds what the admin role maps to and nothing more', async () => {
    assert.equal(await holds(admin, 'users.moderate'), true);
    assert.equal(await holds(admin, 'audit.read'), true);
    assert.equal(await holds(admin, 'permissions.manage'), false);
    assert.equal(await holds(admin, 'users.manage_admins'), false);
    assert.equal(await holds(admin, 'tenant.manage'), false);
  });

  test('customers, providers and anon hold no permission; unknown names are never held', async () => {
    for (const who of [customer, provider, null]) assert.equal(await holds(who, 'users.read'), false);
    assert.equal(await holds(boss, 'no_such.permission'), false);
  });

  test('my_permissions lists exactly what the caller holds', async () => {
    const mine = await asUser(db, admin.clerkId, (tx) =>
      rows<{ name: string }>(tx, sql`select public.my_permissions() as name`),
    );
    assert.deepEqual(
      mine.map((r) => r.name),
      [
        'analytics.read',
        'audit.read',
        'bookings.manage',
        'catalog.manage',
        'files.moderate',
        'flags.manage',
        'listings.moderate',
        'payments.manage',
        'payments.read',
        'payments.refund',
        'referrals.manage',
        'reviews.moderate',
        'users.manage_roles',
        'users.moderate',
        'users.read',
        'users.verify',
        'webhooks.manage',
      ],
    );
    const none = await asUser(db, customer.clerkId, (tx) => rows(tx, sql`select public.my_permissions() as name`));
    assert.deepEqual(none, []);
  });

  test('a per-user override grants a permission the role lacks', async () => {
    const helper = await createUser(db);
    await grantPermission(db, helper, 'users.read');
    assert.equal(await holds(helper, 'users.read'), true);
    assert.equal(await holds(helper, 'users.moderate'), false);
  });

  test("a granted=false override revokes a permission of the user's role", async () => {
    const muted = await createUser(db, { role: 'admin' });
    await override(muted, 'users.moderate', false);
    assert.equal(await holds(muted, 'users.moderate'), false);
    assert.equal(await holds(muted, 'users.read'), true);
    await assert.rejects(
      asUser(db, muted.clerkId, (tx) =>
        tx.query(sql`select public.admin_set_user_status(${customer.id}, 'suspended')`),
      ),
      denied('users.moderate'),
    );
  });

  test('an expired override is ignored, whether it granted or revoked', async () => {
    const lapsed = await createUser(db);
    await override(lapsed, 'users.read', true, sql`now() - interval '1 minute'`);
    assert.equal(await holds(lapsed, 'users.read'), false);
    const restored = await createUser(db, { role: 'admin' });
    await override(restored, 'users.moderate', false, sql`now() - interval '1 minute'`);
    assert.equal(await holds(restored, 'users.moderate'), true);
    const pending = await createUser(db);
    await override(pending, 'users.read', true, sql`now() + interval '1 day'`);
    assert.equal(await holds(pending, 'users.read'), true);
  });

  test('a suspended or banned admin holds nothing', async () => {
    for (const status of ['suspended', 'banned']) {
      const parked = await createUser(db, { role: 'super_admin', status });
      assert.equal(await holds(parked, 'users.read'), false, status);
    }
  });
});

describe(`admin_set_user_role (${testBackend()})`, () => {
  const setRole = (target: UserFixture, role: string) =>
    sql`select id, role::text from public.admin_set_user_role(${target.id}, ${role}::public.user_role)`;

  test('an admin makes a customer a provider, whose profile becomes public', async () => {
    const outcome = await asUser(db, admin.clerkId, async (tx) => {
      const returned = await rows(tx, setRole(customer, 'provider'));
      const profile = await rows(tx, sql`select is_public from public.user_profiles where user_id = ${customer.id}`);
      return { returned, profile };
    });
    assert.deepEqual(outcome, {
      returned: [{ id: customer.id, role: 'provider' }],
      profile: [{ is_public: true }],
    });
  });

  test('a customer or provider cannot change roles', async () => {
    for (const who of [provider, customer]) {
      await assert.rejects(
        asUser(db, who.clerkId, (tx) => tx.query(setRole(customer, 'provider'))),
        denied('users.manage_roles'),
      );
    }
    assert.equal((await user(customer.id)).role, 'customer');
  });

  test('anon cannot call any admin function', async () => {
    for (const call of [
      setRole(customer, 'provider'),
      sql`select public.admin_set_user_status(${customer.id}, 'banned')`,
      sql`select public.admin_set_verification(${customer.id}, 'verified')`,
      sql`select public.admin_set_user_permission(${customer.id}, 'users.read', true)`,
    ]) {
      await assert.rejects(
        asUser(db, null, (tx) => tx.query(call)),
        { code: '42501', message: /permission denied for function/ },
      );
    }
  });

  test('an admin cannot change their own role', async () => {
    await assert.rejects(
      asUser(db, admin.clerkId, (tx) => tx.query(setRole(admin, 'customer'))),
      {
        code: '42501',
        message: 'you cannot change your own role',
      },
    );
  });

  test('an admin cannot change the role of a user in another tenant', async () => {
    await assert.rejects(
      asUser(db, boss.clerkId, (tx) => tx.query(setRole(foreigner, 'provider'))),
      {
        code: 'P0002',
        message: `user ${foreigner.id} not found in your tenant`,
      },
    );
    assert.equal((await user(foreigner.id)).role, 'customer');
  });

  test('an admin without users.manage_admins cannot make anyone admin or super_admin', async () => {
    for (const role of ['admin', 'super_admin']) {
      await assert.rejects(
        asUser(db, admin.clerkId, (tx) => tx.query(setRole(customer, role))),
        denied('users.manage_admins'),
      );
    }
  });

  test('an admin without users.manage_admins cannot demote another admin', async () => {
    await assert.rejects(
      asUser(db, admin.clerkId, (tx) => tx.query(setRole(admin2, 'customer'))),
      denied('users.manage_admins'),
    );
    assert.equal((await user(admin2.id)).role, 'admin');
  });

  test('an admin given users.manage_admins can make an admin, but not a super_admin with powers they lack', async () => {
    const promoter = await createUser(db, { role: 'admin' });
    await grantPermission(db, promoter, 'users.manage_admins');
    const made = await asUser(db, promoter.clerkId, (tx) => rows(tx, setRole(customer, 'admin')));
    assert.deepEqual(made, [{ id: customer.id, role: 'admin' }]);
    await assert.rejects(
      asUser(db, promoter.clerkId, (tx) => tx.query(setRole(customer, 'super_admin'))),
      denied('permissions.manage'),
    );
    assert.equal((await user(customer.id)).role, 'customer');
  });

  test('a super_admin makes and unmakes admins', async () => {
    const outcome = await asUser(db, boss.clerkId, async (tx) => ({
      promoted: await rows(tx, setRole(provider, 'super_admin')),
      demoted: await rows(tx, setRole(admin2, 'customer')),
    }));
    assert.deepEqual(outcome, {
      promoted: [{ id: provider.id, role: 'super_admin' }],
      demoted: [{ id: admin2.id, role: 'customer' }],
    });
  });
});

describe(`admin_set_user_status (${testBackend()})`, () => {
  const setStatus = (target: UserFixture, status: string) =>
    sql`select id, status::text from public.admin_set_user_status(${target.id}, ${status}::public.user_status, 'spam')`;

  test('an admin suspends a customer, who is then treated as anonymous', async () => {
    const target = await createUser(db);
    const returned = await asUser(db, admin.clerkId, (tx) => rows(tx, setStatus(target, 'suspended')), {
      commit: true,
    });
    assert.deepEqual(returned, [{ id: target.id, status: 'suspended' }]);
    const me = await asUser(db, target.clerkId, (tx) => rows(tx, sql`select app.current_user_id() as id`));
    assert.deepEqual(me, [{ id: null }]);
    const reactivated = await asUser(db, admin.clerkId, (tx) => rows(tx, setStatus(target, 'active')));
    assert.deepEqual(reactivated, [{ id: target.id, status: 'active' }]);
  });

  test('a user without users.moderate cannot change a status', async () => {
    const reader = await createUser(db);
    await grantPermission(db, reader, 'users.read');
    for (const who of [reader, provider]) {
      await assert.rejects(
        asUser(db, who.clerkId, (tx) => tx.query(setStatus(customer, 'banned'))),
        denied('users.moderate'),
      );
    }
    assert.equal((await user(customer.id)).status, 'active');
  });

  test('an admin cannot change their own status', async () => {
    await assert.rejects(
      asUser(db, admin.clerkId, (tx) => tx.query(setStatus(admin, 'active'))),
      {
        code: '42501',
        message: 'you cannot change your own status',
      },
    );
  });

  test('an admin cannot change the status of a user in another tenant', async () => {
    await assert.rejects(
      asUser(db, admin.clerkId, (tx) => tx.query(setStatus(foreigner, 'banned'))),
      {
        code: 'P0002',
        message: `user ${foreigner.id} not found in your tenant`,
      },
    );
    assert.equal((await user(foreigner.id)).status, 'active');
  });

  test('an admin without users.manage_admins cannot suspend another admin; a super_admin can', async () => {
    const target = await createUser(db, { role: 'admin' });
    await assert.rejects(
      asUser(db, admin.clerkId, (tx) => tx.query(setStatus(target, 'suspended'))),
      denied('users.manage_admins'),
    );
    const done = await asUser(db, boss.clerkId, (tx) => rows(tx, setStatus(target, 'suspended')));
    assert.deepEqual(done, [{ id: target.id, status: 'suspended' }]);
  });
});

describe(`admin_set_verification (${testBackend()})`, () => {
  test('an admin records verification outcomes, leaving unnamed flags alone', async () => {
    const target = await createUser(db, { role: 'provider' });
    const returned = await asUser(
      db,
      admin.clerkId,
      async (tx) => {
        await tx.query(
          sql`select public.admin_set_verification(${target.id}, 'in_review', identity => true, business => true)`,
        );
        return rows(
          tx,
          sql`select user_id, identity_verified, background_check_verified, business_verified
                from public.admin_set_verification(${target.id}, 'verified', business => false)`,
        );
      },
      { commit: true },
    );
    assert.deepEqual(returned, [
      { user_id: target.id, identity_verified: true, background_check_verified: false, business_verified: false },
    ]);
    assert.deepEqual(await user(target.id), {
      role: 'provider',
      status: 'active',
      verification_status: 'verified',
      is_public: true,
      identity_verified: true,
      background_check_verified: false,
      business_verified: false,
    });
  });

  test('a user without users.verify cannot verify anyone', async () => {
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) =>
        tx.query(sql`select public.admin_set_verification(${customer.id}, 'verified', true)`),
      ),
      denied('users.verify'),
    );
  });

  test('an admin cannot verify themselves', async () => {
    await assert.rejects(
      asUser(db, admin.clerkId, (tx) =>
        tx.query(sql`select public.admin_set_verification(${admin.id}, 'verified', true)`),
      ),
      { code: '42501', message: 'you cannot verify yourself' },
    );
  });

  test('an admin cannot verify a user in another tenant', async () => {
    await assert.rejects(
      asUser(db, boss.clerkId, (tx) =>
        tx.query(sql`select public.admin_set_verification(${foreigner.id}, 'verified', true)`),
      ),
      { code: 'P0002', message: `user ${foreigner.id} not found in your tenant` },
    );
    assert.equal((await user(foreigner.id)).identity_verified, false);
  });
});

describe(`admin_set_user_permission (${testBackend()})`, () => {
  const setPermission = (target: UserFixture, name: string, granted: boolean) =>
    sql`select user_id, tenant_id, granted, granted_by, reason
          from public.admin_set_user_permission(${target.id}, ${name}, ${granted}, why => 'on call')`;

  test('a super_admin grants a permission, and revokes it again', async () => {
    const helper = await createUser(db);
    const granted = await asUser(db, boss.clerkId, (tx) => rows(tx, setPermission(helper, 'users.read', true)), {
      commit: true,
    });
    assert.deepEqual(granted, [
      { user_id: helper.id, tenant_id: helper.tenantId, granted: true, granted_by: boss.id, reason: 'on call' },
    ]);
    assert.equal(await holds(helper, 'users.read'), true);
    await asUser(db, boss.clerkId, (tx) => tx.query(setPermission(helper, 'users.read', false)), { commit: true });
    assert.equal(await holds(helper, 'users.read'), false);
    const overrides = await rows(db, sql`select granted from public.user_permissions where user_id = ${helper.id}`);
    assert.deepEqual(overrides, [{ granted: false }]);
  });

  test('an admin without permissions.manage cannot hand out permissions', async () => {
    await assert.rejects(
      asUser(db, admin.clerkId, (tx) => tx.query(setPermission(customer, 'users.read', true))),
      denied('permissions.manage'),
    );
  });

  test('a permission manager cannot hand out a permission they do not hold', async () => {
    const manager = await createUser(db, { role: 'admin' });
    await grantPermission(db, manager, 'permissions.manage');
    await assert.rejects(
      asUser(db, manager.clerkId, (tx) => tx.query(setPermission(customer, 'tenant.manage', true))),
      denied('tenant.manage'),
    );
    await assert.rejects(
      asUser(db, manager.clerkId, (tx) => tx.query(setPermission(customer, 'no_such.permission', true))),
      denied('no_such.permission'),
    );
    const handed = await asUser(db, manager.clerkId, (tx) => rows(tx, setPermission(customer, 'users.read', true)));
    assert.deepEqual(handed, [
      { user_id: customer.id, tenant_id: customer.tenantId, granted: true, granted_by: manager.id, reason: 'on call' },
    ]);
  });

  test('nobody changes their own permissions', async () => {
    await assert.rejects(
      asUser(db, boss.clerkId, (tx) => tx.query(setPermission(boss, 'users.read', false))),
      {
        code: '42501',
        message: 'you cannot change your own permissions',
      },
    );
  });

  test('a permission manager cannot touch the permissions of a user in another tenant', async () => {
    await assert.rejects(
      asUser(db, boss.clerkId, (tx) => tx.query(setPermission(foreigner, 'users.read', true))),
      {
        code: 'P0002',
        message: `user ${foreigner.id} not found in your tenant`,
      },
    );
    assert.equal(await holds(foreigner, 'users.read'), false);
  });

  test("a permission manager without users.manage_admins cannot change an admin's permissions", async () => {
    const manager = await createUser(db, { role: 'admin' });
    await grantPermission(db, manager, 'permissions.manage');
    await assert.rejects(
      asUser(db, manager.clerkId, (tx) => tx.query(setPermission(boss, 'users.read', false))),
      denied('users.manage_admins'),
    );
    assert.equal(await holds(boss, 'users.read'), true);
  });
});

describe(`permission tables (${testBackend()})`, () => {
  test('signed-in users read the permission catalogue and the role mapping; anon reads neither', async () => {
    const seen = await asUser(db, customer.clerkId, async (tx) => ({
      permissions: (await tx.query(sql`select id from public.permissions`)).rowCount,
      superAdmin: (await tx.query(sql`select 1 from public.role_permissions where role = 'super_admin'`)).rowCount,
    }));
    assert.deepEqual(seen, { permissions: 21, superAdmin: 21 });
    for (const table of ['permissions', 'role_permissions', 'user_permissions']) {
      await assert.rejects(
        asUser(db, null, (tx) => tx.query(sql`select * from ${sql.ident('public', table)}`)),
        {
          code: '42501',
        },
      );
    }
  });

  test('a user reads their own overrides; a permission manager reads those of their tenant only', async () => {
    const holder = await createUser(db);
    await grantPermission(db, holder, 'analytics.read');
    await grantPermission(db, foreigner, 'analytics.read');
    const own = await asUser(db, holder.clerkId, (tx) => rows(tx, sql`select user_id from public.user_permissions`));
    assert.deepEqual(own, [{ user_id: holder.id }]);
    const unrelated = await asUser(db, provider.clerkId, (tx) =>
      rows(tx, sql`select user_id from public.user_permissions where user_id = ${holder.id}`),
    );
    assert.deepEqual(unrelated, []);
    const managed = await asUser(db, boss.clerkId, (tx) =>
      rows(tx, sql`select user_id from public.user_permissions where user_id in (${holder.id}, ${foreigner.id})`),
    );
    assert.deepEqual(managed, [{ user_id: holder.id }]);
    const theirs = await asUser(db, foreignBoss.clerkId, (tx) =>
      rows(tx, sql`select user_id from public.user_permissions where user_id in (${holder.id}, ${foreigner.id})`),
    );
    assert.deepEqual(theirs, [{ user_id: foreigner.id }]);
  });

  test('no API caller inserts, updates or deletes permissions, role mappings or overrides', async () => {
    const writes = [
      sql`insert into public.permissions (name, resource, action) values ('x.y', 'x', 'y')`,
      sql`update public.permissions set description = 'mine'`,
      sql`delete from public.permissions`,
      sql`insert into public.role_permissions (role, permission_id) select 'customer', id from public.permissions`,
      sql`update public.role_permissions set role = 'customer'`,
      sql`update public.role_permissions set granted = true`,
      sql`delete from public.role_permissions`,
      sql`insert into public.user_permissions (user_id, permission_id, granted)
          select ${customer.id}, id, true from public.permissions`,
      sql`update public.user_permissions set granted = true`,
      sql`update public.user_permissions set expires_at = null`,
      sql`delete from public.user_permissions`,
    ];
    for (const who of [null, customer, admin, boss]) {
      for (const write of writes) {
        await assert.rejects(
          asUser(db, who?.clerkId ?? null, (tx) => tx.query(write)),
          { code: '42501' },
          write.text,
        );
      }
    }
  });
});
