import { type ClerkClient, createClerkClient } from '@clerk/backend';
import { isClerkAPIResponseError } from '@clerk/backend/errors';
import type { Database, Transaction } from '../../db/database.js';
import { sql } from '../../db/sql.js';

/**
 * The outbound half of the Clerk sync (decision 0021): a user's role, status and verification,
 * as Loconomy holds them, written to the user's Clerk public_metadata through the Backend API, so
 * the next session token carries them. Clerk merges public_metadata, so other keys a deployment
 * keeps there (tenant_id…) stay.
 */

export interface PushSettings {
  /** CLERK_SECRET_KEY; unset: nothing is pushed. */
  readonly secretKey: string | undefined;
  /** LOCONOMY_CLERK_API_URL (the client adds /v1). */
  readonly apiUrl: string;
}

/** What app.clerk_push_state() returns: the values to write and where. */
interface PushState {
  readonly clerk_id: string;
  readonly role: string;
  readonly status: string;
  readonly verification_status: string;
}

export type PushOutcome =
  | { readonly status: 'pushed'; readonly clerk_id: string; readonly public_metadata: Record<string, string> }
  | { readonly status: 'skipped'; readonly reason: string };

/** One client per key and URL: createClerkClient is cheap, but there is no need to repeat it. */
const clients = new Map<string, ClerkClient>();
function clientFor(settings: Required<PushSettings>): ClerkClient {
  const key = `${settings.apiUrl}\n${settings.secretKey}`;
  let client = clients.get(key);
  if (client === undefined) {
    client = createClerkClient({ secretKey: settings.secretKey, apiUrl: settings.apiUrl });
    clients.set(key, client);
  }
  return client;
}

/**
 * Pushes one user's current role, status and verification to Clerk, unless there is nothing to
 * push (no Clerk id, erased, deleted at Clerk, unchanged since the last push) or no secret key.
 * Reads the values when it runs, not when the job was enqueued, so a burst of changes coalesced
 * into one job pushes the last. Throws when Clerk fails, so the job queue retries with its
 * back-off; a user Clerk no longer has (404) is skipped, since the user.deleted webhook follows.
 */
export async function pushUserToClerk(db: Database, userId: string, settings: PushSettings): Promise<PushOutcome> {
  const { secretKey, apiUrl } = settings;
  if (secretKey === undefined) return { status: 'skipped', reason: 'CLERK_SECRET_KEY is not set' };
  const asService = <T>(fn: (tx: Transaction) => Promise<T>) => db.asRole('service_role', { role: 'service_role' }, fn);
  const { rows } = await asService((tx) =>
    tx.query<{ state: PushState | null }>(sql`select app.clerk_push_state(${userId}::uuid) as state`),
  );
  const state = rows[0]?.state;
  if (!state) return { status: 'skipped', reason: 'nothing to push' };

  const publicMetadata = {
    role: state.role,
    status: state.status,
    verification_status: state.verification_status,
  };
  let updatedAt: number;
  try {
    const user = await clientFor({ secretKey, apiUrl }).users.updateUserMetadata(state.clerk_id, { publicMetadata });
    updatedAt = user.updatedAt;
  } catch (error) {
    if (isClerkAPIResponseError(error) && error.status === 404) {
      return { status: 'skipped', reason: 'Clerk has no such user' };
    }
    throw error;
  }
  await asService((tx) =>
    tx.query(sql`
      select app.clerk_record_push(${JSON.stringify(state)}::jsonb,
                                   ${Number.isFinite(updatedAt) ? new Date(updatedAt) : null}::timestamptz)`),
  );
  return { status: 'pushed', clerk_id: state.clerk_id, public_metadata: publicMetadata };
}
