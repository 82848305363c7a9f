import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FunctionsHttpError } from '@supabase/supabase-js';
import type Stripe from 'stripe';
import { loadConfig } from '../../../src/config.js';
import { sql } from '../../../src/db/sql.js';
import { createStripeClient } from '../../../src/integrations/stripe/client.js';
import { reconcile } from '../../../src/integrations/stripe/reconcile/index.js';
import { addJob } from '../../../src/jobs/queue.js';
import { createUser } from '../../helpers/fixtures.js';
import { type TestServer, testLogger } from '../../helpers/index.js';
import type { Obj } from './double.js';
import { processed, type StripeHarness, stripeHarness, until } from './support.js';

/*
 * Provider subscriptions through Stripe Billing end to end on this backend (decision 0023, slice
 * 6): a payments manager writes plans through supabase-js and the sync job makes their Stripe
 * Prices at the double; providers subscribe, change plan, cancel and resume through the built-in
 * functions; the double's customer.subscription.* and invoice.* events reach POST
 * /webhooks/stripe and are mirrored into subscriptions, invoices, invoice_items and transactions.
 */

let h: StripeHarness;
/** The Stripe SDK at the double, standing in for Stripe.js and for Stripe's own state. */
let stripe: Stripe;

before(async () => {
  h = await stripeHarness();
  stripe = createStripeClient(loadConfig(process.env).stripe) as Stripe;
  await h.startJobs();
});

after(async () => {
  await h?.close();
});

type Client = ReturnType<TestServer['client']>;

interface Invoked {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
  body: any;
}

async function invoke(client: Client, name: string, body: unknown): Promise<Invoked> {
  const { data, error } = await client.functions.invoke(name, { body: body as Record<string, unknown> });
  if (error === null) return { status: 200, body: data };
  assert.ok(error instanceof FunctionsHttpError, `expected an HTTP error, got ${error}`);
  const response = error.context as Response;
  return { status: response.status, body: await response.json() };
}

interface Plans {
  basic: string;
  professional: string;
  enterprise: string;
}

/** A marketplace (stripe unless said) whose manager wrote three monthly plans; stripe plans synced by the job. */
async function marketplace(mode: 'stripe' | 'offline' = 'stripe') {
  const { tenantId, provider } = await h.marketplace(mode);
  const admin = await createUser(h.db, { tenantId, role: 'admin' });
  const adminClient = await h.clientFor(admin);
  const { data, error } = await adminClient
    .from('subscription_plans')
    .insert(
      [
        { tier: 'basic', name: 'Basic', currency: 'USD', price_cents: 1900, features: { featured_listings: 1 } },
        {
          tier: 'professional',
          name: 'Professional',
          currency: 'USD',
          price_cents: 4900,
          features: { featured_listings: 5 },
        },
        { tier: 'enterprise', name: 'Enterprise', currency: 'USD', price_cents: 14900, trial_days: 14 },
      ],
      { defaultToNull: false },
    )
    .select('id, tier');
  assert.equal(error, null, JSON.stringify(error));
  const plans = Object.fromEntries(
    (data as { id: string; tier: string }[]).map((p) => [p.tier, p.id]),
  ) as unknown as Plans;
  if (mode === 'stripe') {
    await until(async () => {
      const { rows } = await h.db.query<{ n: number }>(sql`
        select count(*)::int as n from public.subscription_plans where tenant_id = ${tenantId} and stripe_price_id is not null`);
      return rows[0]?.n === 3;
    });
  }
  return { tenantId, provider, admin, adminClient, plans, client: await h.clientFor(provider) };
}

/** Delivers an event (built by the double) and waits for its processing. */
async function deliver(event: Obj) {
  const answer = await h.double.deliver(h.webhookUrl, event);
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  return processed(h.db, event.id as string);
}

