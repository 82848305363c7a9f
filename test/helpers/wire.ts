import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that reads what the client sends (the frontend messages of
 * the wire protocol) and can cut every connection, as a failing network would. Tests use it to
 * count round trips (each Sync or simple Query waits for the server's ReadyForQuery) and Parse
 * messages, and to drop a connection in the middle of a request.
 */
export interface WireProxy {
  /** The database URL through the proxy. */
  readonly url: string;
  /** Frontend messages since the last reset, in order: type letter and, for Parse, the statement name. */
  readonly messages: { type: string; name?: string }[];
  /** Round trips since the last reset: Sync and Query messages. */
  roundTrips(): number;
  /** Parse messages of named statements since the last reset. */
  namedParses(): number;
  reset(): void;
  /** Destroys every open connection (both sides), as a dropped network link would. */
  cut(): void;
  close(): Promise<void>;
}

export async function startWireProxy(databaseUrl: string): Promise<WireProxy> {
  const target = new URL(databaseUrl);
  const messages: { type: string; name?: string }[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    const forget = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', forget).on('close', forget);
    upstream.on('error', forget).on('close', forget);
    upstream.pipe(client);
    let pending = Buffer.alloc(0);
    let started = false;
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        // The startup message has no type byte: length, then protocol version and parameters.
        if (!started) {
          if (pending.length < 4) break;
          const length = pending.readInt32BE(0);
          if (pending.length < length) break;
          pending = pending.subarray(length);
          started = true;
          continue;
        }
        if (pending.length < 5) break;
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) break;
        const type = String.fromCharCode(pending[0] as number);
        const body = pending.subarray(5, 1 + length);
        messages.push(type === 'P' ? { type, name: body.subarray(0, body.indexOf(0)).toString() } : { type });
        pending = pending.subarray(1 + length);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    messages,
    roundTrips: () => messages.filter((m) => m.type === 'S' || m.type === 'Q').length,
    namedParses: () => messages.filter((m) => m.type === 'P' && m.name !== '').length,
    reset: () => {
      messages.length = 0;
    },
    cut: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
