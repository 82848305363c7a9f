import { z } from 'zod';
import { loadConfig } from '../../config.js';
import { cancelPayment, capturePayment } from '../../integrations/stripe/capture.js';
import { createStripeClient } from '../../integrations/stripe/client.js';
import { reverseDisputeTransfer } from '../../integrations/stripe/dispute.js';
import { refundPayment } from '../../integrations/stripe/refund.js';
import { defineTask } from '../task.js';

/*
 * The Stripe calls of a booking's payment (decision 0023, slice 2), enqueued by
 * app.bookings_stripe_jobs (migration 0042) in the booking's transaction, one per payment and
 * operation (job_key), in the PaymentIntent's serial queue (shared with its events). Failures are
 * retried by graphile-worker's back-off under the same idempotency key. Settings are read from
 * the environment at each run, as every process reads them.
 */

function stripeClient() {
  const stripe = createStripeClient(loadConfig(process.env).stripe);
  if (stripe === undefined) throw new Error('STRIPE_SECRET_KEY is not set on the process that runs jobs');
  return stripe;
}

export const captureStripePayment = defineTask({
  name: 'stripe.capture_payment',
  payload: z
    .object({
      payment_id: z.uuid(),
      amount_cents: z.number().int().positive(),
      application_fee_cents: z.number().int().nonnegative(),
    })
    .passthrough(),
  run: async ({ payment_id, amount_cents, application_fee_cents }, { db }) =>
    capturePayment(db, stripeClient(), payment_id, amount_cents, application_fee_cents),
});

export const cancelStripePayment = defineTask({
  name: 'stripe.cancel_payment',
  payload: z.object({ payment_id: z.uuid() }).passthrough(),
  run: async ({ payment_id }, { db }) => cancelPayment(db, stripeClient(), payment_id),
});

export const refundStripePayment = defineTask({
  name: 'stripe.refund_payment',
  payload: z
    .object({
      payment_id: z.uuid(),
      amount_cents: z.number().int().positive(),
      reason: z.enum(['cancellation', 'booking_refunded']),
    })
    .passthrough(),
  run: async ({ payment_id, amount_cents, reason }, { db }) =>
    refundPayment(db, stripeClient(), payment_id, amount_cents, reason),
});

/**
 * A lost dispute (decision 0023, slice 4), enqueued by app.stripe_apply_dispute in the
 * PaymentIntent's serial queue: the provider's share reversed at Stripe, then the loss written
 * once and the booking refunded.
 */
export const reverseStripeDisputeTransfer = defineTask({
  name: 'stripe.reverse_dispute_transfer',
  payload: z.object({ dispute_id: z.string().regex(/^(dp|du)_[A-Za-z0-9_]+$/) }).passthrough(),
  run: async ({ dispute_id }, { db }) => reverseDisputeTransfer(db, stripeClient(), dispute_id),
});
