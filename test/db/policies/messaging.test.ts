import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Queryable } from '../../../src/db/database.js';
import { type SqlFragment, sql } from '../../../src/db/sql.js';
import { createBooking, createListing, createTenant, createUser, type UserFixture } from '../../helpers/fixtures.js';
import { asUser, getTestDatabase, type TestDatabase, testBackend } from '../../helpers/index.js';

/*
 * 0010 messaging: start_conversation(), conversations and their participants, messages (soft
 * deleted, with the conversation's last message and the participants' read state kept by
 * triggers) and notifications, some raised by triggers on messages, bookings and reviews.
 */

let db: TestDatabase;
let otherTenantId: string;

async function first<T>(tx: Queryable, query: SqlFragment): Promise<T> {
  const { rows } = await tx.query<T>(query);
  assert.equal(rows.length, 1, 'expected exactly one row');
  return rows[0] as T;
}

async function ids(tx: Queryable, query: SqlFragment): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(query);
  return rows.map((r) => r.id).sort();
}

interface Conversation {
  id: string;
  tenant_id: string;
  created_by: string;
  title: string | null;
  is_group: boolean;
  booking_id: string | null;
}

const start = (tx: Queryable, others: string[], title: string | null = null, bookingId: string | null = null) =>
  first<Conversation>(
    tx,
    sql`select id, tenant_id, created_by, title, is_group, booking_id
        from public.start_conversation(${others}::uuid[], ${title}, ${bookingId})`,
  );

/** A committed conversation started by `by` with `others`. */
const conversation = (by: UserFixture, others: UserFixture[], title: string | null = null) =>
  asUser(
    db,
    by.clerkId,
    (tx) =>
      start(
        tx,
        others.map((o) => o.id),
        title,
      ),
    { commit: true },
  );

interface Message {
  id: string;
  created_at: Date;
}

/** A committed message posted by a participant through the API role. */
const post = (by: UserFixture, conversationId: string, content: string | null, type = 'text') =>
  asUser(
    db,
    by.clerkId,
    (tx) =>
      first<Message>(
        tx,
        sql`insert into public.messages (conversation_id, sender_id, type, content)
            values (${conversationId}, ${by.id}, ${type}::public.message_type, ${content}) returning id, created_at`,
      ),
    { commit: true },
  );

type Users<N extends number, T extends UserFixture[] = []> = T['length'] extends N ? T : Users<N, [...T, UserFixture]>;

/** n fresh customers of the default tenant. */
async function users<N extends number>(n: N): Promise<Users<N>> {
  return (await Promise.all(Array.from({ length: n }, () => createUser(db)))) as Users<N>;
}

before(async () => {
  db = await getTestDatabase();
  otherTenantId = await createTenant(db);
});
after(() => db?.dispose());

