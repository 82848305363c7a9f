import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type Stripe from 'stripe';
import { loadConfig } from '../../../src/config.js';
import { sql } from '../../../src/db/sql.js';
import { createStripeClient } from '../../../src/integrations/stripe/client.js';
import { createBooking, createListing, createUser, type UserFixture } from '../../helpers/fixtures.js';
import type { Obj } from './double.js';
import { processed, type StripeHarness, stripeHarness, until } from './support.js';

/*
 * Card disputes and Stripe's payouts on this backend (decision 0023, slice 4), end to end: a
 * booking is paid through stripe-booking-payment's PaymentIntent at the Stripe double and
 * captured by the capture job; the double then disputes the charge, moves the dispute and pays
 * the provider's account out; its signed events reach POST /webhooks/stripe and the jobs
 * re-fetch the dispute or payout, move the booking, reverse the provider's share and write
 * the ledger.
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

/** A stripe marketplace with an onboarded provider, a payments manager and a booking captured in full. */
async function capturedBooking(options: { status?: 'completed' | 'confirmed'; webhooks?: boolean } = {}) {
  const { tenantId, provider } = await h.marketplace('stripe');
  const account = await stripe.accounts.create({
    type: 'express',
    capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
  });
  h.double.completeOnboarding(account.id);
  await h.db.query(sql`
    insert into public.payout_accounts (user_id, stripe_account_id, details_submitted, charges_enabled, payouts_enabled)
    values (${provider.id}, ${account.id}, true, true, true)`);
  const manager = await createUser(h.db, { tenantId, role: 'admin' });
  if (options.webhooks) {
    // An outbound webhook endpoint of the marketplace for the money families (deliveries are
    // not sent here: the harness runs only the Stripe tasks, so they wait in the outbox).
    const { error } = await (await h.clientFor(manager)).rpc('create_webhook_endpoint', {
      url: 'https://hooks.example.com/loconomy',
      events: ['payment.*', 'dispute.*', 'payout.*'],
    });
    assert.equal(error, null, error?.message);
  }
  const listing = await createListing(h.db, provider);
  const customer = await createUser(h.db, { tenantId });
  // USD 84.00: the provider's share is 72.00, the platform's application fee 12.00.
  const booking = await createBooking(h.db, listing, customer, { status: 'pending', startsInHours: 200 });
  const client = await h.clientFor(customer);
  const { data, error } = await client.functions.invoke('stripe-booking-payment', {
    body: { booking_id: booking.id, payment_method_id: 'pm_card_visa' },
  });
  assert.equal(error, null, String(error));
  const intentId = (data as { payment_intent_id: string }).payment_intent_id;
  await deliver('payment_intent.amount_capturable_updated', (await stripe.paymentIntents.retrieve(intentId)) as never);
  await h.db.query(sql`update public.bookings set status = 'confirmed', expires_at = null where id = ${booking.id}`);
  if (options.status === 'confirmed') {
    // Captured at the authorisation's lapse, before the service (stripe.capture_lapsing).
    await h.db.query(sql`
      update public.payments set capture_before = now() - interval '1 minute' where booking_id = ${booking.id}`);
    await h.db.query(sql`select graphile_worker.add_job('stripe.capture_lapsing', '{}'::json, max_attempts => 1)`);
  } else {
    await h.db.query(sql`update public.bookings set status = 'completed' where id = ${booking.id}`);
  }
  const payment = await until(async () => {
    const p = await paymentOf(booking.id);
    return p.status === 'captured' ? p : undefined;
  });
  return {
    tenantId,
    provider,
    customer,
    manager,
    account: account.id,
    bookingId: booking.id,
    intentId,
    paymentId: payment.id,
    chargeId: payment.stripe_charge_id as string,
    transferId: payment.stripe_transfer_id as string,
  };
}

async function deliver(type: string, object: Obj, options: { account?: string } = {}) {
  const event = h.double.event(type, object, options);
  const answer = await h.double.deliver(h.webhookUrl, event);
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  return processed(h.db, event.id as string);
}

