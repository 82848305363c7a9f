import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type Stripe from 'stripe';
import { loadConfig } from '../../../src/config.js';
import { sql } from '../../../src/db/sql.js';
import { recordCapture } from '../../../src/integrations/stripe/capture.js';
import { createStripeClient } from '../../../src/integrations/stripe/client.js';
import { applyPayout } from '../../../src/integrations/stripe/events/payout.js';
import { type Outcome, reconcile } from '../../../src/integrations/stripe/reconcile/index.js';
import { createBooking, createListing, createUser, type UserFixture } from '../../helpers/fixtures.js';
import { testLogger } from '../../helpers/index.js';
import type { Obj } from './double.js';
import { type StripeHarness, stripeHarness, until } from './support.js';

/*
 * `loconomy stripe reconcile` for the mirrors of the later slices (decision 0023 "Reconcile"):
 * disputes, payouts, saved cards, plans, subscriptions and invoices. As in reconcile.test.ts,
 * drift is made by acting on the double directly (Stripe moves on, its event never arrives); the
 * reconciler finds it, --apply takes Stripe's state once through the webhook job's functions, and
 * the next run finds nothing. The jobs run, as in production: the default card's sync job and the
 * plans' price job are part of the state being compared.
 */

let h: StripeHarness;
/** The Stripe SDK at the double: Stripe's own state, changed behind Loconomy's back. */
let stripe: Stripe;

before(async () => {
  h = await stripeHarness();
  stripe = createStripeClient(loadConfig(process.env).stripe) as Stripe;
  await h.startJobs();
});

after(async () => {
  await h?.close();
});

/** The findings about these Stripe objects (other tests' objects share the double and the database). */
async function findingsAbout(apply: boolean, ...ids: string[]): Promise<Outcome[]> {
  const report = await reconcile(h.db, stripe, { apply, since: new Date(0), log: testLogger() });
  for (const f of report.findings) assert.notEqual(f.fix, 'failed', `${f.stripe_id}: ${f.error}`);
  return report.findings.filter((f) => ids.includes(f.stripe_id));
}

/** Found (fix available), applied once, then nothing: the cycle every fixable drift goes through. */
async function foundThenFixed(ids: string[], expected: [string, string][]): Promise<void> {
  const found = await findingsAbout(false, ...ids);
  assert.deepEqual(
    found.map((f) => [f.stripe_id, f.what, f.fix]),
    expected.map(([id, what]) => [id, what, 'available']),
  );
  const applied = await findingsAbout(true, ...ids);
  assert.deepEqual(
    applied.map((f) => [f.stripe_id, f.fix]),
    expected.map(([id]) => [id, 'applied']),
  );
}

async function nothingAbout(...ids: string[]): Promise<void> {
  assert.deepEqual(await findingsAbout(false, ...ids), []);
}

/** A provider whose Express account the double has onboarded, mirrored as Stripe had it then. */
async function onboardedProvider() {
  const { tenantId, provider } = await h.marketplace();
  const account = await stripe.accounts.create({
    type: 'express',
    capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
    metadata: { loconomy_user_id: provider.id, loconomy_tenant_id: tenantId },
  });
  h.double.completeOnboarding(account.id);
  await h.db.query(sql`
    insert into public.payout_accounts (user_id, stripe_account_id, details_submitted, charges_enabled, payouts_enabled)
    values (${provider.id}, ${account.id}, true, true, true)`);
  return { tenantId, provider, account: account.id };
}

