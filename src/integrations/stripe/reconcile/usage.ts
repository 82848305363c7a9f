import type Stripe from 'stripe';
import { sql } from '../../../db/sql.js';
import type { CheckContext, Finding } from './index.js';

/*
 * Metered usage: what Loconomy reported (billable usage_logs rows marked stripe_reported_at) per
 * feature and Stripe Customer, against what the feature's Billing Meter counted for that customer
 * over the same minutes (its event summary). The window runs from `since` to a few minutes ago:
 * Stripe aggregates meter events asynchronously, so the last minutes may not be counted yet.
 * Every difference is a person's call: resending rows could count them twice (Stripe keeps an
 * identifier unique only for a day), and a meter counting more than was reported means events
 * came from somewhere else.
 */

/** Minutes left out at the end of the window, for Stripe's aggregation to catch up. */
export const USAGE_SETTLE_MINUTES = 10;

interface Reported {
  readonly feature: string;
  readonly stripe_customer_id: string;
  readonly quantity: number;
}

const minute = (date: Date) => Math.floor(date.getTime() / 60_000) * 60;

export async function* checkUsage(ctx: CheckContext): AsyncIterable<Finding> {
  const start = minute(ctx.since);
  const end = minute(new Date(Date.now() - USAGE_SETTLE_MINUTES * 60_000));
  if (end <= start) return;
  const { rows } = await ctx.db.query<Reported>(sql`
    select l.feature, u.stripe_customer_id, sum(l.quantity)::float8 as quantity
      from public.usage_logs l
      join public.users u on u.id = l.user_id
     where l.stripe_reported_at is not null and u.stripe_customer_id is not null
       and l.created_at >= to_timestamp(${start}) and l.created_at < to_timestamp(${end})
     group by l.feature, u.stripe_customer_id
     order by l.feature, u.stripe_customer_id`);
  if (rows.length === 0) return;
  const meters = new Map<string, Stripe.Billing.Meter>();
  for await (const meter of ctx.stripe.billing.meters.list({ limit: 100 })) meters.set(meter.event_name, meter);
  const window = `${new Date(start * 1000).toISOString()} to ${new Date(end * 1000).toISOString()}`;
  for (const row of rows) {
    ctx.count('usage total');
    const meter = meters.get(row.feature);
    if (meter === undefined) {
      yield {
        kind: 'usage',
        stripeId: row.stripe_customer_id,
        loconomyId: row.feature,
        what: `${row.quantity} ${row.feature} reported from ${window}, but Stripe has no meter for "${row.feature}": it was billed to no one`,
      };
      continue;
    }
    let counted = 0;
    for await (const summary of ctx.stripe.billing.meters.listEventSummaries(meter.id, {
      customer: row.stripe_customer_id,
      start_time: start,
      end_time: end,
    })) {
      counted += summary.aggregated_value;
    }
    if (counted !== row.quantity) {
      yield {
        kind: 'usage',
        stripeId: meter.id,
        loconomyId: row.feature,
        what: `${row.quantity} ${row.feature} reported here for ${row.stripe_customer_id} from ${window}, ${counted} counted by the meter at Stripe`,
      };
    }
  }
}
