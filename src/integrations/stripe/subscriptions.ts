import type { IncomingHttpHeaders } from 'node:http';
import type Stripe from 'stripe';
import { z } from 'zod';
import type { Authenticator } from '../../auth/caller.js';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';
import { ApiError } from '../../errors.js';
import { PROVIDER_ROLES, signedInCaller } from './caller.js';
import { requireStripe, stripeFailure } from './client.js';
import { customerOf } from './customer.js';
import { applySubscription } from './events/subscription.js';
import { syncPlan } from './plans.js';

/** The signed-in caller as the subscription functions need them (app.stripe_subscriber()). */
interface Subscriber {
  readonly user_id: string;
  readonly tenant_id: string;
  readonly role: string;
  readonly payment_mode: 'offline' | 'stripe';
  readonly stripe_customer_id: string | null;
  /** Their live subscription, if any. */
  readonly subscription_id: string | null;
  readonly subscription_status: string | null;
  readonly stripe_subscription_id: string | null;
  readonly plan_id: string | null;
  readonly stripe_price_id: string | null;
  readonly currency: string | null;
  readonly stripe_synced_at: Date | null;
  readonly cancel_at_period_end: boolean | null;
}

/** An active plan of the caller's marketplace (app.stripe_plan_for_caller). */
interface Plan {
  readonly plan_id: string;
  readonly tier: string;
  readonly billing_interval: string;
  readonly currency: string;
  readonly price_cents: string | number;
  readonly trial_days: number;
  readonly stripe_price_id: string | null;
}

const planId = z.uuid({ error: 'must be a plan id (uuid)' });

export const subscribeBody = z.object({ plan_id: planId }, { error: 'must be an object' });

export const changeSubscriptionBody = z
  .object(
    {
      plan_id: planId.optional(),
      cancel_at_period_end: z.boolean({ error: 'must be true or false' }).optional(),
    },
    { error: 'must be an object' },
  )
  .refine((b) => (b.plan_id === undefined) !== (b.cancel_at_period_end === undefined), {
    error: 'needs exactly one of plan_id (change plan) and cancel_at_period_end (cancel or resume)',
  });

export interface SubscriptionAnswer {
  /** The subscriptions row (read it through REST; RLS: the subscriber's own). */
  readonly subscription_id: string;
  readonly stripe_subscription_id: string;
  /** Stripe's status: incomplete until the first payment, trialing, active, past_due… */
  readonly status: string;
  readonly tier: string | null;
  readonly cancel_at_period_end: boolean;
  readonly current_period_end: string | null;
  readonly trial_end: string | null;
  /** The first invoice's PaymentIntent, for Stripe.js (confirmCardPayment); null when nothing is due (a trial). */
  readonly client_secret: string | null;
  /** A trial's SetupIntent, for Stripe.js (confirmCardSetup): the card that pays when the trial ends. */
  readonly setup_client_secret: string | null;
}

const asService = <T>(db: Database, query: ReturnType<typeof sql>) =>
  db.asRole('service_role', { role: 'service_role' }, (tx) => tx.last<T>(query));

/**
 * Who is calling, checked in this order: a signed-in user (401), a provider or admin (403), of a
 * marketplace that bills through Stripe (409: offline marketplaces grant tiers instead).
 */
async function subscriber(
  db: Database,
  authenticator: Authenticator,
  headers: IncomingHttpHeaders,
  name: string,
): Promise<Subscriber> {
  const me = await signedInCaller<Subscriber>(
    db,
    authenticator,
    headers,
    name,
    sql`select * from app.stripe_subscriber()`,
  );
  if (!PROVIDER_ROLES.has(me.role)) {
    throw new ApiError('LOCO_PAYMENTS_FORBIDDEN', {
      message: `Only providers subscribe to a plan (this account's role is ${me.role})`,
      hint: 'Become a provider first.',
    });
  }
  if (me.payment_mode !== 'stripe') {
    throw new ApiError('LOCO_PAYMENTS_OFFLINE', {
      message: 'This marketplace does not bill subscriptions through Stripe',
      hint: 'In an offline marketplace a payments manager grants the tier (rpc grant_subscription); nothing is charged.',
    });
  }
  return me;
}

