import type { IncomingHttpHeaders } from 'node:http';
import type { Authenticator } from '../../auth/caller.js';
import type { Database } from '../../db/database.js';
import type { Query } from '../../db/sql.js';
import { ApiError } from '../../errors.js';

/** Who may have a payout account or a provider plan: providers, and admins (who may also sell). */
export const PROVIDER_ROLES: ReadonlySet<string> = new Set(['provider', 'admin', 'super_admin']);

/**
 * The first check of every built-in Stripe function: a signed-in user (401 otherwise), and their
 * own row as `query` answers it — a SECURITY DEFINER caller check run as the caller, which gives
 * no row for a token without an active account (401 too). The function then checks role and
 * payment mode with its own messages.
 */
export async function signedInCaller<T>(
  db: Database,
  authenticator: Authenticator,
  headers: IncomingHttpHeaders,
  name: string,
  query: Query,
): Promise<T> {
  const caller = await authenticator.authenticate(headers);
  const signIn = `Call ${name} with a signed-in user's token (supabase.auth or Clerk), not only the anon key.`;
  if (caller.role !== 'authenticated') {
    throw new ApiError('LOCO_AUTH_REQUIRED', { message: `${name} needs a signed-in user`, hint: signIn });
  }
  const { rows } = await db.asRole(caller.role, caller.claims, (tx) => tx.last<T>(query));
  const me = rows[0];
  if (me === undefined) {
    throw new ApiError('LOCO_AUTH_REQUIRED', {
      message: `${name} needs a signed-in user with an active account`,
      hint: signIn,
    });
  }
  return me;
}
