import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Stripe from 'stripe';
import { createStripeClient } from '../../../src/integrations/stripe/client.js';
import { StripeDouble } from './double.js';
import { parseForm } from './form.js';

/*
 * The Stripe double as the next slices will lean on it, driven by the official SDK through
 * Loconomy's client factory: the wire (keys, errors, idempotency), customers, SetupIntents,
 * PaymentIntents with manual capture, 3-D Secure and declines, destination charges and
 * proportional refunds. Numbers follow Stripe's documented behaviour.
 */

let double: StripeDouble;
let stripe: Stripe;

before(async () => {
  double = await StripeDouble.start();
  stripe = createStripeClient({
    secretKey: double.secretKey,
    webhookSecrets: [],
    apiUrl: double.url,
    returnOrigins: undefined,
  }) as Stripe;
});

after(async () => {
  await double?.close();
});

/** Rejects with a Stripe error of this type; returns it for more checks. */
async function stripeError(promise: Promise<unknown>, type: string): Promise<Stripe.errors.StripeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Stripe.errors.StripeError, `expected a StripeError, got ${error}`);
    assert.equal(error.type, type, error.message);
    return error;
  }
  assert.fail(`expected a ${type}`);
}

/** An Express account that finished onboarding (charges, payouts, transfers active). */
async function onboardedAccount(): Promise<string> {
  const account = await stripe.accounts.create({
    type: 'express',
    capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
  });
  double.completeOnboarding(account.id);
  return account.id;
}

describe('the wire', () => {
  test('bracket-notation forms parse into nested objects and arrays', () => {
    assert.deepEqual(parseForm('a=1&b[c]=x%20y&b[d][0]=p&b[d][1]=q&e[]=r&e[]=s&metadata[k]=v+w&empty='), {
      a: '1',
      b: { c: 'x y', d: ['p', 'q'] },
      e: ['r', 's'],
      metadata: { k: 'v w' },
      empty: '',
    });
  });

  test('a wrong key is 401, an unknown id 404 resource_missing, an unmodelled path 404', async () => {
    const other = new Stripe('sk_test_wrong', { host: '127.0.0.1', port: new URL(double.url).port, protocol: 'http' });
    const auth = await stripeError(other.accounts.retrieve('acct_x'), 'StripeAuthenticationError');
    assert.equal(auth.statusCode, 401);
    assert.match(auth.message, /Invalid API Key provided/);
    const missing = await stripeError(stripe.accounts.retrieve('acct_Nope'), 'StripeInvalidRequestError');
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.code, 'resource_missing');
    assert.match(missing.requestId ?? '', /^req_/);
    await stripeError(stripe.balance.retrieve(), 'StripeInvalidRequestError');
  });

  test('Idempotency-Key: the same request gets the first answer, another request with the key is refused', async () => {
    const params = { email: 'a@example.com', metadata: { user: 'u1' } };
    const first = await stripe.customers.create(params, { idempotencyKey: 'customer:u1' });
    const again = await stripe.customers.create(params, { idempotencyKey: 'customer:u1' });
    assert.equal(again.id, first.id);
    const conflict = await stripeError(
      stripe.customers.create({ email: 'b@example.com' }, { idempotencyKey: 'customer:u1' }),
      'StripeIdempotencyError',
    );
    assert.equal(conflict.statusCode, 400);
    // Every POST carries a key (the SDK adds one for its retries when none is given).
    assert.ok(double.requests.filter((r) => r.method === 'POST').every((r) => r.idempotencyKey));
  });
});

