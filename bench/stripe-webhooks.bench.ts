/**
 * Stripe (issue 13, decision 0023), on both backends (embedded PGlite, then PostgreSQL at
 * LOCONOMY_BENCH_DATABASE_URL when set), against the Stripe API double of the tests
 * (test/integrations/stripe/double.ts, started here; the server's SDK reaches it through
 * LOCONOMY_STRIPE_API_URL with an sk_test_ key, and webhooks are signed with the real algorithm).
 * The server is the one `loconomy serve` builds (buildServer + the job runner with the Stripe
 * event task, configured defaults), run in this process: PGlite is one process's database.
 *
 * 1. Inbound webhooks: LOCONOMY_BENCH_EVENTS (2000) deliveries to POST /webhooks/stripe over
 *    LOCONOMY_BENCH_CONCURRENCY (16) connections: account.updated, three per connected account
 *    (created → details submitted → enabled, or restricted again for every other account), shuffled
 *    so older events arrive after newer ones, plus 10 % exact redeliveries (half racing their
 *    original, half later). Reported: deliveries/s and p50/p95/p99 of the HTTP answer; then the
 *    time until every recorded event is processed (the job re-fetches the account from the double)
 *    as events processed/s. Checked in SQL: every distinct event recorded exactly once and
 *    processed, every account fetched exactly once per event (nothing processed twice), every
 *    payout_accounts row equal to the account's latest state at Stripe; anything else exits 1.
 *    Beside it, raw SQL: app.stripe_record_event (what the route runs) as service_role over the
 *    same concurrency, on other events, before the server starts (their jobs are removed unrun).
 * 2. Booking to authorised: LOCONOMY_BENCH_BOOKINGS (100) bookings one after another by a customer
 *    of an onboarded provider: POST /rest/v1/rpc/create_booking → POST
 *    /functions/v1/stripe-booking-payment with pm_card_visa (the PaymentIntent is authorised at the
 *    double: requires_capture) → the double delivers payment_intent.amount_capturable_updated to
 *    the server → the payments row is polled (every 2 ms) until it says authorised.
 *
 *   LOCONOMY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/loconomy_bench npm run bench -- stripe-webhooks
 *
 * Everything lives in its own tenant (slug `sbench-…`), deleted at the end with its users,
 * payout accounts, bookings and payments; the Stripe events are deleted by id (and leftovers of
 * an interrupted run by the `loconomy_bench` metadata of their accounts). Needs only migrations.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { projectKeys, userToken } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/database.js';
import { sql } from '../src/db/sql.js';
import { createStripeClient } from '../src/integrations/stripe/client.js';
import { installQueueSchema, startJobs } from '../src/jobs/runner.js';
import { processStripeEventTask } from '../src/jobs/tasks/process-stripe-event.js';
import { silentLogger } from '../src/log.js';
import { buildServer } from '../src/server.js';
import { type Obj, StripeDouble } from '../test/integrations/stripe/double.js';
import { onBothBackends } from './backends.js';

const int = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const DELIVERIES = int('LOCONOMY_BENCH_EVENTS', 2000);
const CONCURRENCY = int('LOCONOMY_BENCH_CONCURRENCY', 16);
const BOOKINGS = int('LOCONOMY_BENCH_BOOKINGS', 100);
const EVENTS_PER_ACCOUNT = 3;
const URL_ = process.env.LOCONOMY_BENCH_DATABASE_URL;
const SECRET = 'loconomy-bench-secret-loconomy-bench-secret-0123';
const BENCH_TAG = 'stripe-webhooks';
const log = silentLogger();

const say = (line: string) => console.log(line);
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
const f1 = (n: number) => n.toFixed(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A deterministic random source, so every run sends the same pattern. */
function random(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648;
  };
}

interface Delivery {
  readonly id: string;
  readonly account: string;
  readonly created: number;
  readonly body: string;
  readonly duplicate: boolean;
}

/** Runs `send` over the list with CONCURRENCY workers; per-item latencies in ms, sorted. */
async function drive<T>(list: T[], send: (item: T) => Promise<void>): Promise<{ seconds: number; latency: number[] }> {
  const latency: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < list.length) {
        const item = list[next++] as T;
        const t = performance.now();
        await send(item);
        latency.push(performance.now() - t);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latency: latency.sort((a, b) => a - b) };
}

/**
 * account.updated events for the accounts, three per account as its state moves on (the double
 * ends every account in its latest state: enabled, or restricted again for every other one), the
 * distinct events shuffled, then 10 % exact redeliveries: every other one right behind its
 * original (they race), the rest later.
 */
