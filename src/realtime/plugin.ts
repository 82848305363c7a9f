import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { WebSocketServer } from 'ws';
import type { Authenticator } from '../auth/caller.js';
import type { RealtimeLimits } from '../config.js';
import type { Database } from '../db/database.js';
import { ApiError, isApiError } from '../errors.js';
import { sendApiError } from '../http/own-body.js';
import { refuseUpgrade as refuse } from '../http/upgrade.js';
import type { Logger } from '../log.js';
import { authenticateChannel } from './auth.js';
import { ChangeFeed } from './changes.js';
import type { RealtimeContext } from './channel.js';
import { SqlBroadcasts } from './from-sql.js';
import { broadcastRoutes } from './http.js';
import { Hub } from './hub.js';
import { BroadcastRelay } from './relay.js';
import { DEFAULT_VSN, type Vsn } from './serializer.js';
import { Connection } from './socket.js';
import { PresenceTracker } from './tracker.js';

export interface RealtimePluginOptions {
  readonly db: Database;
  readonly authenticator: Authenticator;
  readonly limits: RealtimeLimits;
  readonly log: Logger;
}

/** Where supabase-js connects: `new URL('realtime/v1', url)` plus Phoenix's `/websocket`. */
export const WEBSOCKET_PATH = '/realtime/v1/websocket';
const VERSIONS: readonly string[] = ['1.0.0', '2.0.0'];
/** Frame headroom beyond the payload limit: topic, event, refs and JSON around the payload. */
const FRAME_OVERHEAD_BYTES = 64 * 1024;

/**
 * Realtime at `/realtime/v1` (registered with that prefix): the WebSocket endpoint, handled
 * on the HTTP server's `upgrade` event with `ws`, and the HTTP broadcast endpoints. The
 * upgrade is refused with REST's error (401, 403…) when the `apikey` does not verify, so a
 * bad key never opens a socket.
 */
export async function realtimePlugin(app: FastifyInstance, options: RealtimePluginOptions): Promise<void> {
  const { db, authenticator, limits, log } = options;
  const hub = new Hub();
  const relay = new BroadcastRelay(db, hub, log);
  const tracker = new PresenceTracker(relay, hub, limits.presenceIntervalMs, log);
  const ctx: RealtimeContext = { hub, relay, tracker, db, authenticator, limits, log, now: Date.now };
  // Listening before the first join, so a subscription's "Subscribed to PostgreSQL" is true.
  const feed = new ChangeFeed(db, hub, log);
  await feed.start();
  const fromSql = new SqlBroadcasts(db, hub, log);
  await fromSql.start();
  await relay.start();
  tracker.start();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxPayloadBytes + FRAME_OVERHEAD_BYTES,
    perMessageDeflate: false,
  });
  const connections = new Set<Connection>();

  // The upgrade router (src/http/upgrade.ts) sends only this path here.
  async function onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://loconomy.invalid');
    const vsn = url.searchParams.get('vsn') ?? DEFAULT_VSN;
    if (!VERSIONS.includes(vsn)) {
      return refuse(
        socket,
        new ApiError('LOCO_REALTIME_INVALID', {
          details: `vsn ${JSON.stringify(vsn).slice(0, 40)} is not a serializer version`,
          hint: 'connect with vsn=1.0.0 or vsn=2.0.0',
        }),
      );
    }
    const header = request.headers.apikey;
    const apikey = url.searchParams.get('apikey') ?? (typeof header === 'string' ? header : undefined);
    try {
      await authenticateChannel(authenticator, apikey, undefined);
    } catch (error) {
      return refuse(socket, error);
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const connection = new Connection(ctx, ws, vsn as Vsn, apikey);
      connections.add(connection);
      ws.on('close', () => connections.delete(connection));
    });
  }

  app.upgrades.route(WEBSOCKET_PATH, onUpgrade);
  app.addHook('preClose', async () => {
    app.upgrades.remove(WEBSOCKET_PATH);
    for (const connection of connections) connection.shutdown();
  });
  app.addHook('onClose', async () => {
    await feed.stop();
    tracker.stop();
    await fromSql.stop();
    await relay.stop();
    wss.close();
  });

  broadcastRoutes(app, ctx);
  app.setErrorHandler((error, request, reply) => {
    const apiError = toApiError(error);
    if (apiError.status >= 500) log.error({ err: error, reqId: request.id }, 'unexpected error in realtime');
    return sendApiError(reply, apiError);
  });
}

/** Fastify's own body errors as the API's errors; anything else is a 500. */
function toApiError(error: unknown): ApiError {
  if (isApiError(error)) return error;
  switch ((error as { code?: string }).code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('LOCO_BODY_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('PGRST107', { message: 'Send the payload as application/json or application/octet-stream' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError('PGRST102', { message: 'Empty or invalid json' });
  }
  return new ApiError('LOCO_INTERNAL');
}
