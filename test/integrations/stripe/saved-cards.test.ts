import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FunctionsHttpError } from '@supabase/supabase-js';
import type Stripe from 'stripe';
import { loadConfig } from '../../../src/config.js';
import { sql } from '../../../src/db/sql.js';
import { createStripeClient } from '../../../src/integrations/stripe/client.js';
import { createListing, createUser, type UserFixture } from '../../helpers/fixtures.js';
import type { TestServer } from '../../helpers/index.js';
import type { Obj } from './double.js';
import { processed, type StripeHarness, stripeHarness, until } from './support.js';

/*
 * Saved cards in a stripe marketplace end to end on this backend (decision 0023, slice 5): the
 * customer starts a SetupIntent through stripe-setup-payment-method, Stripe.js (played by the SDK
 * at the double) confirms it, setup_intent.* / payment_method.* events reach POST /webhooks/stripe
 * and mirror the card into payment_methods; the default is chosen through REST and follows at
 * Stripe through a job; cards are removed through stripe-remove-payment-method; bookings are paid
 * with a saved card, or authorised off-session with the default card by a job.
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

async function invoke(client: Client, name: string, body: Record<string, unknown> = {}): Promise<Invoked> {
  const { data, error } = await client.functions.invoke(name, { body });
  if (error === null) return { status: 200, body: data };
  assert.ok(error instanceof FunctionsHttpError, `expected an HTTP error, got ${error}`);
  const response = error.context as Response;
  return { status: response.status, body: await response.json() };
}

/** A customer of a stripe marketplace (or offline) with their supabase-js client. */
async function customerOf(mode: 'stripe' | 'offline' = 'stripe') {
  const { tenantId, provider } = await h.marketplace(mode);
  const customer = await createUser(h.db, { tenantId });
  return { tenantId, provider, customer, client: await h.clientFor(customer) };
}

interface CardRow {
  id: string;
  stripe_payment_method_id: string;
  type: string;
  card_brand: string;
  card_last4: string;
  card_exp_month: number;
  card_exp_year: number;
  is_default: boolean;
  is_active: boolean;
}

/** The customer's cards as they read them through REST (RLS: their own). */
async function cardsOf(client: Client): Promise<CardRow[]> {
  const { data, error } = await client
    .from('payment_methods')
    .select(
      'id, stripe_payment_method_id, type, card_brand, card_last4, card_exp_month, card_exp_year, is_default, is_active',
    )
    .order('created_at');
  assert.equal(error, null);
  return data as CardRow[];
}

async function stripeCustomerOf(user: UserFixture): Promise<string> {
  const { rows } = await h.db.query<{ cus: string }>(sql`
    select stripe_customer_id as cus from public.users where id = ${user.id}`);
  return rows[0]?.cus as string;
}

/** Delivers an event and waits until it is processed; returns its row. */
async function deliver(event: Obj) {
  const answer = await h.double.deliver(h.webhookUrl, event);
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  return processed(h.db, event.id as string);
}

/**
 * Saves a card as a front end does: the function's SetupIntent confirmed by Stripe.js (3-D
 * Secure completed when the card asks), then Stripe's setup_intent.succeeded. Returns the row.
 */
async function saveCard(client: Client, card = 'pm_card_visa'): Promise<CardRow & { setupIntentId: string }> {
  const setup = await invoke(client, 'stripe-setup-payment-method');
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  const seti = await stripe.setupIntents.confirm(setup.body.setup_intent_id, { payment_method: card });
  const done = seti.status === 'requires_action' ? (h.double.completeAction(seti.id) as Obj) : (seti as unknown as Obj);
  assert.equal(done.status, 'succeeded');
  await deliver(h.double.setupIntentEvent('succeeded', seti.id));
  const row = (await cardsOf(client)).find((c) => c.stripe_payment_method_id === done.payment_method);
  assert.ok(row, 'the saved card is mirrored');
  return { ...row, setupIntentId: seti.id };
}

