import { z } from 'zod';
import { loadConfig } from '../../config.js';
import { createStripeClient } from '../../integrations/stripe/client.js';
import { processStripeEvent } from '../../integrations/stripe/process.js';
import { defineTask } from '../task.js';

/**
 * One inbound Stripe event (docs/payments.md): enqueued by app.stripe_record_event in the
 * transaction that recorded it, in one of 16 serial queues picked by the connected account (or
 * object), so one account's events run one at a time. Failures are retried by graphile-worker's back-off (25 attempts, about three
 * days, like Stripe's own redelivery); a redelivery of an unprocessed event makes it run at once.
 * Settings are read from the environment at each run, as every process reads them.
 */
export const processStripeEventTask = defineTask({
  name: 'stripe.process_event',
  payload: z.object({ event_id: z.string().regex(/^evt_[A-Za-z0-9_]{1,250}$/) }).passthrough(),
  run: async ({ event_id }, { db, log, job }) =>
    processStripeEvent(db, createStripeClient(loadConfig(process.env).stripe), event_id, job.attempts, log),
});
