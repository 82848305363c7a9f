import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import pg from 'pg';
import { projectKeys, userToken } from '../../src/auth/keys.js';
import {
  BIN,
  cleanEnv,
  createTestDatabaseLocation,
  freePort,
  ROOT,
  TEST_JWT_SECRET,
  type TestDatabaseLocation,
  type TestServer,
  testBackend,
} from '../helpers/index.js';
import { joinOf, leaveOf, names, presenceIs, presenceMember, Queue, realtimeClient, subscribed } from './support.js';

/*
 * Two real `loconomy serve` processes on one PostgreSQL database (and a third, started later
 * and killed): what one process's clients broadcast or track reaches the other's through the
 * database (src/realtime/relay.ts, src/realtime/tracker.ts). PGlite is one process per data
 * directory, so there is no second process to reach.
 */

const skip = testBackend() === 'pglite' && 'the embedded database is one process per data directory';

type Server = Pick<TestServer, 'url' | 'keys'> & { readonly child: ChildProcess };
/** Heartbeats twice a second, so a killed process's presences leave within about 2 s. */
const PRESENCE_INTERVAL_MS = '500';

let where: TestDatabaseLocation | undefined;
const children: ChildProcess[] = [];
const clients: SupabaseClient[] = [];
let a: Server;
let b: Server;

