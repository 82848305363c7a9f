import { performance } from 'node:perf_hooks';
import type { Database, Transaction } from '../db/database.js';
import { sql } from '../db/sql.js';
import { type Logger, round, silentLogger } from '../log.js';
import {
  CONVERSATION_COLUMNS,
  conversationRows,
  generateConversations,
  generateReviews,
  MESSAGE_COLUMNS,
  messageRows,
  PARTICIPANT_COLUMNS,
  participantRows,
  REVIEW_COLUMNS,
  reviewRows,
  VOTE_COLUMNS,
  voteRows,
} from './activity.js';
import {
  CREDIT_COLUMNS,
  creditRows,
  expireCredit,
  generatePaymentMethods,
  generateReferrals,
  generateSubscriptions,
  INVOICE_COLUMNS,
  INVOICE_ITEM_COLUMNS,
  invoiceCounters,
  invoiceItemRows,
  invoiceRows,
  PAYMENT_METHOD_COLUMNS,
  PLAN_COLUMNS,
  paymentMethodRows,
  planRows,
  REFERRAL_CODE_COLUMNS,
  REFERRAL_COLUMNS,
  REWARD_COLUMNS,
  referralCodeRows,
  referralRows,
  rewardRows,
  SUBSCRIPTION_COLUMNS,
  spendCredit,
  subscriptionRows,
  TRANSACTION_COLUMNS,
  transactionRows,
} from './billing.js';
import {
  BOOKING_COLUMNS,
  bookingRows,
  COMPLETED,
  finalStatus,
  generateBookings,
  HISTORY_COLUMNS,
  historyRows,
  OVERRIDE_COLUMNS,
  overrideRows,
} from './bookings.js';
import {
  generateCatalog,
  LISTING_STAGE_COLUMNS,
  listingStageRows,
  listingTagRows,
  serviceAreaRows,
  textRows,
} from './catalog.js';
import { type Context, createContext } from './context.js';
import { copyLines } from './copy.js';
import { stripeId } from './ids.js';
import { insertNotifications } from './notifications.js';
import { PAYMENT_COLUMNS, paymentRows } from './payments.js';
import {
  ADDRESS_COLUMNS,
  AVAILABILITY_COLUMNS,
  addressRows,
  availabilityRows,
  generatePeople,
  PROFILE_COLUMNS,
  profileRows,
  USER_COLUMNS,
  userRows,
} from './people.js';
import { readReference } from './reference.js';
import { generateReminders, REMINDER_COLUMNS, reminderRows } from './reminders.js';
import { REQUEST_COLUMNS, requestRows } from './requests.js';
import { generateReschedules, RESCHEDULE_COLUMNS, rescheduleRows } from './reschedules.js';
import { PHASE_PLURALS, restoreStep, suspendTables } from './suspend.js';
import {
  EVENT_COLUMNS,
  eventRows,
  FLAG_OVERRIDE_COLUMNS,
  type Flag,
  flagOverrideRows,
  generateUsage,
  SESSION_COLUMNS,
  sessionRows,
  VIEW_COLUMNS,
  viewRows,
} from './usage.js';

/**
 * The demo data generator: a believable marketplace in the default tenant for
 * `loconomy seed --demo --listings N` and `loconomy serve --demo`. See
 * docs/decisions/0007-demo-data.md for the design; in short:
 *
 * - Deterministic: every value comes from seeded PRNG streams (src/seed/random.ts) and every id
 *   from (table, row number) (src/seed/ids.ts). The same N on the same day gives the same data;
 *   timestamps are relative to the start of the current UTC day (or `now`).
 * - All or nothing: one transaction. A failure leaves nothing behind, schema changes included.
 * - Bulk: the demo's tables go into bulk-load mode (src/seed/suspend.ts: user triggers off,
 *   secondary indexes and foreign keys dropped), rows stream in with COPY, and what the
 *   triggers would have written — tenant ids, confirmation codes, status history, counters,
 *   rating aggregates, search vectors, last-message summaries, notifications — is written by
 *   the generator or computed set-based in SQL afterwards. Then every index, constraint and
 *   trigger is restored (re-validating the foreign keys), and the larger tables are analyzed.
 */
export interface DemoOptions {
  readonly listings: number;
  /** Rows (and equivalent work) done so far of an estimated total, and the current step. */
  readonly onProgress?: (done: number, total: number, step?: string) => void;
  /** Step timings are logged at info, or at debug when onProgress draws a progress bar. */
  readonly log?: Logger;
  /** The demo's "now"; default: the current time. Timestamps are anchored to the start of its UTC day. */
  readonly now?: Date;
}

