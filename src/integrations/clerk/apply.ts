import type { ClerkSyncFlag } from '../../config.js';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';
import { oneLine } from '../../errors.js';
import type { VerifiedEvent } from './verify.js';

/** What app.clerk_apply_event() did with an event. */
export interface Applied {
  readonly outcome: 'applied' | 'ignored' | 'duplicate';
  readonly reason?: string;
  readonly user_id?: string;
  readonly session_id?: string;
  readonly mode?: string;
  /** Organisation and membership events (LOCONOMY_CLERK_ORGANIZATION_TENANTS). */
  readonly tenant_id?: string;
  readonly placed?: boolean;
  readonly permissions_granted?: number;
  readonly permissions_removed?: number;
}

/**
 * Records the event and applies it in one transaction, as service_role, through
 * app.clerk_apply_event (migration 0035): a redelivered event is answered `duplicate` without
 * being applied again. When applying fails, the transaction is rolled back and the failure is
 * recorded on its own (attempts, last_error), then rethrown so Clerk retries.
 */
export async function applyClerkEvent(
  db: Database,
  verified: VerifiedEvent,
  trusted: readonly ClerkSyncFlag[],
): Promise<Applied> {
  const event = JSON.stringify(verified.event);
  try {
    const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
      tx.last<{ result: Applied }>(
        sql`select app.clerk_apply_event(${verified.id}, ${event}::jsonb, ${[...trusted]}::text[]) as result`,
      ),
    );
    return rows[0]?.result as Applied;
  } catch (error) {
    await db
      .asRole('service_role', { role: 'service_role' }, (tx) =>
        tx.last(sql`select app.clerk_record_failure(${verified.id}, ${event}::jsonb, ${oneLine(error)})`),
      )
      .catch(() => undefined); // the database may be what failed; the original error says so
    throw error;
  }
}
