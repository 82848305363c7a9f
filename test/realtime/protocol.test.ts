import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SupabaseClient } from '@supabase/supabase-js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';
import { RawSocket, realtimeClient, subscribe } from './support.js';

let db: TestDatabase;
let server: TestServer;
/** A second server whose idle timeout is short, for the heartbeat tests. */
let impatient: TestServer;
const sockets: RawSocket[] = [];
const clients: SupabaseClient[] = [];

before(async () => {
  db = await getTestDatabase();
  server = await startTestServer(db);
  impatient = await startTestServer(db, { LOCONOMY_REALTIME_IDLE_TIMEOUT_MS: '1000' });
});
after(async () => {
  for (const socket of sockets) socket.ws.terminate();
  for (const client of clients) await client.realtime.disconnect();
  await impatient?.close();
  await server?.close();
  await db?.dispose();
});

async function open(vsn = '2.0.0', on = server): Promise<RawSocket> {
  const socket = await RawSocket.open(on, { apikey: on.keys.anon, vsn });
  sockets.push(socket);
  return socket;
}

/** A kind-3 frame as realtime-js 2.x encodes channel.send({type: 'broadcast'}). */
function userBroadcastPush(joinRef: string, ref: string, topic: string, event: string, json: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(json));
  const header = Buffer.from([3, joinRef.length, ref.length, topic.length, event.length, 0, 1]);
  return Buffer.concat([header, Buffer.from(joinRef + ref + topic + event, 'latin1'), payload]);
}

