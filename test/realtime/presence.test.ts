import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';
import { joinOf, leaveOf, names, presenceMember, RawSocket } from './support.js';

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

const member = (topic: string, key: string) => presenceMember(server, topic, key, clients);

describe(`presence over supabase-js (${testBackend()})`, () => {
  test('two clients see each other track, and a late joiner gets the state', async () => {
    const bob = await member('lobby', 'bob');
    const alice = await member('lobby', 'alice');

    assert.equal(await alice.channel.track({ name: 'Alice' }), 'ok');
    const joined = await bob.events.until(joinOf('alice'));
    assert.equal(joined.presences?.[0].name, 'Alice');
    assert.equal(typeof joined.presences?.[0].presence_ref, 'string');
    await bob.events.until((e) => e.event === 'sync');
    assert.deepEqual(names(bob.channel), { alice: ['Alice'] });

    await bob.channel.track({ name: 'Bob' });
    await alice.events.until(joinOf('bob'));
    await alice.events.until((e) => e.event === 'sync');
    assert.deepEqual(names(alice.channel), { alice: ['Alice'], bob: ['Bob'] }, 'the tracker sees itself too');

    const carol = await member('lobby', 'carol');
    assert.deepEqual(names(carol.channel), { alice: ['Alice'], bob: ['Bob'] }, 'presence_state on join');
  });

  test('re-tracking updates the meta; untrack and disconnect send leaves', async () => {
    const watcher = await member('hall', 'watcher');
    const dana = await member('hall', 'dana');

    await dana.channel.track({ name: 'Dana', status: 'busy' });
    await watcher.events.until(joinOf('dana'));
    await dana.channel.track({ name: 'Dana', status: 'free' });
    // An update is a leave of the old meta and a join of the new one (docs/realtime.md).
    const old = await watcher.events.until(leaveOf('dana'));
    assert.equal(old.presences?.[0].status, 'busy');
    const update = await watcher.events.until(joinOf('dana'));
    assert.equal(update.presences?.[0].status, 'free');
    await watcher.events.until((e) => e.event === 'sync');
    assert.deepEqual(
      watcher.channel.presenceState<{ name?: string; status?: string }>().dana?.map((m) => m.status),
      ['free'],
    );

    assert.equal(await dana.channel.untrack(), 'ok');
    await watcher.events.until(leaveOf('dana'));
    await watcher.events.until((e) => e.event === 'sync');
    assert.deepEqual(names(watcher.channel), {});

    await dana.channel.track({ name: 'Dana' });
    await watcher.events.until(joinOf('dana'));
    await dana.supabase.realtime.disconnect(); // the socket goes away without leaving
    const gone = await watcher.events.until(leaveOf('dana'));
    assert.equal(gone.presences?.[0].name, 'Dana');
    await watcher.events.until((e) => e.event === 'sync');
    assert.deepEqual(names(watcher.channel), {});
  });

  test('several connections with one key are several metas under it', async () => {
    const watcher = await member('desk', 'watcher');
    const phone = await member('desk', 'erin');
    const laptop = await member('desk', 'erin');
    await phone.channel.track({ name: 'phone' });
    await laptop.channel.track({ name: 'laptop' });
    await watcher.events.until(joinOf('erin'));
    await watcher.events.until(joinOf('erin'));
    await watcher.events.until((e) => e.event === 'sync');
    assert.deepEqual(
      watcher.channel
        .presenceState<{ name: string }>()
        .erin?.map((m) => m.name)
        .sort(),
      ['laptop', 'phone'],
    );
  });

  test('a track payload that is not an object is refused', async () => {
    const raw = await RawSocket.open(server, { apikey: server.keys.anon, vsn: '2.0.0' });
    try {
      raw.send(['1', '1', 'realtime:odd', 'phx_join', { config: { presence: { key: 'x', enabled: true } } }]);
      assert.equal((await raw.next((f) => f[1] === '1'))[4].status, 'ok');
      raw.send(['1', '2', 'realtime:odd', 'presence', { type: 'presence', event: 'track', payload: [1, 2] }]);
      const reply = await raw.next((f) => f[1] === '2');
      assert.deepEqual(reply[4], { status: 'error', response: { reason: 'Presence track payload must be a map' } });
    } finally {
      await raw.close();
    }
  });
});
