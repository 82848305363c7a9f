import { performance } from 'node:perf_hooks';
import { resolveJwtSecret } from '../auth/secret.js';
import { openDatabase } from '../db/open.js';
import { prepareDatabase } from '../db/prepare.js';
import { LoconomyError } from '../errors.js';
import { round, step } from '../log.js';
import { buildServer } from '../server.js';
import { commandContext } from './context.js';
import { demoOptions } from './seed.js';

export interface ServeOptions {
  port?: number;
  host?: string;
  demo?: boolean;
  listings?: number;
}

/**
 * `loconomy serve`: open the database, migrate, seed reference data when new, optionally the
 * demo data, then listen. Every step is logged with its duration; SIGINT/SIGTERM close the
 * HTTP server (finishing in-flight requests) and then the database.
 */
export async function serve(options: ServeOptions): Promise<void> {
  const { config, log } = commandContext();
  const jwtSecret = await resolveJwtSecret(config); // fail now, not at the first request, if it is missing
  const db = await step(log, 'open database', () => openDatabase(config, log));
  let app: Awaited<ReturnType<typeof buildServer>> | undefined;
  try {
    const prepared = await prepareDatabase(db, { log, demo: demoOptions(options) });
    app = await buildServer({ db, config, log, jwtSecret });
    const host = options.host ?? config.host;
    const port = options.port ?? config.port;
    const server = app;
    const url = await step(log, 'listen', () => listen(server, host, port));
    log.info(
      { url, database: db.kind, schema_version: prepared.schemaVersion, ms: round(performance.now()) },
      `Loconomy API ready on ${url}`,
    );
  } catch (error) {
    await app?.close().catch(() => {});
    await db.close().catch(() => {});
    throw error;
  }

  const running = app;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    try {
      await running.close();
      await db.close();
      log.info('stopped');
    } finally {
      process.exit(0);
    }
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

async function listen(app: Awaited<ReturnType<typeof buildServer>>, host: string, port: number): Promise<string> {
  try {
    return await app.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new LoconomyError(
        'LOCO_SERVER_LISTEN',
        `port ${port} on ${host} is already in use`,
        'stop the other process or choose another port with --port (or PORT)',
      );
    }
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EACCES') {
      throw new LoconomyError(
        'LOCO_SERVER_LISTEN',
        `cannot listen on ${host}:${port} (${code})`,
        'check --host/HOST and --port/PORT',
      );
    }
    throw error;
  }
}
