import WebSocket from 'ws';

/*
 * Phoenix vsn 2.0.0 as realtime-js speaks it, for bench/realtime.bench.ts's raw sockets (5,000
 * supabase-js clients would measure supabase-js): text frames are JSON arrays
 * `[join_ref, ref, topic, event, payload]`; a broadcast a client sends is a kind-3 binary frame
 * (realtime-js's serializer `_encodeUserBroadcastPush`); a broadcast the server sends is a text
 * frame or a kind-4 binary frame, both read here.
 */

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const now = (): number => performance.timeOrigin + performance.now();

export type Frame = [string | null, string | null, string, string, Record<string, unknown>];

/** The join payload realtime-js sends for a channel with these bindings (RealtimeChannel.subscribe). */
export function joinPayload(accessToken: string, postgresChanges: object[] = []): Record<string, unknown> {
  return {
    config: {
      broadcast: { ack: false, self: false },
      presence: { key: '', enabled: false },
      postgres_changes: postgresChanges,
      private: false,
    },
    access_token: accessToken,
  };
}

/** A kind-3 frame: `3, joinRefLen, refLen, topicLen, eventLen, metaLen, encoding(1 = JSON), strings, payload`. */
export function encodeBroadcastPush(joinRef: string, ref: string, topic: string, event: string, payload: unknown) {
  const strings = Buffer.from(`${joinRef}${ref}${topic}${event}`, 'latin1');
  const header = Buffer.from([3, joinRef.length, ref.length, topic.length, event.length, 0, 1]);
  return Buffer.concat([header, strings, Buffer.from(JSON.stringify(payload), 'utf8')]);
}

/** A kind-4 frame's topic, event and JSON payload (realtime-js `_decodeUserBroadcast`). */
export function decodeUserBroadcast(frame: Buffer): { topic: string; event: string; payload: unknown } | undefined {
  if (frame[0] !== 4 || frame.length < 5) return undefined;
  const [topicLen, eventLen, metaLen, encoding] = [frame[1] ?? 0, frame[2] ?? 0, frame[3] ?? 0, frame[4] ?? 0];
  const topic = frame.toString('utf8', 5, 5 + topicLen);
  const event = frame.toString('utf8', 5 + topicLen, 5 + topicLen + eventLen);
  const body = frame.subarray(5 + topicLen + eventLen + metaLen);
  return { topic, event, payload: encoding === 1 ? JSON.parse(body.toString('utf8')) : body };
}

/** Opens a socket on `/realtime/v1/websocket` with the apikey and vsn 2.0.0, as supabase-js does. */
export function openSocket(baseUrl: string, apikey: string): Promise<WebSocket> {
  const url = new URL('/realtime/v1/websocket', baseUrl.replace(/^http/, 'ws'));
  url.searchParams.set('apikey', apikey);
  url.searchParams.set('vsn', '2.0.0');
  const socket = new WebSocket(url, { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Joins `realtime:<name>` and resolves once the server replied ok (and, with postgres_changes
 * bindings, once it said "Subscribed to PostgreSQL"); rejects on an error reply. `onFrame` then
 * receives every later frame of the socket.
 */
export function join(
  socket: WebSocket,
  name: string,
  payload: Record<string, unknown>,
  joinRef: string,
  onFrame: (text: Frame | undefined, binary: Buffer | undefined) => void,
): Promise<void> {
  const topic = `realtime:${name}`;
  const wantsChanges = ((payload.config as { postgres_changes?: unknown[] }).postgres_changes?.length ?? 0) > 0;
  return new Promise((resolve, reject) => {
    let replied = false;
    socket.on('message', (data, isBinary) => {
      if (isBinary) return onFrame(undefined, data as Buffer);
      const frame = JSON.parse((data as Buffer).toString('utf8')) as Frame;
      if (!replied && frame[2] === topic && frame[3] === 'phx_reply' && frame[1] === joinRef) {
        const status = frame[4].status;
        if (status !== 'ok') return reject(new Error(`join ${name} refused: ${JSON.stringify(frame[4].response)}`));
        replied = true;
        if (!wantsChanges) resolve();
        return;
      }
      if (replied && wantsChanges && frame[3] === 'system' && frame[4].extension === 'postgres_changes') {
        if (frame[4].status === 'ok') resolve();
        else reject(new Error(`postgres_changes on ${name}: ${String(frame[4].message)}`));
        return;
      }
      onFrame(frame, undefined);
    });
    socket.once('close', (code) => reject(new Error(`socket closed (${code}) while joining ${name}`)));
    socket.send(JSON.stringify([joinRef, joinRef, topic, 'phx_join', payload]));
  });
}

/** Sends a Phoenix heartbeat on every socket every 25 s, as realtime-js does; returns the stopper. */
export function heartbeats(sockets: () => Iterable<WebSocket>): () => void {
  let ref = 0;
  const timer = setInterval(() => {
    for (const socket of sockets()) {
      if (socket.readyState === WebSocket.OPEN)
        socket.send(JSON.stringify([null, `hb${++ref}`, 'phoenix', 'heartbeat', {}]));
    }
  }, 25_000);
  timer.unref();
  return () => clearInterval(timer);
}

/** Percentile of a sorted array (nearest rank); NaN when empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}
