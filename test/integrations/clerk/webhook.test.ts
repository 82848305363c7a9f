import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from '../../../src/db/sql.js';
import {
  getTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../../helpers/index.js';
import { clerkSigner, deliver, newEventId, sessionEvent, userDeleted, userEvent, WEBHOOK_SECRET } from './support.js';

/*
 * POST /webhooks/clerk over real HTTP with real Svix signatures (the standardwebhooks signer and
 * a whsec_ secret): each event recorded once and applied once, in any order, forged and stale
 * deliveries refused with nothing written, and accounts created just in time from a Clerk
 * session token without a duplicate when the webhook arrives.
 */

let db: TestDatabase;
let server: TestServer;
let signer: Awaited<ReturnType<typeof clerkSigner>>;
let counter = 0;

/** A Clerk user id of its own per test. */
function newClerkId(): string {
  counter += 1;
  return `user_${testBackend()}${Date.now().toString(36)}${counter}Ab`;
}

before(async () => {
  db = await getTestDatabase();
  signer = await clerkSigner();
  server = await startTestServer(db, { CLERK_WEBHOOK_SECRET: WEBHOOK_SECRET, CLERK_JWT_KEY: signer.pem });
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

interface UserRow {
  id: string;
  clerk_id: string | null;
  email: string;
  email_verified_at: Date | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  status: string;
  role: string;
  deleted_at: Date | null;
  avatar_url: string | null;
  display_name: string | null;
}

async function accounts(clerkId: string): Promise<UserRow[]> {
  const { rows } = await db.query<UserRow>(sql`
    select u.id, u.clerk_id, u.email, u.email_verified_at, u.phone, u.first_name, u.last_name, u.status, u.role,
           u.deleted_at, p.avatar_url, p.display_name
    from public.users u left join public.user_profiles p on p.user_id = u.id
    where u.clerk_id = ${clerkId} order by u.created_at`);
  return rows;
}

async function events(): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    sql`select count(*)::int as n from public.inbound_webhook_events where provider = 'clerk'`,
  );
  return rows[0]?.n ?? 0;
}

async function eventRow(eventId: string) {
  const { rows } = await db.query<{ attempts: number; processed_at: Date | null; payload: Record<string, unknown> }>(
    sql`select attempts, processed_at, payload from public.inbound_webhook_events
        where provider = 'clerk' and event_id = ${eventId}`,
  );
  return rows[0];
}

const T = 1_760_000_000_000;
const created = (id: string, at = T) =>
  userEvent('user.created', id, {
    email: `ada+${id}@example.com`,
    first: 'Ada',
    last: 'Lovelace',
    phone: '+15551234567',
    image: 'https://img.clerk.com/ada.png',
    updatedAt: at,
  });
const updated = (id: string, at = T + 1000) =>
  userEvent('user.updated', id, {
    email: `ada.l+${id}@example.com`,
    first: 'Augusta Ada',
    last: 'King',
    image: 'https://img.clerk.com/ada2.png',
    updatedAt: at,
  });

describe(`POST /webhooks/clerk (${testBackend()})`, () => {
  test('user.created makes an account from the primary email, phone, names and image', async () => {
    const clerkId = newClerkId();
    const answer = await deliver(server, created(clerkId));
    assert.equal(answer.status, 200);
    assert.equal(answer.json.received, true);
    assert.equal(answer.json.outcome, 'applied');
    const [account, ...others] = await accounts(clerkId);
    assert.equal(others.length, 0);
    assert.ok(account);
    assert.equal(account.email, `ada+${clerkId}@example.com`);
    assert.ok(account.email_verified_at, 'the primary address is verified at Clerk');
    assert.equal(account.status, 'active');
    assert.equal(account.phone, '+15551234567');
    assert.equal(account.first_name, 'Ada');
    assert.equal(account.last_name, 'Lovelace');
    assert.equal(account.role, 'customer', 'unsafe_metadata.role = admin is never read');
    assert.equal(account.avatar_url, 'https://img.clerk.com/ada.png');
    assert.equal(account.display_name, 'Ada L.');
    assert.equal(answer.json.user_id, account.id);
  });

  test('an unverified primary address is kept but not marked verified, and the account stays pending', async () => {
    const clerkId = newClerkId();
    await deliver(
      server,
      userEvent('user.created', clerkId, { email: `bo+${clerkId}@example.com`, verified: false, updatedAt: T }),
    );
    const [account] = await accounts(clerkId);
    assert.equal(account?.email, `bo+${clerkId}@example.com`);
    assert.equal(account?.email_verified_at, null);
    assert.equal(account?.status, 'pending_verification');
  });

  test('user.created then user.updated, and user.updated then user.created, end with the update', async () => {
    for (const order of [
      ['created', 'updated'],
      ['updated', 'created'],
    ]) {
      const clerkId = newClerkId();
      for (const step of order) {
        const answer = await deliver(server, step === 'created' ? created(clerkId) : updated(clerkId));
        assert.equal(answer.status, 200);
      }
      const rows = await accounts(clerkId);
      assert.equal(rows.length, 1, `one account (${order.join(' → ')})`);
      assert.equal(rows[0]?.email, `ada.l+${clerkId}@example.com`, order.join(' → '));
      assert.equal(rows[0]?.first_name, 'Augusta Ada');
      assert.equal(rows[0]?.avatar_url, 'https://img.clerk.com/ada2.png');
    }
  });

  test('an older update arriving late is ignored', async () => {
    const clerkId = newClerkId();
    await deliver(server, updated(clerkId, T + 5000));
    const late = await deliver(server, updated(clerkId, T + 1000));
    assert.equal(late.status, 200);
    assert.equal(late.json.outcome, 'ignored');
    const stale = userEvent('user.updated', clerkId, { email: `stale+${clerkId}@example.com`, updatedAt: T + 4000 });
    assert.equal((await deliver(server, stale)).json.outcome, 'ignored');
    assert.equal((await accounts(clerkId))[0]?.email, `ada.l+${clerkId}@example.com`);
  });

  test('created, updated and deleted in every order: deleted is final, nothing comes back', async () => {
    const steps = ['created', 'updated', 'deleted'] as const;
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    for (const order of orders) {
      const clerkId = newClerkId();
      const names = order.map((i) => steps[i]);
      let accountId: string | undefined;
      for (const step of names) {
        const event =
          step === 'created' ? created(clerkId) : step === 'updated' ? updated(clerkId) : userDeleted(clerkId);
        const answer = await deliver(server, event);
        assert.equal(answer.status, 200, `${names.join(' → ')}: ${JSON.stringify(answer.json)}`);
        accountId ??= answer.json.user_id;
      }
      assert.deepEqual(await accounts(clerkId), [], `no live account after ${names.join(' → ')}`);
      if (accountId !== undefined) {
        const { rows } = await db.query<{ email: string; clerk_id: string | null; deleted_at: Date | null }>(
          sql`select email, clerk_id, deleted_at from public.users where id = ${accountId}`,
        );
        assert.equal(rows[0]?.clerk_id, null, names.join(' → '));
        assert.ok(rows[0]?.deleted_at, 'soft-deleted');
        assert.match(rows[0]?.email ?? '', /^deleted-.*@deleted\.invalid$/, 'anonymised');
      }
      const { rows: tombstones } = await db.query<{ deleted_at: Date | null }>(
        sql`select deleted_at from app.clerk_users where clerk_id_hash = encode(sha256(convert_to(${clerkId}, 'UTF8')), 'hex')`,
      );
      assert.ok(tombstones[0]?.deleted_at, 'the tombstone stays');
    }
  });

  test('user.deleted anonymises per the privacy rules and redacts the user’s earlier events', async () => {
    const clerkId = newClerkId();
    const id = newEventId();
    await deliver(server, created(clerkId), { id });
    const userId = (await accounts(clerkId))[0]?.id as string;
    await db.query(sql`insert into public.user_addresses (user_id, line1, city, country_code)
                       values (${userId}, '1 Main St', 'Springfield', 'US')`);
    const answer = await deliver(server, userDeleted(clerkId));
    assert.equal(answer.json.outcome, 'applied');
    const { rows } = await db.query<{ n: number; name: string | null }>(sql`
      select (select count(*)::int from public.user_addresses where user_id = ${userId}) as n,
             (select display_name from public.user_profiles where user_id = ${userId}) as name`);
    assert.deepEqual(rows[0], { n: 0, name: 'Deleted user' });
    const payload = (await eventRow(id))?.payload;
    assert.deepEqual(payload, { type: 'user.created', redacted: true });
  });

  test('a redelivered event (same svix-id) answers duplicate and is not applied again', async () => {
    const clerkId = newClerkId();
    const id = newEventId();
    assert.equal((await deliver(server, created(clerkId), { id })).json.outcome, 'applied');
    // A change made in Loconomy since: a replay of the old event must not undo it.
    await db.query(sql`update public.users set first_name = 'Changed' where clerk_id = ${clerkId}`);
    const again = await deliver(server, created(clerkId), { id });
    assert.equal(again.status, 200);
    assert.equal(again.json.outcome, 'duplicate');
    assert.equal((await accounts(clerkId))[0]?.first_name, 'Changed');
    assert.equal((await eventRow(id))?.attempts, 1);
  });

  test('concurrent duplicates: one is applied, the others answer duplicate', async () => {
    const clerkId = newClerkId();
    const id = newEventId();
    const at = new Date();
    const answers = await Promise.all(Array.from({ length: 6 }, () => deliver(server, created(clerkId), { id, at })));
    assert.deepEqual(
      answers.map((a) => a.status),
      Array(6).fill(200),
    );
    const outcomes = answers.map((a) => a.json.outcome).sort();
    assert.deepEqual(outcomes, ['applied', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);
    assert.equal((await accounts(clerkId)).length, 1);
  });

  test('concurrent different events of one user end in the newest state', async () => {
    const clerkId = newClerkId();
    await Promise.all([
      deliver(server, updated(clerkId, T + 3000)),
      deliver(server, created(clerkId, T)),
      deliver(server, userEvent('user.updated', clerkId, { email: `mid+${clerkId}@example.com`, updatedAt: T + 2000 })),
    ]);
    const rows = await accounts(clerkId);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.email, `ada.l+${clerkId}@example.com`);
  });

  test('forged, tampered, unsigned, stale or unreadable deliveries are 400 and write nothing', async () => {
    const clerkId = newClerkId();
    const event = created(clerkId);
    const before = await events();
    const cases: [string, Parameters<typeof deliver>[2], RegExp][] = [
      [
        'another secret',
        { secret: `whsec_${Buffer.from('not-the-secret-not-the-secret!!').toString('base64')}` },
        /signature/i,
      ],
      ['a changed body', { tamper: (body) => body.replace('ada+', 'eve+') }, /signature/i],
      ['a changed id', { headers: { 'svix-id': 'msg_other' } }, /signature/i],
      ['no signature', { headers: { 'svix-signature': '' } }, /svix-signature/],
      ['no id', { headers: { 'svix-id': '' } }, /svix-id/],
      ['a timestamp 6 minutes old', { at: new Date(Date.now() - 6 * 60_000) }, /too old/i],
      ['a timestamp 6 minutes ahead', { at: new Date(Date.now() + 6 * 60_000) }, /too new/i],
      ['a signed body that is not JSON', { body: 'not json' }, /./],
      [
        'a signed event without data',
        { body: JSON.stringify({ type: 'user.created', object: 'event' }) },
        /Clerk event/,
      ],
    ];
    for (const [name, delivery, message] of cases) {
      const answer = await deliver(server, event, delivery);
      assert.equal(answer.status, 400, `${name}: ${JSON.stringify(answer.json)}`);
      assert.equal(answer.json.code, 'LOCO_WEBHOOK_INVALID', name);
      assert.match(answer.json.message, message, name);
      assert.ok(answer.json.hint, name);
    }
    assert.equal(await events(), before, 'no event recorded');
    assert.deepEqual(await accounts(clerkId), [], 'no account written');
  });

  test('a replayed capture (same id, timestamp and signature) after 5 minutes is refused', async () => {
    const clerkId = newClerkId();
    const answer = await deliver(server, created(clerkId), { at: new Date(Date.now() - 5 * 60_000 - 5_000) });
    assert.equal(answer.status, 400);
    assert.deepEqual(await accounts(clerkId), []);
  });

  test('events Loconomy does not sync are recorded and answered 200 (ignored)', async () => {
    const id = newEventId();
    const answer = await deliver(server, { type: 'email.created', object: 'event', data: { id: 'ema_1' } }, { id });
    assert.equal(answer.status, 200);
    assert.equal(answer.json.outcome, 'ignored');
    assert.ok((await eventRow(id))?.processed_at);
  });

  test('a signed event the database cannot apply is 500, recorded with its error, and applied on retry', async () => {
    const clerkId = newClerkId();
    const id = newEventId();
    await db.query(sql`update public.tenants set is_default = false where is_default`);
    let answer: Awaited<ReturnType<typeof deliver>>;
    try {
      answer = await deliver(server, created(clerkId), { id });
    } finally {
      await db.query(sql`update public.tenants set is_default = true where slug = 'loconomy'`);
    }
    assert.equal(answer.status, 500);
    assert.equal(answer.json.code, 'LOCO_INTERNAL');
    const { rows } = await db.query<{ attempts: number; last_error: string; processed_at: Date | null }>(
      sql`select attempts, last_error, processed_at from public.inbound_webhook_events where event_id = ${id}`,
    );
    assert.equal(rows[0]?.processed_at, null);
    assert.match(rows[0]?.last_error ?? '', /no tenant/);
    assert.deepEqual(await accounts(clerkId), []);
    const retry = await deliver(server, created(clerkId), { id });
    assert.equal(retry.json.outcome, 'applied');
    assert.equal((await eventRow(id))?.attempts, 2);
    assert.equal((await accounts(clerkId)).length, 1);
  });

  test('session.created opens a user_sessions row and session.ended closes it; ended first stays ended', async () => {
    const clerkId = newClerkId();
    await deliver(server, created(clerkId));
    const opened = await deliver(
      server,
      sessionEvent('session.created', `sess_a${clerkId}`, clerkId, { created: T, updated: T }),
    );
    assert.equal(opened.json.outcome, 'applied');
    const again = await deliver(
      server,
      sessionEvent('session.created', `sess_a${clerkId}`, clerkId, { created: T, updated: T }),
    );
    assert.equal(again.json.outcome, 'ignored', 'a second created event for the session (new svix id) adds nothing');
    const ended = await deliver(
      server,
      sessionEvent('session.ended', `sess_a${clerkId}`, clerkId, { created: T, updated: T + 60_000 }),
    );
    assert.equal(ended.json.outcome, 'applied');
    // Out of order: ended before created.
    await deliver(
      server,
      sessionEvent('session.ended', `sess_b${clerkId}`, clerkId, { created: T, updated: T + 9000 }),
    );
    await deliver(server, sessionEvent('session.created', `sess_b${clerkId}`, clerkId, { created: T, updated: T }));
    const { rows } = await db.query<{
      clerk_session_id: string;
      started_at: Date;
      ended_at: Date | null;
      login_count: number;
    }>(sql`
      select s.clerk_session_id, s.started_at, s.ended_at, u.login_count
      from public.user_sessions s join public.users u on u.id = s.user_id
      where u.clerk_id = ${clerkId} order by s.clerk_session_id`);
    assert.equal(rows.length, 2);
    assert.equal(rows[0]?.started_at.getTime(), T);
    assert.equal(rows[0]?.ended_at?.getTime(), T + 60_000);
    assert.equal(rows[1]?.ended_at?.getTime(), T + 9000, 'the late created event does not reopen it');
    assert.equal(rows[0]?.login_count, 1);
  });

  test('session.created before the user’s own events creates the account, which user.created fills in', async () => {
    const clerkId = newClerkId();
    await deliver(server, sessionEvent('session.created', `sess_${clerkId}`, clerkId, { created: T, updated: T }));
    const [placeholder] = await accounts(clerkId);
    assert.match(placeholder?.email ?? '', /^pending-.*@clerk\.invalid$/);
    await deliver(server, created(clerkId));
    const rows = await accounts(clerkId);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.id, placeholder?.id);
    assert.equal(rows[0]?.email, `ada+${clerkId}@example.com`);
  });

  test('sessions of a deleted Clerk user are ignored', async () => {
    const clerkId = newClerkId();
    await deliver(server, userDeleted(clerkId));
    const answer = await deliver(
      server,
      sessionEvent('session.created', `sess_${clerkId}`, clerkId, { created: T, updated: T }),
    );
    assert.equal(answer.json.outcome, 'ignored');
    assert.deepEqual(await accounts(clerkId), []);
  });
});

