import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import type { Queryable } from '../../src/db/database.js';
import { type SqlFragment, sql } from '../../src/db/sql.js';
import {
  createBooking,
  createListing,
  createTenant,
  createUser,
  type ListingFixture,
  type UserFixture,
} from '../helpers/fixtures.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';

/*
 * The referral workflow (0023 on 0009's tables and 0019's credit ledger), over REST with
 * supabase-js and real tokens: redeeming a code at sign-up and every reason it is refused
 * (nothing written), my_referral_code(), completion by the referee's first qualifying booking
 * crediting both sides exactly once with a referral_completed notification, expiry, and the
 * direct writes that stay refused.
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

async function one<T>(q: Queryable, query: SqlFragment): Promise<T> {
  const { rows } = await q.query<T>(query);
  assert.equal(rows.length, 1, 'expected exactly one row');
  return rows[0] as T;
}

/** A marketplace of its own per scenario, so programs created by one test never meet another's. */
interface Market {
  tenantId: string;
  program: string;
  provider: UserFixture;
  listing: ListingFixture;
}

async function market(
  options: {
    referrerCents?: number;
    refereeCents?: number;
    minimumSpendCents?: number;
    maxUsesPerCode?: number | null;
    rewardValidityDays?: number | null;
    currency?: string;
    startsOn?: string | null;
    endsOn?: string | null;
    isActive?: boolean;
  } = {},
): Promise<Market> {
  const tenantId = await createTenant(db);
  const { id: program } = await one<{ id: string }>(
    db,
    sql`insert into public.referral_programs (tenant_id, name, reward_type, referrer_reward_cents, referee_reward_cents,
                                              currency, minimum_spend_cents, max_uses_per_code, reward_validity_days,
                                              is_active, starts_on, ends_on)
        values (${tenantId}, 'Bring a friend', 'credit', ${options.referrerCents ?? 2000}, ${options.refereeCents ?? 1000},
                ${options.currency ?? 'USD'}, ${options.minimumSpendCents ?? 5000}, ${options.maxUsesPerCode ?? null},
                ${options.rewardValidityDays === undefined ? 30 : options.rewardValidityDays}, ${options.isActive ?? true},
                ${options.startsOn ?? null}, ${options.endsOn ?? null})
        returning id`,
  );
  const provider = await createUser(db, { role: 'provider', tenantId });
  return { tenantId, program, provider, listing: await createListing(db, provider) };
}

const person = (m: Market) => createUser(db, { tenantId: m.tenantId });

async function as(user: UserFixture): Promise<SupabaseClient> {
  return server.client({ token: await server.tokenFor(user.clerkId) });
}

/** The referrer's code for the market's program, made with my_referral_code(). */
async function codeOf(user: UserFixture): Promise<{ id: string; code: string }> {
  const { data, error } = await (await as(user)).rpc('my_referral_code');
  assert.equal(error, null);
  return data as { id: string; code: string };
}

const redeem = async (user: UserFixture, referralCode: string, source?: string) =>
  (await as(user)).rpc('redeem_referral_code', { referral_code: referralCode, ...(source ? { source } : {}) });

async function written(user: UserFixture): Promise<{ referrals: number; uses: number }> {
  return one(
    db,
    sql`select (select count(*)::int from public.referrals where referee_id = ${user.id}) as referrals,
               coalesce((select sum(uses_count)::int from public.referral_codes), 0) as uses`,
  );
}

/** Redeeming fails with this status and details, and writes nothing. */
async function refused(
  user: UserFixture,
  referralCode: string,
  status: number,
  detail: string,
  message: RegExp,
  source?: string,
): Promise<void> {
  const before = await written(user);
  const { error, status: got } = await redeem(user, referralCode, source);
  assert.equal(got, status, `${detail}: ${JSON.stringify(error)}`);
  assert.equal(error?.details, detail);
  assert.match(error?.message ?? '', message);
  assert.ok(error?.hint, 'the error says what to do');
  assert.deepEqual(await written(user), before, 'nothing was written');
}

/** A booking of the referee, then completed (as the provider's workflow would, by the owner here). */
async function completedBooking(m: Market, customer: UserFixture, options: { currency?: string } = {}) {
  const booking = await createBooking(db, m.listing, customer, {
    status: 'confirmed',
    startsInHours: -(24 + Math.floor(Math.random() * 10_000)),
  });
  if (options.currency) {
    await db.query(sql`update public.bookings set currency = ${options.currency} where id = ${booking.id}`);
  }
  await db.query(sql`update public.bookings set status = 'completed' where id = ${booking.id}`);
  return booking.id;
}

