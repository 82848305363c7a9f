import type { WebhookSettings } from '../config.js';
import type { Database, Transaction } from '../db/database.js';
import { sql } from '../db/sql.js';
import { retryDelayMs } from './retry.js';
import { postWebhook } from './send.js';
import { signatureHeaders } from './sign.js';

interface ToSend {
  url: string;
  secret: string;
  previous_secret: string | null;
  secret_rotated_at: Date | null;
  message_id: string;
  payload: unknown;
  attempt: number;
  endpoint_active: boolean;
}

export interface AttemptOutcome {
  readonly status: string;
  readonly attempt?: number;
  readonly retry_at?: string | null;
  readonly endpoint_disabled?: boolean;
  readonly http_status?: number | null;
  readonly error?: string | null;
}

/**
 * One attempt of one delivery: reads it (as service_role, through the two functions of
 * migration 0036), signs and POSTs it, and records the attempt, which in the same transaction
 * schedules the retry or disables a dead endpoint. A delivery already settled is left alone,
 * so a duplicate job does nothing.
 */
export async function deliverOnce(
  db: Database,
  deliveryId: string,
  settings: WebhookSettings,
): Promise<AttemptOutcome> {
  const asService = <T>(fn: (tx: Transaction) => Promise<T>) => db.asRole('service_role', { role: 'service_role' }, fn);
  const { rows } = await asService((tx) =>
    tx.query<ToSend>(sql`select * from app.webhook_delivery_to_send(${deliveryId}::uuid)`),
  );
  const row = rows[0];
  if (!row) return { status: 'settled' };

  const body = JSON.stringify(row.payload);
  const result = row.endpoint_active
    ? await postWebhook(
        row.url,
        signatureHeaders(
          row.message_id,
          body,
          { secret: row.secret, previousSecret: row.previous_secret, rotatedAt: row.secret_rotated_at },
          settings.rotationGraceHours,
        ),
        body,
        { timeoutMs: settings.timeoutMs, allowPrivate: settings.allowPrivate },
      )
    : { status: null, durationMs: 0, error: 'endpoint disabled', body: '' };

  const { rows: recorded } = await asService((tx) =>
    tx.query<{ outcome: AttemptOutcome }>(sql`
      select app.record_webhook_attempt(
        ${deliveryId}::uuid, ${result.status}::int, ${result.durationMs}::int, ${result.error}::text, ${result.body}::text,
        ${row.endpoint_active ? Math.round(retryDelayMs(row.attempt, settings.retryBaseMs, settings.retryMaxMs)) : null}::int,
        ${settings.disableAfterFailures}::int, ${Math.round(settings.disableAfterHours * 3600)}::int) as outcome`),
  );
  return { ...(recorded[0]?.outcome ?? { status: 'missing' }), http_status: result.status, error: result.error };
}
