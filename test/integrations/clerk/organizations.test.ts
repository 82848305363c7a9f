import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from '../../../src/db/sql.js';
import {
  getTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../../helpers/index.js';
import {
  clerkSigner,
  deliver,
  membershipEvent,
  newEventId,
  organizationDeleted,
  organizationEvent,
  userEvent,
  WEBHOOK_SECRET,
} from './support.js';

/*
 * Clerk organisations as tenants (LOCONOMY_CLERK_ORGANIZATION_TENANTS, decision 0021), through
 * POST /webhooks/clerk with real Svix signatures and Clerk session tokens over real HTTP.
 */

let db: TestDatabase;
let server: TestServer;
let signer: Awaited<ReturnType<typeof clerkSigner>>;
let counter = 0;

function unique(prefix: string): string {
  counter += 1;
  return `${prefix}_${testBackend()}${Date.now().toString(36)}${counter}Xy`;
}

before(async () => {
  db = await getTestDatabase();
  signer = await clerkSigner();
  server = await startTestServer(db, {
    CLERK_WEBHOOK_SECRET: WEBHOOK_SECRET,
    CLERK_JWT_KEY: signer.pem,
    LOCONOMY_CLERK_ORGANIZATION_TENANTS: 'true',
  });
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

const T = 1_760_000_000_000;

interface TenantRow {
  id: string;
  name: string;
  slug: string;
  is_active: boolean;
  is_default: boolean;
  region_id: string | null;
}

async function tenantOf(orgId: string): Promise<TenantRow | undefined> {
  const { rows } = await db.query<TenantRow>(sql`
    select t.id, t.name, t.slug, t.is_active, t.is_default, t.region_id
    from app.clerk_organizations o join public.tenants t on t.id = o.tenant_id
    where o.clerk_organization_id = ${orgId}`);
  return rows[0];
}

async function defaultTenant(): Promise<TenantRow> {
  const { rows } = await db.query<TenantRow>(
    sql`select id, name, slug, is_active, is_default, region_id from public.tenants where is_default`,
  );
  return rows[0] as TenantRow;
}

async function account(clerkId: string) {
  const { rows } = await db.query<{ id: string; tenant_id: string; role: string; email: string }>(
    sql`select id, tenant_id, role, email from public.users where clerk_id = ${clerkId} and deleted_at is null`,
  );
  return rows[0];
}

async function clerkGrants(userId: string) {
  const { rows } = await db.query<{ name: string; tenant_id: string }>(sql`
    select p.name, up.tenant_id from public.user_permissions up join public.permissions p on p.id = up.permission_id
    where up.user_id = ${userId} order by p.name`);
  return rows;
}

/** What the person may do, asked as them: my_permissions() with their Clerk session token. */
async function myPermissions(clerkId: string): Promise<string[]> {
  const response = await fetch(`${server.url}/rest/v1/rpc/my_permissions`, {
    method: 'POST',
    headers: {
      apikey: server.keys.anon,
      authorization: `Bearer ${await signer.token(clerkId)}`,
      'content-type': 'application/json',
    },
    body: '{}',
  });
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as unknown[]).map((p) =>
    typeof p === 'string' ? p : Object.values(p as object)[0],
  ) as string[];
}

function org(id: string, name: string, updatedAt = T) {
  return { id, name, slug: id.toLowerCase().replaceAll('_', '-'), updatedAt };
}

describe(`Clerk organisations as tenants (${testBackend()})`, () => {
  test('organization.created makes an active tenant; a slug already taken is made unique', async () => {
    const orgId = unique('org');
    const answer = await deliver(server, organizationEvent('organization.created', orgId, org(orgId, 'Acme Plumbing')));
    assert.equal(answer.status, 200);
    assert.equal(answer.json.outcome, 'applied');
    const tenant = await tenantOf(orgId);
    assert.equal(tenant?.id, answer.json.tenant_id);
    assert.equal(tenant?.name, 'Acme Plumbing');
    assert.equal(tenant?.slug, orgId.toLowerCase().replaceAll('_', '-'));
    assert.equal(tenant?.is_active, true);
    assert.equal(tenant?.is_default, false);
    assert.equal(tenant?.region_id, (await defaultTenant()).region_id, 'the default tenant’s region');

    const twin = unique('org');
    await deliver(
      server,
      organizationEvent('organization.created', twin, { ...org(twin, 'Acme Two'), slug: tenant?.slug ?? '' }),
    );
    assert.equal((await tenantOf(twin))?.slug, `${tenant?.slug}-2`);
    const third = unique('org');
    await deliver(
      server,
      organizationEvent('organization.created', third, { ...org(third, 'Acme 3'), slug: 'Loconomy!' }),
    );
    assert.equal((await tenantOf(third))?.slug, 'loconomy-2', 'normalised, and the seeded tenant keeps its slug');
  });

  test('organization.updated out of order: the newest organisation object wins', async () => {
    const orgId = unique('org');
    const first = await deliver(
      server,
      organizationEvent('organization.updated', orgId, org(orgId, 'Renamed', T + 2000)),
    );
    assert.equal(first.json.outcome, 'applied');
    const late = await deliver(server, organizationEvent('organization.created', orgId, org(orgId, 'Original', T)));
    assert.equal(late.json.outcome, 'ignored');
    assert.match(late.json.reason, /newer was applied/);
    await deliver(server, organizationEvent('organization.updated', orgId, org(orgId, 'Middle', T + 1000)));
    assert.equal((await tenantOf(orgId))?.name, 'Renamed');
    await deliver(server, organizationEvent('organization.updated', orgId, org(orgId, 'Newest', T + 3000)));
    assert.equal((await tenantOf(orgId))?.name, 'Newest');
  });

  test('organizationMembership.created for a user without an account creates it in the organisation’s tenant', async () => {
    const orgId = unique('org');
    const userId = unique('user');
    const answer = await deliver(
      server,
      membershipEvent('organizationMembership.created', {
        organization: org(orgId, 'Membership First'),
        userId,
        role: 'org:member',
        email: `m+${userId}@example.com`,
        updatedAt: T,
      }),
    );
    assert.equal(answer.json.outcome, 'applied');
    assert.equal(answer.json.placed, true);
    const tenant = await tenantOf(orgId);
    assert.ok(tenant, 'the organisation the membership carries is mapped');
    const mine = await account(userId);
    assert.equal(mine?.tenant_id, tenant.id);
    assert.equal(mine?.email, `m+${userId}@example.com`);
    // Clerk's user.created arriving afterwards fills the account in where it is.
    await deliver(server, userEvent('user.created', userId, { email: `m2+${userId}@example.com`, updatedAt: T }));
    assert.equal((await account(userId))?.tenant_id, tenant.id);
    assert.equal((await account(userId))?.email, `m2+${userId}@example.com`);
    assert.deepEqual(await clerkGrants(mine.id), [], 'org:member grants nothing');
  });

  test('an existing account is never moved, and gets no grants in a tenant it is not in', async () => {
    const orgId = unique('org');
    const userId = unique('user');
    await deliver(server, userEvent('user.created', userId, { email: `e+${userId}@example.com`, updatedAt: T }));
    const before = await account(userId);
    assert.equal(before?.tenant_id, (await defaultTenant()).id);
    const answer = await deliver(
      server,
      membershipEvent('organizationMembership.created', {
        organization: org(orgId, 'Late Joiner Inc'),
        userId,
        role: 'org:admin',
        updatedAt: T,
      }),
    );
    assert.equal(answer.json.outcome, 'ignored');
    assert.match(answer.json.reason, /never move tenant/);
    assert.equal((await account(userId))?.tenant_id, before.tenant_id);
    assert.deepEqual(await clerkGrants(before.id), []);
    assert.ok(!(await myPermissions(userId)).includes('users.read'));
  });

  test('org:admin grants the admin role’s permissions in the tenant (never a role); they go with the membership', async () => {
    const orgId = unique('org');
    const userId = unique('user');
    const o = org(orgId, 'Admins Ltd');
    const membership = (type: Parameters<typeof membershipEvent>[0], role: string, at: number) =>
      membershipEvent(type, { organization: o, userId, role, updatedAt: at });
    const created = await deliver(server, membership('organizationMembership.created', 'org:admin', T));
    const { rows: adminPermissions } = await db.query<{ name: string }>(sql`
      select p.name from public.role_permissions rp join public.permissions p on p.id = rp.permission_id
      where rp.role = 'admin' and rp.granted order by p.name`);
    assert.equal(created.json.permissions_granted, adminPermissions.length);
    const mine = await account(userId);
    const tenant = await tenantOf(orgId);
    assert.equal(mine?.role, 'customer', 'no global role');
    const grants = await clerkGrants(mine?.id as string);
    assert.deepEqual(
      grants.map((g) => g.name),
      adminPermissions.map((p) => p.name),
    );
    assert.ok(grants.every((g) => g.tenant_id === tenant?.id));
    assert.ok(!grants.some((g) => ['users.manage_admins', 'permissions.manage'].includes(g.name)));
    const held = await myPermissions(userId);
    assert.ok(held.includes('users.read') && held.includes('bookings.manage'), held.join());
    assert.ok(!held.includes('users.manage_admins'));

    // An operator's own override stays when the membership goes.
    await db.query(sql`
      insert into public.user_permissions (user_id, tenant_id, permission_id, granted, reason)
      select ${mine?.id}::uuid, ${tenant?.id}::uuid, p.id, true, 'granted by an operator'
      from public.permissions p where p.name = 'tenant.manage'`);
    // A deletion older than the membership applied is stale; the real one removes the grants.
    const stale = await deliver(server, membership('organizationMembership.deleted', 'org:admin', T - 1000));
    assert.equal(stale.json.outcome, 'ignored');
    const deleted = await deliver(server, membership('organizationMembership.deleted', 'org:admin', T));
    assert.equal(deleted.json.outcome, 'applied');
    assert.equal(deleted.json.permissions_removed, adminPermissions.length);
    assert.deepEqual(
      (await clerkGrants(mine?.id as string)).map((g) => g.name),
      ['tenant.manage'],
    );
    assert.ok(!(await myPermissions(userId)).includes('users.read'));
    assert.equal((await account(userId))?.tenant_id, tenant?.id, 'the account stays in its tenant');
    // The created event redelivered late (a new svix id) does not bring them back.
    const late = await deliver(server, membership('organizationMembership.created', 'org:admin', T));
    assert.equal(late.json.outcome, 'ignored');
    assert.equal((await clerkGrants(mine?.id as string)).length, 1);
  });

  test('organizationMembership.updated to org:member removes the grants', async () => {
    const orgId = unique('org');
    const userId = unique('user');
    const o = org(orgId, 'Demoted Co');
    await deliver(
      server,
      membershipEvent('organizationMembership.created', { organization: o, userId, role: 'org:admin', updatedAt: T }),
    );
    const mine = await account(userId);
    assert.ok((await clerkGrants(mine?.id as string)).length > 0);
    await deliver(
      server,
      membershipEvent('organizationMembership.updated', {
        organization: o,
        userId,
        role: 'org:member',
        updatedAt: T + 1,
      }),
    );
    assert.deepEqual(await clerkGrants(mine?.id as string), []);
  });

  test('organization.deleted deactivates the tenant (kept, with its accounts) and removes admin grants', async () => {
    const orgId = unique('org');
    const userId = unique('user');
    await deliver(
      server,
      membershipEvent('organizationMembership.created', {
        organization: org(orgId, 'Closing'),
        userId,
        role: 'org:admin',
        updatedAt: T,
      }),
    );
    const tenant = await tenantOf(orgId);
    const mine = await account(userId);
    const answer = await deliver(server, organizationDeleted(orgId));
    assert.equal(answer.json.outcome, 'applied');
    const after = await tenantOf(orgId);
    assert.equal(after?.id, tenant?.id);
    assert.equal(after?.is_active, false);
    assert.equal((await account(userId))?.tenant_id, tenant?.id);
    assert.deepEqual(await clerkGrants(mine?.id as string), []);
    // Later events of the organisation change nothing.
    const late = await deliver(server, organizationEvent('organization.updated', orgId, org(orgId, 'Back', T + 9000)));
    assert.equal(late.json.outcome, 'ignored');
    assert.equal((await tenantOf(orgId))?.is_active, false);
    const newcomer = unique('user');
    const joined = await deliver(
      server,
      membershipEvent('organizationMembership.created', {
        organization: org(orgId, 'Back', T + 9000),
        userId: newcomer,
        role: 'org:admin',
        updatedAt: T,
      }),
    );
    assert.equal(joined.json.outcome, 'ignored');
    assert.equal(await account(newcomer), undefined);
  });

  test('an organisation or membership event without its ids is refused (400) and nothing is written', async () => {
    const orgId = unique('org');
    const broken = membershipEvent('organizationMembership.created', {
      organization: org(orgId, 'Broken'),
      userId: 'x',
      role: 'org:admin',
      updatedAt: T,
    });
    (broken.data.public_user_data as { user_id?: string }).user_id = undefined;
    const nameless = organizationEvent('organization.created', orgId, org(orgId, 'Nameless'));
    (nameless.data as { id?: string }).id = 'not an id';
    for (const [event, message] of [
      [broken, /needs data.organization.id and data.public_user_data.user_id/],
      [nameless, /has no data.id \(the Clerk organization id\)/],
    ] as const) {
      const id = newEventId();
      const answer = await deliver(server, event, { id });
      assert.equal(answer.status, 400);
      assert.equal(answer.json.code, 'LOCO_WEBHOOK_INVALID');
      assert.match(answer.json.message, message);
      const { rows } = await db.query(sql`select 1 from public.inbound_webhook_events where event_id = ${id}`);
      assert.equal(rows.length, 0);
    }
    assert.equal(await tenantOf(orgId), undefined);
  });
});

describe(`just-in-time accounts with the active organisation (${testBackend()})`, () => {
  async function signIn(clerkId: string, claims: Record<string, unknown>) {
    const response = await fetch(`${server.url}/rest/v1/users?select=id,tenant_id`, {
      headers: { apikey: server.keys.anon, authorization: `Bearer ${await signer.token(clerkId, claims)}` },
    });
    assert.equal(response.status, 200);
    return ((await response.json()) as { id: string; tenant_id: string }[])[0];
  }

  test('the org_id claim (or o.id) of a mapped, active organisation picks the new account’s tenant', async () => {
    const orgId = unique('org');
    await deliver(server, organizationEvent('organization.created', orgId, org(orgId, 'Token Org')));
    const tenant = await tenantOf(orgId);
    const v1 = unique('user');
    assert.equal((await signIn(v1, { org_id: orgId, org_role: 'org:member' }))?.tenant_id, tenant?.id);
    const v2 = unique('user');
    assert.equal((await signIn(v2, { v: 2, o: { id: orgId, rol: 'member', slg: 'x' } }))?.tenant_id, tenant?.id);
  });

  test('an unknown or deleted organisation in the token: the default tenant', async () => {
    const unknown = unique('user');
    assert.equal((await signIn(unknown, { org_id: unique('org') }))?.tenant_id, (await defaultTenant()).id);
    const orgId = unique('org');
    await deliver(server, organizationEvent('organization.created', orgId, org(orgId, 'Gone Org')));
    await deliver(server, organizationDeleted(orgId));
    const late = unique('user');
    assert.equal((await signIn(late, { org_id: orgId }))?.tenant_id, (await defaultTenant()).id);
  });
});

describe(`LOCONOMY_CLERK_ORGANIZATION_TENANTS off (${testBackend()})`, () => {
  test('organisation events are recorded and ignored, and nothing changes; org_id claims are not read', async () => {
    const off = await startTestServer(db, { CLERK_WEBHOOK_SECRET: WEBHOOK_SECRET, CLERK_JWT_KEY: signer.pem });
    try {
      const count = async (q: ReturnType<typeof sql>) => (await db.query<{ n: number }>(q)).rows[0]?.n;
      const tenants = await count(sql`select count(*)::int as n from public.tenants`);
      const mappings = await count(sql`select count(*)::int as n from app.clerk_organizations`);
      const orgId = unique('org');
      const userId = unique('user');
      const o = org(orgId, 'Ignored Org');
      for (const event of [
        organizationEvent('organization.created', orgId, o),
        membershipEvent('organizationMembership.created', { organization: o, userId, role: 'org:admin', updatedAt: T }),
        organizationDeleted(orgId),
      ]) {
        const id = newEventId();
        const answer = await deliver(off, event, { id });
        assert.equal(answer.status, 200);
        assert.equal(answer.json.outcome, 'ignored');
        assert.match(answer.json.reason, /LOCONOMY_CLERK_ORGANIZATION_TENANTS is off/);
        const { rows } = await db.query<{ processed_at: Date | null }>(
          sql`select processed_at from public.inbound_webhook_events where event_id = ${id}`,
        );
        assert.ok(rows[0]?.processed_at, 'recorded');
      }
      assert.equal(await count(sql`select count(*)::int as n from public.tenants`), tenants);
      assert.equal(await count(sql`select count(*)::int as n from app.clerk_organizations`), mappings);
      assert.equal(await account(userId), undefined);

      // A mapped organisation named in a token is not read with the setting off.
      const mapped = unique('org');
      await deliver(server, organizationEvent('organization.created', mapped, org(mapped, 'Mapped')));
      const someone = unique('user');
      const response = await fetch(`${off.url}/rest/v1/users?select=tenant_id`, {
        headers: { apikey: off.keys.anon, authorization: `Bearer ${await signer.token(someone, { org_id: mapped })}` },
      });
      assert.equal(((await response.json()) as { tenant_id: string }[])[0]?.tenant_id, (await defaultTenant()).id);
    } finally {
      await off.close();
    }
  });

  test('a value that is not a boolean stops start-up', async () => {
    await assert.rejects(
      startTestServer(db, { LOCONOMY_CLERK_ORGANIZATION_TENANTS: 'maybe' }),
      /LOCONOMY_CLERK_ORGANIZATION_TENANTS must be true or false/,
    );
  });
});
