import type Stripe from 'stripe';
import { sql } from '../../../db/sql.js';
import { applyPaymentMethod } from '../saved-cards.js';
import { type CheckContext, type Finding, jobQueued } from './index.js';

/*
 * Saved cards: for each user with a Stripe Customer, the cards attached to that Customer at
 * Stripe against the payment_methods mirrored for them. A card detached at Stripe but active
 * here, one whose details changed (the card updater's new expiry), and one attached at Stripe
 * but not saved here are applied through app.stripe_apply_payment_method, which keeps the
 * default rule. The default is Loconomy's (the user chooses it; a job sets it at Stripe): a
 * Customer whose invoice_settings.default_payment_method differs, with no sync job queued, is a
 * person's call (the default is chosen again, which queues the job).
 */

interface LocalCustomer {
  readonly user_id: string;
  readonly stripe_customer_id: string;
}

interface LocalCard {
  readonly id: string;
  readonly stripe_payment_method_id: string;
  readonly is_active: boolean;
  readonly card_brand: string | null;
  readonly card_last4: string | null;
  readonly card_exp_month: number | null;
  readonly card_exp_year: number | null;
}

/** "expiry 12/2030 here, 01/2032 at Stripe; …", or '' when the mirror agrees. */
function cardDifferences(ours: LocalCard, method: Stripe.PaymentMethod): string {
  const card = method.card;
  if (card === undefined || card === null) return '';
  const diffs: string[] = [];
  const expiry = (month: number | null, year: number | null) => `${String(month).padStart(2, '0')}/${year}`;
  if (ours.card_exp_month !== card.exp_month || ours.card_exp_year !== card.exp_year)
    diffs.push(
      `expiry ${expiry(ours.card_exp_month, ours.card_exp_year)} here, ${expiry(card.exp_month, card.exp_year)} at Stripe`,
    );
  if (ours.card_last4 !== card.last4) diffs.push(`last four ${ours.card_last4} here, ${card.last4} at Stripe`);
  if (ours.card_brand !== card.brand) diffs.push(`brand ${ours.card_brand} here, ${card.brand} at Stripe`);
  return diffs.join('; ');
}

export async function* checkPaymentMethods(ctx: CheckContext): AsyncIterable<Finding> {
  const { rows: customers } = await ctx.db.query<LocalCustomer>(sql`
    select id as user_id, stripe_customer_id from public.users where stripe_customer_id is not null order by created_at`);
  for (const customer of customers) {
    ctx.count('customer');
    let found: Stripe.Customer | Stripe.DeletedCustomer;
    try {
      found = await ctx.stripe.customers.retrieve(customer.stripe_customer_id);
    } catch (error) {
      if ((error as { code?: string }).code !== 'resource_missing') throw error;
      found = { id: customer.stripe_customer_id, object: 'customer', deleted: true };
    }
    if (found.deleted) {
      // Its cards went with it. A person clears users.stripe_customer_id; the next payment makes a new Customer.
      yield {
        kind: 'customer',
        stripeId: customer.stripe_customer_id,
        loconomyId: customer.user_id,
        what: 'Stripe has no such customer (deleted)',
      };
      continue;
    }
    const { rows } = await ctx.db.query<LocalCard>(sql`
      select id, stripe_payment_method_id, is_active, card_brand, card_last4, card_exp_month::int as card_exp_month,
             card_exp_year::int as card_exp_year
        from public.payment_methods
       where user_id = ${customer.user_id} and stripe_payment_method_id is not null`);
    const local = new Map(rows.map((r) => [r.stripe_payment_method_id, r]));
    const attached = new Set<string>();
    let fixed = false;
    const listed = ctx.stripe.customers.listPaymentMethods(customer.stripe_customer_id, { limit: 100 });
    for await (const method of listed) {
      ctx.count('card');
      attached.add(method.id);
      const ours = local.get(method.id);
      const fetchedAt = new Date();
      const fix = () => applyPaymentMethod(ctx.db, method, fetchedAt);
      const base = { kind: 'card', stripeId: method.id, loconomyId: ours?.id ?? customer.user_id, fix };
      let what = '';
      if (ours === undefined) what = 'attached to the customer at Stripe, not saved here';
      else if (!ours.is_active) what = 'removed here, attached to the customer at Stripe';
      else what = cardDifferences(ours, method);
      if (what === '') continue;
      fixed = true;
      yield { ...base, what };
    }
    for (const ours of rows) {
      if (!ours.is_active || attached.has(ours.stripe_payment_method_id)) continue;
      ctx.count('card');
      const fetchedAt = new Date();
      let method: Stripe.PaymentMethod;
      try {
        method = await ctx.stripe.paymentMethods.retrieve(ours.stripe_payment_method_id);
      } catch (error) {
        if ((error as { code?: string }).code !== 'resource_missing') throw error;
        yield {
          kind: 'card',
          stripeId: ours.stripe_payment_method_id,
          loconomyId: ours.id,
          what: 'Stripe has no such payment method',
        };
        continue;
      }
      const owner = typeof method.customer === 'string' ? method.customer : (method.customer?.id ?? null);
      if (owner === customer.stripe_customer_id) continue; // attached since the list was read
      fixed = true;
      yield {
        kind: 'card',
        stripeId: method.id,
        loconomyId: ours.id,
        what:
          owner === null
            ? 'active here, detached at Stripe'
            : `active here, attached to another customer (${owner}) at Stripe`,
        fix: () => applyPaymentMethod(ctx.db, method, fetchedAt),
      };
    }
    // A card fix may move the default; its sync job then sets it at Stripe: compared next run.
    if (!fixed) yield* compareDefault(ctx, customer, found);
  }
}

async function* compareDefault(
  ctx: CheckContext,
  customer: LocalCustomer,
  found: Stripe.Customer,
): AsyncIterable<Finding> {
  const atStripe = found.invoice_settings?.default_payment_method;
  const theirs = typeof atStripe === 'string' ? atStripe : (atStripe?.id ?? null);
  const { rows } = await ctx.db.query<{ pm: string }>(sql`
    select stripe_payment_method_id as pm from public.payment_methods
     where user_id = ${customer.user_id} and is_default and is_active and stripe_payment_method_id is not null`);
  const ours = rows[0]?.pm ?? null;
  if (ours === theirs) return;
  if (await jobQueued(ctx, `stripe:default-payment-method:${customer.user_id}`)) return; // being set now
  yield {
    kind: 'customer',
    stripeId: customer.stripe_customer_id,
    loconomyId: customer.user_id,
    what: `the default card is ${ours ?? 'none'} here, ${theirs ?? 'none'} at Stripe`,
  };
}
