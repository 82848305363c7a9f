import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FunctionsHttpError } from '@supabase/supabase-js';
import type Stripe from 'stripe';
import { loadConfig } from '../../../src/config.js';
import { sql } from '../../../src/db/sql.js';
import { createStripeClient } from '../../../src/integrations/stripe/client.js';
import { addJob } from '../../../src/jobs/queue.js';
import { createBooking, createListing, createUser, grantPermission, type UserFixture } from '../../helpers/fixtures.js';
import type { TestServer } from '../../helpers/index.js';
import type { Obj } from './double.js';
import { processed, type StripeHarness, stripeHarness, until } from './support.js';

/*
 * Booking payments in a stripe marketplace end to end on this backend (decision 0023, slice 2):
 * the customer invokes stripe-booking-payment through supabase-js, the server makes the
 * PaymentIntent at the Stripe double, the customer's card is confirmed there (as Stripe.js
 * would), Stripe's payment_intent.* events reach POST /webhooks/stripe and move the payment;
 * the booking's moves enqueue capture and cancel jobs that call the double and write the ledger.
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

interface Invoked {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
  body: any;
}

async function invoke(client: ReturnType<TestServer['client']>, body: Record<string, unknown>): Promise<Invoked> {
  const { data, error } = await client.functions.invoke('stripe-booking-payment', { body });
  if (error === null) return { status: 200, body: data };
  assert.ok(error instanceof FunctionsHttpError, `expected an HTTP error, got ${error}`);
  const response = error.context as Response;
  return { status: response.status, body: await response.json() };
}

/** A stripe marketplace with an onboarded provider, an active listing, a customer and a pending booking. */
async function pendingBooking(mode: 'stripe' | 'offline' = 'stripe') {
  const { tenantId, provider } = await h.marketplace(mode);
  const account = await stripe.accounts.create({
    type: 'express',
    capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
  });
  h.double.completeOnboarding(account.id);
  await h.db.query(sql`
    insert into public.payout_accounts (user_id, stripe_account_id, details_submitted, charges_enabled, payouts_enabled)
    values (${provider.id}, ${account.id}, true, true, true)`);
  const listing = await createListing(h.db, provider);
  const customer = await createUser(h.db, { tenantId });
  // USD 84.00: the provider's payout is 72.00, the platform's application fee 12.00.
  const booking = await createBooking(h.db, listing, customer, { status: 'pending', startsInHours: 200 });
  return {
    tenantId,
    provider,
    customer,
    account: account.id,
    bookingId: booking.id,
    client: await h.clientFor(customer),
  };
}

interface PaymentRow {
  id: string;
  status: string;
  stripe_payment_intent_id: string | null;
  stripe_charge_id: string | null;
  stripe_transfer_id: string | null;
  authorised_cents: number;
  captured_cents: number;
  captured_fee_cents: number;
  processing_fee_cents: number;
  capture_days: number | null;
  failure_code: string | null;
}

async function paymentOf(bookingId: string): Promise<PaymentRow> {
  const { rows } = await h.db.query<PaymentRow>(sql`
    select id, status::text, stripe_payment_intent_id, stripe_charge_id, stripe_transfer_id,
           authorised_cents::int, captured_cents::int, captured_fee_cents::int, processing_fee_cents::int,
           round(extract(epoch from capture_before - authorised_at) / 86400)::int as capture_days, failure_code
      from public.payments where booking_id = ${bookingId}`);
  return rows[0] as PaymentRow;
}

async function ledgerOf(paymentId: string) {
  const { rows } = await h.db.query(sql`
    select type::text, amount_cents::int as amount, platform_fee_cents::int as fee, stripe_charge_id as ch,
           stripe_transfer_id as tr
      from public.transactions where payment_id = ${paymentId} order by type::text`);
  return rows;
}

/** Delivers payment_intent.<type> for the intent as the double holds it now, and waits for its processing. */
async function deliverIntentEvent(type: string, intentId: string, snapshot?: Obj) {
  const object = snapshot ?? ((await stripe.paymentIntents.retrieve(intentId)) as unknown as Obj);
  const event = h.double.event(`payment_intent.${type}`, object);
  const answer = await h.double.deliver(h.webhookUrl, event);
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  return processed(h.db, event.id as string);
}

