import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Queryable, Transaction } from '../../../src/db/database.js';
import { sql } from '../../../src/db/sql.js';
import {
  categoryId,
  createListing,
  createTenant,
  createUser,
  defaultTenantId,
  grantPermission,
  type ListingFixture,
  type UserFixture,
} from '../../helpers/fixtures.js';
import { asRole, asUser, getTestDatabase, type TestDatabase, testBackend } from '../../helpers/index.js';

/*
 * Policies and triggers of migration 0005 (catalog): categories, tags, listings, listing_tags
 * and listing_service_areas, acting as anon, an unrelated user, the owner and an admin.
 * Searching is covered by test/db/search.test.ts.
 */

let db: TestDatabase;
let tenant: string; // the default tenant
let otherTenant: string;
let customer: UserFixture; // an unrelated signed-in user
let provider: UserFixture;
let otherProvider: UserFixture;
let manager: UserFixture; // customer + catalog.manage
let moderator: UserFixture; // customer + listings.moderate
let admin: UserFixture; // role admin (holds catalog.manage and listings.moderate)
let foreignManager: UserFixture; // catalog.manage + listings.moderate in the other tenant
let foreignProvider: UserFixture;

before(async () => {
  db = await getTestDatabase();
  tenant = await defaultTenantId(db);
  otherTenant = await createTenant(db);
  customer = await createUser(db);
  provider = await createUser(db, { role: 'provider' });
  otherProvider = await createUser(db, { role: 'provider' });
  manager = await createUser(db);
  await grantPermission(db, manager, 'catalog.manage');
  moderator = await createUser(db);
  await grantPermission(db, moderator, 'listings.moderate');
  admin = await createUser(db, { role: 'admin' });
  foreignManager = await createUser(db, { tenantId: otherTenant });
  await grantPermission(db, foreignManager, 'catalog.manage');
  await grantPermission(db, foreignManager, 'listings.moderate');
  foreignProvider = await createUser(db, { role: 'provider', tenantId: otherTenant });
});
after(() => db?.dispose());

const uniq = () => randomUUID().slice(0, 8);
const asService = <T>(fn: (tx: Transaction) => Promise<T>) => asRole(db, 'service_role', { role: 'service_role' }, fn);

/** Leaves the API role for the rest of the transaction: what follows reads as the owner, past RLS. */
async function asOwnerFromNow(tx: Queryable): Promise<void> {
  await tx.query('reset role');
}

/** Expects a statement to fail, inside a savepoint so the transaction goes on. */
async function rejectsWithin(tx: Queryable, query: ReturnType<typeof sql>, expected: object): Promise<void> {
  await tx.query('savepoint expected_failure');
  await assert.rejects(tx.query(query), expected);
  await tx.query('rollback to savepoint expected_failure');
}

async function count(tx: Queryable, query: ReturnType<typeof sql>): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(sql`select count(*)::int as n from (${query}) q`);
  return rows[0]?.n ?? -1;
}

// --------------------------------------------------------------------------------------------
// categories
// --------------------------------------------------------------------------------------------

/** Inserts a category and returns its id (as whoever tx acts). */
async function addCategory(
  tx: Queryable,
  options: { slug: string; parentId?: string | null; tenantId?: string | null; isActive?: boolean },
): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(sql`
    insert into public.categories (tenant_id, parent_id, name, slug, is_active)
    values (${options.tenantId ?? null}, ${options.parentId ?? null}, ${options.slug}, ${options.slug},
            ${options.isActive ?? true})
    returning id`);
  return rows[0]?.id as string;
}

async function tree(tx: Queryable, ids: string[]) {
  const { rows } = await tx.query<{ slug: string; depth: number; path: string }>(sql`
    select slug, depth, path from public.categories where id = any(${ids}::uuid[]) order by depth, slug`);
  return rows;
}

