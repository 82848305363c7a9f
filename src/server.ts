import { randomUUID } from 'node:crypto';
import type { Server as HttpServer, RequestListener } from 'node:http';
import cors from '@fastify/cors';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { createAuthenticator } from './auth/authenticate.js';
import type { ClerkSyncFlag, Config } from './config.js';
import type { Database } from './db/database.js';
import { functionsPlugin } from './functions/plugin.js';
import { FunctionRegistry } from './functions/registry.js';
import { graphqlPlugin } from './graphql/plugin.js';
import { healthPlugin } from './health/plugin.js';
import { UpgradeRoutes } from './http/upgrade.js';
import { clerkAccounts } from './integrations/clerk/accounts.js';
import { clerkWebhookPlugin } from './integrations/clerk/plugin.js';
import { createStripeClient } from './integrations/stripe/client.js';
import { BUILT_IN_FUNCTIONS, stripeFunctionsPlugin } from './integrations/stripe/functions.js';
import { stripeWebhookPlugin } from './integrations/stripe/plugin.js';
import type { Logger } from './log.js';
import { realtimePlugin } from './realtime/plugin.js';
import { restPlugin } from './rest/plugin.js';
import { storagePlugin } from './storage/plugin.js';

export interface ServerDeps {
  readonly db: Database;
  readonly config: Config;
  readonly log: Logger;
  /** The project JWT secret (src/auth/secret.ts resolves it). */
  readonly jwtSecret: string;
  /**
   * An HTTP server that is already listening (`loconomy serve` binds its port before the slow
   * start-up work): Fastify is handed its request handler instead of creating a server.
   */
  readonly server?: { readonly http: HttpServer; readonly attach: (handler: RequestListener) => void };
  /**
   * One log line per request ("GET /path → 200 (3 ms)") instead of Fastify's two, for the
   * console people read (LOG_FORMAT=pretty).
   */
  readonly oneLineRequests?: boolean;
}

/** A request that has not been fully received after this long is answered 408. */
export const REQUEST_TIMEOUT_MS = 60_000;

/** A caller's X-Request-Id is kept when it is short and plain; otherwise one is made. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Largest request body accepted (bulk inserts included); larger ones get 413. */
export const BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/** Methods, and headers supabase-js and PostgREST clients send and read, for CORS as Supabase answers it. */
const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS'];
const CORS_ALLOWED = [
  'authorization',
  'apikey',
  'content-type',
  'accept',
  'accept-profile',
  'content-profile',
  'prefer',
  'range',
  'range-unit',
  'x-client-info',
  'x-request-id',
  'x-supabase-api-version',
  // storage-js (uploads).
  'x-upsert',
  'x-metadata',
  'cache-control',
];
const CORS_EXPOSED = [
  'content-range',
  'content-location',
  'location',
  'preference-applied',
  'retry-after',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-request-id',
  // Storage downloads.
  'content-length',
  'content-disposition',
  'etag',
  'last-modified',
  'accept-ranges',
];

/**
 * One JSON log line per request, when it completes: the request as Fastify's "incoming
 * request" line shows it, the status and the time. Fastify writes two lines per request; each is
 * a serialisation and a synchronous write to stdout, which cost about 9% of a small request's
 * CPU (docs/benchmarks.md, "Node CPU per REST request"). The incoming line is kept at debug.
 */
class OneJsonLinePerRequest extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    if (error)
      reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/** Fastify's request log lines, as one line per request: "GET /path → 200 (3 ms)". */
class OneLineRequests extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = `${request.method} ${request.url} → ${reply.statusCode} (${Math.round(reply.elapsedTime)} ms)`;
    if (error) reply.log.error({ err: error }, line);
    else reply.log.info(line);
  }
}

/**
 * The HTTP server: only composes capability plugins (STYLE.md 10). Each request logs with its
 * request id, which is echoed in the X-Request-Id response header.
 */
