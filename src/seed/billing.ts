import type { Transaction } from '../db/database.js';
import { sql } from '../db/sql.js';
import { type Bookings, CANCELLED, COMPLETED, DECLINED, EXPIRED, enteredAt, PATHS } from './bookings.js';
import type { Catalog } from './catalog.js';
import { type Context, roundDiv } from './context.js';
import { json, NULL, text } from './copy.js';
import { referralCode, stripeId, uuidFactory } from './ids.js';
import { bookingLedgerRows } from './payments.js';
import { type People, ROLE_PROVIDER } from './people.js';
import { DAY, HOUR, iso, isoDate, MINUTE } from './time.js';

/**
 * Money and growth: saved payment methods, the transaction ledger for paid bookings (payment,
 * payout, refund), a few provider subscriptions with their invoices, and the referral program
 * (codes, referrals completed by a first booking, and the rewards that completion creates).
 */

const EU = new Set(['DE', 'FR', 'ES', 'NL', 'IT', 'PT', 'SE']);
const BRANDS = ['visa', 'visa', 'visa', 'mastercard', 'mastercard', 'amex'];

export interface PaymentMethods {
  readonly count: number;
  /** Customer index. */
  readonly customer: Int32Array;
  readonly isDefault: Uint8Array;
  readonly seed: Uint32Array;
}

export function generatePaymentMethods(ctx: Context, people: People): PaymentMethods {
  const random = ctx.random('payment-methods');
  const customer: number[] = [];
  const isDefault: number[] = [];
  const seed: number[] = [];
  for (let j = 0; j < people.customers.length; j++) {
    if (!(j === 0 || random.chance(0.7))) continue;
    const n = random.chance(0.2) ? 2 : 1;
    for (let m = 0; m < n; m++) {
      customer.push(j);
      isDefault.push(m === 0 ? 1 : 0);
      seed.push(random.next32());
    }
    people.stripeCustomer[people.customers[j] as number] = 1;
  }
  for (let k = 0; k < people.providers.length; k++) {
    const u = people.providers[k] as number;
    if (people.status[u] === 0) people.stripeConnect[u] = 1;
  }
  return {
    count: customer.length,
    customer: Int32Array.from(customer),
    isDefault: Uint8Array.from(isDefault),
    seed: Uint32Array.from(seed),
  };
}

export const PAYMENT_METHOD_COLUMNS = [
  'id',
  'user_id',
  'tenant_id',
  'stripe_payment_method_id',
  'type',
  'card_brand',
  'card_last4',
  'card_exp_month',
  'card_exp_year',
  'billing_address',
  'is_default',
  'created_at',
  'updated_at',
] as const;

export function* paymentMethodRows(ctx: Context, people: People, methods: PaymentMethods): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('payment_methods');
  const year = new Date(ctx.anchor).getUTCFullYear();
  for (let m = 0; m < methods.count; m++) {
    const u = people.customers[methods.customer[m] as number] as number;
    const city = ctx.ref.cities[people.city[u] as number] as (typeof ctx.ref.cities)[number];
    const s = methods.seed[m] as number;
    const type =
      EU.has(city.country) && s % 4 === 0 ? 'sepa_debit' : s % 25 === 1 ? 'paypal' : s % 25 === 2 ? 'link' : 'card';
    const card = type === 'card';
    const created = iso((people.createdAt[u] as number) + (1 + (s % 30)) * DAY);
    yield `${id(m)}\t${people.id(u)}\t${tenant}\t${stripeId('pm', m)}\t${type}\t${card ? BRANDS[s % BRANDS.length] : NULL}\t${
      card ? String(s % 10_000).padStart(4, '0') : NULL
    }\t${card ? 1 + ((s >>> 4) % 12) : NULL}\t${card ? year + ((s >>> 8) % 6) : NULL}\t${json({
      city: city.name,
      country: city.country,
    })}\t${methods.isDefault[m] ? 't' : 'f'}\t${created}\t${created}\n`;
  }
}

// ---------------------------------------------------------------------------------------------
// Subscriptions and invoices
// ---------------------------------------------------------------------------------------------

const TIERS = [
  ['basic', 1900],
  ['professional', 4900],
  ['enterprise', 14900],
] as const;

