import { sql } from '../../../db/sql.js';
import type { EventHandler } from './index.js';

const DISPUTE_ID = /^(dp|du)_[A-Za-z0-9_]+$/;

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
  const { rows } = await context.db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last<{ result: Record<string, unknown> }>(
      sql`select app.stripe_apply_dispute(${event.id}, ${JSON.stringify(dispute)}::jsonb, ${fetchedAt.toISOString()}::timestamptz, ${context.attempt}) as result`,
    ),
  );
  return (rows[0] as { result: Record<string, unknown> }).result;
};

export const disputeHandlers: Readonly<Record<string, EventHandler>> = {
  'charge.dispute.created': disputeChanged,
  'charge.dispute.updated': disputeChanged,
  'charge.dispute.closed': disputeChanged,
  'charge.dispute.funds_withdrawn': disputeChanged,
  'charge.dispute.funds_reinstated': disputeChanged,
};
