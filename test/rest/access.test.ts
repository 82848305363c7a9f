import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { sql } from '../../src/db/sql.js';
import { createListing, createUser, type UserFixture } from '../helpers/fixtures.js';
import {
  asUser,
  getTestDatabase,
  startTestServer,
  TEST_JWT_SECRET,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';

/*
 * Who may do what through /rest/v1: project keys, user tokens and Loconomy API keys with
 * scopes and a rate limit, end to end over HTTP; and an injection corpus aimed at every place
 * request text reaches SQL, which must give 4xx and change nothing.
 */

let db: TestDatabase;
let server: TestServer;
let provider: UserFixture;
const tag = `ac${Date.now().toString(36)}`;

before(async () => {
  db = await getTestDatabase();
  provider = await createUser(db, { role: 'provider' });
  await createListing(db, provider, { title: `${tag} visible` });
  server = await startTestServer(db);
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

async function createKey(scopes: string[], limit = 1000): Promise<string> {
  return asUser(
    db,
    provider.clerkId,
    async (tx) => {
      const { rows } = await tx.query<{ api_key: string }>(
        sql`select api_key from public.create_api_key(${'rest test'}, ${scopes}, null, ${limit})`,
      );
      return rows[0]?.api_key as string;
    },
    { commit: true },
  );
}

async function get(path: string, headers: Record<string, string>) {
  const response = await fetch(`${server.url}/rest/v1/${path}`, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
}

describe(`REST access (${testBackend()})`, () => {
  test('no credentials at all browse as anon', async () => {
    const r = await get(`listings?select=title&title=eq.${encodeURIComponent(`${tag} visible`)}`, {});
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, [{ title: `${tag} visible` }]);
  });

  test("the service_role key bypasses RLS: it reads a user's API key rows", async () => {
    await createKey(['listings:read']);
    const { data, error } = await server
      .client({ apikey: server.keys.service_role })
      .from('api_keys')
      .select('user_id')
      .eq('user_id', provider.id);
    assert.equal(error, null);
    assert.ok((data?.length ?? 0) >= 1);
  });

  test('an expired token is 401 with WWW-Authenticate, a forged one too', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ sub: provider.clerkId, role: 'authenticated' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const r = await get('listings?select=id', { apikey: server.keys.anon, Authorization: `Bearer ${expired}` });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate') ?? '', /invalid_token/);
    const forged = await new SignJWT({ sub: provider.clerkId, role: 'service_role' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(now + 3600)
      .sign(new TextEncoder().encode('not-the-project-secret-not-the-project-secret'));
    const f = await get('api_keys?select=id', { apikey: server.keys.anon, Authorization: `Bearer ${forged}` });
    assert.equal(f.status, 401);
    assert.match(f.json.code, /^PGRST30/);
  });

  test('an API key reads within its scopes and is 403 outside them', async () => {
    const key = await createKey(['listings:read']);
    const ok = await get(`listings?select=title&title=eq.${encodeURIComponent(`${tag} visible`)}`, { apikey: key });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.length, 1);
    assert.ok(ok.headers.get('ratelimit-remaining'));
    const embed = await get('listings?select=title,categories(slug)&limit=1', { apikey: key });
    assert.equal(embed.status, 403);
    assert.equal(embed.json.code, 'LOCO_AUTH_SCOPE');
    assert.match(embed.json.details, /categories:read/);
    const write = await fetch(`${server.url}/rest/v1/listings`, {
      method: 'POST',
      headers: { apikey: key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: `${tag} by key` }),
    });
    assert.equal(write.status, 403);
    const { rows } = await db.query<{ n: number }>(
      sql`select count(*)::int as n from public.listings where title = ${`${tag} by key`}`,
    );
    assert.equal(rows[0]?.n, 0);
  });

  test('an API key over its hourly limit is 429 with Retry-After', async () => {
    const key = await createKey(['*:read'], 2);
    assert.equal((await get('listings?select=id&limit=1', { apikey: key })).status, 200);
    assert.equal((await get('listings?select=id&limit=1', { apikey: key })).status, 200);
    const limited = await get('listings?select=id&limit=1', { apikey: key });
    assert.equal(limited.status, 429);
    assert.equal(limited.json.code, 'LOCO_AUTH_RATE_LIMITED');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
  });
});

describe(`REST injection corpus (${testBackend()})`, () => {
  const hostile = [
    `"; drop table public.listings; --`,
    `title); delete from public.listings; --`,
    `'||(select pg_sleep(0))||'`,
    `title::text); drop table x; --`,
    `\u0000`,
    `a"b`,
  ];

  test('hostile column names, filter values, orders, JSON paths and function names give 4xx and change nothing', async () => {
    const before = await db.query<{ n: number }>(sql`select count(*)::int as n from public.listings`);
    for (const evil of hostile) {
      const e = encodeURIComponent(evil);
      const paths = [
        `listings?select=${e}`,
        `listings?${e}=eq.1`,
        `listings?title=eq.${e}`,
        `listings?order=${e}`,
        `listings?select=metadata->${e}`,
        `listings?select=title::${e}`,
        `listings?or=(${e})`,
        `rpc/${e}`,
        `${e}`,
      ];
      for (const path of paths) {
        const r = await get(path, { apikey: server.keys.anon });
        assert.ok(r.status >= 200 && r.status < 500, `${path} → ${r.status}`);
        if (r.status >= 400) assert.ok(typeof r.json?.code === 'string', `${path} has a PostgREST error body`);
      }
    }
    const after = await db.query<{ n: number }>(sql`select count(*)::int as n from public.listings`);
    assert.equal(after.rows[0]?.n, before.rows[0]?.n);
    const { rows } = await db.query<{ n: number }>(
      sql`select count(*)::int as n from pg_tables where schemaname = 'public' and tablename = 'listings'`,
    );
    assert.equal(rows[0]?.n, 1);
  });
});