/** A booking whose payment is authorised through the function and a normal card. */
async function authorisedBooking() {
  const b = await pendingBooking();
  const answer = await invoke(b.client, { booking_id: b.bookingId, payment_method_id: 'pm_card_visa' });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.status, 'requires_capture');
  await deliverIntentEvent('amount_capturable_updated', answer.body.payment_intent_id);
  assert.equal((await paymentOf(b.bookingId)).status, 'authorised');
  return { ...b, intentId: answer.body.payment_intent_id as string };
}

describe('stripe-booking-payment: authorise when requested', () => {
  test('book → invoke → confirm at Stripe with a normal card → event → authorised, once', async () => {
    const b = await pendingBooking();
    const first = await invoke(b.client, { booking_id: b.bookingId });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.status, 'requires_payment_method');
    assert.match(first.body.client_secret, /^pi_\w+_secret_\w+$/);
    const intentId = first.body.payment_intent_id as string;

    // What Stripe got: a manual-capture destination charge with the platform's fee.
    const intent = await stripe.paymentIntents.retrieve(intentId);
    assert.equal(intent.amount, 8400);
    assert.equal(intent.currency, 'usd');
    assert.equal(intent.capture_method, 'manual');
    assert.equal(intent.application_fee_amount, 1200);
    assert.equal(intent.transfer_data?.destination, b.account);
    const payment = await paymentOf(b.bookingId);
    assert.deepEqual(intent.metadata, { booking_id: b.bookingId, payment_id: payment.id, tenant_id: b.tenantId });
    assert.equal(payment.stripe_payment_intent_id, intentId);
    assert.equal(payment.status, 'requires_payment');
    const { rows } = await h.db.query<{ cus: string }>(sql`
      select stripe_customer_id as cus from public.users where id = ${b.customer.id}`);
    assert.equal(intent.customer, rows[0]?.cus);
    const create = h.double.requests.find((r) => r.path === '/v1/payment_intents' && r.method === 'POST');
    assert.equal(create?.idempotencyKey, `booking:${b.bookingId}:authorise`);

    // Asking again returns the same PaymentIntent; one customer, one intent.
    const again = await invoke(b.client, { booking_id: b.bookingId });
    assert.equal(again.body.payment_intent_id, intentId);
    assert.equal(again.body.client_secret, first.body.client_secret);
    const customers = h.double.requests.filter(
      (r) => r.path === '/v1/customers' && r.method === 'POST' && r.idempotencyKey?.includes(b.customer.id),
    );
    assert.equal(customers.length, 1);

    // Stripe.js confirms the card in the browser; the event follows.
    await stripe.paymentIntents.confirm(intentId, { payment_method: 'pm_card_visa' });
    const event = await deliverIntentEvent('amount_capturable_updated', intentId);
    assert.equal(event.outcome, 'applied');
    const authorised = await paymentOf(b.bookingId);
    assert.equal(authorised.status, 'authorised');
    assert.equal(authorised.authorised_cents, 8400);
    assert.equal(authorised.capture_days, 6);
    // Authorising moves no money.
    assert.deepEqual(await ledgerOf(authorised.id), []);
  });

  test('a 3-D Secure card: requires_action with the client secret, authorised once the customer completes it', async () => {
    const b = await pendingBooking();
    const answer = await invoke(b.client, {
      booking_id: b.bookingId,
      payment_method_id: 'pm_card_threeDSecure2Required',
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.status, 'requires_action');
    assert.match(answer.body.client_secret, new RegExp(`^${answer.body.payment_intent_id}_secret_`));
    assert.equal((await paymentOf(b.bookingId)).status, 'requires_payment');
    h.double.completeAction(answer.body.payment_intent_id);
    await deliverIntentEvent('amount_capturable_updated', answer.body.payment_intent_id);
    assert.equal((await paymentOf(b.bookingId)).status, 'authorised');
  });

  test('a declined card: failed with the decline; a new card authorises it', async () => {
    const b = await pendingBooking();
    const answer = await invoke(b.client, { booking_id: b.bookingId, payment_method_id: 'pm_card_chargeDeclined' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.status, 'requires_payment_method');
    assert.equal(answer.body.error.decline_code, 'generic_decline');
    const event = await deliverIntentEvent('payment_failed', answer.body.payment_intent_id);
    assert.equal(event.outcome, 'applied');
    const failed = await paymentOf(b.bookingId);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure_code, 'generic_decline');

    const retry = await invoke(b.client, { booking_id: b.bookingId, payment_method_id: 'pm_card_visa' });
    assert.equal(retry.body.status, 'requires_capture');
    assert.equal(retry.body.payment_intent_id, answer.body.payment_intent_id);
    assert.equal((await paymentOf(b.bookingId)).status, 'authorised');
  });

  test('duplicate and out-of-order events move the payment once and never back', async () => {
    const b = await pendingBooking();
    const first = await invoke(b.client, { booking_id: b.bookingId, payment_method_id: 'pm_card_chargeDeclined' });
    const intentId = first.body.payment_intent_id as string;
    const declinedSnapshot = (await stripe.paymentIntents.retrieve(intentId)) as unknown as Obj;
    await stripe.paymentIntents.confirm(intentId, { payment_method: 'pm_card_visa' });
    const held = h.double.event(
      'payment_intent.amount_capturable_updated',
      (await stripe.paymentIntents.retrieve(intentId)) as unknown as Obj,
    );
    // The decline's event arrives after the success, and the success twice.
    const late = h.double.event('payment_intent.payment_failed', declinedSnapshot);
    for (const event of [held, held, late]) {
      assert.equal((await h.double.deliver(h.webhookUrl, event)).status, 200);
    }
    await processed(h.db, held.id as string);
    await processed(h.db, late.id as string);
    const payment = await paymentOf(b.bookingId);
    assert.equal(payment.status, 'authorised', 'the late failure re-fetched the held intent');
    const { rows } = await h.db.query<{ n: number }>(sql`
      select count(*)::int as n from public.audit_logs where resource_id = ${payment.id}
         and new_values ->> 'status' = 'authorised' and old_values ->> 'status' is distinct from 'authorised'`);
    assert.equal(rows[0]?.n, 1, 'authorised once');
  });

  test('refused: another user 404, offline 409, bad body 400, anonymous 401 — nothing created at Stripe', async () => {
    const b = await pendingBooking();
    const before = h.double.requests.filter((r) => r.method === 'POST').length;
    const stranger = await createUser(h.db, { tenantId: b.tenantId });
    const other = await invoke(await h.clientFor(stranger), { booking_id: b.bookingId });
    assert.equal(other.status, 404, JSON.stringify(other.body));
    assert.equal(other.body.code, 'LOCO_BOOKING_NOT_FOUND');
    const asProvider = await invoke(await h.clientFor(b.provider as UserFixture), { booking_id: b.bookingId });
    assert.equal(asProvider.status, 404);
    const unknown = await invoke(b.client, { booking_id: '00000000-0000-4000-8000-000000000000' });
    assert.equal(unknown.status, 404);
    for (const body of [{}, { booking_id: 'nope' }, { booking_id: b.bookingId, payment_method_id: 'card_1' }]) {
      const bad = await invoke(b.client, body);
      assert.equal(bad.status, 400, JSON.stringify(bad.body));
      assert.equal(bad.body.code, 'LOCO_FUNCTION_INVALID');
    }
    const anon = await invoke(h.server.client(), { booking_id: b.bookingId });
    assert.equal(anon.status, 401);

    const offline = await pendingBooking('offline');
    const refused = await invoke(offline.client, { booking_id: offline.bookingId });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'LOCO_PAYMENTS_OFFLINE');
    // POSTs since: only the offline marketplace's account set-up above.
    const posts = h.double.requests.filter((r) => r.method === 'POST').slice(before);
    assert.deepEqual(
      posts.map((r) => r.path),
      ['/v1/accounts'],
    );
    assert.equal((await paymentOf(b.bookingId)).stripe_payment_intent_id, null);
  });
});

