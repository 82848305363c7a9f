import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getIntrospectionQuery } from 'postgraphile/graphql';
import { loadConfig } from '../../src/config.js';
import { sql } from '../../src/db/sql.js';
import { sha256 } from '../../src/graphql/persisted.js';
import { createListing, createUser, type ListingFixture, type UserFixture } from '../helpers/fixtures.js';
import {
  asUser,
  getTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';

/*
 * /graphql/v1's protection (decision 0025, slice 2), over HTTP: limits on depth, aliases, fields
 * and directives; no batches; introspection and suggestions off in production; persisted
 * operations only, when configured; API keys need scopes that cover every table.
 */

let db: TestDatabase;
let dev: TestServer;
let production: TestServer;
let persisted: TestServer;
let owner: UserFixture;
let listing: ListingFixture;
let dir: string;

const LISTING = 'query Listing($id: UUID!) { listing(id: $id) { id title provider { displayName } } }';

before(async () => {
  db = await getTestDatabase();
  // A geometry PostGIS prints as invalid GeoJSON (NaN): an unexpected error, not the database's.
  await db.exec(`
    create function public.broken_point() returns extensions.geometry
      language sql stable as $$ select extensions.st_makepoint('NaN'::float8, 0) $$;
    grant execute on function public.broken_point() to anon;`);
  owner = await createUser(db, { role: 'provider' });
  listing = await createListing(db, owner);
  dir = await mkdtemp(join(tmpdir(), 'loconomy-persisted-'));
  const file = join(dir, 'operations.json');
  await writeFile(file, JSON.stringify({ [sha256(LISTING)]: LISTING }));
  dev = await startTestServer(db, {});
  production = await startTestServer(db, { NODE_ENV: 'production' });
  persisted = await startTestServer(db, { LOCONOMY_GRAPHQL_PERSISTED_OPERATIONS: file });
});

after(async () => {
  await dev?.close();
  await production?.close();
  await persisted?.close();
  await db?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
  body: any;
}

async function post(server: TestServer, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${server.url}/graphql/v1`, {
    method: 'POST',
    headers: { apikey: server.keys.anon, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) };
}

const graphql = (server: TestServer, query: string, variables: Record<string, unknown> = {}) =>
  post(server, { query, variables });

/** Asserts a refusal before anything ran: 400, no data, one error naming the limit and the value. */
function assertLimit(answer: Answer, setting: string, found: number, max: number) {
  assert.equal(answer.status, 400, JSON.stringify(answer.body));
  assert.equal(answer.body.data, undefined);
  const limits = answer.body.errors.filter(
    (e: { extensions: { code?: string } }) => e.extensions.code === 'LOCO_GRAPHQL_LIMIT',
  );
  assert.deepEqual(
    limits.map((e: { extensions: unknown }) => e.extensions),
    [{ code: 'LOCO_GRAPHQL_LIMIT', limit: setting, found, max }],
  );
  assert.match(limits[0].message, new RegExp(`\\b${found}\\b.*the limit is ${max}\\.$`));
}

/** `listings { nodes { provider { listingsByProviderId { … } } } }`, `levels` relations deep. */
function deepQuery(levels: number): string {
  let inner = 'displayName';
  for (let i = 0; i < levels; i++) inner = `listingsByProviderId { nodes { provider { ${inner} } } }`;
  return `{ listings { nodes { provider { ${inner} } } } }`;
}

describe(`query limits (${testBackend()})`, () => {
  test('an ordinary screen query runs, within every default limit', async () => {
    const answer = await graphql(dev, LISTING, { id: listing.id });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.data.listing.id, listing.id);
    assert.equal(answer.body.errors, undefined);
  });

  test('too deep: refused with the depth found and the limit (default 10)', async () => {
    // listings.nodes.provider, 3 more per relation, and the leaf: depth 10 runs, 13 is refused.
    const ten = await graphql(dev, deepQuery(2));
    assert.equal(ten.status, 200, JSON.stringify(ten.body));
    assert.equal(ten.body.errors, undefined);
    const deep = await graphql(dev, deepQuery(3));
    assertLimit(deep, 'LOCONOMY_GRAPHQL_MAX_DEPTH', 13, 10);
    assert.match(
      deep.body.errors[0].message,
      /^The operation is nested deeper than allowed: depth 13; the limit is 10\.$/,
    );
  });

  test('depth counts fragments where they are spread', async () => {
    const answer = await graphql(
      dev,
      `query Deep { listings { nodes { ...P } } }
       fragment P on Listing { provider { listingsByProviderId { nodes { provider { listingsByProviderId { nodes { provider { listingsByProviderId { nodes { id } } } } } } } } } }`,
    );
    assertLimit(answer, 'LOCONOMY_GRAPHQL_MAX_DEPTH', 12, 10);
    assert.match(answer.body.errors[0].message, /^Operation "Deep" is nested deeper/);
  });

  test('too many aliases: 15 run, 16 are refused', async () => {
    const aliased = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `a${i}: listings { totalCount }`).join(' ')} }`;
    const fifteen = await graphql(dev, aliased(15));
    assert.equal(fifteen.status, 200, JSON.stringify(fifteen.body));
    assert.equal(Object.keys(fifteen.body.data).length, 15);
    assertLimit(await graphql(dev, aliased(16)), 'LOCONOMY_GRAPHQL_MAX_ALIASES', 16, 15);
  });

  test('too wide: fragments spreading fragments count every field they expand to (default 500)', async () => {
    // F0 has 3 fields; each Fi spreads F(i-1) twice: F8 expands to 3 × 2^8 = 768 fields.
    const fragments = ['fragment F0 on Listing { id title description }'];
    for (let i = 1; i <= 8; i++) fragments.push(`fragment F${i} on Listing { ...F${i - 1} ...F${i - 1} }`);
    const wide = (top: number) =>
      `{ listings(first: 1) { nodes { ...F${top} } } } ${fragments.slice(0, top + 1).join(' ')}`;
    const fine = await graphql(dev, wide(7)); // 2 + 384 fields
    assert.equal(fine.status, 200, JSON.stringify(fine.body));
    assertLimit(await graphql(dev, wide(8)), 'LOCONOMY_GRAPHQL_MAX_FIELDS', 2 + 768, 500);
  });

  test('too many directives (default 50)', async () => {
    // The same field 51 times (GraphQL merges them), each with a directive.
    const fields = Array.from({ length: 51 }, () => 'listings @include(if: true) { totalCount }');
    const answer = await graphql(dev, `{ ${fields.join(' ')} }`);
    assertLimit(answer, 'LOCONOMY_GRAPHQL_MAX_DIRECTIVES', 51, 50);
  });

  test('a legacy client (Accept: application/json) gets 200 with the same error, as GraphQL over HTTP says', async () => {
    const answer = await post(dev, { query: deepQuery(3) }, { accept: 'application/json' });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.errors[0].extensions.limit, 'LOCONOMY_GRAPHQL_MAX_DEPTH');
  });

  test('a batch (a JSON array of operations) is refused with 400', async () => {
    const answer = await post(dev, [{ query: '{ __typename }' }, { query: '{ __typename }' }]);
    assert.equal(answer.status, 400);
    assert.deepEqual(answer.body, {
      errors: [
        {
          message: 'Batched requests (a JSON array of 2 operations) are not accepted; send one operation per request.',
          extensions: { code: 'LOCO_GRAPHQL_BATCH' },
        },
      ],
    });
  });

  test('limits are settings: a server with LOCONOMY_GRAPHQL_MAX_DEPTH=3 refuses depth 4', async () => {
    const config = loadConfig({ LOCONOMY_GRAPHQL_MAX_DEPTH: '3', LOCONOMY_GRAPHQL_MAX_ALIASES: '0' });
    assert.equal(config.graphql.maxDepth, 3);
    assert.equal(config.graphql.maxAliases, 0);
    const strict = await startTestServer(db, { LOCONOMY_GRAPHQL_MAX_DEPTH: '3' });
    try {
      assertLimit(
        await graphql(strict, '{ listings { nodes { provider { id } } } }'),
        'LOCONOMY_GRAPHQL_MAX_DEPTH',
        4,
        3,
      );
    } finally {
      await strict.close();
    }
  });
});

