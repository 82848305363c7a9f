import type Stripe from 'stripe';
import type { Database } from '../../../db/database.js';
import { sql } from '../../../db/sql.js';
import type { EventHandler } from './index.js';

const DISPUTE_ID = /^(dp|du)_[A-Za-z0-9_]+$/;

/**
 * Mirrors a dispute as fetched from Stripe at `fetchedAt` (app.stripe_apply_dispute: never
 * backwards, a closed dispute stays as it closed); eventId null outside an event (the reconciler).
 */
export async function applyDispute(
  db: Database,
  dispute: Stripe.Dispute,
  fetchedAt: Date,
  eventId: string | null,
  attempt: number,
): Promise<Record<string, unknown>> {
  const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last<{ result: Record<string, unknown> }>(
      sql`select app.stripe_apply_dispute(${eventId}, ${JSON.stringify(dispute)}::jsonb, ${fetchedAt.toISOString()}::timestamptz, ${attempt}) as result`,
    ),
  );
  return (rows[0] as { result: Record<string, unknown> }).result;
}

/**
 * charge.dispute.created / .updated / .closed / .funds_withdrawn / .funds_reinstated: the dispute
 * is fetched again and app.stripe_apply_dispute mirrors it (never backwards) and acts on its
 * state: first sight → the booking disputed and the payments managers told; won → the booking
 * back where it was; lost → the transfer reversal job, which writes the loss. The dispute names
 * its charge and PaymentIntent, which find the Loconomy payment; any other dispute is ignored.
 */
const disputeChanged: EventHandler = async (event, context) => {
  const id = event.data.object.id;
  if (typeof id !== 'string' || !DISPUTE_ID.test(id)) throw new Error(`${event.type} ${event.id} names no dispute`);
  const fetchedAt = new Date();
  const dispute = await context.stripe.disputes.retrieve(id);
  return applyDispute(context.db, dispute, fetchedAt, event.id, context.attempt);
};

export const disputeHandlers: Readonly<Record<string, EventHandler>> = {
  'charge.dispute.created': disputeChanged,
  'charge.dispute.updated': disputeChanged,
  'charge.dispute.closed': disputeChanged,
  'charge.dispute.funds_withdrawn': disputeChanged,
  'charge.dispute.funds_reinstated': disputeChanged,
};