describe(`just-in-time accounts from Clerk session tokens (${testBackend()})`, () => {
  async function ownRows(token: string) {
    const response = await fetch(`${server.url}/rest/v1/users?select=id,clerk_id,email`, {
      headers: { apikey: server.keys.anon, authorization: `Bearer ${token}` },
    });
    assert.equal(response.status, 200);
    return (await response.json()) as { id: string; clerk_id: string; email: string }[];
  }

  test('the first request of a signed-in user without an account creates it, and the webhook fills it in', async () => {
    const clerkId = newClerkId();
    const token = await signer.token(clerkId);
    const [mine] = await ownRows(token);
    assert.equal(mine?.clerk_id, clerkId, 'the request itself sees the new account');
    assert.match(mine?.email ?? '', /^pending-.*@clerk\.invalid$/);
    await deliver(server, created(clerkId));
    const rows = await accounts(clerkId);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.id, mine?.id);
    assert.equal(rows[0]?.email, `ada+${clerkId}@example.com`);
    assert.equal((await ownRows(token))[0]?.email, `ada+${clerkId}@example.com`);
  });

  test('email and names in the token are used until the webhook arrives', async () => {
    const clerkId = newClerkId();
    const [mine] = await ownRows(await signer.token(clerkId, { email: `cy+${clerkId}@example.com`, first_name: 'Cy' }));
    assert.equal(mine?.email, `cy+${clerkId}@example.com`);
    assert.equal((await accounts(clerkId))[0]?.first_name, 'Cy');
  });

  test('just-in-time creation racing the webhook makes one account', async () => {
    for (let round = 0; round < 3; round++) {
      const clerkId = newClerkId();
      const token = await signer.token(clerkId);
      const [webhook] = await Promise.all([
        deliver(server, created(clerkId)),
        ownRows(token),
        ownRows(token),
        deliver(server, sessionEvent('session.created', `sess_${clerkId}`, clerkId, { created: T, updated: T })),
      ]);
      assert.equal(webhook.status, 200);
      const rows = await accounts(clerkId);
      assert.equal(rows.length, 1, `round ${round}: one account`);
      assert.equal(rows[0]?.email, `ada+${clerkId}@example.com`, 'the webhook filled it in');
    }
  });

  test('a second server process creates no duplicate either', async () => {
    const other = await startTestServer(db, { CLERK_WEBHOOK_SECRET: WEBHOOK_SECRET, CLERK_JWT_KEY: signer.pem });
    try {
      const clerkId = newClerkId();
      const token = await signer.token(clerkId);
      await Promise.all([
        ownRows(token),
        fetch(`${other.url}/rest/v1/users?select=id`, {
          headers: { apikey: other.keys.anon, authorization: `Bearer ${token}` },
        }),
      ]);
      assert.equal((await accounts(clerkId)).length, 1);
    } finally {
      await other.close();
    }
  });

  test('a token of a user Clerk deleted does not bring the account back', async () => {
    const clerkId = newClerkId();
    await deliver(server, created(clerkId));
    await deliver(server, userDeleted(clerkId));
    assert.deepEqual(await ownRows(await signer.token(clerkId)), []);
    assert.deepEqual(await accounts(clerkId), []);
  });

  test('project-signed (HS256) tokens never create accounts', async () => {
    const clerkId = newClerkId();
    assert.deepEqual(await ownRows(await server.tokenFor(clerkId)), []);
    assert.deepEqual(await accounts(clerkId), []);
  });
});

