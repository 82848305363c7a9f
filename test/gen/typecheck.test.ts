import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadTypeCatalog } from '../../src/gen/catalog.js';
import { renderTypes } from '../../src/gen/types.js';
import { getTestDatabase, testBackend } from '../helpers/index.js';
import { type Diagnostic, formatDiagnostics, typecheck } from './compile.js';

/*
 * The generated types as supabase-js sees them: `gen types` runs on the migrated schema, and
 * probe files that call createClient<Database> are compiled beside the output with the
 * TypeScript compiler. `Expect<Equal<A, B>>` fails to compile unless A and B are the same
 * type, and `// @ts-expect-error` fails unless the next line is an error, so the probe states
 * what must be inferred and what must be refused. wrong.ts shows that such a check can fail:
 * each line marked ✗ must give a diagnostic, and no other line may.
 */

const PRELUDE = `import { createClient } from '@supabase/supabase-js';
import {
  Constants,
  type Database,
  type Enums,
  type Json,
  type Tables,
  type TablesInsert,
  type TablesUpdate,
} from './database.types.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export function expect<T extends true>(): T | undefined {
  return undefined;
}

type ListingStatus = 'draft' | 'active' | 'paused' | 'inactive' | 'suspended';
const supabase = createClient<Database>('http://127.0.0.1:54321', 'anon-key');
`;

const PROBE = `${PRELUDE}
export async function rows(): Promise<void> {
  // Selected columns, with enums as their unions and nullable columns as T | null.
  const listing = await supabase.from('listings').select('id, title, status, rating_average, images').single();
  if (listing.data) {
    expect<
      Equal<
        typeof listing.data,
        { id: string; title: string; status: ListingStatus; rating_average: number | null; images: string[] }
      >
    >();
  }
  expect<Equal<Enums<'listing_status'>, ListingStatus>>();
  expect<Equal<Database['public']['Enums']['listing_status'], ListingStatus>>();
  expect<Equal<(typeof Constants.public.Enums.listing_status)[number], ListingStatus>>();
  // bigint and numeric are numbers, jsonb is Json, a domain is its base type, geography its text.
  expect<Equal<Tables<'listings'>['view_count'], number>>();
  expect<Equal<Tables<'listings'>['base_price_cents'], number | null>>();
  expect<Equal<Tables<'listings'>['metadata'], Json>>();
  expect<Equal<Tables<'listings'>['location'], string | null>>();
  expect<Equal<Tables<{ schema: 'public' }, 'users'>['role'], Enums<'user_role'>>>();
}

export async function embeddings(): Promise<void> {
  // Many-to-one (non-null key: an object), one-to-one inside it, and one-to-many (an array).
  const { data } = await supabase
    .from('listings')
    .select('id, provider:user_profiles(display_name, user:users(email)), bookings(id, status)');
  const row = data?.[0];
  if (row) {
    expect<Equal<typeof row.provider, { display_name: string | null; user: { email: string } }>>();
    expect<Equal<typeof row.bookings, { id: string; status: Enums<'booking_status'> }[]>>();
  }
  // A nullable foreign key embeds as object | null.
  const city = await supabase.from('listings').select('cities(name)').single();
  if (city.data) expect<Equal<typeof city.data.cities, { name: string } | null>>();
}

export function writes(): void {
  const listing: TablesInsert<'listings'> = {
    tenant_id: 't',
    provider_id: 'p',
    category_id: 'c',
    title: 'Plumbing',
    description: 'Pipes',
    slug: 'plumbing',
  };
  supabase.from('listings').insert(listing);
  supabase.from('listings').insert([listing, { ...listing, status: 'active' }]);
  // @ts-expect-error title is required (no default, not null)
  supabase.from('listings').insert({ tenant_id: 't', provider_id: 'p', category_id: 'c', description: 'd', slug: 's' });
  // @ts-expect-error not a listing_status
  supabase.from('listings').update({ status: 'deleted' });
  // @ts-expect-error a generated column takes no value
  supabase.from('transactions').update({ net_amount_cents: 1 });
  const change: TablesUpdate<'listings'> = { status: 'paused', rating_average: null };
  supabase.from('listings').update(change).eq('id', 'x');
  // @ts-expect-error no such table
  supabase.from('no_such_table').select('*');
}

export async function functions(): Promise<void> {
  // A set of table rows: the rows, and .select() with embeddings after it.
  const near = await supabase.rpc('nearby_listings', { lon: -73.99, lat: 40.73, radius_m: 5000 });
  if (near.data) expect<Equal<typeof near.data, Tables<'listings'>[]>>();
  const picked = await supabase.rpc('nearby_listings', { lon: 0, lat: 0 }).select('id, categories(name)');
  if (picked.data) expect<Equal<typeof picked.data, { id: string; categories: { name: string } }[]>>();
  // @ts-expect-error lat is required
  supabase.rpc('nearby_listings', { lon: 0 });
  // @ts-expect-error lon is a number
  supabase.rpc('nearby_listings', { lon: 'east', lat: 0 });
  // One row, scalars, a set of scalars, returns table (…), no arguments, void.
  const me = await supabase.rpc('become_provider');
  if (me.data) expect<Equal<typeof me.data, Tables<'users'>>>();
  const flag = await supabase.rpc('evaluate_feature_flag', { flag_key: 'new_search' });
  expect<Equal<typeof flag.data, Json>>(); // Json already holds null
  const permissions = await supabase.rpc('my_permissions');
  if (permissions.data) expect<Equal<typeof permissions.data, string[]>>();
  const key = await supabase.rpc('create_api_key', { name: 'ci', scopes: ['listings:read'] });
  if (key.data) expect<Equal<(typeof key.data)[number]['api_key'], string>>();
  const view = await supabase.rpc('record_listing_view', { listing_id: 'x' });
  expect<Equal<typeof view.data, undefined | null>>();
}
`;