describe(`start_conversation() (${testBackend()})`, () => {
  test('creates a conversation with the caller as owner and the others as members', async () => {
    const [alice, bob] = await users(2);
    const result = await asUser(db, alice.clerkId, async (tx) => {
      const c = await start(tx, [bob.id], 'Kitchen sink');
      const { rows } = await tx.query(
        sql`select user_id, role from public.conversation_participants where conversation_id = ${c.id} order by role`,
      );
      return { c, participants: rows };
    });
    assert.deepEqual(
      { ...result.c, id: 'x' },
      {
        id: 'x',
        tenant_id: alice.tenantId,
        created_by: alice.id,
        title: 'Kitchen sink',
        is_group: false,
        booking_id: null,
      },
    );
    assert.deepEqual(result.participants, [
      { user_id: bob.id, role: 'member' },
      { user_id: alice.id, role: 'owner' },
    ]);
  });

  test('returns the existing direct conversation for the same pair, whoever starts it', async () => {
    const [alice, bob, carol] = await users(3);
    const c = await conversation(alice, [bob]);
    const again = await conversation(alice, [bob, alice, bob]);
    const reverse = await conversation(bob, [alice]);
    const other = await conversation(alice, [carol]);
    assert.equal(again.id, c.id);
    assert.equal(reverse.id, c.id);
    assert.notEqual(other.id, c.id);
    const { rows } = await db.query(
      sql`select count(*)::int as n from public.conversations where created_by = any(${[alice.id, bob.id]}::uuid[])`,
    );
    assert.deepEqual(rows, [{ n: 2 }]);
  });

  test('a conversation with several others is a group, and each start makes a new one', async () => {
    const [alice, bob, carol] = await users(3);
    const one = await conversation(alice, [bob, carol], 'Block party');
    const two = await conversation(alice, [bob, carol]);
    assert.equal(one.is_group, true);
    assert.notEqual(one.id, two.id);
    const { rows } = await db.query(
      sql`select count(*)::int as n from public.conversation_participants where conversation_id = ${one.id}`,
    );
    assert.deepEqual(rows, [{ n: 3 }]);
  });

  test('a conversation about a booking is kept apart from the direct one, and only for its parties', async () => {
    const [customer, stranger] = await users(2);
    const provider = await createUser(db, { role: 'provider' });
    const booking = await createBooking(db, await createListing(db, provider), customer);
    const direct = await conversation(customer, [provider]);
    const about = await asUser(db, customer.clerkId, (tx) => start(tx, [provider.id], null, booking.id), {
      commit: true,
    });
    assert.equal(about.booking_id, booking.id);
    assert.notEqual(about.id, direct.id);
    const fromProvider = await asUser(db, provider.clerkId, (tx) => start(tx, [customer.id], null, booking.id));
    assert.equal(fromProvider.id, about.id);
    await assert.rejects(
      asUser(db, stranger.clerkId, (tx) => start(tx, [provider.id], null, booking.id)),
      { code: 'P0002', message: `booking ${booking.id} not found` },
    );
  });

  test('refuses users of another marketplace, unknown and deleted users', async () => {
    const [alice, gone] = await users(2);
    const foreigner = await createUser(db, { tenantId: otherTenantId });
    await db.query(sql`update public.users set deleted_at = now() where id = ${gone.id}`);
    for (const others of [[foreigner.id], ['00000000-0000-4000-8000-000000000000'], [gone.id]]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) => start(tx, others)),
        {
          code: 'P0002',
          message: 'some participants do not exist in this marketplace',
        },
      );
    }
    await assert.rejects(
      asUser(db, foreigner.clerkId, (tx) => start(tx, [alice.id])),
      { code: 'P0002' },
    );
  });

  test('needs between 1 and 50 other participants', async () => {
    const [alice] = await users(1);
    const crowd = await users(51);
    for (const others of [[], [alice.id], crowd.map((u) => u.id)]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) => start(tx, others)),
        {
          code: '23514',
          message: 'a conversation needs between 1 and 50 other participants',
        },
      );
    }
  });

  test('anonymous visitors cannot start conversations', async () => {
    const [bob] = await users(1);
    await assert.rejects(
      asUser(db, null, (tx) => start(tx, [bob.id])),
      { code: '42501' },
    );
  });

  test('clients cannot create conversations or add participants directly', async () => {
    const [alice, bob, eve] = await users(3);
    const c = await conversation(alice, [bob]);
    await assert.rejects(
      asUser(db, alice.clerkId, (tx) =>
        tx.query(sql`insert into public.conversations (tenant_id, created_by) values (${alice.tenantId}, ${alice.id})`),
      ),
      { code: '42501' },
    );
    for (const who of [alice, eve]) {
      await assert.rejects(
        asUser(db, who.clerkId, (tx) =>
          tx.query(
            sql`insert into public.conversation_participants (conversation_id, user_id) values (${c.id}, ${eve.id})`,
          ),
        ),
        { code: '42501' },
      );
    }
  });
});