interface SubscriptionRow {
  id: string;
  status: string;
  tier: string;
  plan_id: string | null;
  price_cents: number;
  stripe_subscription_id: string | null;
  stripe_price_id: string | null;
  cancel_at_period_end: boolean;
  canceled_at: Date | null;
  trial_end: Date | null;
  current_period_end: Date | null;
  features: Record<string, unknown>;
}

async function subscriptionsOf(userId: string): Promise<SubscriptionRow[]> {
  const { rows } = await h.db.query<SubscriptionRow>(sql`
    select id, status::text, tier::text, plan_id, price_cents::int, stripe_subscription_id, stripe_price_id,
           cancel_at_period_end, canceled_at, trial_end, current_period_end, features
      from public.subscriptions where user_id = ${userId} order by created_at`);
  return rows;
}

interface InvoiceRow {
  id: string;
  status: string;
  invoice_number: string;
  subtotal_cents: number;
  discount_cents: number;
  total_cents: number;
  amount_paid_cents: number;
  hosted_invoice_url: string | null;
  pdf_url: string | null;
  subscription_id: string | null;
}

async function invoiceOf(stripeInvoiceId: string): Promise<InvoiceRow | undefined> {
  const { rows } = await h.db.query<InvoiceRow>(sql`
    select id, status::text, invoice_number, subtotal_cents::int, discount_cents::int, total_cents::int,
           amount_paid_cents::int, hosted_invoice_url, pdf_url, subscription_id
      from public.invoices where stripe_invoice_id = ${stripeInvoiceId}`);
  return rows[0];
}

async function linesOf(invoiceId: string) {
  const { rows } = await h.db.query<{ description: string; total_cents: number; proration: boolean | null }>(sql`
    select description, total_cents::int, (metadata ->> 'proration')::boolean as proration
      from public.invoice_items where invoice_id = ${invoiceId} order by total_cents, description`);
  return rows;
}

async function paymentsOf(userId: string) {
  const { rows } = await h.db.query<{ amount: number; fee: number; subscription_id: string | null; key: string }>(sql`
    select amount_cents::int as amount, platform_fee_cents::int as fee, subscription_id, idempotency_key as key
      from public.transactions where user_id = ${userId} and type = 'payment' order by created_at`);
  return rows;
}

/** The PaymentIntent id inside a client secret (pi_…_secret_…), as Stripe.js reads it. */
const intentOf = (clientSecret: string) => clientSecret.slice(0, clientSecret.indexOf('_secret_'));

/** A provider subscribed to basic and paid (the card pays renewals too); events applied. */
async function activeSubscription() {
  const m = await marketplace();
  const answer = await invoke(m.client, 'stripe-subscribe', { plan_id: m.plans.basic });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  await stripe.paymentIntents.confirm(intentOf(answer.body.client_secret), { payment_method: 'pm_card_visa' });
  const sub = answer.body.stripe_subscription_id as string;
  await deliver(h.double.invoiceEvent('paid', h.double.subscription(sub).latest_invoice as string));
  await deliver(h.double.subscriptionEvent('updated', sub));
  return { ...m, sub, subscriptionId: answer.body.subscription_id as string };
}

