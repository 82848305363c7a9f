import type Stripe from 'stripe';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';
import { stripeFailure } from './client.js';

/** Whose Stripe Customer: the user, their tenant, and the Customer already stored for them. */
export interface CustomerOwner {
  readonly user_id: string;
  readonly tenant_id: string;
  readonly stripe_customer_id: string | null;
}

/**
 * The user's Stripe Customer, created once (idempotency key from the user id) and stored. Shared
 * by booking payments, saved cards and subscriptions, so a card saved before the first booking
 * or subscription is on the same Customer the PaymentIntent or Subscription names.
 */
export async function customerOf(db: Database, stripe: Stripe, me: CustomerOwner): Promise<string> {
  if (me.stripe_customer_id !== null) return me.stripe_customer_id;
  let customer: Stripe.Customer;
  try {
    // Parameters that never change under the key (no email: it may change; Stripe Checkout asks for it).
    customer = await stripe.customers.create(
      { metadata: { loconomy_user_id: me.user_id, loconomy_tenant_id: me.tenant_id } },
      { idempotencyKey: `loconomy:user:${me.user_id}:customer` },
    );
  } catch (error) {
    throw stripeFailure(error, 'create the customer');
  }
  // Two first calls at once: the Customer stored first is kept (the key makes them the same one).
  const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last<{ kept: string }>(sql`select app.stripe_link_customer(${me.user_id}, ${customer.id}) as kept`),
  );
  return rows[0]?.kept ?? customer.id;
}