describe(`who reads conversations and messages (${testBackend()})`, () => {
  let alice: UserFixture;
  let bob: UserFixture;
  let carol: UserFixture;
  let admin: UserFixture;
  let c: Conversation;
  let message: Message;
  before(async () => {
    [alice, bob, carol] = await users(3);
    admin = await createUser(db, { role: 'super_admin' });
    c = await conversation(alice, [bob]);
    message = await post(alice, c.id, 'Can you come on Tuesday?');
  });

  const view = (tx: Queryable) =>
    Promise.all([
      ids(tx, sql`select id from public.conversations where id = ${c.id}`),
      ids(tx, sql`select user_id as id from public.conversation_participants where conversation_id = ${c.id}`),
      ids(tx, sql`select id from public.messages where conversation_id = ${c.id}`),
    ]);

  test('both participants read the conversation, its participants and its messages', async () => {
    for (const who of [alice, bob]) {
      assert.deepEqual(await asUser(db, who.clerkId, view), [[c.id], [alice.id, bob.id].sort(), [message.id]]);
    }
  });

  test('an unrelated user, even an admin, reads nothing of it', async () => {
    for (const who of [carol, admin]) {
      assert.deepEqual(await asUser(db, who.clerkId, view), [[], [], []]);
    }
  });

  test('anonymous visitors have no access to conversations, participants or messages', async () => {
    for (const table of ['conversations', 'conversation_participants', 'messages']) {
      await assert.rejects(
        asUser(db, null, (tx) => tx.query(sql`select 1 from ${sql.ident('public', table)}`)),
        { code: '42501' },
        table,
      );
    }
  });

  test('a participant who left no longer reads the conversation', async () => {
    const [dave, erin] = await users(2);
    const d = await conversation(dave, [erin]);
    await post(dave, d.id, 'Bye');
    const left = await asUser(
      db,
      erin.clerkId,
      (tx) =>
        tx.query(
          sql`delete from public.conversation_participants where conversation_id = ${d.id} and user_id = ${erin.id}`,
        ),
      { commit: true },
    );
    assert.equal(left.rowCount, 1);
    const seen = await asUser(db, erin.clerkId, (tx) =>
      ids(tx, sql`select id from public.messages where conversation_id = ${d.id}`),
    );
    assert.deepEqual(seen, []);
  });
});

