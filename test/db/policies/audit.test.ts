import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Queryable } from '../../../src/db/database.js';
import { type SqlFragment, sql } from '../../../src/db/sql.js';
import { createTenant, createUser, defaultTenantId, type UserFixture } from '../../helpers/fixtures.js';
import { asRole, asUser, getTestDatabase, type TestDatabase, testBackend } from '../../helpers/index.js';

/*
 * The audit trail (0001 app.audit_row, attached in 0003 and 0004): what a change to users,
 * tenants, user_permissions and role_permissions writes, who is named as its actor, what is
 * redacted, and who may read the trail (auditors, their own tenant only) — nobody may write it.
 */

let db: TestDatabase;
let tenant: string;
let other: string;
let alice: UserFixture;
let admin: UserFixture; // holds audit.read and users.moderate
let boss: UserFixture; // super_admin
let otherAdmin: UserFixture;
let owner: string; // the database role the test connection (and the fixtures) write as

interface AuditRow {
  action: string;
  tenant_id: string | null;
  actor_id: string | null;
  actor_subject: string | null;
  actor_role: string;
  resource_type: string;
  resource_id: string | null;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
  changed_columns: string[] | null;
  ip_address: string | null;
  user_agent: string | null;
  request_id: string | null;
  metadata: Record<string, unknown>;
}

async function rows<T = Record<string, unknown>>(tx: Queryable, query: SqlFragment): Promise<T[]> {
  return (await tx.query<T>(query)).rows;
}

/** The audit rows of one resource (read as the owner), oldest action first. */
function trail(resourceType: string, resourceId: string, where = sql``): Promise<AuditRow[]> {
  return rows<AuditRow>(
    db,
    sql`select action::text, tenant_id, actor_id, actor_subject, actor_role, resource_type, resource_id,
               old_values, new_values, changed_columns, host(ip_address) as ip_address, user_agent, request_id, metadata
          from public.audit_logs
         where resource_type = ${resourceType} and resource_id = ${resourceId} ${where}
         order by created_at, array_position(array['create', 'update', 'delete']::public.audit_action[], action)`,
  );
}

function only<T>(list: T[]): T {
  assert.equal(list.length, 1, `expected exactly one row, got ${list.length}`);
  return list[0] as T;
}

before(async () => {
  db = await getTestDatabase();
  tenant = await defaultTenantId(db);
  other = await createTenant(db, 'Audited elsewhere');
  alice = await createUser(db);
  admin = await createUser(db, { role: 'admin' });
  boss = await createUser(db, { role: 'super_admin' });
  otherAdmin = await createUser(db, { role: 'admin', tenantId: other });
  owner = ((await rows<{ who: string }>(db, sql`select session_user as who`))[0] as { who: string }).who;
  await db.exec(`
    create table public.audit_probe (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid,
      api_key text,
      note text
    );
    create trigger audit_probe_audit after insert or update or delete on public.audit_probe
      for each row execute function app.audit_row('api_key');`);
});
after(() => db?.dispose());

