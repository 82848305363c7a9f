import type Stripe from 'stripe';
import { sql } from '../../../db/sql.js';
import { recordCapture } from '../capture.js';
import { applyPaymentIntent } from '../events/payment-intent.js';
import { applyRefunds } from '../refund.js';
import type { CheckContext, Finding } from './index.js';

/*
 * Booking payments: each payment with a PaymentIntent, still open or changed since `since`,
 * against the intent and its refunds at Stripe. Stripe moving further than Loconomy (an
 * authorisation, capture, cancellation or refund whose event was lost) is applied forward
 * through the movement functions; Loconomy ahead of Stripe, or amounts that disagree, is a
 * person's call (money would have to move at Stripe or a movement be undone).
 */

interface LocalPayment {
  readonly id: string;
  readonly status: string;
  readonly stripe_payment_intent_id: string;
  readonly captured_cents: number;
  /** The refund keys recorded (Stripe refund ids, or dispute:<id> for lost disputes). */
  readonly refund_keys: string[];
}

/** Where a payment stands, by the PaymentIntent status that matches it. */
const EXPECTED: Record<string, readonly string[]> = {
  requires_payment_method: ['requires_payment', 'failed'],
  requires_confirmation: ['requires_payment', 'failed'],
  requires_action: ['requires_payment', 'failed'],
  processing: ['requires_payment', 'failed'],
  requires_capture: ['authorised'],
  canceled: ['voided'],
  succeeded: ['captured', 'partially_refunded', 'refunded'],
};

/** Payments app.stripe_apply_payment_intent moves forward for each intent status. */
const APPLIES: Record<string, readonly string[]> = {
  requires_payment_method: ['requires_payment'], // a decline: failed
  requires_capture: ['requires_payment', 'failed'],
  canceled: ['requires_payment', 'authorised', 'failed'],
};

export async function* checkPayments(ctx: CheckContext): AsyncIterable<Finding> {
  const { rows } = await ctx.db.query<LocalPayment>(sql`
    select p.id, p.status::text as status, p.stripe_payment_intent_id, p.captured_cents::int as captured_cents,
           coalesce(array_agg(t.metadata ->> 'refund_key') filter (where t.id is not null), '{}') as refund_keys
      from public.payments p
      left join public.transactions t on t.payment_id = p.id and t.type::text = 'refund'
     where p.stripe_payment_intent_id is not null
       and (p.status in ('requires_payment', 'authorised') or p.updated_at >= ${ctx.since.toISOString()}::timestamptz)
     group by p.id
     order by p.created_at`);
  for (const local of rows) {
    ctx.count('payment');
    const piId = local.stripe_payment_intent_id;
    let intent: Stripe.PaymentIntent;
    try {
      intent = await ctx.stripe.paymentIntents.retrieve(piId);
    } catch (error) {
      if ((error as { code?: string }).code !== 'resource_missing') throw error;
      yield { kind: 'payment', stripeId: piId, loconomyId: local.id, what: 'Stripe has no such PaymentIntent' };
      continue;
    }
    yield* compareIntent(ctx, local, intent);
    if (intent.status === 'succeeded') yield* compareRefunds(ctx, local, intent);
  }
}

async function* compareIntent(
  ctx: CheckContext,
  local: LocalPayment,
  intent: Stripe.PaymentIntent,
): AsyncIterable<Finding> {
  const base = { kind: 'payment', stripeId: intent.id, loconomyId: local.id };
  const expected = EXPECTED[intent.status] ?? [];
  if (!expected.includes(local.status)) {
    const what = `${local.status} here, ${intent.status} at Stripe`;
    if (APPLIES[intent.status]?.includes(local.status)) {
      // A decline without an error is a customer still choosing a card: nothing to apply.
      if (intent.status !== 'requires_payment_method' || intent.last_payment_error) {
        yield { ...base, what, fix: () => applyPaymentIntent(ctx.db, intent, null, 0) };
      }
    } else if (intent.status === 'succeeded' && local.status === 'authorised') {
      yield { ...base, what, fix: () => recordCapture(ctx.db, ctx.stripe, local.id, intent) };
    } else {
      yield { ...base, what };
    }
    return;
  }
  if (intent.status === 'succeeded' && intent.amount_received !== local.captured_cents) {
    yield { ...base, what: `${local.captured_cents} captured here, ${intent.amount_received} at Stripe` };
  }
}

async function* compareRefunds(
  ctx: CheckContext,
  local: LocalPayment,
  intent: Stripe.PaymentIntent,
): AsyncIterable<Finding> {
  const recorded = new Set(local.refund_keys);
  const atStripe = new Set<string>();
  for await (const refund of ctx.stripe.refunds.list({ payment_intent: intent.id, limit: 100 })) {
    ctx.count('refund');
    if (refund.status !== 'succeeded') continue;
    atStripe.add(refund.id);
    if (recorded.has(refund.id)) continue;
    yield {
      kind: 'refund',
      stripeId: refund.id,
      loconomyId: local.id,
      what: `a refund of ${refund.amount} ${refund.currency.toUpperCase()} at Stripe, not recorded here`,
      fix: () => applyRefunds(ctx.db, [refund], null, 0),
    };
  }
  for (const key of recorded) {
    if (key.startsWith('re_') && !atStripe.has(key)) {
      yield {
        kind: 'refund',
        stripeId: key,
        loconomyId: local.id,
        what: 'recorded here, not a succeeded refund at Stripe',
      };
    }
  }
}
