import type { Claims } from '../../auth/jwt.js';
import type { ClerkSyncFlag } from '../../config.js';
import type { Database } from '../../db/database.js';
import { sql } from '../../db/sql.js';
import { oneLine } from '../../errors.js';
import type { Logger } from '../../log.js';

/**
 * Just-in-time accounts: a person who signs in with Clerk before Clerk's user.created webhook has
 * arrived gets an account on their first request, from the verified token's claims
 * (app.clerk_ensure_user, migration 0035); the webhook then fills in the details. The database
 * makes it race-safe (insert … on conflict on the unique clerk_id); this module keeps it cheap:
 * subs known to have an account are remembered in a bounded set, so a request pays a Map lookup,
 * and only a sub seen for the first time by this process costs one statement.
 */

/** Subs remembered per process (about 100 bytes each); the oldest is forgotten first. */
export const KNOWN_SUBS_MAX = 10_000;

export interface ClerkAccounts {
  /** Makes sure the token's sub has an account (unless Clerk deleted the user). Never throws. */
  ensure(claims: Claims): Promise<void>;
  /** The account of this sub was closed: look it up again next time. */
  forget(sub: string): void;
}

export function clerkAccounts(
  db: Database,
  trusted: readonly ClerkSyncFlag[],
  log: Logger,
  maxKnown = KNOWN_SUBS_MAX,
): ClerkAccounts {
  // A Set keeps insertion order: the first entry is the one remembered longest ago.
  const known = new Set<string>();
  // Concurrent first requests of one sub share one statement.
  const pending = new Map<string, Promise<void>>();
  const trustedList = [...trusted];

  async function create(sub: string, claims: Claims): Promise<void> {
    try {
      const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) =>
        tx.last<{ id: string | null }>(
          sql`select app.clerk_ensure_user(${JSON.stringify(claims)}::jsonb, ${trustedList}::text[]) as id`,
        ),
      );
      // NULL: Clerk deleted this user; not remembered, so each request asks again (and is refused).
      if (rows[0]?.id == null) return;
      if (known.size >= maxKnown) known.delete(known.values().next().value as string);
      known.add(sub);
    } catch (error) {
      // The request goes on: it then fails, or not, exactly as without just-in-time creation.
      log.warn({ sub, err: oneLine(error) }, 'could not create the account of a Clerk user just in time');
    } finally {
      pending.delete(sub);
    }
  }

  return {
    ensure(claims) {
      const sub = claims.sub as string;
      if (known.has(sub)) return Promise.resolve();
      let running = pending.get(sub);
      if (running === undefined) {
        running = create(sub, claims);
        pending.set(sub, running);
      }
      return running;
    },
    forget(sub) {
      known.delete(sub);
    },
  };
}