/** Hooks that run inside the demo transaction (used for the marker row in loconomy_migrations.seeds). */
export interface DemoHooks {
  /** Runs first; return false to generate nothing. */
  readonly shouldRun?: (tx: Transaction) => Promise<boolean>;
  /** Runs last, before the commit. */
  readonly finish?: (tx: Transaction) => Promise<void>;
}

export interface DemoSummary {
  /** Rows written per table. */
  readonly rows: Record<string, number>;
  /** Duration per step, in ms. */
  readonly steps: Record<string, number>;
}

/** The tables the demo writes in bulk (put in bulk-load mode for the duration). */
export const DEMO_TABLES = [
  'users',
  'user_profiles',
  'user_addresses',
  'provider_availability',
  'availability_overrides',
  'listings',
  'listing_tags',
  'listing_service_areas',
  'bookings',
  'booking_status_history',
  'reviews',
  'review_votes',
  'conversations',
  'conversation_participants',
  'messages',
  'notifications',
  'payment_methods',
  'payments',
  'transactions',
  'subscription_plans',
  'subscriptions',
  'invoices',
  'invoice_items',
  'referral_codes',
  'referrals',
  'referral_rewards',
  'credit_ledger',
  'user_sessions',
  'events',
  'user_feature_flags',
] as const;

/** The workflow tables in schema app the demo also fills in bulk: create_booking's keys, the reminder job's log. */
export const DEMO_APP_TABLES = ['booking_idempotency_keys', 'booking_reminders'] as const;

/** Every table in bulk-load mode during the load, schema-qualified. */
export const DEMO_RELATIONS = [
  ...DEMO_TABLES.map((t) => `public.${t}`),
  ...DEMO_APP_TABLES.map((t) => `app.${t}`),
] as const;

/** Tables that got fewer rows than this are not analyzed after the load. */
const ANALYZE_MIN_ROWS = 2000;