/** Waits until the Customer's default card at Stripe is `pm` (null: none). */
function stripeDefaultIs(customerId: string, pm: string | null) {
  return until(async () => {
    const customer = (await stripe.customers.retrieve(customerId)) as Stripe.Customer;
    const current = customer.invoice_settings.default_payment_method;
    return (typeof current === 'string' ? current : (current?.id ?? null)) === pm;
  });
}

describe('saving a card', () => {
  test('a SetupIntent for off-session use, once per card; the card is mirrored once under duplicate and out-of-order events', async () => {
    const c = await customerOf();
    const first = await invoke(c.client, 'stripe-setup-payment-method');
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.status, 'requires_payment_method');
    assert.match(first.body.client_secret, new RegExp(`^${first.body.setup_intent_id}_secret_`));
    const cus = await stripeCustomerOf(c.customer);
    assert.equal(first.body.customer_id, cus);
    const seti = await stripe.setupIntents.retrieve(first.body.setup_intent_id);
    assert.equal(seti.customer, cus);
    assert.equal(seti.usage, 'off_session');
    const create = h.double.requests.find(
      (r) => r.path === '/v1/setup_intents' && r.method === 'POST' && r.idempotencyKey?.includes(c.customer.id),
    );
    assert.equal(create?.idempotencyKey, `loconomy:user:${c.customer.id}:setup-intent:card-1`);

    // A retry (a double click, a second tab) gets the same SetupIntent.
    const again = await invoke(c.client, 'stripe-setup-payment-method');
    assert.equal(again.body.setup_intent_id, first.body.setup_intent_id);
    assert.equal(again.body.client_secret, first.body.client_secret);

    // Stripe.js confirms it; Stripe sends payment_method.attached and setup_intent.succeeded.
    const confirmed = await stripe.setupIntents.confirm(seti.id, { payment_method: 'pm_card_visa' });
    const pm = confirmed.payment_method as string;
    // Before any event is processed, asking again does not hand out the finished SetupIntent.
    const next = await invoke(c.client, 'stripe-setup-payment-method');
    assert.equal(next.body.status, 'requires_payment_method');
    assert.notEqual(next.body.setup_intent_id, seti.id);

    const detachedLooking = { ...(h.double.paymentMethodEvent('attached', pm) as Obj) };
    const attached = h.double.paymentMethodEvent('attached', pm);
    const succeeded = h.double.setupIntentEvent('succeeded', seti.id);
    // A detached event whose snapshot is stale (the card is attached at Stripe): re-fetched, harmless.
    const stale = h.double.event('payment_method.detached', {
      ...((detachedLooking.data as Obj).object as Obj),
      customer: null,
    });
    for (const event of [succeeded, stale, attached, succeeded, attached]) {
      assert.equal((await h.double.deliver(h.webhookUrl, event)).status, 200);
    }
    for (const event of [succeeded, stale, attached]) {
      const row = await processed(h.db, event.id as string);
      assert.equal(row.outcome, 'applied', event.type as string);
    }

    const cards = await cardsOf(c.client);
    assert.equal(cards.length, 1);
    const [card] = cards as [CardRow];
    assert.equal(card.stripe_payment_method_id, pm);
    assert.deepEqual(
      [card.type, card.card_brand, card.card_last4, card.card_exp_month, card.is_default, card.is_active],
      ['card', 'visa', '4242', 12, true, true],
    );
    assert.equal(card.card_exp_year, new Date().getUTCFullYear() + 5);
    const { rows } = await h.db.query<{ n: number }>(sql`
      select count(*)::int as n from public.audit_logs where resource_id = ${card.id} and action = 'create'`);
    assert.equal(rows[0]?.n, 1, 'inserted once');

    // The first card is the default, at Stripe too (Billing charges it).
    await stripeDefaultIs(cus, pm);

    // A fetch older than the one applied is not applied (two queues may finish out of order).
    const detachedSnapshot = { ...(await stripe.paymentMethods.retrieve(pm)), customer: null };
    const { rows: stale2 } = await h.db.query<{ result: { outcome: string } }>(sql`
      select app.stripe_apply_payment_method(null, ${JSON.stringify(detachedSnapshot)}::jsonb,
                                             now() - interval '1 minute', 0) as result`);
    assert.equal(stale2[0]?.result.outcome, 'stale');
    assert.equal((await cardsOf(c.client))[0]?.is_active, true);

    // The card updater: a new expiry arrives with payment_method.automatically_updated.
    h.double.updateCard(pm, { exp_month: 3, exp_year: 2040 });
    await deliver(h.double.paymentMethodEvent('automatically_updated', pm));
    const updated = (await cardsOf(c.client))[0] as CardRow;
    assert.deepEqual([updated.card_exp_month, updated.card_exp_year, updated.is_default], [3, 2040, true]);
  });

  test('refused: anonymous 401, offline 409, bad body 400 — nothing created at Stripe', async () => {
    const c = await customerOf();
    const before = h.double.requests.filter((r) => r.method === 'POST').length;
    const anon = await invoke(h.server.client(), 'stripe-setup-payment-method');
    assert.equal(anon.status, 401);
    assert.equal(anon.body.code, 'LOCO_AUTH_REQUIRED');
    for (const body of [{ request_id: 'again' }, { request_id: 7 }]) {
      const bad = await invoke(c.client, 'stripe-setup-payment-method', body);
      assert.equal(bad.status, 400, JSON.stringify(bad.body));
      assert.equal(bad.body.code, 'LOCO_FUNCTION_INVALID');
    }
    const offline = await customerOf('offline');
    const refused = await invoke(offline.client, 'stripe-setup-payment-method');
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, 'LOCO_PAYMENTS_OFFLINE');
    assert.equal(h.double.requests.filter((r) => r.method === 'POST').length, before);
    assert.equal(await stripeCustomerOf(c.customer), null);

    // A request_id the client keeps names its own SetupIntent.
    const requestId = '5f0c3c8e-58a4-4b43-9d7a-2f1c8e1b9a10';
    const mine = await invoke(c.client, 'stripe-setup-payment-method', { request_id: requestId });
    const mineAgain = await invoke(c.client, 'stripe-setup-payment-method', { request_id: requestId });
    assert.equal(mine.status, 200);
    assert.equal(mineAgain.body.setup_intent_id, mine.body.setup_intent_id);
    const key = h.double.requests.find((r) => r.path === '/v1/setup_intents' && r.idempotencyKey?.endsWith(requestId));
    assert.equal(key?.idempotencyKey, `loconomy:user:${c.customer.id}:setup-intent:${requestId}`);
  });
});

