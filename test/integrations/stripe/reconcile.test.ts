import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type Stripe from 'stripe';
import { loadConfig } from '../../../src/config.js';
import { sql } from '../../../src/db/sql.js';
import { createStripeClient } from '../../../src/integrations/stripe/client.js';
import { type Outcome, reconcile } from '../../../src/integrations/stripe/reconcile/index.js';
import { createBooking, createListing, createUser, type UserFixture } from '../../helpers/fixtures.js';
import { runCli, testBackend, testLogger } from '../../helpers/index.js';
import { payoutAccount, type StripeHarness, stripeHarness } from './support.js';

/*
 * `loconomy stripe reconcile` on this backend (decision 0023 "Reconcile"): drift is made the way
 * it happens — Stripe moves on and its event never arrives — by acting on the double directly,
 * then the reconciler finds each difference, fixes what Stripe's state settles with --apply,
 * leaves the rest to a person, and finds nothing the second time.
 */

let h: StripeHarness;
/** The Stripe SDK at the double: Stripe's own state, changed behind Loconomy's back. */
let stripe: Stripe;

before(async () => {
  h = await stripeHarness();
  stripe = createStripeClient(loadConfig(process.env).stripe) as Stripe;
});

after(async () => {
  await h?.close();
});

const run = (apply: boolean) => reconcile(h.db, stripe, { apply, since: new Date(0), log: testLogger() });

/** The findings about these Stripe objects (other tests' objects share the double and the database). */
async function findingsAbout(apply: boolean, ...ids: string[]): Promise<Outcome[]> {
  const report = await run(apply);
  return report.findings.filter((f) => ids.includes(f.stripe_id));
}

/** A provider whose Express account the double has onboarded, mirrored as Stripe had it then. */
async function onboardedProvider(tenantId?: string) {
  const market = tenantId === undefined ? await h.marketplace() : { tenantId, provider: undefined };
  const provider = market.provider ?? (await createUser(h.db, { tenantId: market.tenantId, role: 'provider' }));
  const account = await stripe.accounts.create({
    type: 'express',
    capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
    metadata: { loconomy_user_id: provider.id, loconomy_tenant_id: market.tenantId },
  });
  h.double.completeOnboarding(account.id);
  await h.db.query(sql`
    insert into public.payout_accounts (user_id, stripe_account_id, details_submitted, charges_enabled, payouts_enabled)
    values (${provider.id}, ${account.id}, true, true, true)`);
  return { tenantId: market.tenantId, provider, account: account.id };
}

/** A booking paid through stripe-booking-payment with `card`; returns its payment and PaymentIntent. */
async function bookingPaidWith(card: string) {
  const { tenantId, provider } = await onboardedProvider();
  const listing = await createListing(h.db, provider as UserFixture);
  const customer = await createUser(h.db, { tenantId });
  const booking = await createBooking(h.db, listing, customer, { status: 'pending', startsInHours: 200 });
  const client = await h.clientFor(customer);
  const { error } = await client.functions.invoke('stripe-booking-payment', {
    body: { booking_id: booking.id, payment_method_id: card },
  });
  assert.equal(error, null);
  const payment = await paymentOf(booking.id);
  return { bookingId: booking.id, paymentId: payment.id, intentId: payment.stripe_payment_intent_id as string };
}

interface PaymentRow {
  id: string;
  status: string;
  stripe_payment_intent_id: string | null;
  captured_cents: number;
  refunded_cents: number;
}

async function paymentOf(bookingId: string): Promise<PaymentRow> {
  const { rows } = await h.db.query<PaymentRow>(sql`
    select id, status::text, stripe_payment_intent_id, captured_cents::int, refunded_cents::int
      from public.payments where booking_id = ${bookingId}`);
  return rows[0] as PaymentRow;
}

async function ledger(paymentId: string) {
  const { rows } = await h.db.query<{ type: string; amount: number }>(sql`
    select type::text, amount_cents::int as amount from public.transactions where payment_id = ${paymentId}
     order by type::text, amount_cents`);
  return rows;
}

test('mirrors that agree with Stripe give no finding', async () => {
  const b = await bookingPaidWith('pm_card_visa');
  const account = (
    await h.db.query<{ id: string }>(sql`
    select a.stripe_account_id as id from public.payout_accounts a join public.payments p on p.provider_id = a.user_id
     where p.id = ${b.paymentId}`)
  ).rows[0]?.id as string;
  assert.equal((await paymentOf(b.bookingId)).status, 'authorised');
  assert.deepEqual(await findingsAbout(false, b.intentId, account), []);
});

