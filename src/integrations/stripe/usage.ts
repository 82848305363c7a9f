import type Stripe from 'stripe';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';
import { oneLine } from '../../errors.js';

interface DueUsage {
  readonly usage_log_id: string;
  readonly feature: string;
  readonly quantity: number;
  readonly stripe_customer_id: string;
  readonly created_at: Date;
}

export interface UsageReport {
  readonly reported: number;
  readonly refused: number;
}

const asService = <T>(db: Database, query: ReturnType<typeof sql>) =>
  db.asRole('service_role', { role: 'service_role' }, (tx) => tx.last<T>(query));

/**
 * Sends billable usage to Stripe Billing Meters (the stripe.report_usage job, decision 0023 slice
 * 6): one meter event per usage_logs row — event_name = the row's feature (the operator makes a
 * meter per billed feature), payload { stripe_customer_id, value: quantity }, the row's time, and
 * identifier = the row's id, which Stripe keeps unique, with the idempotency key
 * usage:<id>:meter_event — so a batch retried after a crash is not counted twice. Rows are marked
 * reported; a row Stripe refuses (4xx: no such meter, a malformed payload) keeps the error and is
 * left out of later runs; a failure of Stripe or the network fails the job after marking what was
 * sent, and the queue retries the rest.
 */
export async function reportUsage(db: Database, stripe: Stripe, maxRows: number): Promise<UsageReport> {
  const { rows } = await asService<DueUsage>(db, sql`select * from app.stripe_usage_to_report(${maxRows})`);
  const reported: string[] = [];
  const refused: Record<string, string> = {};
  let failure: unknown;
  for (const row of rows) {
    try {
      await stripe.billing.meterEvents.create(
        {
          event_name: row.feature,
          identifier: row.usage_log_id,
          payload: { stripe_customer_id: row.stripe_customer_id, value: String(row.quantity) },
          timestamp: Math.floor(new Date(row.created_at).getTime() / 1000),
        },
        { idempotencyKey: `usage:${row.usage_log_id}:meter_event` },
      );
      reported.push(row.usage_log_id);
    } catch (error) {
      const e = error as { statusCode?: number };
      if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500 && e.statusCode !== 429) {
        refused[row.usage_log_id] = oneLine(error);
        continue;
      }
      failure = error;
      break;
    }
  }
  await asService(db, sql`select app.stripe_usage_reported(${reported}::uuid[], ${JSON.stringify(refused)}::jsonb)`);
  if (failure !== undefined) throw failure;
  return { reported: reported.length, refused: Object.keys(refused).length };
}