describe('disputes', () => {
  /** A confirmed booking paid by card and captured (as the capture job records it); returns its charge. */
  async function capturedBooking() {
    const { tenantId, provider } = await onboardedProvider();
    const listing = await createListing(h.db, provider as UserFixture);
    const customer = await createUser(h.db, { tenantId });
    const booking = await createBooking(h.db, listing, customer, { status: 'pending', startsInHours: 200 });
    const client = await h.clientFor(customer);
    const { error } = await client.functions.invoke('stripe-booking-payment', {
      body: { booking_id: booking.id, payment_method_id: 'pm_card_visa' },
    });
    assert.equal(error, null);
    await h.db.query(sql`update public.bookings set status = 'confirmed', expires_at = null where id = ${booking.id}`);
    const { rows } = await h.db.query<{ id: string; pi: string }>(sql`
      select id, stripe_payment_intent_id as pi from public.payments where booking_id = ${booking.id}`);
    const payment = rows[0] as { id: string; pi: string };
    const intent = await stripe.paymentIntents.capture(
      payment.pi,
      {},
      { idempotencyKey: `test:${payment.pi}:capture` },
    );
    await recordCapture(h.db, stripe, payment.id, intent);
    return { bookingId: booking.id, paymentId: payment.id, charge: intent.latest_charge as string };
  }

  async function disputeRow(dp: string) {
    const { rows } = await h.db.query<{ status: string; amount: number; booking_status: string }>(sql`
      select d.status, d.amount_cents::int as amount, b.status::text as booking_status
        from public.payment_disputes d join public.bookings b on b.id = d.booking_id
       where d.stripe_dispute_id = ${dp}`);
    return rows[0];
  }

  test('a dispute whose events were lost is mirrored, then its win is applied', async () => {
    const b = await capturedBooking();
    const dispute = h.double.dispute(b.charge);
    const dp = dispute.id as string;
    await foundThenFixed(
      [dp],
      [[dp, `a dispute (needs_response, ${dispute.amount} USD) of this payment's charge at Stripe, not mirrored here`]],
    );
    assert.deepEqual(await disputeRow(dp), {
      status: 'needs_response',
      amount: dispute.amount,
      booking_status: 'disputed',
    });
    await nothingAbout(dp);

    // The bank decides for the provider; charge.dispute.closed never arrives.
    h.double.closeDispute(dp, 'won');
    await foundThenFixed([dp], [[dp, 'needs_response here, won at Stripe']]);
    assert.deepEqual(await disputeRow(dp), { status: 'won', amount: dispute.amount, booking_status: 'confirmed' });
    await nothingAbout(dp);
  });

  test('a dispute that closed otherwise at Stripe is left to a person', async () => {
    const b = await capturedBooking();
    const dp = h.double.dispute(b.charge).id as string;
    await findingsAbout(true, dp);
    h.double.closeDispute(dp, 'won');
    await findingsAbout(true, dp);
    // Stripe's record says lost now (a correction at Stripe): never applied over a closed status.
    h.double.updateDispute(dp, 'lost');
    const found = await findingsAbout(true, dp);
    assert.deepEqual(
      found.map((f) => [f.what, f.fix]),
      [['won here, lost at Stripe', 'manual']],
    );
    assert.equal((await disputeRow(dp))?.status, 'won');
    h.double.updateDispute(dp, 'won'); // leave later runs clean
  });
});

describe('payouts', () => {
  async function payoutRow(po: string) {
    const { rows } = await h.db.query<{ status: string; amount: number; user_id: string }>(sql`
      select status::text, amount_cents::int as amount, user_id from public.transactions
       where idempotency_key = ${`stripe:payout:${po}`}`);
    return rows[0];
  }

  test("a connected account's payout whose events were lost is mirrored, then its arrival", async () => {
    const { provider, account } = await onboardedProvider();
    const po = h.double.payout(account, 5000).id as string;
    await foundThenFixed([po], [[po, 'a payout of 5000 USD (pending) at Stripe, not mirrored here']]);
    assert.deepEqual(await payoutRow(po), { status: 'processing', amount: 5000, user_id: provider.id });
    await nothingAbout(po);

    h.double.payoutStatus(po, 'paid');
    await foundThenFixed([po], [[po, 'processing here, paid at Stripe']]);
    assert.equal((await payoutRow(po))?.status, 'completed');
    await nothingAbout(po);

    // Returned by the bank after all: forward again.
    h.double.payoutStatus(po, 'failed');
    await foundThenFixed([po], [[po, 'completed here, failed at Stripe']]);
    assert.equal((await payoutRow(po))?.status, 'failed');
    await nothingAbout(po);
  });

  test('a payout row Stripe does not have is left to a person, even with --apply', async () => {
    const { account } = await onboardedProvider();
    // Mirrored from another Stripe account's payout (a restored backup, a changed key).
    const stranger = {
      id: 'po_NotAtThisStripe',
      object: 'payout',
      amount: 700,
      currency: 'usd',
      status: 'pending',
      arrival_date: Math.floor(Date.now() / 1000),
      automatic: true,
      method: 'standard',
      failure_code: null,
      failure_message: null,
    };
    await applyPayout(h.db, account, stranger as unknown as Stripe.Payout, null, 0);
    const found = await findingsAbout(true, 'po_NotAtThisStripe');
    assert.deepEqual(
      found.map((f) => [f.what, f.fix]),
      [[`Stripe has no such payout on ${account}`, 'manual']],
    );
    await h.db.query(sql`delete from public.transactions where idempotency_key = 'stripe:payout:po_NotAtThisStripe'`);
  });
});

