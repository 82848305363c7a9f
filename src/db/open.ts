import type { Config } from '../config.js';
import { LoconomyError, oneLine } from '../errors.js';
import { type Logger, step } from '../log.js';
import { searchPathValue } from './context.js';
import type { Database } from './database.js';
import { sql } from './sql.js';

/**
 * Opens the database the configuration names: PostgreSQL when DATABASE_URL is set, otherwise
 * the embedded PGlite under the data directory. On PostgreSQL the first query proves the
 * connection and that PostGIS can be created, so both problems surface as one clear line
 * before any migration starts.
 */
export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  const searchPath = searchPathValue(config.db.extraSearchPath);
  if (config.databaseUrl === undefined) {
    const { openPglite } = await step(log, 'load PGlite backend', () => import('./pglite.js'));
    return openPglite({
      dataDir: config.dataDir,
      searchPath,
      log,
      initialise: fromTemplate(config.cacheDir, log),
      cacheDir: config.cacheDir,
    });
  }
  const { openPostgres } = await import('./postgres.js');
  const db = openPostgres({
    url: config.databaseUrl,
    searchPath,
    log,
    poolSize: config.db.pool,
    preparedStatements: config.db.preparedStatements,
  });
  try {
    await step(log, 'connect to PostgreSQL', () => checkPostgres(db, config.databaseUrl as string));
    return db;
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
}

/** Starts a new embedded database as a copy of the prepared one, building that first if needed. */
export function fromTemplate(cacheDir: string, log: Logger): (dataDir: string) => Promise<string | undefined> {
  return async (dataDir) => {
    const { copyTemplate, ensureTemplate } = await import('./template.js');
    let template: string;
    try {
      template = await ensureTemplate({ cacheDir, log });
    } catch (error) {
      // A cache that cannot be written (a read-only home, no space) only costs speed.
      log.warn({ err: error }, `no prepared database (${oneLine(error)}); initialising this one from scratch`);
      return undefined;
    }
    await step(log, 'copy the prepared database', () => copyTemplate(template, dataDir));
    return template;
  };
}

const probe = sql`select
  current_setting('server_version_num')::int as version_num,
  exists (select 1 from pg_available_extensions where name = 'postgis') as postgis_available`;

/** Connects, then refuses a server where PostGIS cannot be created. */
export async function checkPostgres(db: Database, url: string): Promise<void> {
  let row: { version_num: number; postgis_available: boolean } | undefined;
  try {
    row = (await db.query<{ version_num: number; postgis_available: boolean }>(probe)).rows[0];
  } catch (error) {
    throw connectionError(error, url);
  }
  if (row && !row.postgis_available) {
    const major = Math.floor(row.version_num / 10000);
    throw new LoconomyError(
      'LOCO_DB_NO_POSTGIS',
      `PostGIS is not installed on this PostgreSQL server (${where(url)})`,
      `install the package postgresql-${major}-postgis-3 (Debian/Ubuntu) and retry`,
    );
  }
}

/** Rewrites a driver error from the first connection into one line saying what to do. */
export function connectionError(error: unknown, url: string): LoconomyError {
  const at = where(url);
  const err = error as { code?: string; errors?: { code?: string }[]; message?: string };
  // Node reports "localhost" (IPv4 and IPv6 both refused) as an AggregateError.
  const code = err.code ?? err.errors?.[0]?.code;
  const database = safeUrl(url)?.pathname.slice(1) || 'postgres';
  const make = (what: string, todo: string) => new LoconomyError('LOCO_DB_UNREACHABLE', what, todo, { cause: error });
  switch (code) {
    case 'ECONNREFUSED':
      return make(`cannot connect to PostgreSQL at ${at}: connection refused`, 'is the server running?');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return make(`cannot connect to PostgreSQL at ${at}: host not found`, 'check the host in DATABASE_URL');
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return make(
        `cannot connect to PostgreSQL at ${at}: ${code === 'ETIMEDOUT' ? 'connection timed out' : 'host unreachable'}`,
        'check the host and port in DATABASE_URL and any firewall between',
      );
    case '28P01':
    case '28000':
      return make(
        `PostgreSQL at ${at} refused the login: ${oneLine(error)}`,
        'check the user and password in DATABASE_URL',
      );
    case '3D000':
      return make(
        `database "${database}" does not exist on PostgreSQL at ${at}`,
        `create it (createdb ${database}) or fix DATABASE_URL`,
      );
    default:
      if (/timeout/i.test(err.message ?? '')) {
        return make(
          `cannot connect to PostgreSQL at ${at}: connection timed out`,
          'check the host and port in DATABASE_URL',
        );
      }
      return make(`cannot connect to PostgreSQL at ${at}: ${oneLine(error)}`, 'check DATABASE_URL and the server log');
  }
}

function safeUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** host:port for messages, never the credentials. */
function where(url: string): string {
  const parsed = safeUrl(url);
  return `${parsed?.hostname || 'localhost'}:${parsed?.port || '5432'}`;
}
