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
import { Queue, realtimeClient, subscribed } from './support.js';

/*
 * Two real `loconomy serve` processes on one PostgreSQL database: what one process's clients
 * broadcast reaches the other's through the database (src/realtime/relay.ts). PGlite is one
 * process per data directory, so there is no second process to reach.
 */

const skip = testBackend() === 'pglite' && 'the embedded database is one process per data directory';

type Server = Pick<TestServer, 'url' | 'keys'>;

let where: TestDatabaseLocation | undefined;
const children: ChildProcess[] = [];
const clients: SupabaseClient[] = [];
let a: Server;
let b: Server;

async function serve(location: TestDatabaseLocation): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--host', '127.0.0.1'], {
    cwd: ROOT,
    env: cleanEnv(location.env),
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
  return { url, keys: await projectKeys(TEST_JWT_SECRET) };
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
          if (child.exitCode !== null) return resolve();
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