const WRONG = `${PRELUDE}
export async function wrong(): Promise<void> {
  const listing = await supabase.from('listings').select('id, status').single();
  if (listing.data) expect<Equal<typeof listing.data.status, string>>(); // ✗ status is the enum, not string
  expect<Equal<Tables<'listings'>['rating_average'], number>>(); // ✗ it is nullable
  // @ts-expect-error ✗ expects an error where there is none: the insert below is valid
  supabase.from('listings').insert({ tenant_id: 't', provider_id: 'p', category_id: 'c', title: 't', description: 'd', slug: 's' });
  const near = await supabase.rpc('nearby_listings', { lon: 0, lat: 0 });
  if (near.data) expect<Equal<typeof near.data, Tables<'listings'>>>(); // ✗ a set is an array
}
`;

/** 1-based numbers of the lines marked ✗ in a probe. */
function marked(source: string): number[] {
  return source.split('\n').flatMap((line, i) => (line.includes('✗') ? [i + 1] : []));
}

describe(`generated types under supabase-js (${testBackend()})`, () => {
  let diagnostics: Diagnostic[] = [];

  before(async () => {
    const db = await getTestDatabase();
    let types: string;
    try {
      types = renderTypes(await loadTypeCatalog(db, ['public']));
    } finally {
      await db.dispose();
    }
    diagnostics = await typecheck({ 'database.types.ts': types, 'probe.ts': PROBE, 'wrong.ts': WRONG });
  });

  test('createClient<Database> infers rows, embeddings, inserts, updates and rpc; the probe compiles cleanly', () => {
    const problems = diagnostics.filter((d) => d.file !== 'wrong.ts');
    assert.equal(problems.length, 0, formatDiagnostics(problems));
  });

  test('a wrong expectation about the generated types is a compile error on exactly its line', () => {
    const wrong = diagnostics.filter((d) => d.file === 'wrong.ts');
    assert.deepEqual(
      wrong.map((d) => d.line),
      marked(WRONG),
      formatDiagnostics(wrong),
    );
  });
});