describe(`trusted Clerk metadata (${testBackend()})`, () => {
  test('public_metadata.role is ignored unless LOCONOMY_CLERK_TRUSTED_METADATA names role', async () => {
    const clerkId = newClerkId();
    await deliver(
      server,
      userEvent('user.created', clerkId, {
        email: `r+${clerkId}@example.com`,
        metadata: { role: 'admin' },
        updatedAt: T,
      }),
    );
    assert.equal((await accounts(clerkId))[0]?.role, 'customer');
  });

  test('with role trusted, a change of public_metadata.role is applied; super_admin and stale values are not', async () => {
    const trusting = await startTestServer(db, {
      CLERK_WEBHOOK_SECRET: WEBHOOK_SECRET,
      LOCONOMY_CLERK_TRUSTED_METADATA: 'role, tenant_id',
    });
    try {
      const clerkId = newClerkId();
      const event = (role: string, at: number) =>
        userEvent('user.updated', clerkId, { email: `p+${clerkId}@example.com`, metadata: { role }, updatedAt: at });
      await deliver(trusting, event('provider', T));
      assert.equal((await accounts(clerkId))[0]?.role, 'provider');
      // An admin changes the role in Loconomy; Clerk's (unchanged) metadata must not undo it.
      await db.query(sql`update public.users set role = 'customer' where clerk_id = ${clerkId}`);
      await deliver(trusting, event('provider', T + 1000));
      assert.equal((await accounts(clerkId))[0]?.role, 'customer');
      await deliver(trusting, event('super_admin', T + 2000));
      assert.equal((await accounts(clerkId))[0]?.role, 'customer');
      await deliver(trusting, event('admin', T + 3000));
      assert.equal((await accounts(clerkId))[0]?.role, 'admin');
    } finally {
      await trusting.close();
    }
  });

  test('an unknown key in LOCONOMY_CLERK_TRUSTED_METADATA stops start-up', async () => {
    await assert.rejects(
      startTestServer(db, { LOCONOMY_CLERK_TRUSTED_METADATA: 'role,email' }),
      /LOCONOMY_CLERK_TRUSTED_METADATA may name only role and tenant_id/,
    );
  });
});

describe(`POST /webhooks/clerk without CLERK_WEBHOOK_SECRET (${testBackend()})`, () => {
  test('answers 503 with what to set, and writes nothing', async () => {
    const bare = await startTestServer(db);
    try {
      const before = await events();
      const answer = await deliver(bare, created(newClerkId()));
      assert.equal(answer.status, 503);
      assert.equal(answer.json.code, 'LOCO_WEBHOOK_UNCONFIGURED');
      assert.match(answer.json.hint, /CLERK_WEBHOOK_SECRET/);
      assert.equal(await events(), before);
    } finally {
      await bare.close();
    }
  });

  test('a secret that is not a Svix secret stops start-up', async () => {
    await assert.rejects(startTestServer(db, { CLERK_WEBHOOK_SECRET: 'whsec_***' }), /CLERK_WEBHOOK_SECRET is not/);
  });
});