describe(`categories (${testBackend()})`, () => {
  test('the seeded tree has depth and path maintained from the root', async () => {
    const { rows } = await db.query(sql`
      select slug, depth, path from public.categories
      where tenant_id is null and slug in ('home-services', 'plumbing') order by depth`);
    assert.deepEqual(rows, [
      { slug: 'home-services', depth: 0, path: 'home-services' },
      { slug: 'plumbing', depth: 1, path: 'home-services/plumbing' },
    ]);
  });

  test('a new category takes its depth and path from its parent', async () => {
    const s = uniq();
    await asService(async (tx) => {
      const root = await addCategory(tx, { slug: `root-${s}` });
      const child = await addCategory(tx, { slug: `child-${s}`, parentId: root });
      const grandchild = await addCategory(tx, { slug: `grand-${s}`, parentId: child });
      assert.deepEqual(await tree(tx, [root, child, grandchild]), [
        { slug: `root-${s}`, depth: 0, path: `root-${s}` },
        { slug: `child-${s}`, depth: 1, path: `root-${s}/child-${s}` },
        { slug: `grand-${s}`, depth: 2, path: `root-${s}/child-${s}/grand-${s}` },
      ]);
    });
  });

  test("changing a parent's slug rewrites the path of every descendant", async () => {
    const s = uniq();
    await asService(async (tx) => {
      const root = await addCategory(tx, { slug: `root-${s}` });
      const child = await addCategory(tx, { slug: `child-${s}`, parentId: root });
      const grandchild = await addCategory(tx, { slug: `grand-${s}`, parentId: child });
      await tx.query(sql`update public.categories set slug = ${`renamed-${s}`} where id = ${root}`);
      assert.deepEqual(await tree(tx, [root, child, grandchild]), [
        { slug: `renamed-${s}`, depth: 0, path: `renamed-${s}` },
        { slug: `child-${s}`, depth: 1, path: `renamed-${s}/child-${s}` },
        { slug: `grand-${s}`, depth: 2, path: `renamed-${s}/child-${s}/grand-${s}` },
      ]);
    });
  });

  test('moving a subtree under another parent updates the depth and path of the whole subtree', async () => {
    const s = uniq();
    await asService(async (tx) => {
      const a = await addCategory(tx, { slug: `a-${s}` });
      const b = await addCategory(tx, { slug: `b-${s}` });
      const child = await addCategory(tx, { slug: `child-${s}`, parentId: a });
      const grandchild = await addCategory(tx, { slug: `grand-${s}`, parentId: child });
      await tx.query(sql`update public.categories set parent_id = ${b} where id = ${child}`);
      assert.deepEqual(await tree(tx, [child, grandchild]), [
        { slug: `child-${s}`, depth: 1, path: `b-${s}/child-${s}` },
        { slug: `grand-${s}`, depth: 2, path: `b-${s}/child-${s}/grand-${s}` },
      ]);
      await tx.query(sql`update public.categories set parent_id = null where id = ${child}`);
      assert.deepEqual(await tree(tx, [child, grandchild]), [
        { slug: `child-${s}`, depth: 0, path: `child-${s}` },
        { slug: `grand-${s}`, depth: 1, path: `child-${s}/grand-${s}` },
      ]);
    });
  });

  test('a category cannot be its own parent', async () => {
    await asService(async (tx) => {
      const root = await addCategory(tx, { slug: `self-${uniq()}` });
      await assert.rejects(tx.query(sql`update public.categories set parent_id = id where id = ${root}`), {
        code: '23514',
        message: 'a category cannot be its own ancestor',
      });
    });
  });

  test('a category cannot be moved under one of its own descendants', async () => {
    const s = uniq();
    await asService(async (tx) => {
      const root = await addCategory(tx, { slug: `root-${s}` });
      const child = await addCategory(tx, { slug: `child-${s}`, parentId: root });
      const grandchild = await addCategory(tx, { slug: `grand-${s}`, parentId: child });
      for (const descendant of [grandchild, child]) {
        await rejectsWithin(tx, sql`update public.categories set parent_id = ${descendant} where id = ${root}`, {
          code: '23514',
          message: 'a category cannot be its own ancestor',
        });
      }
      assert.deepEqual(await tree(tx, [root]), [{ slug: `root-${s}`, depth: 0, path: `root-${s}` }]);
    });
  });

  test('a category whose parent does not exist is rejected', async () => {
    await asService(async (tx) => {
      await assert.rejects(addCategory(tx, { slug: `orphan-${uniq()}`, parentId: randomUUID() }), {
        code: '23503',
        message: /parent category .* does not exist/,
      });
    });
  });

  test("a category cannot hang under another tenant's category, nor a shared one under a tenant's", async () => {
    await asService(async (tx) => {
      const theirs = await addCategory(tx, { slug: `theirs-${uniq()}`, tenantId: otherTenant });
      for (const tenantId of [tenant, null]) {
        await rejectsWithin(
          tx,
          sql`insert into public.categories (tenant_id, parent_id, name, slug)
              values (${tenantId}, ${theirs}, 'Mine', ${`mine-${uniq()}`})`,
          { code: '23514', message: "a category's parent must be shared or belong to the same tenant" },
        );
      }
    });
  });

  test('a category with subcategories cannot be deleted', async () => {
    await assert.rejects(
      asService((tx) =>
        tx.query(sql`delete from public.categories where slug = 'home-services' and tenant_id is null`),
      ),
      (error: { code?: string; message?: string }) => {
        // restrict_violation since PostgreSQL 18 (PGlite), foreign_key_violation before.
        assert.ok(['23001', '23503'].includes(error.code ?? ''), error.code);
        assert.match(error.message ?? '', /foreign key constraint "categories_parent_id_fkey"/);
        return true;
      },
    );
  });

  test('anon sees active shared categories and its tenant’s own, not inactive ones nor another tenant’s', async () => {
    const s = uniq();
    const mine = await addCategory(db, { slug: `mine-${s}`, tenantId: tenant });
    const hidden = await addCategory(db, { slug: `hidden-${s}`, tenantId: tenant, isActive: false });
    const theirs = await addCategory(db, { slug: `theirs-${s}`, tenantId: otherTenant });
    const plumbing = await categoryId(db);
    const ids = [mine, hidden, theirs, plumbing];
    const visible = async (clerkId: string | null) =>
      asUser(db, clerkId, async (tx) => {
        const { rows } = await tx.query<{ slug: string }>(
          sql`select slug from public.categories where id = any(${ids}::uuid[]) order by slug`,
        );
        return rows.map((r) => r.slug);
      });
    assert.deepEqual(await visible(null), [`mine-${s}`, 'plumbing']);
    assert.deepEqual(await visible(customer.clerkId), [`mine-${s}`, 'plumbing']);
    // A catalog manager also sees the inactive categories of their own tenant, still not another tenant's.
    assert.deepEqual(await visible(manager.clerkId), [`hidden-${s}`, `mine-${s}`, 'plumbing']);
    // A member of the other tenant sees theirs and the shared ones.
    assert.deepEqual(await visible(foreignProvider.clerkId), ['plumbing', `theirs-${s}`]);
  });

  test('anon and customers cannot create, change or delete categories', async () => {
    await assert.rejects(
      asUser(db, null, (tx) => addCategory(tx, { slug: `anon-${uniq()}`, tenantId: tenant })),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => addCategory(tx, { slug: `cust-${uniq()}`, tenantId: tenant })),
      { code: '42501' },
    );
    const mine = await addCategory(db, { slug: `cust-target-${uniq()}`, tenantId: tenant });
    await asUser(db, customer.clerkId, async (tx) => {
      const updated = await tx.query(sql`update public.categories set name = 'Hacked' where id = ${mine}`);
      assert.equal(updated.rowCount, 0);
      const deleted = await tx.query(sql`delete from public.categories where id = ${mine}`);
      assert.equal(deleted.rowCount, 0);
      await asOwnerFromNow(tx);
      assert.equal(await count(tx, sql`select 1 from public.categories where id = ${mine} and name <> 'Hacked'`), 1);
    });
  });

  test('a catalog manager can create, rename, nest and delete categories of their own tenant', async () => {
    const s = uniq();
    await asUser(db, manager.clerkId, async (tx) => {
      const parent = await addCategory(tx, { slug: `m-parent-${s}`, tenantId: tenant });
      // Under a shared category too.
      const child = await addCategory(tx, { slug: `m-child-${s}`, tenantId: tenant, parentId: await categoryId(tx) });
      await tx.query(sql`update public.categories set parent_id = ${parent}, name = 'Renamed' where id = ${child}`);
      assert.deepEqual(await tree(tx, [child]), [
        { slug: `m-child-${s}`, depth: 1, path: `m-parent-${s}/m-child-${s}` },
      ]);
      const deleted = await tx.query(sql`delete from public.categories where id = ${child}`);
      assert.equal(deleted.rowCount, 1);
    });
  });

  test("a catalog manager cannot write shared categories nor another tenant's", async () => {
    const theirs = await addCategory(db, { slug: `foreign-${uniq()}`, tenantId: otherTenant });
    const plumbing = await categoryId(db);
    for (const who of [manager, admin]) {
      await assert.rejects(
        asUser(db, who.clerkId, (tx) => addCategory(tx, { slug: `shared-${uniq()}`, tenantId: null })),
        { code: '42501' },
      );
      await assert.rejects(
        asUser(db, who.clerkId, (tx) => addCategory(tx, { slug: `into-other-${uniq()}`, tenantId: otherTenant })),
        { code: '42501' },
      );
      await asUser(db, who.clerkId, async (tx) => {
        for (const id of [plumbing, theirs]) {
          const updated = await tx.query(sql`update public.categories set name = 'Hijacked' where id = ${id}`);
          assert.equal(updated.rowCount, 0);
          const deleted = await tx.query(sql`delete from public.categories where id = ${id}`);
          assert.equal(deleted.rowCount, 0);
        }
        await asOwnerFromNow(tx);
        assert.equal(
          await count(
            tx,
            sql`select 1 from public.categories where id in (${plumbing}, ${theirs}) and name <> 'Hijacked'`,
          ),
          2,
        );
      });
    }
  });

  test('a catalog manager cannot move their category into another tenant', async () => {
    const mine = await addCategory(db, { slug: `moving-${uniq()}`, tenantId: tenant });
    await assert.rejects(
      asUser(db, manager.clerkId, (tx) =>
        tx.query(sql`update public.categories set tenant_id = ${otherTenant} where id = ${mine}`),
      ),
      { code: '42501' },
    );
  });

  test('only service_role writes shared categories', async () => {
    await asService(async (tx) => {
      const id = await addCategory(tx, { slug: `svc-${uniq()}` });
      await tx.query(sql`update public.categories set name = 'Shared by service' where id = ${id}`);
      const { rows } = await tx.query(sql`select tenant_id, name, depth from public.categories where id = ${id}`);
      assert.deepEqual(rows, [{ tenant_id: null, name: 'Shared by service', depth: 0 }]);
    });
  });

  test('a slug is unique within a tenant; a tenant may reuse a shared slug', async () => {
    await assert.rejects(
      asService((tx) => addCategory(tx, { slug: 'plumbing' })),
      { code: '23505' },
    );
    await asUser(db, manager.clerkId, async (tx) => {
      await addCategory(tx, { slug: 'plumbing', tenantId: tenant });
      await assert.rejects(addCategory(tx, { slug: 'plumbing', tenantId: tenant }), { code: '23505' });
    });
  });
});

