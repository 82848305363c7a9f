import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { createListing, createUser, type UserFixture } from '../helpers/fixtures.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';
import { eventually, functionsDir, invoke, probe } from './support.js';

/*
 * A project's functions folder served at /functions/v1/<name>, driven by supabase-js's
 * functions client against a real server on this backend: the caller and RLS inside, each body
 * encoding the client sends, the errors it maps (FunctionsHttpError with the Response), limits,
 * CORS. The functions are written into a temporary folder (a CommonJS one: no package.json).
 */

const FUNCTIONS = {
  '_shared/label.ts': `export const label: string = 'shared';\n`,
  'echo/index.ts': `
import { label } from '../_shared/label.ts';
export default async (req: Request, ctx: any) => {
  const url = new URL(req.url);
  const type = (req.headers.get('content-type') ?? '').split(';')[0];
  let body: unknown = null;
  if (type === 'application/json') body = await req.json();
  else if (type === 'multipart/form-data') {
    const form = await req.formData();
    const fields: Record<string, unknown> = {};
    for (const [key, value] of form.entries()) {
      fields[key] = typeof value === 'string' ? value : { name: value.name, type: value.type, text: await value.text() };
    }
    body = fields;
  } else if (type === 'application/octet-stream') body = Array.from(new Uint8Array(await req.arrayBuffer()));
  else if (req.method !== 'GET' && req.method !== 'HEAD') body = await req.text();
  return Response.json({
    label, method: req.method, path: url.pathname, search: url.search, type, body,
    custom: req.headers.get('x-custom'), region: req.headers.get('x-region'),
    caller: ctx.caller, service: ctx.serviceDb !== undefined, settings: ctx.settings,
  });
};
`,
  'whoami.ts': `
export default async (req: Request, ctx: any) => {
  const { rows } = await ctx.db.query(ctx.sql\`
    select current_user as role, current_setting('request.jwt.claims', true)::json ->> 'sub' as sub,
           current_setting('request.path', true) as path\`);
  const asked = req.method === 'POST' ? await req.json() : {};
  const seen = asked.listing_id
    ? (await ctx.db.query('select id, status from public.listings where id = $1', [asked.listing_id])).rows
    : [];
  return Response.json({ ...rows[0], seen });
};
`,
  'service.ts': `
export const config = { serviceRole: true };
export default async (req: Request, ctx: any) => {
  const { listing_id } = await req.json();
  const mine = await ctx.db.query('select count(*)::int as n from public.listings where id = $1', [listing_id]);
  const all = await ctx.serviceDb.query('select current_user as role, count(*)::int as n from public.listings where id = $1', [listing_id]);
  return Response.json({ caller: mine.rows[0].n, service: all.rows[0] });
};
`,
  'slow.ts': `
export const config = { timeoutMs: 300 };
export default async (req: Request) => {
  await new Promise((resolve) => req.signal.addEventListener('abort', resolve, { once: true }));
  (globalThis as any).__loconomyFunctionsTest.slow = req.signal.reason?.name ?? 'aborted';
  return new Response('too late');
};
`,
  'boom.ts': `export default () => { throw new Error('kaboom'); };\n`,
  'not-a-response.ts': `export default () => ({ ok: true });\n`,
  'small.ts': `
export const config = { bodyLimit: 10 };
export default async (req: Request) => {
  const t = (globalThis as any).__loconomyFunctionsTest;
  t.small = (t.small ?? 0) + 1;
  return new Response(await req.text());
};
`,
  'broken.ts': `export default (req: Request) => { return new Response(' ;\n`,
  'bad-config.ts': `export const config = { timeout: 5 };\nexport default () => new Response('x');\n`,
  'no-handler.ts': `export const x = 1;\n`,
  'bytes.ts': `export default () => new Response(new Uint8Array([1, 2, 3]), { headers: { 'content-type': 'application/octet-stream' } });\n`,
  'text.ts': `export default () => new Response('plain words', { status: 201, headers: { 'x-made-by': 'text' } });\n`,
  'divide.ts': `export default async (_req: Request, ctx: any) => { await ctx.db.query('select 1 / 0'); return new Response('unreachable'); };\n`,
  'events.ts': `
export default () => {
  const stream = new ReadableStream({
    start(controller) {
      for (const n of [1, 2, 3]) controller.enqueue(new TextEncoder().encode('data: ' + n + '\\n\\n'));
      controller.close();
    },
  });
  return new Response(stream, { headers: { 'content-type': 'text/event-stream' } });
};
`,
  'hang.ts': `
export default async (req: Request) => {
  const t = (globalThis as any).__loconomyFunctionsTest;
  t.hang = 'started';
  await new Promise((resolve) => req.signal.addEventListener('abort', resolve, { once: true }));
  t.hang = req.signal.reason?.name ?? 'aborted';
  return new Response('nobody is listening');
};
`,
  'fetch-object.ts': `export default { fetch: (req: Request) => new Response('object ' + req.method) };\n`,
};