function accountEvents(double: StripeDouble, accounts: string[], seed: number): Delivery[] {
  const created = Math.floor(Date.now() / 1000) - 600;
  const distinct: Delivery[] = [];
  accounts.forEach((account, i) => {
    for (let k = 0; k < EVENTS_PER_ACCOUNT; k++) {
      if (k === 1) double.updateAccount(account, { details_submitted: true, currently_due: ['external_account'] });
      if (k === 2) {
        double.completeOnboarding(account);
        if (i % 2 === 1)
          double.updateAccount(account, {
            charges_enabled: false,
            payouts_enabled: false,
            currently_due: ['individual.verification.document'],
            past_due: ['individual.verification.document'],
          });
      }
      const event = double.accountUpdated(account, { created: created + k });
      distinct.push({
        id: event.id as string,
        account,
        created: created + k,
        body: JSON.stringify(event, null, 2),
        duplicate: false,
      });
    }
  });
  const next = random(seed);
  for (let i = distinct.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [distinct[i], distinct[j]] = [distinct[j] as Delivery, distinct[i] as Delivery];
  }
  const list = [...distinct];
  const duplicates = Math.round(distinct.length / 9); // 10 % of all deliveries
  for (let d = 0; d < duplicates; d++) {
    const original = distinct[Math.floor(next() * distinct.length)] as Delivery;
    const at = list.indexOf(original);
    const place = d % 2 === 0 ? at + 1 : at + 1 + Math.floor(next() * (list.length - at));
    list.splice(place, 0, { ...original, duplicate: true });
  }
  return list;
}

/** How many distinct events arrive after a newer event of the same account. */
function lateEvents(list: Delivery[]): number {
  const newest = new Map<string, number>();
  let late = 0;
  for (const d of list.filter((x) => !x.duplicate)) {
    if ((newest.get(d.account) ?? 0) > d.created) late++;
    newest.set(d.account, Math.max(newest.get(d.account) ?? 0, d.created));
  }
  return late;
}

const one = async <T>(db: Database, query: ReturnType<typeof sql>) => (await db.query<T>(query)).rows[0] as T;

async function cleanUp(db: Database, eventIds: string[]) {
  await db.query(sql`delete from public.inbound_webhook_events
                      where provider = 'stripe'
                        and (event_id = any(${eventIds})
                             or payload -> 'data' -> 'object' -> 'metadata' ->> 'loconomy_bench' = ${BENCH_TAG})`);
  await db.query(sql`delete from public.tenants where slug like 'sbench-%'`);
}