describe('subscription plans', () => {
  test('a manager’s plans get Stripe Prices with lookup keys from the job; anyone reads the active ones', async () => {
    const m = await marketplace();
    for (const [tier, id] of Object.entries(m.plans)) {
      const { rows } = await h.db.query<{ stripe_price_id: string; stripe_product_id: string }>(sql`
        select stripe_price_id, stripe_product_id from public.subscription_plans where id = ${id}`);
      const price = h.double.prices.get(rows[0]?.stripe_price_id as string) as Obj;
      assert.equal(price.lookup_key, `loconomy:${m.tenantId}:${tier}:month`);
      assert.equal((price.metadata as Obj).loconomy_tier, tier);
      assert.equal(price.product, rows[0]?.stripe_product_id);
    }
    // Re-priced: a new Price takes the lookup key; subscribers of the old one keep it.
    const { error } = await m.adminClient
      .from('subscription_plans')
      .update({ price_cents: 2500 })
      .eq('id', m.plans.basic);
    assert.equal(error, null, JSON.stringify(error));
    const newPrice = await until(async () => {
      const { rows } = await h.db.query<{ p: string | null }>(sql`
        select stripe_price_id as p from public.subscription_plans where id = ${m.plans.basic}`);
      const p = rows[0]?.p;
      return p && (h.double.prices.get(p) as Obj).unit_amount === 2500 ? p : undefined;
    });
    const holders = [...h.double.prices.values()].filter((p) => p.lookup_key === `loconomy:${m.tenantId}:basic:month`);
    assert.deepEqual(
      holders.map((p) => p.id),
      [newPrice],
    );

    // The pricing page: active plans of one's own marketplace; the manager also sees inactive ones.
    await m.adminClient.from('subscription_plans').update({ is_active: false }).eq('id', m.plans.enterprise);
    const seen = await m.client.from('subscription_plans').select('tier, price_cents').order('price_cents');
    assert.deepEqual(seen.data, [
      { tier: 'basic', price_cents: 2500 },
      { tier: 'professional', price_cents: 4900 },
    ]);
    const all = await m.adminClient.from('subscription_plans').select('tier');
    assert.equal(all.data?.length, 3);
    const elsewhere = await marketplace();
    const other = await elsewhere.client.from('subscription_plans').select('id').eq('id', m.plans.basic);
    assert.deepEqual(other.data, []);
  });

  test('a provider cannot write plans, and a plan needs a paid tier and a positive price', async () => {
    const m = await marketplace('offline');
    const denied = await m.client
      .from('subscription_plans')
      .insert({ tier: 'basic', name: 'Mine', currency: 'USD', price_cents: 1 });
    assert.equal(denied.status, 403, JSON.stringify(denied));
    const free = await m.adminClient
      .from('subscription_plans')
      .insert({ tier: 'free', billing_interval: 'year', name: 'Free', currency: 'USD', price_cents: 1 });
    assert.equal(free.status, 400, JSON.stringify(free));
    const zero = await m.adminClient
      .from('subscription_plans')
      .insert({ tier: 'basic', billing_interval: 'year', name: 'Zero', currency: 'USD', price_cents: 0 });
    assert.equal(zero.status, 400, JSON.stringify(zero));
    const { rows } = await h.db.query<{ n: number }>(sql`
      select count(*)::int as n from public.subscription_plans where tenant_id = ${m.tenantId}`);
    assert.equal(rows[0]?.n, 3);
  });
});

