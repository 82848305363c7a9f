import type Stripe from 'stripe';
import type { Database } from '../../../db/database.js';
import { sql } from '../../../db/sql.js';
import type { EventHandler } from './index.js';

/** Applies a PaymentIntent as fetched from Stripe (app.stripe_apply_payment_intent); eventId null outside an event. */
export async function applyPaymentIntent(
  db: Database,
  intent: Stripe.PaymentIntent,
  eventId: string | null,
  attempt: number,
): Promise<Record<string, unknown>> {
  const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last<{ result: Record<string, unknown> }>(
      sql`select app.stripe_apply_payment_intent(${eventId}, ${JSON.stringify(intent)}::jsonb, ${attempt}) as result`,
    ),
  );
  return (rows[0] as { result: Record<string, unknown> }).result;
}

/**
 * payment_intent.amount_capturable_updated / .payment_failed / .canceled: the PaymentIntent is
 * fetched again and its current state moves the booking's payment (held → authorised, declined →
 * failed, canceled → voided) through app.stripe_apply_payment_intent, which applies forward moves
 * only and marks the event processed in the same transaction. A late or repeated event therefore
 * moves nothing twice and cannot undo a later state.
 */
const paymentIntentChanged: EventHandler = async (event, context) => {
  const id = event.data.object.id;
  if (typeof id !== 'string' || !/^pi_[A-Za-z0-9_]+$/.test(id))
    throw new Error(`${event.type} ${event.id} names no PaymentIntent`);
  const intent: Stripe.PaymentIntent = await context.stripe.paymentIntents.retrieve(id);
  return applyPaymentIntent(context.db, intent, event.id, context.attempt);
};

export const paymentIntentHandlers: Readonly<Record<string, EventHandler>> = {
  'payment_intent.amount_capturable_updated': paymentIntentChanged,
  'payment_intent.payment_failed': paymentIntentChanged,
  'payment_intent.canceled': paymentIntentChanged,
};
