import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError, isApiError } from '../errors.js';
import type { Logger } from '../log.js';

/** Handles one WebSocket upgrade request: answers it (refuse) or hands the socket to `ws`. */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The WebSocket paths of the server (realtime, GraphQL), one `upgrade` listener for all. */
    upgrades: UpgradeRoutes;
  }
}

/**
 * The HTTP server's `upgrade` event routed by path: realtime (`/realtime/v1/websocket`) and
 * GraphQL (`/graphql/v1`) share the port, each claiming its path; any other path is refused with
 * PGRST125, as an unknown URL is over HTTP, so a bad URL never opens a socket.
 */
export class UpgradeRoutes {
  private readonly routes = new Map<string, UpgradeHandler>();
  private readonly listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (error) => this.log.debug({ err: error }, 'upgrade socket error'));
    const path = new URL(request.url ?? '/', 'http://loconomy.invalid').pathname.replace(/\/+$/, '');
    const handler = this.routes.get(path);
    if (handler === undefined) {
      return refuseUpgrade(socket, new ApiError('PGRST125', { message: 'Invalid path specified in request URL' }));
    }
    handler(request, socket, head).catch((error: unknown) => {
      this.log.error({ err: error, path }, 'a WebSocket upgrade failed');
      socket.destroy();
    });
  };

  constructor(
    private readonly server: Server,
    private readonly log: Logger,
  ) {
    server.on('upgrade', this.listener);
  }

  /** Claims a path (without a trailing slash) until `remove`. */
  route(path: string, handler: UpgradeHandler): void {
    if (this.routes.has(path)) throw new Error(`the WebSocket path ${path} is claimed twice`);
    this.routes.set(path, handler);
  }

  /** Gives a path up (its plugin is closing): upgrades to it are refused from now on. */
  remove(path: string): void {
    this.routes.delete(path);
  }

  close(): void {
    this.server.off('upgrade', this.listener);
    this.routes.clear();
  }
}

/** Answers the upgrade request with the API's JSON error and closes the socket. */
export function refuseUpgrade(socket: Duplex, error: unknown): void {
  const apiError = isApiError(error) ? error : new ApiError('LOCO_INTERNAL');
  const body = JSON.stringify(apiError.toJSON());
  const headers = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
    ...apiError.headers,
  };
  const head = [
    `HTTP/1.1 ${apiError.status} ${STATUS_CODES[apiError.status] ?? 'Error'}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}
