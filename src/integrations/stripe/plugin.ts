import type { FastifyPluginAsync } from 'fastify';
import type { StripeSettings } from '../../config.js';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';
import { ApiError } from '../../errors.js';
import { useOwnBody } from '../../http/own-body.js';
import type { Logger } from '../../log.js';
import { isLiveKey } from './client.js';
import { verifyStripeWebhook } from './verify.js';

/** Stripe's events are a few KiB (an account or a PaymentIntent); anything much larger is not one. */
export const STRIPE_WEBHOOK_BODY_LIMIT = 1024 * 1024;

export interface StripeWebhookOptions {
  readonly db: Database;
  readonly settings: StripeSettings;
  readonly log: Logger;
}

/** What app.stripe_record_event() did with an event. */
export interface Recorded {
  readonly outcome: 'recorded' | 'duplicate';
  readonly processed?: boolean;
}

/**
 * POST /webhooks/stripe (decision 0023): verify the Stripe-Signature over the raw body, then
 * record the event once and enqueue the job that processes it, in one transaction
 * (app.stripe_record_event), and answer 200 at once — Stripe wants an answer within seconds, and
 * processing calls Stripe back. 400 LOCO_WEBHOOK_INVALID (nothing written) for forged, stale,
 * unsigned, malformed or other-mode events; 503 LOCO_WEBHOOK_UNCONFIGURED without a signing
 * secret or a key (Stripe retries for three days, so nothing is lost while it is set).
 */
export const stripeWebhookPlugin: FastifyPluginAsync<StripeWebhookOptions> = async (app, options) => {
  const { db, settings, log } = options;

  // This plugin's own context: the body stays the bytes that were signed, whatever its type.
  useOwnBody(app, {
    parseAs: 'buffer',
    bodyLimit: STRIPE_WEBHOOK_BODY_LIMIT,
    what: 'A Stripe webhook body',
    log,
    failureLog: 'a Stripe webhook could not be recorded',
    failure: () =>
      new ApiError('LOCO_INTERNAL', {
        message: 'The Stripe event could not be recorded',
        hint: 'Stripe retries the delivery.',
      }),
  });

  app.post('/webhooks/stripe', async (request) => {
    const { secretKey, webhookSecrets } = settings;
    if (secretKey === undefined || webhookSecrets.length === 0) {
      throw new ApiError('LOCO_WEBHOOK_UNCONFIGURED', {
        message: 'Stripe webhooks are not configured on this server',
        hint: 'Set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET (the Signing secret of this endpoint in the Stripe dashboard); see docs/payments.md.',
      });
    }
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const event = await verifyStripeWebhook(
      webhookSecrets,
      request.headers['stripe-signature'],
      body,
      isLiveKey(secretKey),
    );
    // The verified bytes are stored as Stripe sent them (every field, not only those read above).
    const payload = body.toString('utf8');
    const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
      tx.last<{ result: Recorded }>(sql`select app.stripe_record_event(${payload}::jsonb) as result`),
    );
    const recorded = rows[0]?.result as Recorded;
    request.log.info({ eventId: event.id, type: event.type, account: event.account, ...recorded }, 'Stripe webhook');
    return { received: true, ...recorded };
  });
};
