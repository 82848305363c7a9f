import { sql } from '../../../db/sql.js';
import type { EventHandler } from './index.js';

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
  const { rows } = await context.db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last<{ result: Record<string, unknown> }>(
      sql`select app.stripe_apply_payout(${event.id}, ${account ?? null}, ${payout === null ? null : JSON.stringify(payout)}::jsonb, ${context.attempt}) as result`,
    ),
  );
  return (rows[0] as { result: Record<string, unknown> }).result;
};

export const payoutHandlers: Readonly<Record<string, EventHandler>> = {
  'payout.created': payoutChanged,
  'payout.updated': payoutChanged,
  'payout.paid': payoutChanged,
  'payout.failed': payoutChanged,
  'payout.canceled': payoutChanged,
};
