import type Stripe from 'stripe';
import type { Database } from '../../../db/database.js';
import { sql } from '../../../db/sql.js';
import type { EventHandler, RecordedEvent } from './index.js';

/** The connected account an account event is about (Connect events name it in `account`). */
function accountId(event: RecordedEvent): string {
  const id = event.account ?? (event.data.object.object === 'account' ? event.data.object.id : undefined);
  if (typeof id !== 'string' || !/^acct_[A-Za-z0-9]+$/.test(id))
    throw new Error(`${event.type} ${event.id} names no account`);
  return id;
}

async function asService<T>(db: Database, query: ReturnType<typeof sql>): Promise<T> {
  const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) => tx.last<{ result: T }>(query));
  return (rows[0] as { result: T }).result;
}

/**
 * Mirrors an account as fetched from Stripe at `fetchedAt` (app.stripe_apply_account: a fetch
 * older than the one applied is `stale`); eventId null outside an event.
 */
export function applyAccount(
  db: Database,
  account: Stripe.Account,
  fetchedAt: Date,
  eventId: string | null,
  attempt: number,
): Promise<Record<string, unknown>> {
  return asService(
    db,
    sql`select app.stripe_apply_account(${eventId}, ${JSON.stringify(account)}::jsonb, ${fetchedAt.toISOString()}::timestamptz, ${attempt}) as result`,
  );
}

/**
 * account.updated: the account is fetched again and mirrored as Stripe has it now, so an event
 * that arrives late or twice cannot roll the mirror back. The fetch time orders concurrent
 * processing (app.stripe_apply_account keeps the latest fetch); the account's serial job queue
 * already runs one account's events one at a time.
 */
const accountUpdated: EventHandler = async (event, context) => {
  const id = accountId(event);
  const fetchedAt = new Date();
  const account: Stripe.Account = await context.stripe.accounts.retrieve(id);
  return applyAccount(context.db, account, fetchedAt, event.id, context.attempt);
};

/**
 * account.application.deauthorized: the account disconnected the platform; it can no longer be
 * fetched, so the event itself is the news. Charges and payouts are off for it from then on.
 */
const accountDeauthorized: EventHandler = async (event, context) => {
  const id = accountId(event);
  const at = new Date(event.created * 1000).toISOString();
  return asService(
    context.db,
    sql`select app.stripe_deauthorize_account(${event.id}, ${id}, ${at}::timestamptz, ${context.attempt}) as result`,
  );
};

export const accountHandlers: Readonly<Record<string, EventHandler>> = {
  'account.updated': accountUpdated,
  'account.application.deauthorized': accountDeauthorized,
};