export interface Subscriptions {
  readonly count: number;
  readonly id: (subscription: number) => string;
  readonly provider: Int32Array;
  readonly tier: Uint8Array;
  /** 0 active, 1 trialing, 2 past_due, 3 canceled. */
  readonly status: Uint8Array;
  readonly yearly: Uint8Array;
  readonly periodStart: Float64Array;
  readonly periodEnd: Float64Array;
  readonly createdAt: Float64Array;
  readonly canceledAt: Float64Array;
  readonly invoices: Invoices;
}

export interface Invoices {
  readonly count: number;
  readonly id: (invoice: number) => string;
  readonly subscription: Int32Array;
  /** Issue day (days since 1970-01-01). */
  readonly issued: Int32Array;
  /** 0 paid, 1 open, 2 draft. */
  readonly status: Uint8Array;
  readonly number: string[];
  readonly amount: Float64Array;
}

const SUBSCRIPTION_STATUSES = ['active', 'trialing', 'past_due', 'canceled'];
const INVOICE_STATUSES = ['paid', 'open', 'draft'];

export function generateSubscriptions(ctx: Context, people: People): Subscriptions {
  const random = ctx.random('subscriptions');
  const provider: number[] = [];
  const tier: number[] = [];
  const status: number[] = [];
  const yearly: number[] = [];
  const periodStart: number[] = [];
  const periodEnd: number[] = [];
  const createdAt: number[] = [];
  const canceledAt: number[] = [];
  const inv = { subscription: [] as number[], issued: [] as number[], status: [] as number[], amount: [] as number[] };
  for (let k = 0; k < people.providers.length; k++) {
    if (!(k === 0 || random.chance(0.08))) continue;
    const s = provider.length;
    const t = k === 0 ? 1 : random.weighted([55, 35, 10]);
    const st = k === 0 ? 0 : random.weighted([75, 8, 7, 10]);
    const year = st !== 1 && random.chance(0.15);
    const price = (TIERS[t]?.[1] ?? 1900) * (year ? 10 : 1);
    const length = year ? 365 * DAY : 30 * DAY;
    let start: number;
    let end: number;
    let canceled = Number.NaN;
    if (st === 3) {
      canceled = ctx.anchor - random.int(10, 90) * DAY;
      end = canceled;
      start = end - length;
    } else {
      start = ctx.anchor - random.int(1, year ? 300 : 28) * DAY;
      end = start + (st === 1 ? 14 * DAY : length);
    }
    const periods = st === 1 ? 0 : year ? 1 : random.int(1, 4);
    const created = start - Math.max(0, periods - 1) * length - random.int(0, 3) * DAY;
    provider.push(k);
    tier.push(t);
    status.push(st);
    yearly.push(year ? 1 : 0);
    periodStart.push(start);
    periodEnd.push(end);
    createdAt.push(created);
    canceledAt.push(canceled);
    for (let p = 0; p < periods; p++) {
      const issued = start - (periods - 1 - p) * length;
      const lastOne = p === periods - 1;
      inv.subscription.push(s);
      inv.issued.push(Math.floor(issued / DAY));
      inv.status.push(st === 2 && lastOne ? 1 : 0);
      inv.amount.push(price);
    }
    if (st === 1) {
      // A trial's first invoice is drafted for the day it ends.
      inv.subscription.push(s);
      inv.issued.push(Math.floor(end / DAY));
      inv.status.push(2);
      inv.amount.push(price);
    }
  }

  // Gapless numbers per year, continuing app.invoice_counters, in order of issue.
  const order = inv.issued
    .map((_, n) => n)
    .sort((a, b) => (inv.issued[a] as number) - (inv.issued[b] as number) || a - b);
  const number: string[] = new Array(order.length);
  const next = new Map<number, number>();
  for (const n of order) {
    const year = new Date((inv.issued[n] as number) * DAY).getUTCFullYear();
    const last = next.get(year) ?? ctx.ref.invoiceCounters.get(year) ?? 0;
    next.set(year, last + 1);
    number[n] = `INV-${year}-${String(last + 1).padStart(6, '0')}`;
  }

  return {
    count: provider.length,
    id: uuidFactory('subscriptions'),
    provider: Int32Array.from(provider),
    tier: Uint8Array.from(tier),
    status: Uint8Array.from(status),
    yearly: Uint8Array.from(yearly),
    periodStart: Float64Array.from(periodStart),
    periodEnd: Float64Array.from(periodEnd),
    createdAt: Float64Array.from(createdAt),
    canceledAt: Float64Array.from(canceledAt),
    invoices: {
      count: inv.subscription.length,
      id: uuidFactory('invoices'),
      subscription: Int32Array.from(inv.subscription),
      issued: Int32Array.from(inv.issued),
      status: Uint8Array.from(inv.status),
      number,
      amount: Float64Array.from(inv.amount),
    },
  };
}

