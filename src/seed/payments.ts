import {
  type Bookings,
  CANCELLED,
  COMPLETED,
  CONFIRMED,
  DECLINED,
  EXPIRED,
  finalStatus,
  IN_PROGRESS,
  NO_SHOW,
  PATHS,
  REFUNDED,
  refundOf,
} from './bookings.js';
import type { Catalog } from './catalog.js';
import { type Context, roundDiv } from './context.js';
import { json, NULL, text } from './copy.js';
import { confirmationCode, uuidFactory } from './ids.js';
import type { People } from './people.js';
import { DAY, iso, MINUTE } from './time.js';

/**
 * Each booking's payment and the ledger rows of its money, as migration 0040's workflow writes
 * them in an offline marketplace (the demo's): the payment is made with the booking, authorised
 * when it is confirmed, captured when it is completed or marked a no-show; a cancellation of an
 * authorised payment captures the part its refund_cents keeps (the application fee in
 * proportion) and releases the rest, one of captured money refunds it (fee refunded and
 * transfer reversed in proportion); decline and expiry void; a manager's refund returns what
 * remains. Providers are paid out by bank transfer two days after each completed booking
 * (record_payout's rows). Amounts are prorated half up on the running total, as
 * app.prorate does, so the demo's ledger adds up exactly like the workflow's.
 */

const paymentId = uuidFactory('payments');

/** What the workflow left on a booking's payment. */
interface Settlement {
  status: string;
  amount: number;
  fee: number;
  share: number;
  shortfall: number;
  authorised: number;
  captured: number;
  capturedFee: number;
  refunded: number;
  feeRefunded: number;
  reversed: number;
  authorisedAt: number;
  capturedAt: number;
  voidedAt: number;
  refundedAt: number;
  updatedAt: number;
  /** Refunds in order: key, when, amount, fee refunded, transfer reversed. */
  refunds: { key: string; at: number; amount: number; fee: number; reversed: number }[];
}

const prorate = (part: number, numerator: number, denominator: number) =>
  denominator === 0 ? 0 : roundDiv(part * numerator, denominator);

/** Replays the booking's path through app.bookings_move_money. */
export function settle(catalog: Catalog, bookings: Bookings, b: number): Settlement {
  const total = bookings.total[b] as number;
  const payout = (bookings.base[b] as number) - (bookings.platform[b] as number);
  const fee = Math.max(total - payout, 0);
  const created = bookings.createdAt[b] as number;
  const s: Settlement = {
    status: 'requires_payment',
    amount: total,
    fee,
    share: total - fee,
    shortfall: Math.max(payout - total, 0),
    authorised: 0,
    captured: 0,
    capturedFee: 0,
    refunded: 0,
    feeRefunded: 0,
    reversed: 0,
    authorisedAt: Number.NaN,
    capturedAt: Number.NaN,
    voidedAt: Number.NaN,
    refundedAt: Number.NaN,
    updatedAt: created,
    refunds: [],
  };
  const capture = (amount: number, at: number) => {
    s.status = 'captured';
    s.captured = amount;
    s.capturedFee = prorate(s.fee, amount, s.amount);
    s.capturedAt = at;
    s.updatedAt = at;
  };
  const refund = (amount: number, key: string, at: number) => {
    const feeNow = prorate(s.capturedFee, s.refunded + amount, s.captured) - s.feeRefunded;
    s.refunds.push({ key, at, amount, fee: feeNow, reversed: amount - feeNow });
    s.refunded += amount;
    s.feeRefunded += feeNow;
    s.reversed += amount - feeNow;
    s.status = s.refunded === s.captured ? 'refunded' : 'partially_refunded';
    s.refundedAt = at;
    s.updatedAt = at;
  };
  const voided = (at: number) => {
    s.status = 'voided';
    s.voidedAt = at;
    s.updatedAt = at;
  };
  const path = PATHS[bookings.path[b] as number] as readonly number[];
  for (let j = 0; j < path.length; j++) {
    const status = path[j] as number;
    const at = j === 0 ? created : (bookings.times[b * 4 + j - 1] as number);
    const captured = s.status === 'captured' || s.status === 'partially_refunded';
    if (status === CONFIRMED || status === IN_PROGRESS) {
      if (s.status === 'requires_payment') {
        s.status = 'authorised';
        s.authorised = total;
        s.authorisedAt = at;
        s.updatedAt = at;
      }
    } else if (status === COMPLETED || status === NO_SHOW) {
      if (s.status === 'authorised') capture(s.authorised, at);
    } else if (status === CANCELLED) {
      const back = refundOf(catalog, bookings, b).cents;
      if (captured) {
        if (back > 0) refund(Math.min(back, s.captured - s.refunded), 'cancellation', at);
      } else if (s.status === 'authorised') {
        const kept = s.authorised - Math.min(back, s.authorised);
        if (kept > 0) capture(kept, at);
        else voided(at);
      } else {
        voided(at);
      }
    } else if (status === DECLINED || status === EXPIRED) {
      voided(at);
    } else if (status === REFUNDED) {
      if (captured && s.captured > s.refunded) refund(s.captured - s.refunded, 'booking_refunded', at);
    }
  }
  return s;
}

export const PAYMENT_COLUMNS = [
  'id',
  'booking_id',
  'tenant_id',
  'customer_id',
  'provider_id',
  'method',
  'status',
  'currency',
  'amount_cents',
  'application_fee_cents',
  'provider_amount_cents',
  'credit_shortfall_cents',
  'authorised_cents',
  'captured_cents',
  'captured_fee_cents',
  'refunded_cents',
  'application_fee_refunded_cents',
  'transfer_reversed_cents',
  'authorised_at',
  'captured_at',
  'voided_at',
  'refunded_at',
  'created_at',
  'updated_at',
] as const;