let db: TestDatabase;
let server: TestServer;
let dir: string;
let provider: UserFixture;
let other: UserFixture;
let draftId: string;

before(async () => {
  db = await getTestDatabase();
  dir = await functionsDir(FUNCTIONS);
  server = await startTestServer(db, { LOCONOMY_FUNCTIONS_DIR: dir });
  provider = await createUser(db, { role: 'provider' });
  other = await createUser(db, { role: 'provider' });
  draftId = (await createListing(db, provider, { status: 'draft' })).id;
});

after(async () => {
  await server?.close();
  await db?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const userClient = async (user: UserFixture) => server.client({ token: await server.tokenFor(user.clerkId) });

describe(`functions: callers and RLS (${testBackend()})`, () => {
  test('anon: the anon role, no subject, SQL runs as anon with the request path', async () => {
    const { status, data } = await invoke(server.client(), 'whoami', { method: 'GET' });
    assert.equal(status, 200);
    assert.deepEqual(data, { role: 'anon', sub: null, path: '/functions/v1/whoami', seen: [] });
  });

  test('a user: authenticated with their claims; RLS shows the provider their own draft and hides it from another', async () => {
    const mine = await invoke(await userClient(provider), 'whoami', { body: { listing_id: draftId } });
    assert.equal(mine.status, 200);
    assert.equal(mine.data.role, 'authenticated');
    assert.equal(mine.data.sub, provider.clerkId);
    assert.deepEqual(mine.data.seen, [{ id: draftId, status: 'draft' }]);

    const theirs = await invoke(await userClient(other), 'whoami', { body: { listing_id: draftId } });
    assert.equal(theirs.data.sub, other.clerkId);
    assert.deepEqual(theirs.data.seen, []);
    const anon = await invoke(server.client(), 'whoami', { body: { listing_id: draftId } });
    assert.deepEqual(anon.data.seen, []);
  });

  test('ctx.caller carries the id, role and claims; no service database unless the function asks', async () => {
    const { data } = await invoke(await userClient(provider), 'echo', { body: {} });
    assert.equal(data.caller.id, provider.clerkId);
    assert.equal(data.caller.role, 'authenticated');
    assert.equal(data.caller.claims.sub, provider.clerkId);
    assert.equal(data.service, false);
    assert.deepEqual(data.settings, { timeoutMs: 60_000, bodyLimit: 1_048_576, production: false });
  });

  test('a function that opts in gets ctx.serviceDb, which runs as service_role past RLS', async () => {
    const { status, data } = await invoke(await userClient(other), 'service', { body: { listing_id: draftId } });
    assert.equal(status, 200);
    assert.deepEqual(data, { caller: 0, service: { role: 'service_role', n: 1 } });
  });

  test('the service_role key calls as service_role', async () => {
    const { data } = await invoke(server.client({ apikey: server.keys.service_role }), 'whoami', { method: 'GET' });
    assert.equal(data.role, 'service_role');
  });

  test('a bad token is refused 401 before the function runs, as REST refuses it', async () => {
    const { status, data, headers } = await invoke(server.client({ token: 'not-a-jwt' }), 'whoami', { method: 'GET' });
    assert.equal(status, 401);
    assert.equal(data.code, 'PGRST301');
    assert.match(headers.get('www-authenticate') ?? '', /^Bearer/);
  });
});

describe(`functions: what supabase-js sends (${testBackend()})`, () => {
  test('a JSON body (an object) arrives as application/json', async () => {
    const { data } = await invoke(server.client(), 'echo', { body: { a: 1, b: ['x'] } });
    assert.deepEqual([data.method, data.type, data.body], ['POST', 'application/json', { a: 1, b: ['x'] }]);
    assert.equal(data.label, 'shared', 'a shared module under _shared/ is imported');
  });

  test('a string arrives as text/plain', async () => {
    const { data } = await invoke(server.client(), 'echo', { body: 'hello there' });
    assert.deepEqual([data.type, data.body], ['text/plain', 'hello there']);
  });

  test('a Blob and an ArrayBuffer arrive as application/octet-stream bytes', async () => {
    const blob = await invoke(server.client(), 'echo', { body: new Blob([new Uint8Array([0, 1, 255])]) });
    assert.deepEqual([blob.data.type, blob.data.body], ['application/octet-stream', [0, 1, 255]]);
    const buffer = await invoke(server.client(), 'echo', { body: new Uint8Array([7, 8]).buffer });
    assert.deepEqual([buffer.data.type, buffer.data.body], ['application/octet-stream', [7, 8]]);
  });

  test('FormData arrives as multipart/form-data, fields and files', async () => {
    const form = new FormData();
    form.append('note', 'kitchen sink');
    form.append('photo', new Blob(['fake image'], { type: 'image/png' }), 'sink.png');
    const { data } = await invoke(server.client(), 'echo', { body: form });
    assert.equal(data.type, 'multipart/form-data');
    assert.deepEqual(data.body, {
      note: 'kitchen sink',
      photo: { name: 'sink.png', type: 'image/png', text: 'fake image' },
    });
  });

  test('GET and DELETE, custom headers, and the region (x-region, forceFunctionRegion)', async () => {
    const get = await invoke(server.client(), 'echo', { method: 'GET', headers: { 'x-custom': 'yes' } });
    assert.deepEqual([get.data.method, get.data.body, get.data.custom], ['GET', null, 'yes']);
    const del = await invoke(server.client(), 'echo', {
      method: 'DELETE',
      body: { id: 3 },
      region: 'eu-west-1' as never,
    });
    assert.deepEqual([del.data.method, del.data.body, del.data.region], ['DELETE', { id: 3 }, 'eu-west-1']);
    assert.equal(del.data.search, '?forceFunctionRegion=eu-west-1');
    assert.equal(del.data.path, '/echo');
  });

  test('a sub-path and the query reach the function as /<name>/…', async () => {
    const response = await fetch(`${server.url}/functions/v1/echo/items/42?sort=asc`, {
      headers: { apikey: server.keys.anon },
    });
    const data = (await response.json()) as { path: string; search: string };
    assert.deepEqual([data.path, data.search], ['/echo/items/42', '?sort=asc']);
  });

  test("the function's status, headers and body come back; supabase-js reads text and bytes by content type", async () => {
    const text = await invoke(server.client(), 'text');
    assert.deepEqual([text.status, text.data, text.headers.get('x-made-by')], [201, 'plain words', 'text']);
    const bytes = await invoke(server.client(), 'bytes');
    assert.ok(bytes.data instanceof Blob);
    assert.deepEqual([...new Uint8Array(await bytes.data.arrayBuffer())], [1, 2, 3]);
    const object = await invoke(server.client(), 'fetch-object', { method: 'PUT' });
    assert.equal(object.data, 'object PUT', 'export default { fetch } works too');
  });
});

describe(`functions: streams and cancellation (${testBackend()})`, () => {
  test('a text/event-stream answer is streamed; supabase-js hands over the Response', async () => {
    const { status, data } = await invoke(server.client(), 'events', { method: 'GET' });
    assert.equal(status, 200);
    assert.ok(data instanceof Response);
    assert.equal(await data.text(), 'data: 1\n\ndata: 2\n\ndata: 3\n\n');
  });

  test('HEAD runs the function and sends its headers without the body', async () => {
    const response = await fetch(`${server.url}/functions/v1/text`, {
      method: 'HEAD',
      headers: { apikey: server.keys.anon },
    });
    assert.deepEqual([response.status, response.headers.get('x-made-by'), await response.text()], [201, 'text', '']);
  });

  test('the client going away aborts the Request signal the function holds', async () => {
    delete probe().hang;
    const controller = new AbortController();
    const pending = server.client().functions.invoke('hang', { body: {}, signal: controller.signal });
    await eventually(() => (probe().hang === 'started' ? true : undefined));
    controller.abort();
    const { error } = await pending;
    assert.equal(error?.name, 'FunctionsFetchError');
    assert.equal(await eventually(() => (probe().hang === 'started' ? undefined : probe().hang)), 'AbortError');
  });
});

describe(`functions: errors the client maps (${testBackend()})`, () => {
  test('an unknown function is 404 LOCO_FUNCTION_NOT_FOUND; a shared folder is not a function', async () => {
    const unknown = await invoke(server.client(), 'nope');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.data.code, 'LOCO_FUNCTION_NOT_FOUND');
    assert.equal((await invoke(server.client(), '_shared')).status, 404);
  });

  test('a thrown error is 500 WORKER_ERROR with the message in development', async () => {
    const { status, data, headers } = await invoke(server.client(), 'boom');
    assert.equal(status, 500);
    assert.equal(headers.get('sb-error-code'), 'WORKER_ERROR');
    assert.equal(data.code, 'LOCO_FUNCTION_ERROR');
    assert.equal(data.details, 'kaboom');
    const notResponse = await invoke(server.client(), 'not-a-response');
    assert.equal(notResponse.status, 500);
    assert.match(notResponse.data.message, /did not return a Response/);
  });

  test('a failed statement the function does not catch answers with its SQLSTATE and status', async () => {
    const { status, data } = await invoke(server.client(), 'divide');
    assert.equal(status, 400);
    assert.equal(data.code, '22012');
  });

  test('a timeout is 504 IDLE_TIMEOUT and aborts the Request signal the function holds', async () => {
    delete probe().slow;
    const { status, data, headers } = await invoke(server.client(), 'slow');
    assert.equal(status, 504);
    assert.equal(headers.get('sb-error-code'), 'IDLE_TIMEOUT');
    assert.equal(data.code, 'LOCO_FUNCTION_TIMEOUT');
    assert.equal(await eventually(() => probe().slow), 'TimeoutError');
  });

  test("a body over the function's limit is 413 and the function never runs", async () => {
    probe().small = 0;
    const ok = await invoke(server.client(), 'small', { body: '0123456789' });
    assert.deepEqual([ok.status, ok.data], [200, '0123456789']);
    const big = await invoke(server.client(), 'small', { body: '0123456789!' });
    assert.equal(big.status, 413);
    assert.equal(big.data.code, 'LOCO_BODY_TOO_LARGE');
    const chunked = await fetch(`${server.url}/functions/v1/small`, {
      method: 'POST',
      headers: { apikey: server.keys.anon, 'content-type': 'text/plain' },
      body: new Blob(['x'.repeat(50)]).stream(),
      duplex: 'half',
    } as RequestInit);
    assert.equal(chunked.status, 413, 'no Content-Length: counted while read');
    assert.equal(probe().small, 1);
  });

  test('a module that fails to load is 503 BOOT_ERROR with the reason in development', async () => {
    for (const [name, reason] of [
      ['broken', /broken\.ts|Unterminated|Expected/],
      ['bad-config', /config: Unrecognized key/],
      ['no-handler', /no default export/],
    ] as const) {
      const { status, data, headers } = await invoke(server.client(), name);
      assert.equal(status, 503, name);
      assert.equal(headers.get('sb-error-code'), 'BOOT_ERROR');
      assert.equal(data.code, 'LOCO_FUNCTION_BOOT_ERROR');
      assert.match(data.details, reason);
    }
  });

  test('a built-in function name with another method than POST is 405', async () => {
    const { status } = await invoke(server.client(), 'stripe-connect-onboarding', { method: 'GET' });
    assert.equal(status, 405);
  });
});

describe(`functions: CORS (${testBackend()})`, () => {
  test('a preflight is answered for any header the caller names, without running the function', async () => {
    const response = await fetch(`${server.url}/functions/v1/echo`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, x-client-info, apikey, content-type, x-region, x-custom',
      },
    });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(
      response.headers.get('access-control-allow-headers'),
      'authorization, x-client-info, apikey, content-type, x-region, x-custom',
    );
    assert.match(response.headers.get('access-control-allow-methods') ?? '', /POST/);
  });

  test('answers and errors carry the allowed origin', async () => {
    for (const name of ['echo', 'nope', 'boom']) {
      const response = await fetch(`${server.url}/functions/v1/${name}`, {
        method: 'POST',
        headers: { origin: 'https://app.example', apikey: server.keys.anon },
      });
      assert.equal(response.headers.get('access-control-allow-origin'), 'https://app.example', name);
    }
  });
});

describe(`functions: production (${testBackend()})`, () => {
  test('errors say what happened, not the internals', async () => {
    const prod = await startTestServer(db, { LOCONOMY_FUNCTIONS_DIR: dir, NODE_ENV: 'production' });
    try {
      const boom = await invoke(prod.client(), 'boom');
      assert.deepEqual([boom.status, boom.data.details], [500, null]);
      assert.doesNotMatch(JSON.stringify(boom.data), /kaboom|at /);
      const broken = await invoke(prod.client(), 'broken');
      assert.deepEqual([broken.status, broken.data.details, broken.data.hint], [503, null, null]);
    } finally {
      await prod.close();
    }
  });
});