/** The last invoice number used per year, for app.invoice_counters. */
export function invoiceCounters(subscriptions: Subscriptions): Map<number, number> {
  const counters = new Map<number, number>();
  for (const number of subscriptions.invoices.number) {
    const [, year, n] = number.split('-');
    counters.set(Number(year), Math.max(counters.get(Number(year)) ?? 0, Number(n)));
  }
  return counters;
}

/** The tiers' price list (subscription_plans): monthly, and yearly at ten months; professional has a 14-day trial. */
export const PLAN_COLUMNS = [
  'id',
  'tenant_id',
  'tier',
  'billing_interval',
  'name',
  'description',
  'currency',
  'price_cents',
  'trial_days',
  'features',
  'usage_limits',
  'created_at',
  'updated_at',
] as const;

const INTERVALS = ['month', 'year'] as const;
const planId = uuidFactory('subscription_plans');
const planOf = (t: number, year: boolean) => planId(t * 2 + (year ? 1 : 0));
const tierFeatures = (t: number) => ({ featured_listings: t + 1, priority_support: t > 0, analytics: t > 0 });
const tierLimits = (t: number) => ({ listings: [10, 50, 500][t] });

export function* planRows(ctx: Context): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  const created = iso(ctx.anchor - 400 * DAY);
  for (let t = 0; t < TIERS.length; t++) {
    const [tier, monthly] = TIERS[t] ?? TIERS[0];
    for (const interval of INTERVALS) {
      const name = `${tier.charAt(0).toUpperCase()}${tier.slice(1)}${interval === 'year' ? ' (yearly)' : ''}`;
      yield `${planOf(t, interval === 'year')}\t${tenant}\t${tier}\t${interval}\t${name}\t${text(
        `${[10, 50, 500][t]} listings, ${t + 1} featured`,
      )}\tUSD\t${monthly * (interval === 'year' ? 10 : 1)}\t${tier === 'professional' ? 14 : 0}\t${json(
        tierFeatures(t),
      )}\t${json(tierLimits(t))}\t${created}\t${created}\n`;
    }
  }
}

export const SUBSCRIPTION_COLUMNS = [
  'id',
  'user_id',
  'tenant_id',
  'plan_id',
  'stripe_subscription_id',
  'stripe_price_id',
  'tier',
  'status',
  'billing_interval',
  'price_cents',
  'currency',
  'current_period_start',
  'current_period_end',
  'trial_end',
  'canceled_at',
  'features',
  'usage_limits',
  'created_at',
  'updated_at',
] as const;

export function* subscriptionRows(ctx: Context, people: People, subscriptions: Subscriptions): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  for (let s = 0; s < subscriptions.count; s++) {
    const u = people.providers[subscriptions.provider[s] as number] as number;
    const t = subscriptions.tier[s] as number;
    const [tier, monthly] = TIERS[t] ?? TIERS[0];
    const year = subscriptions.yearly[s] === 1;
    const st = subscriptions.status[s] as number;
    const canceled = subscriptions.canceledAt[s] as number;
    const start = subscriptions.periodStart[s] as number;
    const end = subscriptions.periodEnd[s] as number;
    const created = subscriptions.createdAt[s] as number;
    yield `${subscriptions.id(s)}\t${people.id(u)}\t${tenant}\t${planOf(t, year)}\t${stripeId('sub', s)}\tprice_Demo_${tier}_${
      year ? 'year' : 'month'
    }\t${tier}\t${SUBSCRIPTION_STATUSES[st]}\t${year ? 'year' : 'month'}\t${monthly * (year ? 10 : 1)}\tUSD\t${iso(start)}\t${iso(
      end,
    )}\t${st === 1 ? iso(end) : NULL}\t${Number.isNaN(canceled) ? NULL : iso(canceled)}\t${json(
      tierFeatures(t),
    )}\t${json(tierLimits(t))}\t${iso(created)}\t${iso(Number.isNaN(canceled) ? start : canceled)}\n`;
  }
}