describe('capture on completion, partial capture or cancel on cancellation', () => {
  test('completed: captured in full with the fee split, ledger rows once', async () => {
    const b = await authorisedBooking();
    await h.db.query(sql`update public.bookings set status = 'confirmed', expires_at = null where id = ${b.bookingId}`);
    await h.db.query(sql`update public.bookings set status = 'completed' where id = ${b.bookingId}`);
    const payment = await until(async () => {
      const p = await paymentOf(b.bookingId);
      return p.status === 'captured' ? p : undefined;
    });
    const intent = await stripe.paymentIntents.retrieve(b.intentId);
    assert.equal(intent.status, 'succeeded');
    assert.equal(intent.amount_received, 8400);
    const charge = await stripe.charges.retrieve(intent.latest_charge as string);
    assert.equal(payment.stripe_charge_id, charge.id);
    assert.equal(payment.stripe_transfer_id, charge.transfer);
    assert.equal(payment.captured_cents, 8400);
    assert.equal(payment.captured_fee_cents, 1200);
    assert.equal(payment.processing_fee_cents, 0, 'the double reports no balance transaction');
    const capture = h.double.requests.filter((r) => r.path === `/v1/payment_intents/${b.intentId}/capture`);
    assert.deepEqual(
      capture.map((r) => r.idempotencyKey),
      [`booking:${b.bookingId}:capture`],
    );
    assert.deepEqual(await ledgerOf(payment.id), [
      { type: 'payment', amount: 8400, fee: 1200, ch: charge.id, tr: null },
      { type: 'transfer', amount: 7200, fee: 0, ch: null, tr: charge.transfer },
    ]);
  });

  test('the customer cancels in the partial refund tier: the kept part is captured with its fee in proportion', async () => {
    const b = await authorisedBooking();
    await h.db.query(sql`
      update public.bookings set status = 'confirmed', expires_at = null, cancellation_policy = 'moderate',
                                 starts_at = now() + interval '30 hours', ends_at = now() + interval '31 hours'
       where id = ${b.bookingId}`);
    const cancelled = await b.client.rpc('cancel_booking', { booking_id: b.bookingId, reason: 'plans changed' });
    assert.equal(cancelled.error, null, JSON.stringify(cancelled.error));
    const { rows } = await h.db.query<{ refund: number }>(sql`
      select refund_cents::int as refund from public.bookings where id = ${b.bookingId}`);
    const refund = rows[0]?.refund as number;
    assert.ok(refund > 0 && refund < 8400, `a partial refund tier (refund ${refund})`);
    const kept = 8400 - refund;
    const fee = Math.round((1200 * kept) / 8400);
    const payment = await until(async () => {
      const p = await paymentOf(b.bookingId);
      return p.status === 'captured' ? p : undefined;
    });
    assert.equal(payment.captured_cents, kept);
    assert.equal(payment.captured_fee_cents, fee);
    const intent = await stripe.paymentIntents.retrieve(b.intentId);
    assert.equal(intent.amount_received, kept);
    assert.equal(intent.application_fee_amount, fee);
    assert.deepEqual(
      (await ledgerOf(payment.id)).map((r) => [r.type, r.amount, r.fee]),
      [
        ['payment', kept, fee],
        ['transfer', kept - fee, 0],
      ],
    );
  });

  test('declined or expired: the PaymentIntent is cancelled and the payment voided', async () => {
    for (const status of ['declined', 'expired']) {
      const b = await authorisedBooking();
      await h.db.query(
        sql`update public.bookings set status = ${status}::public.booking_status where id = ${b.bookingId}`,
      );
      const payment = await until(async () => {
        const p = await paymentOf(b.bookingId);
        return p.status === 'voided' ? p : undefined;
      });
      const intent = await stripe.paymentIntents.retrieve(b.intentId);
      assert.equal(intent.status, 'canceled', status);
      const cancel = h.double.requests.filter((r) => r.path === `/v1/payment_intents/${b.intentId}/cancel`);
      assert.deepEqual(
        cancel.map((r) => r.idempotencyKey),
        [`booking:${b.bookingId}:cancel`],
      );
      // Stripe's payment_intent.canceled afterwards changes nothing.
      const event = await deliverIntentEvent('canceled', b.intentId);
      assert.equal(event.outcome, 'applied');
      assert.equal((await paymentOf(b.bookingId)).status, 'voided');
      assert.deepEqual(await ledgerOf(payment.id), []);
    }
  });

  test('a booking declined before any PaymentIntent is voided at once, with no call to Stripe', async () => {
    const b = await pendingBooking();
    const before = h.double.requests.length;
    await h.db.query(sql`update public.bookings set status = 'declined' where id = ${b.bookingId}`);
    assert.equal((await paymentOf(b.bookingId)).status, 'voided');
    assert.equal(h.double.requests.length, before);
  });
});