describe('the default card and removing cards', () => {
  test('one default, chosen through REST and set at Stripe; switching back is a new request', async () => {
    const c = await customerOf();
    const visa = await saveCard(c.client, 'pm_card_visa');
    const mastercard = await saveCard(c.client, 'pm_card_mastercard');
    assert.equal(visa.is_default, true);
    assert.equal(mastercard.is_default, false, 'a second card does not take the default');
    const cus = await stripeCustomerOf(c.customer);
    await stripeDefaultIs(cus, visa.stripe_payment_method_id);

    const choose = async (id: string) => {
      const { data, error } = await c.client
        .from('payment_methods')
        .update({ is_default: true })
        .eq('id', id)
        .select('id');
      assert.equal(error, null);
      assert.equal(data?.length, 1);
    };
    await choose(mastercard.id);
    let cards = await cardsOf(c.client);
    assert.deepEqual(
      cards.map((x) => [x.card_brand, x.is_default]),
      [
        ['visa', false],
        ['mastercard', true],
      ],
    );
    await stripeDefaultIs(cus, mastercard.stripe_payment_method_id);
    // Back to the first card: a key naming only the card would replay the first answer.
    await choose(visa.id);
    await stripeDefaultIs(cus, visa.stripe_payment_method_id);
    const keys = h.double.requests
      .filter((r) => r.path === `/v1/customers/${cus}` && r.method === 'POST')
      .map((r) => r.idempotencyKey);
    assert.equal(new Set(keys).size, keys.length, 'each change is its own request');
    assert.ok(keys.every((k) => k?.startsWith(`customer:${cus}:default-payment-method:pm_`)));

    // Another user cannot choose (or see) this customer's card.
    const stranger = await createUser(h.db, { tenantId: c.tenantId });
    const strangerClient = await h.clientFor(stranger);
    const { data, error } = await strangerClient
      .from('payment_methods')
      .update({ is_default: false })
      .eq('id', visa.id)
      .select('id');
    assert.equal(error, null);
    assert.deepEqual(data, []);
    cards = await cardsOf(c.client);
    assert.equal(cards.find((x) => x.id === visa.id)?.is_default, true);
  });

  test('removing a card detaches it at Stripe; a removed default hands over to the card left; another user 404', async () => {
    const c = await customerOf();
    const visa = await saveCard(c.client, 'pm_card_visa');
    const mastercard = await saveCard(c.client, 'pm_card_mastercard');
    const cus = await stripeCustomerOf(c.customer);

    const stranger = await createUser(h.db, { tenantId: c.tenantId });
    const theirs = await invoke(await h.clientFor(stranger), 'stripe-remove-payment-method', {
      payment_method_id: visa.id,
    });
    assert.equal(theirs.status, 404, JSON.stringify(theirs.body));
    assert.equal(theirs.body.code, 'LOCO_PAYMENT_METHOD_NOT_FOUND');
    for (const body of [{}, { payment_method_id: visa.stripe_payment_method_id }]) {
      const bad = await invoke(c.client, 'stripe-remove-payment-method', body);
      assert.equal(bad.status, 400, JSON.stringify(bad.body));
    }
    assert.equal(
      (await invoke(h.server.client(), 'stripe-remove-payment-method', { payment_method_id: visa.id })).status,
      401,
    );
    assert.equal((await stripe.paymentMethods.retrieve(visa.stripe_payment_method_id)).customer, cus);

    const removed = await invoke(c.client, 'stripe-remove-payment-method', { payment_method_id: visa.id });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.deepEqual(removed.body, {
      payment_method_id: visa.id,
      removed: true,
      default_payment_method_id: mastercard.id,
    });
    assert.equal((await stripe.paymentMethods.retrieve(visa.stripe_payment_method_id)).customer, null);
    const detach = h.double.requests.find((r) => r.path.endsWith(`${visa.stripe_payment_method_id}/detach`));
    assert.equal(detach?.idempotencyKey, `payment_method:${visa.stripe_payment_method_id}:detach`);
    let cards = await cardsOf(c.client);
    assert.deepEqual(
      cards.map((x) => [x.card_brand, x.is_active, x.is_default]),
      [
        ['visa', false, false],
        ['mastercard', true, true],
      ],
    );
    await stripeDefaultIs(cus, mastercard.stripe_payment_method_id);

    // Stripe's payment_method.detached follows and changes nothing; removing again answers the same.
    const event = await deliver(h.double.paymentMethodEvent('detached', visa.stripe_payment_method_id));
    assert.equal(event.outcome, 'applied');
    const again = await invoke(c.client, 'stripe-remove-payment-method', { payment_method_id: visa.id });
    assert.equal(again.status, 200);
    assert.equal(h.double.requests.filter((r) => r.path.endsWith('/detach')).length >= 1, true);
    assert.equal(
      h.double.requests.filter((r) => r.path.endsWith(`${visa.stripe_payment_method_id}/detach`)).length,
      1,
      'detached once',
    );
    // A removed card cannot be chosen as the default.
    const { data } = await c.client.from('payment_methods').update({ is_default: true }).eq('id', visa.id).select('id');
    assert.deepEqual(data, []);

    // The last card removed: no default here nor at Stripe.
    const last = await invoke(c.client, 'stripe-remove-payment-method', { payment_method_id: mastercard.id });
    assert.equal(last.body.default_payment_method_id, null);
    cards = await cardsOf(c.client);
    assert.ok(cards.every((x) => !x.is_active && !x.is_default));
    await stripeDefaultIs(cus, null);
  });
});

