import Stripe from 'stripe';
import { z } from 'zod';
import { ApiError, oneLine } from '../../errors.js';

/**
 * Stripe signs each delivery with the endpoint's `whsec_…` secret: the `Stripe-Signature`
 * header carries `t=<timestamp>,v1=<HMAC-SHA256 of "t.body">` (several v1 while a secret is
 * being rolled). The check is the SDK's `webhooks.constructEventAsync` over the bytes exactly as
 * they arrived, with a 300-second tolerance (Stripe's default, replay protection); nothing here
 * is hand-written crypto. A platform and a Connect endpoint have a secret each, so every
 * configured secret is tried.
 */

/** Seconds a signature stays valid; older (or later) deliveries are refused. */
export const STRIPE_SIGNATURE_TOLERANCE_S = 300;

/** What Loconomy reads of every event (handlers re-fetch what they apply). */
const StripeEvent = z.object({
  id: z.string().regex(/^evt_[A-Za-z0-9_]{1,250}$/, 'id must be an evt_ id'),
  object: z.literal('event'),
  type: z.string().regex(/^[a-z_]+(\.[a-z_]+)+$/, 'type must look like account.updated'),
  created: z.number().int().positive(),
  livemode: z.boolean(),
  account: z
    .string()
    .regex(/^acct_[A-Za-z0-9]+$/)
    .optional(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});
export type VerifiedStripeEvent = z.output<typeof StripeEvent>;

/** The SDK only for its webhook helpers: they need no key and make no request. */
const webhooks = new Stripe('sk_test_webhooks_only').webhooks;

const invalid = (message: string, hint: string) => new ApiError('LOCO_WEBHOOK_INVALID', { message, hint });

/** The verified event, or 400 LOCO_WEBHOOK_INVALID (forged, stale, unsigned, other mode, not an event). */
export async function verifyStripeWebhook(
  secrets: readonly string[],
  signature: string | string[] | undefined,
  body: Buffer,
  livemode: boolean,
): Promise<VerifiedStripeEvent> {
  if (typeof signature !== 'string' || signature === '') {
    throw invalid('The Stripe-Signature header is missing', 'Only Stripe can call this endpoint.');
  }
  let event: unknown;
  let failure: unknown;
  for (const secret of secrets) {
    try {
      event = await webhooks.constructEventAsync(body, signature, secret, STRIPE_SIGNATURE_TOLERANCE_S);
      break;
    } catch (error) {
      failure = error;
    }
  }
  if (event === undefined) {
    throw invalid(
      oneLine(failure),
      `Only Stripe can call this endpoint: check that STRIPE_WEBHOOK_SECRET lists this endpoint's signing secret and that the server clock is right (signatures older than ${STRIPE_SIGNATURE_TOLERANCE_S} s are refused).`,
    );
  }
  const parsed = StripeEvent.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(
      `The body is not a Stripe event: ${issue?.path.join('.') || 'event'} ${issue?.message ?? 'unexpected shape'}`,
      'Stripe sends {id: "evt_…", object: "event", type, created, livemode, data: {object}}',
    );
  }
  if (parsed.data.livemode !== livemode) {
    throw invalid(
      `A ${parsed.data.livemode ? 'live' : 'test'}-mode event reached a server whose STRIPE_SECRET_KEY is a ${livemode ? 'live' : 'test'} key`,
      'Point the endpoint of the same mode as the key at this server (test keys ↔ test-mode endpoints).',
    );
  }
  return parsed.data;
}