/** A booking completed and captured in full through the capture job. */
async function capturedBooking() {
  const b = await authorisedBooking();
  await h.db.query(sql`update public.bookings set status = 'confirmed', expires_at = null where id = ${b.bookingId}`);
  await h.db.query(sql`update public.bookings set status = 'completed' where id = ${b.bookingId}`);
  const payment = await until(async () => {
    const p = await paymentOf(b.bookingId);
    return p.status === 'captured' ? p : undefined;
  });
  return { ...b, paymentId: payment.id, chargeId: payment.stripe_charge_id as string };
}

async function refundsOf(paymentId: string) {
  const { rows } = await h.db.query<{ type: string; amount: number; fee: number; re: string | null }>(sql`
    select type::text, amount_cents::int as amount, platform_fee_cents::int as fee, stripe_refund_id as re
      from public.transactions where payment_id = ${paymentId} and type::text in ('refund', 'transfer_reversal')
     order by created_at, type::text`);
  return rows;
}

async function moneyOf(paymentId: string) {
  const { rows } = await h.db.query<{ status: string; refunded: number; fee: number; reversed: number }>(sql`
    select status::text, refunded_cents::int as refunded, application_fee_refunded_cents::int as fee,
           transfer_reversed_cents::int as reversed
      from public.payments where id = ${paymentId}`);
  return rows[0];
}

