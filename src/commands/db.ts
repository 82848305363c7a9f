import { searchPathValue } from '../db/context.js';
import { fromTemplate } from '../db/open.js';
import { applySessionDefaults, openPglite } from '../db/pglite.js';
import { prepareDatabase } from '../db/prepare.js';
import { LoconomyError } from '../errors.js';
import { step } from '../log.js';
import { commandContext } from './context.js';

export interface DbOptions {
  port: number;
  host: string;
  maxConnections: number;
}

/**
 * `loconomy db`: the embedded database over the PostgreSQL wire protocol, for psql, GUI
 * clients and dump tools. The API server cannot run meanwhile (one process owns the data
 * directory). All connections share PGlite's single session, so SET, temp tables and LISTEN
 * are shared or do not cross connections; hence one connection by default.
 */
export async function db(options: DbOptions): Promise<void> {
  const { config, log } = commandContext();
  if (config.databaseUrl !== undefined) {
    throw new LoconomyError(
      'LOCO_CLI_USAGE',
      'the db command serves the embedded database, but DATABASE_URL is set',
      'connect to that PostgreSQL server directly (psql "$DATABASE_URL"), or unset DATABASE_URL',
    );
  }
  const database = await step(log, 'open database', () =>
    openPglite({
      dataDir: config.dataDir,
      searchPath: searchPathValue(config.db.extraSearchPath),
      log,
      initialise: fromTemplate(config.cacheDir, log),
      cacheDir: config.cacheDir,
    }),
  );
  let server: { stop(): Promise<void> } | undefined;
  try {
    await prepareDatabase(database, { log });
    // What a PostgreSQL session of this database starts with (search_path with extensions).
    await applySessionDefaults(database);
    const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
    const socketServer = new PGLiteSocketServer({
      db: database.pglite,
      host: options.host,
      port: options.port,
      maxConnections: options.maxConnections,
    });
    await step(log, 'listen (wire protocol)', () => socketServer.start());
    server = socketServer;
  } catch (error) {
    await database.close().catch(() => {});
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new LoconomyError(
        'LOCO_SERVER_LISTEN',
        `port ${options.port} on ${options.host} is already in use`,
        'choose another with --port',
      );
    }
    throw error;
  }
  const { rows } = await database.query<{ db: string; usr: string }>(
    'select current_database() as db, current_user as usr',
  );
  const target = rows[0] as { db: string; usr: string };
  log.info(
    { host: options.host, port: options.port },
    `embedded database served on postgresql://${target.usr}@${options.host}:${options.port}/${target.db} — try: psql -h ${options.host} -p ${options.port} -U ${target.usr} ${target.db}`,
  );
  const running = server;
  const stop = async () => {
    await running.stop().catch(() => {});
    await database.close().catch(() => {});
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
