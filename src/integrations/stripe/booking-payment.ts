import type { IncomingHttpHeaders } from 'node:http';
import type Stripe from 'stripe';
import { z } from 'zod';
import type { Authenticator, Caller } from '../../auth/caller.js';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';
import { ApiError } from '../../errors.js';
import { requireStripe, stripeFailure } from './client.js';
import { customerOf } from './customer.js';

/** What app.stripe_booking_payer() tells the function about the caller's booking. */
interface Payer {
  readonly booking_id: string;
  readonly booking_status: string;
  readonly tenant_id: string;
  readonly customer_id: string;
  readonly payment_id: string;
  readonly method: 'offline' | 'stripe';
  readonly payment_status: string;
  readonly currency: string;
  readonly amount_cents: string | number;
  readonly application_fee_cents: string | number;
  readonly stripe_payment_intent_id: string | null;
  readonly stripe_customer_id: string | null;
  readonly destination: string | null;
  readonly charges_enabled: boolean;
}

export const bookingPaymentBody = z
  .object(
    {
      booking_id: z.uuid({ error: 'must be a booking id (uuid)' }),
      payment_method_id: z
        .string()
        .regex(/^pm_[A-Za-z0-9_]{1,250}$/, 'must be a PaymentMethod id (pm_…)')
        .optional(),
      /** A card the caller saved: its payment_methods.id, or "default". */
      saved_payment_method: z
        .union([z.literal('default'), z.uuid()], {
          error: 'must be "default" or the id (uuid) of one of your saved cards',
        })
        .optional(),
    },
    { error: 'must be an object' },
  )
  .refine((b) => b.payment_method_id === undefined || b.saved_payment_method === undefined, {
    message: 'give payment_method_id (a new card) or saved_payment_method (a saved one), not both',
    path: ['saved_payment_method'],
  });

export interface BookingPaymentAnswer {
  /** The PaymentIntent's status: requires_payment_method / requires_action → run Stripe.js; requires_capture → held. */
  readonly status: string;
  /** For Stripe.js (confirmCardPayment / handleNextAction); the customer's alone, never stored. */
  readonly client_secret: string | null;
  readonly payment_intent_id: string;
  /** The last decline, when the card was refused (status requires_payment_method). */
  readonly error?: { code: string | null; decline_code: string | null; message: string | null };
}

const OPEN_BOOKINGS = new Set(['pending', 'confirmed', 'in_progress']);
const PAYABLE = new Set(['requires_payment', 'failed', 'authorised']);

const asService = <T>(db: Database, query: ReturnType<typeof sql>) =>
  db.asRole('service_role', { role: 'service_role' }, (tx) => tx.last<T>(query));

/**
 * The signed-in customer's booking as the function needs it: 401 without a user, 404 unless the
 * caller is the booking's customer, 409 offline or when nothing can be paid any more.
 */
async function payer(db: Database, authenticator: Authenticator, headers: IncomingHttpHeaders, bookingId: string) {
  const caller = await authenticator.authenticate(headers);
  if (caller.role !== 'authenticated') {
    throw new ApiError('LOCO_AUTH_REQUIRED', {
      message: 'stripe-booking-payment needs a signed-in user',
      hint: "Call it with the customer's token (supabase.auth or Clerk), not only the anon key.",
    });
  }
  const { rows } = await db.asRole(caller.role, caller.claims, (tx) =>
    tx.last<Payer>(sql`select * from app.stripe_booking_payer(${bookingId})`),
  );
  const me = rows[0];
  if (me === undefined) {
    throw new ApiError('LOCO_BOOKING_NOT_FOUND', {
      message: `booking ${bookingId} not found`,
      hint: "Only the booking's customer pays for it.",
    });
  }
  if (me.method !== 'stripe') {
    throw new ApiError('LOCO_PAYMENTS_OFFLINE', {
      message: 'This booking is paid offline (cash or invoice), not by card',
      hint: 'The marketplace records the payment; nothing is charged through Stripe.',
    });
  }
  if (!OPEN_BOOKINGS.has(me.booking_status) || !PAYABLE.has(me.payment_status)) {
    throw new ApiError('LOCO_PAYMENT_STATE', {
      message: `This booking is ${me.booking_status} and its payment ${me.payment_status}: there is nothing to pay`,
      hint: 'A booking is paid while it is pending, confirmed or in progress.',
    });
  }
  if (me.destination === null || !me.charges_enabled) {
    throw new ApiError('LOCO_PAYMENT_STATE', {
      message: 'The provider cannot take card payments yet',
      hint: 'The provider finishes Stripe onboarding (stripe-connect-onboarding) first.',
    });
  }
  return { me, caller };
}