const at = (ms: number) => (Number.isNaN(ms) ? NULL : iso(ms));

function currencyOf(ctx: Context, people: People, bookings: Bookings, b: number): string {
  const pu = people.providers[bookings.provider[b] as number] as number;
  return (ctx.ref.cities[people.city[pu] as number] as (typeof ctx.ref.cities)[number]).currency;
}

export function* paymentRows(ctx: Context, people: People, catalog: Catalog, bookings: Bookings): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  for (let b = 0; b < bookings.count; b++) {
    const s = settle(catalog, bookings, b);
    const pu = people.providers[bookings.provider[b] as number] as number;
    const cu = people.customers[bookings.customer[b] as number] as number;
    yield `${paymentId(b)}\t${bookings.id(b)}\t${tenant}\t${people.id(cu)}\t${people.id(pu)}\toffline\t${s.status}\t${currencyOf(
      ctx,
      people,
      bookings,
      b,
    )}\t${s.amount}\t${s.fee}\t${s.share}\t${s.shortfall}\t${s.authorised}\t${s.captured}\t${s.capturedFee}\t${
      s.refunded
    }\t${s.feeRefunded}\t${s.reversed}\t${at(s.authorisedAt)}\t${at(s.capturedAt)}\t${at(s.voidedAt)}\t${at(
      s.refundedAt,
    )}\t${iso(bookings.createdAt[b] as number)}\t${iso(s.updatedAt)}\n`;
  }
}

/**
 * The bookings' ledger rows in TRANSACTION_COLUMNS order (billing.ts): per captured payment the
 * customer's payment and the provider's transfer, per refund the refund and the reversal, and
 * a payout for each booking that ended completed, two days later if that has passed.
 */
export function* bookingLedgerRows(
  ctx: Context,
  people: People,
  catalog: Catalog,
  bookings: Bookings,
  nextId: () => string,
): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  const latest = ctx.anchor - MINUTE;
  const row = (
    user: string,
    booking: string,
    payment: string,
    type: string,
    status: string,
    amount: number,
    currency: string,
    fee: number,
    description: string,
    metadata: Record<string, unknown>,
    key: string,
    when: number,
    updated = when,
  ) =>
    `${nextId()}\t${user}\t${tenant}\t${booking}\t${NULL}\t${type}\t${status}\t${amount}\t${currency}\t${fee}\t0\t${text(
      description,
    )}\t${NULL}\t${NULL}\t${NULL}\t${NULL}\t${iso(when)}\t${json(metadata)}\t${iso(when)}\t${iso(updated)}\t${payment}\t${key}\n`;
  for (let b = 0; b < bookings.count; b++) {
    const s = settle(catalog, bookings, b);
    if (s.captured === 0) continue;
    const pu = people.providers[bookings.provider[b] as number] as number;
    const cu = people.customers[bookings.customer[b] as number] as number;
    const customer = people.id(cu);
    const provider = people.id(pu);
    const booking = bookings.id(b);
    const pay = paymentId(b);
    const currency = currencyOf(ctx, people, bookings, b);
    const code = confirmationCode(b);
    const title = catalog.titles.texts[catalog.titleKey[bookings.listing[b] as number] as number] as string;
    yield row(
      customer,
      booking,
      pay,
      'payment',
      s.status === 'refunded' ? 'refunded' : 'completed',
      s.captured,
      currency,
      s.capturedFee,
      `Booking ${code}: ${title}`,
      { method: 'offline', authorised_cents: s.authorised, released_cents: s.authorised - s.captured },
      `payment:${pay}:capture`,
      s.capturedAt,
      s.status === 'refunded' ? s.refundedAt : s.capturedAt,
    );
    if (s.captured > s.capturedFee) {
      yield row(
        provider,
        booking,
        pay,
        'transfer',
        'completed',
        s.captured - s.capturedFee,
        currency,
        0,
        `Your share of booking ${code}`,
        { method: 'offline' },
        `payment:${pay}:transfer`,
        s.capturedAt,
      );
    }
    for (const r of s.refunds) {
      yield row(
        customer,
        booking,
        pay,
        'refund',
        'completed',
        r.amount,
        currency,
        r.fee,
        `Refund for booking ${code}`,
        {
          method: 'offline',
          refund_key: r.key,
          application_fee_refunded_cents: r.fee,
          transfer_reversed_cents: r.reversed,
        },
        `payment:${pay}:refund:${r.key}`,
        r.at,
      );
      if (r.reversed > 0) {
        yield row(
          provider,
          booking,
          pay,
          'transfer_reversal',
          'completed',
          r.reversed,
          currency,
          0,
          `Refund for booking ${code}: your share taken back`,
          { method: 'offline', refund_key: r.key },
          `payment:${pay}:reversal:${r.key}`,
          r.at,
        );
      }
    }
    if (finalStatus(bookings, b) === COMPLETED) {
      const paidAt = s.capturedAt + 2 * DAY;
      const owed = s.captured - s.capturedFee - s.reversed;
      if (paidAt < latest && owed > 0) {
        yield `${nextId()}\t${provider}\t${tenant}\t${NULL}\t${NULL}\tpayout\tcompleted\t${owed}\t${currency}\t0\t0\t${text(
          'Payout (bank transfer)',
        )}\t${NULL}\t${NULL}\t${NULL}\t${NULL}\t${iso(paidAt)}\t${json({
          method: 'bank_transfer',
          reference: code,
          recorded_by: null,
        })}\t${iso(paidAt)}\t${iso(paidAt)}\t${NULL}\tpayout:${provider}:demo-${code}\n`;
      }
    }
  }
}