async function serve(location: TestDatabaseLocation): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--host', '127.0.0.1'], {
    cwd: ROOT,
    env: cleanEnv({ ...location.env, LOCONOMY_REALTIME_PRESENCE_INTERVAL_MS: PRESENCE_INTERVAL_MS }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited with code ${child.exitCode}: ${stderr}`);
    const response = await fetch(`${url}/health`).catch(() => undefined);
    if (response?.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, keys: await projectKeys(TEST_JWT_SECRET), child };
}

before(async () => {
  if (skip) return;
  where = await createTestDatabaseLocation('migrated');
  [a, b] = await Promise.all([serve(where), serve(where)]);
});
after(async () => {
  for (const client of clients) await client.realtime.disconnect();
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  await where?.dispose();
});

interface Received {
  readonly event: string;
  // biome-ignore lint/suspicious/noExplicitAny: whatever was broadcast
  readonly payload: any;
}

async function listener(server: Server, topic: string, config: { self?: boolean; ack?: boolean } = {}) {
  const supabase = await realtimeClient(server);
  clients.push(supabase);
  const received = new Queue<Received>();
  const channel = supabase
    .channel(topic, { config: { broadcast: config } })
    .on('broadcast', { event: '*' }, (message) => received.push({ event: message.event, payload: message.payload }));
  await subscribed(channel);
  return { supabase, channel, received };
}

describe(`broadcast across two serve processes (${testBackend()})`, { skip }, () => {
  test('a client on A receives what a client on B sends; self and ack stay with the sender', async () => {
    const onA = await listener(a, 'room-x');
    const sender = await listener(b, 'room-x', { self: true, ack: true });
    const quietOnB = await listener(b, 'room-x');

    assert.equal(await sender.channel.send({ type: 'broadcast', event: 'hello', payload: { n: 1 } }), 'ok');
    assert.deepEqual(await onA.received.next(), { event: 'hello', payload: { n: 1 } });
    assert.deepEqual(await sender.received.next(), { event: 'hello', payload: { n: 1 } }, 'self: true');
    assert.deepEqual(await quietOnB.received.next(), { event: 'hello', payload: { n: 1 } });

    // Each process delivers a message once: the echo of B's own NOTIFY is not delivered again.
    await quietOnB.channel.send({ type: 'broadcast', event: 'next', payload: { n: 2 } });
    assert.deepEqual(await onA.received.next(), { event: 'next', payload: { n: 2 } });
    assert.deepEqual(await sender.received.next(), { event: 'next', payload: { n: 2 } });
    assert.equal(sender.received.pending, 0);
    assert.equal(quietOnB.received.pending, 0, 'the sender without self hears nothing of its own');

    // And the other way round, in the order sent.
    for (let n = 0; n < 5; n += 1) await onA.channel.send({ type: 'broadcast', event: 'seq', payload: { n } });
    for (let n = 0; n < 5; n += 1) assert.deepEqual(await quietOnB.received.next(), { event: 'seq', payload: { n } });
    assert.equal(onA.received.pending, 0);
  });

  test('payloads over the 8000-byte NOTIFY limit and binary payloads arrive whole', async () => {
    const onA = await listener(a, 'room-big');
    const onB = await listener(b, 'room-big');
    const text = 'é'.repeat(30_000); // 60 kB of UTF-8: several notifications
    await onB.channel.send({ type: 'broadcast', event: 'big', payload: { text } });
    const got = await onA.received.next();
    assert.equal(got.payload.text, text);

    const bytes = new Uint8Array(20_000).map((_, i) => i % 251);
    await onB.channel.send({ type: 'broadcast', event: 'bin', payload: bytes.buffer });
    const raw = await onA.received.next();
    assert.equal(raw.event, 'bin');
    assert.deepEqual(new Uint8Array(raw.payload), bytes);
  });

  test("the HTTP endpoint on B reaches A's clients", async () => {
    const onA = await listener(a, 'room-http-x');
    const sender = await realtimeClient(b, { token: await userToken(TEST_JWT_SECRET, { sub: 'user_x_sender' }) });
    clients.push(sender);
    assert.deepEqual(await sender.channel('room-http-x').httpSend('notice', { text: 'hi' }), { success: true });
    assert.deepEqual(await onA.received.next(), { event: 'notice', payload: { text: 'hi' } });
  });

  test('a client that reconnects to the other process keeps receiving', async () => {
    const sender = await listener(a, 'room-move');
    const first = await listener(a, 'room-move');
    await sender.channel.send({ type: 'broadcast', event: 'm', payload: { n: 1 } });
    assert.deepEqual(await first.received.next(), { event: 'm', payload: { n: 1 } });
    await first.supabase.realtime.disconnect();

    const moved = await listener(b, 'room-move');
    await sender.channel.send({ type: 'broadcast', event: 'm', payload: { n: 2 } });
    assert.deepEqual(await moved.received.next(), { event: 'm', payload: { n: 2 } });
  });
});

describe(`postgres_changes across two serve processes (${testBackend()})`, { skip }, () => {
  test('a committed change reaches subscribers on both processes', async () => {
    const admin = new pg.Client({ connectionString: where?.url });
    await admin.connect();
    try {
      await admin.query(`
        create table public.rt_shared (id serial primary key, body text);
        alter table public.rt_shared enable row level security;
        create policy "everyone signed in reads" on public.rt_shared for select to authenticated using (true);
        grant select on public.rt_shared to authenticated;
        insert into realtime.streamed_tables (schema_name, table_name) values ('public', 'rt_shared');`);
      const token = await userToken(TEST_JWT_SECRET, { sub: 'user_x_watcher' });
      const watchers = await Promise.all(
        [a, b].map(async (server) => {
          const supabase = await realtimeClient(server, { token });
          clients.push(supabase);
          // biome-ignore lint/suspicious/noExplicitAny: the change as delivered
          const changes = new Queue<any>();
          const channel = supabase
            .channel('rt-shared')
            .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'rt_shared' }, (c) => changes.push(c));
          await subscribed(channel);
          return changes;
        }),
      );
      await admin.query(`insert into public.rt_shared (body) values ('both')`);
      for (const changes of watchers) assert.equal((await changes.next()).new.body, 'both');
    } finally {
      await admin.end();
    }
  });
});

describe(`presence across serve processes (${testBackend()})`, { skip }, () => {
  const member = (server: Server, topic: string, key: string) => presenceMember(server, topic, key, clients);

  test('tracks on one process appear on the other, with updates, untrack and disconnect', async () => {
    const alice = await member(a, 'px-lobby', 'alice');
    const bob = await member(b, 'px-lobby', 'bob');

    assert.equal(await alice.channel.track({ name: 'Alice' }), 'ok');
    const joined = await bob.events.until(joinOf('alice'));
    assert.equal(joined.presences?.[0].name, 'Alice');
    await presenceIs(bob, { alice: ['Alice'] });

    await bob.channel.track({ name: 'Bob' });
    await alice.events.until(joinOf('bob'));
    await presenceIs(alice, { alice: ['Alice'], bob: ['Bob'] });

    // presence_state for a newcomer holds the other process's members too.
    const carol = await member(b, 'px-lobby', 'carol');
    assert.deepEqual(names(carol.channel), { alice: ['Alice'], bob: ['Bob'] });

    await alice.channel.track({ name: 'Alice', status: 'away' });
    const old = await bob.events.until(leaveOf('alice'));
    assert.equal(old.presences?.[0].status, undefined);
    const update = await bob.events.until(joinOf('alice'));
    assert.equal(update.presences?.[0].status, 'away');
    await presenceIs(bob, { alice: ['Alice'], bob: ['Bob'] });
    assert.deepEqual(
      bob.channel.presenceState<{ status?: string }>().alice?.map((m) => m.status),
      ['away'],
    );

    assert.equal(await alice.channel.untrack(), 'ok');
    await carol.events.until(leaveOf('alice'));
    await presenceIs(carol, { bob: ['Bob'] });

    await bob.supabase.realtime.disconnect(); // the socket goes away without leaving
    const gone = await alice.events.until(leaveOf('bob'));
    assert.equal(gone.presences?.[0].name, 'Bob');
    await presenceIs(alice, {});
  });

  test('a client that reconnects to the other process is tracked there', async () => {
    const watcher = await member(a, 'px-move', 'watcher');
    const first = await member(b, 'px-move', 'frank');
    await first.channel.track({ name: 'on B' });
    await presenceIs(watcher, { frank: ['on B'] });
    await first.supabase.realtime.disconnect();
    await presenceIs(watcher, {});

    const moved = await member(a, 'px-move', 'frank');
    await moved.channel.track({ name: 'on A' });
    const onB = await member(b, 'px-move', 'gina');
    await presenceIs(onB, { frank: ['on A'] });
    await presenceIs(watcher, { frank: ['on A'] });
  });

  test('changes made while the LISTEN connections were cut arrive once they are back', async () => {
    const watcher = await member(b, 'px-cut', 'watcher');
    const hana = await member(a, 'px-cut', 'hana');
    const admin = new pg.Client({ connectionString: where?.url });
    await admin.connect();
    // Both processes lose their LISTEN connection and reconnect a moment later; what A
    // publishes meanwhile never reaches B, which sees a gap in A's sequence numbers at A's
    // next heartbeat and asks A for its state.
    const cut = () =>
      admin.query(`
        select pg_terminate_backend(pid) from pg_stat_activity
         where application_name = 'loconomy-listen' and datname = current_database()`);
    try {
      await cut();
      await hana.channel.track({ name: 'Hana' });
      await presenceIs(watcher, { hana: ['Hana'] });
      await cut();
      await hana.channel.untrack();
      await presenceIs(watcher, {});
    } finally {
      await admin.end();
    }
  });

  test("a process started later learns the state; a killed process's members leave", async () => {
    const dana = await member(a, 'px-late', 'dana');
    await dana.channel.track({ name: 'Dana' });
    const watcherOnB = await member(b, 'px-late', 'watcher');
    await presenceIs(watcherOnB, { dana: ['Dana'] });

    if (where === undefined) throw new Error('no database');
    const c = await serve(where);
    // Its state request may still be on its way when this client joins: the state then
    // arrives as joins.
    const erin = await member(c, 'px-late', 'erin');
    await presenceIs(erin, { dana: ['Dana'] });
    await erin.channel.track({ name: 'Erin' });
    await presenceIs(dana, { dana: ['Dana'], erin: ['Erin'] });
    await presenceIs(watcherOnB, { dana: ['Dana'], erin: ['Erin'] });

    // No goodbye: the others notice the silence (3 missed heartbeats) and drop its members.
    c.child.kill('SIGKILL');
    const left = await dana.events.until(leaveOf('erin'));
    assert.equal(left.presences?.[0].name, 'Erin');
    await presenceIs(dana, { dana: ['Dana'] });
    await presenceIs(watcherOnB, { dana: ['Dana'] });
  });
});

describe(`private channels and SQL broadcasts across two serve processes (${testBackend()})`, { skip }, () => {
  test('private broadcasts and realtime.send reach the authorised members on both processes, not the public channel', async () => {
    const admin = new pg.Client({ connectionString: where?.url });
    await admin.connect();
    try {
      await admin.query(`
        create policy "test: team-x read" on realtime.messages for select to authenticated using (topic = 'team-x');
        create policy "test: team-x write" on realtime.messages for insert to authenticated with check (topic = 'team-x');`);
      const token = await userToken(TEST_JWT_SECRET, { sub: 'user_x_team' });
      const [onA, onB] = await Promise.all(
        [a, b].map(async (server) => {
          const supabase = await realtimeClient(server, { token });
          clients.push(supabase);
          const received = new Queue<Received>();
          const channel = supabase
            .channel('team-x', { config: { private: true, broadcast: { ack: true } } })
            .on('broadcast', { event: '*' }, (m) => received.push({ event: m.event, payload: m.payload }));
          await subscribed(channel);
          return { channel, received };
        }),
      );
      const publicOnA = await listener(a, 'team-x');
      assert.equal(await onB?.channel.send({ type: 'broadcast', event: 'hi', payload: { from: 'b' } }), 'ok');
      assert.deepEqual(await onA?.received.next(), { event: 'hi', payload: { from: 'b' } });

      await admin.query(`select realtime.send('{"from": "sql"}', 'sql', 'team-x')`);
      for (const side of [onA, onB]) assert.equal((await side?.received.next())?.payload.from, 'sql');
      await admin.query(`select realtime.send('{"from": "sql-public"}', 'sql', 'team-x', false)`);
      assert.equal((await publicOnA.received.next()).payload.from, 'sql-public', 'no private message before it');
    } finally {
      await admin.end();
    }
  });

  test("a private channel's presence reaches its members on the other process, not the public channel", async () => {
    const admin = new pg.Client({ connectionString: where?.url });
    await admin.connect();
    try {
      await admin.query(`
        create policy "test: team-p read" on realtime.messages for select to authenticated using (topic = 'team-p');
        create policy "test: team-p write" on realtime.messages for insert to authenticated with check (topic = 'team-p');`);
      const token = await userToken(TEST_JWT_SECRET, { sub: 'user_x_presence' });
      const ana = await presenceMember(a, 'team-p', 'ana', clients, { token, isPrivate: true });
      const onB = await presenceMember(b, 'team-p', 'ben', clients, { token, isPrivate: true });
      const publicOnB = await presenceMember(b, 'team-p', 'pub', clients);
      assert.equal(await ana.channel.track({ name: 'Ana' }), 'ok');
      await presenceIs(onB, { ana: ['Ana'] });
      assert.equal(await publicOnB.channel.track({ name: 'Pub' }), 'ok');
      // B had Ana's presence before Pub tracked, so a leak would have reached this client first.
      await publicOnB.events.until(joinOf('pub'));
      assert.deepEqual(names(publicOnB.channel), { pub: ['Pub'] }, 'no private presence in the public channel');
    } finally {
      await admin.end();
    }
  });
});