describe('stripe-subscribe', () => {
  test('without a trial: incomplete until the first invoice is paid; the invoice, its line and one payment are mirrored once', async () => {
    const m = await marketplace();
    const answer = await invoke(m.client, 'stripe-subscribe', { plan_id: m.plans.basic });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.status, 'incomplete');
    assert.equal(answer.body.tier, 'basic');
    assert.match(answer.body.client_secret, /^pi_\w+_secret_\w+$/);
    assert.equal(answer.body.setup_client_secret, null);
    const sub = answer.body.stripe_subscription_id as string;
    const created = h.double.requests.find((r) => r.method === 'POST' && r.path === '/v1/subscriptions');
    assert.equal(created?.idempotencyKey, `subscription:${answer.body.subscription_id}:create:${m.plans.basic}`);
    assert.equal(created?.params.payment_behavior, 'default_incomplete');
    let [row] = await subscriptionsOf(m.provider.id);
    assert.equal(row?.status, 'incomplete');
    assert.equal(row?.stripe_subscription_id, sub);

    // A retry of the same call (the answer was lost) is refused: the subscription exists.
    const again = await invoke(m.client, 'stripe-subscribe', { plan_id: m.plans.professional });
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'LOCO_SUBSCRIPTION_EXISTS');

    // Stripe.js confirms the first invoice's PaymentIntent with the card.
    const paid = await stripe.paymentIntents.confirm(intentOf(answer.body.client_secret), {
      payment_method: 'pm_card_visa',
    });
    assert.equal(paid.status, 'succeeded');
    const invoiceId = h.double.subscription(sub).latest_invoice as string;
    // Out of order and duplicated: created (a snapshot of the open invoice) after paid, paid twice.
    const createdEvent = h.double.invoiceEvent('created', invoiceId);
    const paidEvent = h.double.invoiceEvent('paid', invoiceId);
    await deliver(paidEvent);
    await deliver(createdEvent);
    const duplicate = await h.double.deliver(h.webhookUrl, paidEvent);
    assert.equal(duplicate.json.outcome, 'duplicate');
    await deliver(h.double.invoiceEvent('paid', invoiceId));
    await deliver(h.double.subscriptionEvent('created', sub));
    await deliver(h.double.subscriptionEvent('updated', sub));

    [row] = await subscriptionsOf(m.provider.id);
    assert.equal(row?.status, 'active');
    assert.equal(row?.tier, 'basic');
    assert.equal(row?.plan_id, m.plans.basic);
    assert.equal(row?.price_cents, 1900);
    assert.deepEqual(row?.features, { featured_listings: 1 });
    assert.ok(row?.current_period_end && row.current_period_end.getTime() > Date.now() + 27 * 86_400_000);
    const invoice = await invoiceOf(invoiceId);
    const stripeInvoice = h.double.invoice(invoiceId);
    assert.equal(invoice?.status, 'paid');
    assert.equal(invoice?.invoice_number, stripeInvoice.number);
    assert.equal(invoice?.total_cents, 1900);
    assert.equal(invoice?.amount_paid_cents, 1900);
    assert.equal(invoice?.subscription_id, row?.id);
    assert.equal(invoice?.hosted_invoice_url, stripeInvoice.hosted_invoice_url);
    assert.equal(invoice?.pdf_url, stripeInvoice.invoice_pdf);
    assert.equal((await linesOf(invoice?.id as string)).length, 1);
    assert.deepEqual(await paymentsOf(m.provider.id), [
      { amount: 1900, fee: 1900, subscription_id: row?.id, key: `stripe:invoice:${invoiceId}:payment` },
    ]);

    // The subscriber reads their invoices and lines; another provider reads none of them.
    const mine = await m.client.from('invoices').select('status, total_cents, invoice_items(total_cents)');
    assert.deepEqual(mine.data, [{ status: 'paid', total_cents: 1900, invoice_items: [{ total_cents: 1900 }] }]);
    const stranger = await h.clientFor(await createUser(h.db, { tenantId: m.tenantId, role: 'provider' }));
    assert.deepEqual((await stranger.from('invoices').select('id')).data, []);
    assert.deepEqual((await stranger.from('invoice_items').select('id')).data, []);
    assert.deepEqual((await stranger.from('subscriptions').select('id')).data, []);

    // Operators: subscription money is in subscriptions_report, and payments_report (bookings) is unmoved.
    const report = await m.adminClient.rpc('subscriptions_report');
    assert.deepEqual(report.data, [{ currency: 'USD', invoices_paid: 1, revenue_cents: 1900, subscribers: 1 }]);
    assert.deepEqual((await m.adminClient.rpc('payments_report')).data, []);
    assert.equal((await m.client.rpc('subscriptions_report')).status, 403);
  });

  test('with a trial: trialing at once with nothing to pay, a SetupIntent for the card, and a warning before it ends', async () => {
    const m = await marketplace();
    const answer = await invoke(m.client, 'stripe-subscribe', { plan_id: m.plans.enterprise });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.status, 'trialing');
    assert.equal(answer.body.client_secret, null);
    assert.match(answer.body.setup_client_secret, /^seti_\w+_secret_\w+$/);
    const days = (Date.parse(answer.body.trial_end) - Date.now()) / 86_400_000;
    assert.ok(days > 13.9 && days <= 14, `trial of ${days} days`);
    const [row] = await subscriptionsOf(m.provider.id);
    assert.equal(row?.status, 'trialing');
    assert.equal(row?.tier, 'enterprise');

    const sub = answer.body.stripe_subscription_id as string;
    await deliver(h.double.invoiceEvent('paid', h.double.subscription(sub).latest_invoice as string));
    assert.deepEqual(await paymentsOf(m.provider.id), [], 'a trial’s invoice of 0 moves no money');
    const warned = await deliver(h.double.subscriptionEvent('trial_will_end', sub));
    assert.equal(warned.outcome, 'applied');
    const { rows } = await h.db.query<{ n: number }>(sql`
      select count(*)::int as n from public.notifications where user_id = ${m.provider.id} and type = 'subscription_trial_ending'`);
    assert.equal(rows[0]?.n, 1);
  });

  test('bad calls are refused with their status and nothing is written', async () => {
    const m = await marketplace();
    const bad = await invoke(m.client, 'stripe-subscribe', { plan_id: 'basic' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'LOCO_FUNCTION_INVALID');
    const unknown = await invoke(m.client, 'stripe-subscribe', { plan_id: crypto.randomUUID() });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, 'LOCO_PLAN_NOT_FOUND');
    const foreign = await marketplace();
    const theirs = await invoke(m.client, 'stripe-subscribe', { plan_id: foreign.plans.basic });
    assert.equal(theirs.status, 404);
    const customer = await h.clientFor(await createUser(h.db, { tenantId: m.tenantId }));
    const notProvider = await invoke(customer, 'stripe-subscribe', { plan_id: m.plans.basic });
    assert.equal(notProvider.status, 403);
    assert.equal(notProvider.body.code, 'LOCO_PAYMENTS_FORBIDDEN');
    const anon = await invoke(h.server.client(), 'stripe-subscribe', { plan_id: m.plans.basic });
    assert.equal(anon.status, 401);
    const nothing = await invoke(m.client, 'stripe-change-subscription', { cancel_at_period_end: true });
    assert.equal(nothing.status, 404);
    assert.equal(nothing.body.code, 'LOCO_SUBSCRIPTION_NOT_FOUND');
    const both = await invoke(m.client, 'stripe-change-subscription', {
      plan_id: m.plans.basic,
      cancel_at_period_end: true,
    });
    assert.equal(both.status, 400);
    assert.deepEqual(await subscriptionsOf(m.provider.id), []);
  });
});