// --------------------------------------------------------------------------------------------
// tags and listing_tags
// --------------------------------------------------------------------------------------------

async function addTag(db_: Queryable, tenantId: string | null, slug = `tag-${uniq()}`): Promise<string> {
  const { rows } = await db_.query<{ id: string }>(sql`
    insert into public.tags (tenant_id, name, slug) values (${tenantId}, ${slug}, ${slug}) returning id`);
  return rows[0]?.id as string;
}

async function usageCount(tx: Queryable, tagId: string): Promise<number> {
  const { rows } = await tx.query<{ usage_count: number }>(
    sql`select usage_count from public.tags where id = ${tagId}`,
  );
  return rows[0]?.usage_count ?? -1;
}

describe(`tags and listing tags (${testBackend()})`, () => {
  test('usage_count counts the listings carrying a tag, up on tagging and down on untagging', async () => {
    const tag = await addTag(db, tenant);
    const first = await createListing(db, provider);
    const second = await createListing(db, provider);
    await asUser(db, provider.clerkId, async (tx) => {
      await tx.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${first.id}, ${tag})`);
      assert.equal(await usageCount(tx, tag), 1);
      await tx.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${second.id}, ${tag})`);
      assert.equal(await usageCount(tx, tag), 2);
      const untagged = await tx.query(sql`delete from public.listing_tags where listing_id = ${first.id}`);
      assert.equal(untagged.rowCount, 1);
      assert.equal(await usageCount(tx, tag), 1);
      await tx.query(sql`delete from public.listing_tags where listing_id = ${second.id}`);
      assert.equal(await usageCount(tx, tag), 0);
    });
  });

  test('deleting a listing for real lowers the usage_count of its tags', async () => {
    const tag = await addTag(db, null);
    const listing = await createListing(db, provider);
    await db.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${listing.id}, ${tag})`);
    assert.equal(await usageCount(db, tag), 1);
    await db.query(sql`delete from public.listings where id = ${listing.id}`);
    assert.equal(await usageCount(db, tag), 0);
  });

  test('a listing cannot carry the same tag twice', async () => {
    const tag = await addTag(db, tenant);
    const listing = await createListing(db, provider);
    await asUser(db, provider.clerkId, async (tx) => {
      await tx.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${listing.id}, ${tag})`);
      await assert.rejects(
        tx.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${listing.id}, ${tag})`),
        { code: '23505' },
      );
    });
  });

  test("a provider cannot tag a listing with another tenant's tag", async () => {
    const theirs = await addTag(db, otherTenant);
    const listing = await createListing(db, provider);
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) =>
        tx.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${listing.id}, ${theirs})`),
      ),
      { code: '23503', message: 'the tag does not exist in this marketplace' },
    );
    assert.equal(await usageCount(db, theirs), 0);
  });

  test('nobody but the provider tags or untags a listing', async () => {
    const tag = await addTag(db, tenant);
    const listing = await createListing(db, provider);
    for (const who of [otherProvider.clerkId, customer.clerkId, manager.clerkId, moderator.clerkId]) {
      await assert.rejects(
        asUser(db, who, (tx) =>
          tx.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${listing.id}, ${tag})`),
        ),
        { code: '42501' },
      );
    }
    await assert.rejects(
      asUser(db, null, (tx) =>
        tx.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${listing.id}, ${tag})`),
      ),
      { code: '42501' },
    );
    await db.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${listing.id}, ${tag})`);
    for (const who of [otherProvider.clerkId, customer.clerkId, moderator.clerkId]) {
      await asUser(db, who, async (tx) => {
        const deleted = await tx.query(sql`delete from public.listing_tags where listing_id = ${listing.id}`);
        assert.equal(deleted.rowCount, 0);
      });
    }
    assert.equal(await usageCount(db, tag), 1);
  });

  test('the tags of a listing are visible exactly when the listing is', async () => {
    const tag = await addTag(db, null);
    const active = await createListing(db, provider);
    const draft = await createListing(db, provider, { status: 'draft' });
    for (const l of [active, draft]) {
      await db.query(sql`insert into public.listing_tags (listing_id, tag_id) values (${l.id}, ${tag})`);
    }
    const seen = (clerkId: string | null) =>
      asUser(db, clerkId, async (tx) => {
        const { rows } = await tx.query<{ listing_id: string }>(
          sql`select listing_id from public.listing_tags where tag_id = ${tag}`,
        );
        return rows.map((r) => r.listing_id).sort();
      });
    assert.deepEqual(await seen(null), [active.id]);
    assert.deepEqual(await seen(customer.clerkId), [active.id]);
    assert.deepEqual(await seen(foreignProvider.clerkId), []);
    assert.deepEqual(await seen(provider.clerkId), [active.id, draft.id].sort());
  });

  test("anon reads shared tags and its tenant's, never another tenant's", async () => {
    const mine = await addTag(db, tenant);
    const theirs = await addTag(db, otherTenant);
    const shared = (await db.query<{ id: string }>(sql`select id from public.tags where slug = 'licensed'`)).rows[0]
      ?.id as string;
    const ids = [mine, theirs, shared];
    const seen = (clerkId: string | null) =>
      asUser(db, clerkId, async (tx) => {
        const { rows } = await tx.query<{ id: string }>(sql`select id from public.tags where id = any(${ids}::uuid[])`);
        return rows.map((r) => r.id).sort();
      });
    assert.deepEqual(await seen(null), [mine, shared].sort());
    assert.deepEqual(await seen(customer.clerkId), [mine, shared].sort());
    assert.deepEqual(await seen(foreignProvider.clerkId), [theirs, shared].sort());
  });

  test('a catalog manager manages the tags of their tenant, not shared ones nor the usage_count', async () => {
    const theirs = await addTag(db, otherTenant);
    const shared = (await db.query<{ id: string }>(sql`select id from public.tags where slug = 'weekend'`)).rows[0]
      ?.id as string;
    await asUser(db, manager.clerkId, async (tx) => {
      const mine = await addTag(tx, tenant);
      await tx.query(sql`update public.tags set name = 'Renamed' where id = ${mine}`);
      await assert.rejects(tx.query(sql`update public.tags set usage_count = 99 where id = ${mine}`), {
        code: '42501',
      });
    });
    await assert.rejects(
      asUser(db, manager.clerkId, (tx) =>
        tx.query(
          sql`insert into public.tags (tenant_id, name, slug, usage_count) values (${tenant}, 'x', ${`x-${uniq()}`}, 5)`,
        ),
      ),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, manager.clerkId, (tx) => addTag(tx, null)),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, manager.clerkId, (tx) => addTag(tx, otherTenant)),
      { code: '42501' },
    );
    await asUser(db, manager.clerkId, async (tx) => {
      for (const id of [shared, theirs]) {
        const updated = await tx.query(sql`update public.tags set name = 'Hijacked' where id = ${id}`);
        assert.equal(updated.rowCount, 0);
        const deleted = await tx.query(sql`delete from public.tags where id = ${id}`);
        assert.equal(deleted.rowCount, 0);
      }
    });
  });

  test('customers and anon cannot create tags', async () => {
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => addTag(tx, tenant)),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, null, (tx) => addTag(tx, tenant)),
      { code: '42501' },
    );
  });
});

// --------------------------------------------------------------------------------------------
// listings
// --------------------------------------------------------------------------------------------

/** A listing as a client would insert it (only columns clients may write). */
function insertListing(
  providerId: string,
  options: { slug?: string; status?: string; category?: string; title?: string } = {},
) {
  return sql`
    insert into public.listings (provider_id, category_id, title, description, slug, pricing_type,
                                 hourly_rate_cents, location, status)
    select ${providerId}, coalesce(${options.category ?? null}::uuid, c.id), ${options.title ?? 'Gutter cleaning'},
           'Gutters cleared and checked.', ${options.slug ?? `gutters-${uniq()}`}, 'hourly', 6000,
           public.geo_point(-73.98, 40.75), ${options.status ?? 'draft'}::public.listing_status
    from public.categories c where c.slug = 'handyman' and c.tenant_id is null
    returning id, tenant_id, status, published_at, search_vector is not null as has_vector`;
}

async function softDeleted(provider_: UserFixture): Promise<ListingFixture> {
  const listing = await createListing(db, provider_);
  await db.query(sql`update public.listings set deleted_at = now() where id = ${listing.id}`);
  return listing;
}

async function listingRow(id: string) {
  const { rows } = await db.query<{ status: string; deleted_at: Date | null; is_featured: boolean; title: string }>(
    sql`select status, deleted_at, is_featured, title from public.listings where id = ${id}`,
  );
  return rows[0];
}

describe(`listings (${testBackend()})`, () => {
  let active: ListingFixture;
  let draft: ListingFixture;
  let paused: ListingFixture;
  let inactive: ListingFixture;
  let suspended: ListingFixture;
  let deleted: ListingFixture;
  let foreign: ListingFixture;
  let all: string[];

  before(async () => {
    active = await createListing(db, provider);
    draft = await createListing(db, provider, { status: 'draft' });
    paused = await createListing(db, provider, { status: 'paused' });
    inactive = await createListing(db, provider, { status: 'inactive' });
    suspended = await createListing(db, provider, { status: 'suspended' });
    deleted = await softDeleted(provider);
    foreign = await createListing(db, foreignProvider);
    all = [active, draft, paused, inactive, suspended, deleted, foreign].map((l) => l.id);
  });

  const visible = (clerkId: string | null) =>
    asUser(db, clerkId, async (tx) => {
      const { rows } = await tx.query<{ id: string }>(
        sql`select id from public.listings where id = any(${all}::uuid[])`,
      );
      return rows.map((r) => r.id).sort();
    });

  test('anon sees only active, not deleted listings of the current tenant', async () => {
    assert.deepEqual(await visible(null), [active.id]);
  });

  test('an unrelated signed-in user sees only the active listings of their tenant', async () => {
    assert.deepEqual(await visible(customer.clerkId), [active.id]);
    assert.deepEqual(await visible(otherProvider.clerkId), [active.id]);
    assert.deepEqual(await visible(foreignProvider.clerkId), [foreign.id]);
  });

  test('an anonymous caller naming another tenant sees that tenant’s listings only', async () => {
    const seen = await asRole(db, 'anon', { role: 'anon', tenant_id: otherTenant }, async (tx) => {
      const { rows } = await tx.query<{ id: string }>(
        sql`select id from public.listings where id = any(${all}::uuid[])`,
      );
      return rows.map((r) => r.id);
    });
    assert.deepEqual(seen, [foreign.id]);
  });

  test('a provider sees all their own listings: drafts, paused, suspended and soft-deleted ones', async () => {
    assert.deepEqual(
      await visible(provider.clerkId),
      [active, draft, paused, inactive, suspended, deleted].map((l) => l.id).sort(),
    );
  });

  test('a moderator sees every listing of their tenant, not of another tenant', async () => {
    const own = [active, draft, paused, inactive, suspended, deleted].map((l) => l.id).sort();
    assert.deepEqual(await visible(moderator.clerkId), own);
    assert.deepEqual(await visible(admin.clerkId), own);
    assert.deepEqual(await visible(foreignManager.clerkId), [foreign.id]);
  });

  test('a provider creates their own listing: tenant inherited, search vector computed, published when active', async () => {
    await asUser(db, provider.clerkId, async (tx) => {
      const { rows } = await tx.query(insertListing(provider.id, { status: 'draft' }));
      assert.deepEqual(
        rows.map(({ id: _, ...r }) => r),
        [{ tenant_id: tenant, status: 'draft', published_at: null, has_vector: true }],
      );
      const live = (await tx.query<{ published_at: Date | null }>(insertListing(provider.id, { status: 'active' })))
        .rows[0];
      assert.ok(live?.published_at instanceof Date);
    });
  });

  test('service_role (the integrations) creates listings for any provider, even suspended ones', async () => {
    await asService(async (tx) => {
      const { rows } = await tx.query(insertListing(otherProvider.id, { status: 'suspended' }));
      assert.deepEqual(
        rows.map(({ id: _, published_at: __, ...r }) => r),
        [{ tenant_id: tenant, status: 'suspended', has_vector: true }],
      );
    });
  });

  test('publishing a draft stamps published_at', async () => {
    const listing = await createListing(db, provider, { status: 'draft' });
    await asUser(db, provider.clerkId, async (tx) => {
      await tx.query(sql`update public.listings set status = 'active' where id = ${listing.id}`);
      const { rows } = await tx.query<{ published: boolean }>(
        sql`select published_at is not null as published from public.listings where id = ${listing.id}`,
      );
      assert.deepEqual(rows, [{ published: true }]);
    });
  });

  test('a customer cannot create a listing', async () => {
    await assert.rejects(
      asUser(db, customer.clerkId, (tx) => tx.query(insertListing(customer.id))),
      { code: '42501' },
    );
  });

  test('anon cannot create a listing', async () => {
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(insertListing(provider.id))),
      { code: '42501' },
    );
  });

  test('a provider cannot create a listing for someone else', async () => {
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) => tx.query(insertListing(otherProvider.id))),
      { code: '42501' },
    );
  });

  test('a provider cannot choose the tenant of a listing', async () => {
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) =>
        tx.query(sql`
          insert into public.listings (tenant_id, provider_id, category_id, title, description, slug, hourly_rate_cents, location)
          values (${otherTenant}, ${provider.id}, ${draft.id}, 'x', 'x', ${`x-${uniq()}`}, 1, public.geo_point(0, 0))`),
      ),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) =>
        tx.query(sql`update public.listings set tenant_id = ${otherTenant} where id = ${draft.id}`),
      ),
      { code: '42501' },
    );
  });

  test("a provider cannot file a listing under another tenant's or an inactive category", async () => {
    const theirs = await addCategory(db, { slug: `theirs-${uniq()}`, tenantId: otherTenant });
    const retired = await addCategory(db, { slug: `retired-${uniq()}`, tenantId: tenant, isActive: false });
    for (const category of [theirs, retired]) {
      await assert.rejects(
        asUser(db, provider.clerkId, (tx) => tx.query(insertListing(provider.id, { category }))),
        { code: '23503', message: 'the category does not exist in this marketplace' },
      );
      await assert.rejects(
        asUser(db, provider.clerkId, (tx) =>
          tx.query(sql`update public.listings set category_id = ${category} where id = ${draft.id}`),
        ),
        { code: '23503', message: 'the category does not exist in this marketplace' },
      );
    }
  });

  for (const [column, value] of [
    ['is_featured', true],
    ['view_count', 1000],
    ['rating_average', 5],
    ['booking_count', 50],
    ['review_count', 50],
    ['published_at', '2020-01-01T00:00:00Z'],
  ] as const) {
    test(`a provider cannot set ${column} on their listing`, async () => {
      const category = await categoryId(db);
      await assert.rejects(
        asUser(db, provider.clerkId, (tx) =>
          tx.query(sql`update public.listings set ${sql.ident(column)} = ${value} where id = ${active.id}`),
        ),
        { code: '42501' },
      );
      await assert.rejects(
        asUser(db, provider.clerkId, (tx) =>
          tx.query(sql`
            insert into public.listings (provider_id, category_id, title, description, slug, hourly_rate_cents,
                                         location, ${sql.ident(column)})
            values (${provider.id}, ${category}, 'Escalation', 'x', ${`esc-${uniq()}`}, 1,
                    public.geo_point(0, 0), ${value})`),
        ),
        { code: '42501' },
      );
    });
  }

  test('a provider edits their own draft, not another provider’s listing', async () => {
    await asUser(db, provider.clerkId, async (tx) => {
      const updated = await tx.query(sql`update public.listings set title = 'Better gutters' where id = ${draft.id}`);
      assert.equal(updated.rowCount, 1);
    });
    for (const who of [otherProvider.clerkId, customer.clerkId, foreignManager.clerkId]) {
      await asUser(db, who, async (tx) => {
        const updated = await tx.query(
          sql`update public.listings set title = 'Stolen' where id = any(${[active.id, draft.id]}::uuid[])`,
        );
        assert.equal(updated.rowCount, 0);
      });
    }
    assert.equal((await listingRow(active.id))?.title, 'Leak repair and pipe fitting');
  });

  test('a provider cannot hand their listing to another provider', async () => {
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) =>
        tx.query(sql`update public.listings set provider_id = ${otherProvider.id} where id = ${draft.id}`),
      ),
      { code: '42501' },
    );
  });

  test('a provider cannot suspend their listing nor create it suspended', async () => {
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) =>
        tx.query(sql`update public.listings set status = 'suspended' where id = ${active.id}`),
      ),
      { code: '42501', message: 'only a moderator can suspend a listing or lift a suspension' },
    );
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) => tx.query(insertListing(provider.id, { status: 'suspended' }))),
      { code: '42501', message: 'only a moderator can suspend a listing or lift a suspension' },
    );
  });

  test('a provider cannot lift the suspension of their listing', async () => {
    for (const status of ['active', 'draft', 'paused']) {
      await assert.rejects(
        asUser(db, provider.clerkId, (tx) =>
          tx.query(
            sql`update public.listings set status = ${status}::public.listing_status where id = ${suspended.id}`,
          ),
        ),
        { code: '42501', message: 'only a moderator can suspend a listing or lift a suspension' },
      );
    }
    assert.equal((await listingRow(suspended.id))?.status, 'suspended');
  });

  test('a provider can still edit the text of a suspended listing, which stays suspended', async () => {
    await asUser(db, provider.clerkId, async (tx) => {
      const updated = await tx.query(
        sql`update public.listings set description = 'Now with proper licences.' where id = ${suspended.id}`,
      );
      assert.equal(updated.rowCount, 1);
      const { rows } = await tx.query(sql`select status from public.listings where id = ${suspended.id}`);
      assert.deepEqual(rows, [{ status: 'suspended' }]);
    });
  });

  test('a moderator suspends, reinstates and features a listing through moderate_listing()', async () => {
    const listing = await createListing(db, provider);
    for (const who of [moderator, admin]) {
      await asUser(db, who.clerkId, async (tx) => {
        const { rows } = await tx.query(sql`
          select status, is_featured
          from public.moderate_listing(${listing.id}, 'suspended', null, 'Fake licence')`);
        assert.deepEqual(rows, [{ status: 'suspended', is_featured: false }]);
        const back = await tx.query(
          sql`select status, is_featured from public.moderate_listing(${listing.id}, 'active', true)`,
        );
        assert.deepEqual(back.rows, [{ status: 'active', is_featured: true }]);
        await asOwnerFromNow(tx);
        const { rows: audit } = await tx.query(sql`
          select actor_id, metadata ->> 'reason' as reason from public.audit_logs
          where resource_type = 'listings' and resource_id = ${listing.id} and action = 'update'
            and new_values ->> 'status' = 'suspended'`);
        assert.deepEqual(audit, [{ actor_id: who.id, reason: 'Fake licence' }]);
      });
    }
  });

  test('a moderator may also suspend and reinstate by updating the status directly, but not feature', async () => {
    await asUser(db, moderator.clerkId, async (tx) => {
      await tx.query(sql`update public.listings set status = 'suspended' where id = ${active.id}`);
      await tx.query(sql`update public.listings set status = 'active' where id = ${active.id}`);
      await assert.rejects(tx.query(sql`update public.listings set is_featured = true where id = ${active.id}`), {
        code: '42501',
      });
    });
  });

  test('moderate_listing() refuses callers without listings.moderate', async () => {
    for (const who of [customer, provider]) {
      await assert.rejects(
        asUser(db, who.clerkId, (tx) => tx.query(sql`select public.moderate_listing(${active.id}, 'suspended')`)),
        { code: '42501', message: 'permission denied: listings.moderate is required' },
      );
    }
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`select public.moderate_listing(${active.id}, 'suspended')`)),
      { code: '42501' },
    );
    assert.equal((await listingRow(active.id))?.status, 'active');
  });

  test("a moderator cannot moderate another tenant's listing", async () => {
    await assert.rejects(
      asUser(db, foreignManager.clerkId, (tx) =>
        tx.query(sql`select public.moderate_listing(${active.id}, 'suspended')`),
      ),
      { code: 'P0002', message: `listing ${active.id} not found in your tenant` },
    );
  });

  test('a client DELETE soft-deletes: the row stays with deleted_at set and disappears for everyone else', async () => {
    const listing = await createListing(db, provider);
    await asUser(
      db,
      provider.clerkId,
      async (tx) => {
        await tx.query(sql`delete from public.listings where id = ${listing.id}`);
        const { rows } = await tx.query<{ gone: boolean }>(
          sql`select deleted_at is not null as gone from public.listings where id = ${listing.id}`,
        );
        assert.deepEqual(rows, [{ gone: true }]); // the provider still sees it, marked deleted
      },
      { commit: true },
    );
    const row = await listingRow(listing.id);
    assert.ok(row?.deleted_at instanceof Date);
    assert.equal(row?.status, 'active');
    await asUser(db, null, async (tx) => {
      assert.equal(await count(tx, sql`select 1 from public.listings where id = ${listing.id}`), 0);
    });
    // Once deleted, the provider can no longer edit it.
    await asUser(db, provider.clerkId, async (tx) => {
      const updated = await tx.query(sql`update public.listings set deleted_at = null where id = ${listing.id}`);
      assert.equal(updated.rowCount, 0);
    });
  });

  test("nobody else can delete a provider's listing", async () => {
    const listing = await createListing(db, provider);
    for (const who of [null, customer.clerkId, otherProvider.clerkId, moderator.clerkId, foreignManager.clerkId]) {
      await asUser(db, who, async (tx) => {
        const deleting = sql`delete from public.listings where id = ${listing.id}`;
        if (who === null)
          await rejectsWithin(tx, deleting, { code: '42501' }); // anon holds no DELETE privilege
        else assert.equal((await tx.query(deleting)).rowCount, 0);
        await asOwnerFromNow(tx);
        assert.equal(
          await count(tx, sql`select 1 from public.listings where id = ${listing.id} and deleted_at is null`),
          1,
        );
      });
    }
  });

  test('the owner connection (trusted) deletes a listing for real', async () => {
    const listing = await createListing(db, provider);
    await db.query(sql`delete from public.listings where id = ${listing.id}`);
    assert.equal(await count(db, sql`select 1 from public.listings where id = ${listing.id}`), 0);
  });

  test('a slug is unique per tenant among listings that are not deleted', async () => {
    const slug = `unique-${uniq()}`;
    await db.query(insertListing(provider.id, { slug }));
    await assert.rejects(
      asUser(db, otherProvider.clerkId, (tx) => tx.query(insertListing(otherProvider.id, { slug }))),
      { code: '23505' },
    );
    // Another tenant may use it.
    await asUser(db, foreignProvider.clerkId, (tx) => tx.query(insertListing(foreignProvider.id, { slug })));
    // Once the first is soft-deleted, the slug is free again.
    await db.query(sql`update public.listings set deleted_at = now() where slug = ${slug} and tenant_id = ${tenant}`);
    await asUser(db, otherProvider.clerkId, async (tx) => {
      const { rows } = await tx.query(insertListing(otherProvider.id, { slug }));
      assert.equal(rows.length, 1);
    });
  });

  test('record_listing_view() counts views of active listings only', async () => {
    const listing = await createListing(db, provider);
    const views = async (id: string) =>
      Number(
        (await db.query<{ v: string }>(sql`select view_count as v from public.listings where id = ${id}`)).rows[0]?.v,
      );
    await asUser(db, null, (tx) => tx.query(sql`select public.record_listing_view(${listing.id})`), { commit: true });
    await asUser(db, customer.clerkId, (tx) => tx.query(sql`select public.record_listing_view(${listing.id})`), {
      commit: true,
    });
    assert.equal(await views(listing.id), 2);
    const hidden = await createListing(db, provider, { status: 'draft' });
    await asUser(db, null, (tx) => tx.query(sql`select public.record_listing_view(${hidden.id})`), { commit: true });
    await asUser(db, foreignProvider.clerkId, (tx) => tx.query(sql`select public.record_listing_view(${listing.id})`), {
      commit: true,
    });
    assert.equal(await views(hidden.id), 0);
    assert.equal(await views(listing.id), 2);
  });
});

// --------------------------------------------------------------------------------------------
// listing_service_areas
// --------------------------------------------------------------------------------------------

const SQUARE = 'MULTIPOLYGON(((-74.02 40.70, -73.96 40.70, -73.96 40.76, -74.02 40.76, -74.02 40.70)))';

function insertArea(listingId: string, name = 'Lower Manhattan') {
  return sql`
    insert into public.listing_service_areas (listing_id, name, area)
    values (${listingId}, ${name}, extensions.st_geogfromtext(${SQUARE}))
    returning tenant_id`;
}

describe(`listing service areas (${testBackend()})`, () => {
  test('the provider adds a service area; it inherits the listing’s tenant', async () => {
    const listing = await createListing(db, provider);
    await asUser(db, provider.clerkId, async (tx) => {
      const { rows } = await tx.query(insertArea(listing.id));
      assert.deepEqual(rows, [{ tenant_id: tenant }]);
    });
  });

  test('a provider cannot forge the tenant of a service area', async () => {
    const listing = await createListing(db, provider);
    await assert.rejects(
      asUser(db, provider.clerkId, (tx) =>
        tx.query(sql`
          insert into public.listing_service_areas (listing_id, tenant_id, area)
          values (${listing.id}, ${otherTenant}, extensions.st_geogfromtext(${SQUARE}))`),
      ),
      { code: '42501' },
    );
  });

  test("nobody else adds, changes or removes a listing's service areas", async () => {
    const listing = await createListing(db, provider);
    for (const who of [otherProvider.clerkId, customer.clerkId, moderator.clerkId, admin.clerkId]) {
      await assert.rejects(
        asUser(db, who, (tx) => tx.query(insertArea(listing.id))),
        { code: '42501' },
      );
    }
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(insertArea(listing.id))),
      { code: '42501' },
    );
    await db.query(insertArea(listing.id, 'Original'));
    for (const who of [otherProvider.clerkId, customer.clerkId, moderator.clerkId]) {
      await asUser(db, who, async (tx) => {
        const updated = await tx.query(
          sql`update public.listing_service_areas set name = 'Hijacked' where listing_id = ${listing.id}`,
        );
        assert.equal(updated.rowCount, 0);
        const deleted = await tx.query(sql`delete from public.listing_service_areas where listing_id = ${listing.id}`);
        assert.equal(deleted.rowCount, 0);
      });
    }
    await asUser(db, provider.clerkId, async (tx) => {
      const updated = await tx.query(
        sql`update public.listing_service_areas set name = 'Renamed' where listing_id = ${listing.id}`,
      );
      assert.equal(updated.rowCount, 1);
      const deleted = await tx.query(sql`delete from public.listing_service_areas where listing_id = ${listing.id}`);
      assert.equal(deleted.rowCount, 1);
    });
    const { rows } = await db.query(
      sql`select name from public.listing_service_areas where listing_id = ${listing.id}`,
    );
    assert.deepEqual(rows, [{ name: 'Original' }]);
  });

  test('service areas are visible exactly when their listing is', async () => {
    const live = await createListing(db, provider);
    const draft = await createListing(db, provider, { status: 'draft' });
    const gone = await softDeleted(provider);
    const ids = [live.id, draft.id, gone.id];
    for (const id of ids) await db.query(insertArea(id));
    const seen = (clerkId: string | null) =>
      asUser(db, clerkId, async (tx) => {
        const { rows } = await tx.query<{ listing_id: string }>(
          sql`select listing_id from public.listing_service_areas where listing_id = any(${ids}::uuid[])`,
        );
        return rows.map((r) => r.listing_id).sort();
      });
    assert.deepEqual(await seen(null), [live.id]);
    assert.deepEqual(await seen(customer.clerkId), [live.id]);
    assert.deepEqual(await seen(foreignProvider.clerkId), []);
    assert.deepEqual(await seen(provider.clerkId), [...ids].sort());
  });
});
