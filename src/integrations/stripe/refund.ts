import type Stripe from 'stripe';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';

/** Records refunds as Stripe has them (app.stripe_apply_refunds): each succeeded one once, by its id. */
export async function applyRefunds(
  db: Database,
  refunds: readonly Stripe.Refund[],
  eventId: string | null,
  attempt: number,
): Promise<Record<string, unknown>> {
  const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last<{ result: Record<string, unknown> }>(
      sql`select app.stripe_apply_refunds(${eventId}, ${JSON.stringify(refunds)}::jsonb, ${attempt}) as result`,
    ),
  );
  return (rows[0] as { result: Record<string, unknown> }).result;
}

/**
 * stripe.refund_payment (enqueued by app.bookings_stripe_jobs when a cancellation or a manager's
 * refund returns captured money): one refund of `amountCents` that also refunds the platform's
 * application fee and reverses the provider's transfer in proportion, under the idempotency key
 * booking:<id>:refund:<reason> (a retry gets the same refund), then recorded by its id — the
 * same key Stripe's refund.* and charge.refunded events record it under, so it is written once.
 */
export async function refundPayment(
  db: Database,
  stripe: Stripe,
  paymentId: string,
  amountCents: number,
  reason: string,
): Promise<Record<string, unknown>> {
  const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last<{ booking_id: string; status: string; stripe_payment_intent_id: string | null }>(
      sql`select * from app.stripe_payment_for_job(${paymentId})`,
    ),
  );
  const p = rows[0];
  if (p === undefined || p.stripe_payment_intent_id === null) return { outcome: 'missing' };
  const refund = await stripe.refunds.create(
    {
      payment_intent: p.stripe_payment_intent_id,
      amount: amountCents,
      refund_application_fee: true,
      reverse_transfer: true,
      metadata: { booking_id: p.booking_id, payment_id: paymentId, reason },
    },
    { idempotencyKey: `booking:${p.booking_id}:refund:${reason}` },
  );
  return { refund: refund.id, refund_status: refund.status, ...(await applyRefunds(db, [refund], null, 0)) };
}
