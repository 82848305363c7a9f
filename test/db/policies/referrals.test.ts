import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Queryable } from '../../../src/db/database.js';
import { type SqlFragment, sql } from '../../../src/db/sql.js';
import {
  createBooking,
  createListing,
  createTenant,
  createUser,
  grantPermission,
  type UserFixture,
} from '../../helpers/fixtures.js';
import { asRole, asUser, getTestDatabase, type TestDatabase, testBackend } from '../../helpers/index.js';

/*
 * 0009 referrals: programs (readable by anyone in their tenant, run by referrals.manage),
 * users' codes (owner-only), redeem_referral_code(), and the rewards both sides earn when the
 * referee's first qualifying booking completes.
 */

let db: TestDatabase;

async function first<T>(tx: Queryable, query: SqlFragment): Promise<T> {
  const { rows } = await tx.query<T>(query);
  assert.equal(rows.length, 1, 'expected exactly one row');
  return rows[0] as T;
}

async function ids(tx: Queryable, query: SqlFragment): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(query);
  return rows.map((r) => r.id).sort();
}

const uniqueCode = () => `C${Math.random().toString(36).slice(2, 10).toUpperCase()}`;

function addProgram(
  options: {
    tenantId?: string | null;
    isActive?: boolean;
    referrerCents?: number;
    refereeCents?: number;
    minimumSpendCents?: number;
    maxUsesPerCode?: number | null;
    codeValidityDays?: number | null;
    rewardValidityDays?: number | null;
    endsOn?: string | null;
  } = {},
): Promise<string> {
  return first<{ id: string }>(
    db,
    sql`insert into public.referral_programs (tenant_id, name, reward_type, referrer_reward_cents, referee_reward_cents,
                                              minimum_spend_cents, max_uses_per_code, code_validity_days,
                                              reward_validity_days, is_active, starts_on, ends_on)
        values (${options.tenantId === undefined ? w.tenantId : options.tenantId}, 'Bring a friend', 'credit',
                ${options.referrerCents ?? 2000}, ${options.refereeCents ?? 1000}, ${options.minimumSpendCents ?? 5000},
                ${options.maxUsesPerCode ?? null}, ${options.codeValidityDays ?? null},
                ${options.rewardValidityDays === undefined ? 30 : options.rewardValidityDays}, ${options.isActive ?? true},
                ${options.endsOn ? '2000-01-01' : null}, ${options.endsOn ?? null})
        returning id`,
  ).then((r) => r.id);
}

interface CodeFixture {
  id: string;
  code: string;
}

async function addCode(
  user: UserFixture,
  programId: string,
  options: { code?: string; maxUses?: number; expiresAt?: string; isActive?: boolean } = {},
): Promise<CodeFixture> {
  return first<CodeFixture>(
    db,
    sql`insert into public.referral_codes (user_id, program_id, code, max_uses, expires_at, is_active)
        values (${user.id}, ${programId}, ${options.code ?? uniqueCode()}, ${options.maxUses ?? null},
                ${options.expiresAt ?? null}, ${options.isActive ?? true})
        returning id, code`,
  );
}

/** A referral recorded the way redeem_referral_code() does, committed. */
async function refer(referee: UserFixture, code: CodeFixture): Promise<string> {
  return first<{ id: string }>(
    db,
    sql`insert into public.referrals (referee_id, code_id) values (${referee.id}, ${code.id}) returning id`,
  ).then((r) => r.id);
}

const redeem = (tx: Queryable, code: string, source: string | null = null) =>
  first<Record<string, unknown>>(tx, sql`select * from public.redeem_referral_code(${code}, ${source})`);

const usesOf = async (code: CodeFixture) =>
  (await first<{ uses_count: number }>(db, sql`select uses_count from public.referral_codes where id = ${code.id}`))
    .uses_count;

interface World {
  tenantId: string;
  otherTenantId: string;
  program: string;
  sharedProgram: string;
  inactiveProgram: string;
  otherTenantProgram: string;
  manager: UserFixture;
  otherManager: UserFixture;
  stranger: UserFixture;
}
let w: World;