describe('authorisations about to lapse (stripe.capture_lapsing)', () => {
  test('a payment past capture_before is captured by the scheduled task, one not yet due is left; completion then moves nothing', async () => {
    const due = await authorisedBooking();
    const later = await authorisedBooking();
    await h.db.query(sql`
      update public.payments set capture_before = now() - interval '1 minute' where booking_id = ${due.bookingId}`);
    await addJob(h.db, 'stripe.capture_lapsing', {}, { maxAttempts: 1 });
    const payment = await until(async () => {
      const p = await paymentOf(due.bookingId);
      return p.status === 'captured' ? p : undefined;
    });
    assert.equal(payment.captured_cents, 8400);
    assert.equal(payment.captured_fee_cents, 1200);
    assert.equal((await stripe.paymentIntents.retrieve(due.intentId)).status, 'succeeded');
    const ledger = await ledgerOf(payment.id);
    assert.deepEqual(
      ledger.map((r) => r.type),
      ['payment', 'transfer'],
    );

    // A second run (as an hourly schedule makes) finds nothing due: no second capture is asked for.
    const again = await addJob(h.db, 'stripe.capture_lapsing', {}, { maxAttempts: 1 });
    await until(async () => {
      const { rows } = await h.db.query(sql`select 1 from graphile_worker.jobs where id = ${again}::bigint`);
      return rows.length === 0;
    });
    assert.equal((await paymentOf(later.bookingId)).status, 'authorised', 'not due yet');
    assert.equal((await stripe.paymentIntents.retrieve(later.intentId)).status, 'requires_capture');
    const { rows: queued } = await h.db.query(sql`
      select 1 from graphile_worker.jobs where task_identifier = 'stripe.capture_payment'`);
    assert.equal(queued.length, 0, 'no capture job for the payment not yet due, none left for the captured one');

    // The booking completes later: the money was captured already, so nothing more is captured.
    await h.db.query(
      sql`update public.bookings set status = 'confirmed', expires_at = null where id = ${due.bookingId}`,
    );
    await h.db.query(sql`update public.bookings set status = 'completed' where id = ${due.bookingId}`);
    const { rows: enqueued } = await h.db.query(sql`
      select 1 from graphile_worker.jobs where task_identifier = 'stripe.capture_payment'`);
    assert.equal(enqueued.length, 0, 'completion of a captured payment enqueues no capture');
    const captures = h.double.requests.filter((r) => r.path === `/v1/payment_intents/${due.intentId}/capture`);
    assert.equal(captures.length, 1);
    assert.deepEqual(await ledgerOf(payment.id), ledger);
    assert.equal((await paymentOf(due.bookingId)).status, 'captured');
  });
});