describe(`introspection, suggestions and errors: development against production (${testBackend()})`, () => {
  test('introspection: on by default in development (the full introspection query is within the limits), off in production', async () => {
    const full = await graphql(dev, getIntrospectionQuery());
    assert.equal(full.status, 200, JSON.stringify(full.body).slice(0, 500));
    assert.equal(full.body.data.__schema.queryType.name, 'Query');
    const refused = await graphql(production, '{ __schema { queryType { name } } }');
    assert.equal(refused.status, 400);
    assert.equal(refused.body.data, undefined);
    assert.match(refused.body.errors[0].message, /^GraphQL introspection has been disabled.*"__schema"/);
    const type = await graphql(production, '{ __type(name: "Listing") { name } }');
    assert.equal(type.status, 400);
    assert.match(type.body.errors[0].message, /introspection has been disabled.*"__type"/);
    // __typename is not introspection of the schema.
    const typename = await graphql(production, '{ __typename }');
    assert.deepEqual(typename.body, { data: { __typename: 'Query' } });
  });

  test('LOCONOMY_GRAPHQL_INTROSPECTION overrides NODE_ENV either way', () => {
    assert.equal(loadConfig({}).graphql.introspection, true);
    assert.equal(loadConfig({ NODE_ENV: 'production' }).graphql.introspection, false);
    assert.equal(
      loadConfig({ NODE_ENV: 'production', LOCONOMY_GRAPHQL_INTROSPECTION: 'true' }).graphql.introspection,
      true,
    );
    assert.equal(loadConfig({ LOCONOMY_GRAPHQL_INTROSPECTION: 'off' }).graphql.introspection, false);
  });

  test('field suggestions ("Did you mean …") only in development', async () => {
    const query = '{ listingz { totalCount } }';
    const suggested = await graphql(dev, query);
    assert.equal(suggested.status, 400);
    assert.match(
      suggested.body.errors[0].message,
      /^Cannot query field "listingz" on type "Query"\. Did you mean "listing"/,
    );
    const plain = await graphql(production, query);
    assert.equal(plain.status, 400);
    assert.equal(plain.body.errors[0].message, 'Cannot query field "listingz" on type "Query".');
    const argument = await graphql(production, '{ listings(frist: 1) { totalCount } }');
    assert.equal(argument.body.errors[0].message, 'Unknown argument "frist" on field "Query.listings".');
  });

  test('an unexpected error: its message in development, only its id in production', async () => {
    const devAnswer = await graphql(dev, '{ brokenPoint }');
    assert.equal(devAnswer.status, 200);
    const devError = devAnswer.body.errors[0];
    assert.equal(devError.extensions.code, 'LOCO_INTERNAL');
    assert.match(devError.message, /JSON.*\(error id [0-9a-f-]{36}\)$/);

    const answer = await graphql(production, '{ brokenPoint }');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.data, { brokenPoint: null });
    const [error] = answer.body.errors;
    assert.equal(
      error.message,
      `An unexpected error occurred; the server logged it with id ${error.extensions.errorId}`,
    );
    assert.match(error.extensions.errorId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(Object.keys(error.extensions).sort(), ['code', 'errorId']);
    assert.doesNotMatch(JSON.stringify(answer.body), /JSON|NaN|select|stack|at /i);
  });

  test('Ruru: a browser gets the IDE in development, nothing in production', async () => {
    const page = await fetch(`${dev.url}/graphql/v1`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /ruru/i);
    const none = await fetch(`${production.url}/graphql/v1`, { headers: { accept: 'text/html' } });
    assert.equal(none.status, 404);
    assert.doesNotMatch(await none.text(), /ruru/i);
    const withKey = await fetch(`${production.url}/graphql/v1`, {
      headers: { accept: 'text/html', apikey: production.keys.anon },
    });
    assert.equal(withKey.status, 404);
    assert.doesNotMatch(await withKey.text(), /ruru/i);
    const ruru = await fetch(`${production.url}/graphql/v1/ruru`, { headers: { apikey: production.keys.anon } });
    assert.equal(ruru.status, 404);
  });
});