export async function seedDemo(
  db: Database,
  options: DemoOptions,
  hooks: DemoHooks = {},
): Promise<DemoSummary | undefined> {
  const log = options.log ?? silentLogger();
  const level = options.onProgress ? 'debug' : 'info';
  const steps: Record<string, number> = {};
  const rows: Record<string, number> = {};
  let done = 0;
  let total = 1;
  let current = 'start';
  let lastReport = 0;
  const report = (force = false) => {
    const now = performance.now();
    if (!force && now - lastReport < 100) return;
    lastReport = now;
    options.onProgress?.(Math.min(done, total), total, current);
  };
  const timed = async <T>(name: string, fn: () => Promise<T> | T, fields: Record<string, unknown> = {}): Promise<T> => {
    current = name;
    report(true);
    const started = performance.now();
    const result = await fn();
    const ms = round(performance.now() - started);
    steps[name] = ms;
    log[level]({ step: `demo: ${name}`, ms, ...fields }, `demo: ${name} done`);
    return result;
  };

  return db
    .transaction(async (tx) => {
      if (hooks.shouldRun && !(await hooks.shouldRun(tx))) return undefined;
      await tx.exec('set local search_path = public, extensions');
      if (db.kind === 'postgres') {
        // Index builds and the aggregate joins: memory for this transaction only.
        await tx.exec(
          options.listings >= 100_000
            ? `set local maintenance_work_mem = '1GB'; set local work_mem = '256MB'`
            : `set local maintenance_work_mem = '256MB'; set local work_mem = '64MB'`,
        );
      }

      const ref = await timed('read reference data', () => readReference(tx));
      const ctx = createContext(ref, options.listings, options.now ?? new Date());
      const world = await timed('generate', () => generate(ctx));
      const { people, catalog, bookings, reviews, conversations, payments, subscriptions, referrals } = world;

      // The work ahead, in rows (restoring indexes and constraints counted as a share of them).
      const plan = tablePlan(ctx, world);
      const loadRows = plan.reduce((sum, t) => sum + t.estimate, 0);
      total = Math.max(1, loadRows * 1.6 + catalog.count);

      const restore = await timed('suspend triggers, constraints and indexes', () => suspendTables(tx, DEMO_RELATIONS));
      const progress = {
        add(n: number) {
          done += n;
          report();
        },
      };
      const copy = async (table: string, columns: readonly string[], lines: Iterable<string>) => {
        const n = await timed(
          `copy ${table}`,
          () => copyLines(tx, db.kind, ['public', table], columns, lines, progress),
          {},
        );
        rows[table] = (rows[table] ?? 0) + n;
        log[level]({ table, rows: n }, `demo: ${n} rows into ${table}`);
      };

      const stripe = (prefix: string, u: number) => stripeId(prefix, u);
      await copy('users', USER_COLUMNS, userRows(ctx, people, stripe));
      await copy('user_profiles', PROFILE_COLUMNS, profileRows(ctx, people));
      await copy('user_addresses', ADDRESS_COLUMNS, addressRows(ctx, people));
      await copy('provider_availability', AVAILABILITY_COLUMNS, availabilityRows(ctx, people));
      await copy('availability_overrides', OVERRIDE_COLUMNS, overrideRows(ctx, people, bookings));

      // Listings go through a staging table: their search vectors and counters are computed in
      // the INSERT that moves them into place.
      await tx.exec(`
      create temp table loconomy_demo_listings (like public.listings including defaults) on commit drop;
      alter table loconomy_demo_listings add column title_key integer, add column description_key integer,
        add column keywords_key integer;
      create temp table loconomy_demo_text (kind "char" not null, key integer not null, language text not null,
        body text not null) on commit drop;`);
      await timed('copy listings (staging)', () =>
        copyLines(
          tx,
          db.kind,
          ['pg_temp', 'loconomy_demo_listings'],
          LISTING_STAGE_COLUMNS,
          listingStageRows(ctx, people, catalog),
          progress,
        ),
      );
      await timed('copy listing texts', async () => {
        const texts = [
          [catalog.titles, 'A'],
          [catalog.descriptions, 'B'],
          [catalog.keywordTexts, 'C'],
        ] as const;
        for (const [rows, kind] of texts) {
          await copyLines(
            tx,
            db.kind,
            ['pg_temp', 'loconomy_demo_text'],
            ['kind', 'key', 'language', 'body'],
            textRows(rows, kind),
            progress,
          );
        }
      });
      await copy('listing_tags', ['listing_id', 'tag_id', 'created_at'], listingTagRows(ctx, catalog));
      await copy(
        'listing_service_areas',
        ['id', 'listing_id', 'tenant_id', 'name', 'area', 'created_at', 'updated_at'],
        serviceAreaRows(ctx, people, catalog),
      );
      await copy('bookings', BOOKING_COLUMNS, bookingRows(ctx, people, catalog, bookings, world.reschedules));
      await copy('booking_status_history', HISTORY_COLUMNS, historyRows(ctx, people, bookings));
      await copy('reviews', REVIEW_COLUMNS, reviewRows(ctx, people, catalog, bookings, reviews));
      await copy('review_votes', VOTE_COLUMNS, voteRows(people, reviews));
      await copy(
        'conversations',
        CONVERSATION_COLUMNS,
        conversationRows(ctx, people, catalog, bookings, conversations),
      );
      await copy('conversation_participants', PARTICIPANT_COLUMNS, participantRows(people, bookings, conversations));
      await copy('messages', MESSAGE_COLUMNS, messageRows(ctx, people, catalog, bookings, conversations));
      await copy('payment_methods', PAYMENT_METHOD_COLUMNS, paymentMethodRows(ctx, people, payments));
      await copy('subscription_plans', PLAN_COLUMNS, planRows(ctx));
      await copy('subscriptions', SUBSCRIPTION_COLUMNS, subscriptionRows(ctx, people, subscriptions));
      await copy('invoices', INVOICE_COLUMNS, invoiceRows(ctx, people, subscriptions));
      await copy('invoice_items', INVOICE_ITEM_COLUMNS, invoiceItemRows(subscriptions));
      await copy('payments', PAYMENT_COLUMNS, paymentRows(ctx, people, catalog, bookings));
      await copy('transactions', TRANSACTION_COLUMNS, transactionRows(ctx, people, catalog, bookings, subscriptions));
      await copy('referral_codes', REFERRAL_CODE_COLUMNS, referralCodeRows(ctx, people, referrals));
      await copy('referrals', REFERRAL_COLUMNS, referralRows(ctx, people, bookings, referrals));
      await copy('referral_rewards', REWARD_COLUMNS, rewardRows(ctx, people, referrals));
      await copy('credit_ledger', CREDIT_COLUMNS, creditRows(ctx, people, bookings, world.credit));
      await copy('user_sessions', SESSION_COLUMNS, sessionRows(ctx, people, world.usage));
      await copy('events', EVENT_COLUMNS, eventRows(ctx, people, catalog, world.usage));
      // create_booking's idempotency keys (their fingerprints computed as create_booking does),
      // the reminder job's log, and the reschedules the notifications are computed from.
      await tx.exec(`
      create temp table loconomy_demo_requests (booking_id uuid not null, idempotency_key text not null,
        address_id uuid) on commit drop;
      create temp table loconomy_demo_reschedules (booking_id uuid primary key, at timestamptz not null,
        from_starts_at timestamptz not null, by uuid not null, status text not null) on commit drop;`);
      await timed('copy create_booking requests (staging)', () =>
        copyLines(
          tx,
          db.kind,
          ['pg_temp', 'loconomy_demo_requests'],
          REQUEST_COLUMNS,
          requestRows(ctx, people, bookings),
          progress,
        ),
      );
      rows.booking_idempotency_keys = await timed('idempotency keys', () => insertIdempotencyKeys(tx));
      await timed('copy reschedules (staging)', () =>
        copyLines(
          tx,
          db.kind,
          ['pg_temp', 'loconomy_demo_reschedules'],
          RESCHEDULE_COLUMNS,
          rescheduleRows(people, bookings, world.reschedules),
          progress,
        ),
      );
      rows.booking_reminders = await timed('copy booking_reminders', () =>
        copyLines(
          tx,
          db.kind,
          ['app', 'booking_reminders'],
          REMINDER_COLUMNS,
          reminderRows(bookings, world.reminders),
          progress,
        ),
      );
      const flags = await tx.query<Flag>(sql`
        select id, key from public.feature_flags
         where flag_type = 'boolean' and (tenant_id is null or tenant_id = ${ctx.ref.tenant.id}) order by key`);
      await copy('user_feature_flags', FLAG_OVERRIDE_COLUMNS, flagOverrideRows(ctx, people, flags.rows));

      await timed('search vectors of distinct texts', () =>
        tx.exec(`
        create temp table loconomy_demo_tsv on commit drop as
        select kind, key, setweight(to_tsvector(app.text_search_config(language), body), kind) as vector
          from pg_temp.loconomy_demo_text;
        create unique index on pg_temp.loconomy_demo_tsv (kind, key);
        analyze pg_temp.loconomy_demo_tsv;
        analyze pg_temp.loconomy_demo_listings;`),
      );
      const listingRows = await timed('insert listings with search vectors and counters', () => insertListings(tx));
      rows.listings = listingRows;
      done += catalog.count;
      report(true);

      await timed('tag usage counts', () => updateTagCounts(tx, ctx));
      await timed('invoice counters', () => updateInvoiceCounters(tx, ctx, invoiceCounters(subscriptions)));
      rows.notifications = await timed('notifications of the last two weeks', () =>
        insertNotifications(tx, ctx, { bookings, reviews, conversations, transactions: rows.transactions ?? 0 }),
      );
      await tx.query(sql`
      insert into public.audit_logs (tenant_id, action, resource_type, new_values, metadata)
      values (${ctx.ref.tenant.id}, 'admin_action', 'demo_data', ${JSON.stringify({ listings: options.listings })}::jsonb,
              ${JSON.stringify({ reason: 'demo data generated in bulk (row triggers suspended)', rows })}::jsonb)`);

      // Put back every index, constraint and trigger; each counts for a share of its table's rows.
      const restoreTotal = loadRows * 0.6;
      const weights = restore.map((s) => (s.phase === 5 ? 0 : (rows[s.table.replace(/^(public|app)\./, '')] ?? 1)));
      const weightSum = weights.reduce((a, b) => a + b, 0) || 1;
      const byPhase: Record<string, number> = {};
      for (const [n, s] of restore.entries()) {
        current = `restore ${s.kind} ${s.name}`;
        const started = performance.now();
        await restoreStep(tx, s);
        const ms = performance.now() - started;
        const phase = `restore ${PHASE_PLURALS[s.phase]}`;
        byPhase[phase] = (byPhase[phase] ?? 0) + ms;
        log.debug(
          { step: `demo: restore ${s.kind}`, name: s.name, table: s.table, ms: round(ms) },
          `demo: restored ${s.name}`,
        );
        done += (restoreTotal * (weights[n] ?? 0)) / weightSum;
        report();
      }
      for (const [phase, ms] of Object.entries(byPhase)) {
        steps[phase] = round(ms);
        log[level]({ step: `demo: ${phase}`, ms: round(ms) }, `demo: ${phase} done`);
      }

      // Runs the expiry job over the loaded ledger (with the rewards' triggers live again).
      rows.credit_ledger =
        (rows.credit_ledger ?? 0) + (await timed('expire lapsed referral credit', () => expireCredit(tx)));
      // A few hundred rows in app's table: loaded live, once the listings' keys are back.
      rows.listing_views = await timed('copy listing_views', () =>
        copyLines(
          tx,
          db.kind,
          ['app', 'listing_views'],
          VIEW_COLUMNS,
          viewRows(people, catalog, world.usage),
          progress,
        ),
      );
      if (hooks.finish) await hooks.finish(tx);
      done = total;
      current = 'commit';
      report(true);
      return { rows, steps };
    })
    .then(async (summary) => {
      if (!summary) return undefined;
      // Fresh statistics, so the planner sees a million listings as a million listings. Tables
      // that got a few hundred rows are left to the planner's size estimate: analyzing each
      // costs more than its statistics are worth at the default size on PGlite.
      const started = performance.now();
      for (const table of DEMO_TABLES) {
        if ((summary.rows[table] ?? 0) < ANALYZE_MIN_ROWS) continue;
        await db.query(sql`analyze ${sql.ident('public', table)}`);
      }
      summary.steps.analyze = round(performance.now() - started);
      log[level]({ step: 'demo: analyze', ms: summary.steps.analyze }, 'demo: analyze done');
      return summary;
    });
}