async function paymentOf(bookingId: string) {
  const { rows } = await h.db.query<{
    id: string;
    status: string;
    stripe_charge_id: string | null;
    stripe_transfer_id: string | null;
    refunded: number;
    fee_refunded: number;
    reversed: number;
  }>(sql`
    select id, status::text, stripe_charge_id, stripe_transfer_id, refunded_cents::int as refunded,
           application_fee_refunded_cents::int as fee_refunded, transfer_reversed_cents::int as reversed
      from public.payments where booking_id = ${bookingId}`);
  return rows[0] as NonNullable<(typeof rows)[0]>;
}

async function bookingOf(bookingId: string) {
  const { rows } = await h.db.query<{ status: string; completed_at: Date | null; disputed_at: Date | null }>(sql`
    select status::text, completed_at, disputed_at from public.bookings where id = ${bookingId}`);
  return rows[0] as NonNullable<(typeof rows)[0]>;
}

async function disputeRow(stripeDisputeId: string) {
  const { rows } = await h.db.query<Record<string, unknown>>(sql`
    select status, amount_cents::int as amount, currency::text, reason, fee_cents::int as fee,
           booking_status_before::text as before, loss_cents::int as loss, reversal_status,
           reversal_cents::int as reversal, reversal_shortfall_cents::int as shortfall,
           stripe_transfer_reversal_id as trr, reversal_failure_code as failure, closed_at is not null as closed,
           evidence_due_by is not null as due
      from public.payment_disputes where stripe_dispute_id = ${stripeDisputeId}`);
  return rows[0];
}

async function ledgerOf(paymentId: string) {
  const { rows } = await h.db.query<{ type: string; amount: number; fee: number; status: string }>(sql`
    select type::text, amount_cents::int as amount, platform_fee_cents::int as fee, status::text
      from public.transactions where payment_id = ${paymentId} order by created_at, type::text`);
  return rows;
}

async function notified(userId: string, bookingId: string): Promise<number> {
  const { rows } = await h.db.query<{ n: number }>(sql`
    select count(*)::int as n from public.notifications
     where user_id = ${userId} and type = 'booking_disputed' and data ->> 'booking_id' = ${bookingId}`);
  return rows[0]?.n ?? 0;
}

const disputeSnapshot = async (id: string) => (await stripe.disputes.retrieve(id)) as unknown as Obj;

/** Waits until the reversal job has recorded the loss. */
function lossRecorded(disputeId: string) {
  return until(async () => {
    const d = await disputeRow(disputeId);
    return d && d.reversal_status !== 'pending' ? d : undefined;
  });
}