export const INVOICE_COLUMNS = [
  'id',
  'user_id',
  'tenant_id',
  'subscription_id',
  'invoice_number',
  'status',
  'currency',
  'subtotal_cents',
  'total_cents',
  'amount_paid_cents',
  'issued_on',
  'due_on',
  'paid_at',
  'stripe_invoice_id',
  'hosted_invoice_url',
  'created_at',
  'updated_at',
] as const;

function paidAt(invoices: Invoices, n: number): number {
  return (invoices.issued[n] as number) * DAY + 9 * HOUR + ((n * 7919) % 3600) * 1000;
}

export function* invoiceRows(ctx: Context, people: People, subscriptions: Subscriptions): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  const { invoices } = subscriptions;
  for (let n = 0; n < invoices.count; n++) {
    const s = invoices.subscription[n] as number;
    const u = people.providers[subscriptions.provider[s] as number] as number;
    const st = invoices.status[n] as number;
    const amount = invoices.amount[n] as number;
    const issued = invoices.issued[n] as number;
    const paid = st === 0 ? paidAt(invoices, n) : Number.NaN;
    const created = issued * DAY + 8 * HOUR;
    const stripe = stripeId('in', n);
    yield `${invoices.id(n)}\t${people.id(u)}\t${tenant}\t${subscriptions.id(s)}\t${invoices.number[n]}\t${
      INVOICE_STATUSES[st]
    }\tUSD\t${amount}\t${amount}\t${st === 0 ? amount : 0}\t${isoDate(issued)}\t${isoDate(issued + 14)}\t${
      Number.isNaN(paid) ? NULL : iso(paid)
    }\t${stripe}\thttps://invoice.stripe.com/i/${stripe}\t${iso(created)}\t${iso(Number.isNaN(paid) ? created : paid)}\n`;
  }
}

export const INVOICE_ITEM_COLUMNS = [
  'id',
  'invoice_id',
  'description',
  'quantity',
  'unit_price_cents',
  'total_cents',
  'created_at',
] as const;

export function* invoiceItemRows(subscriptions: Subscriptions): Generator<string> {
  const { invoices } = subscriptions;
  const id = uuidFactory('invoice_items');
  for (let n = 0; n < invoices.count; n++) {
    const s = invoices.subscription[n] as number;
    const [tier] = TIERS[subscriptions.tier[s] as number] ?? TIERS[0];
    const amount = invoices.amount[n] as number;
    const label = `Loconomy ${tier[0]?.toUpperCase()}${tier.slice(1)} plan (${subscriptions.yearly[s] ? 'yearly' : 'monthly'})`;
    yield `${id(n)}\t${invoices.id(n)}\t${text(label)}\t1\t${amount}\t${amount}\t${iso(
      (invoices.issued[n] as number) * DAY + 8 * HOUR,
    )}\n`;
  }
}

// ---------------------------------------------------------------------------------------------
// The ledger
// ---------------------------------------------------------------------------------------------

export const TRANSACTION_COLUMNS = [
  'id',
  'user_id',
  'tenant_id',
  'booking_id',
  'subscription_id',
  'type',
  'status',
  'amount_cents',
  'currency',
  'platform_fee_cents',
  'processing_fee_cents',
  'description',
  'stripe_payment_intent_id',
  'stripe_charge_id',
  'stripe_refund_id',
  'stripe_transfer_id',
  'processed_at',
  'metadata',
  'created_at',
  'updated_at',
  'payment_id',
  'idempotency_key',
] as const;

export interface LedgerCounts {
  rows: number;
}

/**
 * The bookings' money as migration 0040's workflow moves it (src/seed/payments.ts: payments,
 * transfers, refunds, reversals, payouts), then a payment for every paid subscription invoice.
 */
