import type Stripe from 'stripe';
import type { Database } from '../../../db/database.js';
import { sql } from '../../../db/sql.js';
import type { EventHandler } from './index.js';

/** An Invoice as app.stripe_apply_invoice needs it: with its payments and all its lines. */
export async function fetchInvoice(stripe: Stripe, id: string): Promise<Stripe.Invoice> {
  const invoice: Stripe.Invoice = await stripe.invoices.retrieve(id, { expand: ['payments'] });
  if (invoice.lines.has_more) {
    // The invoice carries its first lines only; the rest are listed.
    const lines = await stripe.invoices.listLineItems(id, { limit: 100 }).autoPagingToArray({ limit: 10_000 });
    invoice.lines = { ...invoice.lines, data: lines, has_more: false };
  }
  return invoice;
}

/** Mirrors an Invoice as fetched (app.stripe_apply_invoice: status forward only); eventId null outside an event. */
export async function applyInvoice(
  db: Database,
  invoice: Stripe.Invoice,
  eventId: string | null,
  attempt: number,
): Promise<Record<string, unknown>> {
  const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last<{ result: Record<string, unknown> }>(
      sql`select app.stripe_apply_invoice(${eventId}, ${JSON.stringify(invoice)}::jsonb, ${attempt}) as result`,
    ),
  );
  return (rows[0] as { result: Record<string, unknown> }).result;
}

/**
 * invoice.created / .finalized / .updated / .paid / .payment_failed / .voided /
 * .marked_uncollectible: the Invoice is fetched again with its payments and all its lines and
 * mirrored by app.stripe_apply_invoice — status forward only, lines while it is a draft or open,
 * one `payment` transaction when it is paid, a notification to the subscriber on payment_failed
 * — which marks the event processed in the same transaction.
 */
const invoiceChanged: EventHandler = async (event, context) => {
  const id = event.data.object.id;
  if (typeof id !== 'string' || !/^in_[A-Za-z0-9_]+$/.test(id))
    throw new Error(`${event.type} ${event.id} names no invoice`);
  const invoice = await fetchInvoice(context.stripe, id);
  return applyInvoice(context.db, invoice, event.id, context.attempt);
};

export const invoiceHandlers: Readonly<Record<string, EventHandler>> = {
  'invoice.created': invoiceChanged,
  'invoice.finalized': invoiceChanged,
  'invoice.updated': invoiceChanged,
  'invoice.paid': invoiceChanged,
  'invoice.payment_failed': invoiceChanged,
  'invoice.voided': invoiceChanged,
  'invoice.marked_uncollectible': invoiceChanged,
};
