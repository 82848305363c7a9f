import { randomBytes } from 'node:crypto';
import { checkWrite, refusalReason } from './auth.js';
import { payloadTooLarge } from './broadcast.js';
import type { RealtimeContext } from './channel.js';
import type { Hub } from './hub.js';
import { jsonSize } from './limits.js';
import type { Member } from './member.js';
import { presencePayload, problem } from './messages.js';

/**
 * Phoenix Presence as realtime-js consumes it: the state is `{key: {metas: [{...payload,
 * phx_ref}]}}`; a joiner with presence enabled gets `presence_state`, and every track,
 * untrack, leave or disconnect sends a `presence_diff {joins, leaves}` to the topic's members
 * with presence enabled (the tracker included). Re-tracking a different payload is a leave of
 * the old meta and a join of the new one (carrying `phx_ref_prev`); re-tracking the same
 * payload changes nothing. The state is derived from the members, so a
 * member that goes away takes its presence with it.
 */

type Metas = Record<string, { metas: Record<string, unknown>[] }>;

/** Phoenix's phx_ref: an opaque unique string. */
function presenceRef(): string {
  return randomBytes(9).toString('base64url');
}

export function presenceState(hub: Hub, topic: string): Metas {
  const state: Metas = {};
  for (const member of hub.members(topic)) {
    if (member.presence === undefined) continue;
    const key = member.config.presenceKey;
    const entry = state[key] ?? { metas: [] };
    entry.metas.push({ ...member.presence.meta });
    state[key] = entry;
  }
  return state;
}

/** Tracks (or updates) the member's presence; false when the payload is not a JSON object. */
export function track(hub: Hub, member: Member, payload: unknown): boolean {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return false;
  const json = JSON.stringify(payload);
  const previous = member.presence;
  if (previous?.json === json) return true;
  const key = member.config.presenceKey;
  const meta: Record<string, unknown> = { ...(payload as object), phx_ref: presenceRef() };
  if (previous !== undefined) meta.phx_ref_prev = previous.ref;
  member.presence = { ref: meta.phx_ref as string, meta, json };
  // An update leaves, then joins, in two diffs. Phoenix sends one diff with both, but
  // realtime-js 2.x handling such a diff strips phx_ref from the old meta while announcing
  // the join (its transformState mutates the state it reads), so the leave no longer matches
  // and the old meta stays forever.
  if (previous !== undefined) sendDiff(hub, member.topic, {}, { [key]: { metas: [previous.meta] } });
  sendDiff(hub, member.topic, { [key]: { metas: [meta] } }, {});
  return true;
}

/** Stops tracking (untrack, leave, disconnect): a leave diff when something was tracked. */
export function untrack(hub: Hub, member: Member): void {
  const previous = member.presence;
  if (previous === undefined) return;
  member.presence = undefined;
  sendDiff(hub, member.topic, {}, { [member.config.presenceKey]: { metas: [previous.meta] } });
}

function sendDiff(hub: Hub, topic: string, joins: Metas, leaves: Metas): void {
  for (const member of hub.members(topic)) {
    if (member.config.presenceEnabled && !member.closed) member.fastlane('presence_diff', { joins, leaves });
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
  if (parsed.data.event === 'untrack') {
    untrack(ctx.hub, member);
    member.reply(ref, 'ok', {});
    return;
  }
  const size = jsonSize(parsed.data.payload);
  if (size > ctx.limits.maxPayloadBytes) {
    member.reply(ref, 'error', { reason: payloadTooLarge(size, ctx.limits.maxPayloadBytes) });
    return;
  }
  if (!track(ctx.hub, member, parsed.data.payload)) {
    member.reply(ref, 'error', { reason: 'Presence track payload must be a map' });
    return;
  }
  member.reply(ref, 'ok', {});
}
