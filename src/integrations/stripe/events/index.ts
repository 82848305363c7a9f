import type Stripe from 'stripe';
import type { Database } from '../../../db/database.js';
import type { Logger } from '../../../log.js';
import { accountHandlers } from './account.js';
import { disputeHandlers } from './dispute.js';
import { invoiceHandlers } from './invoice.js';
import { paymentIntentHandlers } from './payment-intent.js';
import { paymentMethodHandlers } from './payment-method.js';
import { payoutHandlers } from './payout.js';
import { refundHandlers } from './refund.js';
import { subscriptionHandlers } from './subscription.js';

/** An event as recorded in inbound_webhook_events.payload. */
export interface RecordedEvent {
  readonly id: string;
  readonly type: string;
  readonly created: number;
  readonly livemode: boolean;
  /** Connect events: the connected account the event is about. */
  readonly account?: string;
  readonly data: { readonly object: Readonly<Record<string, unknown>> };
}

export interface HandlerContext {
  readonly db: Database;
  readonly stripe: Stripe;
  readonly log: Logger;
  /** The job's attempt number, recorded with the outcome. */
  readonly attempt: number;
}

/**
 * Applies one event and marks it processed in the same transaction (an app.stripe_* function),
 * returning what it did. It re-fetches what it applies: events may be stale, duplicated or out
 * of order, and Stripe's current object is the truth.
 */
export type EventHandler = (event: RecordedEvent, context: HandlerContext) => Promise<Record<string, unknown>>;

/**
 * The dispatch table: event type → handler, one file per family. Types not listed are marked
 * processed with outcome `ignored`.
 */
export const HANDLERS: Readonly<Record<string, EventHandler>> = {
  ...accountHandlers,
  ...paymentIntentHandlers,
  ...paymentMethodHandlers,
  ...refundHandlers,
  ...disputeHandlers,
  ...payoutHandlers,
  ...subscriptionHandlers,
  ...invoiceHandlers,
};