const referralOf = (referee: UserFixture) =>
  one<{ id: string; status: string; first_booking_id: string | null }>(
    db,
    sql`select id, status, first_booking_id from public.referrals where referee_id = ${referee.id}`,
  );

const creditRows = async (user: UserFixture) =>
  (
    await db.query<{ reason: string; amount_cents: string }>(
      sql`select reason, amount_cents from public.credit_ledger where user_id = ${user.id} order by created_at, id`,
    )
  ).rows.map((r) => [r.reason, Number(r.amount_cents)]);

const notified = async (user: UserFixture) =>
  (
    await db.query<{ sender_id: string | null; amount: number }>(
      sql`select sender_id, (data ->> 'amount_cents')::int as amount from public.notifications
          where user_id = ${user.id} and type = 'referral_completed'`,
    )
  ).rows;

async function balanceOf(user: UserFixture) {
  const { data, error } = await (await as(user)).rpc('my_credit_balance');
  assert.equal(error, null);
  return (data as { currency: string; balance_cents: number }[]).map((r) => [r.currency, r.balance_cents]);
}

/** Moves a reward's expiry (and its credit lot's) into the past: "time passes". */
async function ageReward(rewardUser: UserFixture): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(sql`alter table public.credit_ledger disable trigger credit_ledger_append_only`);
    await tx.query(sql`update public.credit_ledger set expires_at = now() - interval '1 minute'
                       where user_id = ${rewardUser.id} and reason = 'referral_reward'`);
    await tx.query(sql`update public.referral_rewards set expires_at = now() - interval '1 minute'
                       where user_id = ${rewardUser.id}`);
    await tx.query(sql`alter table public.credit_ledger enable trigger credit_ledger_append_only`);
  });
}