type World = ReturnType<typeof generate>;

function generate(ctx: Context) {
  const people = generatePeople(ctx);
  const catalog = generateCatalog(ctx, people);
  const bookings = generateBookings(ctx, people, catalog);
  const reschedules = generateReschedules(ctx, people, bookings);
  const reminders = generateReminders(ctx, bookings);
  for (let b = 0; b < bookings.count; b++) {
    if (finalStatus(bookings, b) === COMPLETED) {
      const u = people.providers[bookings.provider[b] as number] as number;
      people.jobsCompleted[u] = (people.jobsCompleted[u] as number) + 1;
    }
  }
  const reviews = generateReviews(ctx, people, bookings);
  const conversations = generateConversations(ctx, bookings, reschedules);
  const payments = generatePaymentMethods(ctx, people);
  const subscriptions = generateSubscriptions(ctx, people);
  const referrals = generateReferrals(ctx, people, bookings);
  const credit = spendCredit(ctx, people, bookings, referrals);
  const usage = generateUsage(ctx, people, catalog);
  return {
    people,
    catalog,
    bookings,
    reschedules,
    reminders,
    reviews,
    conversations,
    payments,
    subscriptions,
    referrals,
    credit,
    usage,
  };
}

function tablePlan(_ctx: Context, world: World): { table: string; estimate: number }[] {
  const { people, catalog, bookings, reviews, conversations, payments, subscriptions, referrals } = world;
  return [
    { table: 'users', estimate: people.count },
    { table: 'user_profiles', estimate: people.count },
    { table: 'user_addresses', estimate: people.addresses.count },
    { table: 'provider_availability', estimate: people.providers.length * 5 },
    { table: 'listings', estimate: catalog.count * 2 },
    { table: 'listing_tags', estimate: catalog.count * 1.2 },
    { table: 'bookings', estimate: bookings.count },
    { table: 'booking_idempotency_keys', estimate: bookings.count * 0.85 },
    { table: 'booking_reminders', estimate: world.reminders.count },
    { table: 'booking_status_history', estimate: bookings.count * 2.6 },
    { table: 'reviews', estimate: reviews.count },
    { table: 'review_votes', estimate: reviews.votes.count },
    { table: 'conversations', estimate: conversations.count * 3 },
    { table: 'messages', estimate: conversations.messageAt.length },
    { table: 'payment_methods', estimate: payments.count },
    { table: 'payments', estimate: bookings.count },
    { table: 'transactions', estimate: bookings.count * 1.3 + subscriptions.invoices.count },
    { table: 'referrals', estimate: referrals.codes.count + referrals.referrals.count * 3 },
    { table: 'credit_ledger', estimate: world.credit.grants.count + world.credit.moves.count },
    { table: 'user_sessions', estimate: world.usage.sessions.count },
    { table: 'events', estimate: world.usage.events.count },
  ];
}

