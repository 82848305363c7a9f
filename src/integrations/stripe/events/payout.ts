import type Stripe from 'stripe';
import type { Database } from '../../../db/database.js';
import { sql } from '../../../db/sql.js';
import type { EventHandler } from './index.js';

/**
 * Mirrors a connected account's payout as fetched from Stripe (app.stripe_apply_payout: forward
 * only; null for a payout not fetched, of an account Loconomy did not create); eventId null
 * outside an event (the reconciler).
 */
export async function applyPayout(
  db: Database,
  account: string | null,
  payout: Stripe.Payout | null,
  eventId: string | null,
  attempt: number,
): Promise<Record<string, unknown>> {
  const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last<{ result: Record<string, unknown> }>(
      sql`select app.stripe_apply_payout(${eventId}, ${account}, ${payout === null ? null : JSON.stringify(payout)}::jsonb, ${attempt}) as result`,
    ),
  );
  return (rows[0] as { result: Record<string, unknown> }).result;
}

/**
 * payout.created / .updated / .paid / .failed / .canceled, from connected accounts: Stripe pays a
 * provider from their Connect account on its own schedule, and the payout is mirrored as the
 * provider's `payout` transaction (app.stripe_apply_payout: forward only). It is fetched again
 * with the event's account (Stripe-Account), since it lives on that account. A payout of the
 * platform itself (no account) or of an account Loconomy did not create is ignored without a
 * call: Stripe would refuse the fetch for an account that is not connected to the platform.
 */
const payoutChanged: EventHandler = async (event, context) => {
  const id = event.data.object.id;
  if (typeof id !== 'string' || !/^po_[A-Za-z0-9_]+$/.test(id))
    throw new Error(`${event.type} ${event.id} names no payout`);
  const account = event.account;
  const known =
    typeof account === 'string' &&
    /^acct_[A-Za-z0-9]+$/.test(account) &&
    (
      await context.db.asRole('service_role', { role: 'service_role' }, (tx) =>
        tx.last(sql`select 1 from public.payout_accounts where stripe_account_id = ${account}`),
      )
    ).rows.length > 0;
  const payout = known ? await context.stripe.payouts.retrieve(id, {}, { stripeAccount: account }) : null;
  return applyPayout(context.db, account ?? null, payout, event.id, context.attempt);
};

export const payoutHandlers: Readonly<Record<string, EventHandler>> = {
  'payout.created': payoutChanged,
  'payout.updated': payoutChanged,
  'payout.paid': payoutChanged,
  'payout.failed': payoutChanged,
  'payout.canceled': payoutChanged,
};