describe(`redeem_referral_code (${testBackend()})`, () => {
  test('a new user redeems a code at sign-up: referral pending, the use counted', async () => {
    const m = await market();
    const referrer = await person(m);
    const code = await codeOf(referrer);
    const referee = await person(m);
    const { data, error, status } = await redeem(referee, `  ${code.code.toLowerCase()} `, 'newsletter');
    assert.equal(error, null);
    assert.equal(status, 200);
    assert.deepEqual(
      {
        referrer: data.referrer_id,
        referee: data.referee_id,
        program: data.program_id,
        status: data.status,
        source: data.source,
      },
      { referrer: referrer.id, referee: referee.id, program: m.program, status: 'pending', source: 'newsletter' },
    );
    const uses = await one<{ uses_count: number }>(
      db,
      sql`select uses_count from public.referral_codes where id = ${code.id}`,
    );
    assert.equal(uses.uses_count, 1);
  });

  test('anonymous callers are told to sign in (401), a token without an account gets 403', async () => {
    const m = await market();
    const code = await codeOf(await person(m));
    const anon = await server.client().rpc('redeem_referral_code', { referral_code: code.code });
    assert.equal(anon.status, 401);
    assert.match(anon.error?.message ?? '', /sign in/);
    const stranger = server.client({ token: await server.tokenFor('user_without_account') });
    const noAccount = await stranger.rpc('redeem_referral_code', { referral_code: code.code });
    assert.equal(noAccount.status, 403);
    assert.match(noAccount.error?.message ?? '', /no account exists/);
    const { rows } = await db.query(sql`select 1 from public.referrals where code_id = ${code.id}`);
    assert.equal(rows.length, 0);
  });

  test('a malformed code or an overlong source is 400', async () => {
    const m = await market();
    const user = await person(m);
    for (const bad of ['', 'ab', 'has space', 'X'.repeat(21)]) {
      await refused(user, bad, 400, 'code_malformed', /4 to 20 letters and digits/);
    }
    const code = await codeOf(await person(m));
    await refused(user, code.code, 400, 'source_too_long', /at most 100/, 's'.repeat(101));
  });

  test("an unknown code and another marketplace's code are 404", async () => {
    const m = await market();
    const other = await market();
    const foreign = await codeOf(await person(other));
    const user = await person(m);
    await refused(user, 'NOSUCHCODE1', 404, 'code_unknown', /no referral code NOSUCHCODE1/);
    await refused(user, foreign.code, 404, 'code_unknown', /no referral code/);
  });

  test('redeeming your own code is 403', async () => {
    const m = await market();
    const user = await person(m);
    const code = await codeOf(user);
    await refused(user, code.code, 403, 'own_code', /your own referral code/);
  });

  test('a user is referred once: a second code, or the same again, is 409', async () => {
    const m = await market();
    const first = await codeOf(await person(m));
    const second = await codeOf(await person(m));
    const referee = await person(m);
    assert.equal((await redeem(referee, first.code)).error, null);
    await refused(referee, first.code, 409, 'already_referred', /already been referred/);
    await refused(referee, second.code, 409, 'already_referred', /already been referred/);
  });

  test('a customer who already completed a booking is not new: 409', async () => {
    const m = await market();
    const code = await codeOf(await person(m));
    const regular = await person(m);
    await completedBooking(m, regular);
    await refused(regular, code.code, 409, 'not_a_new_customer', /already completed a booking/);
  });

  test('a switched-off code, an expired code and a used-up code are 409', async () => {
    const m = await market({ maxUsesPerCode: 1 });
    const owner = await person(m);
    const code = await codeOf(owner);
    const user = await person(m);
    await (await as(owner)).from('referral_codes').update({ is_active: false }).eq('id', code.id);
    await refused(user, code.code, 409, 'code_inactive', /switched off/);
    await db.query(sql`update public.referral_codes set is_active = true, expires_at = '2001-01-01T00:00:00Z'
                       where id = ${code.id}`);
    await refused(user, code.code, 409, 'code_expired', /expired at 2001-01-01 00:00 UTC/);
    await db.query(sql`update public.referral_codes set expires_at = null where id = ${code.id}`);
    assert.equal((await redeem(await person(m), code.code)).error, null);
    await refused(user, code.code, 409, 'code_used_up', /used 1 times, its limit/);
  });

  test('a code of a program that is switched off, not started or ended is 409', async () => {
    const m = await market();
    const code = await codeOf(await person(m));
    const user = await person(m);
    const cases = [
      [sql`is_active = false`, 'program_inactive', /is not running/],
      [sql`is_active = true, starts_on = '2999-01-01'`, 'program_not_started', /starts on 2999-01-01/],
      [sql`starts_on = '2000-01-01', ends_on = '2000-12-31'`, 'program_ended', /ended on 2000-12-31/],
    ] as const;
    for (const [change, detail, message] of cases) {
      await db.query(sql`update public.referral_programs set ${change} where id = ${m.program}`);
      await refused(user, code.code, 409, detail, message);
    }
  });

  if (testBackend() === 'postgres') {
    test("concurrent redemptions never exceed a code's limit", async () => {
      const m = await market({ maxUsesPerCode: 3 });
      const code = await codeOf(await person(m));
      const users = await Promise.all(Array.from({ length: 10 }, () => person(m)));
      const results = await Promise.all(users.map((u) => redeem(u, code.code)));
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 200, 200, 409, 409, 409, 409, 409, 409, 409]);
      assert.ok(results.filter((r) => r.error).every((r) => r.error?.details === 'code_used_up'));
      const row = await one<{ uses_count: number; n: number }>(
        db,
        sql`select uses_count, (select count(*)::int from public.referrals where code_id = ${code.id}) as n
            from public.referral_codes where id = ${code.id}`,
      );
      assert.deepEqual(row, { uses_count: 3, n: 3 });
    });

    test('one user redeeming two codes at once is referred once', async () => {
      const m = await market();
      const codes = await Promise.all([codeOf(await person(m)), codeOf(await person(m))]);
      const referee = await person(m);
      const results = await Promise.all(codes.map((c) => redeem(referee, c.code)));
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 409]);
      assert.equal((await written(referee)).referrals, 1);
    });
  }
});

describe(`my_referral_code (${testBackend()})`, () => {
  test("creates the caller's code for their marketplace's program once, then returns it", async () => {
    const m = await market({ maxUsesPerCode: 5 });
    const user = await person(m);
    const client = await as(user);
    const first = await client.rpc('my_referral_code');
    assert.equal(first.error, null);
    assert.match(first.data.code, /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}$/);
    assert.deepEqual(
      [first.data.program_id, first.data.user_id, first.data.uses_count, first.data.max_uses],
      [m.program, user.id, 0, 5],
    );
    const again = await client.rpc('my_referral_code');
    assert.equal(again.data.id, first.data.id);
    const { rows } = await db.query(sql`select 1 from public.referral_codes where user_id = ${user.id}`);
    assert.equal(rows.length, 1);
  });

  test('anonymous callers get 401', async () => {
    const { status, error } = await server.client().rpc('my_referral_code');
    assert.equal(status, 401);
    assert.match(error?.message ?? '', /sign in/);
    const balance = await server.client().rpc('my_credit_balance');
    assert.equal(balance.status, 401);
    assert.match(balance.error?.message ?? '', /sign in/);
  });

  test('without a running program it is 404 and nothing is written', async () => {
    const m = await market({ isActive: false });
    const user = await person(m);
    // The seeded shared program is switched off for this transaction only.
    const error = await db
      .transaction(async (tx) => {
        await tx.query(sql`update public.referral_programs set is_active = false where tenant_id is null`);
        await tx.query(sql`select set_config('request.jwt.claims', ${JSON.stringify({ sub: user.clerkId })}, true)`);
        await tx.query(sql`set local role authenticated`);
        await tx.query(sql`select public.my_referral_code()`);
      })
      .then(
        () => null,
        (e: { code?: string; message?: string; detail?: string }) => e,
      );
    assert.deepEqual([error?.code, error?.detail], ['PT404', 'no_program']);
    assert.match(error?.message ?? '', /no referral program is running/);
  });
});

