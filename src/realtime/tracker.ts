import { z } from 'zod';
import type { Logger } from '../log.js';
import type { Hub } from './hub.js';
import { type Metas, sendDiff } from './presence.js';
import type { BroadcastRelay } from './relay.js';

/**
 * Presence across server processes on one PostgreSQL (decision 0019): each process tells the
 * others what its members track, through the relay (NOTIFY, in order, chunked), and keeps what
 * the others told it, so `presence_state` and `presence_diff` cover every process.
 *
 * - `join` / `leave`: a presence of this process appeared or went (track, untrack, leave,
 *   disconnect; an update is a leave and a join).
 * - `alive`, every interval: this process still runs. A process not heard from for
 *   MISSED_INTERVALS of its own intervals is taken for dead and its presences leave.
 * - `sync` asks for a process's presences (all processes' when `to` is null: at start-up);
 *   `state` answers with all of them, and replaces what the receivers held for that process.
 * - `bye`: this process stops; its presences leave at once.
 *
 * Every message carries the sender's sequence number. A gap (a NOTIFY lost while the
 * database was unreachable, or a first message from a process not known yet) makes the
 * receiver ask that process for its state, so a receiver converges on the sender's truth.
 * The embedded database is one process: the relay is inactive and this does nothing.
 */

const KIND = 'presence';
/** Heartbeats a process may miss before the others drop its presences. */
const MISSED_INTERVALS = 3;

/** A tracked meta: whatever the client tracked plus Phoenix's `phx_ref` (and `phx_ref_prev`). */
export type Meta = Readonly<Record<string, unknown>> & { readonly phx_ref: string };

interface Presence {
  readonly topic: string;
  readonly key: string;
  readonly meta: Meta;
}

const meta = z.looseObject({ phx_ref: z.string() });
const entry = z.object({ t: z.string(), k: z.string(), m: meta });
const body = z.discriminatedUnion('o', [
  z.object({ o: z.literal('join'), ...entry.shape }),
  z.object({ o: z.literal('leave'), r: z.string() }),
  z.object({ o: z.literal('alive') }),
  z.object({ o: z.literal('sync'), to: z.string().nullable() }),
  z.object({ o: z.literal('state'), e: z.array(entry) }),
  z.object({ o: z.literal('bye') }),
]);
type Body = z.output<typeof body>;
/** What another process sends: `s` its sequence number, `i` its heartbeat interval (ms). */
const message = z.intersection(z.object({ s: z.number().int(), i: z.number().positive() }), body);

/** Another process, as heard from it. */
interface Peer {
  seq: number;
  /** When it is taken for dead unless heard from again (this process's clock). */
  deadline: number;
  /** A state was asked for and has not arrived: what is held may be incomplete. */
  stale: boolean;
  readonly presences: Map<string, Presence>;
}

/** Diffs to send, collected per topic so that dropping a process is one leave per topic. */
class Diffs {
  private readonly joins = new Map<string, Metas>();
  private readonly leaves = new Map<string, Metas>();

  join(p: Presence): void {
    add(this.joins, p);
  }

  leave(p: Presence): void {
    add(this.leaves, p);
  }

  /** Leaves first, then joins, each a diff of its own (see presence.ts on realtime-js). */
  send(hub: Hub): void {
    for (const [topic, metas] of this.leaves) sendDiff(hub, topic, {}, metas);
    for (const [topic, metas] of this.joins) sendDiff(hub, topic, metas, {});
  }
}

function add(into: Map<string, Metas>, p: Presence): void {
  let metas = into.get(p.topic);
  if (metas === undefined) {
    metas = {};
    into.set(p.topic, metas);
  }
  const at = metas[p.key] ?? { metas: [] };
  at.metas.push({ ...p.meta });
  metas[p.key] = at;
}

export class PresenceTracker {
  private sequence = 0;
  /** This process's presences by phx_ref: what it answers a `sync` with. */
  private readonly own = new Map<string, Presence>();
  private readonly peers = new Map<string, Peer>();
  /** The other processes' presences by topic, then phx_ref. */
  private readonly topics = new Map<string, Map<string, Presence>>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private lastTick = 0;

