import Stripe from 'stripe';
import type { StripeSettings } from '../../config.js';
import { ApiError, oneLine } from '../../errors.js';

/**
 * The Stripe API version every request is pinned to: the one the installed `stripe` SDK
 * (23.1.0, pinned exactly in package.json) was generated for, so the SDK's types describe the
 * objects Stripe returns. Upgrading the SDK moves it; decision 0023 records the pair.
 */
export const STRIPE_API_VERSION = Stripe.API_VERSION;

/** Retries of a failed network call or 409/429/5xx, by the SDK, with the same idempotency key. */
export const STRIPE_MAX_NETWORK_RETRIES = 2;
/** Per request; Stripe answers in well under a second, a slow answer is retried. */
export const STRIPE_TIMEOUT_MS = 20_000;

/** Whether a key works on live data (sk_live_/rk_live_) or test data. */
export function isLiveKey(secretKey: string): boolean {
  return /^(sk|rk)_live_/.test(secretKey);
}

/**
 * A Stripe client for the configured key, pointed at LOCONOMY_STRIPE_API_URL when set (a local
 * double in tests); undefined when STRIPE_SECRET_KEY is unset.
 */
export function createStripeClient(settings: StripeSettings): Stripe | undefined {
  if (settings.secretKey === undefined) return undefined;
  const api = settings.apiUrl === undefined ? undefined : new URL(settings.apiUrl);
  return new Stripe(settings.secretKey, {
    apiVersion: STRIPE_API_VERSION,
    maxNetworkRetries: STRIPE_MAX_NETWORK_RETRIES,
    timeout: STRIPE_TIMEOUT_MS,
    appInfo: { name: 'Loconomy', url: 'https://github.com/loconomy' },
    ...(api && {
      host: api.hostname,
      port: api.port === '' ? (api.protocol === 'https:' ? 443 : 80) : Number(api.port),
      protocol: api.protocol === 'https:' ? 'https' : 'http',
    }),
  });
}

/** The Stripe client, or 503 LOCO_STRIPE_UNCONFIGURED for a caller that needs it. */
export function requireStripe(stripe: Stripe | undefined): Stripe {
  if (stripe !== undefined) return stripe;
  throw new ApiError('LOCO_STRIPE_UNCONFIGURED', {
    hint: 'The operator sets STRIPE_SECRET_KEY (and STRIPE_WEBHOOK_SECRET) on the server; see docs/payments.md.',
  });
}

/** A failed Stripe call as a 502 naming Stripe's error (type, code, request id), not the key. */
export function stripeFailure(error: unknown, what: string): ApiError {
  const e = error as { type?: string; code?: string; requestId?: string; statusCode?: number; message?: string };
  const parts = [e.type, e.code, e.statusCode && `HTTP ${e.statusCode}`, e.requestId && `request ${e.requestId}`];
  return new ApiError('LOCO_STRIPE_FAILED', {
    message: `Stripe could not ${what}: ${oneLine(error)}`,
    details: parts.filter(Boolean).join(', ') || null,
    hint: 'Try again in a moment; if it persists the operator checks the Stripe dashboard (Developers → Logs) for this request.',
  });
}