/** An active plan of the caller's marketplace, with its Stripe Price (made now if the job has not yet). */
async function planFor(
  db: Database,
  authenticator: Authenticator,
  headers: IncomingHttpHeaders,
  stripe: Stripe,
  id: string,
): Promise<Plan & { stripe_price_id: string }> {
  const caller = await authenticator.authenticate(headers);
  const { rows } = await db.asRole(caller.role, caller.claims, (tx) =>
    tx.last<Plan>(sql`select * from app.stripe_plan_for_caller(${id})`),
  );
  const plan = rows[0];
  if (plan === undefined) {
    throw new ApiError('LOCO_PLAN_NOT_FOUND', {
      message: `plan ${id} not found`,
      hint: "Choose one of the marketplace's active plans: supabase.from('subscription_plans').select('*').",
    });
  }
  if (plan.stripe_price_id !== null) return { ...plan, stripe_price_id: plan.stripe_price_id };
  let synced: Awaited<ReturnType<typeof syncPlan>>;
  try {
    synced = await syncPlan(db, stripe, plan.plan_id);
  } catch (error) {
    throw stripeFailure(error, 'create the plan’s price');
  }
  if (!synced.stripe_price_id) {
    throw new ApiError('LOCO_PLAN_NOT_FOUND', {
      message: `plan ${id} cannot be subscribed to now`,
      hint: 'Try again.',
    });
  }
  return { ...plan, stripe_price_id: synced.stripe_price_id };
}

interface Applied {
  readonly outcome: string;
  readonly subscription_id: string | null;
  readonly status: string | null;
  readonly tier: string | null;
}

/** Mirrors the Subscription as Stripe just answered (the webhook does the same; the latest fetch wins). */
const apply = (db: Database, subscription: Stripe.Subscription, fetchedAt: Date) =>
  applySubscription<Applied>(db, subscription, fetchedAt, null, 0);

const iso = (seconds: number | null | undefined) =>
  seconds === null || seconds === undefined ? null : new Date(seconds * 1000).toISOString();

function answer(subscription: Stripe.Subscription, applied: Applied, localId: string): SubscriptionAnswer {
  const invoice = typeof subscription.latest_invoice === 'object' ? subscription.latest_invoice : null;
  const setup = typeof subscription.pending_setup_intent === 'object' ? subscription.pending_setup_intent : null;
  const item = subscription.items.data[0];
  const due = invoice !== null && invoice.status === 'open' && invoice.amount_remaining > 0;
  return {
    subscription_id: applied.subscription_id ?? localId,
    stripe_subscription_id: subscription.id,
    status: subscription.status,
    tier: applied.tier,
    cancel_at_period_end: subscription.cancel_at_period_end,
    current_period_end: iso(item?.current_period_end),
    trial_end: iso(subscription.trial_end),
    client_secret: due ? (invoice?.confirmation_secret?.client_secret ?? null) : null,
    setup_client_secret: setup?.client_secret ?? null,
  };
}

const EXPAND = ['latest_invoice.confirmation_secret', 'pending_setup_intent'];

/**
 * stripe-subscribe: the caller's subscription to a plan, billed by Stripe. The live subscription
 * row is reserved first (one per user: 409 otherwise), then the Subscription is created with
 * payment_behavior default_incomplete (it becomes active when the first invoice is paid through
 * the returned client_secret), the plan's trial, and the idempotency key of the reservation and
 * plan. A retry of the same call returns the same Subscription.
 */
export async function subscribe(
  db: Database,
  authenticator: Authenticator,
  stripeClient: Stripe | undefined,
  headers: IncomingHttpHeaders,
  body: z.output<typeof subscribeBody>,
): Promise<SubscriptionAnswer> {
  const name = 'stripe-subscribe';
  const me = await subscriber(db, authenticator, headers, name);
  const exists = () =>
    new ApiError('LOCO_SUBSCRIPTION_EXISTS', {
      message: `You already have a ${me.subscription_status ?? 'live'} subscription`,
      hint: "Change its plan, cancel or resume it with supabase.functions.invoke('stripe-change-subscription', { body: { plan_id } | { cancel_at_period_end } }).",
    });
  if (me.subscription_id !== null && (me.stripe_subscription_id !== null || me.stripe_synced_at !== null)) {
    throw exists();
  }
  const stripe = requireStripe(stripeClient);
  const plan = await planFor(db, authenticator, headers, stripe, body.plan_id);
  const { rows } = await asService<{ subscription_id: string; reserved: boolean }>(
    db,
    sql`select * from app.stripe_reserve_subscription(${me.user_id}, ${plan.plan_id})`,
  );
  const reservation = rows[0];
  if (reservation === undefined || !reservation.reserved) throw exists();
  const customer = await customerOf(db, stripe, me);
  const fetchedAt = new Date();
  let subscription: Stripe.Subscription;
  try {
    subscription = await stripe.subscriptions.create(
      {
        customer,
        items: [{ price: plan.stripe_price_id }],
        payment_behavior: 'default_incomplete',
        // The card that pays the first invoice pays the renewals.
        payment_settings: { save_default_payment_method: 'on_subscription' },
        ...(plan.trial_days > 0 && { trial_period_days: plan.trial_days }),
        metadata: {
          loconomy_subscription_id: reservation.subscription_id,
          loconomy_user_id: me.user_id,
          loconomy_tenant_id: me.tenant_id,
          loconomy_plan_id: plan.plan_id,
        },
        expand: EXPAND,
      },
      { idempotencyKey: `subscription:${reservation.subscription_id}:create:${plan.plan_id}` },
    );
  } catch (error) {
    throw stripeFailure(error, 'create the subscription');
  }
  const applied = await apply(db, subscription, fetchedAt);
  if (applied.outcome === 'ignored') {
    // A concurrent call for another plan took the reservation: this Subscription is not the user's
    // live one, so it is cancelled before anything is paid.
    await stripe.subscriptions
      .cancel(subscription.id, {}, { idempotencyKey: `subscription:${subscription.id}:cancel-duplicate` })
      .catch(() => undefined); // unpaid, it expires by itself within a day
    throw exists();
  }
  return answer(subscription, applied, reservation.subscription_id);
}