export function* transactionRows(
  ctx: Context,
  people: People,
  catalog: Catalog,
  bookings: Bookings,
  subscriptions: Subscriptions,
): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('transactions');
  let row = 0;
  yield* bookingLedgerRows(ctx, people, catalog, bookings, () => id(row++));
  const { invoices } = subscriptions;
  for (let n = 0; n < invoices.count; n++) {
    if (invoices.status[n] !== 0) continue;
    const s = invoices.subscription[n] as number;
    const u = people.providers[subscriptions.provider[s] as number] as number;
    const amount = invoices.amount[n] as number;
    const paid = iso(paidAt(invoices, n));
    yield `${id(row++)}\t${people.id(u)}\t${tenant}\t${NULL}\t${subscriptions.id(s)}\tpayment\tcompleted\t${amount}\tUSD\t0\t${Math.min(
      roundDiv(amount * 29, 1000) + 30,
      amount,
    )}\t${text(`Invoice ${invoices.number[n]}`)}\t${stripeId('pi_sub', n)}\t${stripeId('ch_sub', n)}\t${NULL}\t${NULL}\t${paid}\t{}\t${paid}\t${paid}\t${NULL}\t${NULL}\n`;
  }
}

// ---------------------------------------------------------------------------------------------
// Referrals
// ---------------------------------------------------------------------------------------------

export interface Referrals {
  /** Codes: owner user index and creation time. */
  readonly codes: { count: number; user: Int32Array; createdAt: Float64Array; uses: Int32Array };
  /** Referrals: referee customer index, code, time, first booking (or -1). */
  readonly referrals: {
    count: number;
    referee: Int32Array;
    code: Int32Array;
    createdAt: Float64Array;
    booking: Int32Array;
    completedAt: Float64Array;
    source: Uint8Array;
  };
}

const SOURCES = ['link', 'email', 'sms', 'qr_code', 'social'];

export function generateReferrals(ctx: Context, people: People, bookings: Bookings): Referrals {
  const empty = {
    codes: { count: 0, user: new Int32Array(0), createdAt: new Float64Array(0), uses: new Int32Array(0) },
    referrals: {
      count: 0,
      referee: new Int32Array(0),
      code: new Int32Array(0),
      createdAt: new Float64Array(0),
      booking: new Int32Array(0),
      completedAt: new Float64Array(0),
      source: new Uint8Array(0),
    },
  };
  const program = ctx.ref.program;
  if (!program) return empty;
  const random = ctx.random('referrals');
  const codeUser: number[] = [];
  const codeCreated: number[] = [];
  for (let u = 0; u < people.adminIndex; u++) {
    if (!(u === 0 || random.chance(people.role[u] === ROLE_PROVIDER ? 0.2 : 0.12))) continue;
    codeUser.push(u);
    codeCreated.push(Math.round(((people.createdAt[u] as number) + random.int(1, 10) * DAY) / 1000) * 1000);
  }
  const uses = new Int32Array(codeUser.length);
  const validity = (program.codeValidityDays ?? 100_000) * DAY;

  // A customer's first completed booking (when it completed) that meets the minimum spend.
  const firstQualifying = new Float64Array(people.customers.length).fill(Number.NaN);
  const firstBooking = new Int32Array(people.customers.length).fill(-1);
  for (let b = 0; b < bookings.count; b++) {
    if ((bookings.total[b] as number) < program.minimumSpendCents) continue;
    const done = enteredAt(bookings, b, COMPLETED);
    if (Number.isNaN(done)) continue;
    const j = bookings.customer[b] as number;
    const known = firstQualifying[j] as number;
    if (Number.isNaN(known) || done < known) {
      firstQualifying[j] = done;
      firstBooking[j] = b;
    }
  }

  const referee: number[] = [];
  const code: number[] = [];
  const createdAt: number[] = [];
  const booking: number[] = [];
  const completedAt: number[] = [];
  const source: number[] = [];
  if (codeUser.length > 0) {
    for (let j = 0; j < people.customers.length; j++) {
      if (!random.chance(0.1)) continue;
      const u = people.customers[j] as number;
      const joined = (people.createdAt[u] as number) + random.int(5, 120) * MINUTE;
      for (let attempt = 0; attempt < 8; attempt++) {
        const c = random.int(0, codeUser.length - 1);
        const opened = codeCreated[c] as number;
        if (codeUser[c] === u || opened >= joined || opened + validity <= joined) continue;
        if (program.maxUsesPerCode !== null && (uses[c] as number) >= program.maxUsesPerCode) continue;
        uses[c] = (uses[c] as number) + 1;
        const when = Math.round(joined / 1000) * 1000;
        const done = firstQualifying[j] as number;
        const completes = !Number.isNaN(done) && done > when;
        referee.push(j);
        code.push(c);
        createdAt.push(when);
        booking.push(completes ? (firstBooking[j] as number) : -1);
        completedAt.push(completes ? done : Number.NaN);
        source.push(random.int(0, SOURCES.length - 1));
        break;
      }
    }
  }
  return {
    codes: { count: codeUser.length, user: Int32Array.from(codeUser), createdAt: Float64Array.from(codeCreated), uses },
    referrals: {
      count: referee.length,
      referee: Int32Array.from(referee),
      code: Int32Array.from(code),
      createdAt: Float64Array.from(createdAt),
      booking: Int32Array.from(booking),
      completedAt: Float64Array.from(completedAt),
      source: Uint8Array.from(source),
    },
  };
}

