// First: PostGraphile needs Promise.withResolvers, which Node 20 lacks (decision 0025).
import './node20.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { makeSchema } from 'postgraphile';
import { grafserv } from 'postgraphile/grafserv/fastify/v5';
import type { GraphQLSchema } from 'postgraphile/graphql';
import type { Authenticator, Caller } from '../auth/caller.js';
import type { Config } from '../config.js';
import { searchPathValue } from '../db/context.js';
import type { Database } from '../db/database.js';
import { loadRoleSettings } from '../db/role-settings.js';
import { isApiError } from '../errors.js';
import { sendApiError } from '../http/own-body.js';
import { type Logger, step } from '../log.js';
import { GRAPHQL_PATH, graphqlPreset } from './preset.js';

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
  const preset = graphqlPreset({
    db,
    schemas: config.db.schemas,
    searchPath: searchPathValue(config.db.extraSearchPath),
    development,
    log,
    settingsOf: (requestContext) => {
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
  await serv.addTo(app);
  app.addHook('onClose', async () => {
    await serv.release();
    const result = await built?.catch(() => undefined);
    for (const service of result?.resolvedPreset.pgServices ?? []) await service.release?.();
  });
}