/**
 * The payment's PaymentIntent: made once (key booking:<id>:authorise) and recorded, or fetched.
 * The one code path that creates it, for the function and the off-session job alike: the
 * parameters under the key never differ, so the two can never make two intents (nor get
 * Stripe's idempotency_error). Confirmation is a separate call.
 */
async function intentOf(db: Database, stripe: Stripe, me: Payer): Promise<Stripe.PaymentIntent> {
  if (me.stripe_payment_intent_id !== null) {
    try {
      return await stripe.paymentIntents.retrieve(me.stripe_payment_intent_id);
    } catch (error) {
      throw stripeFailure(error, 'fetch the payment');
    }
  }
  const customer = await customerOf(db, stripe, {
    user_id: me.customer_id,
    tenant_id: me.tenant_id,
    stripe_customer_id: me.stripe_customer_id,
  });
  let intent: Stripe.PaymentIntent;
  try {
    intent = await stripe.paymentIntents.create(
      {
        amount: Number(me.amount_cents),
        currency: me.currency.toLowerCase(),
        capture_method: 'manual',
        customer,
        // No redirect-based methods: the server may confirm without a return_url; cards with 3-D Secure work.
        automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
        transfer_data: { destination: me.destination as string },
        application_fee_amount: Number(me.application_fee_cents),
        metadata: { booking_id: me.booking_id, payment_id: me.payment_id, tenant_id: me.tenant_id },
      },
      { idempotencyKey: `booking:${me.booking_id}:authorise` },
    );
  } catch (error) {
    throw stripeFailure(error, 'create the payment');
  }
  const { rows } = await asService<{ kept: string }>(
    db,
    sql`select app.stripe_attach_payment_intent(${me.payment_id}, ${intent.id}) as kept`,
  );
  const kept = rows[0]?.kept ?? intent.id;
  return kept === intent.id ? intent : stripe.paymentIntents.retrieve(kept);
}

/** Applies the PaymentIntent's state to the payment now (the webhook does the same, once more). */
async function apply(db: Database, intent: Stripe.PaymentIntent): Promise<void> {
  await asService(db, sql`select app.stripe_apply_payment_intent(null, ${JSON.stringify(intent)}::jsonb, 0)`);
}

/**
 * stripe-booking-payment: creates (or returns) the booking's PaymentIntent — manual capture, a
 * destination charge to the provider's account with the platform's application fee — and, given
 * a payment method, confirms it. The answer is what Stripe.js needs next.
 */
export async function bookingPayment(
  db: Database,
  authenticator: Authenticator,
  stripeClient: Stripe | undefined,
  headers: IncomingHttpHeaders,
  body: z.output<typeof bookingPaymentBody>,
): Promise<BookingPaymentAnswer> {
  const { me, caller } = await payer(db, authenticator, headers, body.booking_id);
  const saved =
    body.saved_payment_method === undefined ? undefined : await savedCard(db, caller, body.saved_payment_method);
  const stripe = requireStripe(stripeClient);
  let intent = await intentOf(db, stripe, me);
  let declined: Stripe.PaymentIntent.LastPaymentError | null = null;
  const paymentMethod = body.payment_method_id ?? saved;
  if (paymentMethod !== undefined && CONFIRMABLE.has(intent.status)) {
    // Only while the intent still needs a card, so a repeated call never confirms twice. The
    // customer's own tries (a new card after a decline, again after a failed 3-D Secure) are
    // distinct requests: the SDK's per-call key covers its network retries. A key derived from
    // the intent would replay a failed try's answer for a day (failed 3-D Secure leaves no charge
    // to tell the tries apart).
    intent = await confirm(stripe, intent, { payment_method: paymentMethod }, undefined, 'confirm the payment');
    await apply(db, intent);
    declined = intent.status === 'requires_payment_method' ? intent.last_payment_error : null;
  }
  return {
    status: intent.status,
    client_secret: intent.client_secret,
    payment_intent_id: intent.id,
    ...(declined && {
      error: {
        code: declined.code ?? null,
        decline_code: declined.decline_code ?? null,
        message: declined.message ?? null,
      },
    }),
  };
}

const CONFIRMABLE = new Set(['requires_payment_method', 'requires_confirmation']);

