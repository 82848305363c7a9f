import type Stripe from 'stripe';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';

/** A plan as the sync needs it (app.stripe_plan_to_sync). */
interface PlanToSync {
  readonly plan_id: string;
  readonly tenant_id: string;
  readonly tier: string;
  readonly billing_interval: 'month' | 'year';
  readonly name: string;
  readonly description: string | null;
  readonly currency: string;
  readonly price_cents: string | number;
  readonly is_active: boolean;
  readonly payment_mode: 'offline' | 'stripe';
  readonly stripe_product_id: string | null;
  readonly stripe_price_id: string | null;
}

export interface SyncedPlan {
  readonly outcome: 'synced' | 'already' | 'skipped' | 'missing';
  readonly stripe_price_id?: string | null;
}

/**
 * The Price's lookup key: one per marketplace, tier and interval. It moves to the newest Price
 * when a plan's amount changes (transfer_lookup_key), so it always names the plan's current price.
 */
export function planLookupKey(tenantId: string, tier: string, interval: string): string {
  return `loconomy:${tenantId}:${tier}:${interval}`;
}

const asService = <T>(db: Database, query: ReturnType<typeof sql>) =>
  db.asRole('service_role', { role: 'service_role' }, (tx) => tx.last<T>(query));

const title = (tier: string) => `${tier.charAt(0).toUpperCase()}${tier.slice(1)}`;

/**
 * Makes a plan's Stripe Product (one per marketplace and tier) and Price, once, and records them
 * (the stripe.sync_plan job; stripe-subscribe calls it for a plan not synced yet). Idempotent: a
 * Price already holding the plan's lookup key with its amount, currency and interval is reused,
 * and the creations carry keys derived from the plan and its amount, so a retry after a crash
 * makes nothing twice. Plans of offline marketplaces and inactive plans are left alone.
 */
export async function syncPlan(db: Database, stripe: Stripe, planId: string): Promise<SyncedPlan> {
  const { rows } = await asService<PlanToSync>(db, sql`select * from app.stripe_plan_to_sync(${planId})`);
  const plan = rows[0];
  if (plan === undefined) return { outcome: 'missing' };
  if (plan.payment_mode !== 'stripe' || !plan.is_active) return { outcome: 'skipped' };
  if (plan.stripe_price_id !== null) return { outcome: 'already', stripe_price_id: plan.stripe_price_id };
  const amount = Number(plan.price_cents);
  const currency = plan.currency.toLowerCase();
  const lookupKey = planLookupKey(plan.tenant_id, plan.tier, plan.billing_interval);
  const found = await stripe.prices.list({ lookup_keys: [lookupKey], active: true, limit: 1 });
  let price = found.data.find(
    (p) => p.unit_amount === amount && p.currency === currency && p.recurring?.interval === plan.billing_interval,
  );
  let product = plan.stripe_product_id ?? (typeof price?.product === 'string' ? price.product : null);
  if (price === undefined) {
    product ??= (
      await stripe.products.create(
        {
          name: `${title(plan.tier)} plan`,
          metadata: { loconomy_tenant_id: plan.tenant_id, loconomy_tier: plan.tier },
        },
        { idempotencyKey: `subscription_plan:${plan.tenant_id}:${plan.tier}:product` },
      )
    ).id;
    price = await stripe.prices.create(
      {
        product,
        currency,
        unit_amount: amount,
        recurring: { interval: plan.billing_interval },
        lookup_key: lookupKey,
        transfer_lookup_key: true,
        metadata: {
          loconomy_plan_id: plan.plan_id,
          loconomy_tenant_id: plan.tenant_id,
          loconomy_tier: plan.tier,
          loconomy_interval: plan.billing_interval,
        },
      },
      { idempotencyKey: `subscription_plan:${plan.plan_id}:price:${currency}:${amount}:${plan.billing_interval}` },
    );
  }
  const productId = product ?? (typeof price.product === 'string' ? price.product : price.product.id);
  const linked = await asService<{ stripe_price_id: string | null }>(
    db,
    sql`select stripe_price_id from app.stripe_link_plan_price(${plan.plan_id}, ${amount}, ${productId}, ${price.id})`,
  );
  return { outcome: 'synced', stripe_price_id: linked.rows[0]?.stripe_price_id ?? null };
}