test('an account.updated that never arrived: reported, then mirrored with --apply', async () => {
  const { tenantId } = await h.marketplace();
  const provider = await createUser(h.db, { tenantId, role: 'provider' });
  const account = await stripe.accounts.create({ type: 'express', metadata: { loconomy_user_id: provider.id } });
  await h.db.query(sql`
    insert into public.payout_accounts (user_id, stripe_account_id) values (${provider.id}, ${account.id})`);
  h.double.completeOnboarding(account.id);

  const found = await findingsAbout(false, account.id);
  assert.equal(found.length, 1);
  assert.equal(found[0]?.fix, 'available');
  assert.match(found[0]?.what ?? '', /charges_enabled is false here, true at Stripe/);
  assert.match(found[0]?.what ?? '', /payouts_enabled is false here, true at Stripe/);
  assert.equal((await payoutAccount(h.db, provider.id))?.charges_enabled, false, 'a report changes nothing');

  const applied = await findingsAbout(true, account.id);
  assert.deepEqual(
    applied.map((f) => f.fix),
    ['applied'],
  );
  const row = await payoutAccount(h.db, provider.id);
  assert.equal(row?.charges_enabled, true);
  assert.equal(row?.payouts_enabled, true);
  assert.equal(row?.details_submitted, true);
  assert.deepEqual(await findingsAbout(false, account.id), []);
});

test('an account Stripe made for a user but Loconomy never stored is linked; strangers are left alone', async () => {
  const { tenantId } = await h.marketplace();
  const provider = await createUser(h.db, { tenantId, role: 'provider' });
  const account = await stripe.accounts.create({
    type: 'express',
    metadata: { loconomy_user_id: provider.id, loconomy_tenant_id: tenantId },
  });
  h.double.completeOnboarding(account.id);
  // Another deployment sharing the Stripe account: its user and tenant are not here.
  const stranger = await stripe.accounts.create({
    type: 'express',
    metadata: { loconomy_user_id: crypto.randomUUID(), loconomy_tenant_id: crypto.randomUUID() },
  });

  const found = await findingsAbout(false, account.id, stranger.id);
  assert.deepEqual(
    found.map((f) => [f.stripe_id, f.fix, f.what]),
    [[account.id, 'available', 'made for this user at Stripe but not stored here']],
  );
  await findingsAbout(true, account.id);
  const row = await payoutAccount(h.db, provider.id);
  assert.equal(row?.stripe_account_id, account.id);
  assert.equal(row?.charges_enabled, true, 'linked and mirrored in the same fix');
  assert.deepEqual(await findingsAbout(false, account.id, stranger.id), []);
});

test('a second account for a linked user needs a person', async () => {
  const { provider, account, tenantId } = await onboardedProvider();
  const second = await stripe.accounts.create({
    type: 'express',
    metadata: { loconomy_user_id: provider.id, loconomy_tenant_id: tenantId },
  });
  const found = await findingsAbout(true, second.id);
  assert.deepEqual(
    found.map((f) => [f.fix, f.what]),
    [['manual', `a second account for this user, who is paid through ${account}`]],
  );
  assert.equal((await payoutAccount(h.db, provider.id))?.stripe_account_id, account, 'the link is not changed');
  await stripe.accounts.update(second.id, { metadata: { loconomy_user_id: '' } }); // leave later runs clean
});

test('an authorisation whose event was lost (3-D Secure completed in the browser) is applied', async () => {
  const b = await bookingPaidWith('pm_card_threeDSecure2Required');
  assert.equal((await paymentOf(b.bookingId)).status, 'requires_payment');
  h.double.completeAction(b.intentId);

  const found = await findingsAbout(false, b.intentId);
  assert.deepEqual(
    found.map((f) => [f.kind, f.what, f.fix]),
    [['payment', 'requires_payment here, requires_capture at Stripe', 'available']],
  );
  await findingsAbout(true, b.intentId);
  assert.equal((await paymentOf(b.bookingId)).status, 'authorised');
  assert.deepEqual(await findingsAbout(false, b.intentId), []);
});

