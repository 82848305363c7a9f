import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode, makeServer } from 'graphql-ws';
import { makeGraphQLWSConfig } from 'postgraphile/grafserv';
import { GraphQLError } from 'postgraphile/graphql';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Authenticator, Caller } from '../auth/caller.js';
import { ApiError, isApiError } from '../errors.js';
import { refuseUpgrade } from '../http/upgrade.js';
import type { Logger } from '../log.js';

/*
 * GraphQL over WebSocket at `/graphql/v1` (the `graphql-transport-ws` protocol of graphql-ws),
 * beside realtime on the same port (src/http/upgrade.ts). Operations are executed by grafserv's
 * own graphql-ws configuration (makeGraphQLWSConfig: the same schema, masking and context as
 * over HTTP); this module owns the socket, so that the caller is authenticated as REST's are and
 * the socket closes when the token expires. Decision 0025 "Subscriptions".
 */

/** What graphql-ws needs of grafserv: its instance, as grafserv's own WebSocket handlers use it. */
export type GrafservInstance = Parameters<typeof makeGraphQLWSConfig>[0];

export interface GraphqlWebSocketOptions {
  readonly serv: GrafservInstance;
  readonly authenticator: Authenticator;
  readonly log: Logger;
  /**
   * Starts building the schema if need be (an upgrade may be the first GraphQL request) and
   * settles when it is built: building blocks the event loop for seconds, which would otherwise
   * eat graphql-ws's 3 s for connection_init.
   */
  readonly schemaBuilt: () => Promise<unknown>;
  /**
   * The gates an operation passes before it runs (persisted operations, API key scopes), given
   * the socket's caller and the subscribe message's payload (which it may complete, as a persisted
   * operation's document); an error refuses the operation alone.
   */
  readonly admit: (caller: Caller, payload: Record<string, unknown>) => GraphQLError | undefined;
  /** Pings an idle socket this often, so proxies keep it and a dead peer is noticed. */
  readonly keepAliveMs?: number;
  readonly now?: () => number;
}

/** setTimeout's largest delay; a later expiry is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How soon a token past its `exp` but inside the verifier's clock skew is checked again. */
const RECHECK_MS = 1000;
/** A WebSocket close reason is at most 123 bytes. */
const MAX_REASON_BYTES = 123;

/** The callers of open sockets, read by the preset's pgSettings (src/graphql/plugin.ts). */
const callers = new WeakMap<object, Caller>();

/** Who the operation on this socket is from (set once its connection_init was accepted). */
export function socketCaller(socket: object | undefined): Caller | undefined {
  return socket === undefined ? undefined : callers.get(socket);
}

/**
 * The credentials of a socket, in REST's header names: the upgrade request's `apikey` and
 * `Authorization` headers or `apikey` query parameter (as Supabase's realtime takes it), overridden
 * by the connection_init payload's `apikey` and `Authorization` (any case), which is where a
 * browser's graphql-ws client can put them.
 */
export function socketCredentials(request: IncomingMessage, connectionParams: unknown): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  const fromQuery = new URL(request.url ?? '/', 'http://loconomy.invalid').searchParams.get('apikey');
  const apikey = request.headers.apikey;
  if (typeof apikey === 'string') headers.apikey = apikey;
  if (fromQuery !== null) headers.apikey = fromQuery;
  if (request.headers.authorization !== undefined) headers.authorization = request.headers.authorization;
  if (typeof connectionParams === 'object' && connectionParams !== null && !Array.isArray(connectionParams)) {
    for (const [key, value] of Object.entries(connectionParams)) {
      const name = key.toLowerCase();
      if ((name === 'apikey' || name === 'authorization') && typeof value === 'string') headers[name] = value;
    }
  }
  return headers;
}

/** An ApiError as a close frame: 4401 (graphql-ws's clients do not retry) for 401, else 4403. */
function refusal(error: unknown): { code: number; reason: string } {
  if (!isApiError(error)) return { code: CloseCode.InternalServerError, reason: 'Internal server error' };
  let reason = `${error.code}: ${error.message}`;
  while (Buffer.byteLength(reason) > MAX_REASON_BYTES) reason = reason.slice(0, -1);
  return { code: error.status === 401 ? CloseCode.Unauthorized : CloseCode.Forbidden, reason };
}

export class GraphqlWebSocket {
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private readonly server: ReturnType<typeof makeServer>;
  private readonly sockets = new Set<WebSocket>();
  private readonly now: () => number;

