import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrate } from '../../src/db/migrator.js';
import { seed } from '../../src/db/seed.js';
import { sql } from '../../src/db/sql.js';
import { getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';

/*
 * Whole-schema checks read from the system catalogs: every table the specification names (and
 * the ones it forgot) exists with Row Level Security and policies, the specification's enums
 * have exactly its values, every foreign key is indexed, no index is redundant, and the
 * migrations and seeds are idempotent.
 */

const SPEC_TABLES = [
  'tenants',
  'users',
  'user_profiles',
  'user_sessions',
  'permissions',
  'role_permissions',
  'user_permissions',
  'categories',
  'tags',
  'listings',
  'listing_tags',
  'provider_availability',
  'availability_overrides',
  'bookings',
  'reviews',
  'review_votes',
  'subscriptions',
  'payment_methods',
  'transactions',
  'invoices',
  'invoice_items',
  'usage_logs',
  'referral_programs',
  'referral_codes',
  'referrals',
  'referral_rewards',
  'conversations',
  'messages',
  'notifications',
  'regions',
  'cities',
  'events',
  'audit_logs',
  'system_logs',
  'file_uploads',
  'api_keys',
  'webhook_endpoints',
  'webhook_deliveries',
  'feature_flags',
  'user_feature_flags',
];

/** Tables the specification forgot but a real marketplace needs. */
const ADDED_TABLES = [
  'listing_service_areas',
  'conversation_participants',
  'inbound_webhook_events',
  'booking_status_history',
  'user_addresses',
  'cancellation_policy_tiers',
  'payments',
  'payment_disputes',
  'subscription_plans',
];

const SPEC_ENUMS: Record<string, string[]> = {
  user_role: ['guest', 'customer', 'provider', 'admin', 'super_admin'],
  user_status: ['active', 'inactive', 'suspended', 'pending_verification', 'banned'],
  verification_status: ['pending', 'in_review', 'verified', 'rejected'],
  listing_status: ['draft', 'active', 'paused', 'inactive', 'suspended'],
  // The specification's seven, then the lifecycle's (0021): declined, expired, no_show.
  booking_status: [
    'pending',
    'confirmed',
    'in_progress',
    'completed',
    'cancelled',
    'disputed',
    'refunded',
    'declined',
    'expired',
    'no_show',
  ],
  pricing_type: ['hourly', 'fixed', 'custom'],
  location_type: ['on_site', 'remote', 'both'],
  // The specification's seven, then Stripe's paused (migration 0046, issue 13).
  subscription_status: [
    'trialing',
    'active',
    'past_due',
    'canceled',
    'unpaid',
    'incomplete',
    'incomplete_expired',
    'paused',
  ],
  payment_status: ['pending', 'processing', 'completed', 'failed', 'cancelled', 'refunded'],
  // The specification's six, then the provider's side of a booking payment (migration 0040, issue 13).
  transaction_type: ['payment', 'payout', 'fee', 'refund', 'bonus', 'referral', 'transfer', 'transfer_reversal'],
  audit_action: ['create', 'read', 'update', 'delete', 'login', 'logout', 'admin_action', 'payment', 'booking'],
  log_level: ['debug', 'info', 'warning', 'error', 'critical'],
};

/** Enums the domain needs beyond the specification's twelve. */
const ADDED_ENUMS = [
  'booking_payment_status',
  'payment_mode',
  'subscription_tier',
  'availability_override_kind',
  'notification_type',
  'notification_channel',
  'message_type',
  'file_type',
  'file_status',
  'referral_status',
  'reward_type',
  'reward_status',
  'invoice_status',
  'delivery_status',
  'billing_interval',
  'cancellation_policy_kind',
];

let db: TestDatabase;
before(async () => {
  db = await getTestDatabase();
});
after(() => db?.dispose());

async function column<T>(query: ReturnType<typeof sql>): Promise<T[]> {
  const { rows } = await db.query<{ v: T }>(query);
  return rows.map((r) => r.v);
}

describe(`schema catalog (${testBackend()})`, () => {
  test('every table the specification names, and the added ones, exists in public', async () => {
    const tables = await column<string>(sql`select tablename as v from pg_tables where schemaname = 'public'`);
    for (const name of [...SPEC_TABLES, ...ADDED_TABLES]) assert.ok(tables.includes(name), `missing table ${name}`);
    assert.equal(SPEC_TABLES.length, 40);
  });

  test('every table in public has row level security enabled and at least one policy', async () => {
    const unprotected = await column<string>(sql`
      select c.relname as v from pg_class c
      where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
        and (not c.relrowsecurity
             or not exists (select 1 from pg_policy p where p.polrelid = c.oid))`);
    assert.deepEqual(unprotected, []);
  });

  test("the specification's enums have exactly its values, in order", async () => {
    for (const [name, values] of Object.entries(SPEC_ENUMS)) {
      const actual = await column<string>(sql`
        select e.enumlabel as v from pg_enum e
        where e.enumtypid = ${`public.${name}`}::regtype order by e.enumsortorder`);
      assert.deepEqual(actual, values, `enum ${name}`);
    }
  });

  test('the enums the domain adds exist and each is used by a column', async () => {
    const unused = await column<string>(sql`
      select t.typname as v from pg_type t
      where t.typnamespace = 'public'::regnamespace and t.typtype = 'e'
        and not exists (select 1 from pg_attribute a join pg_class c on c.oid = a.attrelid
                        where a.atttypid = t.oid and c.relnamespace = 'public'::regnamespace and not a.attisdropped)`);
    assert.deepEqual(unused, []);
    const enums = await column<string>(sql`
      select typname as v from pg_type where typnamespace = 'public'::regnamespace and typtype = 'e'`);
    for (const name of ADDED_ENUMS) assert.ok(enums.includes(name), `missing enum ${name}`);
  });

  test('postgis, pg_trgm, btree_gin and btree_gist are installed in the extensions schema', async () => {
    const { rows } = await db.query<{ extname: string; schema: string }>(sql`
      select e.extname, n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace
      where e.extname in ('postgis', 'pg_trgm', 'btree_gin', 'btree_gist') order by 1`);
    assert.deepEqual(rows, [
      { extname: 'btree_gin', schema: 'extensions' },
      { extname: 'btree_gist', schema: 'extensions' },
      { extname: 'pg_trgm', schema: 'extensions' },
      { extname: 'postgis', schema: 'extensions' },
    ]);
  });

  test('every location column is PostGIS geography in SRID 4326', async () => {
    const { rows } = await db.query<{ tbl: string; col: string; type: string }>(sql`
      select c.relname as tbl, a.attname as col, format_type(a.atttypid, a.atttypmod) as type
      from pg_attribute a join pg_class c on c.oid = a.attrelid
      where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
        and a.attname in ('location', 'center', 'boundary', 'area', 'service_location') and not a.attisdropped`);
    assert.ok(rows.length >= 8);
    for (const row of rows)
      assert.match(row.type, /^(extensions\.)?geography\((Point|MultiPolygon),4326\)$/, `${row.tbl}.${row.col}`);
  });

  test('every foreign key column leads an index its cascades and checks can use', async () => {
    // A partial index serves the foreign key's `where fk = $1` only when its predicate is
    // implied by it: none, or `fk is not null`. Otherwise deleting a parent scans the child.
    const unindexed = await column<string>(sql`
      select c.conrelid::regclass::text || '.' || a.attname as v
      from pg_constraint c
      join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
      where c.contype = 'f' and c.connamespace = 'public'::regnamespace
        and not exists (select 1 from pg_index i where i.indrelid = c.conrelid
                        and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey::int2[]
                        and (i.indpred is null
                             or pg_get_expr(i.indpred, i.indrelid) = '(' || quote_ident(a.attname) || ' IS NOT NULL)'))`);
    assert.deepEqual(unindexed, []);
  });

  test('every foreign key states a deliberate ON DELETE (audit history aside, none is left to chance)', async () => {
    const { rows } = await db.query<{ fk: string; action: string }>(sql`
      select conname as fk, confdeltype as action from pg_constraint
      where contype = 'f' and connamespace = 'public'::regnamespace and confdeltype = 'a'`);
    // NO ACTION is chosen on purpose for ledger-like references (bookings, transactions,
    // invoices keep their parties and listing); each is documented in the migration.
    const expected = new Set([
      'bookings_listing_id_fkey',
      'bookings_provider_id_fkey',
      'bookings_customer_id_fkey',
      'transactions_user_id_fkey',
      'transactions_booking_id_fkey',
      'invoices_user_id_fkey',
      'invoices_booking_id_fkey',
      'payments_customer_id_fkey',
      'payments_provider_id_fkey',
      'transactions_payment_id_fkey',
    ]);
    assert.deepEqual(new Set(rows.map((r) => r.fk)), expected);
  });

  test('no btree index is a leading prefix of another with the same predicate', async () => {
    const redundant = await column<string>(sql`
      select a.indexrelid::regclass::text || ' ⊂ ' || b.indexrelid::regclass::text as v
      from pg_index a join pg_index b on a.indrelid = b.indrelid and a.indexrelid <> b.indexrelid
      join pg_class ca on ca.oid = a.indexrelid join pg_class cb on cb.oid = b.indexrelid
      join pg_am ama on ama.oid = ca.relam join pg_am amb on amb.oid = cb.relam
      where ca.relnamespace = 'public'::regnamespace and ama.amname = 'btree' and amb.amname = 'btree'
        and a.indexprs is null and b.indexprs is null and not a.indisunique
        and coalesce(pg_get_expr(a.indpred, a.indrelid), '') = coalesce(pg_get_expr(b.indpred, b.indrelid), '')
        and (b.indkey::int2[])[0:cardinality(a.indkey::int2[]) - 1] = a.indkey::int2[]
        and (cardinality(a.indkey::int2[]) < cardinality(b.indkey::int2[]) or a.indexrelid > b.indexrelid)`);
    assert.deepEqual(redundant, []);
  });

  test('the schema has at least 80 indexes beyond primary keys and 25 triggers', async () => {
    const [indexes] = await column<number>(sql`
      select count(*)::int as v from pg_index i join pg_class c on c.oid = i.indexrelid
      where c.relnamespace = 'public'::regnamespace and not i.indisprimary`);
    const [triggers] = await column<number>(sql`
      select count(*)::int as v from pg_trigger t join pg_class c on c.oid = t.tgrelid
      where c.relnamespace = 'public'::regnamespace and not t.tgisinternal`);
    assert.ok((indexes ?? 0) >= 80, `${indexes} indexes`);
    assert.ok((triggers ?? 0) >= 25, `${triggers} triggers`);
  });

  test('every SECURITY DEFINER function pins its search_path', async () => {
    const unpinned = await column<string>(sql`
      select p.oid::regprocedure::text as v from pg_proc p
      where p.pronamespace in ('public'::regnamespace, 'app'::regnamespace, 'realtime'::regnamespace) and p.prosecdef
        and not exists (select 1 from unnest(p.proconfig) c where c like 'search_path=%')`);
    assert.deepEqual(unpinned, []);
  });

  test('no function in public, app or realtime can be executed by PUBLIC unless it is a plain helper', async () => {
    // Definer functions must choose their callers explicitly.
    const open = await column<string>(sql`
      select p.oid::regprocedure::text as v from pg_proc p
      where p.pronamespace in ('public'::regnamespace, 'app'::regnamespace, 'realtime'::regnamespace) and p.prosecdef
        and has_function_privilege('public', p.oid, 'execute')`);
    assert.deepEqual(open, []);
  });

  test('anon can write to no table except recording analytics events', async () => {
    const writable = await column<string>(sql`
      select distinct c.relname as v from pg_class c
      cross join (values ('INSERT'), ('UPDATE'), ('DELETE')) p(priv)
      where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
        and (has_table_privilege('anon', c.oid, p.priv)
             or (p.priv <> 'DELETE' and has_any_column_privilege('anon', c.oid, p.priv)))
      order by 1`);
    assert.deepEqual(writable, ['events']);
  });

  test('no API role can read a secret column', async () => {
    const secrets = [
      ['api_keys', 'key_hash'],
      ['webhook_endpoints', 'secret'],
      ['webhook_endpoints', 'previous_secret'],
      ['user_sessions', 'session_token_hash'],
      ['user_profiles', 'tax_id'],
    ];
    for (const [table, col] of secrets) {
      for (const role of ['anon', 'authenticated']) {
        const [can] = await column<boolean>(sql`
          select has_column_privilege(${role}, ${`public.${table}`}, ${col}, 'SELECT') as v`);
        assert.equal(can, false, `${role} can read ${table}.${col}`);
      }
    }
  });

  test('every column that points at a user says what deleting the account does to it (app.personal_data)', async () => {
    // delete_my_account() deletes, anonymises or keeps rows by these rules; a new table that
    // references users needs a row in app.personal_data (docs/workflows.md, privacy).
    const unclassified = await column<string>(sql`
      select c.conrelid::regclass::text || '.' || a.attname as v
      from pg_constraint c
      join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
      where c.contype = 'f' and c.connamespace = 'public'::regnamespace
        and c.confrelid in ('public.users'::regclass, 'public.user_profiles'::regclass)
        and not exists (select 1 from app.personal_data p
                        where p.table_name = (select relname from pg_class where oid = c.conrelid)
                          and p.column_name = a.attname)
      order by 1`);
    assert.deepEqual(unclassified, [], 'add these to app.personal_data with delete, anonymise or keep');
  });

  test('running the migrations and the reference seed again changes nothing', async () => {
    const count = sql`
      select (select count(*) from public.categories) + (select count(*) from public.cities)
           + (select count(*) from public.permissions) + (select count(*) from public.role_permissions)
           + (select count(*) from public.tags) + (select count(*) from public.feature_flags)
           + (select count(*) from public.tenants) + (select count(*) from public.referral_programs) as v`;
    const [before] = await column<string>(count);
    const result = await migrate(db, { log: testLogger() });
    assert.deepEqual(result.steps, []);
    await seed(db, { log: testLogger() });
    const [afterSeed] = await column<string>(count);
    assert.equal(afterSeed, before);
  });
});