describe('stripe-change-subscription', () => {
  test('an upgrade moves the tier at once and the next invoice carries the proration (credit and charge)', async () => {
    const s = await activeSubscription();
    const up = await invoke(s.client, 'stripe-change-subscription', { plan_id: s.plans.professional });
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assert.equal(up.body.tier, 'professional');
    const update = h.double.requests
      .filter((r) => r.method === 'POST' && r.path === `/v1/subscriptions/${s.sub}`)
      .at(-1);
    assert.equal(update?.params.proration_behavior, 'create_prorations');
    assert.match(
      update?.idempotencyKey ?? '',
      new RegExp(`^subscription:${s.subscriptionId}:\\d+:plan:${s.plans.professional}$`),
    );
    let [row] = await subscriptionsOf(s.provider.id);
    assert.equal(row?.tier, 'professional');
    assert.equal(row?.plan_id, s.plans.professional);
    assert.equal(row?.price_cents, 4900);
    assert.deepEqual(row?.features, { featured_listings: 5 });
    await deliver(h.double.subscriptionEvent('updated', s.sub));
    // The same plan again changes nothing at Stripe.
    const before = h.double.requests.length;
    const same = await invoke(s.client, 'stripe-change-subscription', { plan_id: s.plans.professional });
    assert.equal(same.status, 200);
    assert.equal(h.double.requests.filter((r, i) => i >= before && r.method === 'POST').length, 0);

    // The period ends: the renewal invoice credits basic's unused time and charges professional's.
    h.double.advanceSubscription(s.sub);
    const renewal = h.double.subscription(s.sub).latest_invoice as string;
    await deliver(h.double.invoiceEvent('paid', renewal));
    const stripeInvoice = h.double.invoice(renewal);
    const invoice = await invoiceOf(renewal);
    assert.equal(invoice?.status, 'paid');
    assert.equal(invoice?.total_cents, stripeInvoice.total);
    assert.ok(
      (stripeInvoice.total as number) > 4900 * 2 - 1900 - 5 && (stripeInvoice.total as number) <= 4900 * 2 - 1800,
    );
    const lines = await linesOf(invoice?.id as string);
    assert.equal(lines.length, 2, JSON.stringify(lines));
    assert.equal(lines.filter((l) => l.proration).length, 1);
    assert.ok((invoice?.discount_cents as number) >= 1800, 'the credit for unused time');
    assert.equal((invoice?.subtotal_cents as number) - (invoice?.discount_cents as number), invoice?.total_cents);
    const payments = await paymentsOf(s.provider.id);
    assert.deepEqual(
      payments.map((p) => p.amount),
      [1900, stripeInvoice.total],
    );
    [row] = await subscriptionsOf(s.provider.id);
    assert.equal(row?.status, 'active');
  });

  test('cancel at period end, resume, cancel again: it ends with the period and the provider can subscribe anew', async () => {
    const s = await activeSubscription();
    const cancel = await invoke(s.client, 'stripe-change-subscription', { cancel_at_period_end: true });
    assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
    assert.equal(cancel.body.cancel_at_period_end, true);
    let [row] = await subscriptionsOf(s.provider.id);
    assert.equal(row?.cancel_at_period_end, true);
    assert.ok(row?.canceled_at);
    assert.equal(row?.status, 'active');

    const resume = await invoke(s.client, 'stripe-change-subscription', { cancel_at_period_end: false });
    assert.equal(resume.body.cancel_at_period_end, false);
    [row] = await subscriptionsOf(s.provider.id);
    assert.equal(row?.cancel_at_period_end, false);
    assert.equal(row?.canceled_at, null);

    const again = await invoke(s.client, 'stripe-change-subscription', { cancel_at_period_end: true });
    assert.equal(again.status, 200);
    const keys = h.double.requests
      .filter((r) => r.method === 'POST' && r.path === `/v1/subscriptions/${s.sub}`)
      .map((r) => r.idempotencyKey);
    assert.equal(new Set(keys).size, 3, 'cancelling twice is two changes, not one replayed');

    h.double.advanceSubscription(s.sub);
    await deliver(h.double.subscriptionEvent('deleted', s.sub));
    [row] = await subscriptionsOf(s.provider.id);
    assert.equal(row?.status, 'canceled');
    // A late event of the live subscription does not bring it back.
    const late = await deliver(h.double.event('customer.subscription.updated', { id: s.sub, object: 'subscription' }));
    assert.equal(late.outcome, 'stale');

    const anew = await invoke(s.client, 'stripe-subscribe', { plan_id: s.plans.professional });
    assert.equal(anew.status, 200, JSON.stringify(anew.body));
    assert.equal((await subscriptionsOf(s.provider.id)).length, 2);
  });

  test('a failed renewal: past_due, the invoice open, the subscriber told once; paying it makes it active', async () => {
    const s = await activeSubscription();
    h.double.advanceSubscription(s.sub, { decline: true });
    const renewal = h.double.subscription(s.sub).latest_invoice as string;
    const failed = h.double.invoiceEvent('payment_failed', renewal);
    await deliver(failed);
    await h.double.deliver(h.webhookUrl, failed); // Stripe's redelivery
    await deliver(h.double.subscriptionEvent('updated', s.sub));
    let [row] = await subscriptionsOf(s.provider.id);
    assert.equal(row?.status, 'past_due');
    let invoice = await invoiceOf(renewal);
    assert.equal(invoice?.status, 'open');
    assert.equal(invoice?.amount_paid_cents, 0);
    const { rows } = await h.db.query<{ n: number; url: string }>(sql`
      select count(*)::int as n, min(action_url) as url from public.notifications
       where user_id = ${s.provider.id} and type = 'subscription_payment_failed'`);
    assert.equal(rows[0]?.n, 1);
    assert.equal(rows[0]?.url, h.double.invoice(renewal).hosted_invoice_url);
    assert.equal((await paymentsOf(s.provider.id)).length, 1);

    // The subscriber pays the open invoice with another card (the hosted invoice page does this).
    const open = await stripe.invoices.retrieve(renewal, { expand: ['payments'] });
    const intentId = open.payments?.data[0]?.payment.payment_intent as string;
    assert.match(intentId, /^pi_/);
    await stripe.paymentIntents.confirm(intentId, { payment_method: 'pm_card_mastercard' });
    await deliver(h.double.invoiceEvent('paid', renewal));
    await deliver(h.double.subscriptionEvent('updated', s.sub));
    [row] = await subscriptionsOf(s.provider.id);
    assert.equal(row?.status, 'active');
    invoice = await invoiceOf(renewal);
    assert.equal(invoice?.status, 'paid');
    assert.equal((await paymentsOf(s.provider.id)).length, 2);
  });
});

