/**
 * The load generator of bench/realtime.bench.ts, forked as its own process so its CPU shows
 * apart from the server's: many raw `ws` sockets speaking Phoenix vsn 2.0.0 as realtime-js
 * does (bench/realtime-protocol.ts), driven by the parent over IPC. It records what arrives:
 * postgres_changes rows (sequence number, arrival time, and whether the row was the
 * subscriber's own) and broadcast latencies (a histogram, 0.1 ms buckets).
 */
import WebSocket_ from 'ws';
import {
  decodeUserBroadcast,
  type Frame,
  heartbeats,
  join,
  joinPayload,
  now,
  openSocket,
} from './realtime-protocol.js';

export interface ClientSpec {
  /** Channel name (the topic is `realtime:<name>`). */
  readonly name: string;
  /** access_token of the join: a user token, else the apikey (as supabase-js sends). */
  readonly token?: string;
  /** With postgres_changes: the users.id whose rows this client may receive. */
  readonly owner?: string;
}

export type Command =
  | { cmd: 'connect'; url: string; apikey: string; concurrency: number; clients: ClientSpec[] }
  | { cmd: 'count' }
  | { cmd: 'collect' }
  | { cmd: 'disconnect' };

export type Reply =
  | { type: 'progress'; connected: number }
  | { type: 'connected'; ms: number; perClient: number[]; failed: number; firstError?: string }
  | { type: 'count'; changes: number; broadcasts: number }
  | {
      type: 'collected';
      /** [sequence number, arrival time] of every row delivered to its owner. */
      changes: [number, number][];
      misdeliveries: number;
      broadcasts: number;
      broadcastMs: { p50: number; p95: number; p99: number; max: number };
      cpuMs: number;
    }
  | { type: 'disconnected' };

const BUCKET_MS = 0.1;
const histogram = new Uint32Array(600_000); // up to 60 s
let sockets: WebSocket_[] = [];
let changes: [number, number][] = [];
let misdeliveries = 0;
let broadcasts = 0;
let cpu = process.cpuUsage();
const stopHeartbeats = heartbeats(() => sockets);

const reply = (message: Reply) => process.send?.(message);

function onBroadcast(payload: unknown, at: number): void {
  const t = (payload as { t?: number } | null)?.t;
  if (typeof t !== 'number') return;
  broadcasts++;
  const bucket = Math.min(histogram.length - 1, Math.max(0, Math.floor((at - t) / BUCKET_MS)));
  histogram[bucket] = (histogram[bucket] ?? 0) + 1;
}

function frameHandler(spec: ClientSpec) {
  return (frame: Frame | undefined, binary: Buffer | undefined) => {
    const at = now();
    if (binary) {
      const decoded = decodeUserBroadcast(binary);
      if (decoded) onBroadcast(decoded.payload, at);
      return;
    }
    if (!frame) return;
    if (frame[3] === 'broadcast') onBroadcast((frame[4] as { payload?: unknown }).payload, at);
    else if (frame[3] === 'postgres_changes') {
      const record = (frame[4] as { data?: { record?: { user_id?: string; data?: { seq?: number } } } }).data?.record;
      if (record?.user_id !== spec.owner) misdeliveries++;
      else if (typeof record?.data?.seq === 'number') changes.push([record.data.seq, at]);
    }
  };
}

async function connect(command: Extract<Command, { cmd: 'connect' }>): Promise<void> {
  const perClient: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const start = now();
  const worker = async () => {
    for (let i = next++; i < command.clients.length; i = next++) {
      const spec = command.clients[i] as ClientSpec;
      const began = now();
      try {
        const socket = await openSocket(command.url, command.apikey);
        sockets.push(socket);
        const bindings = spec.owner ? [{ event: 'INSERT', schema: 'public', table: 'notifications' }] : [];
        await join(socket, spec.name, joinPayload(spec.token ?? command.apikey, bindings), '1', frameHandler(spec));
        perClient.push(now() - began);
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
      }
      const done = perClient.length + failed;
      if (done % 500 === 0) reply({ type: 'progress', connected: perClient.length });
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, worker));
  perClient.sort((a, b) => a - b);
  reply({ type: 'connected', ms: now() - start, perClient, failed, ...(firstError ? { firstError } : {}) });
}

function percentileOfHistogram(q: number): number {
  const target = Math.ceil(q * broadcasts);
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i] ?? 0;
    if (seen >= target && seen > 0) return (i + 1) * BUCKET_MS;
  }
  return Number.NaN;
}

process.on('message', (command: Command) => {
  if (command.cmd === 'connect') {
    connect(command).catch((error) => {
      console.error(error);
      process.exit(1);
    });
  } else if (command.cmd === 'count') {
    reply({ type: 'count', changes: changes.length, broadcasts });
  } else if (command.cmd === 'collect') {
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    reply({
      type: 'collected',
      changes,
      misdeliveries,
      broadcasts,
      broadcastMs: {
        p50: percentileOfHistogram(0.5),
        p95: percentileOfHistogram(0.95),
        p99: percentileOfHistogram(0.99),
        max: percentileOfHistogram(1),
      },
      cpuMs: (used.user + used.system) / 1000,
    });
    changes = [];
    misdeliveries = 0;
    broadcasts = 0;
    histogram.fill(0);
  } else if (command.cmd === 'disconnect') {
    const closing = sockets
      .filter((s) => s.readyState !== WebSocket_.CLOSED)
      .map(
        (s) =>
          new Promise((resolve) => {
            s.once('close', resolve);
            s.close();
          }),
      );
    sockets = [];
    Promise.all(closing).then(() => reply({ type: 'disconnected' }));
  }
});

process.on('disconnect', () => {
  stopHeartbeats();
  process.exit(0);
});
