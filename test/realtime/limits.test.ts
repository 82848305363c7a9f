import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';
import { Queue, RawSocket, realtimeClient, subscribe, subscribed } from './support.js';

let db: TestDatabase;
let server: TestServer;
const clients: SupabaseClient[] = [];

before(async () => {
  db = await getTestDatabase();
  server = await startTestServer(db, {
    LOCONOMY_REALTIME_MAX_CHANNELS: '2',
    LOCONOMY_REALTIME_MAX_EVENTS_PER_SECOND: '5',
    LOCONOMY_REALTIME_MAX_JOINS_PER_SECOND: '4',
    LOCONOMY_REALTIME_MAX_PAYLOAD_KB: '1',
  });
});
after(async () => {
  for (const client of clients) await client.realtime.disconnect();
  await server?.close();
  await db?.dispose();
});

async function client(): Promise<SupabaseClient> {
  const made = await realtimeClient(server);
  clients.push(made);
  return made;
}

describe(`realtime limits (${testBackend()})`, () => {
  test('one channel more than LOCONOMY_REALTIME_MAX_CHANNELS is refused', async () => {
    const supabase = await client();
    await subscribed(supabase.channel('one'));
    await subscribed(supabase.channel('two'));
    const third = await subscribe(supabase.channel('three')).next();
    assert.equal(third.status, 'CHANNEL_ERROR');
    assert.equal(third.error?.message, 'ChannelRateLimitReached: Too many channels');
    await supabase.realtime.disconnect();
  });

  test('a burst over LOCONOMY_REALTIME_MAX_EVENTS_PER_SECOND closes the channel with the system message', async () => {
    const supabase = await client();
    const system = new Queue<{ message: string; status: string }>();
    const channel = supabase.channel('chatty').on('system', {}, (payload) => system.push(payload));
    const statuses = await subscribed(channel);
    // Far more than 5 in one go: however the burst falls across seconds, one is over.
    for (let i = 0; i < 40; i += 1) void channel.send({ type: 'broadcast', event: 'spam', payload: { i } });
    const message = await system.next();
    assert.deepEqual([message.status, message.message], ['error', 'Too many messages per second']);
    assert.equal((await statuses.next()).status, 'CLOSED');
  });

  test('a burst of joins over LOCONOMY_REALTIME_MAX_JOINS_PER_SECOND is refused and the socket closed', async () => {
    const socket = await RawSocket.open(server, { apikey: server.keys.anon, vsn: '2.0.0' });
    for (let i = 0; i < 40; i += 1) socket.send([String(i), String(i), `realtime:j${i % 2}`, 'phx_join', {}]);
    const refused = await socket.next((f) => f[4]?.response?.reason?.startsWith('ClientJoinRateLimitReached'));
    assert.equal(refused[4].response.reason, 'ClientJoinRateLimitReached: Too many joins per second');
    assert.equal((await socket.closed).code, 1008);
  });

  test('payloads over LOCONOMY_REALTIME_MAX_PAYLOAD_KB are refused: acked sends, track and HTTP', async () => {
    const supabase = await client();
    const big = { text: 'x'.repeat(2000) };
    const channel = supabase.channel('big', { config: { broadcast: { ack: true } } });
    await subscribed(channel);
    assert.equal(await channel.send({ type: 'broadcast', event: 'big', payload: big }), 'error');
    assert.equal(await channel.send({ type: 'broadcast', event: 'small', payload: { text: 'x' } }), 'ok');
    assert.equal(await channel.track(big), 'error');
    assert.equal(await channel.track({ name: 'small' }), 'ok');

    const response = await fetch(`${server.url}/realtime/v1/api/broadcast/big/events/big`, {
      method: 'POST',
      headers: { apikey: server.keys.service_role, 'content-type': 'application/json' },
      body: JSON.stringify(big),
    });
    assert.equal(response.status, 413);
    const body = (await response.json()) as { code: string; details: string };
    assert.equal(body.code, 'LOCO_REALTIME_PAYLOAD_TOO_LARGE');
    assert.match(body.details, /the limit is 1024 bytes/);
  });
});
