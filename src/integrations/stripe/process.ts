import type Stripe from 'stripe';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';
import { oneLine } from '../../errors.js';
import type { Logger } from '../../log.js';
import { HANDLERS, type RecordedEvent } from './events/index.js';

/**
 * Processes one recorded Stripe event (the stripe.process_event job): looks it up, dispatches it
 * by type, and lets the handler apply it and mark it processed in one transaction. A failure is
 * recorded on the event (attempts, last_error) and rethrown, so the queue retries it with its
 * back-off; an event processed already (a duplicate job) is left alone.
 */
export async function processStripeEvent(
  db: Database,
  stripe: Stripe | undefined,
  eventId: string,
  attempt: number,
  log: Logger,
): Promise<Record<string, unknown>> {
  const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
    tx.last<{ payload: RecordedEvent; processed_at: Date | null }>(sql`
      select payload, processed_at from public.inbound_webhook_events where provider = 'stripe' and event_id = ${eventId}`),
  );
  const row = rows[0];
  if (row === undefined) return { outcome: 'missing' };
  if (row.processed_at !== null) return { outcome: 'duplicate' };
  const event = row.payload;
  const handler = HANDLERS[event.type];
  try {
    if (handler === undefined) {
      await db.asRole('service_role', { role: 'service_role' }, (tx) =>
        tx.last(sql`select app.stripe_finish_event(${eventId}, 'ignored', ${attempt})`),
      );
      return { outcome: 'ignored', type: event.type };
    }
    if (stripe === undefined) throw new Error('STRIPE_SECRET_KEY is not set on the process that runs jobs');
    return { type: event.type, ...(await handler(event, { db, stripe, log, attempt })) };
  } catch (error) {
    await db
      .asRole('service_role', { role: 'service_role' }, (tx) =>
        tx.last(sql`select app.stripe_event_failed(${eventId}, ${attempt}, ${oneLine(error)})`),
      )
      .catch(() => undefined); // the database may be what failed; the original error says so
    throw error;
  }
}
