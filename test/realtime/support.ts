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