describe('saved cards', () => {
  /** A customer of a stripe marketplace with a Stripe Customer, stored as stripe-setup-payment-method stores it. */
  async function cardOwner() {
    const { tenantId } = await h.marketplace();
    const user = await createUser(h.db, { tenantId });
    const customer = await stripe.customers.create({ metadata: { loconomy_user_id: user.id } });
    await h.db.asRole('service_role', { role: 'service_role' }, (tx) =>
      tx.last(sql`select app.stripe_link_customer(${user.id}, ${customer.id})`),
    );
    return { user, customer: customer.id };
  }

  const stripeDefault = (customer: string) =>
    ((h.double.customers.get(customer) as Obj).invoice_settings as Obj).default_payment_method;

  async function cardRow(pm: string) {
    const { rows } = await h.db.query<{ is_active: boolean; is_default: boolean; exp: string }>(sql`
      select is_active, is_default, card_exp_month || '/' || card_exp_year as exp
        from public.payment_methods where stripe_payment_method_id = ${pm}`);
    return rows[0];
  }

  test('a card saved, renewed and removed at Stripe without events is mirrored each time', async () => {
    const { customer } = await cardOwner();
    const pm = (await stripe.paymentMethods.attach('pm_card_visa', { customer })).id;
    await foundThenFixed([pm], [[pm, 'attached to the customer at Stripe, not saved here']]);
    const saved = await cardRow(pm);
    assert.equal(saved?.is_active, true);
    assert.equal(saved?.is_default, true, 'the first card is the default');
    // The default's sync job sets it at Stripe; then the two agree.
    await until(async () => stripeDefault(customer) === pm);
    await nothingAbout(pm, customer);

    // The bank issued a new card: the card updater changed the expiry.
    const before = h.double.paymentMethods.get(pm) as Obj;
    const { exp_month: month, exp_year: year } = before.card as { exp_month: number; exp_year: number };
    h.double.updateCard(pm, { exp_year: year + 3 });
    const shown = (m: number, y: number) => `${String(m).padStart(2, '0')}/${y}`;
    await foundThenFixed([pm], [[pm, `expiry ${shown(month, year)} here, ${shown(month, year + 3)} at Stripe`]]);
    assert.equal((await cardRow(pm))?.exp, `${month}/${year + 3}`);
    await nothingAbout(pm, customer);

    // Removed in the dashboard.
    await stripe.paymentMethods.detach(pm);
    await foundThenFixed([pm], [[pm, 'active here, detached at Stripe']]);
    assert.deepEqual(await cardRow(pm), { is_active: false, is_default: false, exp: `${month}/${year + 3}` });
    await until(async () => stripeDefault(customer) === null);
    await nothingAbout(pm, customer);
  });

  test('a default card changed at Stripe is left to a person', async () => {
    const { customer } = await cardOwner();
    const cards = [
      (await stripe.paymentMethods.attach('pm_card_visa', { customer })).id,
      (await stripe.paymentMethods.attach('pm_card_mastercard', { customer })).id,
    ];
    await findingsAbout(true, ...cards);
    // Whichever was mirrored first is the default; the job sets it at Stripe.
    const rows = await Promise.all(cards.map(cardRow));
    assert.equal(rows.filter((r) => r?.is_default).length, 1);
    const ours = cards[rows.findIndex((r) => r?.is_default)] as string;
    const other = cards.find((pm) => pm !== ours) as string;
    await until(async () => stripeDefault(customer) === ours);
    await nothingAbout(...cards, customer);

    await stripe.customers.update(customer, { invoice_settings: { default_payment_method: other } });
    const found = await findingsAbout(true, ...cards, customer);
    assert.deepEqual(
      found.map((f) => [f.stripe_id, f.what, f.fix]),
      [[customer, `the default card is ${ours} here, ${other} at Stripe`, 'manual']],
    );
    assert.equal((await cardRow(ours))?.is_default, true, 'the user’s choice stays');
    await stripe.customers.update(customer, { invoice_settings: { default_payment_method: ours } });
  });
});

