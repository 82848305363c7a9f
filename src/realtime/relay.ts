import { randomUUID } from 'node:crypto';
import type { Database, Unsubscribe } from '../db/database.js';
import { sql } from '../db/sql.js';
import type { Logger } from '../log.js';
import { fanOut } from './broadcast.js';
import type { Hub } from './hub.js';
import type { BroadcastData } from './serializer.js';

/**
 * Broadcasts across server processes on one PostgreSQL (DESIGN principle 5: no broker). Each
 * process delivers a broadcast to its own members first, then publishes it on
 * `loconomy_realtime_broadcast`; every process LISTENs there and delivers what the others
 * published to its members. Messages carry the publishing process's id, so a process skips
 * the echo of its own (it delivered them already, with `self` decided by the sender's socket).
 * Other kinds of message (presence: src/realtime/tracker.ts) travel the same way, in order
 * with the broadcasts, and go to the handler registered for their kind.
 *
 * A NOTIFY payload is at most 8000 bytes, while a broadcast may be up to
 * LOCONOMY_REALTIME_MAX_PAYLOAD_KB: a message is cut into chunks that are notified in one
 * statement (one transaction), which PostgreSQL delivers together and in order, and the
 * listener puts them back together. Messages waiting to be published go out in one statement,
 * one at a time, so they reach the other processes in the order this process sent them.
 *
 * The embedded database (PGlite) is one process per data directory: nothing to relay.
 */

export const BROADCAST_CHANNEL = 'loconomy_realtime_broadcast';
/** Chunk text per notification, under the 8000-byte limit with room for the header. */
const CHUNK_CHARS = 7000;

/** What a message's chunks put together hold: a broadcast… */
interface BroadcastWire {
  readonly t: string;
  readonly e: string;
  /** JSON payload, or base64 bytes. */
  readonly j?: unknown;
  readonly b?: string;
}

/** …or a message of another kind, for that kind's handler. */
interface KindWire {
  readonly k: string;
  readonly m: unknown;
}

type Wire = BroadcastWire | KindWire;

/** Handles a message of its kind from another process (`process`: the sender's id). */
export type RelayHandler = (message: unknown, process: string) => void;

export class BroadcastRelay {
  /** This process's id on the wire. */
  readonly id = randomUUID();
  private queue: Wire[] = [];
  private flushing: Promise<void> | undefined;
  private unlisten: Unsubscribe | undefined;
  /** Chunks received of messages not yet complete, by `<process>:<message>`. */
  private readonly partial = new Map<string, string[]>();
  private sequence = 0;
  private readonly handlers = new Map<string, RelayHandler>();

  constructor(
    private readonly db: Database,
    private readonly hub: Hub,
    private readonly log: Logger,
  ) {}

  get active(): boolean {
    return this.unlisten !== undefined;
  }

  async start(): Promise<void> {
    if (this.db.kind !== 'postgres') return;
    this.unlisten = await this.db.listen(BROADCAST_CHANNEL, (payload) => this.received(payload));
  }

  async stop(): Promise<void> {
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    try {
      await this.flushing;
      await unlisten?.();
    } catch (error) {
      this.log.debug({ err: error }, 'realtime: stopping the broadcast relay failed');
    }
  }

  /** Hands a broadcast already delivered here to the other processes. */
  publish(topic: string, event: string, data: BroadcastData): void {
    if (!this.active) return;
    this.enqueue(
      data.kind === 'json'
        ? { t: topic, e: event, j: data.value }
        : { t: topic, e: event, b: data.bytes.toString('base64') },
    );
  }

  /** Sends a JSON message to the other processes' handler of `kind`. */
  send(kind: string, message: unknown): void {
    if (this.active) this.enqueue({ k: kind, m: message });
  }

  /** Where messages of `kind` from the other processes go. */
  on(kind: string, handler: RelayHandler): void {
    this.handlers.set(kind, handler);
  }

  private enqueue(wire: Wire): void {
    this.queue.push(wire);
    if (this.flushing === undefined) this.flushing = this.flush();
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0 && this.active) {
        const batch = this.queue;
        this.queue = [];
        const chunks: string[] = [];
        for (const message of batch) chunks.push(...this.encode(message));
        try {
          await this.db.query(sql`
            select pg_notify(${BROADCAST_CHANNEL}, chunk)
              from unnest(${chunks}::text[]) with ordinality as c(chunk, n) order by n`);
        } catch (error) {
          this.log.error({ err: error }, 'realtime: publishing broadcasts to other processes failed');
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** `<process> <message> <index> <count> <text>` per chunk. */
  private encode(wire: Wire): string[] {
    // ASCII only (non-ASCII as \u escapes), so a chunk's characters are its bytes.
    const text = JSON.stringify(wire).replace(
      /[\u0080-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
    const count = Math.max(1, Math.ceil(text.length / CHUNK_CHARS));
    this.sequence += 1;
    const id = this.sequence;
    const chunks: string[] = [];
    for (let i = 0; i < count; i += 1) {
      chunks.push(`${this.id} ${id} ${i} ${count} ${text.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS)}`);
    }
    return chunks;
  }

  private received(payload: string): void {
    const match = /^(\S+) (\d+) (\d+) (\d+) /.exec(payload);
    if (match === null) return;
    const [head, process, message, indexText, countText] = match as unknown as [string, string, string, string, string];
    if (process === this.id) return; // delivered here when it was sent
    const index = Number(indexText);
    const count = Number(countText);
    const key = `${process}:${message}`;
    const parts = this.partial.get(key) ?? [];
    // Chunks of one message arrive together and in order; anything else is a lost message.
    if (index !== parts.length) {
      this.partial.delete(key);
      return;
    }
    parts.push(payload.slice(head.length));
    if (parts.length < count) {
      this.partial.set(key, parts);
      return;
    }
    this.partial.delete(key);
    try {
      const wire = JSON.parse(parts.join('')) as Wire;
      if ('k' in wire) {
        this.handlers.get(wire.k)?.(wire.m, process);
        return;
      }
      const data: BroadcastData =
        wire.b !== undefined
          ? { kind: 'binary', bytes: Buffer.from(wire.b, 'base64') }
          : { kind: 'json', value: wire.j };
      fanOut(this.hub, wire.t, wire.e, data);
    } catch (error) {
      this.log.warn({ err: error }, 'realtime: a message from another process could not be read');
    }
  }
}
