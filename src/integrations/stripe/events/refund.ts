import type Stripe from 'stripe';
import { applyRefunds } from '../refund.js';
import type { EventHandler } from './index.js';

const REFUND_ID = /^(re|pyr)_[A-Za-z0-9_]+$/;

/** refund.created / refund.updated: the refund is fetched again and recorded once if it succeeded. */
const refundChanged: EventHandler = async (event, context) => {
  const id = event.data.object.id;
  if (typeof id !== 'string' || !REFUND_ID.test(id)) throw new Error(`${event.type} ${event.id} names no refund`);
  const refund = await context.stripe.refunds.retrieve(id);
  return applyRefunds(context.db, [refund], event.id, context.attempt);
};

/**
 * charge.refunded: the refunds the charge lists (the charge re-fetched with its refunds expanded;
 * the event's own list when Stripe does not expand it), each fetched again and recorded once by
 * its id — a refund made in the dashboard is recorded too.
 */
const chargeRefunded: EventHandler = async (event, context) => {
  const id = event.data.object.id;
  if (typeof id !== 'string' || !/^(ch|py)_[A-Za-z0-9_]+$/.test(id))
    throw new Error(`${event.type} ${event.id} names no charge`);
  const charge = await context.stripe.charges.retrieve(id, { expand: ['refunds'] });
  const listed = (
    charge.refunds?.data ??
    (event.data.object.refunds as { data?: { id?: unknown }[] } | undefined)?.data ??
    []
  )
    .map((r) => r.id)
    .filter((r): r is string => typeof r === 'string' && REFUND_ID.test(r));
  const refunds: Stripe.Refund[] = [];
  for (const refundId of listed) refunds.push(await context.stripe.refunds.retrieve(refundId));
  return applyRefunds(context.db, refunds, event.id, context.attempt);
};

export const refundHandlers: Readonly<Record<string, EventHandler>> = {
  'refund.created': refundChanged,
  'refund.updated': refundChanged,
  'charge.refunded': chargeRefunded,
};