describe('charge.dispute.*: disputes of Loconomy charges', () => {
  test('created: the booking is disputed, both parties and the payments managers are told, the fee is the platform’s', async () => {
    const b = await capturedBooking();
    const before = await bookingOf(b.bookingId);
    const dispute = h.double.dispute(b.chargeId, { reason: 'product_not_received' });
    const event = await deliver('charge.dispute.created', dispute);
    assert.equal(event.outcome, 'applied');
    const booking = await bookingOf(b.bookingId);
    assert.equal(booking.status, 'disputed');
    assert.deepEqual(await disputeRow(dispute.id as string), {
      status: 'needs_response',
      amount: 8400,
      currency: 'USD',
      reason: 'product_not_received',
      fee: 1500,
      before: 'completed',
      loss: null,
      reversal_status: null,
      reversal: null,
      shortfall: 0,
      trr: null,
      failure: null,
      closed: false,
      due: true,
    });
    assert.equal(await notified(b.customer.id, b.bookingId), 1);
    assert.equal(await notified(b.provider.id, b.bookingId), 1);
    assert.equal(await notified(b.manager.id, b.bookingId), 1, 'the tenant’s payments.manage holder');
    // Stripe's dispute fee is written once as the platform's cost; no other money moved.
    assert.deepEqual(
      (await ledgerOf(b.paymentId)).map((r) => [r.type, r.amount]),
      [
        ['payment', 8400],
        ['transfer', 7200],
        ['fee', 1500],
      ],
    );

    // The same events again (a redelivery, funds_withdrawn, a later update) change nothing more.
    await deliver('charge.dispute.funds_withdrawn', dispute);
    await deliver('charge.dispute.created', dispute);
    await deliver('charge.dispute.updated', await disputeSnapshot(dispute.id as string));
    assert.equal((await bookingOf(b.bookingId)).status, 'disputed');
    assert.equal(await notified(b.manager.id, b.bookingId), 1);
    assert.equal(await notified(b.customer.id, b.bookingId), 1);
    assert.equal((await ledgerOf(b.paymentId)).length, 3);
    assert.equal((await paymentOf(b.bookingId)).status, 'captured');
    assert.ok(before.completed_at !== null);

    // The parties and the payments reader see it through the API; a stranger does not.
    for (const [user, count] of [
      [b.customer, 1],
      [b.provider, 1],
      [b.manager, 1],
      [await createUser(h.db, { tenantId: b.tenantId }), 0],
    ] as [UserFixture, number][]) {
      const { data, error } = await (await h.clientFor(user))
        .from('payment_disputes')
        .select('status, amount_cents')
        .eq('booking_id', b.bookingId);
      assert.equal(error, null);
      assert.equal(data?.length, count, user.role);
    }
    const write = await (await h.clientFor(b.manager))
      .from('payment_disputes')
      .update({ status: 'won' })
      .eq('booking_id', b.bookingId)
      .select();
    assert.notEqual(write.error, null, 'no client writes');
  });

  test('won: the booking returns to completed with its completion time, no money moves', async () => {
    const b = await capturedBooking();
    const completedAt = (await bookingOf(b.bookingId)).completed_at;
    const dispute = h.double.dispute(b.chargeId);
    await deliver('charge.dispute.created', dispute);
    h.double.updateDispute(dispute.id as string, 'under_review');
    await deliver('charge.dispute.updated', await disputeSnapshot(dispute.id as string));
    assert.equal((await disputeRow(dispute.id as string))?.status, 'under_review');
    h.double.closeDispute(dispute.id as string, 'won');
    const closed = await deliver('charge.dispute.closed', await disputeSnapshot(dispute.id as string));
    assert.equal(closed.outcome, 'applied');
    await deliver('charge.dispute.funds_reinstated', await disputeSnapshot(dispute.id as string));
    const booking = await bookingOf(b.bookingId);
    assert.equal(booking.status, 'completed');
    assert.deepEqual(booking.completed_at, completedAt);
    const row = await disputeRow(dispute.id as string);
    assert.equal(row?.status, 'won');
    assert.equal(row?.closed, true);
    assert.equal(row?.reversal_status, null);
    assert.equal((await paymentOf(b.bookingId)).status, 'captured');
    assert.deepEqual(
      (await ledgerOf(b.paymentId)).map((r) => r.type),
      ['payment', 'transfer', 'fee'],
    );
    // The created event, delivered late with its open snapshot, is re-fetched as won: nothing reopens.
    const late = await deliver('charge.dispute.created', dispute);
    assert.equal(late.outcome, 'applied');
    assert.equal((await bookingOf(b.bookingId)).status, 'completed');
    assert.equal((await disputeRow(dispute.id as string))?.status, 'won');
    assert.equal(await notified(b.manager.id, b.bookingId), 1);
    assert.equal(
      h.double.requests.filter((r) => r.path.startsWith(`/v1/transfers/${b.transferId}/reversals`)).length,
      0,
    );
  });

  test('a booking captured at its lapse and disputed before the service: confirmed → disputed → confirmed when won', async () => {
    const b = await capturedBooking({ status: 'confirmed' });
    assert.equal((await bookingOf(b.bookingId)).status, 'confirmed');
    const dispute = h.double.dispute(b.chargeId, { inquiry: true });
    await deliver('charge.dispute.created', dispute);
    assert.equal((await bookingOf(b.bookingId)).status, 'disputed');
    assert.equal((await disputeRow(dispute.id as string))?.before, 'confirmed');
    assert.equal((await disputeRow(dispute.id as string))?.fee, 0, 'an inquiry takes no fee');
    h.double.updateDispute(dispute.id as string, 'warning_closed');
    await deliver('charge.dispute.closed', await disputeSnapshot(dispute.id as string));
    assert.equal((await bookingOf(b.bookingId)).status, 'confirmed');
    assert.deepEqual(
      (await ledgerOf(b.paymentId)).map((r) => r.type),
      ['payment', 'transfer'],
    );
  });

  test('lost: the provider’s share reversed once, the loss written once, the booking refunded without a Stripe refund; reports add up', async () => {
    const b = await capturedBooking();
    const dispute = h.double.dispute(b.chargeId);
    const created = dispute;
    await deliver('charge.dispute.created', created);
    h.double.closeDispute(dispute.id as string, 'lost');
    const lost = await disputeSnapshot(dispute.id as string);
    // closed twice, concurrently with a late created.
    const events = [
      h.double.event('charge.dispute.closed', lost),
      h.double.event('charge.dispute.closed', lost),
      h.double.event('charge.dispute.created', created),
    ];
    const answers = await h.double.deliverAll(h.webhookUrl, [events[0] as Obj, events[0] as Obj, ...events.slice(1)], {
      concurrent: true,
    });
    for (const a of answers) assert.equal(a.status, 200);
    for (const e of events) await processed(h.db, e.id as string);
    const row = await lossRecorded(dispute.id as string);
    assert.equal(row.status, 'lost');
    assert.equal(row.reversal_status, 'reversed');
    assert.equal(row.loss, 8400);
    assert.equal(row.reversal, 7200);
    assert.equal(row.shortfall, 0);
    assert.match(row.trr as string, /^trr_/);

    const reversals = h.double.requests.filter(
      (r) => r.method === 'POST' && r.path === `/v1/transfers/${b.transferId}/reversals`,
    );
    assert.deepEqual(
      reversals.map((r) => [r.idempotencyKey, r.params.amount]),
      [[`dispute:${dispute.id}:reversal`, '7200']],
    );
    assert.equal((await stripe.transfers.retrieve(b.transferId)).amount_reversed, 7200);
    assert.equal(
      h.double.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds').length,
      0,
      'no Stripe refund: the card network returned the money',
    );
    assert.deepEqual(await paymentOf(b.bookingId), {
      ...(await paymentOf(b.bookingId)),
      status: 'refunded',
      refunded: 8400,
      fee_refunded: 1200,
      reversed: 7200,
    });
    assert.equal((await bookingOf(b.bookingId)).status, 'refunded');
    assert.deepEqual(
      (await ledgerOf(b.paymentId)).map((r) => [r.type, r.amount, r.fee, r.status]),
      [
        ['payment', 8400, 1200, 'refunded'],
        ['transfer', 7200, 0, 'completed'],
        ['fee', 1500, 0, 'completed'],
        ['refund', 8400, 1200, 'completed'],
        ['transfer_reversal', 7200, 0, 'completed'],
      ],
    );
    // The refund job finds nothing: no job was added by the booking's move to refunded.
    const { rows: jobs } = await h.db.query(sql`
      select 1 from graphile_worker.jobs where task_identifier in ('stripe.refund_payment', 'stripe.reverse_dispute_transfer')`);
    assert.equal(jobs.length, 0);

    // Replays change nothing.
    for (const type of ['charge.dispute.closed', 'charge.dispute.funds_withdrawn', 'charge.dispute.updated']) {
      await deliver(type, lost);
    }
    await deliver('charge.dispute.created', created);
    assert.equal(
      h.double.requests.filter((r) => r.method === 'POST' && r.path === `/v1/transfers/${b.transferId}/reversals`)
        .length,
      1,
    );
    assert.equal((await ledgerOf(b.paymentId)).length, 5);

    // The provider's balance and the operator's report add up.
    const asManager = await h.clientFor(b.manager);
    const balances = await asManager.rpc('provider_balances', { provider_id: b.provider.id });
    assert.equal(balances.error, null, JSON.stringify(balances.error));
    assert.deepEqual(balances.data, [
      { currency: 'USD', earned_cents: 7200, reversed_cents: 7200, net_cents: 0, paid_out_cents: 0, balance_cents: 0 },
    ]);
    const report = await asManager.rpc('payments_report');
    assert.equal(report.error, null, JSON.stringify(report.error));
    const usd = (report.data as Record<string, number>[])[0] as Record<string, number>;
    assert.equal(usd.captured_cents, 8400);
    assert.equal(usd.refunded_cents, 8400);
    assert.equal(usd.processing_fees_cents, 1500, 'the dispute fee counts as a processing fee');
    assert.equal(usd.platform_net_cents, 1200 - 1200 - 1500);
    assert.equal(usd.provider_net_cents, 0);
    assert.equal(
      (usd.captured_cents as number) - (usd.refunded_cents as number),
      (usd.platform_net_cents as number) + (usd.processing_fees_cents as number) + (usd.provider_net_cents as number),
    );
    assert.equal(usd.providers_owed_cents, 0);
  });

  test('lost when the provider was paid out: Stripe refuses the reversal, the shortfall is recorded and owed', async () => {
    const b = await capturedBooking();
    // Stripe paid the provider's whole balance out before the dispute.
    const payout = h.double.payout(b.account, h.double.balance(b.account, 'usd'));
    h.double.payoutStatus(payout.id as string, 'paid');
    await deliver('payout.paid', h.double.payouts.get(payout.id as string)?.payout as Obj, { account: b.account });
    const dispute = h.double.dispute(b.chargeId);
    await deliver('charge.dispute.created', dispute);
    h.double.closeDispute(dispute.id as string, 'lost');
    await deliver('charge.dispute.closed', await disputeSnapshot(dispute.id as string));
    const row = await lossRecorded(dispute.id as string);
    assert.equal(row.reversal_status, 'failed');
    assert.equal(row.failure, 'balance_insufficient');
    assert.equal(row.reversal, 7200);
    assert.equal(row.shortfall, 7200);
    assert.equal(row.trr, null);
    assert.equal((await bookingOf(b.bookingId)).status, 'refunded');
    assert.equal((await stripe.transfers.retrieve(b.transferId)).amount_reversed, 0);
    // The ledger holds the provider to it: earned 72, taken back 72, paid out 72 → owes 72.
    const balances = await (await h.clientFor(b.provider)).rpc('provider_balances');
    assert.deepEqual(balances.data, [
      {
        currency: 'USD',
        earned_cents: 7200,
        reversed_cents: 7200,
        net_cents: 0,
        paid_out_cents: 7200,
        balance_cents: -7200,
      },
    ]);
    // A retried job (the same key) asks nothing again.
    const { rows } = await h.db.query(sql`
      select graphile_worker.add_job('stripe.reverse_dispute_transfer', json_build_object('dispute_id', ${dispute.id as string}::text))`);
    assert.equal(rows.length, 1);
    await until(async () => {
      const { rows: left } = await h.db.query(sql`
        select 1 from graphile_worker.jobs where task_identifier = 'stripe.reverse_dispute_transfer'`);
      return left.length === 0;
    });
    assert.equal(
      h.double.requests.filter((r) => r.method === 'POST' && r.path === `/v1/transfers/${b.transferId}/reversals`)
        .length,
      1,
    );
  });

  test('out of order: the closed event arrives first (lost), then created — booked once as lost', async () => {
    const b = await capturedBooking();
    const dispute = h.double.dispute(b.chargeId);
    h.double.closeDispute(dispute.id as string, 'lost');
    await deliver('charge.dispute.closed', await disputeSnapshot(dispute.id as string));
    const row = await lossRecorded(dispute.id as string);
    assert.equal(row.before, 'completed');
    assert.equal(row.reversal_status, 'reversed');
    await deliver('charge.dispute.created', dispute);
    assert.equal((await bookingOf(b.bookingId)).status, 'refunded');
    assert.equal(await notified(b.manager.id, b.bookingId), 1);
    assert.deepEqual(
      (await ledgerOf(b.paymentId)).map((r) => r.type),
      ['payment', 'transfer', 'fee', 'refund', 'transfer_reversal'],
    );
  });

  test('a dispute of a charge Loconomy did not make is ignored', async () => {
    const customer = await stripe.customers.create({});
    const intent = await stripe.paymentIntents.create({
      amount: 500,
      currency: 'usd',
      customer: customer.id,
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    const dispute = h.double.dispute(intent.latest_charge as string);
    const event = await deliver('charge.dispute.created', dispute);
    assert.equal(event.outcome, 'ignored');
    const { rows } = await h.db.query(sql`
      select 1 from public.payment_disputes where stripe_dispute_id = ${dispute.id as string}`);
    assert.equal(rows.length, 0);
  });
});

describe('outbound webhooks for payment movements', () => {
  test('payment.captured, dispute.created, dispute.closed, payment.refunded, payout.paid and payout.failed, once each', async () => {
    const b = await capturedBooking({ webhooks: true });
    const dispute = h.double.dispute(b.chargeId);
    await deliver('charge.dispute.created', dispute);
    h.double.closeDispute(dispute.id as string, 'lost');
    await deliver('charge.dispute.closed', await disputeSnapshot(dispute.id as string));
    await lossRecorded(dispute.id as string);
    await deliver('charge.dispute.closed', await disputeSnapshot(dispute.id as string));
    const paid = h.double.payout(b.account, 100);
    h.double.payoutStatus(paid.id as string, 'paid');
    await deliver('payout.paid', paid, { account: b.account });
    await deliver('payout.paid', paid, { account: b.account });
    const failed = h.double.payout(b.account, 200);
    h.double.payoutStatus(failed.id as string, 'failed', 'no_account');
    await deliver('payout.failed', failed, { account: b.account });
    const { rows } = await h.db.query<{ type: string; data: Obj }>(sql`
      select event_type as type, payload -> 'data' as data from public.webhook_deliveries
       where tenant_id = ${b.tenantId} order by created_at, event_type`);
    assert.deepEqual(
      rows.map((r) => r.type),
      ['payment.captured', 'dispute.created', 'dispute.closed', 'payment.refunded', 'payout.paid', 'payout.failed'],
    );
    const byType = Object.fromEntries(rows.map((r) => [r.type, r.data]));
    assert.equal(byType['payment.captured']?.captured_cents, 8400);
    assert.equal(byType['payment.refunded']?.refund_cents, 8400);
    assert.equal(byType['payment.refunded']?.status, 'refunded');
    assert.equal(byType['dispute.closed']?.status, 'lost');
    assert.equal(byType['payout.paid']?.amount_cents, 100);
    assert.equal(byType['payout.failed']?.failure_code, 'no_account');
    assert.equal(byType['payout.failed']?.provider_id, b.provider.id);
  });
});

describe('payout.*: Stripe’s payouts to providers mirrored', () => {
  async function payoutRow(id: string) {
    const { rows } = await h.db.query<{ status: string; amount: number; user_id: string; metadata: Obj }>(sql`
      select status::text, amount_cents::int as amount, user_id, metadata
        from public.transactions where idempotency_key = ${`stripe:payout:${id}`}`);
    return rows;
  }

  test('paid: processing while in transit, completed when paid, counted in the balance once', async () => {
    const b = await capturedBooking();
    const payout = h.double.payout(b.account, 5000);
    const created = await deliver('payout.created', payout, { account: b.account });
    assert.equal(created.outcome, 'applied');
    assert.deepEqual(
      (await payoutRow(payout.id as string)).map((r) => [r.status, r.amount, r.user_id]),
      [['processing', 5000, b.provider.id]],
    );
    const retrieve = h.double.requests.filter((r) => r.path === `/v1/payouts/${payout.id}`);
    assert.deepEqual(
      retrieve.map((r) => r.stripeAccount),
      [b.account],
    );
    const balance = async () => (await (await h.clientFor(b.provider)).rpc('provider_balances')).data;
    assert.equal(((await balance()) as { paid_out_cents: number }[])[0]?.paid_out_cents, 0, 'not paid yet');

    h.double.payoutStatus(payout.id as string, 'in_transit');
    await deliver('payout.updated', payout, { account: b.account });
    h.double.payoutStatus(payout.id as string, 'paid');
    const paid = await deliver('payout.paid', payout, { account: b.account });
    assert.equal(paid.outcome, 'applied');
    // The created event again, late: the re-fetch says paid.
    await deliver('payout.created', payout, { account: b.account });
    const rows = await payoutRow(payout.id as string);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.status, 'completed');
    assert.equal(rows[0]?.metadata.payout_method, 'standard');
    assert.equal(typeof rows[0]?.metadata.arrival_date, 'string');
    assert.deepEqual(await balance(), [
      {
        currency: 'USD',
        earned_cents: 7200,
        reversed_cents: 0,
        net_cents: 7200,
        paid_out_cents: 5000,
        balance_cents: 2200,
      },
    ]);
    const report = await (await h.clientFor(b.manager)).rpc('payments_report');
    const usd = (report.data as Record<string, number>[])[0] as Record<string, number>;
    assert.equal(usd.payouts_cents, 5000);
    assert.equal(usd.providers_owed_cents, 2200);
    const { rows: sent } = await h.db.query(sql`
      select 1 from public.notifications where user_id = ${b.provider.id} and type = 'payout_sent'`);
    assert.equal(sent.length, 1, 'the provider is told once, when paid');
  });

  test('failed (after paid, as a bank return): failed, not counted, never back to completed; duplicates change nothing', async () => {
    const b = await capturedBooking();
    const payout = h.double.payout(b.account, 7200);
    h.double.payoutStatus(payout.id as string, 'paid');
    const paidSnapshot = h.double.payouts.get(payout.id as string)?.payout as Obj;
    await deliver('payout.paid', paidSnapshot, { account: b.account });
    assert.equal((await payoutRow(payout.id as string))[0]?.status, 'completed');
    h.double.payoutStatus(payout.id as string, 'failed', 'account_closed');
    const failedEvent = h.double.event('payout.failed', payout, { account: b.account });
    for (const e of [failedEvent, failedEvent]) assert.equal((await h.double.deliver(h.webhookUrl, e)).status, 200);
    await processed(h.db, failedEvent.id as string);
    const rows = await payoutRow(payout.id as string);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.status, 'failed');
    assert.equal(rows[0]?.metadata.failure_code, 'account_closed');
    assert.equal(h.double.balance(b.account, 'usd'), 7200, 'Stripe put the money back');
    const balances = await (await h.clientFor(b.provider)).rpc('provider_balances');
    assert.equal((balances.data as { balance_cents: number }[])[0]?.balance_cents, 7200);
    assert.equal((balances.data as { paid_out_cents: number }[])[0]?.paid_out_cents, 0);
    // The paid event again, after the failure: a stale snapshot is re-fetched as failed.
    const again = await deliver('payout.paid', paidSnapshot, { account: b.account });
    assert.equal(again.outcome, 'applied');
    assert.equal((await payoutRow(payout.id as string))[0]?.status, 'failed');
  });

  test('a payout of an account Loconomy does not know, or of the platform, is ignored without a call', async () => {
    const stranger = await stripe.accounts.create({ type: 'express' });
    const payout = h.double.payout(stranger.id, 100);
    const before = h.double.requests.length;
    assert.equal((await deliver('payout.paid', payout, { account: stranger.id })).outcome, 'ignored');
    assert.equal((await deliver('payout.paid', payout)).outcome, 'ignored');
    assert.equal(h.double.requests.length, before);
    assert.equal((await payoutRow(payout.id as string)).length, 0);
  });
});
