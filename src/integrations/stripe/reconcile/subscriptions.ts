import type Stripe from 'stripe';
import { sql } from '../../../db/sql.js';
import { applySubscription } from '../events/subscription.js';
import type { CheckContext, Finding } from './index.js';

/*
 * Subscriptions: each Stripe subscription Loconomy mirrors that is live (or changed since
 * `since`) against Stripe's: status, price, periods, trial end, cancel_at_period_end. Stripe is
 * the truth for all of them (the subscription functions change them at Stripe first), so a
 * difference is applied through app.stripe_apply_subscription, as a late event would be — except
 * on a row that is final here (canceled, incomplete_expired), which the function keeps: a person's
 * call, as is a Subscription Stripe does not have.
 */

interface LocalSubscription {
  readonly id: string;
  readonly stripe_subscription_id: string;
  readonly status: string;
  readonly stripe_price_id: string | null;
  readonly current_period_start: Date | null;
  readonly current_period_end: Date | null;
  readonly trial_end: Date | null;
  readonly cancel_at_period_end: boolean;
}

const FINAL = new Set(['canceled', 'incomplete_expired']);

const seconds = (d: Date | null) => (d === null ? null : Math.floor(new Date(d).getTime() / 1000));
const day = (s: number | null | undefined) =>
  s === null || s === undefined ? 'none' : new Date(s * 1000).toISOString();

/** "active here, past_due at Stripe; …", or '' when the mirror agrees. */
export function subscriptionDifferences(ours: LocalSubscription, subscription: Stripe.Subscription): string {
  const item = subscription.items.data[0];
  const diffs: string[] = [];
  if (ours.status !== subscription.status) diffs.push(`${ours.status} here, ${subscription.status} at Stripe`);
  if (item !== undefined && ours.stripe_price_id !== item.price.id)
    diffs.push(`price ${ours.stripe_price_id ?? 'none'} here, ${item.price.id} at Stripe`);
  const periods: [string, number | null, number | null | undefined][] = [
    ['period start', seconds(ours.current_period_start), item?.current_period_start],
    ['period end', seconds(ours.current_period_end), item?.current_period_end],
    ['trial end', seconds(ours.trial_end), subscription.trial_end],
  ];
  for (const [name, here, there] of periods) {
    if (item !== undefined && here !== (there ?? null))
      diffs.push(`${name} ${day(here)} here, ${day(there)} at Stripe`);
  }
  if (ours.cancel_at_period_end !== subscription.cancel_at_period_end)
    diffs.push(
      `cancel_at_period_end is ${ours.cancel_at_period_end} here, ${subscription.cancel_at_period_end} at Stripe`,
    );
  return diffs.join('; ');
}

export async function* checkSubscriptions(ctx: CheckContext): AsyncIterable<Finding> {
  const { rows } = await ctx.db.query<LocalSubscription>(sql`
    select id, stripe_subscription_id, status::text as status, stripe_price_id, current_period_start,
           current_period_end, trial_end, cancel_at_period_end
      from public.subscriptions
     where stripe_subscription_id is not null
       and (status::text in ('trialing', 'active', 'past_due', 'unpaid', 'incomplete', 'paused')
            or updated_at >= ${ctx.since.toISOString()}::timestamptz)
     order by created_at`);
  for (const local of rows) {
    ctx.count('subscription');
    const fetchedAt = new Date();
    let subscription: Stripe.Subscription;
    try {
      subscription = await ctx.stripe.subscriptions.retrieve(local.stripe_subscription_id);
    } catch (error) {
      if ((error as { code?: string }).code !== 'resource_missing') throw error;
      yield {
        kind: 'subscription',
        stripeId: local.stripe_subscription_id,
        loconomyId: local.id,
        what: 'Stripe has no such subscription',
      };
      continue;
    }
    const what = subscriptionDifferences(local, subscription);
    if (what === '') continue;
    const base = { kind: 'subscription', stripeId: subscription.id, loconomyId: local.id, what };
    yield FINAL.has(local.status)
      ? base
      : { ...base, fix: () => applySubscription(ctx.db, subscription, fetchedAt, null, 0) };
  }
}