describe(`audit rows for users (${testBackend()})`, () => {
  test('a sign-up writes a create row naming the new user as its actor', async () => {
    const clerkId = `user_${randomUUID().slice(0, 8)}`;
    const created = await asUser(
      db,
      clerkId,
      (tx) =>
        rows<{ id: string }>(
          tx,
          sql`insert into public.users (tenant_id, clerk_id, email, first_name)
              values (${tenant}, ${clerkId}, 'signup@example.com', 'Sid') returning id`,
        ),
      { commit: true },
    );
    const id = (created[0] as { id: string }).id;
    const row = only(await trail('users', id));
    assert.deepEqual(
      {
        action: row.action,
        tenant_id: row.tenant_id,
        actor_id: row.actor_id,
        actor_subject: row.actor_subject,
        actor_role: row.actor_role,
        old_values: row.old_values,
        changed_columns: row.changed_columns,
      },
      {
        action: 'create',
        tenant_id: tenant,
        actor_id: id,
        actor_subject: clerkId,
        actor_role: 'authenticated',
        old_values: null,
        changed_columns: null,
      },
    );
    assert.equal(row.new_values?.email, 'signup@example.com');
    assert.equal(row.new_values?.status, 'pending_verification');
    assert.equal(row.new_values?.id, id);
  });

  test("a user's own update records the changed columns with their old and new values", async () => {
    const who = await createUser(db);
    await asUser(
      db,
      who.clerkId,
      (tx) =>
        tx.query(sql`update public.users set first_name = 'Walter', time_zone = 'Europe/Paris' where id = ${who.id}`),
      { commit: true },
    );
    const row = only(await trail('users', who.id, sql`and action = 'update'`));
    assert.equal(row.actor_id, who.id);
    assert.equal(row.actor_subject, who.clerkId);
    assert.equal(row.actor_role, 'authenticated');
    assert.equal(row.tenant_id, tenant);
    assert.deepEqual(row.changed_columns, ['first_name', 'time_zone']);
    assert.deepEqual([row.old_values?.first_name, row.new_values?.first_name], ['Test', 'Walter']);
    assert.deepEqual([row.old_values?.time_zone, row.new_values?.time_zone], ['UTC', 'Europe/Paris']);
    assert.deepEqual(row.metadata, {});
  });

  test('an update that changes nothing but updated_at writes no audit row', async () => {
    const who = await createUser(db);
    await asUser(
      db,
      who.clerkId,
      (tx) => tx.query(sql`update public.users set first_name = first_name where id = ${who.id}`),
      {
        commit: true,
      },
    );
    const changed = await rows<{ moved: boolean }>(
      db,
      sql`select updated_at <> created_at as moved from public.users where id = ${who.id}`,
    );
    assert.deepEqual(changed, [{ moved: true }]);
    assert.deepEqual(
      (await trail('users', who.id)).map((r) => r.action),
      ['create'],
    );
  });

  test('becoming a provider is recorded as the user changing their own role', async () => {
    const who = await createUser(db);
    await asUser(db, who.clerkId, (tx) => tx.query(sql`select public.become_provider()`), { commit: true });
    const row = only(await trail('users', who.id, sql`and action = 'update'`));
    assert.deepEqual(
      [row.actor_id, row.changed_columns, row.old_values?.role, row.new_values?.role],
      [who.id, ['role'], 'customer', 'provider'],
    );
  });

  test('a deletion writes a delete row with the old values and no actor when the database itself deletes', async () => {
    const who = await createUser(db);
    await db.query(sql`delete from public.users where id = ${who.id}`);
    const row = only(await trail('users', who.id, sql`and action = 'delete'`));
    assert.deepEqual(
      [row.actor_id, row.actor_subject, row.actor_role, row.tenant_id, row.new_values, row.old_values?.clerk_id],
      [null, null, owner, tenant, null, who.clerkId],
    );
  });

  test('the reason given to admin_set_user_status lands in the metadata of that change only', async () => {
    const target = await createUser(db);
    await asUser(
      db,
      admin.clerkId,
      async (tx) => {
        await tx.query(sql`select public.admin_set_user_status(${target.id}, 'suspended', 'chargeback fraud')`);
        await tx.query(sql`update public.users set first_name = 'Moderator' where id = ${admin.id}`);
      },
      { commit: true },
    );
    const row = only(await trail('users', target.id, sql`and action = 'update'`));
    assert.deepEqual(
      [row.actor_id, row.actor_role, row.changed_columns, row.new_values?.status],
      [admin.id, 'authenticated', ['status'], 'suspended'],
    );
    assert.deepEqual(row.metadata, { reason: 'chargeback fraud' });
    const later = only(await trail('users', admin.id, sql`and action = 'update'`));
    assert.deepEqual(later.changed_columns, ['first_name']);
    assert.deepEqual(later.metadata, {});
  });

  test('the request that made the change is recorded: client address (request.client_ip, never X-Forwarded-For), user agent, request id, method, path', async () => {
    const who = await createUser(db);
    await asUser(
      db,
      who.clerkId,
      async (tx) => {
        await tx.query(sql`
          select set_config('request.headers', ${JSON.stringify({
            'user-agent': 'Mozilla/5.0 (audit test)',
            'x-request-id': 'req-42',
            'x-forwarded-for': '203.0.113.99, 10.0.0.1',
          })}, true),
                 set_config('request.client_ip', '198.51.100.23', true),
                 set_config('request.method', 'PATCH', true),
                 set_config('request.path', '/rest/v1/users', true)`);
        await tx.query(sql`update public.users set last_name = 'Traced' where id = ${who.id}`);
      },
      { commit: true },
    );
    const row = only(await trail('users', who.id, sql`and action = 'update'`));
    assert.deepEqual(
      [row.ip_address, row.user_agent, row.request_id, row.metadata],
      ['198.51.100.23', 'Mozilla/5.0 (audit test)', 'req-42', { method: 'PATCH', path: '/rest/v1/users' }],
    );
  });

  test('a malformed client address is dropped and does not block the write', async () => {
    for (const forwarded of ['1.2.3', '::::', 'not an address', '999.1.1.1']) {
      const who = await createUser(db);
      await asUser(
        db,
        who.clerkId,
        async (tx) => {
          await tx.query(sql`select set_config('request.client_ip', ${forwarded}, true)`);
          await tx.query(sql`update public.users set last_name = 'Spoofer' where id = ${who.id}`);
        },
        { commit: true },
      );
      const row = only(await trail('users', who.id, sql`and action = 'update'`));
      assert.deepEqual([row.ip_address, row.changed_columns], [null, ['last_name']], forwarded);
    }
  });
});