describe(`persisted operations (${testBackend()})`, () => {
  test('an operation named by its hash runs, by Apollo extension or by documentId', async () => {
    const hash = sha256(LISTING);
    const apollo = await post(persisted, {
      variables: { id: listing.id },
      extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
    });
    assert.equal(apollo.status, 200, JSON.stringify(apollo.body));
    assert.equal(apollo.body.data.listing.id, listing.id);
    const byId = await post(persisted, { documentId: `sha256:${hash}`, variables: { id: listing.id } });
    assert.equal(byId.status, 200, JSON.stringify(byId.body));
    assert.equal(byId.body.data.listing.title, apollo.body.data.listing.title);
  });

  test('the stored document runs, whatever query text comes with the hash', async () => {
    const answer = await post(persisted, {
      query: '{ bookings { totalCount } }',
      variables: { id: listing.id },
      extensions: { persistedQuery: { version: 1, sha256Hash: sha256(LISTING) } },
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(Object.keys(answer.body.data), ['listing']);
  });

  test('anything else is refused, before it runs', async () => {
    const text = await post(persisted, { query: LISTING, variables: { id: listing.id } });
    assert.equal(text.status, 400);
    assert.equal(text.body.data, undefined);
    assert.equal(text.body.errors[0].extensions.code, 'LOCO_GRAPHQL_NOT_PERSISTED');
    assert.match(
      text.body.errors[0].message,
      /^Only persisted operations run here; name one by extensions\.persistedQuery\.sha256Hash or documentId/,
    );
    const unknown = sha256('{ __typename }');
    const other = await post(persisted, {
      query: '{ __typename }',
      extensions: { persistedQuery: { version: 1, sha256Hash: unknown } },
    });
    assert.equal(other.status, 400);
    assert.deepEqual(other.body.errors, [
      {
        message: `No persisted operation has the hash ${unknown}.`,
        extensions: { code: 'LOCO_GRAPHQL_NOT_PERSISTED' },
      },
    ]);
    // The same request on a server without the setting runs.
    assert.deepEqual((await post(dev, { query: '{ __typename }' })).body, { data: { __typename: 'Query' } });
  });

  test('a file whose keys are not the hashes of their documents stops the server at start', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ [sha256('{ __typename }')]: LISTING }));
    await assert.rejects(startTestServer(db, { LOCONOMY_GRAPHQL_PERSISTED_OPERATIONS: bad }), (error: Error) => {
      assert.match(
        error.message,
        /LOCONOMY_GRAPHQL_PERSISTED_OPERATIONS: .*bad\.json has the key [0-9a-f]{64}, which is not the SHA-256 of its document/,
      );
      return true;
    });
    await assert.rejects(
      startTestServer(db, { LOCONOMY_GRAPHQL_PERSISTED_OPERATIONS: join(dir, 'missing.json') }),
      /cannot be read as JSON/,
    );
  });
});