before(async () => {
  db = await getTestDatabase();
  const tenantId = (await first<{ id: string }>(db, sql`select id from public.tenants where is_default`)).id;
  const otherTenantId = await createTenant(db);
  w = { tenantId } as World;
  const manager = await createUser(db);
  await grantPermission(db, manager, 'referrals.manage');
  w = {
    tenantId,
    otherTenantId,
    program: await addProgram(),
    sharedProgram: await addProgram({ tenantId: null }),
    inactiveProgram: await addProgram({ isActive: false }),
    otherTenantProgram: await addProgram({ tenantId: otherTenantId }),
    manager,
    otherManager: await createUser(db, { role: 'admin', tenantId: otherTenantId }),
    stranger: await createUser(db),
  };
});
after(() => db?.dispose());

describe(`referral programs (${testBackend()})`, () => {
  const programsSeen = (tx: Queryable) =>
    ids(
      tx,
      sql`select id from public.referral_programs
          where id = any(${[w.program, w.sharedProgram, w.inactiveProgram, w.otherTenantProgram]}::uuid[])`,
    );

  test("anonymous visitors read active shared programs and the default tenant's, not inactive or foreign ones", async () => {
    assert.deepEqual(await asUser(db, null, programsSeen), [w.program, w.sharedProgram].sort());
  });

  test("anonymous visitors of another marketplace read that tenant's active programs and the shared ones", async () => {
    const seen = await asRole(db, 'anon', { role: 'anon', tenant_id: w.otherTenantId }, programsSeen);
    assert.deepEqual(seen, [w.otherTenantProgram, w.sharedProgram].sort());
  });

  test("a signed-in user reads their own tenant's active programs and the shared ones", async () => {
    assert.deepEqual(await asUser(db, w.stranger.clerkId, programsSeen), [w.program, w.sharedProgram].sort());
    const foreign = await createUser(db, { tenantId: w.otherTenantId });
    assert.deepEqual(await asUser(db, foreign.clerkId, programsSeen), [w.otherTenantProgram, w.sharedProgram].sort());
  });

  test('the seeded shared program is offered to everyone', async () => {
    const { rows } = await asUser(db, null, (tx) =>
      tx.query(sql`select referrer_reward_cents, referee_reward_cents, minimum_spend_cents
                   from public.referral_programs where tenant_id is null and name = 'Give $20, get $20'`),
    );
    assert.deepEqual(rows, [
      { referrer_reward_cents: '2000', referee_reward_cents: '2000', minimum_spend_cents: '5000' },
    ]);
  });

  test('anonymous visitors and ordinary users cannot create, change or delete programs', async () => {
    const create = sql`insert into public.referral_programs (tenant_id, name, referrer_reward_cents, referee_reward_cents)
                       values (${w.tenantId}, 'Free money', 100000, 100000)`;
    await assert.rejects(
      asUser(db, null, (tx) => tx.query(create)),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, w.stranger.clerkId, (tx) => tx.query(create)),
      { code: '42501' },
    );
    const changed = await asUser(db, w.stranger.clerkId, (tx) =>
      tx.query(sql`update public.referral_programs set referee_reward_cents = 100000 where id = ${w.program}`),
    );
    assert.equal(changed.rowCount, 0);
    await assert.rejects(
      asUser(db, w.stranger.clerkId, (tx) =>
        tx.query(sql`delete from public.referral_programs where id = ${w.program}`),
      ),
      { code: '42501' },
    );
  });

  test('a referrals.manage holder creates and edits programs of their own tenant', async () => {
    const result = await asUser(db, w.manager.clerkId, async (tx) => {
      const { id } = await first<{ id: string }>(
        tx,
        sql`insert into public.referral_programs (tenant_id, name, referrer_reward_cents, referee_reward_cents)
            values (${w.tenantId}, 'Spring', 1500, 500) returning id`,
      );
      const { rowCount } = await tx.query(
        sql`update public.referral_programs set referee_reward_cents = 700 where id = any(${[id, w.program]}::uuid[])`,
      );
      return {
        rowCount,
        rows: (await tx.query(sql`select referee_reward_cents from public.referral_programs where id = ${id}`)).rows,
      };
    });
    assert.deepEqual(result, { rowCount: 2, rows: [{ referee_reward_cents: '700' }] });
  });

  test('a referrals.manage holder can switch a program off, still see it, and switch it on again', async () => {
    const program = await addProgram();
    const query = sql`select id from public.referral_programs where id = ${program}`;
    await asUser(
      db,
      w.manager.clerkId,
      (tx) => tx.query(sql`update public.referral_programs set is_active = false where id = ${program}`),
      { commit: true },
    );
    assert.deepEqual(await asUser(db, w.manager.clerkId, (tx) => ids(tx, query)), [program]);
    assert.deepEqual(await asUser(db, w.stranger.clerkId, (tx) => ids(tx, query)), []);
    assert.deepEqual(await asUser(db, null, (tx) => ids(tx, query)), []);
    const on = await asUser(db, w.manager.clerkId, (tx) =>
      tx.query(sql`update public.referral_programs set is_active = true where id = ${program}`),
    );
    assert.equal(on.rowCount, 1);
  });

  test("a referrals.manage holder does not see another tenant's inactive programs", async () => {
    const seen = await asUser(db, w.otherManager.clerkId, (tx) =>
      ids(tx, sql`select id from public.referral_programs where id = ${w.inactiveProgram}`),
    );
    assert.deepEqual(seen, []);
  });

  test('a referrals.manage holder cannot create shared or foreign programs, nor change them', async () => {
    for (const tenant of [null, w.otherTenantId]) {
      await assert.rejects(
        asUser(db, w.manager.clerkId, (tx) =>
          tx.query(sql`insert into public.referral_programs (tenant_id, name, referrer_reward_cents, referee_reward_cents)
                       values (${tenant}, 'Elsewhere', 1, 1)`),
        ),
        { code: '42501' },
      );
    }
    const changed = await asUser(db, w.manager.clerkId, (tx) =>
      tx.query(sql`update public.referral_programs set name = 'Mine now'
                   where id = any(${[w.sharedProgram, w.otherTenantProgram]}::uuid[])`),
    );
    assert.equal(changed.rowCount, 0);
    await assert.rejects(
      asUser(db, w.manager.clerkId, (tx) =>
        tx.query(sql`update public.referral_programs set tenant_id = ${w.otherTenantId} where id = ${w.program}`),
      ),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, w.manager.clerkId, (tx) =>
        tx.query(sql`delete from public.referral_programs where id = ${w.program}`),
      ),
      { code: '42501' },
    );
  });

  test("a program's rewards and limits are checked", async () => {
    await assert.rejects(addProgram({ referrerCents: -1 }), { code: '23514' });
    await assert.rejects(addProgram({ maxUsesPerCode: 0 }), { code: '23514' });
    await assert.rejects(
      db.query(sql`insert into public.referral_programs (tenant_id, name, referrer_reward_cents, referee_reward_cents, starts_on, ends_on)
                   values (null, 'Backwards', 1, 1, '2030-01-02', '2030-01-01')`),
      { code: '23514' },
    );
  });
});

