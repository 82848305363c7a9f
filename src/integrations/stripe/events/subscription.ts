import type Stripe from 'stripe';
import { sql } from '../../../db/sql.js';
import type { EventHandler } from './index.js';

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
  const { rows } = await context.db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last<{ result: Record<string, unknown> }>(
      sql`select app.stripe_apply_subscription(${event.id}, ${JSON.stringify(subscription)}::jsonb, ${fetchedAt.toISOString()}::timestamptz, ${context.attempt}) as result`,
    ),
  );
  return (rows[0] as { result: Record<string, unknown> }).result;
};

export const subscriptionHandlers: Readonly<Record<string, EventHandler>> = {
  'customer.subscription.created': subscriptionChanged,
  'customer.subscription.updated': subscriptionChanged,
  'customer.subscription.deleted': subscriptionChanged,
  'customer.subscription.trial_will_end': subscriptionChanged,
};
