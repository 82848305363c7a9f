import type Stripe from 'stripe';
import { sql } from '../../../db/sql.js';
import { applyPaymentMethod } from '../saved-cards.js';
import type { EventHandler, HandlerContext, RecordedEvent } from './index.js';

const PAYMENT_METHOD_ID = /^pm_[A-Za-z0-9_]+$/;

/** Fetches the payment method again and mirrors it as Stripe has it now (app.stripe_apply_payment_method). */
async function mirror(event: RecordedEvent, context: HandlerContext, id: string) {
  // The fetch time orders two fetches of one card from different queues (a setup_intent event
  // and a payment_method event): the older one is not applied.
  const fetchedAt = new Date();
  const method: Stripe.PaymentMethod = await context.stripe.paymentMethods.retrieve(id);
  return applyPaymentMethod(context.db, method, fetchedAt, event.id, context.attempt);
}

/**
 * payment_method.attached / .updated / .automatically_updated / .detached: the card is fetched
 * again, so any of them only says "look": attached to a Loconomy customer → its row is upserted
 * (brand, last four, expiry), detached → deactivated. Duplicates and any order give the same rows.
 */
const paymentMethodChanged: EventHandler = async (event, context) => {
  if (event.account !== undefined) return ignored(event, context);
  const id = event.data.object.id;
  if (typeof id !== 'string' || !PAYMENT_METHOD_ID.test(id))
    throw new Error(`${event.type} ${event.id} names no payment method`);
  return mirror(event, context, id);
};

/**
 * setup_intent.succeeded: a card was saved through stripe-setup-payment-method (Stripe.js
 * confirmed the SetupIntent). The SetupIntent is fetched again for its payment method, which is
 * mirrored as above; one with no payment method (cannot happen once succeeded) is ignored.
 */
const setupIntentSucceeded: EventHandler = async (event, context) => {
  if (event.account !== undefined) return ignored(event, context);
  const id = event.data.object.id;
  if (typeof id !== 'string' || !/^seti_[A-Za-z0-9_]+$/.test(id))
    throw new Error(`${event.type} ${event.id} names no SetupIntent`);
  const intent: Stripe.SetupIntent = await context.stripe.setupIntents.retrieve(id);
  const pm = typeof intent.payment_method === 'string' ? intent.payment_method : (intent.payment_method?.id ?? null);
  if (intent.status !== 'succeeded' || pm === null || !PAYMENT_METHOD_ID.test(pm)) {
    return ignored(event, context);
  }
  return mirror(event, context, pm);
};

/**
 * Marks the event processed with outcome `ignored`: a connected account's own customers' cards
 * (a Connect endpoint's events name the account) are not Loconomy's, and cannot be fetched with
 * the platform's key.
 */
async function ignored(event: RecordedEvent, context: HandlerContext) {
  await context.db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last(sql`select app.stripe_finish_event(${event.id}, 'ignored', ${context.attempt})`),
  );
  return { outcome: 'ignored' };
}

export const paymentMethodHandlers: Readonly<Record<string, EventHandler>> = {
  'setup_intent.succeeded': setupIntentSucceeded,
  'payment_method.attached': paymentMethodChanged,
  'payment_method.updated': paymentMethodChanged,
  'payment_method.automatically_updated': paymentMethodChanged,
  'payment_method.detached': paymentMethodChanged,
};
