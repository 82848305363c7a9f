// First: PostGraphile needs Promise.withResolvers, which Node 20 lacks (decision 0025).
import './node20.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { makeSchema } from 'postgraphile';
import { grafserv } from 'postgraphile/grafserv/fastify/v5';
import { GraphQLError, type GraphQLSchema, getOperationAST, Kind, parse } from 'postgraphile/graphql';
import type { Authenticator, Caller, ScopeNeed } from '../auth/caller.js';
import { checkScopes } from '../auth/scopes.js';
import type { Config } from '../config.js';
import { searchPathValue } from '../db/context.js';
import type { Database } from '../db/database.js';
import { loadRoleSettings } from '../db/role-settings.js';
import { ApiError, isApiError } from '../errors.js';
import { sendApiError } from '../http/own-body.js';
import { type Logger, step } from '../log.js';
import { loadPersistedOperations, type PersistedOperations, requestedHash } from './persisted.js';
import { GRAPHQL_PATH, graphqlPreset } from './preset.js';
import { GraphqlWebSocket, socketCaller } from './websocket.js';

export interface GraphqlPluginOptions {
  readonly db: Database;
  readonly config: Config;
  readonly authenticator: Authenticator;
  readonly log: Logger;
  /** Receives the function that starts building the schema (`serve` calls it once it is listening). */
  readonly control: { build: () => void };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Starts building the GraphQL schema now rather than on its first request. */
    buildGraphqlSchema(): void;
  }
  interface FastifyRequest {
    /** Who a GraphQL request is from, set before PostGraphile sees it. */
    graphqlCaller?: Caller;
  }
}

/** The browser asking for the Ruru page (development only): no data, so no key needed. */
const wantsPage = (request: FastifyRequest) =>
  request.method === 'GET' && (request.headers.accept ?? '').includes('text/html');

/**
 * `/graphql/v1`: PostGraphile's schema served by grafserv in this plugin's own Fastify context.
 * Callers are authenticated as for REST (the `apikey` and `Authorization` headers, the same
 * errors); their role, claims and the role's own settings become the transaction's settings, so
 * RLS answers GraphQL exactly as it answers REST. The schema (seconds of CPU) is built in the
 * background — by a production `serve` once it is ready, else on the first GraphQL request (a
 * test server that never serves GraphQL never builds it) — so start-up never waits for it;
 * requests that arrive meanwhile do.
 */
export async function graphqlPlugin(app: FastifyInstance, options: GraphqlPluginOptions): Promise<void> {
  const { db, config, authenticator, log } = options;
  const development = !config.production;
  const roleSettings = await step(log, 'graphql: role settings', () =>
    loadRoleSettings(db, [config.db.anonRole, 'anon', 'authenticated', 'service_role']),
  );
  const persisted =
    config.graphql.persistedOperations === undefined
      ? undefined
      : await loadPersistedOperations(config.graphql.persistedOperations);
  const preset = graphqlPreset({
    db,
    limits: { ...config.graphql, hideSuggestions: !development },
    schemas: config.db.schemas,
    searchPath: searchPathValue(config.db.extraSearchPath),
    development,
    log,
    settingsOf: (requestContext) => {
      // What grafserv's graphql-ws configuration puts in the context (its node adaptor's type).
      const socket = (requestContext as { ws?: { socket?: object } }).ws;
      if (socket !== undefined) {
        // An operation over the WebSocket: the caller its connection_init authenticated. It is
        // recorded as a POST, the method GraphQL over HTTP sends operations with.
        const caller = socketCaller(socket.socket);
        if (caller === undefined) return undefined;
        return { caller, method: 'POST', roleSettings: roleSettings[caller.role] ?? {} };
      }
      const request = requestContext.fastifyv5?.request;
      const caller = request?.graphqlCaller;
      if (request === undefined || caller === undefined) return undefined;
      return { caller, method: request.method, roleSettings: roleSettings[caller.role] ?? {}, clientIp: request.ip };
    },
  });
  const schema = Promise.withResolvers<GraphQLSchema>();
  const serv = grafserv({ preset, schema: schema.promise });
  let built: ReturnType<typeof makeSchema> | undefined;
  const build = () => {
    if (built !== undefined) return;
    log.debug({ step: 'graphql schema' }, 'building the GraphQL schema');
    built = makeSchema(preset);
    built.then(
      (result) => schema.resolve(result.schema),
      (error: unknown) => {
        log.error({ err: error }, 'the GraphQL schema could not be built');
        schema.reject(error);
      },
    );
  };
  options.control.build = build;

  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith(GRAPHQL_PATH)) return;
    build();
    if (development && wantsPage(request)) return;
    try {
      request.graphqlCaller = await authenticator.authenticate(request.headers);
    } catch (error) {
      if (isApiError(error)) return sendApiError(reply, error);
      throw error;
    }
  });
  // After the body is read, before grafserv sees it: batches, persisted operations, API key scopes.
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST' || !request.url.startsWith(GRAPHQL_PATH)) return;
    const refused = admit(request.body, persisted);
    if (refused !== undefined) return sendGraphqlError(reply, refused);
    const outOfScope = scopeRefusal(request.graphqlCaller, request.body as GraphqlBody);
    if (outOfScope !== undefined) return sendApiError(reply, outOfScope);
  });
  await serv.addTo(app);
  const websocket = new GraphqlWebSocket({
    serv,
    authenticator,
    log,
    // An operation over the socket passes the same gates as one over HTTP (a message is one
    // operation, so there is no batch to refuse).
    admit: (caller, payload) => {
      const refused = admit(payload, persisted);
      if (refused !== undefined) return new GraphQLError(refused.message, { extensions: { code: refused.code } });
      const outOfScope = scopeRefusal(caller, payload as GraphqlBody);
      if (outOfScope === undefined) return undefined;
      const { code, status, details, hint } = outOfScope;
      return new GraphQLError(outOfScope.message, { extensions: { code, status, details, hint } });
    },
    schemaBuilt: () => {
      build();
      return schema.promise;
    },
  });
  app.upgrades.route(GRAPHQL_PATH, websocket.upgrade);
  app.addHook('preClose', async () => {
    app.upgrades.remove(GRAPHQL_PATH);
    websocket.shutdown();
  });
  app.addHook('onClose', async () => {
    websocket.close();
    await serv.release();
    const result = await built?.catch(() => undefined);
    for (const service of result?.resolvedPreset.pgServices ?? []) await service.release?.();
  });
}