describe(`audit rows for tenants and permissions (${testBackend()})`, () => {
  test("changes to a tenant are recorded in that tenant's trail", async () => {
    const created = await createTenant(db, 'Freshly made');
    const creation = only(await trail('tenants', created));
    assert.deepEqual(
      [creation.action, creation.tenant_id, creation.actor_id, creation.new_values?.name],
      ['create', created, null, 'Freshly made'],
    );
    await asUser(
      db,
      boss.clerkId,
      (tx) => tx.query(sql`update public.tenants set service_fee_bps = 650 where id = ${tenant}`),
      {
        commit: true,
      },
    );
    const change = only(await trail('tenants', tenant, sql`and action = 'update'`));
    assert.deepEqual(
      [change.tenant_id, change.actor_id, change.actor_role, change.changed_columns],
      [tenant, boss.id, 'authenticated', ['service_fee_bps']],
    );
    assert.deepEqual([change.old_values?.service_fee_bps, change.new_values?.service_fee_bps], [500, 650]);
  });

  test('a tenant update that changes nothing but updated_at writes no audit row', async () => {
    await asUser(db, boss.clerkId, (tx) => tx.query(sql`update public.tenants set name = name where id = ${other}`), {
      commit: true,
    });
    await db.query(sql`update public.tenants set name = name where id = ${other}`);
    assert.deepEqual(
      (await trail('tenants', other)).map((r) => r.action),
      ['create'],
    );
  });

  test('granting and revoking a permission override is recorded with the granting admin as actor', async () => {
    const helper = await createUser(db);
    const made = await asUser(
      db,
      boss.clerkId,
      async (tx) => {
        const granted = await rows<{ id: string }>(
          tx,
          sql`select id from public.admin_set_user_permission(${helper.id}, 'analytics.read', true, why => 'dashboards')`,
        );
        await tx.query(
          sql`select public.admin_set_user_permission(${helper.id}, 'analytics.read', false, why => 'dashboards')`,
        );
        return (granted[0] as { id: string }).id;
      },
      { commit: true },
    );
    const [create, update] = await trail('user_permissions', made);
    assert.deepEqual(
      [
        create?.action,
        create?.actor_id,
        create?.tenant_id,
        create?.new_values?.granted,
        create?.new_values?.granted_by,
      ],
      ['create', boss.id, tenant, true, boss.id],
    );
    assert.deepEqual(
      [
        update?.action,
        update?.actor_id,
        update?.changed_columns,
        update?.old_values?.granted,
        update?.new_values?.granted,
      ],
      ['update', boss.id, ['granted'], true, false],
    );
    await db.query(sql`delete from public.user_permissions where id = ${made}`);
    const deletion = only(await trail('user_permissions', made, sql`and action = 'delete'`));
    assert.deepEqual([deletion.actor_id, deletion.tenant_id, deletion.old_values?.user_id], [null, tenant, helper.id]);
  });

  test('changes to the role mapping are recorded without a tenant', async () => {
    const { rows: perm } = await db.query<{ id: string }>(
      sql`select id from public.permissions where name = 'analytics.read'`,
    );
    const permissionId = (perm[0] as { id: string }).id;
    await db.query(sql`insert into public.role_permissions (role, permission_id) values ('provider', ${permissionId})`);
    await db.query(
      sql`update public.role_permissions set granted = false where role = 'provider' and permission_id = ${permissionId}`,
    );
    await db.query(
      sql`delete from public.role_permissions where role = 'provider' and permission_id = ${permissionId}`,
    );
    const logged = await rows<AuditRow>(
      db,
      sql`select action::text, tenant_id, resource_id, changed_columns, coalesce(new_values, old_values) ->> 'role' as role
            from public.audit_logs
           where resource_type = 'role_permissions' and coalesce(new_values, old_values) ->> 'permission_id' = ${permissionId}
             and coalesce(new_values, old_values) ->> 'role' = 'provider'
           order by array_position(array['create', 'update', 'delete']::public.audit_action[], action)`,
    );
    assert.deepEqual(logged, [
      { action: 'create', tenant_id: null, resource_id: null, changed_columns: null, role: 'provider' },
      { action: 'update', tenant_id: null, resource_id: null, changed_columns: ['granted'], role: 'provider' },
      { action: 'delete', tenant_id: null, resource_id: null, changed_columns: null, role: 'provider' },
    ]);
  });

  test('columns named as secrets are left out of the values and listed as redacted', async () => {
    const { rows: probe } = await db.query<{ id: string }>(
      sql`insert into public.audit_probe (tenant_id, api_key, note) values (${tenant}, 'sk_live_secret', 'first') returning id`,
    );
    const id = (probe[0] as { id: string }).id;
    await db.query(sql`update public.audit_probe set api_key = 'sk_live_rotated', note = 'second' where id = ${id}`);
    const [create, update] = await trail('audit_probe', id);
    assert.deepEqual(create?.new_values, { id, tenant_id: tenant, note: 'first' });
    assert.deepEqual(create?.metadata, { redacted: ['api_key'] });
    assert.deepEqual(update?.old_values, { id, tenant_id: tenant, note: 'first' });
    assert.deepEqual(update?.new_values, { id, tenant_id: tenant, note: 'second' });
    assert.deepEqual(update?.changed_columns, ['api_key', 'note']);
    const leaks = await rows(db, sql`select 1 from public.audit_logs where audit_logs::text like '%sk_live_%'`);
    assert.deepEqual(leaks, []);
  });
});