describe(`posting, editing and deleting messages (${testBackend()})`, () => {
  const messageRow = (id: string) =>
    first<{
      content: string | null;
      attachments: unknown[];
      edited: boolean;
      deleted: boolean;
      tenant_id: string;
      type: string;
      sender_id: string;
    }>(
      db,
      sql`select content, attachments, edited_at is not null as edited, deleted_at is not null as deleted, tenant_id,
                 type, sender_id from public.messages where id = ${id}`,
    );

  test("a participant posts a message, which takes the conversation's tenant", async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    const m = await post(bob, c.id, 'Sure, 10am works');
    assert.deepEqual(await messageRow(m.id), {
      content: 'Sure, 10am works',
      attachments: [],
      edited: false,
      deleted: false,
      tenant_id: bob.tenantId,
      type: 'text',
      sender_id: bob.id,
    });
  });

  test('someone outside the conversation cannot post in it', async () => {
    const [alice, bob, eve] = await users(3);
    const foreigner = await createUser(db, { tenantId: otherTenantId });
    const c = await conversation(alice, [bob]);
    for (const who of [eve, foreigner]) {
      await assert.rejects(
        asUser(db, who.clerkId, (tx) =>
          tx.query(
            sql`insert into public.messages (conversation_id, sender_id, content) values (${c.id}, ${who.id}, 'Hi')`,
          ),
        ),
        { code: '42501' },
      );
    }
  });

  test('a participant cannot post in the name of someone else or of nobody', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    for (const sender of [bob.id, null]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) =>
          tx.query(
            sql`insert into public.messages (conversation_id, sender_id, content) values (${c.id}, ${sender}, 'Hi')`,
          ),
        ),
        { code: '42501' },
      );
    }
  });

  test('clients cannot post system messages or set edit and delete stamps or the tenant', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    const m = await post(alice, c.id, 'Booking confirmed (not really)', 'system');
    assert.equal((await messageRow(m.id)).type, 'text');
    for (const column of ['edited_at', 'deleted_at', 'created_at']) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) =>
          tx.query(sql`insert into public.messages (conversation_id, sender_id, content, ${sql.ident(column)})
                       values (${c.id}, ${alice.id}, 'Hi', now())`),
        ),
        { code: '42501' },
        column,
      );
    }
    await assert.rejects(
      asUser(db, alice.clerkId, (tx) =>
        tx.query(sql`insert into public.messages (conversation_id, sender_id, content, tenant_id)
                     values (${c.id}, ${alice.id}, 'Hi', ${otherTenantId})`),
      ),
      { code: '42501' },
    );
  });

  test('a text message needs some content', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    for (const content of ['   ', null]) {
      await assert.rejects(post(alice, c.id, content), { code: '23514', constraint: 'messages_check' });
    }
  });

  test('the sender edits their message, which stamps edited_at; nobody else can', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    const m = await post(alice, c.id, 'See you at 9');
    const byBob = await asUser(
      db,
      bob.clerkId,
      (tx) => tx.query(sql`update public.messages set content = 'Never mind' where id = ${m.id}`),
      { commit: true },
    );
    assert.equal(byBob.rowCount, 0);
    assert.deepEqual(await messageRow(m.id).then((r) => [r.content, r.edited]), ['See you at 9', false]);
    const byAlice = await asUser(
      db,
      alice.clerkId,
      (tx) => tx.query(sql`update public.messages set content = 'See you at 10' where id = ${m.id}`),
      { commit: true },
    );
    assert.equal(byAlice.rowCount, 1);
    assert.deepEqual(await messageRow(m.id).then((r) => [r.content, r.edited]), ['See you at 10', true]);
  });

  test('the sender cannot move a message to another conversation or sender', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    const m = await post(alice, c.id, 'Hello');
    for (const change of [
      sql`update public.messages set sender_id = ${bob.id} where id = ${m.id}`,
      sql`update public.messages set conversation_id = conversation_id where id = ${m.id}`,
      sql`update public.messages set edited_at = null, type = 'system' where id = ${m.id}`,
    ]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) => tx.query(change)),
        { code: '42501' },
        change.text,
      );
    }
    await assert.rejects(db.query(sql`update public.messages set sender_id = ${bob.id} where id = ${m.id}`), {
      code: '23514',
      message: 'a message cannot move to another conversation or sender',
    });
  });

  test('deleting a message keeps the row but blanks its content and attachments', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    // Attachments are written by send_message() (trusted); the owner stands in for it here.
    const m = await first<Message>(
      db,
      sql`insert into public.messages (conversation_id, sender_id, type, content, attachments)
          values (${c.id}, ${alice.id}, 'image', 'my address is 1 Main St', ${JSON.stringify([{ url: 'a.png' }])})
          returning id, created_at`,
    );
    const byBob = await asUser(db, bob.clerkId, (tx) => tx.query(sql`delete from public.messages where id = ${m.id}`), {
      commit: true,
    });
    assert.equal(byBob.rowCount, 0);
    assert.equal((await messageRow(m.id)).deleted, false);
    await asUser(db, alice.clerkId, (tx) => tx.query(sql`delete from public.messages where id = ${m.id}`), {
      commit: true,
    });
    const row = await messageRow(m.id);
    assert.deepEqual([row.content, row.attachments, row.deleted], [null, [], true]);
    const seenByBob = await asUser(db, bob.clerkId, (tx) =>
      tx.query(sql`select content, deleted_at is not null as deleted from public.messages where id = ${m.id}`),
    );
    assert.deepEqual(seenByBob.rows, [{ content: null, deleted: true }]);
  });

  test('a deleted message cannot be edited or restored by its sender', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    const m = await post(alice, c.id, 'Oops');
    await asUser(
      db,
      alice.clerkId,
      (tx) => tx.query(sql`update public.messages set deleted_at = now() where id = ${m.id}`),
      {
        commit: true,
      },
    );
    assert.equal((await messageRow(m.id)).content, null);
    for (const change of [
      sql`update public.messages set content = 'Back again' where id = ${m.id}`,
      sql`update public.messages set deleted_at = null where id = ${m.id}`,
    ]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) => tx.query(change)),
        {
          code: '23514',
          message: 'a deleted message cannot be edited',
        },
      );
    }
  });

  test('a trusted caller (the database owner) really deletes messages', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    const m = await post(alice, c.id, 'Spam');
    await db.query(sql`delete from public.messages where id = ${m.id}`);
    assert.deepEqual(await ids(db, sql`select id from public.messages where id = ${m.id}`), []);
    const { rows } = await db.query(sql`select last_message_id from public.conversations where id = ${c.id}`);
    assert.deepEqual(rows, [{ last_message_id: null }]);
  });
});