/** A stripe marketplace with an onboarded provider available all week and an active listing. */
async function bookable(options: { authoriseDefaultCard?: boolean } = {}) {
  const c = await customerOf();
  if (options.authoriseDefaultCard) {
    await h.db.query(sql`update public.tenants set stripe_authorise_default_card = true where id = ${c.tenantId}`);
  }
  const account = await stripe.accounts.create({
    type: 'express',
    capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
  });
  h.double.completeOnboarding(account.id);
  await h.db.query(sql`
    insert into public.payout_accounts (user_id, stripe_account_id, details_submitted, charges_enabled, payouts_enabled)
    values (${c.provider.id}, ${account.id}, true, true, true)`);
  await h.db.query(sql`insert into public.provider_availability (provider_id, day_of_week, start_time, end_time)
                       select ${c.provider.id}, d, '00:00', '24:00' from generate_series(1, 7) d`);
  const listing = await createListing(h.db, c.provider);
  let day = 3;
  /** The customer books the listing through REST (create_booking), as a front end does. */
  const book = async (): Promise<string> => {
    const startsAt = new Date(Date.now() + day++ * 24 * 3600_000);
    startsAt.setUTCHours(12, 0, 0, 0);
    const { data, error } = await c.client
      .rpc('create_booking', { listing_id: listing.id, starts_at: startsAt.toISOString(), duration_minutes: 60 })
      .single<{ id: string; status: string }>();
    assert.equal(error, null, JSON.stringify(error));
    return (data as { id: string }).id;
  };
  return { ...c, account: account.id, listing, book };
}

