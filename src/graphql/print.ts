import './node20.js';
import { makeSchema } from 'postgraphile';
import { lexicographicSortSchema, printSchema } from 'postgraphile/graphql';
import type { Config } from '../config.js';
import { searchPathValue } from '../db/context.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../log.js';
import { graphqlPreset } from './preset.js';

/**
 * The GraphQL schema `/graphql/v1` serves for this database, as SDL with types and fields in
 * alphabetical order, so the committed `schema.graphql` changes only where the API does.
 */
export async function printGraphqlSchema(db: Database, config: Config, log: Logger): Promise<string> {
  const preset = graphqlPreset({
    db,
    limits: { ...config.graphql, hideSuggestions: true },
    schemas: config.db.schemas,
    searchPath: searchPathValue(config.db.extraSearchPath),
    development: false,
    log,
    settingsOf: () => undefined,
  });
  const { schema, resolvedPreset } = await makeSchema(preset);
  for (const service of resolvedPreset.pgServices ?? []) await service.release?.();
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