/**
 * Confirms a PaymentIntent. A card error (declined, authentication_required off-session) and
 * "already past confirmation" (the customer and the off-session job raced) both answer with the
 * intent as Stripe holds it, which is what the caller applies; anything else is a failure.
 */
async function confirm(
  stripe: Stripe,
  intent: Stripe.PaymentIntent,
  params: Stripe.PaymentIntentConfirmParams,
  idempotencyKey: string | undefined,
  what: string,
): Promise<Stripe.PaymentIntent> {
  try {
    return await stripe.paymentIntents.confirm(intent.id, params, idempotencyKey ? { idempotencyKey } : undefined);
  } catch (error) {
    const e = error as { type?: string; code?: string; raw?: { payment_intent?: Stripe.PaymentIntent } };
    const current = e.raw?.payment_intent;
    if (current !== undefined && (e.type === 'StripeCardError' || e.code === 'payment_intent_unexpected_state'))
      return current;
    throw stripeFailure(error, what);
  }
}

/**
 * The Stripe id of one of the caller's active saved cards (read as the caller: RLS shows a user
 * their own cards only), or of their default; 404 otherwise.
 */
async function savedCard(db: Database, caller: Caller, which: string): Promise<string> {
  const { rows } = await db.asRole(caller.role, caller.claims, (tx) =>
    tx.last<{ pm: string }>(
      which === 'default'
        ? sql`select stripe_payment_method_id as pm from public.payment_methods
               where user_id = app.current_user_id() and is_default and is_active and stripe_payment_method_id is not null`
        : sql`select stripe_payment_method_id as pm from public.payment_methods
               where id = ${which} and user_id = app.current_user_id() and is_active and stripe_payment_method_id is not null`,
    ),
  );
  const pm = rows[0]?.pm;
  if (pm === undefined) {
    throw new ApiError('LOCO_PAYMENT_METHOD_NOT_FOUND', {
      message: which === 'default' ? 'You have no default card' : `saved card ${which} not found`,
      hint: 'Save a card with stripe-setup-payment-method, or pay with a new one (payment_method_id).',
    });
  }
  return pm;
}

/** What app.stripe_default_card_payer() tells the off-session job. */
interface DefaultCardPayer extends Payer {
  readonly default_card: string | null;
}

/**
 * stripe.authorise_default_card: a requested booking in a marketplace that opted in is authorised
 * off-session with the customer's default card. The PaymentIntent comes from the same code path
 * as the function's (intentOf, key booking:<id>:authorise), so a customer who also calls the
 * function gets the same intent; the off-session confirmation has its own key
 * (booking:<id>:authorise:off-session) and is sent only while the intent still needs a card. A
 * decline or authentication_required fails the payment with Stripe's code and notifies the
 * customer to pay on-session.
 */
export async function authoriseDefaultCard(
  db: Database,
  stripe: Stripe,
  paymentId: string,
): Promise<Record<string, unknown>> {
  const { rows } = await asService<DefaultCardPayer>(
    db,
    sql`select * from app.stripe_default_card_payer(${paymentId})`,
  );
  const me = rows[0];
  if (me === undefined) return { outcome: 'missing' };
  if (me.method !== 'stripe' || !OPEN_BOOKINGS.has(me.booking_status) || me.payment_status !== 'requires_payment')
    return { outcome: 'skipped', booking_status: me.booking_status, payment_status: me.payment_status };
  if (me.default_card === null) return { outcome: 'skipped', reason: 'no default card' };
  if (me.destination === null || !me.charges_enabled)
    return { outcome: 'skipped', reason: 'provider cannot take charges' };
  let intent = await intentOf(db, stripe, me);
  if (CONFIRMABLE.has(intent.status)) {
    intent = await confirm(
      stripe,
      intent,
      { payment_method: me.default_card, off_session: true },
      `booking:${me.booking_id}:authorise:off-session`,
      'authorise the default card off-session',
    );
  }
  if (intent.status === 'requires_payment_method' && intent.last_payment_error) {
    const { rows: declined } = await asService<{ result: Record<string, unknown> }>(
      db,
      sql`select app.stripe_off_session_declined(${me.payment_id}, ${JSON.stringify(intent)}::jsonb) as result`,
    );
    const e = intent.last_payment_error;
    return { outcome: 'declined', code: e.decline_code ?? e.code ?? null, ...declined[0]?.result };
  }
  await apply(db, intent);
  return { outcome: 'confirmed', status: intent.status, payment_intent_id: intent.id };
}
