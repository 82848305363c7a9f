import type { IncomingHttpHeaders } from 'node:http';
import type Stripe from 'stripe';
import { z } from 'zod';
import type { Authenticator } from '../../auth/caller.js';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';
import { ApiError } from '../../errors.js';
import { PROVIDER_ROLES, signedInCaller } from './caller.js';
import { requireStripe, stripeFailure } from './client.js';

/** The signed-in provider as onboarding needs them (app.stripe_payout_caller()). */
export interface PayoutCaller {
  readonly user_id: string;
  readonly tenant_id: string;
  readonly role: string;
  readonly payment_mode: 'offline' | 'stripe';
  /** The region's country when it has exactly one (an Express account's country is fixed at creation). */
  readonly country: string | null;
  readonly stripe_account_id: string | null;
  readonly details_submitted: boolean | null;
  readonly charges_enabled: boolean | null;
  readonly payouts_enabled: boolean | null;
}

/**
 * Who is calling, checked in this order: a signed-in user (401), a provider or admin (403), of a
 * marketplace in stripe payment mode (409). The database answers as the caller, through
 * app.stripe_payout_caller() (SECURITY DEFINER, the caller's own row only).
 */
export async function payoutCaller(
  db: Database,
  authenticator: Authenticator,
  headers: IncomingHttpHeaders,
  name: string,
): Promise<PayoutCaller> {
  const me = await signedInCaller<PayoutCaller>(
    db,
    authenticator,
    headers,
    name,
    sql`select * from app.stripe_payout_caller()`,
  );
  if (!PROVIDER_ROLES.has(me.role)) {
    throw new ApiError('LOCO_PAYMENTS_FORBIDDEN', {
      message: `Only providers can set up payouts (this account's role is ${me.role})`,
      hint: 'Become a provider first; customers pay by card and need no payout account.',
    });
  }
  if (me.payment_mode !== 'stripe') {
    throw new ApiError('LOCO_PAYMENTS_OFFLINE', {
      message: 'This marketplace records payments offline (cash or invoice), so it has no Stripe payouts',
      hint: "An operator switches the marketplace to Stripe (tenants.payment_mode = 'stripe') to pay providers through Stripe Connect.",
    });
  }
  return me;
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A URL Stripe may send the provider back to: an allowed origin when LOCONOMY_STRIPE_RETURN_ORIGINS
 * is set; otherwise any https URL, or http on localhost for development. Never with credentials.
 */
function returnUrl(origins: readonly string[] | undefined) {
  const rule =
    origins === undefined
      ? 'must be an https URL (or http://localhost for development)'
      : `must be on one of the allowed origins (${origins.join(', ')})`;
  return z
    .string({ error: 'is required' })
    .max(2048, 'must be at most 2048 characters')
    .refine((value) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return false;
      }
      if (url.username !== '' || url.password !== '') return false;
      if (origins !== undefined) return origins.includes(url.origin);
      return url.protocol === 'https:' || (url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname));
    }, rule);
}

/** The JSON body of a function call, checked with `schema` (400 LOCO_FUNCTION_INVALID). */
export function functionBody<S extends z.ZodType>(name: string, schema: S, raw: string): z.output<S> {
  let json: unknown = {};
  if (raw.trim() !== '') {
    try {
      json = JSON.parse(raw);
    } catch {
      throw new ApiError('LOCO_FUNCTION_INVALID', { message: `${name} takes a JSON body`, hint: 'Send JSON.' });
    }
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ApiError('LOCO_FUNCTION_INVALID', {
      message: `${name}: ${issue?.path.join('.') || 'body'} ${issue?.message ?? 'is not valid'}`,
      details: parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`).join('; '),
    });
  }
  return parsed.data;
}

export function onboardingBody(origins: readonly string[] | undefined) {
  return z.object({ return_url: returnUrl(origins), refresh_url: returnUrl(origins) }, { error: 'must be an object' });
}

export interface OnboardingLink {
  readonly url: string;
  /** ISO time; an account link works once and for a few minutes (then refresh_url is visited). */
  readonly expires_at: string;
  readonly account_id: string;
}

/**
 * stripe-connect-onboarding: the provider's Express account (created once: the idempotency key
 * is the user's, and the account is stored before the link is made) and a fresh account link.
 */
export async function startOnboarding(
  db: Database,
  stripeClient: Stripe | undefined,
  me: PayoutCaller,
  urls: { return_url: string; refresh_url: string },
): Promise<OnboardingLink> {
  const stripe = requireStripe(stripeClient);
  let accountId = me.stripe_account_id;
  if (accountId === null) {
    let account: Stripe.Account;
    try {
      account = await stripe.accounts.create(
        {
          type: 'express',
          ...(me.country !== null && { country: me.country }),
          capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
          metadata: { loconomy_user_id: me.user_id, loconomy_tenant_id: me.tenant_id },
        },
        // Stable parameters under a per-user key: a retry (or a concurrent call) gets the same account.
        { idempotencyKey: `loconomy:user:${me.user_id}:connect-account` },
      );
    } catch (error) {
      throw stripeFailure(error, 'create the Connect account');
    }
    const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
      tx.last<{ kept: string }>(sql`select app.stripe_link_payout_account(${me.user_id}, ${account.id}) as kept`),
    );
    accountId = rows[0]?.kept ?? account.id;
  }
  let link: Stripe.AccountLink;
  try {
    link = await stripe.accountLinks.create({
      account: accountId,
      type: 'account_onboarding',
      return_url: urls.return_url,
      refresh_url: urls.refresh_url,
    });
  } catch (error) {
    throw stripeFailure(error, 'create the onboarding link');
  }
  return { url: link.url, expires_at: new Date(link.expires_at * 1000).toISOString(), account_id: accountId };
}

/** stripe-connect-dashboard: a login link to the Express dashboard of an onboarded provider. */
export async function dashboardLink(
  stripeClient: Stripe | undefined,
  me: PayoutCaller,
): Promise<{ url: string; account_id: string }> {
  const stripe = requireStripe(stripeClient);
  if (me.stripe_account_id === null || me.details_submitted !== true) {
    throw new ApiError('LOCO_PAYOUTS_NOT_ONBOARDED', {
      message: 'The payout dashboard opens once onboarding is finished',
      hint: "Finish onboarding first: supabase.functions.invoke('stripe-connect-onboarding', { body: { return_url, refresh_url } }).",
    });
  }
  try {
    const link = await stripe.accounts.createLoginLink(me.stripe_account_id);
    return { url: link.url, account_id: me.stripe_account_id };
  } catch (error) {
    throw stripeFailure(error, 'create the dashboard link');
  }
}