describe('billing', () => {
  /** A stripe marketplace with a basic plan whose Price the sync job made; a provider's client. */
  async function planned() {
    const { tenantId, provider } = await h.marketplace();
    const { rows } = await h.db.query<{ id: string }>(sql`
      insert into public.subscription_plans (tenant_id, tier, name, currency, price_cents)
      values (${tenantId}, 'basic', 'Basic', 'USD', 1900) returning id`);
    const planId = (rows[0] as { id: string }).id;
    const price = await until(async () => {
      const { rows: p } = await h.db.query<{ price: string | null }>(sql`
        select stripe_price_id as price from public.subscription_plans where id = ${planId}`);
      return p[0]?.price;
    });
    return { tenantId, provider, planId, price, client: await h.clientFor(provider) };
  }

  /** A provider subscribed through stripe-subscribe and paid with Stripe.js; no event delivered. */
  async function subscribed() {
    const m = await planned();
    const { data, error } = await m.client.functions.invoke('stripe-subscribe', { body: { plan_id: m.planId } });
    assert.equal(error, null);
    const secret = data.client_secret as string;
    await stripe.paymentIntents.confirm(secret.slice(0, secret.indexOf('_secret_')), {
      payment_method: 'pm_card_visa',
    });
    const sub = data.stripe_subscription_id as string;
    return { ...m, sub, subscriptionId: data.subscription_id as string };
  }

  async function subscriptionRow(id: string) {
    const { rows } = await h.db.query<{ status: string; cancel_at_period_end: boolean }>(sql`
      select status::text, cancel_at_period_end from public.subscriptions where id = ${id}`);
    return rows[0];
  }

  async function invoiceRow(stripeInvoiceId: string) {
    const { rows } = await h.db.query<{ status: string; paid: number; payments: number }>(sql`
      select i.status::text, i.amount_paid_cents::int as paid,
             (select count(*)::int from public.transactions t
               where t.idempotency_key = 'stripe:invoice:' || i.stripe_invoice_id || ':payment') as payments
        from public.invoices i where i.stripe_invoice_id = ${stripeInvoiceId}`);
    return rows[0];
  }

  test('a first payment whose events were lost: the subscription and its paid invoice are mirrored', async () => {
    const s = await subscribed();
    const first = h.double.subscription(s.sub).latest_invoice as string;
    await foundThenFixed(
      [s.sub, first],
      [
        [s.sub, 'incomplete here, active at Stripe'],
        [first, 'a paid invoice of 1900 USD of this subscription at Stripe, not mirrored here'],
      ],
    );
    assert.equal((await subscriptionRow(s.subscriptionId))?.status, 'active');
    assert.deepEqual(await invoiceRow(first), { status: 'paid', paid: 1900, payments: 1 });
    await nothingAbout(s.sub, first);

    // Set to end at the period's end in the dashboard.
    await stripe.subscriptions.update(s.sub, { cancel_at_period_end: true });
    await foundThenFixed([s.sub], [[s.sub, 'cancel_at_period_end is false here, true at Stripe']]);
    assert.equal((await subscriptionRow(s.subscriptionId))?.cancel_at_period_end, true);
    await nothingAbout(s.sub);
  });

  test('a renewal that failed, then was paid: dunning state and the open invoice move forward', async () => {
    const s = await subscribed();
    await findingsAbout(true, s.sub);
    // The renewal is declined: Stripe has an open invoice (its events lost) and a past_due subscription.
    h.double.advanceSubscription(s.sub, { decline: true });
    const renewal = h.double.subscription(s.sub).latest_invoice as string;
    const found = await findingsAbout(false, s.sub, renewal);
    assert.equal(found.length, 1, 'an open invoice is not listed: only paid ones are looked for');
    assert.match(found[0]?.what ?? '', /^active here, past_due at Stripe(;|$)/);
    await findingsAbout(true, s.sub);
    assert.equal((await subscriptionRow(s.subscriptionId))?.status, 'past_due');
    await nothingAbout(s.sub, renewal);

    // Its invoice.finalized did arrive; then the customer pays it with a new card through Stripe.js.
    const event = h.double.invoiceEvent('finalized', renewal);
    const answer = await h.double.deliver(h.webhookUrl, event);
    assert.equal(answer.status, 200);
    await until(async () => (await invoiceRow(renewal))?.status === 'open');
    const intent = ((h.double.invoice(renewal).payments as Obj).data as Obj[])[0]?.payment as Obj;
    await stripe.paymentIntents.confirm(intent.payment_intent as string, { payment_method: 'pm_card_mastercard' });
    await foundThenFixed(
      [s.sub, renewal],
      [
        [s.sub, 'past_due here, active at Stripe'],
        [renewal, 'open here, paid at Stripe; 0 paid here, 1900 at Stripe'],
      ],
    );
    assert.deepEqual(await invoiceRow(renewal), { status: 'paid', paid: 1900, payments: 1 });
    await nothingAbout(s.sub, renewal);
  });

  test('a plan whose Price was archived at Stripe is left to a person', async () => {
    const m = await planned();
    await nothingAbout(m.price);
    await stripe.prices.update(m.price, { active: false });
    const found = await findingsAbout(true, m.price);
    assert.deepEqual(
      found.map((f) => [f.kind, f.what, f.fix]),
      [['plan', 'active here, the price is archived at Stripe', 'manual']],
    );
    // Archived with the plan: Loconomy leaves an inactive plan's Price alone, so no difference.
    await h.db.query(sql`update public.subscription_plans set is_active = false where id = ${m.planId}`);
    await nothingAbout(m.price);
  });
});