export const REFERRAL_CODE_COLUMNS = [
  'id',
  'user_id',
  'tenant_id',
  'program_id',
  'code',
  'uses_count',
  'max_uses',
  'is_active',
  'expires_at',
  'created_at',
  'updated_at',
] as const;

export function* referralCodeRows(ctx: Context, people: People, referrals: Referrals): Generator<string> {
  const program = ctx.ref.program;
  if (!program) return;
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('referral_codes');
  const { codes } = referrals;
  for (let c = 0; c < codes.count; c++) {
    const created = codes.createdAt[c] as number;
    const expires = program.codeValidityDays === null ? NULL : iso(created + program.codeValidityDays * DAY);
    yield `${id(c)}\t${people.id(codes.user[c] as number)}\t${tenant}\t${program.id}\t${referralCode(c)}\t${codes.uses[c]}\t${
      program.maxUsesPerCode ?? NULL
    }\tt\t${expires}\t${iso(created)}\t${iso(created)}\n`;
  }
}

export const REFERRAL_COLUMNS = [
  'id',
  'tenant_id',
  'referrer_id',
  'referee_id',
  'program_id',
  'code_id',
  'status',
  'source',
  'first_booking_id',
  'completed_at',
  'created_at',
  'updated_at',
] as const;

export function* referralRows(
  ctx: Context,
  people: People,
  bookings: Bookings,
  referrals: Referrals,
): Generator<string> {
  const program = ctx.ref.program;
  if (!program) return;
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('referrals');
  const codeId = uuidFactory('referral_codes');
  const r = referrals.referrals;
  for (let n = 0; n < r.count; n++) {
    const c = r.code[n] as number;
    const b = r.booking[n] as number;
    const done = r.completedAt[n] as number;
    const created = r.createdAt[n] as number;
    yield `${id(n)}\t${tenant}\t${people.id(referrals.codes.user[c] as number)}\t${people.id(
      people.customers[r.referee[n] as number] as number,
    )}\t${program.id}\t${codeId(c)}\t${b >= 0 ? 'completed' : 'pending'}\t${SOURCES[r.source[n] as number]}\t${
      b >= 0 ? bookings.id(b) : NULL
    }\t${b >= 0 ? iso(done) : NULL}\t${iso(created)}\t${iso(b >= 0 ? done : created)}\n`;
  }
}

export const REWARD_COLUMNS = [
  'id',
  'referral_id',
  'user_id',
  'tenant_id',
  'reward_type',
  'amount_cents',
  'currency',
  'status',
  'credited_at',
  'expires_at',
  'created_at',
  'updated_at',
] as const;

/** What referrals_after_update creates when a referral completes, then credited a day later. */
export function* rewardRows(ctx: Context, people: People, referrals: Referrals): Generator<string> {
  const program = ctx.ref.program;
  if (!program) return;
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('referral_rewards');
  const referralId = uuidFactory('referrals');
  const r = referrals.referrals;
  let row = 0;
  for (let n = 0; n < r.count; n++) {
    if ((r.booking[n] as number) < 0) continue;
    const done = r.completedAt[n] as number;
    const expires = program.rewardValidityDays === null ? Number.NaN : done + program.rewardValidityDays * DAY;
    const credited = done + DAY;
    const isCredited = credited < ctx.anchor - MINUTE;
    const status = isCredited ? 'credited' : !Number.isNaN(expires) && expires < ctx.anchor ? 'expired' : 'pending';
    const parties: [number, number][] = [
      [referrals.codes.user[r.code[n] as number] as number, program.referrerRewardCents],
      [people.customers[r.referee[n] as number] as number, program.refereeRewardCents],
    ];
    for (const [u, amount] of parties) {
      if (amount <= 0) continue;
      yield `${id(row++)}\t${referralId(n)}\t${people.id(u)}\t${tenant}\t${program.rewardType}\t${amount}\t${program.currency}\t${status}\t${
        isCredited ? iso(credited) : NULL
      }\t${Number.isNaN(expires) ? NULL : iso(expires)}\t${iso(done)}\t${iso(isCredited ? credited : done)}\n`;
    }
  }
}

