import { writeRefusal } from './access.js';
import { checkWrite, refusalReason } from './auth.js';
import type { RealtimeContext } from './channel.js';
import type { Hub } from './hub.js';
import type { Member } from './member.js';
import type { BroadcastData } from './serializer.js';

/**
 * Broadcast: a message to every member of a room (a topic; private channels apart) in this
 * process that may receive broadcasts there. The sender's own channel receives it only with
 * `broadcast.self`; a server-side send (HTTP, SQL) has no sender.
 */
export function fanOut(
  hub: Hub,
  room: string,
  event: string,
  data: BroadcastData,
  from?: Member,
  meta?: object,
): number {
  let delivered = 0;
  for (const member of hub.members(room)) {
    if (member.closed || !member.access.broadcast.read || (member === from && !member.config.self)) continue;
    member.deliverBroadcast(event, data, meta);
    delivered += 1;
  }
  return delivered;
}

/**
 * A broadcast from this process: delivered to its own members, then to the other processes'
 * through the database (src/realtime/relay.ts).
 */
export function broadcast(ctx: RealtimeContext, room: string, event: string, data: BroadcastData, from?: Member): void {
  fanOut(ctx.hub, room, event, data, from);
  ctx.relay.publish(room, event, data);
}

/**
 * A client's broadcast on a joined channel: API keys need `realtime:write`, a private channel
 * the policies' write permission; a payload over the limit is refused with an error reply
 * (realtime-js resolves an acked send to 'error'); with `broadcast.ack` the send is answered
 * once fanned out.
 */
export function handleBroadcast(
  ctx: RealtimeContext,
  member: Member,
  ref: string | null,
  push: { event: string; data: BroadcastData; size: number },
): void {
  try {
    checkWrite(member.caller);
  } catch (error) {
    member.reply(ref, 'error', { reason: refusalReason(error) });
    return;
  }
  if (!member.access.broadcast.write) {
    member.reply(ref, 'error', { reason: writeRefusal(member.subTopic) });
    return;
  }
  if (push.size > ctx.limits.maxPayloadBytes) {
    member.reply(ref, 'error', { reason: payloadTooLarge(push.size, ctx.limits.maxPayloadBytes) });
    return;
  }
  broadcast(ctx, member.room, push.event, push.data, member);
  if (member.config.ack) member.reply(ref, 'ok', {});
}

export function payloadTooLarge(size: number, limit: number): string {
  return `PayloadTooLarge: the payload is ${size} bytes, the limit is ${limit} bytes (LOCONOMY_REALTIME_MAX_PAYLOAD_KB)`;
}
