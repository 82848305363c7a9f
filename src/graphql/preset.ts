import { PgSimplifyInflectionPreset } from '@graphile/simplify-inflection';
import { makePgService } from 'postgraphile/adaptors/pg';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { jsonPgSmartTags } from 'postgraphile/utils';
import { PostGraphileConnectionFilterPreset } from 'postgraphile-plugin-connection-filter';
import type { Caller } from '../auth/caller.js';
import type { Database } from '../db/database.js';
import type { PgliteDatabase } from '../db/pglite.js';
import type { PostgresDatabase } from '../db/postgres.js';
import type { Logger } from '../log.js';
import { graphqlErrorMasker } from './errors.js';
import { GeoJsonPlugin } from './geojson.js';
import { type GraphqlLimits, limitsPlugin } from './limits.js';
import { createWithPgClient, PgliteSubscriber } from './pglite-adaptor.js';
import { createWithPgClient as createPostgresWithPgClient } from './postgres-adaptor.js';
import { SubscriptionsPlugin } from './subscriptions.js';

/*
 * The GraphQL schema is generated from the database by PostGraphile 5, as `/rest/v1` is derived
 * by the REST layer: the same exposed schemas, roles and RLS. Decision 0025.
 */

/** The path Supabase serves pg_graphql on. */
export const GRAPHQL_PATH = '/graphql/v1';

/** What a GraphQL request runs with: the caller's role and claims, as a REST request does. */
export interface GraphqlRequestSettings {
  readonly caller: Caller;
  readonly method: string;
  /** The role's own settings (ALTER ROLE … SET: statement_timeout), which SET LOCAL ROLE does not apply. */
  readonly roleSettings: Readonly<Record<string, string>>;
  readonly clientIp?: string;
}

export interface GraphqlPresetOptions {
  readonly db: Database;
  /** What one operation may ask for, and whether introspection is on (src/graphql/limits.ts). */
  readonly limits: GraphqlLimits;
  readonly schemas: readonly string[];
  /** search_path for requests, as REST sets it (already quoted). */
  readonly searchPath: string;
  /** Development tools (Ruru) and detailed errors; off in production. */
  readonly development: boolean;
  readonly log: Logger;
  /** The settings of the request being served (from the Fastify request). */
  readonly settingsOf: (requestContext: Partial<Grafast.RequestContext>) => GraphqlRequestSettings | undefined;
}

/**
 * Names the generated schema would otherwise give twice: the `subscriptions` table's type would be
 * the root `Subscription` type, and `user_addresses` has both a `city` column and a `city_id`
 * relation that simplify-inflection would also call `city`.
 */
const SmartTagsPlugin = jsonPgSmartTags({
  version: 1,
  config: {
    class: {
      subscriptions: { tags: { name: 'billing_subscriptions' } },
    },
    constraint: {
      user_addresses_city_id_fkey: { tags: { fieldName: 'cityByCityId' } },
    },
  },
});

/**
 * Columns keep their names, `id` included, as REST's JSON has them; the Relay global id is
 * `nodeId` (as Supabase's pg_graphql names it) rather than PostGraphile's default `id`, which
 * would rename every `id` column to `rowId`.
 */
const ColumnIdPlugin: GraphileConfig.Plugin = {
  name: 'LoconomyColumnIdPlugin',
  version: '1.0.0',
  inflection: {
    replace: {
      nodeIdFieldName: () => 'nodeId',
      _attributeName(previous, _options, details) {
        return (previous as NonNullable<typeof previous>).call(this, { ...details, skipRowId: true });
      },
    },
  },
};

/** Transaction-local settings of a request: the same names REST sets (src/db/context.ts). */
export function pgSettingsFor(settings: GraphqlRequestSettings, searchPath: string): Record<string, string> {
  const { caller } = settings;
  return {
    ...settings.roleSettings,
    role: caller.role,
    'request.jwt.claims': JSON.stringify(caller.claims),
    'request.method': settings.method,
    'request.path': GRAPHQL_PATH,
    search_path: searchPath,
    ...(settings.clientIp !== undefined && { 'request.client_ip': settings.clientIp }),
  };
}

function pgService(options: GraphqlPresetOptions) {
  const common = {
    name: 'main',
    schemas: [...options.schemas],
    // What `authenticated` may do decides which mutations exist (PgRBACPlugin reads grants as the
    // introspecting role): a table it cannot insert into gets no create mutation.
    pgSettingsForIntrospection: { role: 'authenticated' },
    pgSettings: (requestContext: Partial<Grafast.RequestContext>) => {
      const settings = options.settingsOf(requestContext);
      // Schema printing and introspection outside a request run as `anon`.
      return settings === undefined
        ? { role: 'anon', search_path: options.searchPath }
        : pgSettingsFor(settings, options.searchPath);
    },
  };
  if (options.db.kind === 'postgres') {
    const db = options.db as PostgresDatabase;
    // The stock service (its LISTEN subscriber on the pool), with queries run by Loconomy's adaptor.
    const service = makePgService({ ...common, pool: db.pool });
    return {
      ...service,
      adaptor: { createWithPgClient: createPostgresWithPgClient, makePgService: () => never() },
      adaptorSettings: { db },
    } as unknown as ReturnType<typeof makePgService>;
  }
  const pglite = (options.db as PgliteDatabase).pglite;
  const subscriber = new PgliteSubscriber(pglite);
  return {
    ...common,
    withPgClientKey: 'withPgClient' as const,
    pgSettingsKey: 'pgSettings' as const,
    pgSubscriberKey: 'pgSubscriber' as const,
    pgSubscriber: subscriber,
    adaptor: { createWithPgClient, makePgService: () => never() },
    adaptorSettings: { pglite },
    release: () => subscriber.release(),
  } as unknown as ReturnType<typeof makePgService>;
}

function never(): never {
  throw new Error("Loconomy's adaptors are configured by src/graphql/preset.ts, not makePgService");
}

export function graphqlPreset(options: GraphqlPresetOptions): GraphileConfig.Preset {
  return {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset, PostGraphileConnectionFilterPreset],
    plugins: [SmartTagsPlugin, ColumnIdPlugin, GeoJsonPlugin, limitsPlugin(options.limits), SubscriptionsPlugin],
    pgServices: [pgService(options)],
    grafserv: {
      graphqlPath: GRAPHQL_PATH,
      graphiql: options.development,
      graphiqlOnGraphQLGET: options.development,
      graphiqlPath: `${GRAPHQL_PATH}/ruru`,
      // The WebSocket is src/graphql/websocket.ts's, beside realtime's on the same port: grafserv's
      // own would need @fastify/websocket and authenticate nobody (decision 0025 "Subscriptions").
      websockets: false,
      // The first request waits for the schema, built on demand (src/graphql/plugin.ts).
      schemaWaitTime: 120_000,
      maskError: graphqlErrorMasker(options.log, options.development),
      // grafast writes the response's data as JSON text as it walks the plan's output, instead
      // of building objects that are then stringified: 10–20 % less Node CPU per request in
      // alternated runs (docs/benchmarks.md).
      outputDataAsString: true,
    },
    schema: {
      // Filters only on what an index serves, as the plugin's default; ordering likewise.
      connectionFilterAllowNullInput: false,
      connectionFilterAllowEmptyObjectInput: false,
    },
  };
}