describe(`referral completion (${testBackend()})`, () => {
  async function referred(m: Market) {
    const referrer = await person(m);
    const referee = await person(m);
    const code = await codeOf(referrer);
    assert.equal((await redeem(referee, code.code)).error, null);
    return { referrer, referee };
  }

  test("the referee's first completed booking credits both sides once and notifies them", async () => {
    const m = await market();
    const { referrer, referee } = await referred(m);
    const booking = await completedBooking(m, referee);
    assert.deepEqual(await referralOf(referee).then((r) => [r.status, r.first_booking_id]), ['completed', booking]);
    assert.deepEqual(await creditRows(referrer), [['referral_reward', 2000]]);
    assert.deepEqual(await creditRows(referee), [['referral_reward', 1000]]);
    assert.deepEqual(await balanceOf(referrer), [['USD', 2000]]);
    assert.deepEqual(await balanceOf(referee), [['USD', 1000]]);
    assert.deepEqual(await notified(referrer), [{ sender_id: referee.id, amount: 2000 }]);
    assert.deepEqual(await notified(referee), [{ sender_id: referrer.id, amount: 1000 }]);

    // As docs/workflows.md shows the referrals screen.
    const asReferrer = await as(referrer);
    const referrals = await asReferrer.from('referrals').select('status, completed_at, referee_id');
    assert.equal(referrals.error, null);
    assert.deepEqual(
      referrals.data?.map((r) => [r.status, r.referee_id, r.completed_at !== null]),
      [['completed', referee.id, true]],
    );
    const rewards = await asReferrer
      .from('referral_rewards')
      .select('amount_cents, currency, status, expires_at')
      .order('created_at', { ascending: false });
    assert.equal(rewards.error, null);
    assert.deepEqual(
      rewards.data?.map((r) => [r.amount_cents, r.currency, r.status]),
      [[2000, 'USD', 'credited']],
    );
  });

  test('replayed and repeated completions never credit or notify twice', async () => {
    const m = await market();
    const { referrer, referee } = await referred(m);
    const booking = await completedBooking(m, referee);
    // The same booking disputed and completed again, a second booking, and the referral itself replayed.
    await db.query(sql`update public.bookings set status = 'disputed' where id = ${booking}`);
    await db.query(sql`update public.bookings set status = 'completed' where id = ${booking}`);
    await completedBooking(m, referee);
    const { id } = await referralOf(referee);
    await db.query(sql`update public.referrals set status = 'pending' where id = ${id}`);
    await db.query(sql`update public.referrals set status = 'completed', completed_at = now() where id = ${id}`);
    assert.deepEqual(await creditRows(referrer), [['referral_reward', 2000]]);
    assert.deepEqual(await creditRows(referee), [['referral_reward', 1000]]);
    assert.equal((await notified(referrer)).length, 1);
    assert.equal((await notified(referee)).length, 1);
    assert.equal((await referralOf(referee)).first_booking_id, booking);
  });

  if (testBackend() === 'postgres') {
    test('two bookings completed at the same time complete the referral once', async () => {
      const m = await market();
      const { referrer, referee } = await referred(m);
      const bookings = [
        await createBooking(db, m.listing, referee, { status: 'confirmed', startsInHours: -100 }),
        await createBooking(db, m.listing, referee, { status: 'confirmed', startsInHours: -200 }),
      ];
      await Promise.all(
        bookings.map((b) => db.query(sql`update public.bookings set status = 'completed' where id = ${b.id}`)),
      );
      assert.deepEqual(await creditRows(referrer), [['referral_reward', 2000]]);
      assert.deepEqual(await creditRows(referee), [['referral_reward', 1000]]);
    });
  }

  test("a booking below the program's minimum or in another currency does not complete it; one at the minimum does", async () => {
    const m = await market({ minimumSpendCents: 8401 }); // fixture bookings total 8400
    const { referrer, referee } = await referred(m);
    await completedBooking(m, referee);
    assert.equal((await referralOf(referee)).status, 'pending');
    await db.query(sql`update public.referral_programs set minimum_spend_cents = 8400 where id = ${m.program}`);
    await completedBooking(m, referee, { currency: 'EUR' });
    assert.equal((await referralOf(referee)).status, 'pending');
    assert.deepEqual(await creditRows(referrer), []);
    const qualifying = await completedBooking(m, referee);
    assert.deepEqual(await referralOf(referee).then((r) => [r.status, r.first_booking_id]), ['completed', qualifying]);
    assert.deepEqual(await creditRows(referrer), [['referral_reward', 2000]]);
  });

  test('reward credit pays for a booking; what is left expires once, and the reward shows it', async () => {
    const m = await market();
    const { referrer, referee } = await referred(m);
    await completedBooking(m, referee);
    // The referee uses 300 of their 1000 on the next booking.
    const next = await createBooking(db, m.listing, referee, { startsInHours: 500 });
    const applied = await one<{ n: string }>(
      db,
      sql`select app.spend_credit(${referee.id}, ${next.id}, 'USD', 300::bigint) as n`,
    );
    assert.equal(Number(applied.n), 300);
    assert.deepEqual(await balanceOf(referee), [['USD', 700]]);
    await ageReward(referee);
    await ageReward(referrer);
    assert.deepEqual(await balanceOf(referee), [['USD', 0]], 'expired credit stops counting at once');

    const asService = server.client({ apikey: server.keys.service_role });
    const run = await asService.rpc('expire_referral_rewards');
    assert.equal(run.error, null);
    assert.ok(run.data.credit_rows_expired >= 2);
    assert.ok(run.data.rewards_expired >= 2);
    assert.deepEqual(await creditRows(referee), [
      ['referral_reward', 1000],
      ['booking_spend', -300],
      ['expiry', -700],
    ]);
    assert.deepEqual(await creditRows(referrer), [
      ['referral_reward', 2000],
      ['expiry', -2000],
    ]);
    const again = await asService.rpc('expire_referral_rewards');
    assert.deepEqual(again.data, { credit_rows_expired: 0, rewards_expired: 0 });
    assert.equal((await creditRows(referee)).length, 3);
    const { rows } = await db.query<{ status: string }>(
      sql`select status from public.referral_rewards where user_id = any(${[referrer.id, referee.id]}::uuid[])`,
    );
    assert.deepEqual(
      rows.map((r) => r.status),
      ['expired', 'expired'],
    );
  });

  test('only service_role runs the expiry job', async () => {
    const m = await market();
    const user = await person(m);
    const asUser = await as(user);
    const denied = await asUser.rpc('expire_referral_rewards');
    assert.equal(denied.status, 403);
    const anon = await server.client().rpc('expire_referral_rewards');
    assert.equal(anon.status, 401);
  });
});