const LISTING_COLUMNS = LISTING_STAGE_COLUMNS.filter((c) => !c.endsWith('_key'));

/**
 * Moves the staged listings into public.listings, with what the triggers would have kept:
 * search_vector exactly as app.listing_search_vector builds it (title A || description B ||
 * keywords and tag names C, each part computed once per distinct text), booking_count (every
 * booking ever made) and rating_average / review_count / rating_bayesian (public reviews of the
 * provider for this listing, as app.refresh_rating_aggregates computes them).
 */
async function insertListings(tx: Transaction): Promise<number> {
  const columns = sql.join(LISTING_COLUMNS.map((c) => sql.ident(c)));
  const staged = sql.join(LISTING_COLUMNS.map((c) => sql`s.${sql.ident(c)}`));
  const { rowCount } = await tx.query(sql`
    insert into public.listings (${columns}, search_vector, booking_count, review_count, rating_average, rating_bayesian)
    select ${staged}, a.vector || b.vector || c.vector, coalesce(bk.n, 0), coalesce(rv.n, 0), rv.average,
           app.rating_bayesian(rv.total, coalesce(rv.n, 0))
      from pg_temp.loconomy_demo_listings s
      join pg_temp.loconomy_demo_tsv a on a.kind = 'A' and a.key = s.title_key
      join pg_temp.loconomy_demo_tsv b on b.kind = 'B' and b.key = s.description_key
      join pg_temp.loconomy_demo_tsv c on c.kind = 'C' and c.key = s.keywords_key
      left join (select x.listing_id, count(*)::integer as n
                   from public.bookings x group by x.listing_id) bk on bk.listing_id = s.id
      left join (select r.listing_id, count(*)::integer as n, round(avg(r.rating), 2) as average, sum(r.rating) as total
                   from public.reviews r join pg_temp.loconomy_demo_listings l on l.id = r.listing_id
                  where r.is_public and r.reviewee_id = l.provider_id
                  group by r.listing_id) rv on rv.listing_id = s.id`);
  return rowCount;
}