/**
 * stripe-change-subscription: the caller's live Stripe subscription moves to another plan (the
 * difference prorated on the next invoice: proration_behavior create_prorations), or is set to
 * end at the period's end, or resumed. The idempotency key names the subscription, the change
 * and the state it was made from (the last fetch applied), so a retry repeats the call while the
 * same change made again later is a new one.
 */
export async function changeSubscription(
  db: Database,
  authenticator: Authenticator,
  stripeClient: Stripe | undefined,
  headers: IncomingHttpHeaders,
  body: z.output<typeof changeSubscriptionBody>,
): Promise<SubscriptionAnswer> {
  const me = await subscriber(db, authenticator, headers, 'stripe-change-subscription');
  if (me.subscription_id === null || me.stripe_subscription_id === null) {
    throw new ApiError('LOCO_SUBSCRIPTION_NOT_FOUND', {
      message: 'You have no live subscription to change',
      hint: "Subscribe first: supabase.functions.invoke('stripe-subscribe', { body: { plan_id } }).",
    });
  }
  const stripe = requireStripe(stripeClient);
  const version = me.stripe_synced_at === null ? 0 : new Date(me.stripe_synced_at).getTime();
  const key = `subscription:${me.subscription_id}:${version}`;
  let params: Stripe.SubscriptionUpdateParams;
  let idempotencyKey: string;
  let current: Stripe.Subscription;
  try {
    current = await stripe.subscriptions.retrieve(me.stripe_subscription_id);
  } catch (error) {
    throw stripeFailure(error, 'fetch the subscription');
  }
  const item = current.items.data[0];
  if (body.plan_id !== undefined) {
    if (me.subscription_status === 'incomplete') {
      throw new ApiError('LOCO_SUBSCRIPTION_STATE', {
        message: 'The subscription is not paid for yet',
        hint: 'Pay the first invoice (the client_secret stripe-subscribe returned) before changing plan.',
      });
    }
    const plan = await planFor(db, authenticator, headers, stripe, body.plan_id);
    if (plan.currency !== me.currency) {
      throw new ApiError('LOCO_SUBSCRIPTION_STATE', {
        message: `The plan is billed in ${plan.currency}, the subscription in ${me.currency}`,
        hint: 'A subscription keeps its currency: choose a plan in the same currency.',
      });
    }
    if (item === undefined || item.price.id === plan.stripe_price_id) {
      return answer(current, await apply(db, current, new Date()), me.subscription_id);
    }
    params = {
      items: [{ id: item.id, price: plan.stripe_price_id }],
      proration_behavior: 'create_prorations',
      metadata: { loconomy_plan_id: plan.plan_id },
    };
    idempotencyKey = `${key}:plan:${plan.plan_id}`;
  } else {
    const cancel = body.cancel_at_period_end === true;
    if (current.cancel_at_period_end === cancel) {
      return answer(current, await apply(db, current, new Date()), me.subscription_id);
    }
    params = { cancel_at_period_end: cancel };
    idempotencyKey = `${key}:${cancel ? 'cancel_at_period_end' : 'resume'}`;
  }
  const fetchedAt = new Date();
  let updated: Stripe.Subscription;
  try {
    updated = await stripe.subscriptions.update(me.stripe_subscription_id, params, { idempotencyKey });
  } catch (error) {
    throw stripeFailure(error, 'change the subscription');
  }
  return answer(updated, await apply(db, updated, fetchedAt), me.subscription_id);
}