describe(`referral codes (${testBackend()})`, () => {
  test('a user creates their own code; a code is generated when none is given', async () => {
    const user = await createUser(db);
    const row = await asUser(db, user.clerkId, (tx) =>
      first<{ code: string; uses_count: number; max_uses: number | null; tenant_id: string; is_active: boolean }>(
        tx,
        sql`insert into public.referral_codes (user_id, program_id) values (${user.id}, ${w.program})
            returning code, uses_count, max_uses, tenant_id, is_active`,
      ),
    );
    assert.match(row.code, /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}$/);
    assert.deepEqual(
      { ...row, code: 'x' },
      {
        code: 'x',
        uses_count: 0,
        max_uses: null,
        tenant_id: user.tenantId,
        is_active: true,
      },
    );
  });

  test('a chosen code is stored in upper case and takes its limits from the program', async () => {
    const user = await createUser(db);
    const program = await addProgram({ maxUsesPerCode: 5, codeValidityDays: 10 });
    const row = await asUser(db, user.clerkId, (tx) =>
      first<{ code: string; max_uses: number; days: number }>(
        tx,
        sql`insert into public.referral_codes (user_id, program_id, code) values (${user.id}, ${program}, 'anna2024')
            returning code, max_uses, round(extract(epoch from expires_at - now()) / 86400)::int as days`,
      ),
    );
    assert.deepEqual(row, { code: 'ANNA2024', max_uses: 5, days: 10 });
  });

  test('codes are unique whatever their case', async () => {
    const code = uniqueCode();
    await addCode(await createUser(db), w.program, { code });
    const user = await createUser(db);
    await assert.rejects(
      asUser(db, user.clerkId, (tx) =>
        tx.query(sql`insert into public.referral_codes (user_id, program_id, code)
                     values (${user.id}, ${w.program}, ${code.toLowerCase()})`),
      ),
      { code: '23505', constraint: 'referral_codes_code_key' },
    );
  });

  test('malformed codes are refused', async () => {
    const user = await createUser(db);
    for (const code of ['ab', 'has space', 'dash-ed', 'X'.repeat(21)]) {
      await assert.rejects(addCode(user, w.program, { code }), { code: '23514' }, code);
    }
  });

  test('a user has one code per program', async () => {
    const user = await createUser(db);
    await addCode(user, w.program);
    await assert.rejects(addCode(user, w.program), {
      code: '23505',
      constraint: 'referral_codes_user_id_program_id_key',
    });
    await addCode(user, w.sharedProgram);
  });

  test('a user cannot create a code for someone else or choose its counters', async () => {
    const user = await createUser(db);
    await assert.rejects(
      asUser(db, user.clerkId, (tx) =>
        tx.query(sql`insert into public.referral_codes (user_id, program_id) values (${w.stranger.id}, ${w.program})`),
      ),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, user.clerkId, (tx) =>
        tx.query(sql`insert into public.referral_codes (user_id, program_id, uses_count, max_uses)
                     values (${user.id}, ${w.program}, 0, 1000000)`),
      ),
      { code: '42501' },
    );
    await assert.rejects(
      asUser(db, null, (tx) =>
        tx.query(sql`insert into public.referral_codes (user_id, program_id) values (${user.id}, ${w.program})`),
      ),
      { code: '42501' },
    );
  });

  test("codes for an inactive program or another marketplace's program are refused", async () => {
    const user = await createUser(db);
    for (const program of [w.inactiveProgram, w.otherTenantProgram]) {
      await assert.rejects(
        asUser(db, user.clerkId, (tx) =>
          tx.query(sql`insert into public.referral_codes (user_id, program_id) values (${user.id}, ${program})`),
        ),
        { code: '23514', message: 'the referral program is not open in this marketplace' },
      );
    }
  });

  test('only the owner reads their code: not other users, admins or anonymous visitors', async () => {
    const owner = await createUser(db);
    const code = await addCode(owner, w.program);
    const query = sql`select id from public.referral_codes where id = ${code.id}`;
    assert.deepEqual(await asUser(db, owner.clerkId, (tx) => ids(tx, query)), [code.id]);
    assert.deepEqual(await asUser(db, w.stranger.clerkId, (tx) => ids(tx, query)), []);
    assert.deepEqual(await asUser(db, w.manager.clerkId, (tx) => ids(tx, query)), []);
    await assert.rejects(
      asUser(db, null, (tx) => ids(tx, query)),
      { code: '42501' },
    );
  });

  test('the owner switches their code off and on, but cannot change its counters, code or owner', async () => {
    const owner = await createUser(db);
    const code = await addCode(owner, w.program, { maxUses: 1 });
    const rowCount = await asUser(db, owner.clerkId, async (tx) => {
      const off = await tx.query(sql`update public.referral_codes set is_active = false where id = ${code.id}`);
      return off.rowCount;
    });
    assert.equal(rowCount, 1);
    for (const change of [
      sql`update public.referral_codes set uses_count = 0 where id = ${code.id}`,
      sql`update public.referral_codes set max_uses = 1000 where id = ${code.id}`,
      sql`update public.referral_codes set code = 'VANITY1' where id = ${code.id}`,
      sql`update public.referral_codes set user_id = ${w.stranger.id} where id = ${code.id}`,
      sql`delete from public.referral_codes where id = ${code.id}`,
    ]) {
      await assert.rejects(
        asUser(db, owner.clerkId, (tx) => tx.query(change)),
        { code: '42501' },
        change.text,
      );
    }
    const other = await asUser(db, w.stranger.clerkId, (tx) =>
      tx.query(sql`update public.referral_codes set is_active = false where id = ${code.id}`),
    );
    assert.equal(other.rowCount, 0);
  });
});

