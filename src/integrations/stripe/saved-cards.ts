import type { IncomingHttpHeaders } from 'node:http';
import type Stripe from 'stripe';
import { z } from 'zod';
import type { Authenticator } from '../../auth/caller.js';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';
import { ApiError } from '../../errors.js';
import { signedInCaller } from './caller.js';
import { requireStripe, stripeFailure } from './client.js';
import { customerOf } from './customer.js';

/*
 * Saved cards (decision 0023, slice 5): a customer saves a card through a SetupIntent and
 * Stripe.js, the setup_intent.* / payment_method.* events mirror it into payment_methods, the
 * customer chooses their default through REST (a job sets it at Stripe too) and removes a card
 * through a function that detaches it at Stripe. Card details never pass through Loconomy.
 */

/** What app.stripe_card_owner() tells the card functions about the caller. */
export interface CardOwner {
  readonly user_id: string;
  readonly tenant_id: string;
  readonly payment_mode: 'offline' | 'stripe';
  readonly stripe_customer_id: string | null;
  /** How many cards were ever mirrored for them (active or removed): names the next SetupIntent. */
  readonly saved_cards: number;
}

const asService = <T>(db: Database, query: ReturnType<typeof sql>) =>
  db.asRole('service_role', { role: 'service_role' }, (tx) => tx.last<T>(query));

/**
 * The caller of a card function, checked in this order: a signed-in user (401), of a marketplace
 * in stripe payment mode (409). Any role may save a card (customers and providers both book), so
 * there is no 403 here.
 */
export async function cardOwner(
  db: Database,
  authenticator: Authenticator,
  headers: IncomingHttpHeaders,
  name: string,
): Promise<CardOwner> {
  const me = await signedInCaller<CardOwner>(
    db,
    authenticator,
    headers,
    name,
    sql`select * from app.stripe_card_owner()`,
  );
  if (me.payment_mode !== 'stripe') {
    throw new ApiError('LOCO_PAYMENTS_OFFLINE', {
      message: 'This marketplace records payments offline (cash or invoice), so cards cannot be saved',
      hint: "An operator switches the marketplace to Stripe (tenants.payment_mode = 'stripe') to take cards.",
    });
  }
  return me;
}

/** Applies a payment method as fetched from Stripe at `fetchedAt` (the event job does the same). */
export async function applyPaymentMethod(
  db: Database,
  method: Stripe.PaymentMethod,
  fetchedAt: Date,
  eventId: string | null = null,
  attempt = 0,
): Promise<Record<string, unknown>> {
  const { rows } = await asService<{ result: Record<string, unknown> }>(
    db,
    sql`select app.stripe_apply_payment_method(${eventId}, ${JSON.stringify(method)}::jsonb,
                                               ${fetchedAt.toISOString()}::timestamptz, ${attempt}) as result`,
  );
  return (rows[0] as { result: Record<string, unknown> }).result;
}

// ---------------------------------------------------------------------------
// stripe-setup-payment-method
// ---------------------------------------------------------------------------

export const setupPaymentMethodBody = z.object(
  {
    /** The client's name for this "add a card" form (a uuid it keeps across retries); optional. */
    request_id: z.uuid({ error: 'must be a uuid the client keeps for this card form' }).optional(),
  },
  { error: 'must be an object' },
);

export interface SetupAnswer {
  readonly setup_intent_id: string;
  /** For Stripe.js (confirmCardSetup); the customer's alone, never stored. */
  readonly client_secret: string | null;
  /** requires_payment_method → run Stripe.js; succeeded → saved (the card appears once its event is processed). */
  readonly status: string;
  readonly customer_id: string;
}

/** A SetupIntent Stripe.js can still confirm. */
const OPEN_SETUP = new Set(['requires_payment_method', 'requires_confirmation', 'requires_action']);
/** Replays of finished SetupIntents followed before giving up (each is a few cards saved within a day). */
const MAX_SETUP_HOPS = 5;

/**
 * stripe-setup-payment-method: a SetupIntent on the caller's Customer with usage off_session
 * (so the card can be charged later without the customer), for Stripe.js to confirm.
 *
 * Its idempotency key names the user and either the client's request_id or, without one, the
 * number of cards mirrored for the user so far: a retry, a second tab or a double click gets the
 * same SetupIntent. Stripe replays the answer it gave at creation, so a replay is fetched again;
 * when that intent is finished already (the card was saved but its event not yet processed, or
 * it was cancelled), the next key is `…:after:<seti id>` — still derived from state, so a retry
 * follows the same chain.
 */
