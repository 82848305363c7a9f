import { z } from 'zod';
import { loadConfig } from '../../config.js';
import { createStripeClient } from '../../integrations/stripe/client.js';
import { reportUsage } from '../../integrations/stripe/usage.js';
import { defineTask } from '../task.js';

/**
 * Billable usage of Stripe subscribers to Stripe Billing Meters, every five minutes (decision
 * 0023, slice 6). Idempotent: rows are marked reported and each meter event carries the row's id
 * as its identifier. Without STRIPE_SECRET_KEY there is nothing to report to: the run does nothing.
 */
export const reportStripeUsage = defineTask({
  name: 'stripe.report_usage',
  payload: z.object({ max_rows: z.number().int().positive().max(10_000).default(1000) }).passthrough(),
  run: async ({ max_rows }, { db }) => {
    const stripe = createStripeClient(loadConfig(process.env).stripe);
    if (stripe === undefined) return { reported: 0, refused: 0, skipped: 'STRIPE_SECRET_KEY is not set' };
    return reportUsage(db, stripe, max_rows);
  },
});
