import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import { userToken } from '../../src/auth/keys.js';
import { sql } from '../../src/db/sql.js';
import { createBooking, createListing, createUser, type UserFixture } from '../helpers/fixtures.js';
import {
  asUser,
  getTestDatabase,
  startTestServer,
  TEST_JWT_SECRET,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';
import { Queue, realtimeClient, subscribe, subscribed } from './support.js';

/*
 * Private channels authorised by the realtime.messages policies, and broadcast from SQL
 * (migration 0032, decision 0018), through supabase-js over real sockets. "Never delivered"
 * is shown without a clock: something the receiver may get is sent afterwards, and messages
 * arrive in order, so the first thing it gets must be that one.
 */

let db: TestDatabase;
let server: TestServer;
const clients: SupabaseClient[] = [];
let alice: UserFixture;
let bob: UserFixture;
let carol: UserFixture;
let conversationId: string;
let topic: string;

before(async () => {
  db = await getTestDatabase();
  server = await startTestServer(db);
  [alice, bob, carol] = [await createUser(db), await createUser(db), await createUser(db)];
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.conversations (tenant_id, created_by) values (${alice.tenantId}, ${alice.id}) returning id`);
  conversationId = (rows[0] as { id: string }).id;
  for (const member of [alice, bob]) {
    await db.query(
      sql`insert into public.conversation_participants (conversation_id, user_id) values (${conversationId}, ${member.id})`,
    );
  }
  topic = `conversation:${conversationId}`;
});
after(async () => {
  for (const client of clients) await client.realtime.disconnect();
  await server?.close();
  await db?.dispose();
});

async function client(user?: UserFixture): Promise<SupabaseClient> {
  const made = await realtimeClient(server, user ? { token: await server.tokenFor(user.clerkId) } : {});
  clients.push(made);
  return made;
}

interface Received {
  readonly event: string;
  // biome-ignore lint/suspicious/noExplicitAny: whatever was broadcast
  readonly payload: any;
  readonly meta?: { id?: string };
}

interface Joined {
  readonly supabase: SupabaseClient;
  readonly channel: RealtimeChannel;
  readonly received: Queue<Received>;
}

/** A user (or anon) on a private channel, recording its broadcasts; not yet subscribed. */
async function privateChannel(
  user: UserFixture | undefined,
  name: string,
  config: { ack?: boolean; isPrivate?: boolean } = {},
): Promise<Joined> {
  const supabase = await client(user);
  const received = new Queue<Received>();
  const channel = supabase
    .channel(name, { config: { private: config.isPrivate ?? true, broadcast: { ack: config.ack ?? false } } })
    .on('broadcast', { event: '*' }, (message) =>
      received.push({ event: message.event, payload: message.payload, meta: message.meta }),
    );
  return { supabase, channel, received };
}

async function joined(
  user: UserFixture | undefined,
  name: string,
  config: { ack?: boolean; isPrivate?: boolean } = {},
) {
  const made = await privateChannel(user, name, config);
  await subscribed(made.channel);
  return made;
}

/** The first status a subscribe reports, for a refusal. */
async function refusal(user: UserFixture | undefined, name: string): Promise<{ status: string; message?: string }> {
  const { channel, supabase } = await privateChannel(user, name);
  const first = await subscribe(channel).next();
  await supabase.removeChannel(channel); // realtime-js would retry the join with back-off
  return { status: first.status, message: first.error?.message };
}

async function sendFromSql(payload: object, event: string, to: string, isPrivate = true): Promise<void> {
  await db.query(sql`select realtime.send(${JSON.stringify(payload)}::jsonb, ${event}, ${to}, ${isPrivate})`);
}

describe(`private channels (${testBackend()})`, () => {
  test("a conversation's participants join its private channel, send and receive", async () => {
    const a = await joined(alice, topic);
    const b = await joined(bob, topic, { ack: true });
    assert.equal(await b.channel.send({ type: 'broadcast', event: 'typing', payload: { on: true } }), 'ok');
    assert.deepEqual(await a.received.next(), { event: 'typing', payload: { on: true }, meta: undefined });
  });

  test('a non-participant and anon are refused with the reason realtime-js shows', async () => {
    const expected = `Unauthorized: You do not have permissions to read from this Channel topic: ${topic}`;
    assert.deepEqual(await refusal(carol, topic), { status: 'CHANNEL_ERROR', message: expected });
    assert.deepEqual(await refusal(undefined, topic), { status: 'CHANNEL_ERROR', message: expected });
    // A topic no policy mentions: nobody but service_role joins it.
    assert.equal((await refusal(alice, `room-${randomUUID()}`)).status, 'CHANNEL_ERROR');
    // A malformed conversation topic is a refusal, not an error.
    assert.match((await refusal(alice, 'conversation:not-a-uuid')).message ?? '', /^Unauthorized: /);
    // service_role bypasses RLS: it joins any private channel.
    const service = await realtimeClient(server, { apikey: server.keys.service_role });
    clients.push(service);
    await subscribed(service.channel(`room-${randomUUID()}`, { config: { private: true } }));
  });

  test('public and private channels of one name are separate', async () => {
    const privateOne = await joined(alice, topic);
    const publicOne = await joined(carol, topic, { isPrivate: false });
    const sender = await joined(bob, topic, { ack: true });
    const publicSender = await joined(undefined, topic, { isPrivate: false, ack: true });
    assert.equal(await publicSender.channel.send({ type: 'broadcast', event: 'x', payload: { to: 'public' } }), 'ok');
    assert.equal(await sender.channel.send({ type: 'broadcast', event: 'x', payload: { to: 'private' } }), 'ok');
    assert.deepEqual((await privateOne.received.next()).payload, { to: 'private' });
    assert.deepEqual((await publicOne.received.next()).payload, { to: 'public' });
  });

  test("a booking's customer and provider join its private channel; others are refused", async () => {
    const provider = await createUser(db, { role: 'provider' });
    const booking = await createBooking(db, await createListing(db, provider), alice);
    const bookingTopic = `booking:${booking.id}`;
    const customer = await joined(alice, bookingTopic);
    const theProvider = await joined(provider, bookingTopic, { ack: true });
    assert.equal(await theProvider.channel.send({ type: 'broadcast', event: 'eta', payload: { min: 5 } }), 'ok');
    assert.deepEqual((await customer.received.next()).payload, { min: 5 });
    assert.match(
      (await refusal(bob, bookingTopic)).message ?? '',
      /^Unauthorized: You do not have permissions to read/,
    );
  });

  test('a reader without write permission can neither send nor track', async () => {
    const announcements = `announcements-${randomUUID()}`;
    // A team's own policy: signed-in users may read the topic, nobody may write to it.
    await db.exec(`create policy "test: read ${announcements}" on realtime.messages for select to authenticated
                   using (topic = '${announcements}')`);
    const listener = await joined(alice, announcements);
    const reader = await joined(bob, announcements, { ack: true });
    assert.equal(await reader.channel.send({ type: 'broadcast', event: 'spam', payload: {} }), 'error');
    assert.equal(await reader.channel.track({ here: true }), 'error');
    // The owner may always send; that message is the first the listener gets.
    await sendFromSql({ text: 'hello' }, 'notice', announcements);
    const first = await listener.received.next();
    assert.equal(first.event, 'notice');
    assert.equal(first.payload.text, 'hello');
    // The checks' probe rows and refused writes were all rolled back.
    const { rows } = await db.query<{ n: number }>(
      sql`select count(*)::int as n from realtime.messages where event is null`,
    );
    assert.equal(rows[0]?.n, 0);
  });

  test("a refreshed token that may no longer read closes the channel with Supabase's system message", async () => {
    const dave = await createUser(db);
    await db.query(
      sql`insert into public.conversation_participants (conversation_id, user_id) values (${conversationId}, ${dave.id})`,
    );
    const { supabase, channel } = await privateChannel(dave, topic);
    const system = new Queue<{ status?: string; message?: string }>();
    channel.on('system', {}, (message) => system.push(message));
    const statuses = await subscribed(channel);
    await db.query(
      sql`delete from public.conversation_participants where conversation_id = ${conversationId} and user_id = ${dave.id}`,
    );
    await supabase.realtime.setAuth(await userToken(TEST_JWT_SECRET, { sub: dave.clerkId, ttlSeconds: 7200 }));
    assert.deepEqual(await system.next(), {
      extension: 'system',
      status: 'error',
      message: `You no longer have permission to read from this Channel topic: ${topic}`,
      channel: topic,
    });
    assert.equal((await statuses.next()).status, 'CLOSED');
  });
});

describe(`broadcast from SQL (${testBackend()})`, () => {
  test('realtime.send delivers at commit, never from a rolled-back transaction', async () => {
    const a = await joined(alice, topic);
    await db.transaction(
      async (tx) => {
        await tx.query(sql`select realtime.send(${JSON.stringify({ n: 1 })}::jsonb, 'rolled-back', ${topic})`);
      },
      { end: 'rollback' },
    );
    // As a participant (the INSERT policy allows it), committed.
    await asUser(
      db,
      bob.clerkId,
      async (tx) => {
        await tx.query(sql`select realtime.send(${JSON.stringify({ n: 2 })}::jsonb, 'committed', ${topic})`);
      },
      { commit: true },
    );
    const first = await a.received.next();
    assert.equal(first.event, 'committed');
    assert.equal(first.payload.n, 2);
    assert.match(first.meta?.id ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(first.payload.id, first.meta?.id, "the row's id, as Supabase adds it");
  });

  test('a send the policies refuse is a warning and delivers nothing; public sends reach the public channel', async () => {
    const a = await joined(alice, topic);
    const publicListener = await joined(carol, topic, { isPrivate: false });
    // carol is no participant: her send is refused (a WARNING), her transaction still commits.
    await asUser(
      db,
      carol.clerkId,
      async (tx) => {
        await tx.query(sql`select realtime.send(${JSON.stringify({ from: 'carol' })}::jsonb, 'intrusion', ${topic})`);
      },
      { commit: true },
    );
    await sendFromSql({ from: 'server' }, 'public-notice', topic, false);
    await sendFromSql({ from: 'server' }, 'private-notice', topic, true);
    assert.equal((await publicListener.received.next()).event, 'public-notice');
    assert.equal((await a.received.next()).event, 'private-notice', 'neither the refused nor the public one');

    await assert.rejects(sendFromSql({}, '', topic), /event is required/);
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`select realtime.send('{}'::jsonb, 'x', ${topic})`)),
      /permission denied/,
      'anon may not call realtime.send',
    );
  });

  test('realtime.broadcast_changes from a row trigger reaches the private channel at commit', async () => {
    await db.exec(`
      create function public.test_broadcast_message() returns trigger language plpgsql as $$
      begin
        perform realtime.broadcast_changes('conversation:' || coalesce(new.conversation_id, old.conversation_id),
                                           tg_op, tg_op, tg_table_name, tg_table_schema, new, old);
        return null;
      end $$;
      create trigger test_broadcast_message after insert or update on public.messages
        for each row execute function public.test_broadcast_message();`);
    const a = await joined(alice, topic);
    const inserted = await asUser(
      db,
      bob.clerkId,
      async (tx) => {
        const { rows } = await tx.query<{ id: string }>(sql`
          insert into public.messages (conversation_id, sender_id, content)
          values (${conversationId}, ${bob.id}, 'over the trigger') returning id`);
        return (rows[0] as { id: string }).id;
      },
      { commit: true },
    );
    const got = await a.received.next();
    assert.equal(got.event, 'INSERT');
    assert.equal(got.payload.operation, 'INSERT');
    assert.equal(got.payload.table, 'messages');
    assert.equal(got.payload.schema, 'public');
    assert.equal(got.payload.record.id, inserted);
    assert.equal(got.payload.record.content, 'over the trigger');
    assert.equal(got.payload.old_record, null);
    await db.exec('drop trigger test_broadcast_message on public.messages');
  });
});

describe(`private broadcasts over HTTP (${testBackend()})`, () => {
  test('httpSend() on a private channel is sent for a participant, refused (403) for others', async () => {
    const a = await joined(alice, topic);
    const fromBob = (await client(bob)).channel(topic, { config: { private: true } });
    const fromCarol = (await client(carol)).channel(topic, { config: { private: true } });
    await assert.rejects(fromCarol.httpSend('sneak', { x: 1 }), /permissions to write/);
    assert.deepEqual(await fromBob.httpSend('note', { x: 2 }), { success: true });
    assert.deepEqual((await a.received.next()).payload, { x: 2 });

    const batch = (apikey: string, token?: string) =>
      fetch(`${server.url}/realtime/v1/api/broadcast`, {
        method: 'POST',
        headers: {
          apikey,
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({
          messages: [
            { topic, event: 'batch', payload: { n: 1 }, private: true },
            { topic: 'room-public', event: 'batch', payload: { n: 2 } },
          ],
        }),
      });
    const refused = await batch(server.keys.anon, await server.tokenFor(carol.clerkId));
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { code: string }).code, 'LOCO_REALTIME_FORBIDDEN');
    const service = await batch(server.keys.service_role);
    assert.equal(service.status, 202);
    assert.deepEqual((await a.received.next()).payload, { n: 1 }, 'nothing from the refused batch');
  });
});
