import type { Caller } from '../auth/caller.js';
import { type ChannelAccess, PUBLIC_ACCESS, roomOf } from './access.js';
import { type BroadcastData, encodeUserBroadcast, type Message, type Vsn } from './serializer.js';
import type { Subscription } from './subscriptions.js';
import type { Meta } from './tracker.js';

/** How a member reaches its client: the connection it joined on. */
export interface Outbox {
  readonly vsn: Vsn;
  send(message: Message): void;
  sendBinary(frame: Buffer): void;
}

/** What the join's `config` asked for (realtime-js fills the defaults in; so do we). */
export interface ChannelConfig {
  /** broadcast.self: the sender receives its own broadcasts. */
  readonly self: boolean;
  /** broadcast.ack: broadcasts are answered with a reply. */
  readonly ack: boolean;
  /** presence.enabled (or a presence listener): send presence_state and presence_diff. */
  readonly presenceEnabled: boolean;
  /** presence.key, or a UUID made at join. */
  readonly presenceKey: string;
  /** private: authorised by the realtime.messages policies (src/realtime/access.ts). */
  readonly private: boolean;
}

/** A presence this member tracks: one per member, as in Phoenix (one per channel process). */
export interface Tracked {
  readonly ref: string;
  readonly meta: Meta;
  /** The tracked payload as JSON, to tell a re-track of the same state (a no-op). */
  readonly json: string;
}

/** One channel joined by one connection: Realtime's channel process. */
export class Member {
  presence: Tracked | undefined;
  closed = false;
  expiry: NodeJS.Timeout | undefined;

  constructor(
    readonly outbox: Outbox,
    readonly topic: string,
    readonly joinRef: string | null,
    readonly config: ChannelConfig,
    /** Who the channel acts as: the join's access_token, or the connection's apikey. */
    public caller: Caller,
    /** The access_token the caller came from (undefined: the apikey decided). */
    public token: string | undefined,
    /** The join's postgres_changes subscriptions (src/realtime/changes.ts delivers them). */
    readonly changes: readonly Subscription[] = [],
    /** What the policies allow on a private channel, decided at join and on token refresh. */
    public access: ChannelAccess = PUBLIC_ACCESS,
  ) {}

  /** Where the member meets the topic's others: public and private channels of one name differ. */
  get room(): string {
    return roomOf(this.topic, this.config.private);
  }

  /** The channel name without `realtime:`, as `system` messages carry it. */
  get subTopic(): string {
    return this.topic.slice('realtime:'.length);
  }

  /** A push from the channel (system, presence_state, phx_close): carries the join_ref. */
  push(event: string, payload: unknown, ref: string | null = null): void {
    this.outbox.send({ joinRef: this.joinRef, ref, topic: this.topic, event, payload });
  }

  reply(ref: string | null, status: 'ok' | 'error', response: object = {}): void {
    this.push('phx_reply', { status, response }, ref);
  }

  /** A fan-out message (broadcast, presence_diff): no refs, as Realtime's fastlane sends them. */
  fastlane(event: string, payload: unknown): void {
    this.outbox.send({ joinRef: null, ref: null, topic: this.topic, event, payload });
  }

  /**
   * A broadcast as this client's protocol carries it; binary payloads need vsn 2.0.0. `meta`
   * (`{id}` for a message sent from SQL) rides along with JSON payloads, as on Supabase.
   */
  deliverBroadcast(event: string, data: BroadcastData, meta?: object): void {
    if (data.kind === 'json') {
      this.fastlane('broadcast', { type: 'broadcast', event, payload: data.value, ...(meta ? { meta } : {}) });
      return;
    }
    if (this.outbox.vsn !== '2.0.0') return; // a vsn 1.0.0 client has no way to receive bytes
    const frame = encodeUserBroadcast(this.topic, event, data);
    if (frame !== undefined) this.outbox.sendBinary(frame);
  }
}
