import { isDeepStrictEqual } from 'node:util';
import { createClient, type RealtimeChannel, type SupabaseClient } from '@supabase/supabase-js';
import ws from 'ws';
import type { TestServer } from '../helpers/index.js';

/* What the test/realtime files share: supabase-js clients, subscription statuses, raw sockets. */

/** A supabase-js client whose realtime acts as `token` (set before anything subscribes). */
export async function realtimeClient(
  server: Pick<TestServer, 'url' | 'keys'>,
  options: { token?: string; apikey?: string; vsn?: string } = {},
): Promise<SupabaseClient> {
  const client = createClient(server.url, options.apikey ?? server.keys.anon, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: ws as never, ...(options.vsn ? { vsn: options.vsn } : {}) },
  });
  if (options.token) await client.realtime.setAuth(options.token);
  return client;
}

export interface Status {
  readonly status: string;
  readonly error?: Error;
}

/** Subscribes and records every status the callback reports; `next()` waits for the next one. */
export function subscribe(channel: RealtimeChannel): Queue<Status> {
  const statuses = new Queue<Status>();
  channel.subscribe((status, error) => statuses.push(error ? { status, error } : { status }));
  return statuses;
}

/** Subscribes and waits for SUBSCRIBED; anything else first fails the test. */
export async function subscribed(channel: RealtimeChannel): Promise<Queue<Status>> {
  const statuses = subscribe(channel);
  const first = await statuses.next();
  if (first.status !== 'SUBSCRIBED') {
    throw new Error(`expected SUBSCRIBED, got ${first.status}${first.error ? `: ${first.error.message}` : ''}`);
  }
  return statuses;
}

export interface PresenceEvent {
  readonly event: 'join' | 'leave' | 'sync';
  readonly key?: string;
  // biome-ignore lint/suspicious/noExplicitAny: presence metas are whatever was tracked
  readonly presences?: any[];
}

export interface PresenceMember {
  readonly supabase: SupabaseClient;
  readonly channel: RealtimeChannel;
  readonly events: Queue<PresenceEvent>;
}

/**
 * A client of `server` on `topic` with presence key `key` (added to `clients` for clean-up),
 * recording join, leave and sync events; resolves once presence_state arrived. With `token`
 * it acts as that user; with `isPrivate` it joins the private channel.
 */
export async function presenceMember(
  server: Pick<TestServer, 'url' | 'keys'>,
  topic: string,
  key: string,
  clients: SupabaseClient[],
  options: { token?: string; isPrivate?: boolean } = {},
): Promise<PresenceMember> {
  const supabase = await realtimeClient(server, options.token ? { token: options.token } : {});
  clients.push(supabase);
  const events = new Queue<PresenceEvent>();
  const channel = supabase
    .channel(topic, { config: { presence: { key }, private: options.isPrivate ?? false } })
    .on('presence', { event: 'sync' }, () => events.push({ event: 'sync' }))
    .on('presence', { event: 'join' }, ({ key, newPresences }) =>
      events.push({ event: 'join', key, presences: newPresences }),
    )
    .on('presence', { event: 'leave' }, ({ key, leftPresences }) =>
      events.push({ event: 'leave', key, presences: leftPresences }),
    );
  await subscribed(channel);
  await events.until((e) => e.event === 'sync'); // presence_state arrived
  return { supabase, channel, events };
}

export const joinOf = (key: string) => (e: PresenceEvent) => e.event === 'join' && e.key === key;
export const leaveOf = (key: string) => (e: PresenceEvent) => e.event === 'leave' && e.key === key;

/** The channel's presence state as `{key: [name, …]}`, names sorted. */
export function names(channel: RealtimeChannel): Record<string, (string | undefined)[]> {
  return Object.fromEntries(
    Object.entries(channel.presenceState<{ name?: string }>()).map(([k, metas]) => [
      k,
      metas.map((m) => m.name).sort(),
    ]),
  );
}

/** Waits, sync after sync, until the member's presence state has these names. */
export async function presenceIs(member: PresenceMember, expected: Record<string, string[]>): Promise<void> {
  while (!isDeepStrictEqual(names(member.channel), expected)) await member.events.until((e) => e.event === 'sync');
}

/** Values in arrival order; `next()` resolves with the next one not yet taken. */
export class Queue<T> {
  private readonly items: T[] = [];
  private readonly waiting: ((item: T) => void)[] = [];
  /** Everything pushed so far, taken or not. */
  readonly all: T[] = [];

  push(item: T): void {
    this.all.push(item);
    const waiter = this.waiting.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  next(): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Takes items until one matches. */
  async until(match: (item: T) => boolean): Promise<T> {
    for (;;) {
      const item = await this.next();
      if (match(item)) return item;
    }
  }

  get pending(): number {
    return this.items.length;
  }
}

export type Frame = unknown;

/** A WebSocket speaking Phoenix by hand, for what supabase-js will not send. */
export class RawSocket {
  readonly frames = new Queue<{ text?: string; binary?: Buffer; parsed?: unknown }>();
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: ws) {
    ws.on('message', (data, isBinary) => {
      const buffer = Buffer.from(data as Buffer);
      if (isBinary) this.frames.push({ binary: buffer });
      else this.frames.push({ text: buffer.toString('utf8'), parsed: JSON.parse(buffer.toString('utf8')) });
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static open(server: TestServer, params: Record<string, string>): Promise<RawSocket> {
    const url = new URL('/realtime/v1/websocket', server.url.replace(/^http/, 'ws'));
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const socket = new ws(url);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new RawSocket(socket)));
      socket.once('error', reject);
    });
  }

  /** The status and JSON body of a refused upgrade. */
  static refused(server: TestServer, params: Record<string, string>): Promise<{ status: number; body: unknown }> {
    const url = new URL('/realtime/v1/websocket', server.url.replace(/^http/, 'ws'));
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const socket = new ws(url);
    return new Promise((resolve, reject) => {
      socket.once('open', () => reject(new Error('the upgrade was accepted')));
      socket.once('error', () => {});
      socket.once('unexpected-response', (_request, response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }));
      });
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  sendBinary(frame: Buffer): void {
    this.ws.send(frame, { binary: true });
  }

  /** The next text frame matching, parsed. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON came back
  async next(match: (frame: any) => boolean = () => true): Promise<any> {
    const frame = await this.frames.until((f) => f.parsed !== undefined && match(f.parsed));
    return frame.parsed;
  }

  close(): Promise<unknown> {
    this.ws.close();
    return this.closed;
  }
}
