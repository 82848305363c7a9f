import { z } from 'zod';
import { loadConfig } from '../../config.js';
import { authoriseDefaultCard } from '../../integrations/stripe/booking-payment.js';
import { createStripeClient } from '../../integrations/stripe/client.js';
import { syncDefaultPaymentMethod } from '../../integrations/stripe/saved-cards.js';
import { defineTask } from '../task.js';

/*
 * The Stripe calls of saved cards (decision 0023, slice 5), enqueued by triggers of migration
 * 0045: the default card set at Stripe when the local one changes (one job per user, the
 * Customer's serial queue), and a requested booking authorised off-session with the default card
 * (one per payment, the booking's serial queue). Retried by graphile-worker's back-off under the
 * same idempotency keys. Settings are read from the environment at each run.
 */

function stripeClient() {
  const stripe = createStripeClient(loadConfig(process.env).stripe);
  if (stripe === undefined) throw new Error('STRIPE_SECRET_KEY is not set on the process that runs jobs');
  return stripe;
}

export const syncStripeDefaultPaymentMethod = defineTask({
  name: 'stripe.sync_default_payment_method',
  payload: z.object({ user_id: z.uuid() }).passthrough(),
  run: async ({ user_id }, { db }) => syncDefaultPaymentMethod(db, stripeClient(), user_id),
});

export const authoriseStripeDefaultCard = defineTask({
  name: 'stripe.authorise_default_card',
  payload: z.object({ payment_id: z.uuid() }).passthrough(),
  run: async ({ payment_id }, { db }) => authoriseDefaultCard(db, stripeClient(), payment_id),
});
