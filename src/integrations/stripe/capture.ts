import type Stripe from 'stripe';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';

/*
 * The booking's moves reach Stripe through two jobs, enqueued by app.bookings_stripe_jobs in the
 * booking's transaction (migration 0042): capture (all at completion, or the part a cancellation
 * keeps) and cancel (nothing taken). Each repeats the same request under the same idempotency
 * key when retried, and records Stripe's answer through the movement functions, which are
 * idempotent: a job that runs twice moves money once.
 */

interface PaymentForJob {
  readonly payment_id: string;
  readonly booking_id: string;
  readonly status: string;
  readonly stripe_payment_intent_id: string | null;
}

const asService = <T>(db: Database, query: ReturnType<typeof sql>) =>
  db.asRole('service_role', { role: 'service_role' }, (tx) => tx.last<T>(query));

async function paymentForJob(db: Database, paymentId: string): Promise<PaymentForJob | undefined> {
  const { rows } = await asService<PaymentForJob>(db, sql`select * from app.stripe_payment_for_job(${paymentId})`);
  return rows[0];
}

const idOf = (value: string | { id: string } | null | undefined): string | null =>
  value === null || value === undefined ? null : typeof value === 'string' ? value : value.id;

/** Stripe's error for an operation on a PaymentIntent that is already past it, with the intent. */
function unexpectedState(error: unknown): Stripe.PaymentIntent | undefined {
  const e = error as { code?: string; raw?: { payment_intent?: Stripe.PaymentIntent } };
  return e.code === 'payment_intent_unexpected_state' ? e.raw?.payment_intent : undefined;
}

/**
 * stripe.capture_payment: captures `amountCents` of the authorised PaymentIntent with
 * `applicationFeeCents` (the platform's share of that part), then records the capture.
 */
export async function capturePayment(
  db: Database,
  stripe: Stripe,
  paymentId: string,
  amountCents: number,
  applicationFeeCents: number,
): Promise<Record<string, unknown>> {
  const p = await paymentForJob(db, paymentId);
  if (p === undefined || p.stripe_payment_intent_id === null) return { outcome: 'missing' };
  if (p.status !== 'authorised') return { outcome: 'skipped', status: p.status };
  let intent: Stripe.PaymentIntent;
  try {
    intent = await stripe.paymentIntents.capture(
      p.stripe_payment_intent_id,
      { amount_to_capture: amountCents, application_fee_amount: applicationFeeCents },
      { idempotencyKey: `booking:${p.booking_id}:capture` },
    );
  } catch (error) {
    // Captured by an earlier attempt whose answer was lost (a different key would not be replayed).
    const current = unexpectedState(error);
    if (current?.status !== 'succeeded') throw error;
    intent = current;
  }
  return { outcome: 'captured', ...(await recordCapture(db, stripe, p.payment_id, intent)) };
}

/**
 * Records a succeeded PaymentIntent's capture as its charge has it (amount, application fee,
 * transfer and, when Stripe reports one, the processing fee of its balance transaction). Used by
 * the capture job and by the reconciler for a capture Loconomy did not record.
 */
export async function recordCapture(
  db: Database,
  stripe: Stripe,
  paymentId: string,
  intent: Stripe.PaymentIntent,
): Promise<{ amount_cents: number; application_fee_cents: number; status: string | undefined }> {
  const chargeId = idOf(intent.latest_charge);
  if (chargeId === null) throw new Error(`PaymentIntent ${intent.id} was captured without a charge`);
  const charge = await stripe.charges.retrieve(chargeId, { expand: ['balance_transaction'] });
  const balance = charge.balance_transaction;
  const processing = balance !== null && typeof balance === 'object' ? balance.fee : 0;
  const captured = charge.amount_captured;
  const fee = charge.application_fee_amount ?? 0;
  const { rows } = await asService<{ status: string }>(
    db,
    sql`select (app.payment_capture(${paymentId}, ${captured}, ${charge.id}, ${idOf(charge.transfer)},
                                    ${processing}, ${fee})).status::text as status`,
  );
  return { amount_cents: captured, application_fee_cents: fee, status: rows[0]?.status };
}

/** stripe.cancel_payment: cancels the PaymentIntent (the hold is released) and voids the payment. */
export async function cancelPayment(db: Database, stripe: Stripe, paymentId: string): Promise<Record<string, unknown>> {
  const p = await paymentForJob(db, paymentId);
  if (p === undefined || p.stripe_payment_intent_id === null) return { outcome: 'missing' };
  if (!['requires_payment', 'authorised', 'failed'].includes(p.status)) return { outcome: 'skipped', status: p.status };
  try {
    await stripe.paymentIntents.cancel(
      p.stripe_payment_intent_id,
      {},
      { idempotencyKey: `booking:${p.booking_id}:cancel` },
    );
  } catch (error) {
    if (unexpectedState(error)?.status !== 'canceled') throw error;
  }
  const { rows } = await asService<{ status: string }>(
    db,
    sql`select (app.payment_void(${p.payment_id})).status::text as status`,
  );
  return { outcome: 'cancelled', status: rows[0]?.status };
}