  constructor(
    private readonly relay: BroadcastRelay,
    private readonly hub: Hub,
    private readonly intervalMs: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** After the relay started: announces this process and asks the others for their state. */
  start(): void {
    if (!this.relay.active) return;
    this.running = true;
    this.relay.on(KIND, (raw, from) => this.received(raw, from));
    this.send({ o: 'sync', to: null });
    this.lastTick = this.now();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Before the relay stops: the others drop this process's presences at once. */
  stop(): void {
    clearInterval(this.timer);
    if (!this.running) return;
    this.send({ o: 'bye' });
    this.running = false;
  }

  /** The other processes' presences on `topic`. */
  others(topic: string): Iterable<Presence> {
    return this.topics.get(topic)?.values() ?? [];
  }

  /** A presence of this process appeared (its local diff is sent already). */
  joined(topic: string, key: string, meta: Meta): void {
    if (!this.running) return;
    this.own.set(meta.phx_ref, { topic, key, meta });
    this.send({ o: 'join', t: topic, k: key, m: meta });
  }

  /** A presence of this process went. */
  left(ref: string): void {
    if (this.running && this.own.delete(ref)) this.send({ o: 'leave', r: ref });
  }

  private send(body: Body): void {
    this.sequence += 1;
    this.relay.send(KIND, { ...body, s: this.sequence, i: this.intervalMs });
  }

  private tick(): void {
    const now = this.now();
    // A tick this late means this process was stalled: the others' heartbeats may be waiting
    // unread on the LISTEN connection, so nobody is judged dead this time.
    const stalled = now - this.lastTick > 2 * this.intervalMs;
    this.lastTick = now;
    this.send({ o: 'alive' });
    if (stalled) return;
    const diffs = new Diffs();
    for (const [id, peer] of this.peers) {
      if (now <= peer.deadline) continue;
      this.log.warn({ process: id, presences: peer.presences.size }, 'realtime: a server process went silent');
      this.drop(id, peer, diffs);
    }
    diffs.send(this.hub);
  }

  private received(raw: unknown, from: string): void {
    const parsed = message.safeParse(raw);
    if (!parsed.success) {
      this.log.warn({ process: from }, 'realtime: a presence message from another process could not be read');
      return;
    }
    const m = parsed.data;
    const known = this.peers.get(from);
    const peer: Peer = known ?? { seq: m.s, deadline: 0, stale: false, presences: new Map() };
    if (known === undefined) this.peers.set(from, peer);
    const gap = known !== undefined && m.s !== known.seq + 1;
    peer.seq = m.s;
    peer.deadline = this.now() + MISSED_INTERVALS * m.i;
    const diffs = new Diffs();
    switch (m.o) {
      case 'join':
        this.add(peer, { topic: m.t, key: m.k, meta: m.m }, diffs);
        break;
      case 'leave':
        this.remove(peer, m.r, diffs);
        break;
      case 'sync':
        if (m.to === null || m.to === this.relay.id) {
          const e = [...this.own.values()].map((p) => ({ t: p.topic, k: p.key, m: p.meta }));
          this.send({ o: 'state', e });
        }
        break;
      case 'state':
        this.replace(peer, m.e, diffs);
        break;
      case 'bye':
        this.drop(from, peer, diffs);
        break;
    }
    diffs.send(this.hub);
    if (m.o === 'state' || m.o === 'bye') return;
    // Something may be missing: ask again on every heartbeat until the state arrives.
    if (known === undefined || gap || (peer.stale && m.o === 'alive')) {
      peer.stale = true;
      this.send({ o: 'sync', to: from });
    }
  }

  private add(peer: Peer, p: Presence, diffs: Diffs): void {
    const ref = p.meta.phx_ref;
    if (peer.presences.has(ref)) return;
    peer.presences.set(ref, p);
    let refs = this.topics.get(p.topic);
    if (refs === undefined) {
      refs = new Map();
      this.topics.set(p.topic, refs);
    }
    refs.set(ref, p);
    diffs.join(p);
  }

  private remove(peer: Peer, ref: string, diffs: Diffs): void {
    const p = peer.presences.get(ref);
    if (p === undefined) return;
    peer.presences.delete(ref);
    const refs = this.topics.get(p.topic);
    refs?.delete(ref);
    if (refs?.size === 0) this.topics.delete(p.topic);
    diffs.leave(p);
  }

  /** A process's whole state: what it no longer has leaves, what is new joins. */
  private replace(peer: Peer, entries: readonly { t: string; k: string; m: Meta }[], diffs: Diffs): void {
    peer.stale = false;
    const next = new Map(entries.map((e) => [e.m.phx_ref, { topic: e.t, key: e.k, meta: e.m }]));
    for (const ref of [...peer.presences.keys()]) if (!next.has(ref)) this.remove(peer, ref, diffs);
    for (const p of next.values()) this.add(peer, p, diffs);
  }

  private drop(id: string, peer: Peer, diffs: Diffs): void {
    for (const ref of [...peer.presences.keys()]) this.remove(peer, ref, diffs);
    this.peers.delete(id);
  }
}
