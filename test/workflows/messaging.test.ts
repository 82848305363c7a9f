import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import { createUser, type UserFixture } from '../helpers/fixtures.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';

/*
 * Issue 8, messaging and notifications (0018): app.notify() and the preferences it honours,
 * through REST with supabase-js and real tokens.
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