describe(`redeem_referral_code() (${testBackend()})`, () => {
  test('records the referral with the referrer, program and tenant of the code, and counts the use', async () => {
    const referrer = await createUser(db);
    const referee = await createUser(db);
    const code = await addCode(referrer, w.program);
    const row = await asUser(db, referee.clerkId, (tx) => redeem(tx, code.code, 'newsletter'), { commit: true });
    assert.deepEqual(
      {
        referrer_id: row.referrer_id,
        referee_id: row.referee_id,
        program_id: row.program_id,
        code_id: row.code_id,
        tenant_id: row.tenant_id,
        status: row.status,
        source: row.source,
        completed_at: row.completed_at,
      },
      {
        referrer_id: referrer.id,
        referee_id: referee.id,
        program_id: w.program,
        code_id: code.id,
        tenant_id: w.tenantId,
        status: 'pending',
        source: 'newsletter',
        completed_at: null,
      },
    );
    assert.equal(await usesOf(code), 1);
  });

  test('matches codes whatever their case and surrounding spaces', async () => {
    const code = await addCode(await createUser(db), w.program);
    const referee = await createUser(db);
    const row = await asUser(db, referee.clerkId, (tx) => redeem(tx, `  ${code.code.toLowerCase()} `));
    assert.equal(row.code_id, code.id);
  });

  test('a user cannot redeem their own code', async () => {
    const user = await createUser(db);
    const code = await addCode(user, w.program);
    await assert.rejects(
      asUser(db, user.clerkId, (tx) => redeem(tx, code.code)),
      {
        code: 'PT403',
        message: 'you cannot redeem your own referral code',
      },
    );
  });

  test('a user can be referred only once', async () => {
    const first = await addCode(await createUser(db), w.program);
    const second = await addCode(await createUser(db), w.sharedProgram);
    const referee = await createUser(db);
    await asUser(db, referee.clerkId, (tx) => redeem(tx, first.code), { commit: true });
    for (const again of [first, second]) {
      await assert.rejects(
        asUser(db, referee.clerkId, (tx) => redeem(tx, again.code)),
        {
          code: 'PT409',
          message: 'you have already been referred',
        },
      );
    }
    assert.deepEqual([await usesOf(first), await usesOf(second)], [1, 0]);
  });

  test('expired, switched-off and used-up codes are refused', async () => {
    const owner = await createUser(db);
    const expired = await addCode(owner, w.program, { expiresAt: '2001-01-01T00:00:00Z' });
    const off = await addCode(owner, w.sharedProgram, { isActive: false });
    const limited = await addCode(await createUser(db), w.program, { maxUses: 1 });
    await refer(await createUser(db), limited);
    const referee = await createUser(db);
    for (const [code, detail] of [
      [expired, 'code_expired'],
      [off, 'code_inactive'],
      [limited, 'code_used_up'],
    ] as const) {
      await assert.rejects(
        asUser(db, referee.clerkId, (tx) => redeem(tx, code.code)),
        { code: 'PT409', detail },
      );
    }
    assert.equal(await usesOf(limited), 1);
  });

  test('codes of a program that was switched off or has ended are refused', async () => {
    const stopped = await addProgram();
    const ended = await addProgram({ endsOn: '2001-12-31' });
    const stoppedCode = await addCode(await createUser(db), stopped);
    const endedCode = await addCode(await createUser(db), ended);
    await db.query(sql`update public.referral_programs set is_active = false where id = ${stopped}`);
    const referee = await createUser(db);
    for (const [code, detail] of [
      [stoppedCode, 'program_inactive'],
      [endedCode, 'program_ended'],
    ] as const) {
      await assert.rejects(
        asUser(db, referee.clerkId, (tx) => redeem(tx, code.code)),
        { code: 'PT409', detail },
      );
    }
  });

  test("unknown codes and other marketplaces' codes are not found", async () => {
    const foreigner = await createUser(db, { tenantId: w.otherTenantId });
    const foreign = await addCode(foreigner, w.otherTenantProgram);
    const referee = await createUser(db);
    for (const code of ['NOSUCHCODE', foreign.code]) {
      await assert.rejects(
        asUser(db, referee.clerkId, (tx) => redeem(tx, code)),
        {
          code: 'PT404',
          detail: 'code_unknown',
        },
      );
    }
  });

  test('anonymous visitors cannot redeem codes', async () => {
    const code = await addCode(await createUser(db), w.program);
    await assert.rejects(
      asUser(db, null, (tx) => redeem(tx, code.code)),
      { code: '42501' },
    );
  });

  test('clients cannot write referrals directly', async () => {
    const code = await addCode(await createUser(db), w.program);
    const referee = await createUser(db);
    await assert.rejects(
      asUser(db, referee.clerkId, (tx) =>
        tx.query(sql`insert into public.referrals (referee_id, referrer_id, program_id, code_id, tenant_id)
                     values (${referee.id}, ${w.stranger.id}, ${w.program}, ${code.id}, ${w.tenantId})`),
      ),
      { code: '42501' },
    );
    const referral = await refer(referee, code);
    for (const change of [
      sql`update public.referrals set status = 'completed', completed_at = now() where id = ${referral}`,
      sql`delete from public.referrals where id = ${referral}`,
    ]) {
      await assert.rejects(
        asUser(db, referee.clerkId, (tx) => tx.query(change)),
        { code: '42501' },
      );
    }
  });

  test('referrer and referee read their referral; others do not; managers read their tenant’s', async () => {
    const referrer = await createUser(db);
    const referee = await createUser(db);
    const referral = await refer(referee, await addCode(referrer, w.program));
    const query = sql`select id from public.referrals where id = ${referral}`;
    for (const [who, expected] of [
      [referrer, [referral]],
      [referee, [referral]],
      [w.stranger, []],
      [w.manager, [referral]],
      [w.otherManager, []],
    ] as const) {
      assert.deepEqual(await asUser(db, who.clerkId, (tx) => ids(tx, query)), expected, who.clerkId);
    }
    await assert.rejects(
      asUser(db, null, (tx) => ids(tx, query)),
      { code: '42501' },
    );
  });
});

