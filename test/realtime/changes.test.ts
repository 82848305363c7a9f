import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import { createUser, type UserFixture } from '../helpers/fixtures.js';
import {
  asUser,
  getTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';
import { Queue, RawSocket, realtimeClient, subscribe, subscribed } from './support.js';

/*
 * postgres_changes through supabase-js over real sockets: capture by the 0031 triggers,
 * delivery under RLS and column privileges (decision 0017). "Receives nothing" is shown
 * without waiting on a clock: the subscriber is sent a change it may see afterwards, and
 * changes arrive in commit order, so the first thing it gets must be that one.
 */

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

/** What a postgres_changes callback receives (realtime-js's payload). */
interface Change {
  readonly eventType: string;
  readonly schema: string;
  readonly table: string;
  readonly commit_timestamp: string;
  readonly errors: unknown;
  readonly new: Record<string, unknown>;
  readonly old: Record<string, unknown>;
}
type Binding = { event: '*' | 'INSERT' | 'UPDATE' | 'DELETE'; schema: string; table?: string; filter?: string };

interface Watcher {
  readonly channel: RealtimeChannel;
  /** Deliveries per binding, in binding order. */
  readonly changes: Queue<Change>[];
  readonly system: Queue<{ status?: string; message?: string; extension?: string }>;
}

let topics = 0;

/** A user (or anon) watching `bindings` on one channel; resolves once PostgreSQL is subscribed. */
async function watch(user: UserFixture | undefined, bindings: Binding[]): Promise<Watcher> {
  const supabase = await realtimeClient(server, user ? { token: await server.tokenFor(user.clerkId) } : {});
  clients.push(supabase);
  const channel = supabase.channel(`changes-${++topics}`);
  const changes = bindings.map(() => new Queue<Change>());
  const system = new Queue<{ status?: string; message?: string; extension?: string }>();
  bindings.forEach((binding, i) => {
    // biome-ignore lint/suspicious/noExplicitAny: the overloads want a literal event type
    channel.on('postgres_changes', binding as any, (payload: Change) => changes[i]?.push(payload));
  });
  channel.on('system', {}, (message) => system.push(message));
  await subscribed(channel);
  const ready = await system.next();
  assert.deepEqual(
    { extension: ready.extension, status: ready.status, message: ready.message },
    { extension: 'postgres_changes', status: 'ok', message: 'Subscribed to PostgreSQL' },
  );
  return { channel, changes, system };
}

/** A conversation with `members` as participants (written as the owner). */
async function conversation(members: UserFixture[]): Promise<string> {
  const owner = members[0] as UserFixture;
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.conversations (tenant_id, created_by) values (${owner.tenantId}, ${owner.id}) returning id`);
  const id = (rows[0] as { id: string }).id;
  for (const member of members) {
    await db.query(
      sql`insert into public.conversation_participants (conversation_id, user_id) values (${id}, ${member.id})`,
    );
  }
  return id;
}

async function post(conversationId: string, sender: UserFixture, content: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.messages (conversation_id, tenant_id, sender_id, content)
    values (${conversationId}, ${sender.tenantId}, ${sender.id}, ${content}) returning id`);
  return (rows[0] as { id: string }).id;
}

