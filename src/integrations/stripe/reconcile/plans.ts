import type Stripe from 'stripe';
import { sql } from '../../../db/sql.js';
import type { CheckContext, Finding } from './index.js';

/*
 * Plans: each subscription plan with a Stripe Price against that Price (amount, currency,
 * interval, active). A Price never changes its amount, currency or interval, and a plan's new
 * amount clears its Price (the sync job makes the next), so any difference means the Price was
 * replaced or archived at Stripe by hand, or the link is wrong: a person's call, since the only
 * fix is a new Price, made at Stripe (the plan's sync job, after clearing stripe_price_id). An
 * inactive plan whose Price is still active is not a difference: Loconomy leaves those Prices
 * alone (subscribers of the plan keep paying them).
 */

interface LocalPlan {
  readonly id: string;
  readonly stripe_price_id: string;
  readonly price_cents: number;
  readonly currency: string;
  readonly billing_interval: string;
  readonly is_active: boolean;
}

/** "amount 1900 here, 2500 at Stripe; …", or '' when the plan and its Price agree. */
export function planDifferences(plan: LocalPlan, price: Stripe.Price): string {
  const diffs: string[] = [];
  if (plan.price_cents !== price.unit_amount)
    diffs.push(`amount ${plan.price_cents} here, ${price.unit_amount} at Stripe`);
  if (plan.currency.toLowerCase() !== price.currency)
    diffs.push(`currency ${plan.currency} here, ${price.currency.toUpperCase()} at Stripe`);
  const interval = price.recurring?.interval ?? 'one-time';
  if (plan.billing_interval !== interval) diffs.push(`interval ${plan.billing_interval} here, ${interval} at Stripe`);
  if (plan.is_active && !price.active) diffs.push('active here, the price is archived at Stripe');
  return diffs.join('; ');
}

export async function* checkPlans(ctx: CheckContext): AsyncIterable<Finding> {
  const { rows } = await ctx.db.query<LocalPlan>(sql`
    select id, stripe_price_id, price_cents::int as price_cents, currency::text as currency,
           billing_interval::text as billing_interval, is_active
      from public.subscription_plans
     where stripe_price_id is not null
     order by created_at`);
  for (const plan of rows) {
    ctx.count('plan');
    let price: Stripe.Price;
    try {
      price = await ctx.stripe.prices.retrieve(plan.stripe_price_id);
    } catch (error) {
      if ((error as { code?: string }).code !== 'resource_missing') throw error;
      yield { kind: 'plan', stripeId: plan.stripe_price_id, loconomyId: plan.id, what: 'Stripe has no such price' };
      continue;
    }
    const what = planDifferences(plan, price);
    if (what !== '') yield { kind: 'plan', stripeId: price.id, loconomyId: plan.id, what };
  }
}