describe(`referral completion and rewards (${testBackend()})`, () => {
  /** A pending referral, with a provider of its own so bookings never overlap another test's. */
  async function referral(programId = w.program) {
    const referrer = await createUser(db);
    const referee = await createUser(db);
    const id = await refer(referee, await addCode(referrer, programId));
    const provider = await createUser(db, { role: 'provider' });
    return { id, referrer, referee, provider, listing: await createListing(db, provider) };
  }

  const state = (id: string) =>
    first<{ status: string; first_booking_id: string | null; completed: boolean }>(
      db,
      sql`select status, first_booking_id, completed_at is not null as completed from public.referrals where id = ${id}`,
    );

  const rewards = (referralId: string) =>
    db
      .query<Record<string, unknown>>(
        sql`select user_id, reward_type, amount_cents, currency, status, tenant_id,
                   round(extract(epoch from expires_at - now()) / 86400)::int as valid_days
            from public.referral_rewards where referral_id = ${referralId} order by amount_cents desc`,
      )
      .then((r) => r.rows);

  const complete = (bookingId: string) =>
    db.query(sql`update public.bookings set status = 'completed' where id = ${bookingId}`);

  test("the referee's first completed booking completes the referral and rewards both sides", async () => {
    const r = await referral();
    const booking = await createBooking(db, r.listing, r.referee, { status: 'confirmed' });
    assert.deepEqual(await rewards(r.id), []);
    await complete(booking.id);
    assert.deepEqual(await state(r.id), { status: 'completed', first_booking_id: booking.id, completed: true });
    assert.deepEqual(await rewards(r.id), [
      {
        user_id: r.referrer.id,
        reward_type: 'credit',
        amount_cents: '2000',
        currency: 'USD',
        status: 'credited',
        tenant_id: w.tenantId,
        valid_days: 30,
      },
      {
        user_id: r.referee.id,
        reward_type: 'credit',
        amount_cents: '1000',
        currency: 'USD',
        status: 'credited',
        tenant_id: w.tenantId,
        valid_days: 30,
      },
    ]);
  });

  test('completing through transition_booking() as the provider completes the referral too', async () => {
    const r = await referral();
    // It began an hour ago: a provider cannot complete a booking before it starts.
    const booking = await createBooking(db, r.listing, r.referee, { status: 'confirmed', startsInHours: -1 });
    await asUser(
      db,
      r.provider.clerkId,
      (tx) => tx.query(sql`select public.transition_booking(${booking.id}, 'completed')`),
      { commit: true },
    );
    assert.equal((await state(r.id)).status, 'completed');
    assert.equal((await rewards(r.id)).length, 2);
  });

  test('a booking below the minimum spend does not complete the referral; a later qualifying one does', async () => {
    const program = await addProgram({ minimumSpendCents: 8401 });
    const r = await referral(program);
    const small = await createBooking(db, r.listing, r.referee, { status: 'confirmed' }); // totals 8400
    await complete(small.id);
    assert.deepEqual(await state(r.id), { status: 'pending', first_booking_id: null, completed: false });
    assert.deepEqual(await rewards(r.id), []);
    await db.query(sql`update public.referral_programs set minimum_spend_cents = 8400 where id = ${program}`);
    const enough = await createBooking(db, r.listing, r.referee, { status: 'confirmed' });
    await complete(enough.id);
    assert.deepEqual(await state(r.id), { status: 'completed', first_booking_id: enough.id, completed: true });
  });

  test('later completed bookings neither add rewards nor move first_booking_id', async () => {
    const r = await referral();
    const one = await createBooking(db, r.listing, r.referee, { status: 'confirmed' });
    const two = await createBooking(db, r.listing, r.referee, { status: 'confirmed' });
    await complete(one.id);
    await complete(two.id);
    assert.equal((await state(r.id)).first_booking_id, one.id);
    assert.equal((await rewards(r.id)).length, 2);
  });

  test("bookings of other customers, cancellations and the referrer's own bookings do not complete it", async () => {
    const r = await referral();
    const own = await createBooking(db, r.listing, r.referrer, { status: 'confirmed' });
    await complete(own.id);
    const cancelled = await createBooking(db, r.listing, r.referee, { status: 'confirmed' });
    await db.query(sql`update public.bookings set status = 'cancelled' where id = ${cancelled.id}`);
    assert.equal((await state(r.id)).status, 'pending');
  });

  test('a side whose reward is zero gets no reward row, and rewards without a validity never expire', async () => {
    const program = await addProgram({ refereeCents: 0, rewardValidityDays: null });
    const r = await referral(program);
    await complete((await createBooking(db, r.listing, r.referee, { status: 'confirmed' })).id);
    const rows = await rewards(r.id);
    assert.deepEqual(
      rows.map((x) => [x.user_id, x.amount_cents, x.valid_days]),
      [[r.referrer.id, '2000', null]],
    );
  });

  test('cancelling a referral cancels its pending rewards but not credited ones', async () => {
    // Cash rewards stay pending for the payments integration (credit ones are credited at once).
    const program = await addProgram();
    await db.query(sql`update public.referral_programs set reward_type = 'cash' where id = ${program}`);
    const r = await referral(program);
    await complete((await createBooking(db, r.listing, r.referee, { status: 'confirmed' })).id);
    await db.query(sql`update public.referral_rewards set status = 'credited', credited_at = now()
                       where referral_id = ${r.id} and user_id = ${r.referrer.id}`);
    await db.query(sql`update public.referrals set status = 'cancelled' where id = ${r.id}`);
    assert.deepEqual(
      (await rewards(r.id)).map((x) => [x.user_id, x.status]),
      [
        [r.referrer.id, 'credited'],
        [r.referee.id, 'cancelled'],
      ],
    );
  });

  test('each user reads only their own rewards; managers read their tenant’s; nobody writes them', async () => {
    const r = await referral();
    await complete((await createBooking(db, r.listing, r.referee, { status: 'confirmed' })).id);
    const query = sql`select id from public.referral_rewards where referral_id = ${r.id}`;
    const all = await ids(db, query);
    const mine = (user: UserFixture) =>
      ids(db, sql`select id from public.referral_rewards where referral_id = ${r.id} and user_id = ${user.id}`);
    assert.deepEqual(await asUser(db, r.referrer.clerkId, (tx) => ids(tx, query)), await mine(r.referrer));
    assert.deepEqual(await asUser(db, r.referee.clerkId, (tx) => ids(tx, query)), await mine(r.referee));
    assert.deepEqual(await asUser(db, w.stranger.clerkId, (tx) => ids(tx, query)), []);
    assert.deepEqual(await asUser(db, w.manager.clerkId, (tx) => ids(tx, query)), all);
    assert.deepEqual(await asUser(db, w.otherManager.clerkId, (tx) => ids(tx, query)), []);
    for (const change of [
      sql`update public.referral_rewards set status = 'credited', credited_at = now() where referral_id = ${r.id}`,
      sql`update public.referral_rewards set amount_cents = 99999 where referral_id = ${r.id}`,
      sql`delete from public.referral_rewards where referral_id = ${r.id}`,
      sql`insert into public.referral_rewards (referral_id, user_id, tenant_id, reward_type, amount_cents, currency)
          values (${r.id}, ${r.referee.id}, ${w.tenantId}, 'cash', 99999, 'USD')`,
    ]) {
      for (const who of [r.referee, w.manager]) {
        await assert.rejects(
          asUser(db, who.clerkId, (tx) => tx.query(change)),
          { code: '42501' },
          change.text,
        );
      }
    }
  });
});
