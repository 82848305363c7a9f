import type { Caller } from '../auth/caller.js';
import type { Queryable } from '../db/database.js';
import { sql } from '../db/sql.js';

/**
 * Private channels (decision 0018): what a caller may do on a topic joined with
 * `config: { private: true }`, decided by the RLS policies on realtime.messages as Supabase
 * does — SELECT allowed means receive, INSERT allowed means send (broadcast) or track
 * (presence). realtime.channel_access (migration 0032) asks PostgreSQL as the caller's role
 * with their JWT claims, in a block it rolls back. Public channels allow everything.
 */

export interface Permission {
  readonly read: boolean;
  readonly write: boolean;
}

export interface ChannelAccess {
  readonly broadcast: Permission;
  readonly presence: Permission;
}

/** A public channel: open to anyone with the project's key, as on Supabase. */
export const PUBLIC_ACCESS: ChannelAccess = {
  broadcast: { read: true, write: true },
  presence: { read: true, write: true },
};

/** The policies' answer for `caller` on the private topic `subTopic` (the name without `realtime:`). */
export async function channelAccess(db: Queryable, subTopic: string, caller: Caller): Promise<ChannelAccess> {
  const { rows } = await db.query<{ extension: string; can_read: boolean; can_write: boolean }>(sql`
    select extension, can_read, can_write
      from realtime.channel_access(${subTopic}, ${caller.role}, ${JSON.stringify(caller.claims)}::jsonb)`);
  const of = (extension: string): Permission => {
    const row = rows.find((r) => r.extension === extension);
    return { read: row?.can_read === true, write: row?.can_write === true };
  };
  return { broadcast: of('broadcast'), presence: of('presence') };
}

/** A member may join when it may receive something: broadcasts or presence. */
export function mayJoin(access: ChannelAccess): boolean {
  return access.broadcast.read || access.presence.read;
}

/** Supabase's join refusal, which realtime-js shows as the CHANNEL_ERROR's message. */
export function readRefusal(subTopic: string): string {
  return `Unauthorized: You do not have permissions to read from this Channel topic: ${subTopic}`;
}

/** The `system` message of a channel whose refreshed token may no longer read the topic. */
export function readRevoked(subTopic: string): string {
  return `You no longer have permission to read from this Channel topic: ${subTopic}`;
}

/** A send or track the policies refuse (an error reply: an acked send resolves 'error'). */
export function writeRefusal(subTopic: string): string {
  return `Unauthorized: You do not have permissions to write to this Channel topic: ${subTopic}`;
}

/**
 * Where a channel's members meet in the hub and across processes: public and private channels
 * with one name are separate topics, as on Supabase.
 */
export function roomOf(topic: string, isPrivate: boolean): string {
  return isPrivate ? `private:${topic}` : topic;
}