describe('offline marketplaces', () => {
  test('stripe-subscribe is 409; a payments manager grants a tier, nothing is charged', async () => {
    const m = await marketplace('offline');
    const refused = await invoke(m.client, 'stripe-subscribe', { plan_id: m.plans.basic });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, 'LOCO_PAYMENTS_OFFLINE');

    const notManager = await m.client.rpc('grant_subscription', { user_id: m.provider.id, tier: 'basic' });
    assert.equal(notManager.status, 403);
    const granted = await m.adminClient.rpc('grant_subscription', { user_id: m.provider.id, tier: 'professional' });
    assert.equal(granted.error, null, JSON.stringify(granted.error));
    const mine = await m.client.from('subscriptions').select('tier, status, price_cents, features');
    assert.deepEqual(mine.data, [
      { tier: 'professional', status: 'active', price_cents: 0, features: { featured_listings: 5 } },
    ]);
    await m.adminClient.rpc('grant_subscription', { user_id: m.provider.id, tier: 'basic' });
    assert.deepEqual(
      (await subscriptionsOf(m.provider.id)).map((r) => [r.tier, r.status]),
      [['basic', 'active']],
    );
    await m.adminClient.rpc('grant_subscription', { user_id: m.provider.id, tier: 'free' });
    assert.deepEqual(
      (await subscriptionsOf(m.provider.id)).map((r) => r.status),
      ['canceled'],
    );
    assert.deepEqual(await paymentsOf(m.provider.id), []);

    const stripeMarket = await marketplace();
    const inStripe = await stripeMarket.adminClient.rpc('grant_subscription', {
      user_id: stripeMarket.provider.id,
      tier: 'basic',
    });
    assert.equal(inStripe.status, 409);
    const elsewhere = await m.adminClient.rpc('grant_subscription', {
      user_id: stripeMarket.provider.id,
      tier: 'basic',
    });
    assert.equal(elsewhere.status, 404);
  });
});