interface PaymentRow {
  id: string;
  status: string;
  stripe_payment_intent_id: string | null;
  authorised_cents: number;
  failure_code: string | null;
}

async function paymentOf(bookingId: string): Promise<PaymentRow> {
  const { rows } = await h.db.query<PaymentRow>(sql`
    select id, status::text, stripe_payment_intent_id, authorised_cents::int, failure_code
      from public.payments where booking_id = ${bookingId}`);
  return rows[0] as PaymentRow;
}

function paymentWhen(bookingId: string, status: string) {
  return until(async () => {
    const p = await paymentOf(bookingId);
    return p.status === status ? p : undefined;
  });
}

/** The PaymentIntents Stripe holds for a booking (by its metadata). */
function intentsFor(bookingId: string): Obj[] {
  return [...h.double.paymentIntents.values()].filter((pi) => (pi.metadata as Obj).booking_id === bookingId);
}

describe('paying with a saved card (stripe-booking-payment)', () => {
  test('the default card authorises; a 3-D Secure card asks for the action; a card that fails is declined; another user 404', async () => {
    const b = await bookable();
    const visa = await saveCard(b.client, 'pm_card_visa');

    const paid = await b.book();
    const answer = await invoke(b.client, 'stripe-booking-payment', {
      booking_id: paid,
      saved_payment_method: 'default',
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.status, 'requires_capture');
    assert.equal((await paymentOf(paid)).status, 'authorised', 'applied by the function at once');
    const intent = await stripe.paymentIntents.retrieve(answer.body.payment_intent_id);
    assert.equal(intent.payment_method, visa.stripe_payment_method_id);

    // A card that asks for 3-D Secure on every payment, saved and named by its id.
    const secure = await saveCard(b.client, 'pm_card_authenticationRequired');
    const asked = await b.book();
    const action = await invoke(b.client, 'stripe-booking-payment', {
      booking_id: asked,
      saved_payment_method: secure.id,
    });
    assert.equal(action.status, 200, JSON.stringify(action.body));
    assert.equal(action.body.status, 'requires_action');
    assert.match(action.body.client_secret, new RegExp(`^${action.body.payment_intent_id}_secret_`));
    assert.equal((await paymentOf(asked)).status, 'requires_payment');
    // The customer fails 3-D Secure and tries the same card again: a new confirmation, not a replay.
    h.double.completeAction(action.body.payment_intent_id, false);
    const again = await invoke(b.client, 'stripe-booking-payment', {
      booking_id: asked,
      saved_payment_method: secure.id,
    });
    assert.equal(again.body.status, 'requires_action', JSON.stringify(again.body));
    assert.equal(
      h.double.requests.filter((r) => r.path === `/v1/payment_intents/${action.body.payment_intent_id}/confirm`).length,
      2,
    );
    h.double.completeAction(action.body.payment_intent_id);
    assert.equal((await stripe.paymentIntents.retrieve(action.body.payment_intent_id)).status, 'requires_capture');

    // Saved without trouble, declined when charged (4000 0000 0000 0341).
    const failing = await saveCard(b.client, 'pm_card_chargeCustomerFail');
    const declinedBooking = await b.book();
    const declined = await invoke(b.client, 'stripe-booking-payment', {
      booking_id: declinedBooking,
      saved_payment_method: failing.id,
    });
    assert.equal(declined.status, 200, JSON.stringify(declined.body));
    assert.equal(declined.body.status, 'requires_payment_method');
    assert.equal(declined.body.error.decline_code, 'generic_decline');
    const failed = await paymentOf(declinedBooking);
    assert.deepEqual([failed.status, failed.failure_code], ['failed', 'generic_decline']);
    // Another try with the default card is a new confirmation, and authorises.
    const retry = await invoke(b.client, 'stripe-booking-payment', {
      booking_id: declinedBooking,
      saved_payment_method: 'default',
    });
    assert.equal(retry.body.status, 'requires_capture', JSON.stringify(retry.body));
    assert.equal((await paymentOf(declinedBooking)).status, 'authorised');

    // Someone else's card, a removed card, or no default: 404, nothing confirmed.
    const other = await customerOf();
    const theirs = await saveCard(other.client, 'pm_card_visa');
    const open = await b.book();
    for (const saved of [theirs.id, '00000000-0000-4000-8000-000000000000']) {
      const refused = await invoke(b.client, 'stripe-booking-payment', {
        booking_id: open,
        saved_payment_method: saved,
      });
      assert.equal(refused.status, 404, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'LOCO_PAYMENT_METHOD_NOT_FOUND');
    }
    const noDefault = await invoke(other.client, 'stripe-remove-payment-method', { payment_method_id: theirs.id });
    assert.equal(noDefault.status, 200);
    const both = await invoke(b.client, 'stripe-booking-payment', {
      booking_id: open,
      payment_method_id: 'pm_card_visa',
      saved_payment_method: 'default',
    });
    assert.equal(both.status, 400, JSON.stringify(both.body));
    assert.equal(intentsFor(open).length, 0);
    assert.equal((await paymentOf(open)).status, 'requires_payment');
  });
});

describe('off-session authorisation when a booking is requested (opt-in)', () => {
  test('the default card is authorised by a job under the function’s key; one PaymentIntent', async () => {
    const b = await bookable({ authoriseDefaultCard: true });
    const visa = await saveCard(b.client, 'pm_card_visa');
    const bookingId = await b.book();
    const payment = await paymentWhen(bookingId, 'authorised');
    assert.equal(payment.authorised_cents > 0, true);
    const [intent, ...more] = intentsFor(bookingId);
    assert.equal(more.length, 0);
    assert.equal(intent?.payment_method, visa.stripe_payment_method_id);
    assert.equal(intent?.customer, await stripeCustomerOf(b.customer));
    const create = h.double.requests.find(
      (r) =>
        r.path === '/v1/payment_intents' && r.params.metadata && (r.params.metadata as Obj).booking_id === bookingId,
    );
    assert.equal(create?.idempotencyKey, `booking:${bookingId}:authorise`);
    const confirm = h.double.requests.find((r) => r.path === `/v1/payment_intents/${intent?.id}/confirm`);
    assert.equal(confirm?.params.off_session, 'true');
    assert.equal(confirm?.idempotencyKey, `booking:${bookingId}:authorise:off-session`);

    // The customer calling the function as well gets the same intent, already held.
    const answer = await invoke(b.client, 'stripe-booking-payment', { booking_id: bookingId });
    assert.equal(answer.body.payment_intent_id, intent?.id);
    assert.equal(answer.body.status, 'requires_capture');
  });

  test('the customer pays at the same moment the job runs: still one PaymentIntent, authorised once', async () => {
    const b = await bookable({ authoriseDefaultCard: true });
    await saveCard(b.client, 'pm_card_visa');
    const bookingId = await b.book();
    const answer = await invoke(b.client, 'stripe-booking-payment', {
      booking_id: bookingId,
      saved_payment_method: 'default',
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    await paymentWhen(bookingId, 'authorised');
    await until(async () => {
      const { rows } = await h.db.query<{ n: number }>(sql`
        select count(*)::int as n from graphile_worker.jobs where task_identifier = 'stripe.authorise_default_card'
           and key = ${`stripe:authorise:${(await paymentOf(bookingId)).id}`}`);
      return rows[0]?.n === 0;
    });
    assert.equal(intentsFor(bookingId).length, 1);
    assert.equal(intentsFor(bookingId)[0]?.status, 'requires_capture');
    const { rows } = await h.db.query<{ n: number }>(sql`
      select count(*)::int as n from public.audit_logs where resource_id = ${(await paymentOf(bookingId)).id}
         and new_values ->> 'status' = 'authorised' and old_values ->> 'status' is distinct from 'authorised'`);
    assert.equal(rows[0]?.n, 1, 'authorised once');
  });

  test('authentication_required: the payment fails with Stripe’s code, the customer is notified and pays on-session', async () => {
    const b = await bookable({ authoriseDefaultCard: true });
    await saveCard(b.client, 'pm_card_authenticationRequired');
    const bookingId = await b.book();
    const failed = await paymentWhen(bookingId, 'failed');
    assert.equal(failed.failure_code, 'authentication_required');
    const notified = await until(async () => {
      const { data } = await b.client.from('notifications').select('type, data').eq('type', 'payment_failed');
      return data?.length ? data : undefined;
    });
    assert.equal(notified.length, 1);
    assert.deepEqual(notified[0]?.data, {
      booking_id: bookingId,
      payment_id: failed.id,
      code: 'authentication_required',
      pay_with: 'stripe-booking-payment',
    });

    // On-session through the function: the same PaymentIntent, 3-D Secure in Stripe.js, then held.
    const answer = await invoke(b.client, 'stripe-booking-payment', {
      booking_id: bookingId,
      saved_payment_method: 'default',
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.status, 'requires_action');
    assert.equal(answer.body.payment_intent_id, failed.stripe_payment_intent_id);
    h.double.completeAction(answer.body.payment_intent_id);
    await deliver(
      h.double.event(
        'payment_intent.amount_capturable_updated',
        (await stripe.paymentIntents.retrieve(answer.body.payment_intent_id)) as unknown as Obj,
      ),
    );
    assert.equal((await paymentOf(bookingId)).status, 'authorised');
    assert.equal(intentsFor(bookingId).length, 1);
  });

  test('a declined default card fails the payment with the decline and notifies once', async () => {
    const b = await bookable({ authoriseDefaultCard: true });
    await saveCard(b.client, 'pm_card_chargeCustomerFail');
    const bookingId = await b.book();
    const failed = await paymentWhen(bookingId, 'failed');
    assert.equal(failed.failure_code, 'generic_decline');
    // Stripe's payment_intent.payment_failed follows: no second notification.
    await deliver(
      h.double.event(
        'payment_intent.payment_failed',
        (await stripe.paymentIntents.retrieve(failed.stripe_payment_intent_id as string)) as unknown as Obj,
      ),
    );
    const { data } = await b.client.from('notifications').select('data').eq('type', 'payment_failed');
    assert.equal(data?.length, 1);
    assert.equal((data?.[0]?.data as { code?: string } | undefined)?.code, 'generic_decline');
  });

  test('not opted in, or no default card: the booking waits for the customer, no job', async () => {
    const off = await bookable();
    await saveCard(off.client, 'pm_card_visa');
    const on = await bookable({ authoriseDefaultCard: true });
    for (const bookingId of [await off.book(), await on.book()]) {
      const p = await paymentOf(bookingId);
      const { rows } = await h.db.query<{ n: number }>(sql`
        select count(*)::int as n from graphile_worker.jobs where task_identifier = 'stripe.authorise_default_card'
           and key = ${`stripe:authorise:${p.id}`}`);
      assert.equal(rows[0]?.n, 0);
      assert.equal(p.status, 'requires_payment');
      assert.equal(p.stripe_payment_intent_id, null);
    }
  });
});