export async function buildServer({
  db,
  config,
  log,
  jwtSecret,
  server,
  oneLineRequests = false,
}: ServerDeps): Promise<FastifyInstance> {
  // First: a project function with a built-in's name (or defined twice) refuses the start.
  const functions = await FunctionRegistry.open({
    dir: config.functions.dir,
    reserved: BUILT_IN_FUNCTIONS,
    defaults: { timeoutMs: config.functions.timeoutMs, bodyLimit: config.functions.bodyLimit },
    watch: config.functions.watch,
    log,
  });
  try {
    return await composeServer({ db, config, log, jwtSecret, server, oneLineRequests }, functions);
  } catch (error) {
    // Its folder watcher would outlive a server that never started (on Node 22 it keeps the
    // process alive: a recursive watcher's unref() does not hold there).
    functions.close();
    throw error;
  }
}

async function composeServer(
  { db, config, log, jwtSecret, server, oneLineRequests = false }: ServerDeps,
  functions: FunctionRegistry,
): Promise<FastifyInstance> {
  const app = Fastify({
    ...(server && {
      serverFactory: (handler: RequestListener) => {
        server.attach(handler);
        return server.http;
      },
    }),
    loggerInstance: log as FastifyBaseLogger,
    requestIdHeader: false,
    logController: oneLineRequests ? new OneLineRequests() : new OneJsonLinePerRequest(),
    // request.ip: the socket peer, or X-Forwarded-For from the proxies LOCONOMY_TRUST_PROXY names.
    trustProxy: typeof config.trustProxy === 'boolean' ? config.trustProxy : [...config.trustProxy],
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout: REQUEST_TIMEOUT_MS,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  await app.register(cors, {
    origin: true,
    // As strings: @fastify/cors joins a list on every request (exposed) or preflight.
    methods: CORS_METHODS.join(', '),
    allowedHeaders: CORS_ALLOWED.join(', '),
    exposedHeaders: CORS_EXPOSED.join(', '),
    maxAge: 86_400,
  });
  await app.register(healthPlugin, { db });
  // The sync functions get the trusted keys, and `organizations` when organisations are tenants.
  const clerkFlags: ClerkSyncFlag[] = [
    ...config.clerk.trustedMetadata,
    ...(config.clerk.organizationTenants ? (['organizations'] as const) : []),
  ];
  const accounts = clerkAccounts(db, clerkFlags, log);
  const authenticator = createAuthenticator({
    db,
    jwtSecret,
    anonRole: config.db.anonRole,
    clerk: { jwksUrl: config.clerk.jwksUrl, jwtKey: config.clerk.jwtKey },
    log,
    ensureClerkAccount: accounts.ensure,
  });
  // WebSockets (realtime, GraphQL subscriptions) share the port, each on its path.
  const upgrades = new UpgradeRoutes(app.server, log);
  app.decorate('upgrades', upgrades);
  app.addHook('onClose', async () => upgrades.close());
  await app.register(restPlugin, { prefix: '/rest/v1', db, config, authenticator, log });
  const graphqlSchema = { build: () => {} };
  app.decorate('buildGraphqlSchema', () => graphqlSchema.build());
  await app.register(graphqlPlugin, { db, config, authenticator, log, control: graphqlSchema });
  await app.register(realtimePlugin, { prefix: '/realtime/v1', db, authenticator, limits: config.realtime, log });
  await app.register(storagePlugin, { prefix: '/storage/v1', db, config, authenticator, jwtSecret, log });
  await app.register(clerkWebhookPlugin, {
    db,
    secret: config.clerk.webhookSecret,
    trusted: clerkFlags,
    accounts,
    log,
  });
  // Stripe (docs/payments.md): unconfigured, its routes answer 503 and nothing else changes.
  await app.register(stripeWebhookPlugin, { db, settings: config.stripe, log });
  await app.register(stripeFunctionsPlugin, {
    prefix: '/functions/v1',
    db,
    authenticator,
    stripe: createStripeClient(config.stripe),
    settings: config.stripe,
    log,
  });
  // The project's own functions (docs/functions.md), beside the built-in ones.
  await app.register(functionsPlugin, {
    prefix: '/functions/v1',
    registry: functions,
    db,
    authenticator,
    anonRole: config.db.anonRole,
    production: config.production,
    builtIn: BUILT_IN_FUNCTIONS,
    log,
  });
  return app;
}