describe(`conversation state kept by triggers (${testBackend()})`, () => {
  const summary = (id: string) =>
    first<{ last_message_id: string | null; last_message_at: Date | null; last_message_preview: string | null }>(
      db,
      sql`select last_message_id, last_message_at, last_message_preview from public.conversations where id = ${id}`,
    );

  test('the conversation shows its latest message: id, time and a 140-character preview', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    assert.deepEqual(await summary(c.id), { last_message_id: null, last_message_at: null, last_message_preview: null });
    await post(alice, c.id, 'First');
    const long = `${'x'.repeat(139)}yz`;
    const m = await post(bob, c.id, long);
    assert.deepEqual(await summary(c.id), {
      last_message_id: m.id,
      last_message_at: m.created_at,
      last_message_preview: `${'x'.repeat(139)}y`,
    });
    // Images come through send_message() (trusted); here the owner posts one for Alice.
    const image = await first<Message>(
      db,
      sql`insert into public.messages (conversation_id, sender_id, type, attachments)
          values (${c.id}, ${alice.id}, 'image', '[{"file_id": "x"}]') returning id, created_at`,
    );
    assert.deepEqual(await summary(c.id).then((s) => [s.last_message_id, s.last_message_preview]), [
      image.id,
      '[image]',
    ]);
  });

  test('editing or deleting the latest message updates the preview', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    const earlier = await post(alice, c.id, 'Earlier');
    const m = await post(alice, c.id, 'My gate code is 4411');
    await asUser(
      db,
      alice.clerkId,
      (tx) => tx.query(sql`update public.messages set content = 'Gate is open' where id = ${m.id}`),
      {
        commit: true,
      },
    );
    assert.equal((await summary(c.id)).last_message_preview, 'Gate is open');
    await asUser(db, alice.clerkId, (tx) => tx.query(sql`delete from public.messages where id = ${m.id}`), {
      commit: true,
    });
    assert.equal((await summary(c.id)).last_message_preview, '[deleted]');
    // Editing an older message leaves the preview alone.
    await asUser(
      db,
      alice.clerkId,
      (tx) => tx.query(sql`update public.messages set content = 'Later' where id = ${earlier.id}`),
      {
        commit: true,
      },
    );
    assert.equal((await summary(c.id)).last_message_preview, '[deleted]');
  });

  test('sending marks the conversation read and unarchived for the sender only', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    await db.query(
      sql`update public.conversation_participants set archived_at = now() where conversation_id = ${c.id}`,
    );
    const m = await post(alice, c.id, 'Ping');
    const { rows } = await db.query(
      sql`select user_id, last_read_at, archived_at is not null as archived
          from public.conversation_participants where conversation_id = ${c.id} order by role`,
    );
    assert.deepEqual(rows, [
      { user_id: bob.id, last_read_at: null, archived: true },
      { user_id: alice.id, last_read_at: m.created_at, archived: false },
    ]);
  });

  test('the other participants get a message_received notification; the sender and muted ones do not', async () => {
    const [alice, bob, carol, dave] = await users(4);
    const c = await conversation(alice, [bob, carol, dave]);
    await db.query(sql`update public.conversation_participants set muted_until = now() + interval '1 day'
                       where conversation_id = ${c.id} and user_id = ${carol.id}`);
    await db.query(sql`update public.conversation_participants set muted_until = now() - interval '1 day'
                       where conversation_id = ${c.id} and user_id = ${dave.id}`);
    const m = await post(alice, c.id, 'Party at 8');
    const { display_name } = await first<{ display_name: string }>(
      db,
      sql`select display_name from public.user_profiles where user_id = ${alice.id}`,
    );
    const { rows } = await db.query(
      sql`select user_id, sender_id, tenant_id, type, title, body, data, action_url, is_read
          from public.notifications where user_id = any(${[alice.id, bob.id, carol.id, dave.id]}::uuid[])
          order by user_id`,
    );
    const expected = (user: UserFixture) => ({
      user_id: user.id,
      sender_id: alice.id,
      tenant_id: alice.tenantId,
      type: 'message_received',
      title: display_name,
      body: 'Party at 8',
      data: { conversation_id: c.id, message_id: m.id },
      action_url: `/conversations/${c.id}`,
      is_read: false,
    });
    assert.deepEqual(
      rows,
      [expected(bob), expected(dave)].sort((a, b) => (a.user_id < b.user_id ? -1 : 1)),
    );
  });

  test("a participant's unread count is the messages of others after their last_read_at", async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    for (const hoursAgo of [3, 2, 1]) {
      await db.query(sql`insert into public.messages (conversation_id, sender_id, content, created_at)
                         values (${c.id}, ${alice.id}, ${`${hoursAgo}h ago`}, now() - make_interval(hours => ${hoursAgo}))`);
    }
    const unread = (who: UserFixture) =>
      asUser(db, who.clerkId, async (tx) => {
        const { rows } = await tx.query<{ unread: number }>(sql`
          select count(m.id)::int as unread
          from public.conversation_participants p
          join public.messages m on m.conversation_id = p.conversation_id
           and m.created_at > coalesce(p.last_read_at, '-infinity') and m.sender_id is distinct from p.user_id
           and m.deleted_at is null
          where p.conversation_id = ${c.id} and p.user_id = ${who.id}`);
        return rows[0]?.unread;
      });
    assert.equal(await unread(bob), 3);
    assert.equal(await unread(alice), 0);
    await asUser(
      db,
      bob.clerkId,
      (tx) =>
        tx.query(sql`update public.conversation_participants set last_read_at = now() - interval '150 minutes'
                     where conversation_id = ${c.id} and user_id = ${bob.id}`),
      { commit: true },
    );
    assert.equal(await unread(bob), 2);
    await post(bob, c.id, 'Read you');
    assert.equal(await unread(bob), 0);
    assert.equal(await unread(alice), 1);
  });
});