describe(`referral tables refuse direct writes (${testBackend()})`, () => {
  test('referrals, rewards and code counters cannot be written around the workflow', async () => {
    const m = await market();
    const referrer = await person(m);
    const code = await codeOf(referrer);
    const referee = await person(m);
    const client = await as(referee);
    const insert = await client.from('referrals').insert({
      referee_id: referee.id,
      referrer_id: referrer.id,
      program_id: m.program,
      code_id: code.id,
      tenant_id: m.tenantId,
    });
    assert.equal(insert.status, 403);
    assert.equal(insert.error?.code, '42501');
    assert.equal((await redeem(referee, code.code)).error, null);
    const { id } = await referralOf(referee);
    const complete = await client.from('referrals').update({ status: 'completed' }).eq('id', id);
    assert.equal(complete.status, 403);
    const reward = await client.from('referral_rewards').insert({
      referral_id: id,
      user_id: referee.id,
      tenant_id: m.tenantId,
      reward_type: 'credit',
      amount_cents: 100000,
      currency: 'USD',
    });
    assert.equal(reward.status, 403);
    const counter = await (await as(referrer)).from('referral_codes').update({ uses_count: 0 }).eq('id', code.id);
    assert.equal(counter.status, 403);
    const ledger = await client
      .from('credit_ledger')
      .insert({ user_id: referee.id, currency: 'USD', amount_cents: 100000, reason: 'referral_reward' });
    assert.equal(ledger.status, 403);
    assert.equal((await referralOf(referee)).status, 'pending');
    assert.deepEqual(await creditRows(referee), []);
    const uses = await one<{ uses_count: number }>(
      db,
      sql`select uses_count from public.referral_codes where id = ${code.id}`,
    );
    assert.equal(uses.uses_count, 1);
  });
});