/** The whole run on one backend. */
async function measure(label: string, db: Database, databaseUrl?: string): Promise<void> {
  say(`\n## ${label}`);
  const double = await StripeDouble.start();
  const env = { ...double.env(), ...(databaseUrl && { DATABASE_URL: databaseUrl }) };
  // The job reads its settings from the environment when it runs, as a worker process does.
  Object.assign(process.env, double.env());
  const config = loadConfig({ ...process.env, ...env });
  const stripe = createStripeClient(config.stripe) as Stripe;
  const eventIds: string[] = [];
  let jobs: Awaited<ReturnType<typeof startJobs>> | undefined;
  let app: Awaited<ReturnType<typeof buildServer>> | undefined;
  let failed = false;
  try {
    await cleanUp(db, []); // leftovers of an interrupted run
    await installQueueSchema(db, databaseUrl, log);
    const run = randomUUID().slice(0, 8);
    const { id: tenantId } = await one<{ id: string }>(
      db,
      sql`insert into public.tenants (name, slug, payment_mode) values (${`Stripe bench ${run}`}, ${`sbench-${run}`}, 'stripe')
          returning id`,
    );

    // --- 1. Inbound webhooks ------------------------------------------------------------------
    const duplicates = Math.round(DELIVERIES * 0.1);
    const accountsCount = Math.max(1, Math.round((DELIVERIES - duplicates) / EVENTS_PER_ACCOUNT));
    const accounts: string[] = [];
    for (let i = 0; i < accountsCount; i++) {
      const account = await stripe.accounts.create({
        type: 'express',
        capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
        metadata: { loconomy_bench: BENCH_TAG },
      });
      accounts.push(account.id);
    }
    // Each account belongs to a provider of the tenant, as onboarding leaves it (nothing enabled yet).
    await db.query(sql`
      with providers as (
        insert into public.users (tenant_id, clerk_id, email, role, status)
        select ${tenantId}, format('user_sbench_%s_%s', ${run}::text, n), format('sbench-%s-%s@example.com', ${run}::text, n),
               'provider', 'active'
          from generate_series(1, ${accountsCount}::int) n
        returning id, clerk_id)
      insert into public.payout_accounts (user_id, stripe_account_id)
      select p.id, (${accounts}::text[])[split_part(p.clerk_id, '_', 4)::int] from providers p`);
    const raw = accountEvents(double, accounts, 7);
    const http = accountEvents(double, accounts, 12);
    for (const d of [...raw, ...http]) if (!d.duplicate) eventIds.push(d.id);
    const distinct = http.filter((d) => !d.duplicate).length;
    say(
      `${http.length} deliveries of account.updated: ${distinct} distinct events for ${accountsCount} accounts ` +
        `(${lateEvents(http)} arrive after a newer one of their account), ${http.length - distinct} exact redeliveries; ` +
        `${CONCURRENCY} connections`,
    );

    // Raw SQL first, no server yet: the recording statement of the route, as service_role.
    const rawOutcomes = new Map<string, number>();
    const rawRun = await drive(raw, async (d) => {
      const result = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
        tx.last<{ result: { outcome: string } }>(sql`select app.stripe_record_event(${d.body}::jsonb) as result`),
      );
      const outcome = result.rows[0]?.result.outcome ?? 'none';
      rawOutcomes.set(outcome, (rawOutcomes.get(outcome) ?? 0) + 1);
    });
    const rawIds = raw.filter((d) => !d.duplicate).map((d) => `stripe:${d.id}`);
    await db.query(sql`select graphile_worker.remove_job(k) from unnest(${rawIds}::text[]) k`);

    app = await buildServer({ db, config, log, jwtSecret: SECRET });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    jobs = await startJobs({
      db,
      databaseUrl,
      log,
      tasks: [processStripeEventTask],
      schedule: false,
      concurrency: config.jobs.concurrency,
      pollInterval: config.jobs.pollIntervalMs,
      recoverAfterMs: config.jobs.recoverAfterMs,
    });
    const fetchesBefore = double.requests.length;

    // Signed now, before sending (the 300 s tolerance covers the run); a redelivery is the same bytes.
    const signature = new Map(http.filter((d) => !d.duplicate).map((d) => [d.id, double.sign(d.body).signature]));
    const statuses = new Map<number, number>();
    const outcomes = new Map<string, number>();
    const started = performance.now();
    const httpRun = await drive(http, async (d) => {
      const response = await fetch(`${base}/webhooks/stripe`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'stripe-signature': signature.get(d.id) as string,
        },
        body: d.body,
      });
      const answer = (await response.json()) as { outcome?: string };
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      outcomes.set(answer.outcome ?? 'error', (outcomes.get(answer.outcome ?? 'error') ?? 0) + 1);
    });
    const httpIds = http.filter((d) => !d.duplicate).map((d) => d.id);
    // Every recorded event processed (or failed for good, which the check reports): polled every 10 ms.
    for (;;) {
      const { n } = await one<{ n: number }>(
        db,
        sql`select count(*)::int as n from public.inbound_webhook_events
             where provider = 'stripe' and event_id = any(${httpIds}) and processed_at is null
               and attempts < 25`,
      );
      if (n === 0) break;
      await sleep(10);
    }
    const processedSeconds = (performance.now() - started) / 1000;
    const fetches = double.requests
      .slice(fetchesBefore)
      .filter((r) => r.method === 'GET' && r.path.startsWith('/v1/accounts/')).length;

    // The checks.
    const problems: string[] = [];
    const rawDistinct = raw.filter((d) => !d.duplicate).length;
    for (const [what, counts, total, once] of [
      ['HTTP', outcomes, http.length, distinct],
      ['raw SQL', rawOutcomes, raw.length, rawDistinct],
    ] as const) {
      if ((counts.get('recorded') ?? 0) !== once || (counts.get('duplicate') ?? 0) !== total - once)
        problems.push(`${what}: ${counts.get('recorded') ?? 0} recorded, ${counts.get('duplicate') ?? 0} duplicate`);
    }
    if ((statuses.get(200) ?? 0) !== http.length) problems.push('HTTP: not every delivery answered 200');
    const counts = await one<Record<string, number>>(
      db,
      sql`select count(*)::int as rows, count(distinct event_id)::int as ids,
                 count(*) filter (where processed_at is null or last_error is not null
                                  or outcome not in ('applied', 'stale'))::int as odd,
                 count(*) filter (where attempts > 1)::int as retried
            from public.inbound_webhook_events where provider = 'stripe' and event_id = any(${httpIds})`,
    );
    if (counts.rows !== distinct || counts.ids !== distinct)
      problems.push(`${counts.rows} inbound_webhook_events rows (${counts.ids} ids) for ${distinct} distinct events`);
    if (counts.odd !== 0) problems.push(`${counts.odd} events unprocessed, failed or ignored`);
    if (fetches !== distinct) problems.push(`${fetches} account fetches for ${distinct} events (processed twice?)`);
    const { rows: rawRows } = await db.query<{ n: number }>(
      sql`select count(*)::int as n from public.inbound_webhook_events
           where provider = 'stripe' and event_id = any(${raw.map((d) => d.id)})`,
    );
    if (rawRows[0]?.n !== rawDistinct) problems.push(`raw SQL: ${rawRows[0]?.n} rows for ${rawDistinct} events`);
    const { rows: mirrors } = await db.query<{
      stripe_account_id: string;
      charges_enabled: boolean;
      payouts_enabled: boolean;
      details_submitted: boolean;
      requirements_due: string[];
      disabled_reason: string | null;
    }>(sql`select stripe_account_id, charges_enabled, payouts_enabled, details_submitted, requirements_due, disabled_reason
             from public.payout_accounts where stripe_account_id = any(${accounts})`);
    let wrong = 0;
    for (const m of mirrors) {
      const a = double.account(m.stripe_account_id);
      const req = a.requirements as Obj;
      const due = [...new Set([...(req.currently_due as string[]), ...(req.past_due as string[])])].sort();
      const same =
        m.charges_enabled === a.charges_enabled &&
        m.payouts_enabled === a.payouts_enabled &&
        m.details_submitted === a.details_submitted &&
        JSON.stringify([...m.requirements_due].sort()) === JSON.stringify(due) &&
        m.disabled_reason === ((req.disabled_reason as string | null) || null);
      if (!same) wrong++;
    }
    if (mirrors.length !== accountsCount || wrong !== 0)
      problems.push(`${wrong} of ${mirrors.length} payout_accounts rows differ from the account's latest state`);

    const rate = (r: typeof httpRun, n: number) => n / r.seconds;
    const fmt = (m: Map<string | number, number>) => [...m].map(([k, v]) => `${k} ${v}`).join(', ');
    say('');
    say('| path | deliveries/s | p50 ms | p95 ms | p99 ms | answers |');
    say('|---|---:|---:|---:|---:|---|');
    say(
      `| POST /webhooks/stripe | ${rate(httpRun, http.length).toFixed(0)} | ${f1(pct(httpRun.latency, 0.5))} | ${f1(pct(httpRun.latency, 0.95))} | ${f1(pct(httpRun.latency, 0.99))} | ${fmt(statuses)}; ${fmt(outcomes)} |`,
    );
    say(
      `| raw SQL: app.stripe_record_event | ${rate(rawRun, raw.length).toFixed(0)} | ${f1(pct(rawRun.latency, 0.5))} | ${f1(pct(rawRun.latency, 0.95))} | ${f1(pct(rawRun.latency, 0.99))} | ${fmt(rawOutcomes)} |`,
    );
    say('');
    say(
      `HTTP / raw SQL: ${(rate(httpRun, http.length) / rate(rawRun, raw.length)).toFixed(2)}× the throughput; ` +
        `processed: all ${distinct} events ${processedSeconds.toFixed(2)} s after the first delivery = ` +
        `${(distinct / processedSeconds).toFixed(0)} events/s (${config.jobs.concurrency} jobs at once, each re-fetching ` +
        `its account from the double; ${counts.retried} needed a retry)`,
    );
    if (problems.length === 0) {
      say(
        `checked: ${distinct} distinct events recorded once and processed once (${fetches} account fetches), ` +
          `${accountsCount} payout accounts in their latest state`,
      );
    } else {
      failed = true;
      for (const p of problems) say(`✖ ${p}`);
    }

    // --- 2. Booking to authorised -------------------------------------------------------------
    const provider = await stripe.accounts.create({
      type: 'express',
      capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
      metadata: { loconomy_bench: BENCH_TAG },
    });
    double.completeOnboarding(provider.id);
    const people = await one<{ provider: string; customer: string; listing: string }>(
      db,
      sql`with p as (insert into public.users (tenant_id, clerk_id, email, role, status, time_zone)
                     values (${tenantId}, ${`user_sbench_${run}_provider`}, ${`sbench-${run}-provider@example.com`},
                             'provider', 'active', 'UTC') returning id),
               c as (insert into public.users (tenant_id, clerk_id, email, role, status, time_zone)
                     values (${tenantId}, ${`user_sbench_${run}_customer`}, ${`sbench-${run}-customer@example.com`},
                             'customer', 'active', 'UTC') returning id),
               a as (insert into public.payout_accounts (user_id, stripe_account_id, details_submitted, charges_enabled,
                                                         payouts_enabled)
                     select id, ${provider.id}, true, true, true from p),
               h as (insert into public.provider_availability (provider_id, day_of_week, start_time, end_time, time_zone)
                     select p.id, d, '00:00', '24:00', 'UTC' from p, generate_series(1, 7) d),
               l as (insert into public.listings (provider_id, category_id, title, description, slug, pricing_type,
                                                  hourly_rate_cents, location, service_radius_m, status,
                                                  min_notice_minutes, advance_booking_days)
                     select p.id, (select id from public.categories where slug = 'plumbing' and tenant_id is null),
                            'Bench plumbing', 'Booked by the Stripe benchmark', ${`sbench-${run}`}, 'hourly', 8000,
                            public.geo_point(-73.99, 40.73), 10000, 'active', 0, 730
                       from p returning id)
          select (select id from p) as provider, (select id from c) as customer, (select id from l) as listing`,
    );
    const keys = await projectKeys(SECRET);
    const token = await userToken(SECRET, { sub: `user_sbench_${run}_customer`, ttlSeconds: 3600 });
    const headers = { apikey: keys.anon, authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const day = new Date(Date.now() + 2 * 24 * 3_600_000);
    day.setUTCHours(0, 0, 0, 0);
    const legs = { book: [] as number[], pay: [] as number[], authorised: [] as number[], whole: [] as number[] };
    for (let i = 0; i < BOOKINGS; i++) {
      const t0 = performance.now();
      const booked = await fetch(`${base}/rest/v1/rpc/create_booking`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          listing_id: people.listing,
          starts_at: new Date(day.getTime() + i * 3_600_000).toISOString(),
        }),
      });
      const booking = (await booked.json()) as { id?: string };
      if (booked.status !== 200 || booking.id === undefined)
        throw new Error(`create_booking answered ${booked.status}: ${JSON.stringify(booking)}`);
      const t1 = performance.now();
      const paid = await fetch(`${base}/functions/v1/stripe-booking-payment`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ booking_id: booking.id, payment_method_id: 'pm_card_visa' }),
      });
      const answer = (await paid.json()) as { status?: string; payment_intent_id?: string };
      if (paid.status !== 200 || answer.status !== 'requires_capture')
        throw new Error(`stripe-booking-payment answered ${paid.status}: ${JSON.stringify(answer)}`);
      const t2 = performance.now();
      const intent = double.paymentIntents.get(answer.payment_intent_id as string) as Obj;
      const event = double.event('payment_intent.amount_capturable_updated', intent);
      eventIds.push(event.id as string);
      const delivered = await double.deliver(`${base}/webhooks/stripe`, event);
      if (delivered.status !== 200) throw new Error(`the webhook answered ${delivered.status}`);
      for (;;) {
        const { rows } = await db.query<{ status: string }>(
          sql`select status::text from public.payments where booking_id = ${booking.id}`,
        );
        if (rows[0]?.status === 'authorised') break;
        await sleep(2);
      }
      const t3 = performance.now();
      legs.book.push(t1 - t0);
      legs.pay.push(t2 - t1);
      legs.authorised.push(t3 - t2);
      legs.whole.push(t3 - t0);
    }
    for (const l of Object.values(legs)) l.sort((a, b) => a - b);
    say('');
    say(`${BOOKINGS} bookings, one at a time, each authorised through Stripe (the double) and its webhook:`);
    say('| leg | p50 ms | p95 ms |');
    say('|---|---:|---:|');
    for (const [name, l] of [
      ['POST /rest/v1/rpc/create_booking', legs.book],
      ['POST /functions/v1/stripe-booking-payment (PaymentIntent created and confirmed at the double)', legs.pay],
      [
        'payment_intent.amount_capturable_updated delivered → payments.status authorised (polled every 2 ms)',
        legs.authorised,
      ],
      ['whole: booked → authorised', legs.whole],
    ] as const)
      say(`| ${name} | ${f1(pct(l, 0.5))} | ${f1(pct(l, 0.95))} |`);
  } finally {
    await app?.close();
    await jobs?.stop();
    await double.close();
    await cleanUp(db, eventIds);
  }
  if (failed) process.exitCode = 1;
}

await onBothBackends(
  { name: 'stripe', url: URL_, log, labels: { pglite: 'embedded (PGlite)', postgres: 'PostgreSQL' } },
  measure,
);