describe(`participants and conversation settings (${testBackend()})`, () => {
  test('a participant updates their own read, archive and mute state, and no one else’s', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    const own = await asUser(db, bob.clerkId, (tx) =>
      tx.query(sql`update public.conversation_participants
                   set last_read_at = now(), archived_at = now(), muted_until = now() + interval '8 hours'
                   where conversation_id = ${c.id}`),
    );
    assert.equal(own.rowCount, 1);
    await assert.rejects(
      asUser(db, bob.clerkId, (tx) =>
        tx.query(
          sql`update public.conversation_participants set role = 'owner' where conversation_id = ${c.id} and user_id = ${bob.id}`,
        ),
      ),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, bob.clerkId, (tx) =>
        tx.query(
          sql`update public.conversation_participants set user_id = ${bob.id} where conversation_id = ${c.id} and user_id = ${alice.id}`,
        ),
      ),
      { code: '42501' },
    );
  });

  test('a participant cannot remove someone else from the conversation', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    const removed = await asUser(db, bob.clerkId, (tx) =>
      tx.query(
        sql`delete from public.conversation_participants where conversation_id = ${c.id} and user_id = ${alice.id}`,
      ),
    );
    assert.equal(removed.rowCount, 0);
  });

  test('the creator renames or closes the conversation; other participants cannot', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob], 'Old title');
    const byBob = await asUser(db, bob.clerkId, (tx) =>
      tx.query(sql`update public.conversations set title = 'Bob was here', is_active = false where id = ${c.id}`),
    );
    assert.equal(byBob.rowCount, 0);
    const byAlice = await asUser(db, alice.clerkId, async (tx) => {
      await tx.query(sql`update public.conversations set title = 'New title', is_active = false where id = ${c.id}`);
      return first(tx, sql`select title, is_active from public.conversations where id = ${c.id}`);
    });
    assert.deepEqual(byAlice, { title: 'New title', is_active: false });
  });

  test('nobody can forge the last message, move the conversation or delete it', async () => {
    const [alice, bob] = await users(2);
    const c = await conversation(alice, [bob]);
    for (const change of [
      sql`update public.conversations set last_message_preview = 'fake' where id = ${c.id}`,
      sql`update public.conversations set tenant_id = ${otherTenantId} where id = ${c.id}`,
      sql`update public.conversations set created_by = ${bob.id} where id = ${c.id}`,
      sql`delete from public.conversations where id = ${c.id}`,
    ]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) => tx.query(change)),
        { code: '42501' },
        change.text,
      );
    }
  });
});

