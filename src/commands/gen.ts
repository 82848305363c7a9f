import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadConfig } from '../config.js';
import { LoconomyError } from '../errors.js';
import { loadTypeCatalog } from '../gen/catalog.js';
import { renderTypes } from '../gen/types.js';
import { createLogger, silentLogger, step } from '../log.js';
import { requireMigrated, withDatabase } from './context.js';

export interface GenTypesOptions {
  /** Schema names (each may also be a comma-separated list); default LOCONOMY_DB_SCHEMAS. */
  schema?: string[];
  /** Write here instead of stdout. */
  output?: string;
}

/**
 * `loconomy gen types [--schema <name...>] [--output <file>]`: the Supabase-style `Database`
 * type of the exposed schemas (src/gen/types.ts). On stdout it prints the types and nothing
 * else, like `keys`, so `loconomy gen types > database.types.ts` works; with --output it logs
 * what it wrote. It reads the database and never changes it: a database with pending
 * migrations is refused, as its types would not be those of the schema the server serves.
 */
export async function genTypes(options: GenTypesOptions): Promise<void> {
  const config = loadConfig();
  const log = options.output === undefined ? silentLogger() : createLogger(config.logLevel);
  const given = options.schema?.flatMap((s) => s.split(',')).map((s) => s.trim());
  if (given?.some((s) => s === '')) {
    throw new LoconomyError('LOCO_CLI_USAGE', '--schema names must not be empty', 'run `loconomy gen types --help`');
  }
  const schemas = [...new Set(given ?? config.db.schemas)];
  const text = await withDatabase({ config, log }, async (db) => {
    await requireMigrated(db, 'so the types describe the schema the server serves');
    const catalog = await step(log, 'read catalog', () => loadTypeCatalog(db, schemas));
    const missing = schemas.filter((s) => !catalog.existing.has(s));
    if (missing.length > 0) {
      throw new LoconomyError(
        'LOCO_CLI_USAGE',
        `${missing.length === 1 ? 'schema' : 'schemas'} ${missing.map((s) => JSON.stringify(s)).join(', ')} ${
          missing.length === 1 ? 'does' : 'do'
        } not exist in the database`,
        given ? 'check the names given to --schema' : 'check LOCONOMY_DB_SCHEMAS',
      );
    }
    return renderTypes(catalog);
  });
  if (options.output === undefined) {
    process.stdout.write(text);
    return;
  }
  const file = resolve(options.output);
  await writeFile(file, text);
  log.info({ file, schemas, bytes: Buffer.byteLength(text) }, `wrote the types of ${schemas.join(', ')} to ${file}`);
}

export interface GenGraphqlOptions {
  /** Write here instead of stdout. */
  output?: string;
}

/**
 * `loconomy gen graphql [--output <file>]`: the GraphQL schema (SDL) `/graphql/v1` serves for the
 * database, as `schema.graphql` in the repository holds it (a test checks that file is current).
 * Like `gen types`, stdout carries the schema only, and a database with pending migrations is refused.
 */
export async function genGraphql(options: GenGraphqlOptions): Promise<void> {
  const config = loadConfig();
  const log = options.output === undefined ? silentLogger() : createLogger(config.logLevel);
  const { printGraphqlSchema } = await import('../graphql/print.js');
  const text = await withDatabase({ config, log }, async (db) => {
    await requireMigrated(db, 'so the schema printed is the one the server serves');
    return step(log, 'build GraphQL schema', () => printGraphqlSchema(db, config, log));
  });
  if (options.output === undefined) {
    process.stdout.write(text);
    return;
  }
  const file = resolve(options.output);
  await writeFile(file, text);
  log.info({ file, bytes: Buffer.byteLength(text) }, `wrote the GraphQL schema to ${file}`);
}