describe('metered usage (stripe.report_usage)', () => {
  /** Runs the job once and waits until it has finished. */
  async function reportUsage() {
    await addJob(h.db, 'stripe.report_usage', {}, { maxAttempts: 1 });
    await until(async () => {
      const { rows } = await h.db.query<{ n: number }>(sql`
        select count(*)::int as n from graphile_worker.jobs where task_identifier = 'stripe.report_usage'`);
      return rows[0]?.n === 0;
    });
  }

  async function usage(userId: string, feature: string, quantity: number, minutesAgo: number, billable = true) {
    const { rows } = await h.db.query<{ id: string }>(sql`
      insert into public.usage_logs (user_id, feature, quantity, unit, billable, created_at)
      values (${userId}, ${feature}, ${quantity}, 'message', ${billable}, now() - make_interval(mins => ${minutesAgo}))
      returning id`);
    return (rows[0] as { id: string }).id;
  }

  async function usageRows(userId: string) {
    const { rows } = await h.db.query<{ id: string; reported: boolean; error: string | null }>(sql`
      select id, stripe_reported_at is not null as reported, stripe_report_error as error
        from public.usage_logs where user_id = ${userId} order by created_at`);
    return rows;
  }

  test('billable usage of subscribers becomes meter events once, keyed by the row; a refused row keeps its error', async () => {
    const s = await activeSubscription();
    await stripe.billing.meters.create({
      display_name: 'SMS sent',
      event_name: 'sms.sent',
      default_aggregation: { formula: 'sum' },
    });
    const refusedId = await usage(s.provider.id, 'sms.sent', 1, 30);
    const ids = [await usage(s.provider.id, 'sms.sent', 3, 20), await usage(s.provider.id, 'sms.sent', 4, 10)];
    await usage(s.provider.id, 'sms.sent', 50, 5, false); // not billable
    // Usage of someone without a Stripe subscription is not sent.
    const offline = await marketplace('offline');
    await usage(offline.provider.id, 'sms.sent', 9, 5);

    h.double.failNext('POST', /^\/v1\/billing\/meter_events$/, 400, { message: 'No meter for this event' });
    await reportUsage();
    const rows = await usageRows(s.provider.id);
    assert.deepEqual(
      rows.map((r) => [r.reported, r.error === null]),
      [
        [false, false],
        [true, true],
        [true, true],
        [false, true],
      ],
    );
    assert.match(rows[0]?.error ?? '', /No meter for this event/);
    assert.equal(rows[0]?.id, refusedId);
    const customer = h.double.subscription(s.sub).customer as string;
    assert.equal(h.double.meterTotal('sms.sent', customer), 7);
    const sent = h.double.requests.filter((r) => r.path === '/v1/billing/meter_events' && r.status === 200);
    assert.deepEqual(
      sent.map((r) => [r.params.identifier, r.idempotencyKey]),
      ids.map((id) => [id, `usage:${id}:meter_event`]),
    );
    assert.deepEqual(
      (await usageRows(offline.provider.id)).map((r) => r.reported),
      [false],
    );

    // Nothing is sent twice.
    await reportUsage();
    assert.equal(h.double.requests.filter((r) => r.path === '/v1/billing/meter_events').length, sent.length + 1);
    assert.equal(h.double.meterTotal('sms.sent', customer), 7);
  });

  test('loconomy stripe reconcile compares what was reported with what each meter counted', async () => {
    const s = await activeSubscription();
    await stripe.billing.meters.create({
      display_name: 'Calls',
      event_name: 'calls.made',
      default_aggregation: { formula: 'sum' },
    });
    // Old enough to be inside the reconciler's window (it leaves the last minutes to Stripe).
    await usage(s.provider.id, 'calls.made', 2, 45);
    await usage(s.provider.id, 'calls.made', 5, 40);
    await reportUsage();
    const customer = h.double.subscription(s.sub).customer as string;
    const usageFindings = async () =>
      (
        await reconcile(h.db, stripe, { apply: true, since: new Date(Date.now() - 3_600_000), log: testLogger() })
      ).findings
        .filter((f) => f.kind === 'usage' && f.what.includes(customer))
        .map((f) => [f.what, f.fix]);
    assert.deepEqual(await usageFindings(), []);

    // An event from somewhere else counts on the meter too: a person's call, even with --apply.
    await stripe.billing.meterEvents.create({
      event_name: 'calls.made',
      payload: { stripe_customer_id: customer, value: '3' },
      timestamp: Math.floor(Date.now() / 1000) - 35 * 60,
    });
    const [found] = await usageFindings();
    assert.match(
      found?.[0] ?? '',
      /^7 calls\.made reported here for cus_\w+ from .+, 10 counted by the meter at Stripe$/,
    );
    assert.equal(found?.[1], 'manual');
  });
});