/**
 * tags.usage_count, as listing_tags_after_change counts. One UPDATE per tag in physical order,
 * every tag included, so the tags keep their relative heap order (see tagSetIsOrderFree).
 */
async function updateTagCounts(tx: Transaction, ctx: Context): Promise<void> {
  const tags = [...ctx.ref.tags].sort((a, b) => a.heapRank - b.heapRank);
  const { rows } = await tx.query<{ tag_id: string; n: number }>(sql`
    select lt.tag_id, count(*)::integer as n
      from public.listing_tags lt join pg_temp.loconomy_demo_listings l on l.id = lt.listing_id
     group by lt.tag_id`);
  const counts = new Map(rows.map((r) => [r.tag_id, r.n]));
  for (const tag of tags) {
    await tx.query(
      sql`update public.tags set usage_count = usage_count + ${counts.get(tag.id) ?? 0}::integer where id = ${tag.id}`,
    );
  }
}

async function updateInvoiceCounters(tx: Transaction, ctx: Context, counters: Map<number, number>): Promise<void> {
  for (const [year, last] of counters) {
    await tx.query(sql`
      insert into app.invoice_counters as c (tenant_id, year, last_number) values (${ctx.ref.tenant.id}, ${year}, ${last})
      on conflict (tenant_id, year) do update set last_number = greatest(c.last_number, excluded.last_number)`);
  }
}

/**
 * app.booking_idempotency_keys of the staged requests, with create_booking's fingerprint: the
 * md5 of its arguments as jsonb — the listing, the start asked for (before any reschedule), the
 * duration in minutes, special requests, address, and use_credit at its default.
 */
async function insertIdempotencyKeys(tx: Transaction): Promise<number> {
  const { rowCount } = await tx.query(sql`
    insert into app.booking_idempotency_keys (customer_id, idempotency_key, fingerprint, booking_id, created_at)
    select b.customer_id, r.idempotency_key,
           md5(jsonb_build_object(
             'listing_id', b.listing_id,
             'starts_at', extract(epoch from coalesce((b.metadata ->> 'rescheduled_from')::timestamptz, b.starts_at)),
             'duration_minutes', (extract(epoch from b.ends_at - b.starts_at) / 60)::integer,
             'special_requests', b.special_requests, 'address_id', r.address_id, 'use_credit', true)::text),
           b.id, b.created_at
      from pg_temp.loconomy_demo_requests r join public.bookings b on b.id = r.booking_id`);
  return rowCount;
}
