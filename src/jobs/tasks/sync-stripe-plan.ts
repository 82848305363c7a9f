import { z } from 'zod';
import { loadConfig } from '../../config.js';
import { createStripeClient } from '../../integrations/stripe/client.js';
import { syncPlan } from '../../integrations/stripe/plans.js';
import { defineTask } from '../task.js';

/*
 * A subscription plan of a stripe marketplace gets its Stripe Product and Price (decision 0023,
 * slice 6): enqueued by app.subscription_plans_sync_job (migration 0046) when a plan is added,
 * reactivated or re-priced without a Price. Idempotent (lookup key, idempotency keys), so a retry
 * or a plan synced meanwhile by stripe-subscribe makes nothing twice.
 */
export const syncStripePlan = defineTask({
  name: 'stripe.sync_plan',
  payload: z.object({ plan_id: z.uuid() }).passthrough(),
  run: async ({ plan_id }, { db }) => {
    const stripe = createStripeClient(loadConfig(process.env).stripe);
    if (stripe === undefined) throw new Error('STRIPE_SECRET_KEY is not set on the process that runs jobs');
    return syncPlan(db, stripe, plan_id);
  },
});
