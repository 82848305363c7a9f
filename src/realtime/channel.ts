import type { Authenticator } from '../auth/caller.js';
import type { RealtimeLimits } from '../config.js';
import type { Queryable } from '../db/database.js';
import type { Logger } from '../log.js';
import { type ChannelAccess, channelAccess, mayJoin, PUBLIC_ACCESS, readRefusal, readRevoked } from './access.js';
import { authenticateChannel, expiresAt, expiryMessage, refusalReason } from './auth.js';
import type { Hub } from './hub.js';
import type { RateWindow } from './limits.js';
import { Member, type Outbox } from './member.js';
import { accessTokenPayload, joinPayload, problem } from './messages.js';
import { presenceState, untrack } from './presence.js';
import type { BroadcastRelay } from './relay.js';
import type { Message } from './serializer.js';
import { type Subscription, SubscriptionError, subscriptionsFor } from './subscriptions.js';
import type { PresenceTracker } from './tracker.js';

/**
 * Channel lifecycle: `phx_join` (checks in Realtime's order: topic, join rate, replacing a
 * duplicate join, channels per connection, credentials, a private channel's policies),
 * `phx_leave`, `access_token` refresh (a private channel's policies asked again), and closing a
 * channel whose token expired with the `system` error and `phx_close` realtime-js expects.
 */

export interface RealtimeContext {
  readonly hub: Hub;
  /** Hands broadcasts to the other server processes (PostgreSQL only). */
  readonly relay: BroadcastRelay;
  /** The other processes' presences, and this one's told to them (PostgreSQL only). */
  readonly tracker: PresenceTracker;
  /**
   * Where postgres_changes bindings (the registry and column privileges) and private channels
   * (realtime.channel_access) are checked, as the owner.
   */
  readonly db: Queryable;
  readonly authenticator: Authenticator;
  readonly limits: RealtimeLimits;
  readonly log: Logger;
  readonly now: () => number;
}

/** What channel handling needs of a connection (src/realtime/socket.ts). */
export interface ChannelHost extends Outbox {
  /** The connection's `apikey`: the REST `apikey` header of every check. */
  readonly apikey: string | undefined;
  readonly members: Map<string, Member>;
  readonly joins: RateWindow;
  /** False once the socket is closing: a join that finishes then is dropped. */
  readonly open: boolean;
  /** Runs a task after the connection's pending ones, so a channel's state changes in order. */
  enqueue(task: () => Promise<void> | void): void;
  close(code: number, reason: string): void;
}

const TOPIC_PREFIX = 'realtime:';
/** setTimeout's largest delay; a later expiry is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How soon a token past its `exp` but inside the verifier's clock skew is checked again. */
const RECHECK_MS = 1000;

export async function join(ctx: RealtimeContext, host: ChannelHost, message: Message): Promise<void> {
  const { topic, ref } = message;
  const joinRef = message.joinRef ?? ref;
  const refuse = (reason: string) =>
    host.send({ joinRef, ref, topic, event: 'phx_reply', payload: { status: 'error', response: { reason } } });

  if (!topic.startsWith(TOPIC_PREFIX)) return refuse('unmatched topic');
  if (topic === TOPIC_PREFIX) return refuse('TopicNameRequired: You must provide a topic name');
  if (!host.joins.take()) {
    refuse('ClientJoinRateLimitReached: Too many joins per second');
    host.close(1008, 'Too many joins per second');
    return;
  }
  const parsed = joinPayload.safeParse(message.payload);
  if (!parsed.success) return refuse(`InvalidJoinPayload: ${problem(parsed.error)}`);
  const config = parsed.data.config ?? {};

  // Joining a topic joined already replaces the old channel, as Phoenix does.
  const previous = host.members.get(topic);
  if (previous !== undefined) closeMember(ctx, host, previous, { notify: true });
  if (host.members.size >= ctx.limits.maxChannels) return refuse('ChannelRateLimitReached: Too many channels');

  const token = parsed.data.access_token ?? undefined;
  let caller: Member['caller'];
  try {
    caller = await authenticateChannel(ctx.authenticator, host.apikey, token);
  } catch (error) {
    return refuse(refusalReason(error));
  }
  if (!host.open) return;

  const isPrivate = config.private === true;
  const subTopic = topic.slice(TOPIC_PREFIX.length);
  let access = PUBLIC_ACCESS;
  if (isPrivate) {
    try {
      access = await channelAccess(ctx.db, subTopic, caller);
    } catch (error) {
      ctx.log.error({ err: error, topic }, 'realtime: checking a private channel failed');
      return refuse('UnableToAuthorize: the channel policies could not be checked');
    }
    if (!host.open) return;
    if (!mayJoin(access)) return refuse(readRefusal(subTopic));
  }

  // postgres_changes bindings, checked against the streamed tables and the caller's columns.
  let changes: { subscriptions: Subscription[]; echo: object[] } = { subscriptions: [], echo: [] };
  const bindings = config.postgres_changes ?? [];
  if (bindings.length > 0) {
    try {
      changes = await subscriptionsFor(ctx.db, caller, bindings);
    } catch (error) {
      if (error instanceof SubscriptionError) return refuse(error.message);
      ctx.log.error({ err: error }, 'realtime: checking postgres_changes bindings failed');
      return refuse('UnableToSubscribe: the postgres_changes subscriptions could not be checked');
    }
    if (!host.open) return;
  }

  const presenceKey =
    config.presence?.key === undefined || config.presence.key === ''
      ? crypto.randomUUID()
      : String(config.presence.key);
  const member = new Member(
    host,
    topic,
    joinRef,
    {
      self: config.broadcast?.self ?? false,
      ack: config.broadcast?.ack ?? false,
      presenceEnabled: config.presence?.enabled ?? false,
      presenceKey,
      private: isPrivate,
    },
    caller,
    token,
    changes.subscriptions,
    access,
  );
  host.members.set(topic, member);
  ctx.hub.add(member);
  scheduleExpiry(ctx, host, member);
  member.reply(ref, 'ok', { postgres_changes: changes.echo });
  // The feed has been listening since the server started: changes committed from now on arrive.
  if (changes.subscriptions.length > 0) {
    member.push('system', {
      extension: 'postgres_changes',
      status: 'ok',
      message: 'Subscribed to PostgreSQL',
      channel: member.subTopic,
    });
  }
  if (member.config.presenceEnabled && access.presence.read) {
    member.push('presence_state', presenceState(ctx, member.room));
  }
}

