import type { FastifyPluginAsync } from 'fastify';
import type Stripe from 'stripe';
import type { Authenticator } from '../../auth/caller.js';
import type { StripeSettings } from '../../config.js';
import type { Database } from '../../db/database.js';
import { ApiError } from '../../errors.js';
import { useOwnBody } from '../../http/own-body.js';
import type { Logger } from '../../log.js';
import { bookingPayment, bookingPaymentBody } from './booking-payment.js';
import { dashboardLink, functionBody, onboardingBody, payoutCaller, startOnboarding } from './onboarding.js';
import {
  cardOwner,
  removePaymentMethod,
  removePaymentMethodBody,
  setupPaymentMethod,
  setupPaymentMethodBody,
} from './saved-cards.js';
import { changeSubscription, changeSubscriptionBody, subscribe, subscribeBody } from './subscriptions.js';

/**
 * Built-in server functions, called as Supabase Edge Functions are
 * (`supabase.functions.invoke(name, { body })` → POST /functions/v1/<name>). These names are
 * reserved: a project's own functions (issue 15) cannot take them, and static routes win over a
 * later `/functions/v1/:name` route in Fastify, so both can be registered.
 */
export const BUILT_IN_FUNCTIONS = [
  'stripe-connect-onboarding',
  'stripe-connect-dashboard',
  'stripe-booking-payment',
  'stripe-setup-payment-method',
  'stripe-remove-payment-method',
  'stripe-subscribe',
  'stripe-change-subscription',
] as const;

/** A function body is small JSON (two URLs). */
const FUNCTION_BODY_LIMIT = 64 * 1024;

export interface StripeFunctionsOptions {
  readonly db: Database;
  readonly authenticator: Authenticator;
  readonly stripe: Stripe | undefined;
  readonly settings: StripeSettings;
  readonly log: Logger;
}

/** Registers the built-in Stripe functions under the plugin's prefix (/functions/v1). */
export const stripeFunctionsPlugin: FastifyPluginAsync<StripeFunctionsOptions> = async (app, options) => {
  const { db, authenticator, stripe, settings, log } = options;

  // The body is read as text and checked here, so a bad one gets this API's error shape.
  useOwnBody(app, {
    parseAs: 'string',
    bodyLimit: FUNCTION_BODY_LIMIT,
    what: 'A function body',
    log,
    failureLog: 'a built-in function failed',
    failure: () => new ApiError('LOCO_INTERNAL'),
  });

  const text = (body: unknown) => (typeof body === 'string' ? body : '');

  app.post('/stripe-connect-onboarding', async (request) => {
    const name = 'stripe-connect-onboarding';
    const me = await payoutCaller(db, authenticator, request.headers, name);
    const urls = functionBody(name, onboardingBody(settings.returnOrigins), text(request.body));
    const link = await startOnboarding(db, stripe, me, urls);
    request.log.info({ userId: me.user_id, account: link.account_id }, 'Stripe onboarding link');
    return link;
  });

  app.post('/stripe-connect-dashboard', async (request) => {
    const me = await payoutCaller(db, authenticator, request.headers, 'stripe-connect-dashboard');
    return dashboardLink(stripe, me);
  });

  app.post('/stripe-booking-payment', async (request) => {
    const name = 'stripe-booking-payment';
    const body = functionBody(name, bookingPaymentBody, text(request.body));
    const answer = await bookingPayment(db, authenticator, stripe, request.headers, body);
    request.log.info({ bookingId: body.booking_id, intent: answer.payment_intent_id, status: answer.status }, name);
    return answer;
  });

  app.post('/stripe-setup-payment-method', async (request) => {
    const name = 'stripe-setup-payment-method';
    const me = await cardOwner(db, authenticator, request.headers, name);
    const body = functionBody(name, setupPaymentMethodBody, text(request.body));
    const answer = await setupPaymentMethod(db, stripe, me, body);
    request.log.info({ userId: me.user_id, setupIntent: answer.setup_intent_id, status: answer.status }, name);
    return answer;
  });

  app.post('/stripe-remove-payment-method', async (request) => {
    const name = 'stripe-remove-payment-method';
    const me = await cardOwner(db, authenticator, request.headers, name);
    const body = functionBody(name, removePaymentMethodBody, text(request.body));
    const answer = await removePaymentMethod(db, stripe, me, body);
    request.log.info({ userId: me.user_id, paymentMethod: body.payment_method_id }, name);
    return answer;
  });

  app.post('/stripe-subscribe', async (request) => {
    const name = 'stripe-subscribe';
    const body = functionBody(name, subscribeBody, text(request.body));
    const answer = await subscribe(db, authenticator, stripe, request.headers, body);
    request.log.info(
      { planId: body.plan_id, subscription: answer.stripe_subscription_id, status: answer.status },
      name,
    );
    return answer;
  });

  app.post('/stripe-change-subscription', async (request) => {
    const name = 'stripe-change-subscription';
    const body = functionBody(name, changeSubscriptionBody, text(request.body));
    const answer = await changeSubscription(db, authenticator, stripe, request.headers, body);
    request.log.info({ subscription: answer.stripe_subscription_id, status: answer.status, tier: answer.tier }, name);
    return answer;
  });
};