export async function setupPaymentMethod(
  db: Database,
  stripeClient: Stripe | undefined,
  me: CardOwner,
  body: z.output<typeof setupPaymentMethodBody>,
): Promise<SetupAnswer> {
  const stripe = requireStripe(stripeClient);
  const customer = await customerOf(db, stripe, {
    user_id: me.user_id,
    tenant_id: me.tenant_id,
    stripe_customer_id: me.stripe_customer_id,
  });
  let key = `loconomy:user:${me.user_id}:setup-intent:${body.request_id ?? `card-${me.saved_cards + 1}`}`;
  for (let hop = 0; ; hop++) {
    let intent: Stripe.Response<Stripe.SetupIntent>;
    try {
      intent = await stripe.setupIntents.create(
        {
          customer,
          usage: 'off_session',
          // As for booking payments: cards (with 3-D Secure in Stripe.js), nothing that redirects.
          automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
          metadata: { loconomy_user_id: me.user_id, loconomy_tenant_id: me.tenant_id },
        },
        { idempotencyKey: key },
      );
    } catch (error) {
      throw stripeFailure(error, 'start saving the card');
    }
    let current: Stripe.SetupIntent = intent;
    if (intent.lastResponse?.headers?.['idempotent-replayed'] === 'true') {
      try {
        current = await stripe.setupIntents.retrieve(intent.id);
      } catch (error) {
        throw stripeFailure(error, 'fetch the card set-up');
      }
    }
    // The client named this form: its own retry sees the intent as it is, finished or not.
    if (OPEN_SETUP.has(current.status) || body.request_id !== undefined || hop + 1 >= MAX_SETUP_HOPS) {
      return {
        setup_intent_id: current.id,
        client_secret: current.client_secret,
        status: current.status,
        customer_id: customer,
      };
    }
    key = `loconomy:user:${me.user_id}:setup-intent:after:${current.id}`;
  }
}

// ---------------------------------------------------------------------------
// stripe-remove-payment-method
// ---------------------------------------------------------------------------

export const removePaymentMethodBody = z.object(
  { payment_method_id: z.uuid({ error: 'must be the id (uuid) of one of your saved cards' }) },
  { error: 'must be an object' },
);

export interface RemoveAnswer {
  readonly payment_method_id: string;
  readonly removed: true;
  /** The caller's default card after the removal (another card takes over a removed default), or null. */
  readonly default_payment_method_id: string | null;
}

/**
 * stripe-remove-payment-method: detaches one of the caller's cards at Stripe (key
 * `payment_method:<pm>:detach`) and applies the detached card at once (the payment_method.detached
 * event applies it again, harmlessly). Another user's card, or none: 404. Removing a card removed
 * already answers the same.
 */
export async function removePaymentMethod(
  db: Database,
  stripeClient: Stripe | undefined,
  me: CardOwner,
  body: z.output<typeof removePaymentMethodBody>,
): Promise<RemoveAnswer> {
  // The caller's own cards only: another user's card is not found, as RLS would have it.
  const { rows } = await asService<{ pm: string | null; is_active: boolean }>(
    db,
    sql`select stripe_payment_method_id as pm, is_active from public.payment_methods
         where id = ${body.payment_method_id} and user_id = ${me.user_id}`,
  );
  const card = rows[0];
  if (card === undefined || card.pm === null) {
    throw new ApiError('LOCO_PAYMENT_METHOD_NOT_FOUND', {
      message: `saved card ${body.payment_method_id} not found`,
      hint: "List your cards with supabase.from('payment_methods').select(); only your own can be removed.",
    });
  }
  if (card.is_active) {
    const stripe = requireStripe(stripeClient);
    const fetchedAt = new Date();
    let method: Stripe.PaymentMethod;
    try {
      method = await stripe.paymentMethods.detach(card.pm, {}, { idempotencyKey: `payment_method:${card.pm}:detach` });
    } catch (error) {
      // Detached already (at the dashboard, or by a lost earlier answer): Stripe's state is the truth.
      try {
        method = await stripe.paymentMethods.retrieve(card.pm);
      } catch {
        throw stripeFailure(error, 'remove the card');
      }
      if (method.customer !== null) throw stripeFailure(error, 'remove the card');
    }
    await applyPaymentMethod(db, method, fetchedAt);
  }
  const { rows: after } = await asService<{ id: string }>(
    db,
    sql`select id from public.payment_methods where user_id = ${me.user_id} and is_default and is_active`,
  );
  return { payment_method_id: body.payment_method_id, removed: true, default_payment_method_id: after[0]?.id ?? null };
}

// ---------------------------------------------------------------------------
// stripe.sync_default_payment_method
// ---------------------------------------------------------------------------

/**
 * stripe.sync_default_payment_method: sets the Customer's invoice_settings.default_payment_method
 * (what Stripe Billing charges) to the user's local default, or clears it when they have none.
 * The state is read when the job runs; the idempotency key names the card and the time of the
 * user's last change, so a retry replays, and switching back to an earlier card is a new request
 * (an old key would replay the old answer and change nothing).
 */
export async function syncDefaultPaymentMethod(
  db: Database,
  stripe: Stripe,
  userId: string,
): Promise<Record<string, unknown>> {
  const { rows } = await asService<{
    stripe_customer_id: string;
    stripe_payment_method_id: string | null;
    changed_at: string | null;
  }>(db, sql`select * from app.stripe_default_payment_method(${userId})`);
  const me = rows[0];
  if (me === undefined) return { outcome: 'missing' };
  const pm = me.stripe_payment_method_id;
  try {
    const customer = await stripe.customers.update(
      me.stripe_customer_id,
      { invoice_settings: { default_payment_method: pm ?? '' } },
      { idempotencyKey: `customer:${me.stripe_customer_id}:default-payment-method:${pm ?? 'none'}:${me.changed_at}` },
    );
    return { outcome: 'synced', default_payment_method: customer.invoice_settings?.default_payment_method ?? null };
  } catch (error) {
    // The card was detached at Stripe since: its payment_method.detached event changes the local
    // default, which enqueues this job again. Retrying this request could not succeed.
    const e = error as { type?: string; code?: string };
    if (pm !== null && e.type === 'StripeInvalidRequestError' && e.code === 'resource_missing')
      return { outcome: 'refused', code: e.code };
    throw error;
  }
}
