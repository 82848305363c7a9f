import { randomBytes } from 'node:crypto';
import { writeRefusal } from './access.js';
import { checkWrite, refusalReason } from './auth.js';
import { payloadTooLarge } from './broadcast.js';
import type { RealtimeContext } from './channel.js';
import type { Hub } from './hub.js';
import { jsonSize } from './limits.js';
import type { Member } from './member.js';
import { presencePayload, problem } from './messages.js';
import type { Meta, PresenceTracker } from './tracker.js';

/**
 * Phoenix Presence as realtime-js consumes it: the state is `{key: {metas: [{...payload,
 * phx_ref}]}}`; a joiner with presence enabled gets `presence_state`, and every track,
 * untrack, leave or disconnect sends a `presence_diff {joins, leaves}` to the topic's members
 * with presence enabled (the tracker included). Re-tracking a different payload is a leave of
 * the old meta and a join of the new one (carrying `phx_ref_prev`); re-tracking the same
 * payload changes nothing. This process's state is derived from its members, so a
 * member that goes away takes its presence with it; the other processes' presences come
 * from the tracker (src/realtime/tracker.ts), which also hears of every change here.
 */

export type Metas = Record<string, { metas: Record<string, unknown>[] }>;

/** What presence needs of the realtime context. */
export interface Presences {
  readonly hub: Hub;
  readonly tracker: PresenceTracker;
}

/** Phoenix's phx_ref: an opaque unique string. */
function presenceRef(): string {
  return randomBytes(9).toString('base64url');
}

/** A room's presences (the topic; private channels apart), this process's and the others'. */
export function presenceState({ hub, tracker }: Presences, room: string): Metas {
  const state: Metas = {};
  const add = (key: string, meta: Meta) => {
    const entry = state[key] ?? { metas: [] };
    entry.metas.push({ ...meta });
    state[key] = entry;
  };
  for (const member of hub.members(room)) {
    if (member.presence !== undefined) add(member.config.presenceKey, member.presence.meta);
  }
  for (const other of tracker.others(room)) add(other.key, other.meta);
  return state;
}

/** Tracks (or updates) the member's presence; false when the payload is not a JSON object. */
export function track({ hub, tracker }: Presences, member: Member, payload: unknown): boolean {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return false;
  const json = JSON.stringify(payload);
  const previous = member.presence;
  if (previous?.json === json) return true;
  const key = member.config.presenceKey;
  const ref = presenceRef();
  const meta: Meta = {
    ...(payload as object),
    phx_ref: ref,
    ...(previous === undefined ? {} : { phx_ref_prev: previous.ref }),
  };
  member.presence = { ref, meta, json };
  // An update leaves, then joins, in two diffs. Phoenix sends one diff with both, but
  // realtime-js 2.x handling such a diff strips phx_ref from the old meta while announcing
  // the join (its transformState mutates the state it reads), so the leave no longer matches
  // and the old meta stays forever.
  if (previous !== undefined) {
    sendDiff(hub, member.room, {}, { [key]: { metas: [previous.meta] } });
    tracker.left(previous.ref);
  }
  sendDiff(hub, member.room, { [key]: { metas: [meta] } }, {});
  tracker.joined(member.room, key, meta);
  return true;
}

/** Stops tracking (untrack, leave, disconnect): a leave diff when something was tracked. */
export function untrack({ hub, tracker }: Presences, member: Member): void {
  const previous = member.presence;
  if (previous === undefined) return;
  member.presence = undefined;
  sendDiff(hub, member.room, {}, { [member.config.presenceKey]: { metas: [previous.meta] } });
  tracker.left(previous.ref);
}

/**
 * A presence_diff to the room's members in this process that have presence enabled and may
 * receive presence (private channels).
 */
export function sendDiff(hub: Hub, room: string, joins: Metas, leaves: Metas): void {
  for (const member of hub.members(room)) {
    if (member.config.presenceEnabled && member.access.presence.read && !member.closed) {
      member.fastlane('presence_diff', { joins, leaves });
    }
  }
}

/** A client's `presence` push: track or untrack, answered ok or with an error reason. */
export function handlePresence(ctx: RealtimeContext, member: Member, ref: string | null, payload: unknown): void {
  const parsed = presencePayload.safeParse(payload);
  if (!parsed.success) {
    member.reply(ref, 'error', { reason: `InvalidPresenceMessage: ${problem(parsed.error)}` });
    return;
  }
  try {
    checkWrite(member.caller);
  } catch (error) {
    member.reply(ref, 'error', { reason: refusalReason(error) });
    return;
  }
  if (!member.access.presence.write) {
    member.reply(ref, 'error', { reason: writeRefusal(member.subTopic) });
    return;
  }
  if (parsed.data.event === 'untrack') {
    untrack(ctx, member);
    member.reply(ref, 'ok', {});
    return;
  }
  const size = jsonSize(parsed.data.payload);
  if (size > ctx.limits.maxPayloadBytes) {
    member.reply(ref, 'error', { reason: payloadTooLarge(size, ctx.limits.maxPayloadBytes) });
    return;
  }
  if (!track(ctx, member, parsed.data.payload)) {
    member.reply(ref, 'error', { reason: 'Presence track payload must be a map' });
    return;
  }
  member.reply(ref, 'ok', {});
}