/**
 * The expiry job, run once after the ledger is loaded: credit left in lapsed lots is expired
 * and its reward says so (public.expire_referral_rewards). Returns the ledger rows written.
 */
export async function expireCredit(tx: Transaction): Promise<number> {
  const { rows } = await tx.query<{ expired: { credit_rows_expired: number } }>(
    sql`select public.expire_referral_rewards() as expired`,
  );
  return rows[0]?.expired.credit_rows_expired ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Referral credit (the 0019 ledger)
// ---------------------------------------------------------------------------------------------

export interface Credit {
  /** Grants: one per credited credit reward (its reward row), a lot with the reward's expiry. */
  readonly grants: {
    count: number;
    user: Int32Array;
    reward: Int32Array;
    amount: Float64Array;
    createdAt: Float64Array;
    expiresAt: Float64Array;
  };
  /** Spends (negative) and returns (positive) of a lot by a booking. */
  readonly moves: {
    count: number;
    grant: Int32Array;
    booking: Int32Array;
    amount: Float64Array;
    createdAt: Float64Array;
  };
}

/**
 * Referral credit, as the workflows move it: each credited reward is a grant; a customer's
 * later booking in the reward's currency spends what is left (app.spend_credit: soonest-expiring
 * lot first), lowering its total (create_booking: discount_cents); a booking cancelled, declined
 * or expired gives it back (app.return_credit). A booking the credit would pay in full, and a
 * referral's qualifying first booking, are booked without credit (use_credit: false), so totals
 * stay positive and referrals stay qualified. Returned credit is not spent again. Runs after
 * generateReferrals; changes bookings.discount and bookings.total.
 */
export function spendCredit(ctx: Context, people: People, bookings: Bookings, referrals: Referrals): Credit {
  const program = ctx.ref.program;
  const grants = {
    user: [] as number[],
    reward: [] as number[],
    amount: [] as number[],
    createdAt: [] as number[],
    expiresAt: [] as number[],
  };
  const moves = { grant: [] as number[], booking: [] as number[], amount: [] as number[], createdAt: [] as number[] };
  const pack = () => ({
    grants: {
      count: grants.user.length,
      user: Int32Array.from(grants.user),
      reward: Int32Array.from(grants.reward),
      amount: Float64Array.from(grants.amount),
      createdAt: Float64Array.from(grants.createdAt),
      expiresAt: Float64Array.from(grants.expiresAt),
    },
    moves: {
      count: moves.grant.length,
      grant: Int32Array.from(moves.grant),
      booking: Int32Array.from(moves.booking),
      amount: Float64Array.from(moves.amount),
      createdAt: Float64Array.from(moves.createdAt),
    },
  });
  if (!program) return pack();
  // The reward rows in rewardRows' order; the credited credit ones become grants.
  const r = referrals.referrals;
  const lotsOf = new Map<number, number[]>();
  let row = 0;
  for (let n = 0; n < r.count; n++) {
    if ((r.booking[n] as number) < 0) continue;
    const done = r.completedAt[n] as number;
    const credited = done + DAY;
    const expires = program.rewardValidityDays === null ? Number.NaN : done + program.rewardValidityDays * DAY;
    const parties: [number, number][] = [
      [referrals.codes.user[r.code[n] as number] as number, program.referrerRewardCents],
      [people.customers[r.referee[n] as number] as number, program.refereeRewardCents],
    ];
    for (const [u, amount] of parties) {
      if (amount <= 0) continue;
      const reward = row++;
      if (program.rewardType !== 'credit' || credited >= ctx.anchor - MINUTE) continue;
      const g = grants.user.length;
      grants.user.push(u);
      grants.reward.push(reward);
      grants.amount.push(amount);
      grants.createdAt.push(credited);
      grants.expiresAt.push(expires);
      const list = lotsOf.get(u) ?? [];
      list.push(g);
      lotsOf.set(u, list);
    }
  }
  if (grants.user.length === 0) return pack();
  const remaining = Float64Array.from(grants.amount);
  const firstBookings = new Set<number>(r.booking);
  const order = Array.from({ length: bookings.count }, (_, b) => b).sort(
    (a, b) => (bookings.createdAt[a] as number) - (bookings.createdAt[b] as number) || a - b,
  );
  for (const b of order) {
    const lots = lotsOf.get(people.customers[bookings.customer[b] as number] as number);
    if (!lots || firstBookings.has(b)) continue;
    const pu = people.providers[bookings.provider[b] as number] as number;
    if ((ctx.ref.cities[people.city[pu] as number] as (typeof ctx.ref.cities)[number]).currency !== program.currency)
      continue;
    const created = bookings.createdAt[b] as number;
    const usable = lots
      .filter((g) => {
        const expires = grants.expiresAt[g] as number;
        return (remaining[g] as number) > 0 && (grants.createdAt[g] as number) < created && !(expires <= created);
      })
      .sort(
        (x, y) =>
          (Number.isNaN(grants.expiresAt[x] as number) ? Infinity : (grants.expiresAt[x] as number)) -
            (Number.isNaN(grants.expiresAt[y] as number) ? Infinity : (grants.expiresAt[y] as number)) ||
          (grants.createdAt[x] as number) - (grants.createdAt[y] as number) ||
          x - y,
      );
    const available = usable.reduce((sum, g) => sum + (remaining[g] as number), 0);
    const total = bookings.total[b] as number;
    if (available === 0 || available >= total) continue;
    // Given back when the booking will not happen.
    const path = PATHS[bookings.path[b] as number] as readonly number[];
    const end = path.find((st) => st === CANCELLED || st === DECLINED || st === EXPIRED);
    const returnedAt = end === undefined ? Number.NaN : enteredAt(bookings, b, end);
    for (const g of usable) {
      const take = remaining[g] as number;
      remaining[g] = 0;
      moves.grant.push(g);
      moves.booking.push(b);
      moves.amount.push(-take);
      moves.createdAt.push(created);
      if (!Number.isNaN(returnedAt)) {
        moves.grant.push(g);
        moves.booking.push(b);
        moves.amount.push(take);
        moves.createdAt.push(returnedAt);
      }
    }
    bookings.discount[b] = available;
    bookings.total[b] = total - available;
  }
  return pack();
}

export const CREDIT_COLUMNS = [
  'id',
  'tenant_id',
  'user_id',
  'currency',
  'amount_cents',
  'reason',
  'credit_id',
  'referral_reward_id',
  'booking_id',
  'expires_at',
  'note',
  'created_at',
] as const;

/** The grants, then the spends and returns, as credit_ledger rows. */
export function* creditRows(ctx: Context, people: People, bookings: Bookings, credit: Credit): Generator<string> {
  const program = ctx.ref.program;
  if (!program) return;
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('credit_ledger');
  const rewardId = uuidFactory('referral_rewards');
  const { grants, moves } = credit;
  for (let g = 0; g < grants.count; g++) {
    const expires = grants.expiresAt[g] as number;
    yield `${id(g)}\t${tenant}\t${people.id(grants.user[g] as number)}\t${program.currency}\t${grants.amount[g]}\treferral_reward\t${NULL}\t${rewardId(
      grants.reward[g] as number,
    )}\t${NULL}\t${Number.isNaN(expires) ? NULL : iso(expires)}\tReferral reward\t${iso(grants.createdAt[g] as number)}\n`;
  }
  for (let m = 0; m < moves.count; m++) {
    const g = moves.grant[m] as number;
    const amount = moves.amount[m] as number;
    yield `${id(grants.count + m)}\t${tenant}\t${people.id(grants.user[g] as number)}\t${program.currency}\t${amount}\t${
      amount < 0 ? 'booking_spend' : 'booking_return'
    }\t${id(g)}\t${NULL}\t${bookings.id(moves.booking[m] as number)}\t${NULL}\t${NULL}\t${iso(moves.createdAt[m] as number)}\n`;
  }
}