describe(`postgres_changes over supabase-js (${testBackend()})`, () => {
  test('INSERT, UPDATE and DELETE arrive, with and without a filter, each to the bindings it matches', async () => {
    const alice = await createUser(db);
    const mine = await conversation([alice]);
    const other = await conversation([alice]);
    const watcher = await watch(alice, [
      { event: 'INSERT', schema: 'public', table: 'messages', filter: `conversation_id=eq.${mine}` },
      { event: '*', schema: 'public', table: 'messages' },
    ]);
    const [filtered, all] = watcher.changes as [Queue<Change>, Queue<Change>];

    await post(other, alice, 'elsewhere'); // only the unfiltered binding
    const id = await post(mine, alice, 'hello');
    const elsewhere = await all.next();
    assert.equal(elsewhere.eventType, 'INSERT');
    assert.equal((elsewhere.new as { content: string }).content, 'elsewhere');

    const inserted = await filtered.next();
    assert.equal(inserted.eventType, 'INSERT');
    assert.equal(inserted.schema, 'public');
    assert.equal(inserted.table, 'messages');
    assert.match(inserted.commit_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(inserted.errors, null);
    assert.deepEqual(inserted.old, {});
    const row = inserted.new as Record<string, unknown>;
    assert.equal(row.id, id);
    assert.equal(row.content, 'hello');
    assert.deepEqual(row.attachments, [], 'jsonb arrives as JSON');
    assert.equal((await all.next()).new.id, id, 'one change reaches every binding that matches');

    await db.query(sql`update public.messages set content = 'edited' where id = ${id}`);
    const updated = await all.next();
    assert.equal(updated.eventType, 'UPDATE');
    assert.equal((updated.new as { content: string }).content, 'edited');
    assert.deepEqual(updated.old, { id }, 'the old record is the primary key');

    await db.query(sql`delete from public.messages where id = ${id}`);
    const deleted = await all.next();
    assert.equal(deleted.eventType, 'DELETE');
    assert.deepEqual(deleted.old, { id }, 'a DELETE carries only the primary key');
    assert.deepEqual(deleted.new, {});
    assert.equal(filtered.pending, 0, 'the INSERT-only filtered binding saw only its insert');

    // Every operator, on a composite-key table (read state) and its timestamps.
    const receipts = await watch(alice, [
      {
        event: 'UPDATE',
        schema: 'public',
        table: 'conversation_participants',
        filter: `conversation_id=in.(${mine},${other})`,
      },
      {
        event: 'UPDATE',
        schema: 'public',
        table: 'conversation_participants',
        filter: 'last_read_at=gt.2030-01-01T00:00:00Z',
      },
      {
        event: 'UPDATE',
        schema: 'public',
        table: 'conversation_participants',
        filter: 'last_read_at=lte.2030-01-01T00:00:00Z',
      },
      { event: 'UPDATE', schema: 'public', table: 'conversation_participants', filter: `conversation_id=neq.${mine}` },
    ]);
    const [inList, later, earlier, notMine] = receipts.changes as Queue<Change>[] as [
      Queue<Change>,
      Queue<Change>,
      Queue<Change>,
      Queue<Change>,
    ];
    await db.query(sql`update public.conversation_participants set last_read_at = '2031-05-01T00:00:00Z'
                        where conversation_id = ${mine} and user_id = ${alice.id}`);
    await db.query(sql`update public.conversation_participants set last_read_at = '2029-05-01T00:00:00Z'
                        where conversation_id = ${other} and user_id = ${alice.id}`);
    assert.deepEqual((await inList.next()).old, { conversation_id: mine, user_id: alice.id });
    assert.equal((await inList.next()).new.conversation_id, other);
    assert.equal((await later.next()).new.conversation_id, mine);
    assert.equal((await earlier.next()).new.conversation_id, other);
    assert.equal((await notMine.next()).new.conversation_id, other);
    assert.equal(later.pending + earlier.pending + notMine.pending, 0);
  });

  test('participants of two conversations see only their own messages; no access means no INSERT, UPDATE or DELETE', async () => {
    const alice = await createUser(db);
    const bob = await createUser(db);
    const aliceOnly = await conversation([alice]);
    const bobOnly = await conversation([bob]);
    const aliceWatch = await watch(alice, [{ event: '*', schema: 'public', table: 'messages' }]);
    const bobWatch = await watch(bob, [{ event: '*', schema: 'public', table: 'messages' }]);

    const hidden = await post(aliceOnly, alice, 'for alice');
    await db.query(sql`update public.messages set content = 'for alice, edited' where id = ${hidden}`);
    await db.query(sql`delete from public.messages where id = ${hidden}`);
    const bobs = await post(bobOnly, bob, 'for bob');

    const aliceSaw = aliceWatch.changes[0] as Queue<Change>;
    assert.deepEqual(
      [await aliceSaw.next(), await aliceSaw.next(), await aliceSaw.next()].map((c) => c.eventType),
      ['INSERT', 'UPDATE', 'DELETE'],
    );
    const bobSaw = await (bobWatch.changes[0] as Queue<Change>).next();
    assert.equal(bobSaw.eventType, 'INSERT');
    assert.equal(bobSaw.new.id, bobs, "bob's first delivery is his own message: none of alice's reached him");
  });

  test('a column the role may not read never appears, and a filter on it is refused', async () => {
    await db.exec(`
      create table public.rt_notes (
        id uuid primary key default gen_random_uuid(),
        owner text not null,
        body text,
        secret text
      );
      alter table public.rt_notes enable row level security;
      create policy "owners read their notes" on public.rt_notes for select to authenticated
        using (owner = (select app.current_subject()));
      grant select (id, owner, body) on public.rt_notes to authenticated;
      insert into realtime.streamed_tables (schema_name, table_name) values ('public', 'rt_notes');`);
    const carol = await createUser(db);
    const dave = await createUser(db);
    const carolWatch = await watch(carol, [{ event: '*', schema: 'public', table: 'rt_notes' }]);
    const daveWatch = await watch(dave, [{ event: '*', schema: 'public', table: 'rt_notes' }]);
    const notes = carolWatch.changes[0] as Queue<Change>;

    const { rows } = await db.query<{ id: string }>(sql`
      insert into public.rt_notes (owner, body, secret) values (${carol.clerkId}, 'hi', 'the secret') returning id`);
    const id = (rows[0] as { id: string }).id;
    await db.query(sql`update public.rt_notes set secret = 'another', body = 'hey' where id = ${id}`);
    await db.query(sql`delete from public.rt_notes where id = ${id}`);
    const inserted = await notes.next();
    assert.deepEqual(inserted.new, { id, owner: carol.clerkId, body: 'hi' });
    const updated = await notes.next();
    assert.deepEqual(updated.new, { id, owner: carol.clerkId, body: 'hey' });
    assert.deepEqual((await notes.next()).old, { id });

    // dave owns none of them: his first delivery is his own note.
    await db.query(sql`insert into public.rt_notes (owner, body, secret) values (${dave.clerkId}, 'mine', 's')`);
    const daves = await (daveWatch.changes[0] as Queue<Change>).next();
    assert.equal(daves.eventType, 'INSERT');
    assert.equal(daves.new.body, 'mine');

    const supabase = await realtimeClient(server, { token: await server.tokenFor(carol.clerkId) });
    clients.push(supabase);
    const probing = supabase
      .channel('probe-secret')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'rt_notes', filter: 'secret=eq.x' }, () => {});
    const status = await subscribe(probing).next();
    assert.equal(status.status, 'CHANNEL_ERROR');
    assert.match(
      status.error?.message ?? '',
      /^InvalidPostgresChangesFilter: .*"secret" is not a column the caller may read/,
    );
    await supabase.removeChannel(probing);
  });

  test('a table with columns named n and o streams whole rows (the capture trigger’s aliases)', async () => {
    await db.exec(`
      create table public.rt_letters (id int primary key, n text not null, o text);
      alter table public.rt_letters enable row level security;
      create policy "anyone signed in reads letters" on public.rt_letters for select to authenticated using (true);
      grant select on public.rt_letters to authenticated;
      insert into realtime.streamed_tables (schema_name, table_name) values ('public', 'rt_letters');`);
    const fay = await createUser(db);
    const watcher = await watch(fay, [{ event: '*', schema: 'public', table: 'rt_letters' }]);
    const letters = watcher.changes[0] as Queue<Change>;
    await db.exec(`
      insert into public.rt_letters values (1, 'en', 'oh');
      update public.rt_letters set o = 'owe' where id = 1;
      delete from public.rt_letters where id = 1;`);
    assert.deepEqual((await letters.next()).new, { id: 1, n: 'en', o: 'oh' });
    const updated = await letters.next();
    assert.deepEqual([updated.new, updated.old], [{ id: 1, n: 'en', o: 'owe' }, { id: 1 }]);
    const deleted = await letters.next();
    assert.deepEqual([deleted.eventType, deleted.old], ['DELETE', { id: 1 }]);
  });

  test('an invalid filter or a table that is not streamed refuses the join with the reason the client shows', async () => {
    const erin = await createUser(db);
    const supabase = await realtimeClient(server, { token: await server.tokenFor(erin.clerkId) });
    clients.push(supabase);
    const cases: [Binding, RegExp][] = [
      [
        { event: 'INSERT', schema: 'public', table: 'messages', filter: 'conversation_id=foo.1' },
        /^InvalidPostgresChangesFilter: Error parsing `filter` params: "conversation_id=foo.1": operator "foo"/,
      ],
      [
        { event: 'INSERT', schema: 'public', table: 'messages', filter: 'conversation_id=eq.not-a-uuid' },
        /is not a valid uuid/,
      ],
      [{ event: 'INSERT', schema: 'public', table: 'messages', filter: 'nope=eq.1' }, /"nope" is not a column/],
      [
        { event: 'INSERT', schema: 'public', table: 'messages', filter: 'conversation_id' },
        /expected column=operator.value/,
      ],
      [
        { event: 'INSERT', schema: 'public', table: 'users' },
        /^UnknownPostgresChangesTable: Unable to subscribe to changes with given parameters.*table: users/,
      ],
      [{ event: 'INSERT', schema: 'public', table: 'no_such_table' }, /^UnknownPostgresChangesTable: /],
      [{ event: '*', schema: 'realtime' }, /^UnknownPostgresChangesTable: /],
    ];
    for (const [binding, reason] of cases) {
      // biome-ignore lint/suspicious/noExplicitAny: the overloads want a literal event type
      const channel = supabase.channel(`bad-${++topics}`).on('postgres_changes', binding as any, () => {});
      const status = await subscribe(channel).next();
      assert.equal(status.status, 'CHANNEL_ERROR', JSON.stringify(binding));
      assert.match(status.error?.message ?? '', reason);
      await supabase.removeChannel(channel);
    }
    // The same channel without the bad binding joins.
    const fine = supabase
      .channel(`bad-${++topics}`)
      .on('postgres_changes', { event: '*', schema: 'public', table: 'notifications' }, () => {});
    await subscribed(fine);
  });

  test('users of one role with different claims, in one batch, each see only their own rows', async () => {
    // One statement, one transaction: one batch in which both users are groups of the role
    // authenticated. The policy reads the claims through an InitPlan, evaluated once per
    // statement, so a batch judged with one statement for several groups would show the first
    // group's rows to all of them.
    await db.exec(`
      create table public.rt_owned (
        id integer primary key,
        owner text not null,
        body text
      );
      alter table public.rt_owned enable row level security;
      create policy "owners read their rows" on public.rt_owned for select to authenticated
        using (owner = (select app.current_subject()));
      grant select on public.rt_owned to authenticated;
      insert into realtime.streamed_tables (schema_name, table_name) values ('public', 'rt_owned');`);
    const users = [await createUser(db), await createUser(db), await createUser(db)];
    const watchers = [];
    for (const user of users)
      watchers.push(await watch(user, [{ event: 'INSERT', schema: 'public', table: 'rt_owned' }]));
    const [a, b, c] = users as [UserFixture, UserFixture, UserFixture];
    await db.query(sql`
      insert into public.rt_owned (id, owner, body) values
        (1, ${a.clerkId}, 'a1'), (2, ${b.clerkId}, 'b1'), (3, 'nobody', 'x'), (4, ${a.clerkId}, 'a2'), (5, ${c.clerkId}, 'c1')`);
    // A second batch, one row each, after which nothing else can arrive first.
    await db.query(sql`
      insert into public.rt_owned (id, owner, body) values (6, ${a.clerkId}, 'a3'), (7, ${b.clerkId}, 'b2'), (8, ${c.clerkId}, 'c2')`);
    const expected = [
      ['a1', 'a2', 'a3'],
      ['b1', 'b2'],
      ['c1', 'c2'],
    ];
    for (const [i, watcher] of watchers.entries()) {
      const queue = watcher.changes[0] as Queue<Change>;
      const got = [];
      for (const _ of expected[i] as string[]) got.push((await queue.next()).new.body);
      assert.deepEqual(got, expected[i], `user ${i} receives exactly their own rows, in commit order`);
    }
  });

  test('a policy that fails for one group hides the rows from that group only', async () => {
    await db.exec(`
      create table public.rt_fragile (
        id integer primary key,
        owner text not null
      );
      create table public.rt_fragile_subjects (subject text primary key);
      alter table public.rt_fragile_subjects enable row level security; -- no policies: the guard reads it as owner
      create function public.rt_fragile_guard() returns boolean
      language plpgsql stable security definer set search_path = pg_catalog as $$
      begin
        if exists (select 1 from public.rt_fragile_subjects s where s.subject = app.current_subject()) then
          raise exception 'this policy fails for %', app.current_subject();
        end if;
        return true;
      end $$;
      alter table public.rt_fragile enable row level security;
      create policy "owners read their rows, unless the guard fails" on public.rt_fragile for select to authenticated
        using (owner = (select app.current_subject()) and (select public.rt_fragile_guard()));
      grant select on public.rt_fragile to authenticated;
      insert into realtime.streamed_tables (schema_name, table_name) values ('public', 'rt_fragile');`);
    const fails = await createUser(db);
    const earlier = await createUser(db);
    const later = await createUser(db);
    await db.query(sql`insert into public.rt_fragile_subjects (subject) values (${fails.clerkId})`);
    const failsConversation = await conversation([fails]);
    // Groups are judged in the order they are asked about: one watching the table itself comes
    // first, then those watching the whole schema in the order they joined, so the failing
    // group sits between two others of its role and both must still get their rows. The
    // failing user watches the whole schema: its first deliveries tell whether anything of the
    // failing table reached it before its own message.
    const earlierWatch = await watch(earlier, [{ event: '*', schema: 'public', table: 'rt_fragile' }]);
    const failsWatch = await watch(fails, [{ event: '*', schema: 'public' }]);
    const laterWatch = await watch(later, [{ event: '*', schema: 'public' }]);
    await db.query(sql`
      insert into public.rt_fragile (id, owner) values
        (1, ${fails.clerkId}), (2, ${earlier.clerkId}), (3, ${later.clerkId}), (4, ${earlier.clerkId}), (5, ${later.clerkId})`);
    const message = await post(failsConversation, fails, 'after the failing batch');

    for (const [watcher, ids] of [
      [earlierWatch, [2, 4]],
      [laterWatch, [3, 5]],
    ] as const) {
      const saw = watcher.changes[0] as Queue<Change>;
      assert.deepEqual([(await saw.next()).new.id, (await saw.next()).new.id], ids);
    }
    // Everything it receives up to its own message (a trigger may touch its read state too).
    const failsSaw = failsWatch.changes[0] as Queue<Change>;
    const tables: string[] = [];
    for (;;) {
      const change = await failsSaw.next();
      tables.push(change.table);
      if (change.table === 'messages' && change.new.id === message) break;
    }
    assert.ok(
      !tables.includes('rt_fragile'),
      `the group whose policy failed received nothing of rt_fragile: ${tables}`,
    );
  });

  test('the registry: a table without a primary key cannot be streamed; unregistering stops capture', async () => {
    await db.exec('create table public.rt_nokey (a int)');
    await assert.rejects(
      db.query(sql`insert into realtime.streamed_tables (schema_name, table_name) values ('public', 'rt_nokey')`),
      /has no primary key/,
    );
    await db.exec(`
      create table public.rt_keyed (id int primary key);
      insert into realtime.streamed_tables (schema_name, table_name) values ('public', 'rt_keyed');
      insert into public.rt_keyed values (1);
      delete from realtime.streamed_tables where table_name = 'rt_keyed';
      insert into public.rt_keyed values (2);`);
    const { rows } = await db.query<{ record: unknown }>(sql`
      select record from realtime.changes where table_name = 'rt_keyed' order by id`);
    assert.deepEqual(
      rows.map((r) => r.record),
      [{ id: 1 }],
    );
  });

  test('the join reply echoes the bindings in order with integer ids, then system says Subscribed to PostgreSQL (raw frames)', async () => {
    const frank = await createUser(db);
    const token = await server.tokenFor(frank.clerkId);
    const socket = await RawSocket.open(server, { apikey: server.keys.anon, vsn: '2.0.0' });
    const bindings = [
      { event: 'INSERT', schema: 'public', table: 'notifications', filter: `user_id=eq.${frank.id}` },
      { event: '*', schema: 'public', table: 'bookings' },
    ];
    socket.send([
      '7',
      '7',
      'realtime:raw',
      'phx_join',
      { config: { postgres_changes: bindings }, access_token: token },
    ]);
    const reply = await socket.next((f) => f[3] === 'phx_reply');
    assert.equal(reply[4].status, 'ok');
    const echoed = reply[4].response.postgres_changes as { id: number }[];
    assert.deepEqual(
      echoed.map(({ id, ...rest }) => rest),
      bindings,
    );
    for (const { id } of echoed) assert.ok(Number.isInteger(id) && id > 0);
    assert.notEqual(echoed[0]?.id, echoed[1]?.id);
    const system = await socket.next((f) => f[3] === 'system');
    assert.deepEqual(system, [
      '7',
      null,
      'realtime:raw',
      'system',
      { extension: 'postgres_changes', status: 'ok', message: 'Subscribed to PostgreSQL', channel: 'raw' },
    ]);
    await socket.close();
  });

  test('the API roles cannot read captured changes, call the visibility function or edit the registry', async () => {
    const gina = await createUser(db);
    for (const clerkId of [gina.clerkId, null]) {
      // They use the schema since 0032 (realtime.messages, realtime.topic()), nothing else of it.
      await assert.rejects(
        asUser(db, clerkId, (tx) => tx.query('select count(*) from realtime.changes')),
        /permission denied for table changes/,
      );
      await assert.rejects(
        asUser(db, clerkId, (tx) => tx.query(`select * from realtime.visible_changes('{}', '[]')`)),
        /permission denied for function visible_changes/,
      );
      await assert.rejects(
        asUser(db, clerkId, (tx) => tx.query(`select * from realtime.channel_access('x', 'service_role', '{}')`)),
        /permission denied for function channel_access/,
      );
      await assert.rejects(
        asUser(db, clerkId, (tx) => tx.query(`delete from realtime.streamed_tables`)),
        /permission denied for table streamed_tables/,
      );
    }
  });

  test('a token refreshed on a live channel decides what it receives from then on', async () => {
    const hana = await createUser(db);
    const ivan = await createUser(db);
    const hanas = await conversation([hana]);
    const ivans = await conversation([ivan]);
    const supabase = await realtimeClient(server, { token: await server.tokenFor(hana.clerkId) });
    clients.push(supabase);
    const received = new Queue<Change>();
    const channel = supabase
      .channel(`refresh-${++topics}`, { config: { broadcast: { ack: true } } })
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages' }, (p) =>
        received.push(p as unknown as Change),
      );
    await subscribed(channel);
    await post(hanas, hana, 'to hana');
    assert.equal((await received.next()).new.content, 'to hana');

    await supabase.realtime.setAuth(await server.tokenFor(ivan.clerkId));
    // Pushes are handled in order: once this acked broadcast is answered, the token is in use.
    assert.equal(await channel.send({ type: 'broadcast', event: 'sync', payload: {} }), 'ok');
    await post(hanas, hana, 'hana again');
    await post(ivans, ivan, 'to ivan');
    assert.equal((await received.next()).new.content, 'to ivan', "as ivan, the channel no longer sees hana's messages");
  });
});