describe('refunds after capture', () => {
  test("a manager's refund: one Stripe refund with the fee refunded and the transfer reversed, recorded once with its events", async () => {
    const b = await capturedBooking();
    const manager = await createUser(h.db, { tenantId: b.tenantId });
    await grantPermission(h.db, manager, 'bookings.manage');
    await grantPermission(h.db, manager, 'payments.refund');
    const refunded = await (await h.clientFor(manager)).rpc('transition_booking', {
      booking_id: b.bookingId,
      new_status: 'refunded',
    });
    assert.equal(refunded.error, null, JSON.stringify(refunded.error));
    const money = await until(async () => {
      const m = await moneyOf(b.paymentId);
      return m?.status === 'refunded' ? m : undefined;
    });
    assert.deepEqual(money, { status: 'refunded', refunded: 8400, fee: 1200, reversed: 7200 });
    const calls = h.double.requests.filter((r) => r.path === '/v1/refunds' && r.method === 'POST');
    const mine = calls.filter((r) => r.idempotencyKey === `booking:${b.bookingId}:refund:booking_refunded`);
    assert.equal(mine.length, 1);
    assert.equal(mine[0]?.params.refund_application_fee, 'true');
    assert.equal(mine[0]?.params.reverse_transfer, 'true');
    assert.equal(mine[0]?.params.amount, '8400');
    // Stripe refunded the platform's fee and took the provider's share back.
    const charge = await stripe.charges.retrieve(b.chargeId);
    const fee = await stripe.applicationFees.retrieve(charge.application_fee as string);
    const transfer = await stripe.transfers.retrieve(charge.transfer as string);
    assert.equal(fee.amount_refunded, 1200);
    assert.equal(transfer.amount_reversed, 7200);
    const ledger = await refundsOf(b.paymentId);
    const refundId = ledger[0]?.re as string;
    assert.match(refundId, /^re_/);
    assert.deepEqual(ledger, [
      { type: 'refund', amount: 8400, fee: 1200, re: refundId },
      { type: 'transfer_reversal', amount: 7200, fee: 0, re: null },
    ]);

    // Stripe's events about the same refund change nothing.
    const refund = (await stripe.refunds.retrieve(refundId)) as unknown as Obj;
    const chargeSnapshot = { ...(charge as unknown as Obj), refunds: { object: 'list', data: [refund] } };
    for (const event of [
      h.double.event('refund.updated', refund),
      h.double.event('charge.refunded', chargeSnapshot),
      h.double.event('refund.created', refund),
    ]) {
      assert.equal((await h.double.deliver(h.webhookUrl, event)).status, 200);
      assert.equal((await processed(h.db, event.id as string)).outcome, 'applied');
    }
    assert.deepEqual(await refundsOf(b.paymentId), ledger);
    assert.deepEqual(await moneyOf(b.paymentId), money);
  });

  test('a disputed booking cancelled by a manager: the captured payment is refunded through Stripe', async () => {
    const b = await capturedBooking();
    const disputed = await b.client.rpc('dispute_booking', { booking_id: b.bookingId, reason: 'not done' });
    assert.equal(disputed.error, null, JSON.stringify(disputed.error));
    const manager = await createUser(h.db, { tenantId: b.tenantId });
    await grantPermission(h.db, manager, 'bookings.manage');
    const cancelled = await (await h.clientFor(manager)).rpc('cancel_booking', {
      booking_id: b.bookingId,
      reason: 'settled for the customer',
    });
    assert.equal(cancelled.error, null, JSON.stringify(cancelled.error));
    const money = await until(async () => {
      const m = await moneyOf(b.paymentId);
      return m?.status === 'refunded' ? m : undefined;
    });
    assert.deepEqual(money, { status: 'refunded', refunded: 8400, fee: 1200, reversed: 7200 });
    const calls = h.double.requests.filter(
      (r) => r.path === '/v1/refunds' && r.idempotencyKey === `booking:${b.bookingId}:refund:cancellation`,
    );
    assert.equal(calls.length, 1);
  });

  test('a refund made in the Stripe dashboard is recorded once from its events, fee and reversal in proportion', async () => {
    const b = await capturedBooking();
    const refund = await stripe.refunds.create({
      payment_intent: b.intentId,
      amount: 2100,
      refund_application_fee: true,
      reverse_transfer: true,
    });
    const event = h.double.event('refund.created', refund as unknown as Obj);
    // Delivered twice, and charge.refunded for it too.
    const charge = (await stripe.charges.retrieve(b.chargeId)) as unknown as Obj;
    const also = h.double.event('charge.refunded', { ...charge, refunds: { object: 'list', data: [refund] } });
    for (const e of [event, event, also]) assert.equal((await h.double.deliver(h.webhookUrl, e)).status, 200);
    await processed(h.db, event.id as string);
    await processed(h.db, also.id as string);
    assert.deepEqual(await moneyOf(b.paymentId), {
      status: 'partially_refunded',
      refunded: 2100,
      fee: 300,
      reversed: 1800,
    });
    assert.deepEqual(await refundsOf(b.paymentId), [
      { type: 'refund', amount: 2100, fee: 300, re: refund.id },
      { type: 'transfer_reversal', amount: 1800, fee: 0, re: null },
    ]);
  });

  test("a refund of another platform's charge is ignored", async () => {
    const customer = await stripe.customers.create({});
    const intent = await stripe.paymentIntents.create({
      amount: 500,
      currency: 'usd',
      customer: customer.id,
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    const refund = await stripe.refunds.create({ payment_intent: intent.id });
    const event = h.double.event('refund.created', refund as unknown as Obj);
    assert.equal((await h.double.deliver(h.webhookUrl, event)).status, 200);
    assert.equal((await processed(h.db, event.id as string)).outcome, 'ignored');
  });
});