describe('Connect', () => {
  test('Express accounts start restricted; onboarding enables them; links and login links', async () => {
    const account = await stripe.accounts.create({
      type: 'express',
      country: 'FR',
      capabilities: { transfers: { requested: true } },
    });
    assert.equal(account.charges_enabled, false);
    assert.equal(account.default_currency, 'eur');
    assert.ok((account.requirements?.currently_due ?? []).includes('external_account'));
    const link = await stripe.accountLinks.create({
      account: account.id,
      type: 'account_onboarding',
      return_url: 'https://app.example.com/r',
      refresh_url: 'https://app.example.com/f',
    });
    assert.ok(link.expires_at > link.created);
    await stripeError(stripe.accounts.createLoginLink(account.id), 'StripeInvalidRequestError');
    const visit = await fetch(link.url, { redirect: 'manual' });
    assert.equal(visit.headers.get('location'), 'https://app.example.com/r');
    const done = await stripe.accounts.retrieve(account.id);
    assert.deepEqual(
      [done.charges_enabled, done.payouts_enabled, done.details_submitted, done.requirements?.currently_due],
      [true, true, true, []],
    );
    assert.equal(done.capabilities?.transfers, 'active');
    assert.match((await stripe.accounts.createLoginLink(account.id)).url, /\/express\//);
    await stripeError(
      stripe.accountLinks.create({
        account: account.id,
        type: 'account_update',
        return_url: 'https://a.b/',
        refresh_url: 'https://a.b/',
      }),
      'StripeInvalidRequestError',
    );
  });
});

describe('saved cards: customers, SetupIntents, payment methods', () => {
  test('a card set up on session (3-D Secure once) is then charged off session; an always-3DS card is not', async () => {
    const customer = await stripe.customers.create({ email: 'c@example.com' });
    const setup = await stripe.setupIntents.create({
      customer: customer.id,
      payment_method: 'pm_card_authenticationRequiredOnSetup',
      usage: 'off_session',
      confirm: true,
    });
    assert.equal(setup.status, 'requires_action');
    assert.equal(setup.next_action?.type, 'use_stripe_sdk');
    const completed = double.completeAction(setup.id);
    assert.equal(completed.status, 'succeeded');
    const pm = await stripe.paymentMethods.retrieve(setup.payment_method as string);
    assert.equal(pm.customer, customer.id);
    assert.equal(pm.card?.last4, '3155');
    const updated = await stripe.customers.update(customer.id, {
      invoice_settings: { default_payment_method: pm.id },
    });
    assert.equal(updated.invoice_settings.default_payment_method, pm.id);
    const list = await stripe.customers.listPaymentMethods(customer.id);
    assert.deepEqual(
      list.data.map((p) => p.id),
      [pm.id],
    );

    const offSession = await stripe.paymentIntents.create({
      amount: 2500,
      currency: 'usd',
      customer: customer.id,
      payment_method: pm.id,
      off_session: true,
      confirm: true,
    });
    assert.equal(offSession.status, 'succeeded');

    const always = await stripe.paymentMethods.attach('pm_card_authenticationRequired', { customer: customer.id });
    const needsAuth = await stripeError(
      stripe.paymentIntents.create({
        amount: 2500,
        currency: 'usd',
        customer: customer.id,
        payment_method: always.id,
        off_session: true,
        confirm: true,
      }),
      'StripeCardError',
    );
    assert.equal(needsAuth.code, 'authentication_required');
    assert.equal(needsAuth.statusCode, 402);
    assert.equal(
      (needsAuth.raw as { payment_intent?: { status: string } }).payment_intent?.status,
      'requires_payment_method',
    );

    const detached = await stripe.paymentMethods.detach(pm.id);
    assert.equal(detached.customer, null);
    assert.equal(
      ((await stripe.customers.retrieve(customer.id)) as Stripe.Customer).invoice_settings.default_payment_method,
      null,
    );
  });

  test('a card that saves but fails every charge; the card updater; setup_intent and payment_method events', async () => {
    const customer = await stripe.customers.create({});
    const setup = await stripe.setupIntents.create({
      customer: customer.id,
      payment_method: 'pm_card_chargeCustomerFail',
      usage: 'off_session',
      confirm: true,
    });
    assert.equal(setup.status, 'succeeded');
    const pm = setup.payment_method as string;
    assert.equal((await stripe.paymentMethods.retrieve(pm)).card?.last4, '0341');
    // The default can only be a card of this customer.
    const other = await stripe.customers.create({});
    const refused = await stripeError(
      stripe.customers.update(other.id, { invoice_settings: { default_payment_method: pm } }),
      'StripeInvalidRequestError',
    );
    assert.equal(refused.code, 'resource_missing');
    const declined = await stripeError(
      stripe.paymentIntents.create({
        amount: 2500,
        currency: 'usd',
        customer: customer.id,
        payment_method: pm,
        off_session: true,
        confirm: true,
      }),
      'StripeCardError',
    );
    assert.equal(declined.code, 'card_declined');
    assert.equal(declined.decline_code, 'generic_decline');

    double.updateCard(pm, { exp_month: 1, exp_year: 2041 });
    const event = double.paymentMethodEvent('automatically_updated', pm);
    assert.equal(event.type, 'payment_method.automatically_updated');
    const object = (event.data as { object: { card: { exp_month: number; exp_year: number }; customer: string } })
      .object;
    assert.deepEqual([object.card.exp_month, object.card.exp_year, object.customer], [1, 2041, customer.id]);
    const succeeded = double.setupIntentEvent('succeeded', setup.id);
    assert.equal((succeeded.data as { object: { payment_method: string } }).object.payment_method, pm);
    assert.equal((await stripe.events.retrieve(succeeded.id as string)).type, 'setup_intent.succeeded');
  });
});

describe('PaymentIntents: destination charges, manual capture, refunds', () => {
  test('authorise, capture part, refund part: the fee and the transfer follow in proportion', async () => {
    const account = await onboardedAccount();
    const intent = await stripe.paymentIntents.create(
      {
        amount: 10_000,
        currency: 'usd',
        payment_method: 'pm_card_visa',
        capture_method: 'manual',
        confirm: true,
        application_fee_amount: 1_500,
        transfer_data: { destination: account },
        metadata: { booking_id: 'b1' },
      },
      { idempotencyKey: 'booking:b1:authorise' },
    );
    assert.equal(intent.status, 'requires_capture');
    assert.equal(intent.amount_capturable, 10_000);

    const captured = await stripe.paymentIntents.capture(intent.id, {
      amount_to_capture: 8_000,
      application_fee_amount: 1_200,
    });
    assert.equal(captured.status, 'succeeded');
    assert.equal(captured.amount_received, 8_000);
    const charge = await stripe.charges.retrieve(captured.latest_charge as string);
    assert.deepEqual([charge.amount_captured, charge.amount_refunded, charge.captured], [8_000, 2_000, true]);
    const transfer = await stripe.transfers.retrieve(charge.transfer as string);
    assert.equal(transfer.amount, 6_800);
    assert.equal(transfer.destination, account);
    const fee = await stripe.applicationFees.retrieve(charge.application_fee as string);
    assert.equal(fee.amount, 1_200);

    const refund = await stripe.refunds.create(
      { payment_intent: intent.id, amount: 4_000, refund_application_fee: true, reverse_transfer: true },
      { idempotencyKey: 'booking:b1:refund:1' },
    );
    assert.equal(refund.status, 'succeeded');
    assert.match(refund.transfer_reversal as string, /^trr_/);
    assert.equal((await stripe.applicationFees.retrieve(fee.id)).amount_refunded, 600);
    assert.equal((await stripe.transfers.retrieve(transfer.id)).amount_reversed, 3_400);

    const tooMuch = await stripeError(
      stripe.refunds.create({ payment_intent: intent.id, amount: 4_001 }),
      'StripeInvalidRequestError',
    );
    assert.equal(tooMuch.code, 'amount_too_large');
    const rest = await stripe.refunds.create({
      payment_intent: intent.id,
      refund_application_fee: true,
      reverse_transfer: true,
    });
    assert.equal(rest.amount, 4_000);
    assert.equal((await stripe.applicationFees.retrieve(fee.id)).amount_refunded, 1_200);
    assert.equal((await stripe.transfers.retrieve(transfer.id)).amount_reversed, 6_800);
    const full = await stripe.charges.retrieve(charge.id);
    assert.equal(full.refunded, true);
    const again = await stripeError(stripe.refunds.create({ charge: charge.id }), 'StripeInvalidRequestError');
    assert.equal(again.code, 'charge_already_refunded');

    const expanded = await stripe.paymentIntents.retrieve(intent.id, { expand: ['latest_charge'] });
    assert.equal((expanded.latest_charge as Stripe.Charge).id, charge.id);
  });

  test('3-D Secure: requires_action until the customer authenticates, then held; cancel releases it', async () => {
    const account = await onboardedAccount();
    const intent = await stripe.paymentIntents.create({
      amount: 5_000,
      currency: 'eur',
      payment_method: 'pm_card_authenticationRequired',
      capture_method: 'manual',
      application_fee_amount: 500,
      transfer_data: { destination: account },
    });
    assert.equal(intent.status, 'requires_confirmation');
    const confirmed = await stripe.paymentIntents.confirm(intent.id);
    assert.equal(confirmed.status, 'requires_action');
    assert.equal(confirmed.next_action?.type, 'use_stripe_sdk');
    assert.ok(confirmed.client_secret?.startsWith(`${intent.id}_secret_`));
    await stripeError(stripe.paymentIntents.capture(intent.id), 'StripeInvalidRequestError');
    assert.equal(double.completeAction(intent.id).status, 'requires_capture');
    const canceled = await stripe.paymentIntents.cancel(intent.id, { cancellation_reason: 'requested_by_customer' });
    assert.equal(canceled.status, 'canceled');
    assert.equal(canceled.cancellation_reason, 'requested_by_customer');
    assert.equal((await stripe.charges.retrieve(canceled.latest_charge as string)).refunded, true);
    const late = await stripeError(stripe.paymentIntents.cancel(intent.id), 'StripeInvalidRequestError');
    assert.equal(late.code, 'payment_intent_unexpected_state');

    const failed = await stripe.paymentIntents.create({
      amount: 5_000,
      currency: 'eur',
      payment_method: 'pm_card_threeDSecure2Required',
      confirm: true,
    });
    assert.equal(double.completeAction(failed.id, false).status, 'requires_payment_method');
  });

  test('declines and refused destinations', async () => {
    const declined = await stripeError(
      stripe.paymentIntents.create({
        amount: 1_000,
        currency: 'usd',
        payment_method: 'pm_card_chargeDeclined',
        confirm: true,
      }),
      'StripeCardError',
    );
    assert.deepEqual(
      [declined.code, declined.decline_code, declined.statusCode],
      ['card_declined', 'generic_decline', 402],
    );
    const funds = await stripeError(
      stripe.paymentIntents.create({
        amount: 1_000,
        currency: 'usd',
        payment_method: 'pm_card_chargeDeclinedInsufficientFunds',
        confirm: true,
      }),
      'StripeCardError',
    );
    assert.equal(funds.decline_code, 'insufficient_funds');

    const restricted = await stripe.accounts.create({
      type: 'express',
      capabilities: { transfers: { requested: true } },
    });
    const refused = await stripeError(
      stripe.paymentIntents.create({
        amount: 1_000,
        currency: 'usd',
        payment_method: 'pm_card_visa',
        transfer_data: { destination: restricted.id },
      }),
      'StripeInvalidRequestError',
    );
    assert.equal(refused.code, 'insufficient_capabilities_for_transfer');
    const fee = await stripeError(
      stripe.paymentIntents.create({ amount: 1_000, currency: 'usd', application_fee_amount: 1_001 }),
      'StripeInvalidRequestError',
    );
    assert.equal(fee.param, 'application_fee_amount');
  });
});