describe(`API keys over GraphQL: scopes must cover every table (${testBackend()})`, () => {
  const keyWith = (scopes: string[]) =>
    asUser(
      db,
      owner.clerkId,
      async (tx) => {
        const { rows } = await tx.query<{ api_key: string }>(
          sql`select api_key from public.create_api_key(${'graphql test'}, ${scopes}::text[], null, 1000)`,
        );
        return rows[0]?.api_key as string;
      },
      { commit: true },
    );
  const withKey = (key: string, query: string, variables: Record<string, unknown> = {}) =>
    post(dev, { query, variables }, { apikey: key });
  const UPDATE =
    'mutation U($id: UUID!) { updateListing(input: { id: $id, patch: { title: "Renamed by key" } }) { listing { title } } }';

  test('a key scoped to some tables is refused with 403 and a hint (REST serves it per table)', async () => {
    const key = await keyWith(['listings:read']);
    const rest = await dev.request('listings?select=id', { headers: { apikey: key } });
    assert.equal(rest.status, 200, rest.text);
    const answer = await withKey(key, LISTING, { id: listing.id });
    assert.equal(answer.status, 403);
    assert.equal(answer.body.code, 'LOCO_AUTH_SCOPE');
    assert.match(answer.body.details, /lacks the scope \*:read$/);
    assert.match(answer.body.hint, /needs \*:read \(and \*:write for mutations\).*\/rest\/v1/);
  });

  test('*:read runs queries as the key owner, not mutations', async () => {
    const key = await keyWith(['*:read']);
    const read = await withKey(key, LISTING, { id: listing.id });
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.equal(read.body.data.listing.id, listing.id);
    const write = await withKey(key, UPDATE, { id: listing.id });
    assert.equal(write.status, 403);
    assert.match(write.body.details, /lacks the scope \*:write$/);
    const named = await withKey(key, `query Q { __typename } ${UPDATE}`, { id: listing.id });
    assert.equal(named.status, 403, 'a document holding a mutation it does not name is refused too');
    const { rows } = await db.query<{ title: string }>(sql`select title from public.listings where id = ${listing.id}`);
    assert.notEqual(rows[0]?.title, 'Renamed by key');
  });

  test('*:* (or *:read with *:write) runs mutations, RLS deciding as for the owner', async () => {
    const key = await keyWith(['*:read', '*:write']);
    const write = await withKey(key, UPDATE, { id: listing.id });
    assert.equal(write.status, 200, JSON.stringify(write.body));
    assert.equal(write.body.data.updateListing.listing.title, 'Renamed by key');
  });
});
