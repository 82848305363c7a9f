import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';
import { Queue, realtimeClient, subscribed } from './support.js';

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

async function client(options: { token?: string; vsn?: string } = {}): Promise<SupabaseClient> {
  const made = await realtimeClient(server, options);
  clients.push(made);
  return made;
}

interface Received {
  readonly event: string;
  // biome-ignore lint/suspicious/noExplicitAny: whatever was broadcast
  readonly payload: any;
}

/** A subscribed channel on its own client, recording every broadcast it receives. */
async function listener(
  topic: string,
  config: { self?: boolean; ack?: boolean } = {},
  options: { token?: string; vsn?: string } = {},
) {
  const supabase = await client(options);
  const received = new Queue<Received>();
  const channel = supabase
    .channel(topic, { config: { broadcast: config } })
    .on('broadcast', { event: '*' }, (message) => received.push({ event: message.event, payload: message.payload }));
  await subscribed(channel);
  return { supabase, channel, received };
}

async function post(path: string, body: string, headers: Record<string, string>) {
  const response = await fetch(`${server.url}/realtime/v1/api/broadcast${path}`, { method: 'POST', body, headers });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

describe(`broadcast over supabase-js (${testBackend()})`, () => {
  test('reaches the other clients; the sender gets its own message only with self: true', async () => {
    const quiet = await listener('room-self');
    const echo = await listener('room-self', { self: true });
    const other = await listener('room-self');

    assert.equal(await quiet.channel.send({ type: 'broadcast', event: 'hello', payload: { from: 'quiet' } }), 'ok');
    assert.deepEqual(await other.received.next(), { event: 'hello', payload: { from: 'quiet' } });
    assert.deepEqual(await echo.received.next(), { event: 'hello', payload: { from: 'quiet' } });

    await echo.channel.send({ type: 'broadcast', event: 'hello', payload: { from: 'echo' } });
    assert.deepEqual(await echo.received.next(), { event: 'hello', payload: { from: 'echo' } }, 'self: true echoes');
    assert.deepEqual(await other.received.next(), { event: 'hello', payload: { from: 'echo' } });
    // The server fans out in order: had quiet received its own message, it would come first.
    assert.deepEqual(await quiet.received.next(), { event: 'hello', payload: { from: 'echo' } });
    assert.equal(quiet.received.pending, 0);
  });

  test('an event filter only hears its event', async () => {
    const supabase = await client();
    const cursors = new Queue<unknown>();
    const channel = supabase
      .channel('room-filter')
      .on('broadcast', { event: 'cursor' }, (message) => cursors.push(message.payload));
    await subscribed(channel);
    const sender = await listener('room-filter');
    await sender.channel.send({ type: 'broadcast', event: 'typing', payload: { n: 1 } });
    await sender.channel.send({ type: 'broadcast', event: 'cursor', payload: { x: 2 } });
    assert.deepEqual(await cursors.next(), { x: 2 });
    assert.equal(cursors.pending, 0);
  });

  test('with ack: true, send() resolves "ok" once the server has it', async () => {
    const acked = await listener('room-ack', { ack: true });
    const other = await listener('room-ack');
    assert.equal(await acked.channel.send({ type: 'broadcast', event: 'saved', payload: { id: 7 } }), 'ok');
    assert.deepEqual(await other.received.next(), { event: 'saved', payload: { id: 7 } });
  });

  test('binary payloads arrive as the same bytes (vsn 2.0.0)', async () => {
    const sender = await listener('room-bytes');
    const receiver = await listener('room-bytes');
    const bytes = new Uint8Array([1, 2, 3, 250]);
    await sender.channel.send({ type: 'broadcast', event: 'bin', payload: bytes.buffer });
    const got = await receiver.received.next();
    assert.equal(got.event, 'bin');
    assert.ok(got.payload instanceof ArrayBuffer, 'an ArrayBuffer');
    assert.deepEqual([...new Uint8Array(got.payload)], [1, 2, 3, 250]);
  });

  test('vsn 1.0.0 clients broadcast to and from vsn 2.0.0 clients', async () => {
    const old = await listener('room-vsn', {}, { vsn: '1.0.0' });
    const current = await listener('room-vsn');
    await old.channel.send({ type: 'broadcast', event: 'ping', payload: { v: 1 } });
    assert.deepEqual(await current.received.next(), { event: 'ping', payload: { v: 1 } });
    await current.channel.send({ type: 'broadcast', event: 'pong', payload: { v: 2 } });
    assert.deepEqual(await old.received.next(), { event: 'pong', payload: { v: 2 } });
  });
});

describe(`broadcast from the server over HTTP (${testBackend()})`, () => {
  test('httpSend() from a signed-in client reaches a subscribed client', async () => {
    const receiver = await listener('room-http');
    const token = await server.tokenFor('user_http_sender');
    const sender = await client({ token });
    const channel = sender.channel('room-http');
    assert.deepEqual(await channel.httpSend('notice', { text: 'hi' }), { success: true });
    assert.deepEqual(await receiver.received.next(), { event: 'notice', payload: { text: 'hi' } });
    // Bytes go as application/octet-stream and arrive as bytes.
    assert.deepEqual(await channel.httpSend('raw', new Uint8Array([9, 8]).buffer), { success: true });
    const raw = await receiver.received.next();
    assert.deepEqual([...new Uint8Array(raw.payload)], [9, 8]);
  });

  test('the batch endpoint with the service_role key answers 202 and delivers each message', async () => {
    const receiver = await listener('room-batch');
    const response = await post(
      '',
      JSON.stringify({
        messages: [
          { topic: 'room-batch', event: 'a', payload: { n: 1 } },
          { topic: 'room-batch', event: 'b', payload: { n: 2 } },
        ],
      }),
      { apikey: server.keys.service_role, 'content-type': 'application/json' },
    );
    assert.equal(response.status, 202);
    assert.deepEqual(await receiver.received.next(), { event: 'a', payload: { n: 1 } });
    assert.deepEqual(await receiver.received.next(), { event: 'b', payload: { n: 2 } });
  });

  test('send() on a channel that is not joined falls back to the batch endpoint', async () => {
    const receiver = await listener('room-fallback');
    const sender = await client({ token: await server.tokenFor('user_fallback') });
    const original = console.warn;
    console.warn = () => {}; // realtime-js warns that this fallback is deprecated
    try {
      assert.equal(
        await sender.channel('room-fallback').send({ type: 'broadcast', event: 'x', payload: { y: 1 } }),
        'ok',
      );
    } finally {
      console.warn = original;
    }
    assert.deepEqual(await receiver.received.next(), { event: 'x', payload: { y: 1 } });
  });

  test('bad requests are refused with a 4xx and deliver nothing', async () => {
    const receiver = await listener('room-refused');
    const json = { 'content-type': 'application/json' };
    const good = JSON.stringify({ messages: [{ topic: 'room-refused', event: 'bad', payload: {} }] });

    const anon = await post('', good, { apikey: server.keys.anon, ...json });
    assert.equal(anon.status, 401);
    assert.equal(anon.json.code, 'LOCO_AUTH_REQUIRED');

    const forged = await post('', good, { apikey: server.keys.anon, authorization: 'Bearer not.a.jwt', ...json });
    assert.equal(forged.status, 401);
    assert.equal(forged.json.code, 'PGRST301');

    const service = { apikey: server.keys.service_role, ...json };
    const shapeless = await post('', JSON.stringify({ messages: [{ topic: 'room-refused' }] }), service);
    assert.equal(shapeless.status, 400);
    assert.equal(shapeless.json.code, 'LOCO_REALTIME_INVALID');
    assert.match(shapeless.json.details, /event/);

    const notJson = await post('', '{"messages": [', service);
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json.code, 'PGRST102');

    // One bad message in a batch: none of them is sent. A user may not send to a private
    // topic no realtime.messages policy lets them write (test/realtime/private.test.ts).
    const user = {
      ...json,
      apikey: server.keys.anon,
      authorization: `Bearer ${await server.tokenFor('user_refused')}`,
    };
    const mixed = await post(
      '',
      JSON.stringify({
        messages: [
          { topic: 'room-refused', event: 'bad', payload: {} },
          { topic: 'room-refused', event: 'bad', payload: {}, private: true },
        ],
      }),
      user,
    );
    assert.equal(mixed.status, 403);
    assert.equal(mixed.json.code, 'LOCO_REALTIME_FORBIDDEN');

    const privateSingle = await post('/room-refused/events/bad?private=true', '{}', user);
    assert.equal(privateSingle.status, 403);

    const okay = await post('/room-refused/events/good', JSON.stringify({ fine: true }), service);
    assert.equal(okay.status, 202);
    assert.deepEqual(await receiver.received.next(), { event: 'good', payload: { fine: true } }, 'nothing before it');
  });
});