export function leave(ctx: RealtimeContext, host: ChannelHost, message: Message): void {
  const member = host.members.get(message.topic);
  if (member === undefined) {
    // Nothing to leave (a join that failed or timed out): say so, the client closes either way.
    host.send({
      joinRef: message.joinRef,
      ref: message.ref,
      topic: message.topic,
      event: 'phx_reply',
      payload: { status: 'ok', response: {} },
    });
    return;
  }
  member.reply(message.ref, 'ok', {});
  closeMember(ctx, host, member, { notify: true });
}

/**
 * A new token for a live channel: no reply; the same or no token is ignored; a token that
 * does not verify closes the channel. The channel then acts as the new caller; on a private
 * channel the policies are asked again, and a caller that may no longer read is closed out.
 */
export async function refreshToken(
  ctx: RealtimeContext,
  host: ChannelHost,
  member: Member,
  payload: unknown,
): Promise<void> {
  const parsed = accessTokenPayload.safeParse(payload);
  const token = parsed.success ? parsed.data.access_token : undefined;
  if (token === undefined || token === null || token === member.token) return;
  let caller: Member['caller'];
  let access: ChannelAccess = PUBLIC_ACCESS;
  try {
    caller = await authenticateChannel(ctx.authenticator, host.apikey, token);
    if (member.config.private) access = await channelAccess(ctx.db, member.subTopic, caller);
  } catch (error) {
    closeMember(ctx, host, member, { notify: true, system: refusalReason(error) });
    return;
  }
  if (member.closed) return;
  member.caller = caller;
  member.token = token;
  member.access = access;
  if (!mayJoin(access)) {
    closeMember(ctx, host, member, { notify: true, system: readRevoked(member.subTopic) });
    return;
  }
  scheduleExpiry(ctx, host, member);
}

/**
 * Ends a channel: its presence leaves, it leaves the hub, and (unless the socket is gone) the
 * client is told — a `system` error first when there is a reason, then `phx_close`.
 */
export function closeMember(
  ctx: RealtimeContext,
  host: ChannelHost,
  member: Member,
  options: { notify: boolean; system?: string },
): void {
  if (member.closed) return;
  member.closed = true;
  clearTimeout(member.expiry);
  if (host.members.get(member.topic) === member) host.members.delete(member.topic);
  untrack(ctx, member);
  ctx.hub.remove(member);
  if (!options.notify) return;
  if (options.system !== undefined) {
    member.push('system', { extension: 'system', status: 'error', message: options.system, channel: member.subTopic });
  }
  member.push('phx_close', {}, member.joinRef);
}

/**
 * At the token's `exp`, the same check as at join runs again; the channel closes when it
 * fails (REST's clock skew included, so a channel lives exactly as long as a request would be
 * accepted with that token).
 */
function scheduleExpiry(ctx: RealtimeContext, host: ChannelHost, member: Member): void {
  clearTimeout(member.expiry);
  const at = expiresAt(member.caller);
  if (at === undefined) return;
  const wait = at - ctx.now();
  const delay = wait > 0 ? Math.min(wait, MAX_TIMER_MS) : RECHECK_MS;
  member.expiry = setTimeout(() => host.enqueue(() => recheck(ctx, host, member)), delay);
  member.expiry.unref();
}

async function recheck(ctx: RealtimeContext, host: ChannelHost, member: Member): Promise<void> {
  if (member.closed) return;
  try {
    member.caller = await authenticateChannel(ctx.authenticator, host.apikey, member.token);
  } catch (error) {
    ctx.log.debug({ topic: member.topic }, 'realtime channel token expired');
    closeMember(ctx, host, member, { notify: true, system: expiryMessage(error, member.caller, ctx.now()) });
    return;
  }
  scheduleExpiry(ctx, host, member);
}