  constructor(private readonly options: GraphqlWebSocketOptions) {
    this.now = options.now ?? Date.now;
    const config = makeGraphQLWSConfig(options.serv);
    const execute = config.onSubscribe;
    if (execute === undefined) throw new Error("grafserv's graphql-ws configuration has no onSubscribe");
    this.server = makeServer({
      ...config,
      onConnect: (ctx) => this.connect(ctx.extra as Extra, ctx.connectionParams),
      onSubscribe: (ctx, id, payload) => {
        const caller = callers.get((ctx.extra as Extra).socket);
        // Acknowledged sockets only reach here (graphql-ws closes others with 4401).
        if (caller === undefined) return [new GraphQLError('Unauthorized')];
        const refused = options.admit(caller, payload as unknown as Record<string, unknown>);
        return refused === undefined ? execute(ctx, id, payload) : [refused];
      },
    });
    this.wss.options.handleProtocols = (protocols) =>
      protocols.has('graphql-transport-ws') ? 'graphql-transport-ws' : false;
  }

  /** The `/graphql/v1` upgrade: becomes a graphql-ws socket; credentials come with connection_init. */
  upgrade = async (request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    try {
      await this.options.schemaBuilt();
    } catch {
      return refuseUpgrade(socket, new ApiError('LOCO_INTERNAL')); // logged where it was built
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.opened(ws, request));
  };

  private opened(ws: WebSocket, request: IncomingMessage): void {
    const { log } = this.options;
    this.sockets.add(ws);
    const extra: Extra = { socket: ws, request };
    const closed = this.server.opened(
      {
        protocol: ws.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (ws.readyState !== ws.OPEN) return resolve();
            ws.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => ws.close(code, reason),
        onMessage: (callback) =>
          ws.on('message', (data) => {
            callback(String(data)).catch((error: unknown) => {
              log.error({ err: error }, 'a GraphQL WebSocket message failed');
              ws.close(CloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      extra,
    );
    const keepAliveMs = this.options.keepAliveMs ?? 12_000;
    let alive = true;
    ws.on('pong', () => {
      alive = true;
    });
    const ping = setInterval(() => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    }, keepAliveMs);
    ping.unref();
    ws.on('error', (error) => log.debug({ err: error }, 'GraphQL WebSocket error'));
    ws.once('close', (code, reason) => {
      clearInterval(ping);
      clearTimeout(extra.expiry);
      this.sockets.delete(ws);
      void closed(code, String(reason));
    });
  }

  /** connection_init: the caller is authenticated as a REST request is, or the socket closes. */
  private async connect(extra: Extra, connectionParams: unknown): Promise<boolean> {
    const credentials = socketCredentials(extra.request, connectionParams);
    try {
      callers.set(extra.socket, await this.options.authenticator.authenticate(credentials));
    } catch (error) {
      const { code, reason } = refusal(error);
      extra.socket.close(code, reason);
      return false;
    }
    this.scheduleExpiry(extra, credentials);
    return true;
  }

  /**
   * At the token's `exp` the same check runs again, and the socket closes (4403, which a
   * graphql-ws client retries with fresh connectionParams) when it fails — REST's clock skew
   * included, so a subscription lives exactly as long as a request with that token is accepted.
   */
  private scheduleExpiry(extra: Extra, credentials: IncomingHttpHeaders): void {
    clearTimeout(extra.expiry);
    const exp = callers.get(extra.socket)?.claims.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return;
    const wait = exp * 1000 - this.now();
    extra.expiry = setTimeout(
      () => {
        this.options.authenticator.authenticate(credentials).then(
          (caller) => {
            callers.set(extra.socket, caller);
            this.scheduleExpiry(extra, credentials);
          },
          (error: unknown) => {
            this.options.log.debug({ err: error }, 'GraphQL WebSocket token expired');
            const { reason } = refusal(error);
            extra.socket.close(CloseCode.Forbidden, reason);
          },
        );
      },
      wait > 0 ? Math.min(wait, MAX_TIMER_MS) : RECHECK_MS,
    );
    extra.expiry.unref();
  }

  /** The server is stopping: sockets close with 1001 (graphql-ws clients reconnect elsewhere). */
  shutdown(): void {
    for (const ws of this.sockets) ws.close(1001, 'Going away');
  }

  close(): void {
    this.shutdown();
    this.wss.close();
  }
}

interface Extra {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
  expiry?: NodeJS.Timeout;
}