describe(`who may read and write the audit trail (${testBackend()})`, () => {
  test("an auditor reads their own tenant's rows and no other tenant's", async () => {
    await createUser(db, { tenantId: other }); // something to audit in the other tenant
    const mine = await asUser(db, admin.clerkId, (tx) =>
      rows<{ tenant_id: string | null; n: string }>(
        tx,
        sql`select tenant_id, count(*)::text as n from public.audit_logs group by tenant_id`,
      ),
    );
    assert.equal(mine.length, 1);
    assert.equal(mine[0]?.tenant_id, tenant);
    assert.ok(Number(mine[0]?.n) > 0);
    const theirs = await asUser(db, otherAdmin.clerkId, (tx) =>
      rows<{ tenant_id: string | null }>(tx, sql`select distinct tenant_id from public.audit_logs`),
    );
    assert.deepEqual(theirs, [{ tenant_id: other }]);
  });

  test('the global role mapping rows are visible to no auditor', async () => {
    const seen = await asUser(db, boss.clerkId, (tx) =>
      rows(tx, sql`select 1 from public.audit_logs where resource_type = 'role_permissions'`),
    );
    assert.deepEqual(seen, []);
  });

  test('a user without audit.read sees no audit rows, not even about themselves; anon cannot read them', async () => {
    const own = await asUser(db, alice.clerkId, (tx) => rows(tx, sql`select 1 from public.audit_logs`));
    assert.deepEqual(own, []);
    const revoked = await createUser(db, { role: 'admin' });
    await db.query(sql`
      insert into public.user_permissions (user_id, permission_id, granted)
      select ${revoked.id}, id, false from public.permissions where name = 'audit.read'`);
    assert.deepEqual(await asUser(db, revoked.clerkId, (tx) => rows(tx, sql`select 1 from public.audit_logs`)), []);
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`select 1 from public.audit_logs`)),
      { code: '42501' },
    );
  });

  test('no API role inserts, updates or deletes audit rows, auditors and service_role included', async () => {
    const writes = [
      sql`insert into public.audit_logs (action, resource_type) values ('update', 'users')`,
      sql`update public.audit_logs set metadata = '{"forged": true}'`,
      sql`update public.audit_logs set actor_id = null where actor_id = ${admin.id}`,
      sql`delete from public.audit_logs`,
      sql`truncate public.audit_logs`,
    ];
    const callers: [string, object][] = [
      ['anon', { role: 'anon' }],
      ['authenticated', { role: 'authenticated', sub: alice.clerkId }],
      ['authenticated', { role: 'authenticated', sub: admin.clerkId }],
      ['authenticated', { role: 'authenticated', sub: boss.clerkId }],
      ['service_role', { role: 'service_role' }],
    ];
    for (const [role, claims] of callers) {
      for (const write of writes) {
        await assert.rejects(
          asRole(db, role, claims, (tx) => tx.query(write)),
          { code: '42501' },
          `${role}: ${write.text}`,
        );
      }
    }
  });

  test('service_role writes are attributed to service_role', async () => {
    const who = await createUser(db);
    await asRole(
      db,
      'service_role',
      { role: 'service_role' },
      (tx) => tx.query(sql`update public.users set login_count = login_count + 1 where id = ${who.id}`),
      { commit: true },
    );
    const row = only(await trail('users', who.id, sql`and action = 'update'`));
    assert.deepEqual([row.actor_role, row.actor_id, row.changed_columns], ['service_role', null, ['login_count']]);
  });
});
