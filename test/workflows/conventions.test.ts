import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import pg from 'pg';
import { applySessionDefaults, openPglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import { prepareDatabase } from '../../src/db/prepare.js';
import { sql } from '../../src/db/sql.js';
import {
  categoryId,
  createBooking,
  createListing,
  createUser,
  grantPermission,
  type ListingFixture,
  type UserFixture,
} from '../helpers/fixtures.js';
import {
  createTestDatabaseLocation,
  getTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
  testLogger,
} from '../helpers/index.js';

/*
 * What a newcomer hit with supabase-js and only the docs (issue 8, item 9), through REST with
 * real tokens: writes that take the caller from the token, `me()`, latitude/longitude beside
 * every location, the extension schema on the search_path, and errors that name the fix.
 */

let db: TestDatabase;
let server: TestServer;
let provider: UserFixture;
let customer: UserFixture;
let listing: ListingFixture;
let asProvider: SupabaseClient;
let asCustomer: SupabaseClient;
let anon: SupabaseClient;
const uniq = () => randomUUID().slice(0, 8);

before(async () => {
  db = await getTestDatabase();
  provider = await createUser(db, { role: 'provider' });
  customer = await createUser(db);
  listing = await createListing(db, provider, { lon: -73.99, lat: 40.73 });
  server = await startTestServer(db);
  asProvider = server.client({ token: await server.tokenFor(provider.clerkId) });
  asCustomer = server.client({ token: await server.tokenFor(customer.clerkId) });
  anon = server.client();
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

async function count(table: string, column: string, value: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    sql`select count(*)::int as n from ${sql.ident('public', table)} where ${sql.ident(column)}::text = ${value}`,
  );
  return rows[0]?.n ?? -1;
}

describe(`Writes take the caller from the token (${testBackend()})`, () => {
  test('sign-up sends only its own details: clerk_id and tenant come from the token', async () => {
    const sub = `user_${uniq()}`;
    const client = server.client({ token: await server.tokenFor(sub) });
    const { data, error, status } = await client
      .from('users')
      .insert({ email: `${sub}@example.com`, first_name: 'New' })
      .select('clerk_id, tenant_id, role')
      .single();
    assert.equal(error, null);
    assert.equal(status, 201);
    assert.deepEqual(data, { clerk_id: sub, tenant_id: provider.tenantId, role: 'customer' });
  });

  test('a provider creates a listing without provider_id', async () => {
    const { data, error } = await asProvider
      .from('listings')
      .insert({
        category_id: await categoryId(db),
        title: 'Caller from the token',
        description: 'Written without provider_id',
        slug: `conv-${uniq()}`,
        pricing_type: 'hourly',
        hourly_rate_cents: 5000,
        location: 'POINT(-73.99 40.73)',
      })
      .select('provider_id, latitude, longitude')
      .single();
    assert.equal(error, null);
    assert.deepEqual(data, { provider_id: provider.id, latitude: 40.73, longitude: -73.99 });
  });

  test('a customer adds an address without user_id, and gets its coordinates back', async () => {
    const { data, error } = await asCustomer
      .from('user_addresses')
      .insert({ line1: '1 Main St', city: 'New York', country_code: 'US', location: 'POINT(-74.0 40.7)' })
      .select('user_id, latitude, longitude')
      .single();
    assert.equal(error, null);
    assert.deepEqual(data, { user_id: customer.id, latitude: 40.7, longitude: -74 });
  });

  test('a provider sets a weekly window and a day off without provider_id', async () => {
    const week = await asProvider
      .from('provider_availability')
      .insert({ day_of_week: 1, start_time: '09:00', end_time: '17:00', time_zone: 'UTC' })
      .select('provider_id')
      .single();
    assert.equal(week.error, null);
    assert.equal(week.data?.provider_id, provider.id);
    const off = await asProvider
      .from('availability_overrides')
      .insert({ date: '2031-07-04', kind: 'blocked' })
      .select('provider_id')
      .single();
    assert.equal(off.error, null);
    assert.equal(off.data?.provider_id, provider.id);
  });

  test('a participant sends a message without sender_id', async () => {
    const { rows } = await db.query<{ id: string }>(sql`
      insert into public.conversations (tenant_id, created_by) values (${provider.tenantId}, ${customer.id}) returning id`);
    const conversation = rows[0]?.id as string;
    await db.query(sql`
      insert into public.conversation_participants (conversation_id, user_id)
      values (${conversation}, ${customer.id}), (${conversation}, ${provider.id})`);
    const { data, error } = await asCustomer
      .from('messages')
      .insert({ conversation_id: conversation, content: 'Is Tuesday fine?' })
      .select('sender_id')
      .single();
    assert.equal(error, null);
    assert.equal(data?.sender_id, customer.id);
  });

  test('another user votes on a published review without user_id', async () => {
    // Reviews themselves are written through submit_review() (0022), which takes the caller too.
    const booking = await createBooking(db, listing, customer, { status: 'completed', startsInHours: -48 });
    const { rows } = await db.query<{ id: string }>(sql`
      insert into public.reviews (booking_id, reviewer_id, rating, comment)
      values (${booking.id}, ${customer.id}, 5, 'Great') returning id`);
    const review = rows[0]?.id as string;
    await db.query(sql`update public.reviews set is_public = true, published_at = now() where id = ${review}`);
    const voter = await createUser(db);
    const asVoter = server.client({ token: await server.tokenFor(voter.clerkId) });
    const vote = await asVoter
      .from('review_votes')
      .insert({ review_id: review, is_helpful: true })
      .select('user_id')
      .single();
    assert.equal(vote.error, null);
    assert.equal(vote.data?.user_id, voter.id);
  });

  test('a user creates a referral code and registers an upload without user_id', async () => {
    const { rows } = await db.query<{ id: string }>(sql`select id from public.referral_programs limit 1`);
    const code = await asCustomer.from('referral_codes').insert({ program_id: rows[0]?.id }).select('user_id').single();
    assert.equal(code.error, null);
    assert.equal(code.data?.user_id, customer.id);
    const file = await asCustomer
      .from('file_uploads')
      .insert({ storage_path: `conv/${uniq()}.png`, original_name: 'a.png', mime_type: 'image/png', size_bytes: 10 })
      .select('user_id')
      .single();
    assert.equal(file.error, null);
    assert.equal(file.data?.user_id, customer.id);
  });

  test('a catalog manager adds a category without tenant_id', async () => {
    const manager = await createUser(db, { role: 'admin' });
    await grantPermission(db, manager, 'catalog.manage');
    const client = server.client({ token: await server.tokenFor(manager.clerkId) });
    const { data, error } = await client
      .from('categories')
      .insert({ name: 'Conventions', slug: `conv-${uniq()}` })
      .select('tenant_id')
      .single();
    assert.equal(error, null);
    assert.equal(data?.tenant_id, manager.tenantId);
  });

  test('naming someone else is still refused by RLS, and nothing is written', async () => {
    const slug = `conv-${uniq()}`;
    const { error, status } = await asCustomer.from('user_addresses').insert({
      user_id: provider.id,
      line1: slug,
      city: 'New York',
      country_code: 'US',
    });
    assert.equal(status, 403);
    assert.equal(error?.code, '42501');
    assert.equal(await count('user_addresses', 'line1', slug), 0);
  });

  test('every column naming a user that clients may insert has a default (or is on the list of exceptions)', async () => {
    // Columns a client sets to someone else on purpose.
    const exceptions = new Set(['user_feature_flags.user_id']);
    const { rows } = await db.query<{ col: string; has_default: boolean }>(sql`
      select c.conrelid::regclass::text || '.' || a.attname as col, a.atthasdef as has_default
        from pg_constraint c
        cross join lateral unnest(c.conkey, c.confkey) as k(attnum, refnum)
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
        join pg_attribute r on r.attrelid = c.confrelid and r.attnum = k.refnum
       where c.contype = 'f'
         and c.confrelid in ('public.users'::regclass, 'public.user_profiles'::regclass)
         and r.attname in ('id', 'user_id')
         and c.connamespace = 'public'::regnamespace
         and has_column_privilege('authenticated', c.conrelid, a.attnum, 'INSERT')
       order by 1`);
    const missing = rows.filter((r) => !r.has_default && !exceptions.has(r.col)).map((r) => r.col);
    assert.deepEqual(missing, [], 'owner columns without a default: default them to app.current_user_id()');
    assert.ok(rows.length >= 9, `found ${rows.length} owner columns`);
  });
});

describe(`me() (${testBackend()})`, () => {
  test('a provider gets id, role, tenant, profile and provider status in one call', async () => {
    await db.query(sql`update public.user_profiles set location = public.geo_point(-73.98, 40.75)
                        where user_id = ${provider.id}`);
    const { data, error, status } = await asProvider.rpc('me');
    assert.equal(error, null);
    assert.equal(status, 200);
    assert.equal(data.id, provider.id);
    assert.equal(data.role, 'provider');
    assert.equal(data.tenant.id, provider.tenantId);
    assert.equal(data.profile.latitude, 40.75);
    assert.equal(data.profile.longitude, -73.98);
    assert.ok(data.provider.listings >= 1);
    assert.equal(typeof data.provider.schedule_set, 'boolean');
    assert.equal(data.provider.verification_status, 'pending');
    assert.ok(Array.isArray(data.permissions));
  });

  test('a customer has no provider status', async () => {
    const { data, error } = await asCustomer.rpc('me');
    assert.equal(error, null);
    assert.equal(data.id, customer.id);
    assert.equal(data.provider, null);
  });

  test('signed out: 401 that says to sign in', async () => {
    const { error, status } = await anon.rpc('me');
    assert.equal(status, 401);
    assert.equal(error?.code, '42501');
    assert.match(error?.message ?? '', /sign in/i);
  });

  test('a verified token without an account: 403 that says so and what to do', async () => {
    const client = server.client({ token: await server.tokenFor(`user_${uniq()}`) });
    const { error, status } = await client.rpc('me');
    assert.equal(status, 403);
    assert.match(`${error?.message} ${error?.hint}`, /account/i);
  });
});

describe(`Locations come back usable (${testBackend()})`, () => {
  test('listings carry latitude and longitude in select=*', async () => {
    const { data, error } = await anon.from('listings').select('*').eq('id', listing.id).single();
    assert.equal(error, null);
    assert.equal(data.latitude, 40.73);
    assert.equal(data.longitude, -73.99);
  });

  test('cities, public profiles and the caller\u2019s addresses carry them too', async () => {
    const cities = await anon.from('cities').select('name, latitude, longitude').limit(1).single();
    assert.equal(cities.error, null);
    assert.equal(typeof cities.data?.latitude, 'number');
    assert.equal(typeof cities.data?.longitude, 'number');
    await db.query(sql`update public.user_profiles set location = public.geo_point(2.35, 48.85), is_public = true
                        where user_id = ${provider.id}`);
    const profile = await anon.from('user_profiles').select('latitude, longitude').eq('user_id', provider.id).single();
    assert.deepEqual(profile.data, { latitude: 48.85, longitude: 2.35 });
  });

  test('an update of location moves latitude/longitude; writing them directly is refused with a clear error', async () => {
    const moved = await asProvider
      .from('listings')
      .update({ location: 'POINT(-0.12 51.5)' })
      .eq('id', listing.id)
      .select('latitude, longitude')
      .single();
    assert.equal(moved.error, null);
    assert.deepEqual(moved.data, { latitude: 51.5, longitude: -0.12 });
    const direct = await asProvider.from('listings').update({ latitude: 1 }).eq('id', listing.id);
    assert.ok(direct.status >= 400 && direct.status < 500, `status ${direct.status}`);
    const { rows } = await db.query<{ latitude: number }>(
      sql`select latitude from public.listings where id = ${listing.id}`,
    );
    assert.equal(rows[0]?.latitude, 51.5);
  });

  test('a booking shows its service location as latitude/longitude', async () => {
    const booking = await createBooking(db, listing, customer);
    await db.query(sql`update public.bookings set service_location = public.geo_point(-73.95, 40.8)
                        where id = ${booking.id}`);
    const { data, error } = await asCustomer
      .from('bookings')
      .select('latitude, longitude')
      .eq('id', booking.id)
      .single();
    assert.equal(error, null);
    assert.deepEqual(data, { latitude: 40.8, longitude: -73.95 });
  });
});

describe(`The extension schema is on the default search_path (${testBackend()})`, () => {
  test('a plain session (as psql opens one) can call st_astext(location)', async () => {
    // A fresh database, migrated the way `loconomy migrate` does it: clones of the test
    // template do not inherit ALTER DATABASE settings (CREATE DATABASE … TEMPLATE drops them).
    const location = await createTestDatabaseLocation(testBackend() === 'pglite' ? 'migrated' : 'empty');
    try {
      if (location.backend === 'postgres') {
        const migrated = openPostgres({ url: location.url as string, searchPath: '"public"', log: testLogger() });
        try {
          await prepareDatabase(migrated, { log: testLogger() });
        } finally {
          await migrated.close();
        }
        const client = new pg.Client({ connectionString: location.url });
        await client.connect();
        try {
          const { rows } = await client.query('select st_astext(location) as wkt from cities order by name limit 1');
          assert.match(rows[0]?.wkt, /^POINT\(/);
        } finally {
          await client.end();
        }
      } else {
        // `loconomy db` serves PGlite's one session to psql after applying the database's settings.
        const embedded = await openPglite({
          dataDir: location.dataDir as string,
          searchPath: '"public"',
          log: testLogger(),
        });
        try {
          await assert.rejects(embedded.query('select st_astext(location) from cities limit 1'), /does not exist/);
          assert.deepEqual(await applySessionDefaults(embedded), ['search_path']);
          const { rows } = await embedded.query<{ wkt: string }>(
            'select st_astext(location) as wkt from cities order by name limit 1',
          );
          assert.match(rows[0]?.wkt as string, /^POINT\(/);
        } finally {
          await embedded.close();
        }
      }
    } finally {
      await location.dispose();
    }
  });
});

describe(`Errors name the fix (${testBackend()})`, () => {
  test('a check constraint violation states the limit, and nothing is written', async () => {
    const slug = `conv-${uniq()}`;
    const { error, status } = await asProvider.from('listings').insert({
      category_id: await categoryId(db),
      title: 'ab',
      description: 'Too short a title',
      slug,
      pricing_type: 'hourly',
      hourly_rate_cents: 5000,
      location: 'POINT(-73.99 40.73)',
    });
    assert.equal(status, 400);
    assert.equal(error?.code, '23514');
    assert.match(error?.message ?? '', /listings_title_check.*title must be 3 to 200 characters/);
    assert.equal(await count('listings', 'slug', slug), 0);
  });

  test('a domain constraint states its rule', async () => {
    const { error, status } = await asProvider.from('listings').update({ hourly_rate_cents: -1 }).eq('id', listing.id);
    assert.equal(status, 400);
    assert.equal(error?.code, '23514');
    assert.match(error?.message ?? '', /cents.*must be 0 or more/);
  });

  test('a constraint without a comment shows its definition', async () => {
    // tenants_name_check has no comment; a tenant manager renames the tenant to ''.
    const manager = await createUser(db, { role: 'admin' });
    await grantPermission(db, manager, 'tenant.manage');
    const client = server.client({ token: await server.tokenFor(manager.clerkId) });
    const { error, status } = await client.from('tenants').update({ name: '' }).eq('id', manager.tenantId);
    assert.equal(status, 400);
    assert.equal(error?.code, '23514');
    assert.match(error?.message ?? '', /tenants_name_check.*must satisfy CHECK \(.*length\(name\)/);
  });

  test('an unknown RPC argument lists the function\u2019s real parameters', async () => {
    const { error, status } = await asCustomer.rpc('nearest_cities', { longitude: 1, latitude: 2 });
    assert.equal(status, 404);
    assert.equal(error?.code, 'PGRST202');
    assert.equal(error?.hint, 'Perhaps you meant to call the function public.nearest_cities(lat, lon, max_results)');
  });

  test('an unclosed or=( says what was expected', async () => {
    const r = await server.request('listings?or=(title.eq.a,title.eq.b');
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'PGRST100');
    assert.match(r.json.details, /unexpected end of input expecting "," and another condition, or "\)" to close/);
    const nested = await server.request('listings?or=(title.eq.a,and(title.eq.b)');
    assert.equal(nested.status, 400);
    assert.match(nested.json.details, /expecting "\)" to close the "\(" left open/);
  });
});