describe(`notifications (${testBackend()})`, () => {
  /** A notification for `user`, as the triggers and jobs write them. */
  const notify = (user: UserFixture, title = 'Welcome') =>
    first<{ id: string }>(
      db,
      sql`insert into public.notifications (user_id, type, title, body) values (${user.id}, 'system_alert', ${title}, 'Hello')
          returning id`,
    ).then((r) => r.id);

  test('a user reads their own notifications and no one else’s', async () => {
    const [alice, bob] = await users(2);
    const mine = await notify(alice);
    await notify(bob);
    const seen = await asUser(db, alice.clerkId, (tx) =>
      ids(tx, sql`select id from public.notifications where user_id = any(${[alice.id, bob.id]}::uuid[])`),
    );
    assert.deepEqual(seen, [mine]);
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(sql`select id from public.notifications`)),
      { code: '42501' },
    );
  });

  test('the owner marks a notification read and unread; is_read follows read_at', async () => {
    const [alice] = await users(1);
    const id = await notify(alice);
    const states = await asUser(db, alice.clerkId, async (tx) => {
      const read = await first<{ is_read: boolean }>(
        tx,
        sql`update public.notifications set read_at = now() where id = ${id} returning is_read`,
      );
      const unread = await first<{ is_read: boolean }>(
        tx,
        sql`update public.notifications set read_at = null where id = ${id} returning is_read`,
      );
      return [read.is_read, unread.is_read];
    });
    assert.deepEqual(states, [true, false]);
  });

  test('the owner cannot rewrite a notification or set is_read directly', async () => {
    const [alice, bob] = await users(2);
    const id = await notify(alice);
    for (const change of [
      sql`update public.notifications set title = 'You won' where id = ${id}`,
      sql`update public.notifications set type = 'payment_received' where id = ${id}`,
      sql`update public.notifications set body = 'x', data = '{}' where id = ${id}`,
      sql`update public.notifications set user_id = ${bob.id} where id = ${id}`,
      sql`update public.notifications set email_sent_at = now() where id = ${id}`,
    ]) {
      await assert.rejects(
        asUser(db, alice.clerkId, (tx) => tx.query(change)),
        { code: '42501' },
        change.text,
      );
    }
    await assert.rejects(
      asUser(db, alice.clerkId, (tx) => tx.query(sql`update public.notifications set is_read = true where id = ${id}`)),
      { code: '428C9', message: 'column "is_read" can only be updated to DEFAULT' },
    );
  });

  test("a user cannot mark or delete someone else's notification", async () => {
    const [alice, bob] = await users(2);
    const id = await notify(alice);
    const marked = await asUser(db, bob.clerkId, (tx) =>
      tx.query(sql`update public.notifications set read_at = now() where id = ${id}`),
    );
    const deleted = await asUser(db, bob.clerkId, (tx) =>
      tx.query(sql`delete from public.notifications where id = ${id}`),
    );
    assert.deepEqual([marked.rowCount, deleted.rowCount], [0, 0]);
  });

  test('the owner deletes their notification', async () => {
    const [alice] = await users(1);
    const id = await notify(alice);
    const deleted = await asUser(db, alice.clerkId, async (tx) => {
      const { rowCount } = await tx.query(sql`delete from public.notifications where id = ${id}`);
      return [rowCount, await ids(tx, sql`select id from public.notifications where id = ${id}`)];
    });
    assert.deepEqual(deleted, [1, []]);
  });

  test('clients cannot create notifications, not even for themselves', async () => {
    const [alice] = await users(1);
    for (const who of [alice.clerkId, null]) {
      await assert.rejects(
        asUser(db, who, (tx) =>
          tx.query(
            sql`insert into public.notifications (user_id, type, title) values (${alice.id}, 'system_alert', 'Hi')`,
          ),
        ),
        { code: '42501' },
      );
    }
  });

  test('notifications take the tenant of their user', async () => {
    const foreigner = await createUser(db, { tenantId: otherTenantId });
    const id = await notify(foreigner);
    const { rows } = await db.query(sql`select tenant_id from public.notifications where id = ${id}`);
    assert.deepEqual(rows, [{ tenant_id: otherTenantId }]);
  });

  const notificationsOf = (user: UserFixture) =>
    db
      .query<{
        type: string;
        sender_id: string | null;
        title: string;
        body: string;
        data: unknown;
        action_url: string;
      }>(
        sql`select type, sender_id, title, body, data, action_url from public.notifications
            where user_id = ${user.id} order by created_at, type`,
      )
      .then((r) => r.rows);

  test('booking events notify the other party', async () => {
    const [customer] = await users(1);
    const provider = await createUser(db, { role: 'provider' });
    const booking = await createBooking(db, await createListing(db, provider), customer);
    const { confirmation_code } = await first<{ confirmation_code: string }>(
      db,
      sql`select confirmation_code from public.bookings where id = ${booking.id}`,
    );
    const [received] = await notificationsOf(provider);
    assert.equal(received?.type, 'booking_received');
    assert.equal(received?.sender_id, null);
    assert.equal(received?.title, 'New booking request');
    assert.match(
      received?.body ?? '',
      new RegExp(`^Fixture booking on \\w{3} \\d{2} \\w{3} \\d{4} \\d{2}:\\d{2} \\(UTC\\), ${confirmation_code}$`),
    );
    assert.deepEqual(Object.keys(received?.data as object).sort(), [
      'booking_id',
      'conversation_id',
      'status',
      'urgent',
    ]);
    assert.equal((received?.data as { status: string } | undefined)?.status, 'pending');
    assert.equal(received?.action_url, `/bookings/${booking.id}`);
    assert.deepEqual(await notificationsOf(customer), []);

    await asUser(
      db,
      provider.clerkId,
      (tx) => tx.query(sql`select public.transition_booking(${booking.id}, 'confirmed')`),
      {
        commit: true,
      },
    );
    assert.deepEqual(
      (await notificationsOf(customer)).map((n) => [n.type, n.sender_id, n.title]),
      [['booking_confirmed', provider.id, 'Booking confirmed']],
    );
    assert.equal((await notificationsOf(provider)).length, 1);

    await asUser(
      db,
      customer.clerkId,
      (tx) => tx.query(sql`select public.transition_booking(${booking.id}, 'cancelled')`),
      {
        commit: true,
      },
    );
    assert.deepEqual(
      (await notificationsOf(provider)).map((n) => [n.type, n.sender_id]),
      [
        ['booking_received', null],
        ['booking_cancelled', customer.id],
      ],
    );
    assert.equal((await notificationsOf(customer)).length, 1);
  });

  test('a status change by the system notifies both parties', async () => {
    const [customer] = await users(1);
    const provider = await createUser(db, { role: 'provider' });
    const booking = await createBooking(db, await createListing(db, provider), customer, { status: 'confirmed' });
    await db.query(sql`update public.bookings set status = 'completed' where id = ${booking.id}`);
    const types = async (u: UserFixture) => (await notificationsOf(u)).map((n) => n.type);
    // Booked straight into confirmed: the customer hears of it at once.
    assert.deepEqual(await types(customer), ['booking_confirmed', 'booking_completed']);
    // Completion captures the payment authorised at confirmation (offline, migration 0040).
    assert.deepEqual(await types(provider), ['booking_received', 'booking_completed', 'payment_received']);
  });

  test('a new review notifies the reviewee, without its stars or words (reviews are double-blind, 0022)', async () => {
    const [customer] = await users(1);
    const provider = await createUser(db, { role: 'provider' });
    const booking = await createBooking(db, await createListing(db, provider), customer, { status: 'confirmed' });
    await db.query(sql`update public.bookings set status = 'completed' where id = ${booking.id}`);
    const { id } = await first<{ id: string }>(
      db,
      sql`insert into public.reviews (booking_id, reviewer_id, rating, comment)
          values (${booking.id}, ${customer.id}, 4, 'Quick and tidy') returning id`,
    );
    const review = (await notificationsOf(provider)).filter((n) => n.type === 'review_received');
    assert.equal(review.length, 1);
    const { body, ...rest } = review[0] as { body: string };
    assert.deepEqual(rest, {
      type: 'review_received',
      sender_id: customer.id,
      title: 'You received a review',
      data: { review_id: id, booking_id: booking.id, published: false },
      action_url: `/bookings/${booking.id}/review`,
    });
    assert.match(body, /^Review Fixture booking too to read it: both reviews are published together, or on /);
  });
});