describe(`the Phoenix protocol on raw sockets (${testBackend()})`, () => {
  test('vsn 2.0.0: array frames, heartbeats, join, kind-3 broadcasts in, text out, leave', async () => {
    const a = await open();
    const b = await open();
    a.send([null, '1', 'phoenix', 'heartbeat', {}]);
    assert.deepEqual(await a.next(), [null, '1', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);

    a.send(['2', '2', 'realtime:raw', 'phx_join', { config: { broadcast: { self: 'true' } } }]);
    assert.deepEqual(await a.next(), [
      '2',
      '2',
      'realtime:raw',
      'phx_reply',
      { status: 'ok', response: { postgres_changes: [] } },
    ]);
    b.send(['7', '7', 'realtime:raw', 'phx_join', {}]);
    await b.next((f) => f[3] === 'phx_reply');

    a.sendBinary(userBroadcastPush('2', '3', 'realtime:raw', 'cursor', { x: 2 }));
    const expected = [
      null,
      null,
      'realtime:raw',
      'broadcast',
      { type: 'broadcast', event: 'cursor', payload: { x: 2 } },
    ];
    assert.deepEqual(await b.next(), expected);
    assert.deepEqual(await a.next(), expected, 'self: "true" (a string) counts');

    a.send(['2', '4', 'realtime:raw', 'phx_leave', {}]);
    assert.deepEqual(await a.next(), ['2', '4', 'realtime:raw', 'phx_reply', { status: 'ok', response: {} }]);
    assert.deepEqual(await a.next(), ['2', '2', 'realtime:raw', 'phx_close', {}]);
    a.send(['2', '5', 'realtime:raw', 'broadcast', { type: 'broadcast', event: 'late', payload: {} }]);
    assert.deepEqual(await a.next(), [
      '2',
      '5',
      'realtime:raw',
      'phx_reply',
      { status: 'error', response: { reason: 'unmatched topic' } },
    ]);
  });

  test('vsn 1.0.0: object frames both ways, and binary broadcasts are not sent to it', async () => {
    const old = await open('1.0.0');
    const current = await open();
    old.send({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: '1', join_ref: null });
    assert.deepEqual(await old.next(), {
      topic: 'phoenix',
      event: 'phx_reply',
      payload: { status: 'ok', response: {} },
      ref: '1',
      join_ref: null,
    });
    old.send({ topic: 'realtime:v1', event: 'phx_join', payload: {}, ref: '2', join_ref: '2' });
    assert.equal((await old.next()).payload.status, 'ok');
    current.send(['3', '3', 'realtime:v1', 'phx_join', {}]);
    await current.next((f) => f[3] === 'phx_reply');

    current.sendBinary(
      Buffer.concat([Buffer.from([3, 1, 1, 11, 3, 0, 0]), Buffer.from('34realtime:v1bin'), Buffer.from([1, 2])]),
    );
    current.sendBinary(userBroadcastPush('3', '5', 'realtime:v1', 'json', { ok: true }));
    assert.deepEqual(await old.next(), {
      topic: 'realtime:v1',
      event: 'broadcast',
      payload: { type: 'broadcast', event: 'json', payload: { ok: true } },
      ref: null,
      join_ref: null,
    });
    old.send({
      topic: 'realtime:v1',
      event: 'broadcast',
      payload: { type: 'broadcast', event: 'back', payload: [1] },
      ref: '3',
      join_ref: '2',
    });
    assert.deepEqual(await current.next(), [
      null,
      null,
      'realtime:v1',
      'broadcast',
      { type: 'broadcast', event: 'back', payload: [1] },
    ]);
  });

  test('a second join of the same topic closes the first', async () => {
    const socket = await open();
    socket.send(['1', '1', 'realtime:twice', 'phx_join', {}]);
    await socket.next((f) => f[1] === '1');
    socket.send(['2', '2', 'realtime:twice', 'phx_join', {}]);
    assert.deepEqual(await socket.next(), ['1', '1', 'realtime:twice', 'phx_close', {}]);
    assert.equal((await socket.next())[4].status, 'ok');
  });

  test('topics, frames and versions out of protocol get the errors Realtime gives', async () => {
    const socket = await open();
    socket.send(['1', '1', 'lobby', 'phx_join', {}]);
    assert.deepEqual((await socket.next())[4], { status: 'error', response: { reason: 'unmatched topic' } });
    socket.send(['2', '2', 'realtime:', 'phx_join', {}]);
    assert.deepEqual((await socket.next())[4].response, { reason: 'TopicNameRequired: You must provide a topic name' });
    socket.send(['3', '3', 'realtime:x', 'phx_join', { config: { broadcast: { self: 'maybe' } } }]);
    assert.match((await socket.next())[4].response.reason, /^InvalidJoinPayload: config\.broadcast\.self/);

    socket.send('this is not json');
    assert.equal((await socket.closed).code, 1003);

    const badVsn = await RawSocket.refused(server, { apikey: server.keys.anon, vsn: '3.0.0' });
    assert.equal(badVsn.status, 400);
    assert.equal((badVsn.body as { code: string }).code, 'LOCO_REALTIME_INVALID');
  });

  test('private channels, and postgres_changes on a table the caller may not read, are refused with a clear CHANNEL_ERROR', async () => {
    const supabase = await realtimeClient(server);
    clients.push(supabase);
    const changes = supabase
      .channel('room-changes')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages' }, () => {});
    const first = await subscribe(changes).next();
    assert.equal(first.status, 'CHANNEL_ERROR');
    // anon may read no message: for it, messages is not a streamed table (test/realtime/changes.test.ts).
    assert.match(first.error?.message ?? '', /^UnknownPostgresChangesTable: Unable to subscribe to changes/);

    // No realtime.messages policy lets anon read this topic (test/realtime/private.test.ts).
    const secret = supabase.channel('room-private', { config: { private: true } });
    const refused = await subscribe(secret).next();
    assert.equal(refused.status, 'CHANNEL_ERROR');
    assert.equal(
      refused.error?.message,
      'Unauthorized: You do not have permissions to read from this Channel topic: room-private',
    );
  });
});

describe(`heartbeats and the idle timeout (${testBackend()})`, () => {
  test('a socket that sends nothing is closed after the timeout', async () => {
    const silent = await open('2.0.0', impatient);
    assert.deepEqual(await silent.closed, { code: 1000, reason: 'idle timeout: no message within the timeout' });
  });

  test('heartbeats keep a socket open past the timeout', async () => {
    const alive = await open('2.0.0', impatient);
    let closed = false;
    alive.closed.then(() => {
      closed = true;
    });
    for (let i = 0; i < 6; i += 1) {
      alive.send([null, String(i), 'phoenix', 'heartbeat', {}]);
      assert.equal((await alive.next((f) => f[1] === String(i)))[4].status, 'ok');
      await sleep(300);
    }
    assert.equal(closed, false, 'still open after 6 × 300 ms with a 1000 ms timeout');
  });
});