test('a capture and a refund made at Stripe are recorded once, with their ledger rows', async () => {
  const b = await bookingPaidWith('pm_card_visa');
  // Someone captures in the dashboard, then refunds 10.00 of it; neither event reaches Loconomy.
  await stripe.paymentIntents.capture(b.intentId);
  const refund = await stripe.refunds.create({
    payment_intent: b.intentId,
    amount: 1000,
    refund_application_fee: true,
    reverse_transfer: true,
  });

  const found = await findingsAbout(false, b.intentId, refund.id);
  assert.deepEqual(
    found.map((f) => [f.kind, f.stripe_id, f.fix]),
    [
      ['payment', b.intentId, 'available'],
      ['refund', refund.id, 'available'],
    ],
  );
  assert.equal(found[0]?.what, 'authorised here, succeeded at Stripe');
  assert.match(found[1]?.what ?? '', /^a refund of 1000 USD at Stripe, not recorded here$/);

  const applied = await findingsAbout(true, b.intentId, refund.id);
  assert.deepEqual(
    applied.map((f) => f.fix),
    ['applied', 'applied'],
  );
  const payment = await paymentOf(b.bookingId);
  assert.equal(payment.status, 'partially_refunded');
  assert.equal(payment.captured_cents, 8400);
  assert.equal(payment.refunded_cents, 1000);
  const types = (await ledger(b.paymentId)).map((r) => r.type);
  assert.deepEqual(types, ['payment', 'refund', 'transfer', 'transfer_reversal']);

  // A second --apply finds nothing and writes nothing.
  assert.deepEqual(await findingsAbout(true, b.intentId, refund.id), []);
  assert.equal((await ledger(b.paymentId)).length, 4);
});

test('the command: no key is one clear line; drift exits 1 until --apply fixes it', async (t) => {
  const noKey = await runCli(['stripe', 'reconcile'], { LOCONOMY_DATA_DIR: '/nonexistent' });
  assert.equal(noKey.code, 1);
  assert.equal(
    noKey.stderr,
    'loconomy: STRIPE_SECRET_KEY is not set — set the key the server uses (sk_… or a restricted rk_… key that can read accounts, PaymentIntents, refunds, disputes, payouts, customers, payment methods, prices, subscriptions and invoices)\n',
  );
  const bad = await runCli(['stripe', 'reconcile', '--since', 'yesterday'], h.double.env());
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^loconomy: --since must be a date in ISO 8601, e\.g\. 2026-11-01 \(got "yesterday"\) — /);

  if (testBackend() !== 'postgres') {
    t.skip('the embedded database is held open by this test process; the command is run on PostgreSQL');
    return;
  }
  const { tenantId } = await h.marketplace();
  const provider = await createUser(h.db, { tenantId, role: 'provider' });
  const account = await stripe.accounts.create({ type: 'express' });
  await h.db.query(sql`
    insert into public.payout_accounts (user_id, stripe_account_id) values (${provider.id}, ${account.id})`);
  h.double.completeOnboarding(account.id);
  const env = { ...h.db.location.env, ...h.double.env(), LOG_LEVEL: 'info', LOG_FORMAT: 'json' };

  const report = await runCli(['stripe', 'reconcile'], env);
  assert.equal(report.code, 1, report.stderr);
  assert.match(
    report.stderr,
    /^loconomy: Loconomy differs from Stripe: 1 that --apply fixes — run `loconomy stripe reconcile --apply`/,
  );
  const lines = report.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.stripe_id === account.id && l.fix === 'available'));

  const fixed = await runCli(['stripe', 'reconcile', '--apply'], env);
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.equal((await payoutAccount(h.db, provider.id))?.charges_enabled, true);
  const again = await runCli(['stripe', 'reconcile'], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /Loconomy and Stripe agree/);
});

// Last: what it leaves behind is a difference no fix settles.
test('a PaymentIntent Stripe does not have is left to a person, even with --apply', async () => {
  const b = await bookingPaidWith('pm_card_visa');
  await stripe.paymentIntents.cancel(b.intentId);
  // A payment pointing at an intent of another Stripe account (a restored backup, a changed key).
  const { tenantId, provider } = await onboardedProvider();
  const listing = await createListing(h.db, provider);
  const customer = await createUser(h.db, { tenantId });
  const booking = await createBooking(h.db, listing, customer, { status: 'pending', startsInHours: 200 });
  const payment = await paymentOf(booking.id);
  await h.db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last(sql`select app.stripe_attach_payment_intent(${payment.id}, 'pi_3NotAtThisStripe')`),
  );

  const found = await findingsAbout(true, 'pi_3NotAtThisStripe', b.intentId);
  assert.deepEqual(
    found.map((f) => [f.stripe_id, f.what, f.fix]).sort(),
    [
      [b.intentId, 'authorised here, canceled at Stripe', 'applied'],
      ['pi_3NotAtThisStripe', 'Stripe has no such PaymentIntent', 'manual'],
    ].sort(),
  );
  assert.equal((await paymentOf(b.bookingId)).status, 'voided');
  assert.equal((await paymentOf(booking.id)).status, 'requires_payment');
});