/** The JSON body of one GraphQL request, as clients send it. */
interface GraphqlBody {
  query?: unknown;
  operationName?: unknown;
  documentId?: unknown;
  extensions?: unknown;
}

interface Refusal {
  readonly status: number;
  readonly message: string;
  readonly code: string;
}

/**
 * Whether grafserv may run this body: one operation per request (a JSON array of operations,
 * "batching", is refused: each operation would otherwise escape the per-request limits), and, with
 * persisted operations on, one of them, whose document then replaces whatever `query` was sent.
 */
function admit(body: unknown, persisted: PersistedOperations | undefined): Refusal | undefined {
  if (Array.isArray(body)) {
    return {
      status: 400,
      code: 'LOCO_GRAPHQL_BATCH',
      message: `Batched requests (a JSON array of ${body.length} operations) are not accepted; send one operation per request.`,
    };
  }
  if (persisted === undefined) return undefined;
  const notPersisted = (message: string): Refusal => ({ status: 400, code: 'LOCO_GRAPHQL_NOT_PERSISTED', message });
  if (body === null || typeof body !== 'object') {
    return notPersisted('Only persisted operations run here; send a JSON body naming one by its hash.');
  }
  const fields = body as GraphqlBody;
  const hash = requestedHash(fields as Record<string, unknown>);
  if (hash === undefined) {
    return notPersisted(
      'Only persisted operations run here; name one by extensions.persistedQuery.sha256Hash or documentId ("sha256:<hex>") instead of sending its text.',
    );
  }
  const document = persisted.get(hash);
  if (document === undefined) return notPersisted(`No persisted operation has the hash ${hash}.`);
  fields.query = document;
  return undefined;
}

function sendGraphqlError(reply: FastifyReply, refusal: Refusal) {
  return reply
    .status(refusal.status)
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify({ errors: [{ message: refusal.message, extensions: { code: refusal.code } }] }));
}

/** 403 LOCO_AUTH_SCOPE when the caller's API key may not run this operation. */
function scopeRefusal(caller: Caller | undefined, body: GraphqlBody | undefined): ApiError | undefined {
  if (caller?.apiKey === undefined) return undefined;
  try {
    checkScopes(caller, scopeNeeds(body));
    return undefined;
  } catch (error) {
    if (!isApiError(error)) throw error;
    return new ApiError('LOCO_AUTH_SCOPE', {
      details: error.details,
      hint: 'one GraphQL operation can reach any table, so an API key needs *:read (and *:write for mutations) here; a key scoped to some tables can use /rest/v1',
    });
  }
}

/**
 * What an API key needs over GraphQL: an operation may read any table (relations, `node`), so
 * `*:read`, and a mutation may also write any, so `*:write` too. Decision 0025, slice 2.
 */
function scopeNeeds(body: GraphqlBody | undefined): ScopeNeed[] {
  const needs: ScopeNeed[] = [{ resource: '*', action: 'read' }];
  if (isMutation(body)) needs.push({ resource: '*', action: 'write' });
  return needs;
}

/** Whether the operation to run is a mutation (a document grafserv will refuse is not). */
function isMutation(body: GraphqlBody | undefined): boolean {
  if (typeof body?.query !== 'string') return false;
  try {
    const document = parse(body.query);
    const name = typeof body.operationName === 'string' ? body.operationName : undefined;
    const operation = getOperationAST(document, name);
    if (operation != null) return operation.operation === 'mutation';
    // Several operations and no name: refused by grafserv; count any mutation among them.
    return document.definitions.some((d) => d.kind === Kind.OPERATION_DEFINITION && d.operation === 'mutation');
  } catch {
    return false;
  }
}
