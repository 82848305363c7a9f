import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Queryable } from '../../src/db/database.js';
import { DEMO_MARKER, seedDemoOnce } from '../../src/db/seed.js';
import { sql } from '../../src/db/sql.js';
import { DEMO_RELATIONS, DEMO_TABLES } from '../../src/seed/demo.js';
import { getTestDatabase, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';

/*
 * The demo data generator, on whichever backend this run uses: a small demo set (N = 200)
 * must hold every invariant the schema's triggers and constraints would have kept had the
 * rows been inserted one by one, and be reproducible.
 */

const log = testLogger();
const N = 200;
const NOW = new Date('2026-03-18T15:30:00Z');

let db: TestDatabase;
let twin: TestDatabase;
let schemaBefore: { indexes: string[]; constraints: string[]; triggers: string[] };
let auditBefore: number;

/** Every index, constraint and enabled trigger of the demo tables, to compare before and after. */
async function schemaShape(q: Queryable) {
  const tables = [...DEMO_RELATIONS];
  const indexes = await q.query<{ def: string }>(sql`
    select pg_get_indexdef(i.indexrelid) as def from pg_index i
     where i.indrelid = any (${tables}::regclass[]) order by 1`);
  const constraints = await q.query<{ def: string }>(sql`
    select c.conrelid::regclass || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid) || ' ' || c.convalidated::text as def
      from pg_constraint c where c.conrelid = any (${tables}::regclass[]) order by 1`);
  const triggers = await q.query<{ def: string }>(sql`
    select t.tgrelid::regclass || ' ' || t.tgname || ' ' || t.tgenabled::text as def
      from pg_trigger t where t.tgrelid = any (${tables}::regclass[]) and not t.tgisinternal order by 1`);
  return {
    indexes: indexes.rows.map((r) => r.def),
    constraints: constraints.rows.map((r) => r.def),
    triggers: triggers.rows.map((r) => r.def),
  };
}

async function count(q: Queryable, query: ReturnType<typeof sql>): Promise<number> {
  const { rows } = await q.query<{ n: string | number }>(query);
  return Number(rows[0]?.n);
}

before(async () => {
  [db, twin] = await Promise.all([getTestDatabase(), getTestDatabase()]);
  schemaBefore = await schemaShape(db);
  auditBefore = await count(db, sql`select count(*) as n from public.audit_logs`);
  assert.equal(await seedDemoOnce(db, { listings: N, now: NOW }, log), true);
});
after(async () => {
  await Promise.all([db?.dispose(), twin?.dispose()]);
});

describe(`demo data (${testBackend()})`, () => {
  test('has N listings, ~N/5 providers, ~N/2 customers and the documented demo users', async () => {
    assert.equal(await count(db, sql`select count(*) as n from public.listings`), N);
    const { rows } = await db.query<{ role: string; n: number }>(sql`
      select role::text, count(*)::int as n from public.users group by role order by role`);
    assert.deepEqual(
      rows,
      [
        { role: 'customer', n: N / 2 },
        { role: 'provider', n: N / 5 },
        { role: 'admin', n: 1 },
      ].sort((a, b) => a.role.localeCompare(b.role)),
    );
    const named = await db.query<{ clerk_id: string; role: string; status: string; listings: number }>(sql`
      select u.clerk_id, u.role::text, u.status::text,
             (select count(*)::int from public.listings l where l.provider_id = u.id and l.status = 'active') as listings
        from public.users u where u.clerk_id in ('demo_user_000001', 'demo_user_000002', 'demo_admin')
       order by u.clerk_id`);
    assert.deepEqual(
      named.rows.map((r) => [r.clerk_id, r.role, r.status]),
      [
        ['demo_admin', 'admin', 'active'],
        ['demo_user_000001', 'provider', 'active'],
        ['demo_user_000002', 'customer', 'active'],
      ],
    );
    assert.ok((named.rows[1]?.listings ?? 0) >= 1, 'demo_user_000001 has an active listing');
  });

  test('writes rows into every table it touches, and profiles for every user', async () => {
    for (const table of DEMO_TABLES) {
      const n = await count(db, sql`select count(*) as n from ${sql.ident('public', table)}`);
      assert.ok(n > 0, `${table} is empty`);
    }
    assert.equal(
      await count(
        db,
        sql`select count(*) as n from public.users u left join public.user_profiles p on p.user_id = u.id where p.user_id is null`,
      ),
      0,
    );
  });

  test('has bookings in every status, demo_user_000001 included', async () => {
    const all = await db.query<{ status: string }>(sql`select distinct status::text from public.bookings order by 1`);
    const statuses = [
      'cancelled',
      'completed',
      'confirmed',
      'declined',
      'disputed',
      'expired',
      'in_progress',
      'no_show',
      'pending',
      'refunded',
    ];
    assert.deepEqual(
      all.rows.map((r) => r.status),
      statuses,
    );
    const own = await db.query<{ status: string }>(sql`
      select distinct b.status::text from public.bookings b join public.users u on u.id = b.provider_id
       where u.clerk_id = 'demo_user_000001' order by 1`);
    assert.deepEqual(
      own.rows.map((r) => r.status),
      statuses,
    );
  });

  test('puts past bookings before "now" and upcoming ones after it', async () => {
    const wrong = await count(
      db,
      sql`
      select count(*) as n from public.bookings
       where (status::text in ('completed', 'disputed', 'refunded', 'no_show') and starts_at > ${NOW})
          or (status in ('pending', 'confirmed') and starts_at < ${NOW})
          or (status = 'in_progress' and starts_at > ${NOW})
          or greatest(created_at, updated_at, confirmed_at, started_at, completed_at, cancelled_at, disputed_at, refunded_at) > ${NOW}`,
    );
    assert.equal(wrong, 0);
  });

  test('never double-books a provider, and keeps bookings inside their schedules', async () => {
    const overlaps = await count(
      db,
      sql`
      select count(*) as n from public.bookings a join public.bookings b
        on a.provider_id = b.provider_id and a.id < b.id and a.period && b.period
       where a.status in ('pending', 'confirmed', 'in_progress') and b.status in ('pending', 'confirmed', 'in_progress')`,
    );
    assert.equal(overlaps, 0);
    // Apart from the odd job still in progress since yesterday, every booking sits in the
    // provider's weekly hours, on a day no override blocks.
    const outside = await count(
      db,
      sql`
      select count(*) as n from public.bookings b
       where b.status <> 'in_progress' and not app.provider_is_available(b.provider_id, b.starts_at, b.ends_at)`,
    );
    assert.equal(outside, 0);
  });

  test("gives providers their city's time zone and a weekly schedule in it", async () => {
    const wrong = await count(
      db,
      sql`
      select count(*) as n from public.users u join public.user_profiles p on p.user_id = u.id
        join public.cities c on c.id = p.city_id
       where u.time_zone <> c.time_zone`,
    );
    assert.equal(wrong, 0);
    const schedules = await db.query<{ days: number[]; zones: number }>(sql`
      select array_agg(distinct a.day_of_week order by a.day_of_week)::int[] as days, count(distinct a.time_zone)::int as zones
        from public.provider_availability a join public.users u on u.id = a.provider_id and u.time_zone = a.time_zone
       group by a.provider_id`);
    assert.equal(schedules.rows.length, N / 5);
    for (const s of schedules.rows) {
      assert.ok(['1,2,3,4,5', '2,3,4,5,6'].includes(s.days.join(',')), `unexpected week ${s.days}`);
    }
  });

  test('keeps the money consistent', async () => {
    const bookings = await count(
      db,
      sql`
      select count(*) as n from public.bookings
       where total_cents <> base_price_cents + service_fee_cents + tax_cents - discount_cents
          or platform_fee_cents > base_price_cents or total_cents <= 0`,
    );
    assert.equal(bookings, 0);
    const fees = await count(
      db,
      sql`
      select count(*) as n from public.bookings b join public.tenants t on t.id = b.tenant_id
       where b.service_fee_cents <> round(b.base_price_cents * t.service_fee_bps / 10000.0)
          or b.platform_fee_cents <> round(b.base_price_cents * t.platform_fee_bps / 10000.0)`,
    );
    assert.equal(fees, 0);
    // Each booking's payment is what migration 0040's workflow leaves (offline marketplace).
    const payments = await count(
      db,
      sql`
      select count(*) as n from public.bookings b
        left join public.payments p on p.booking_id = b.id
        cross join lateral app.payment_split(b) s
        cross join lateral (select case
            when b.cancelled_at is not null then case when b.confirmed_at is null then 0 else b.total_cents - b.refund_cents end
            when b.completed_at is not null
                 or exists (select 1 from public.booking_status_history h
                             where h.booking_id = b.id and h.to_status::text = 'no_show') then b.total_cents
            else 0 end as captured) e
       where p.id is null or p.method <> 'offline' or p.currency <> b.currency or p.amount_cents <> b.total_cents
          or (p.application_fee_cents, p.provider_amount_cents, p.credit_shortfall_cents)
             <> (s.application_fee, s.provider_amount, s.shortfall)
          or p.captured_cents <> e.captured
          or p.captured_fee_cents <> app.prorate(p.application_fee_cents, p.captured_cents, p.amount_cents)
          or p.refunded_cents <> case when b.status = 'refunded' then p.captured_cents else 0 end
          or p.application_fee_refunded_cents <> app.prorate(p.captured_fee_cents, p.refunded_cents, p.captured_cents)
          or p.status::text <> case
               when b.status = 'pending' then 'requires_payment'
               when b.status in ('confirmed', 'in_progress') then 'authorised'
               when p.refunded_cents > 0 then 'refunded'
               when p.captured_cents > 0 then 'captured'
               when b.status::text in ('declined', 'expired', 'cancelled', 'refunded') then 'voided'
               else 'authorised' end`,
    );
    assert.equal(payments, 0, 'each booking has the payment the workflow leaves');
    // The ledger holds exactly the payments' movements.
    const ledger = await count(
      db,
      sql`
      select count(*) as n from public.payments p
        left join lateral (
          select coalesce(sum(x.amount_cents) filter (where x.type = 'payment'), 0) as paid,
                 coalesce(sum(x.platform_fee_cents) filter (where x.type = 'payment'), 0) as fee,
                 coalesce(sum(x.amount_cents) filter (where x.type::text = 'transfer'), 0) as share,
                 coalesce(sum(x.amount_cents) filter (where x.type = 'refund'), 0) as refunded,
                 coalesce(sum(x.platform_fee_cents) filter (where x.type = 'refund'), 0) as fee_refunded,
                 coalesce(sum(x.amount_cents) filter (where x.type::text = 'transfer_reversal'), 0) as reversed,
                 count(*) filter (where x.currency <> p.currency or x.booking_id <> p.booking_id) as wrong
            from public.transactions x where x.payment_id = p.id) l on true
       where (l.paid, l.fee, l.share, l.refunded, l.fee_refunded, l.reversed, l.wrong)
             <> (p.captured_cents, p.captured_fee_cents, p.captured_cents - p.captured_fee_cents, p.refunded_cents,
                 p.application_fee_refunded_cents, p.transfer_reversed_cents, 0::bigint)`,
    );
    assert.equal(ledger, 0, 'the ledger holds each payment’s movements once');
    const overpaid = await count(
      db,
      sql`select count(*) as n from public.users u cross join lateral app.provider_ledger(u.id) l
           where u.role = 'provider' and l.balance_cents < 0`,
    );
    assert.equal(overpaid, 0, 'no provider is paid out more than they earned');
    const kinds = await count(
      db,
      sql`select count(distinct type) as n from public.transactions where payment_id is not null or type = 'payout'`,
    );
    assert.equal(kinds, 5, 'payments, transfers, refunds, reversals and payouts');
    const invoices = await count(
      db,
      sql`
      select count(*) as n from public.invoices i
       where i.subtotal_cents <> (select coalesce(sum(it.total_cents), 0) from public.invoice_items it where it.invoice_id = i.id)`,
    );
    assert.equal(invoices, 0);
  });

  test('stores the search vector app.listing_search_vector computes', async () => {
    const differing = await count(
      db,
      sql`
      select count(*) as n from public.listings l where l.search_vector is distinct from app.listing_search_vector(l)`,
    );
    assert.equal(differing, 0);
    const multiTag = await count(
      db,
      sql`
      select count(*) as n from (select listing_id from public.listing_tags group by 1 having count(*) > 1) x`,
    );
    assert.ok(multiTag > 0, 'some listings have several tags');
    const languages = await db.query<{ language: string }>(
      sql`select distinct language from public.listings order by 1`,
    );
    assert.ok(languages.rows.length >= 2, 'listings in more than one language');
  });

  test('keeps every counter and aggregate the triggers keep', async () => {
    const checks: Record<string, ReturnType<typeof sql>> = {
      'listings.booking_count': sql`
        select count(*) as n from public.listings l
         where l.booking_count <> (select count(*) from public.bookings b where b.listing_id = l.id)`,
      'listings.rating_average, review_count, rating_bayesian': sql`
        select count(*) as n from public.listings l
          left join (select r.listing_id, count(*) as c, round(avg(r.rating), 2) as a, sum(r.rating) as t
                       from public.reviews r join public.listings x on x.id = r.listing_id
                      where r.is_public and r.reviewee_id = x.provider_id group by 1) s on s.listing_id = l.id
         where l.review_count <> coalesce(s.c, 0) or l.rating_average is distinct from s.a
            or l.rating_bayesian <> app.rating_bayesian(s.t, coalesce(s.c, 0)::int)`,
      'user_profiles.rating_average, review_count, rating_bayesian': sql`
        select count(*) as n from public.user_profiles p
          left join (select reviewee_id, count(*) as c, round(avg(rating), 2) as a, sum(rating) as t
                       from public.reviews where is_public group by 1) s on s.reviewee_id = p.user_id
         where p.review_count <> coalesce(s.c, 0) or p.rating_average is distinct from s.a
            or p.rating_bayesian <> app.rating_bayesian(s.t, coalesce(s.c, 0)::int)`,
      'reviews published as the double-blind rules say, verified when paid': sql`
        select count(*) as n from public.reviews r
          join public.bookings b on b.id = r.booking_id
          left join public.reviews o on o.booking_id = r.booking_id and o.reviewer_id = r.reviewee_id
         where r.publish_due_at <> b.completed_at + app.review_window(r.tenant_id)
            or (o.id is not null and r.published_at is distinct from greatest(r.created_at, o.created_at))
            or (o.id is null and r.published_at <> r.publish_due_at)
            or (o.id is null and r.published_at is null and r.publish_due_at < ${NOW}::timestamptz - interval '1 hour')
            or r.is_public <> (r.published_at is not null and r.hidden_at is null)
            or r.is_verified <> app.booking_is_paid(r.booking_id)
            or (r.response is not null and not r.is_public)`,
      'user_profiles.total_jobs_completed': sql`
        select count(*) as n from public.user_profiles p
         where p.total_jobs_completed <> (select count(*) from public.bookings b
                                           where b.provider_id = p.user_id and b.status = 'completed')`,
      'tags.usage_count': sql`
        select count(*) as n from public.tags t
         where t.usage_count <> (select count(*) from public.listing_tags lt where lt.tag_id = t.id)`,
      'reviews.helpful_count, not_helpful_count': sql`
        select count(*) as n from public.reviews r
         where r.helpful_count <> (select count(*) from public.review_votes v where v.review_id = r.id and v.is_helpful)
            or r.not_helpful_count <> (select count(*) from public.review_votes v where v.review_id = r.id and not v.is_helpful)`,
      'conversations.last_message_*': sql`
        select count(*) as n from public.conversations c
          join lateral (select m.id, m.created_at, m.content from public.messages m where m.conversation_id = c.id
                         order by m.created_at desc, m.id desc limit 1) m on true
         where c.last_message_id <> m.id or c.last_message_at <> m.created_at
            or c.last_message_preview <> left(m.content, 140)`,
      'referral_codes.uses_count': sql`
        select count(*) as n from public.referral_codes c
         where c.uses_count <> (select count(*) from public.referrals r where r.code_id = c.id)`,
      'app.invoice_counters': sql`
        select count(*) as n from (select i.tenant_id, extract(year from i.issued_on)::int as year, count(*) as c
                                     from public.invoices i group by 1, 2) s
          left join app.invoice_counters k on k.tenant_id = s.tenant_id and k.year = s.year
         where k.last_number is distinct from s.c`,
    };
    for (const [name, query] of Object.entries(checks)) assert.equal(await count(db, query), 0, name);
  });

  test('derives tenants, parties and codes the way the insert triggers do', async () => {
    const checks: Record<string, ReturnType<typeof sql>> = {
      'tenant ids': sql`
        select (select count(*) from public.listings l join public.users u on u.id = l.provider_id where l.tenant_id <> u.tenant_id)
             + (select count(*) from public.bookings b join public.listings l on l.id = b.listing_id
                 where b.tenant_id <> l.tenant_id or b.provider_id <> l.provider_id)
             + (select count(*) from public.reviews r join public.bookings b on b.id = r.booking_id
                 where r.tenant_id <> b.tenant_id or r.listing_id <> b.listing_id
                    or (r.reviewer_id, r.reviewee_id) not in ((b.customer_id, b.provider_id), (b.provider_id, b.customer_id)))
             + (select count(*) from public.messages m join public.conversations c on c.id = m.conversation_id
                 where m.tenant_id <> c.tenant_id)
             + (select count(*) from public.notifications x join public.users u on u.id = x.user_id where x.tenant_id <> u.tenant_id)
             + (select count(*) from public.booking_status_history h join public.bookings b on b.id = h.booking_id
                 where h.tenant_id <> b.tenant_id) as n`,
      'confirmation codes': sql`
        select count(*) as n from public.bookings where confirmation_code !~ '^LC-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{10}$'`,
      'reviews only of completed bookings': sql`
        select count(*) as n from public.reviews r join public.bookings b on b.id = r.booking_id where b.status <> 'completed'`,
      'display names': sql`
        select count(*) as n from public.users u join public.user_profiles p on p.user_id = u.id
         where p.display_name is distinct from
               nullif(trim(concat_ws(' ', u.first_name, left(u.last_name, 1) || case when u.last_name is not null then '.' end)), '')
            or p.is_public <> (u.role in ('provider', 'admin', 'super_admin'))`,
      'referrals completed by a qualifying booking': sql`
        select count(*) as n from public.referrals r join public.referral_programs p on p.id = r.program_id
          left join public.bookings b on b.id = r.first_booking_id
         where (r.status = 'completed') <> (b.id is not null)
            or (b.id is not null and (b.customer_id <> r.referee_id or b.total_cents < p.minimum_spend_cents))
            or (r.status = 'completed' and (select count(*) from public.referral_rewards w where w.referral_id = r.id) <> 2)`,
      'credit rewards paid into the credit ledger once, lapsed credit expired': sql`
        select (select count(*) from public.referral_rewards w
                 where w.reward_type = 'credit' and w.status in ('credited', 'expired') and w.credited_at is not null
                   and (select count(*) from public.credit_ledger g where g.referral_reward_id = w.id) <> 1)
             + (select count(*) from public.credit_ledger g
                 where g.credit_id is null and g.expires_at <= now()
                   and g.amount_cents + coalesce((select sum(m.amount_cents) from public.credit_ledger m
                                                   where m.credit_id = g.id), 0) <> 0) as n`,
    };
    for (const [name, query] of Object.entries(checks)) assert.equal(await count(db, query), 0, name);
  });

  test('records each booking’s history as legal moves ending in its status', async () => {
    const broken = await count(
      db,
      sql`
      with h as (
        select h.*, lag(h.to_status) over (partition by h.booking_id order by h.created_at, h.id) as previous,
               row_number() over (partition by h.booking_id order by h.created_at, h.id) as n,
               last_value(h.to_status) over (partition by h.booking_id order by h.created_at, h.id
                                             rows between unbounded preceding and unbounded following) as last
          from public.booking_status_history h)
      select count(*) as n from h join public.bookings b on b.id = h.booking_id
       where (h.n = 1 and (h.from_status is not null or h.to_status not in ('pending', 'confirmed')
                           or h.created_at <> b.created_at))
          or (h.n > 1 and (h.from_status is distinct from h.previous
                           or not app.booking_transition_allowed(h.from_status, h.to_status)))
          or h.last <> b.status`,
    );
    assert.equal(broken, 0);
    const stamps = await count(
      db,
      sql`
      select count(*) as n from public.bookings b
       where (b.status = 'confirmed' and b.confirmed_at is null) or (b.status = 'completed' and b.completed_at is null)
          or (b.status = 'cancelled' and (b.cancelled_at is null or b.cancelled_by is null or b.cancellation_reason is null))
          or (b.status = 'refunded' and b.refunded_at is null) or (b.status = 'disputed' and b.disputed_at is null)
          or b.updated_at <> greatest(
               (select max(h.created_at) from public.booking_status_history h where h.booking_id = b.id),
               -- a reschedule (reschedule_booking) touches it too
               (select max(m.created_at) from public.messages m join public.conversations c on c.id = m.conversation_id
                 where c.booking_id = b.id and m.metadata ->> 'event' = 'booking_rescheduled'))`,
    );
    assert.equal(stamps, 0);
  });

  test('restores every index, constraint and trigger, and writes one audit row, not one per row', async () => {
    assert.deepEqual(await schemaShape(db), schemaBefore);
    assert.equal(await count(db, sql`select count(*) as n from public.audit_logs`), auditBefore + 1);
  });

  test('is deterministic: the same N gives the same ids and texts', async () => {
    await seedDemoOnce(twin, { listings: N, now: NOW }, log);
    const fingerprint = async (q: Queryable) => {
      const { rows } = await q.query<{ f: string }>(sql`
        select md5(string_agg(concat_ws('|', l.id, l.title, l.description, l.slug, l.hourly_rate_cents, l.base_price_cents,
                                        l.location::text, l.search_vector::text), '/' order by l.id)) as f
          from public.listings l
        union all
        select md5(string_agg(concat_ws('|', b.id, b.listing_id, b.customer_id, b.starts_at, b.status, b.total_cents,
                                        b.confirmation_code), '/' order by b.id)) from public.bookings b
        union all
        select md5(string_agg(concat_ws('|', u.id, u.clerk_id, u.email, u.first_name, u.time_zone), '/' order by u.id))
          from public.users u`);
      return rows.map((r) => r.f);
    };
    assert.deepEqual(await fingerprint(twin), await fingerprint(db));
  });

  test('does nothing the second time', async () => {
    const before = await count(db, sql`select count(*) as n from public.bookings`);
    assert.equal(await seedDemoOnce(db, { listings: N, now: NOW }, log), false);
    assert.equal(await count(db, sql`select count(*) as n from public.bookings`), before);
    const marker = await db.query<{ checksum: string }>(sql`
      select checksum from loconomy_migrations.seeds where name = ${DEMO_MARKER}`);
    assert.deepEqual(marker.rows, [{ checksum: `listings=${N}` }]);
  });
});
