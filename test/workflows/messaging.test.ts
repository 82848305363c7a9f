import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import { createBooking, createListing, createUser, type UserFixture } from '../helpers/fixtures.js';
import {
  getTestDatabase,
  ROOT,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';

/*
 * Issue 8, messaging and notifications (0018): app.notify() and the preferences it honours,
 * booking conversations and notifications, send_message, the inbox, read state, reminders
 * and payments, through REST with supabase-js and real tokens.
 */

let db: TestDatabase;
let server: TestServer;

before(async () => {
  db = await getTestDatabase();
  server = await startTestServer(db);
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

async function clientFor(user: UserFixture): Promise<SupabaseClient> {
  return server.client({ token: await server.tokenFor(user.clerkId) });
}

interface NotificationRow {
  id: string;
  type: string;
  channels: string[];
  deliver_after: Date;
  created_at: Date;
}

/** Calls app.notify() as a workflow would (the test connection is trusted). */
async function notify(
  recipient: UserFixture,
  kind: string,
  data: Record<string, unknown> = {},
): Promise<NotificationRow | null> {
  const { rows } = await db.query<{ id: string | null }>(
    sql`select app.notify(${recipient.id}, ${kind}::public.notification_type, 'Hello', 'Body', ${JSON.stringify(data)}::jsonb) as id`,
  );
  const id = rows[0]?.id;
  if (!id) return null;
  const found = await db.query<NotificationRow>(
    sql`select id, type::text, channels::text[] as channels, deliver_after, created_at from public.notifications where id = ${id}`,
  );
  return found.rows[0] ?? null;
}

async function settingsOf(user: UserFixture): Promise<unknown> {
  const { rows } = await db.query<{ s: unknown }>(
    sql`select notification_settings as s from public.users where id = ${user.id}`,
  );
  return rows[0]?.s;
}

describe(`app.notify and notification preferences (${testBackend()})`, () => {
  test('with no preferences: in-app, email and push; SMS only when opted in and with a phone', async () => {
    const user = await createUser(db);
    assert.deepEqual((await notify(user, 'booking_confirmed'))?.channels, ['in_app', 'email', 'push']);
    assert.deepEqual((await notify(user, 'message_received'))?.channels, ['in_app', 'push']);
    const client = await clientFor(user);
    const { error } = await client.rpc('update_notification_preferences', {
      types: { booking_confirmed: { sms: true } },
    });
    assert.equal(error, null);
    assert.deepEqual((await notify(user, 'booking_confirmed'))?.channels, ['in_app', 'email', 'push']);
    await db.query(sql`update public.users set phone = '+1 212 555 0100' where id = ${user.id}`);
    assert.deepEqual((await notify(user, 'booking_confirmed'))?.channels, ['in_app', 'email', 'sms', 'push']);
  });

  test('master switches and per-kind settings; all off means no notification at all', async () => {
    const user = await createUser(db);
    const client = await clientFor(user);
    const { data, error } = await client.rpc('update_notification_preferences', {
      channels: { email: false },
      types: { review_received: { push: false }, message_received: { in_app: false, push: false } },
    });
    assert.equal(error, null);
    assert.equal(data.channels.email, false);
    assert.deepEqual(data.types.review_received, { in_app: true, email: true, sms: false, push: false });
    assert.deepEqual((await notify(user, 'review_received'))?.channels, ['in_app']);
    assert.deepEqual((await notify(user, 'booking_confirmed'))?.channels, ['in_app', 'push']);
    assert.equal(await notify(user, 'message_received'), null);
    // A later change merges into the earlier one.
    await client.rpc('update_notification_preferences', { types: { review_received: { push: true } } });
    assert.deepEqual(((await settingsOf(user)) as { types: unknown }).types, {
      review_received: { push: true },
      message_received: { in_app: false, push: false },
    });
  });

  test('a notification due only by email is not in the in-app list', async () => {
    const user = await createUser(db);
    const client = await clientFor(user);
    await client.rpc('update_notification_preferences', { types: { payment_received: { in_app: false } } });
    const hidden = await notify(user, 'payment_received');
    assert.deepEqual(hidden?.channels, ['email', 'push']);
    const { data } = await client.from('notifications').select('id');
    assert.deepEqual(data, []);
  });

  test("quiet hours defer push and SMS to their end in the user's time zone; in-app and email go now; urgent ones go now", async () => {
    const user = await createUser(db, { timeZone: 'Asia/Tokyo' });
    await db.query(sql`update public.users set phone = '+81 3 5555 0100' where id = ${user.id}`);
    // A window around the present moment on the user's wall clock, whatever the hour.
    const { rows } = await db.query<{ start: string; end: string; ends_at: Date }>(sql`
      select to_char(local - interval '1 hour', 'HH24:MI') as start, to_char(local + interval '1 hour', 'HH24:MI') as end,
             (date_trunc('minute', local + interval '1 hour') at time zone 'Asia/Tokyo') as ends_at
        from (select now() at time zone 'Asia/Tokyo' as local) n`);
    const window = rows[0] as { start: string; end: string; ends_at: Date };
    const client = await clientFor(user);
    const { error } = await client.rpc('update_notification_preferences', {
      channels: { sms: true },
      types: { booking_confirmed: { sms: true } },
      quiet_hours: { start: window.start, end: window.end },
    });
    assert.equal(error, null);
    const deferred = await notify(user, 'booking_confirmed');
    assert.deepEqual(deferred?.channels, ['in_app', 'email', 'sms', 'push']);
    assert.equal(deferred?.deliver_after.toISOString(), window.ends_at.toISOString());
    const urgent = await notify(user, 'booking_confirmed', { urgent: true });
    assert.ok((urgent?.deliver_after.getTime() ?? 0) <= Date.now() + 1000);
    const alert = await notify(user, 'system_alert');
    assert.ok((alert?.deliver_after.getTime() ?? 0) <= Date.now() + 1000);
    // Outside the window (it ends one hour ago): nothing waits.
    await client.rpc('update_notification_preferences', {
      quiet_hours: { start: window.end, end: window.start },
    });
    const outside = await notify(user, 'booking_confirmed');
    assert.equal(outside?.deliver_after.getTime(), outside?.created_at.getTime());
    await client.rpc('update_notification_preferences', { clear_quiet_hours: true });
    assert.equal((await client.rpc('my_notification_preferences')).data.quiet_hours, null);
  });

  test('bad preferences are refused with 400 and nothing changes; anon is told to sign in', async () => {
    const user = await createUser(db);
    const client = await clientFor(user);
    for (const args of [
      { channels: { fax: true } },
      { channels: { email: 'no' } },
      { types: { not_a_kind: { email: false } } },
      { types: { message_received: { email: 1 } } },
      { quiet_hours: { start: '25:00', end: '07:00' } },
      { quiet_hours: { start: '22:00' } },
    ]) {
      const { error, status } = await client.rpc('update_notification_preferences', args);
      assert.equal(status, 400, JSON.stringify(args));
      assert.equal(error?.code, '22023');
    }
    assert.deepEqual(await settingsOf(user), {});
    // Writing the column directly is checked as well.
    const direct = await client
      .from('users')
      .update({ notification_settings: { quiet_hours: 'always' } })
      .eq('id', user.id);
    assert.equal(direct.status, 400);
    assert.deepEqual(await settingsOf(user), {});
    const anon = await server.client().rpc('update_notification_preferences', { channels: { sms: false } });
    assert.equal(anon.status, 401);
  });
});

// ---------------------------------------------------------------------------------------------
// Conversations and messages
// ---------------------------------------------------------------------------------------------

interface InboxRow {
  conversation_id: string;
  booking_id: string | null;
  title: string | null;
  is_group: boolean;
  participants: { user_id: string; display_name: string; avatar_url: string | null }[];
  booking: { id: string; status: string; service_title: string } | null;
  last_message: { id: string; sender_id: string | null; type: string; preview: string; mine: boolean } | null;
  last_activity_at: string;
  unread_count: number;
  muted: boolean;
  archived: boolean;
}

async function inbox(client: SupabaseClient, args: Record<string, unknown> = {}): Promise<InboxRow[]> {
  const { data, error } = await client.rpc('my_inbox', args);
  assert.equal(error, null);
  return data as InboxRow[];
}

/** A booking between a fresh customer and provider, with their clients. */
async function bookingParties(options: { status?: string; startsInHours?: number } = {}) {
  const customer = await createUser(db);
  const provider = await createUser(db, { role: 'provider' });
  const booking = await createBooking(db, await createListing(db, provider), customer, options);
  return {
    customer,
    provider,
    booking,
    asCustomer: await clientFor(customer),
    asProvider: await clientFor(provider),
  };
}

async function conversationOf(bookingId: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    sql`select id from public.conversations where booking_id = ${bookingId}`,
  );
  assert.equal(rows.length, 1, 'one conversation per booking');
  return (rows[0] as { id: string }).id;
}

async function messagesIn(conversationId: string) {
  const { rows } = await db.query<{
    sender_id: string | null;
    type: string;
    content: string | null;
    attachments: unknown;
  }>(
    sql`select sender_id, type::text, content, attachments from public.messages
        where conversation_id = ${conversationId} order by created_at, id`,
  );
  return rows;
}

async function notificationsOf(user: UserFixture) {
  const { rows } = await db.query<{
    id: string;
    type: string;
    sender_id: string | null;
    title: string;
    body: string;
    data: Record<string, unknown>;
    read: boolean;
  }>(
    sql`select id, type::text, sender_id, title, body, data, read_at is not null as read
          from public.notifications where user_id = ${user.id} order by created_at, type`,
  );
  return rows;
}

describe(`booking conversations and notifications (${testBackend()})`, () => {
  test('a new booking opens its conversation with both parties, posts a system line and tells the provider', async () => {
    const { customer, provider, booking, asCustomer, asProvider } = await bookingParties();
    const conversationId = await conversationOf(booking.id);
    const [forProvider] = await inbox(asProvider);
    assert.equal(forProvider?.conversation_id, conversationId);
    assert.equal(forProvider?.booking?.id, booking.id);
    assert.equal(forProvider?.booking?.status, 'pending');
    assert.deepEqual(
      forProvider?.participants.map((p) => p.user_id),
      [customer.id],
    );
    assert.equal(forProvider?.last_message?.type, 'system');
    assert.match(forProvider?.last_message?.preview ?? '', /^Booking requested Fixture booking for /);
    assert.equal(forProvider?.unread_count, 1);
    const [forCustomer] = await inbox(asCustomer);
    assert.equal(forCustomer?.conversation_id, conversationId);
    assert.deepEqual(
      (await notificationsOf(provider)).map((n) => [n.type, n.title]),
      [['booking_received', 'New booking request']],
    );
    assert.deepEqual(await notificationsOf(customer), []);
    // start_conversation() about the booking finds the same conversation.
    const { data } = await asCustomer.rpc('start_conversation', {
      participant_ids: [provider.id],
      booking_id: booking.id,
    });
    assert.equal(data.id, conversationId);
    // Neither party can rename or close it.
    const closed = await asCustomer
      .from('conversations')
      .update({ is_active: false })
      .eq('id', conversationId)
      .select();
    assert.deepEqual(closed.data, []);
  });

  test('status changes notify the other party and post system lines with the reason', async () => {
    const { customer, provider, booking, asCustomer, asProvider } = await bookingParties();
    const conversationId = await conversationOf(booking.id);
    const confirmed = await asProvider.rpc('transition_booking', { booking_id: booking.id, new_status: 'confirmed' });
    assert.equal(confirmed.error, null);
    const cancelled = await asCustomer.rpc('transition_booking', {
      booking_id: booking.id,
      new_status: 'cancelled',
      reason: 'Found the leak myself',
    });
    assert.equal(cancelled.error, null);
    assert.deepEqual(
      (await notificationsOf(customer)).map((n) => [n.type, n.sender_id, n.title]),
      [['booking_confirmed', provider.id, 'Booking confirmed']],
    );
    const toProvider = await notificationsOf(provider);
    assert.deepEqual(
      toProvider.map((n) => [n.type, n.sender_id]),
      [
        ['booking_received', null],
        ['booking_cancelled', customer.id],
      ],
    );
    assert.match(toProvider[1]?.body ?? '', /: Found the leak myself$/);
    assert.equal(toProvider[1]?.data.conversation_id, conversationId);
    const lines = (await messagesIn(conversationId)).map((m) => [m.type, m.sender_id, m.content]);
    assert.equal(lines.length, 3);
    assert.deepEqual(lines[1]?.slice(0, 2), ['system', null]);
    assert.match(String(lines[1]?.[2]), /^Booking confirmed by Test .\.$/);
    assert.match(String(lines[2]?.[2]), /^Booking cancelled by Test .+: Found the leak myself$/);
  });

  test("a provider's decline (0021's decline_booking) tells the customer, with the reason, in the conversation too", async () => {
    const { customer, booking, asProvider } = await bookingParties();
    const declined = await asProvider.rpc('decline_booking', {
      booking_id: booking.id,
      reason: 'Fully booked that week',
    });
    assert.equal(declined.error, null);
    const [note] = (await notificationsOf(customer)).filter((n) => n.type === 'booking_declined');
    assert.equal(note?.title, 'Booking request declined');
    assert.match(note?.body ?? '', /: Fully booked that week$/);
    const lines = await messagesIn(await conversationOf(booking.id));
    assert.match(String(lines.at(-1)?.content), /^Booking request declined by .+: Fully booked that week$/);
  });

  test('a move to another time tells both parties when the system makes it', async () => {
    const { customer, provider, booking } = await bookingParties({ status: 'confirmed' });
    await db.query(sql`update public.bookings set starts_at = starts_at + interval '1 day', ends_at = ends_at + interval '1 day'
                       where id = ${booking.id}`);
    for (const user of [customer, provider]) {
      const kinds = (await notificationsOf(user)).map((n) => n.type);
      assert.equal(kinds.at(-1), 'booking_rescheduled');
    }
    const lines = await messagesIn(await conversationOf(booking.id));
    assert.match(String(lines.at(-1)?.content), /^Moved to \w{3} \d{2} \w{3} \d{4} \d{2}:\d{2} \(UTC\)$/);
  });

  test('reminders go out once per booking, however often the scheduler runs; only service_role may run it', async () => {
    const { customer, provider, booking } = await bookingParties({ status: 'confirmed', startsInHours: 5 });
    const later = await bookingParties({ status: 'confirmed', startsInHours: 60 });
    const service = server.client({ apikey: server.keys.service_role });
    const first = await service.rpc('send_booking_reminders', { hours_before: 24 });
    assert.equal(first.error, null);
    assert.ok((first.data as number) >= 1);
    const again = await service.rpc('send_booking_reminders', { hours_before: 24 });
    assert.equal(again.data, 0);
    for (const user of [customer, provider]) {
      const reminders = (await notificationsOf(user)).filter((n) => n.type === 'booking_reminder');
      assert.equal(reminders.length, 1);
      assert.equal(reminders[0]?.data.booking_id, booking.id);
      assert.equal(reminders[0]?.data.urgent, true);
    }
    assert.deepEqual(
      (await notificationsOf(later.customer)).filter((n) => n.type === 'booking_reminder'),
      [],
    );
    const asCustomer = await clientFor(customer);
    const denied = await asCustomer.rpc('send_booking_reminders', {});
    assert.equal(denied.status, 403);
    const bad = await service.rpc('send_booking_reminders', { hours_before: 0 });
    assert.equal(bad.status, 400);
  });

  test('a completed payment tells the provider once', async () => {
    const { customer, provider, booking } = await bookingParties({ status: 'confirmed' });
    const { rows } = await db.query<{ id: string }>(sql`
      insert into public.transactions (user_id, booking_id, type, status, amount_cents, currency)
      values (${customer.id}, ${booking.id}, 'payment', 'pending', 8400, 'USD') returning id`);
    const id = (rows[0] as { id: string }).id;
    assert.deepEqual(
      (await notificationsOf(provider)).filter((n) => n.type === 'payment_received'),
      [],
    );
    await db.query(sql`update public.transactions set status = 'completed' where id = ${id}`);
    await db.query(sql`update public.transactions set description = 'Card payment' where id = ${id}`);
    const paid = (await notificationsOf(provider)).filter((n) => n.type === 'payment_received');
    assert.equal(paid.length, 1);
    assert.equal(paid[0]?.body, '84.00 USD received');
    assert.deepEqual(paid[0]?.data, {
      transaction_id: id,
      booking_id: booking.id,
      amount_cents: 8400,
      currency: 'USD',
    });
  });
});

describe(`send_message, the inbox and read state (${testBackend()})`, () => {
  test('a message reaches the other party: inbox unread counts, a notification, and reading clears both', async () => {
    const { customer, provider, booking, asCustomer, asProvider } = await bookingParties();
    const conversationId = await conversationOf(booking.id);
    await asProvider.rpc('mark_conversation_read', { conversation_id: conversationId });
    const sent = await asCustomer.rpc('send_message', { conversation_id: conversationId, body: '  Is 9am OK?  ' });
    assert.equal(sent.error, null);
    assert.equal(sent.data.sender_id, customer.id);
    assert.equal(sent.data.content, 'Is 9am OK?');
    await asCustomer.rpc('send_message', {
      conversation_id: conversationId,
      body: 'Side gate is open',
      reply_to_id: sent.data.id,
    });
    const [row] = await inbox(asProvider);
    assert.equal(row?.unread_count, 2);
    assert.equal(row?.last_message?.preview, 'Side gate is open');
    assert.equal(row?.last_message?.mine, false);
    assert.equal((await inbox(asCustomer))[0]?.unread_count, 0); // sending reads the conversation
    const messageNotes = (await notificationsOf(provider)).filter((n) => n.type === 'message_received');
    assert.equal(messageNotes.length, 2);
    assert.equal(messageNotes[0]?.sender_id, customer.id);
    const before = await asProvider.rpc('unread_notification_count');
    assert.equal(before.data, 3);
    const read = await asProvider.rpc('mark_conversation_read', { conversation_id: conversationId });
    assert.equal(read.error, null);
    assert.equal((await inbox(asProvider))[0]?.unread_count, 0);
    assert.equal((await asProvider.rpc('unread_notification_count')).data, 1); // booking_received is left
  });

  test("an attachment is one of the sender's finished uploads, and the other party can read its record", async () => {
    const { customer, booking, asCustomer, asProvider } = await bookingParties();
    const conversationId = await conversationOf(booking.id);
    const upload = await asCustomer
      .from('file_uploads')
      .insert({
        user_id: customer.id,
        storage_path: `photos/${customer.clerkId}/leak.jpg`,
        original_name: 'leak.jpg',
        mime_type: 'image/jpeg',
        size_bytes: 2048,
        type: 'attachment',
      })
      .select('id')
      .single();
    assert.equal(upload.error, null);
    const unfinished = await asCustomer.rpc('send_message', {
      conversation_id: conversationId,
      attachment_id: upload.data?.id,
    });
    assert.equal(unfinished.status, 409);
    await asCustomer.rpc('mark_file_uploaded', { file_id: upload.data?.id });
    const sent = await asCustomer.rpc('send_message', {
      conversation_id: conversationId,
      body: 'Here it is',
      attachment_id: upload.data?.id,
    });
    assert.equal(sent.error, null);
    assert.equal(sent.data.type, 'image');
    assert.deepEqual(
      sent.data.attachments.map((a: { file_id: string; name: string }) => [a.file_id, a.name]),
      [[upload.data?.id, 'leak.jpg']],
    );
    const seen = await asProvider.from('file_uploads').select('id, message_id').eq('id', upload.data?.id);
    assert.deepEqual(seen.data, [{ id: upload.data?.id, message_id: sent.data.id }]);
    // Sent once: a second message cannot reuse it.
    const reused = await asCustomer.rpc('send_message', {
      conversation_id: conversationId,
      attachment_id: upload.data?.id,
    });
    assert.equal(reused.status, 409);
  });

  test('bad messages are refused with a clear 4xx and nothing is written', async () => {
    const { customer, provider, booking, asCustomer } = await bookingParties();
    const conversationId = await conversationOf(booking.id);
    const { rows } = await db.query<{ id: string }>(sql`
      insert into public.file_uploads (user_id, storage_path, original_name, mime_type, size_bytes, status)
      values (${provider.id}, ${`p/${provider.clerkId}.pdf`}, 'quote.pdf', 'application/pdf', 10, 'active') returning id`);
    const theirs = (rows[0] as { id: string }).id;
    const stranger = await clientFor(await createUser(db));
    const cases: [SupabaseClient, Record<string, unknown>, number, string][] = [
      [asCustomer, { conversation_id: conversationId }, 400, '22023'],
      [asCustomer, { conversation_id: conversationId, body: '   ' }, 400, '22023'],
      [asCustomer, { conversation_id: conversationId, body: 'x'.repeat(4001) }, 400, '22023'],
      [asCustomer, { conversation_id: conversationId, body: 'Mine now', attachment_id: theirs }, 404, 'PT404'],
      [asCustomer, { conversation_id: conversationId, body: 'Hi', reply_to_id: theirs }, 400, '22023'],
      [stranger, { conversation_id: conversationId, body: 'Let me in' }, 404, 'PT404'],
      [server.client(), { conversation_id: conversationId, body: 'Anon' }, 401, '42501'],
    ];
    for (const [client, args, status, code] of cases) {
      const result = await client.rpc('send_message', args);
      assert.equal(result.status, status, JSON.stringify(args).slice(0, 80));
      assert.equal(result.error?.code, code);
    }
    assert.equal((await messagesIn(conversationId)).length, 1); // the booking's own line
    const { rows: file } = await db.query(sql`select message_id from public.file_uploads where id = ${theirs}`);
    assert.deepEqual(file, [{ message_id: null }]);
    assert.equal(customer.id.length, 36);
  });

  test('direct table writes cannot forge a sender, a system message, attachments or membership', async () => {
    const { customer, provider, booking, asCustomer } = await bookingParties();
    const conversationId = await conversationOf(booking.id);
    const stranger = await createUser(db);
    const asStranger = await clientFor(stranger);
    const attempts = [
      await asStranger.from('messages').insert({ conversation_id: conversationId, content: 'Hi' }),
      await asCustomer
        .from('messages')
        .insert({ conversation_id: conversationId, sender_id: provider.id, content: 'I quit' }),
      await asCustomer
        .from('messages')
        .insert({ conversation_id: conversationId, sender_id: null, content: 'System: refund issued' }),
      await asCustomer
        .from('messages')
        .insert({ conversation_id: conversationId, content: 'x', attachments: [{ file_id: 'y' }] }),
      await asStranger
        .from('conversation_participants')
        .insert({ conversation_id: conversationId, user_id: stranger.id }),
      await asStranger.from('notifications').insert({ user_id: stranger.id, type: 'system_alert', title: 'Hi' }),
      await asCustomer.from('messages').insert({ conversation_id: conversationId, content: 'y'.repeat(4001) }),
    ];
    assert.deepEqual(
      attempts.map((a) => a.status),
      [403, 403, 403, 403, 403, 403, 400],
    );
    // A client's own direct insert works, as text under its own name whatever type it claims.
    const own = await asCustomer
      .from('messages')
      .insert({ conversation_id: conversationId, type: 'system', content: 'Booking refunded (not really)' })
      .select('sender_id, type')
      .single();
    assert.deepEqual(own.data, { sender_id: customer.id, type: 'text' });
    const lines = await messagesIn(conversationId);
    assert.deepEqual(
      lines.map((m) => [m.type, m.sender_id]),
      [
        ['system', null],
        ['text', customer.id],
      ],
    );
    // System lines cannot be edited through the table (no sender to match).
    const edit = await asCustomer
      .from('messages')
      .update({ content: 'Booking free' })
      .eq('type', 'system')
      .eq('conversation_id', conversationId)
      .select();
    assert.deepEqual(edit.data, []);
    assert.match(String((await messagesIn(conversationId))[0]?.content), /^Booking requested /);
    // A stranger sees nothing of it.
    assert.deepEqual((await asStranger.from('messages').select('id').eq('conversation_id', conversationId)).data, []);
    assert.deepEqual(await inbox(asStranger), []);
    const read = await asStranger.rpc('mark_conversation_read', { conversation_id: conversationId });
    assert.equal(read.status, 404);
  });

  test('the inbox pages by last activity and hides archived conversations unless asked', async () => {
    const me = await createUser(db);
    const others = await Promise.all([createUser(db), createUser(db), createUser(db)]);
    const asMe = await clientFor(me);
    const ids: string[] = [];
    for (const other of others) {
      const { data } = await asMe.rpc('start_conversation', { participant_ids: [other.id] });
      ids.push(data.id);
      await asMe.rpc('send_message', { conversation_id: data.id, body: `Hello ${other.clerkId}` });
    }
    const page1 = await inbox(asMe, { max_rows: 2 });
    assert.deepEqual(
      page1.map((r) => r.conversation_id),
      [ids[2], ids[1]],
    );
    assert.equal(page1[0]?.last_message?.mine, true);
    assert.equal(page1[0]?.unread_count, 0);
    const page2 = await inbox(asMe, { max_rows: 2, before: page1[1]?.last_activity_at });
    assert.deepEqual(
      page2.map((r) => r.conversation_id),
      [ids[0]],
    );
    await asMe
      .from('conversation_participants')
      .update({ archived_at: new Date().toISOString() })
      .eq('conversation_id', ids[0] as string)
      .eq('user_id', me.id);
    assert.equal((await inbox(asMe)).length, 2);
    assert.equal((await inbox(asMe, { include_archived: true })).length, 3);
    const bad = await asMe.rpc('my_inbox', { max_rows: 0 });
    assert.equal(bad.status, 400);
  });

  test("notifications: list, count and mark read (some, someone else's, all)", async () => {
    const alice = await createUser(db);
    const bob = await createUser(db);
    const a1 = (await notify(alice, 'system_alert'))?.id;
    await notify(alice, 'review_received');
    await notify(alice, 'payment_received');
    const b1 = (await notify(bob, 'system_alert'))?.id;
    const asAlice = await clientFor(alice);
    const list = await asAlice.from('notifications').select('id, type, is_read').order('created_at');
    assert.equal(list.data?.length, 3);
    assert.equal((await asAlice.rpc('unread_notification_count')).data, 3);
    assert.equal((await asAlice.rpc('mark_notifications_read', { ids: [a1, b1] })).data, 1);
    assert.equal((await asAlice.rpc('unread_notification_count')).data, 2);
    assert.equal((await asAlice.rpc('mark_notifications_read')).data, 2);
    assert.equal((await asAlice.rpc('unread_notification_count')).data, 0);
    assert.equal((await notificationsOf(bob))[0]?.read, false);
    assert.equal((await server.client().rpc('unread_notification_count')).status, 401);
  });
});

describe(`docs/workflows.md snippets (${testBackend()})`, () => {
  test('the inbox screen snippet runs as written', async () => {
    const { customer, booking, asCustomer } = await bookingParties();
    const text = await readFile(join(ROOT, 'docs/workflows.md'), 'utf8');
    const snippet = /<!-- snippet: inbox -->\n```ts\n([\s\S]*?)```/.exec(text)?.[1];
    assert.ok(snippet, 'docs/workflows.md has the inbox snippet');
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
    const run = new AsyncFunction('supabase', `${snippet}\nreturn { conversations, messages, unread };`);
    const { conversations, messages, unread } = await run(asCustomer);
    assert.equal(conversations[0].booking.id, booking.id);
    assert.equal(messages.length, 1);
    assert.equal(unread, 0);
    const lines = await messagesIn(await conversationOf(booking.id));
    assert.deepEqual(lines.at(-1)?.content, 'On my way');
    assert.equal(lines.at(-1)?.sender_id, customer.id);
  });
});
