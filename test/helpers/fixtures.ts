import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../../src/db/database.js';
import { sql } from '../../src/db/sql.js';

/*
 * Marketplace fixtures for policy and trigger tests. They write as the database owner (the
 * test connection), which bypasses RLS and counts as trusted in the triggers, the way the
 * service_role integrations write. Every fixture takes unique names so tests never collide.
 */

type Db = Database | Queryable;

export interface UserFixture {
  readonly id: string;
  readonly clerkId: string;
  readonly tenantId: string;
  readonly role: string;
}

const uniq = () => randomUUID().slice(0, 8);

/** The one row a fixture query returns (fails loudly when there is none). */
function only<T>(rows: T[]): T {
  const row = rows[0];
  if (row === undefined) throw new Error('fixture query returned no row');
  return row;
}

/** The default tenant the reference seed creates (what anonymous callers browse). */
export async function defaultTenantId(db: Db): Promise<string> {
  const { rows } = await db.query<{ id: string }>(sql`select id from public.tenants where is_default`);
  return only(rows).id;
}

/** A second, non-default tenant for isolation tests. */
export async function createTenant(db: Db, name = `Other ${uniq()}`): Promise<string> {
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.tenants (name, slug) values (${name}, ${`t-${uniq()}`}) returning id`);
  return only(rows).id;
}

/** An active user (role customer unless given) with a profile, in the default tenant unless given. */
export async function createUser(
  db: Db,
  options: { role?: string; tenantId?: string; timeZone?: string; status?: string } = {},
): Promise<UserFixture> {
  const tenantId = options.tenantId ?? (await defaultTenantId(db));
  const clerkId = `user_${uniq()}`;
  const role = options.role ?? 'customer';
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.users (tenant_id, clerk_id, email, role, status, first_name, last_name, time_zone)
    values (${tenantId}, ${clerkId}, ${`${clerkId}@example.com`}, ${role}::public.user_role,
            ${options.status ?? 'active'}::public.user_status, 'Test', ${clerkId}, ${options.timeZone ?? 'UTC'})
    returning id`);
  return { id: only(rows).id, clerkId, tenantId, role };
}

/** A category id from the seeded shared tree (default: plumbing). */
export async function categoryId(db: Db, slug = 'plumbing'): Promise<string> {
  const { rows } = await db.query<{ id: string }>(sql`
    select id from public.categories where slug = ${slug} and tenant_id is null`);
  return only(rows).id;
}

export interface ListingFixture {
  readonly id: string;
  readonly providerId: string;
  readonly tenantId: string;
}

/** An hourly listing near a point (default: Manhattan), active unless told otherwise. */
export async function createListing(
  db: Db,
  provider: UserFixture,
  options: {
    status?: string;
    title?: string;
    description?: string;
    lon?: number;
    lat?: number;
    hourlyRateCents?: number;
    language?: string;
    keywords?: string[];
    minNoticeMinutes?: number;
  } = {},
): Promise<ListingFixture> {
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.listings (provider_id, category_id, title, description, slug, language, pricing_type,
                                 hourly_rate_cents, location, service_radius_m, status, keywords, min_notice_minutes)
    values (${provider.id}, ${await categoryId(db)}, ${options.title ?? 'Leak repair and pipe fitting'},
            ${options.description ?? 'Licensed plumber for leaks, clogs and new fittings.'}, ${`listing-${uniq()}`},
            ${options.language ?? 'en'}, 'hourly', ${options.hourlyRateCents ?? 8000},
            public.geo_point(${options.lon ?? -73.99}, ${options.lat ?? 40.73}), 15000,
            ${options.status ?? 'active'}::public.listing_status, ${options.keywords ?? []},
            ${options.minNoticeMinutes ?? 0})
    returning id`);
  return { id: only(rows).id, providerId: provider.id, tenantId: provider.tenantId };
}

/**
 * A booking of a listing by a customer, inserted directly (as the integrations would), one hour
 * long starting `startsInHours` from now; status as given (history and counters via triggers).
 */
export async function createBooking(
  db: Db,
  listing: ListingFixture,
  customer: UserFixture,
  options: { status?: string; startsInHours?: number; durationMinutes?: number } = {},
): Promise<{ id: string }> {
  const hours = options.startsInHours ?? 48 + Math.floor(Math.random() * 10_000);
  const minutes = options.durationMinutes ?? 60;
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.bookings (listing_id, provider_id, customer_id, tenant_id, starts_at, ends_at, time_zone,
                                 service_title, currency, base_price_cents, service_fee_cents, tax_cents,
                                 discount_cents, total_cents, platform_fee_cents, status)
    values (${listing.id}, ${listing.providerId}, ${customer.id}, ${listing.tenantId},
            now() + make_interval(hours => ${hours}), now() + make_interval(hours => ${hours}, mins => ${minutes}),
            'UTC', 'Fixture booking', 'USD', 8000, 400, 0, 0, 8400, 800,
            ${options.status ?? 'pending'}::public.booking_status)
    returning id`);
  return { id: only(rows).id };
}

/** Gives a user one permission through a per-user override. */
export async function grantPermission(db: Db, user: UserFixture, permission: string): Promise<void> {
  await db.query(sql`
    insert into public.user_permissions (user_id, permission_id, granted)
    select ${user.id}, id, true from public.permissions where name = ${permission}`);
}
