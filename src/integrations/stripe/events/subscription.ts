import type Stripe from 'stripe';
import type { Database } from '../../../db/database.js';
import { sql } from '../../../db/sql.js';
import type { EventHandler } from './index.js';

/**
 * Mirrors a Subscription as fetched from Stripe at `fetchedAt` (app.stripe_apply_subscription:
 * the latest fetch wins, a final row stays); eventId null outside an event (the subscription
 * functions, the reconciler).
 */
export async function applySubscription<T = Record<string, unknown>>(
  db: Database,
  subscription: Stripe.Subscription,
  fetchedAt: Date,
  eventId: string | null,
  attempt: number,
): Promise<T> {
  const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last<{ result: T }>(
      sql`select app.stripe_apply_subscription(${eventId}, ${JSON.stringify(subscription)}::jsonb, ${fetchedAt.toISOString()}::timestamptz, ${attempt}) as result`,
    ),
  );
  return (rows[0] as { result: T }).result;
}

/**
 * customer.subscription.created / .updated / .deleted / .trial_will_end: the Subscription is
 * fetched again and mirrored as Stripe has it now (tier from its price, status with the dunning
 * states past_due and unpaid, periods, trial, cancellation) by app.stripe_apply_subscription,
 * which keeps the latest fetch (the functions apply what they get back too) and marks the event
 * processed in the same transaction. trial_will_end also tells the subscriber.
 */
const subscriptionChanged: EventHandler = async (event, context) => {
  const id = event.data.object.id;
  if (typeof id !== 'string' || !/^sub_[A-Za-z0-9_]+$/.test(id))
    throw new Error(`${event.type} ${event.id} names no subscription`);
  const fetchedAt = new Date();
  const subscription: Stripe.Subscription = await context.stripe.subscriptions.retrieve(id);
  return applySubscription(context.db, subscription, fetchedAt, event.id, context.attempt);
};

export const subscriptionHandlers: Readonly<Record<string, EventHandler>> = {
  'customer.subscription.created': subscriptionChanged,
  'customer.subscription.updated': subscriptionChanged,
  'customer.subscription.deleted': subscriptionChanged,
  'customer.subscription.trial_will_end': subscriptionChanged,
};
