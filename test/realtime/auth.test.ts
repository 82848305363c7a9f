import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SupabaseClient } from '@supabase/supabase-js';
import { userToken } from '../../src/auth/keys.js';
import { sql } from '../../src/db/sql.js';
import { createUser } from '../helpers/fixtures.js';
import {
  asUser,
  getTestDatabase,
  startTestServer,
  TEST_JWT_SECRET,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';
import { Queue, RawSocket, realtimeClient, subscribe, subscribed } from './support.js';

let db: TestDatabase;
let server: TestServer;
const clients: SupabaseClient[] = [];

before(async () => {
  db = await getTestDatabase();
  server = await startTestServer(db);
});
after(async () => {
  for (const client of clients) await client.realtime.disconnect();
  await server?.close();
  await db?.dispose();
});

async function client(options: { token?: string; apikey?: string } = {}): Promise<SupabaseClient> {
  const made = await realtimeClient(server, options);
  clients.push(made);
  return made;
}

/**
 * A token whose `exp` is `seconds` from now (negative: in the past). Project tokens are
 * accepted up to 30 s past `exp` (REST's clock skew), so -27 is a token with ~3 s to live.
 */
function tokenExpiring(sub: string, seconds: number): Promise<string> {
  return userToken(TEST_JWT_SECRET, { sub, ttlSeconds: seconds });
}

/** Waits until REST refuses the token: from then on realtime must too. */
async function untilRestRefuses(token: string): Promise<void> {
  for (;;) {
    const response = await server.request('categories?limit=1', { headers: { authorization: `Bearer ${token}` } });
    if (response.status === 401) return;
    await sleep(200);
  }
}

describe(`realtime authentication (${testBackend()})`, () => {
  test('a bad apikey is refused at the upgrade with the REST error, and the client reports CHANNEL_ERROR', async () => {
    const garbage = await RawSocket.refused(server, { apikey: 'not-a-key', vsn: '2.0.0' });
    assert.equal(garbage.status, 401);
    assert.deepEqual(garbage.body, {
      code: 'PGRST301',
      message: 'Expected 3 parts in JWT; got 1',
      details: null,
      hint: null,
    });
    const expired = await RawSocket.refused(server, { apikey: await tokenExpiring('user_old', -3600), vsn: '2.0.0' });
    assert.equal(expired.status, 401);
    assert.equal((expired.body as { message: string }).message, 'JWT expired');

    const supabase = await client({ apikey: 'not-a-key' });
    const statuses = subscribe(supabase.channel('room-badkey'));
    assert.equal((await statuses.next()).status, 'CHANNEL_ERROR');
    await supabase.realtime.disconnect();
  });

  test('an expired access_token at join is CHANNEL_ERROR "InvalidJWTToken: JWT expired"', async () => {
    const supabase = await client({ token: await tokenExpiring('user_expired', -3600) });
    const statuses = subscribe(supabase.channel('room-expired'));
    const first = await statuses.next();
    assert.equal(first.status, 'CHANNEL_ERROR');
    assert.equal(first.error?.message, 'InvalidJWTToken: JWT expired');
    await supabase.realtime.disconnect();
  });

  test('a forged access_token is refused with the signature error', async () => {
    const forged = await userToken('another-secret-another-secret-0123456789', { sub: 'user_forged' });
    const supabase = await client({ token: forged });
    const first = await subscribe(supabase.channel('room-forged')).next();
    assert.equal(first.status, 'CHANNEL_ERROR');
    assert.equal(first.error?.message, 'JwtSignatureError: JWT cryptographic operation failed');
    await supabase.realtime.disconnect();
  });

  test('a channel closes when its token expires, with the system message', async () => {
    const supabase = await client({ token: await tokenExpiring('user_expiring', -27) });
    const system = new Queue<{ status: string; message: string; extension: string; channel: string }>();
    const channel = supabase.channel('room-expiry').on('system', {}, (payload) => system.push(payload));
    const statuses = await subscribed(channel);
    const closing = await system.next();
    assert.equal(closing.status, 'error');
    assert.equal(closing.extension, 'system');
    assert.equal(closing.channel, 'room-expiry');
    assert.match(closing.message, /^Token has expired \d+ seconds ago$/);
    assert.equal((await statuses.next()).status, 'CLOSED');
  });

  test('refreshing the token keeps the channel past the old token’s expiry', async () => {
    const first = await tokenExpiring('user_refresh', -27);
    const supabase = await client({ token: first });
    const received = new Queue<unknown>();
    const system = new Queue<unknown>();
    const channel = supabase
      .channel('room-refresh')
      .on('broadcast', { event: 'after' }, ({ payload }) => received.push(payload))
      .on('system', {}, (payload) => system.push(payload));
    const statuses = await subscribed(channel);

    await supabase.realtime.setAuth(await tokenExpiring('user_refresh', 3600)); // pushes access_token
    await untilRestRefuses(first);
    await sleep(1500); // past the server's next check of the old token

    const sender = await client();
    const other = sender.channel('room-refresh');
    await subscribed(other);
    await other.send({ type: 'broadcast', event: 'after', payload: { still: 'here' } });
    assert.deepEqual(await received.next(), { still: 'here' });
    assert.equal(system.pending, 0, 'no system message');
    assert.equal(statuses.pending, 0, 'no status after SUBSCRIBED');
    assert.equal(channel.state, 'joined');
  });

  test('a refreshed token that does not verify closes the channel', async () => {
    const supabase = await client({ token: await server.tokenFor('user_swap') });
    const system = new Queue<{ message: string }>();
    const channel = supabase.channel('room-swap').on('system', {}, (payload) => system.push(payload));
    const statuses = await subscribed(channel);
    await supabase.realtime.setAuth(await tokenExpiring('user_swap', -3600));
    assert.equal((await system.next()).message, 'InvalidJWTToken: JWT expired');
    assert.equal((await statuses.next()).status, 'CLOSED');
  });

  test('API keys join with realtime:read and broadcast with realtime:write', async () => {
    const owner = await createUser(db);
    const keyWith = (scopes: string[]) =>
      asUser(
        db,
        owner.clerkId,
        async (tx) => {
          const { rows } = await tx.query<{ api_key: string }>(
            sql`select api_key from public.create_api_key('realtime test', ${scopes}::text[], null, 1000)`,
          );
          return rows[0]?.api_key as string;
        },
        { commit: true },
      );
    const readOnly = await keyWith(['realtime:read']);
    const readWrite = await keyWith(['realtime:*']);
    const unrelated = await keyWith(['listings:read']);

    const refused = await RawSocket.refused(server, { apikey: unrelated, vsn: '2.0.0' });
    assert.equal(refused.status, 403);
    assert.equal((refused.body as { code: string }).code, 'LOCO_AUTH_SCOPE');

    const reader = await client({ token: readOnly });
    const readerChannel = reader.channel('room-keys', { config: { broadcast: { ack: true } } });
    await subscribed(readerChannel);
    assert.equal(await readerChannel.send({ type: 'broadcast', event: 'x', payload: {} }), 'error');

    const writer = await client({ token: readWrite });
    const writerChannel = writer.channel('room-keys', { config: { broadcast: { ack: true } } });
    await subscribed(writerChannel);
    assert.equal(await writerChannel.send({ type: 'broadcast', event: 'x', payload: {} }), 'ok');
  });
});
