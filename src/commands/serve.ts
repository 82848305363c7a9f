import { createServer, type RequestListener, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { projectKeys } from '../auth/keys.js';
import { resolveJwtSecret } from '../auth/secret.js';
import { announceLongSteps } from '../console/pretty.js';
import { readySummary } from '../console/summary.js';
import type { Database } from '../db/database.js';
import { openDatabase } from '../db/open.js';
import { prepareDatabase } from '../db/prepare.js';
import { LoconomyError, oneLine } from '../errors.js';
import { Starting } from '../health/starting.js';
import type { Jobs } from '../jobs/runner.js';
import { round, step } from '../log.js';
import { buildServer, REQUEST_TIMEOUT_MS } from '../server.js';
import { commandContext } from './context.js';
import { demoOptions } from './seed.js';

export interface ServeOptions {
  port?: number;
  host?: string;
  demo?: boolean;
  listings?: number;
  /** false (`--no-jobs`): leave background jobs to `loconomy worker` processes. */
  jobs?: boolean;
  /** false (`--no-migrate`): check that the schema is current instead of migrating it. */
  migrate?: boolean;
}

/**
 * `loconomy serve`: bind the port first (a taken port fails at once), answer /health with
 * `starting` and the current step while the database is opened, migrated, seeded (and given
 * demo data with --demo), then hand the port to the API. Every step is logged with its
 * duration. Once the API answers, the background jobs start in this process unless turned off
 * (LOCONOMY_SERVE_JOBS, --no-jobs), so they never delay the first response. SIGINT/SIGTERM close
 * the HTTP server (finishing in-flight requests), stop the jobs (letting running ones finish)
 * and then close the database; during start-up they stop it at once.
 */
export async function serve(options: ServeOptions): Promise<void> {
  const { config, log, format } = commandContext();
  const jwtSecret = await resolveJwtSecret(config); // fail now, not at the first request, if it is missing
  const host = options.host ?? config.host;
  const port = options.port ?? config.port;

  const starting = new Starting();
  let handler: RequestListener = starting.handle;
  const http = createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, (request, response) => handler(request, response));
  const url = await step(log, 'listen', () => listen(http, host, port));
  log.info({ url }, `listening on ${url}; /health says "starting" until the database is ready`);
  const quiet = format === 'pretty' ? announceLongSteps((line) => process.stdout.write(`${line}\n`)) : () => {};

  let db: Database | undefined;
  // Set once the API is ready: a signal then stops it gracefully; before that, at once.
  let shutdown: ((signal: string) => Promise<void>) | undefined;
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    if (shutdown) {
      void shutdown(signal);
      return;
    }
    log.info({ signal }, 'stopping during start-up');
    http.close();
    // Nothing half-done is kept: migrations and seeds run in transactions, the prepared copy
    // is renamed into place only when complete, and the data directory's lock goes with us.
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  // `on`, not `once`: Ctrl-C under `npm start` delivers SIGINT twice (from the terminal and
  // forwarded by npm), and a second one must not fall through to Node's default (an abrupt exit).
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let app: Awaited<ReturnType<typeof buildServer>> | undefined;
  let api: RequestListener | undefined;
  let prepared: Awaited<ReturnType<typeof prepareDatabase>>;
  try {
    db = await step(log, 'open database', () => openDatabase(config, log));
    const opened = db;
    prepared = await prepareDatabase(opened, {
      log,
      demo: demoOptions(options),
      migrate: options.migrate !== false && config.migrateOnStart,
    });
    app = await buildServer({
      db: opened,
      config,
      log,
      jwtSecret,
      server: { http, attach: (fastify) => (api = fastify) },
      oneLineRequests: format === 'pretty',
    });
    await app.ready();
  } catch (error) {
    quiet();
    starting.done();
    await app?.close().catch(() => {});
    await db?.close().catch(() => {});
    http.close();
    throw error;
  }
  const running = app;
  const database = db;
  let jobs: Promise<Jobs | undefined> = Promise.resolve(undefined);
  shutdown = async (signal) => {
    log.info({ signal }, 'shutting down');
    try {
      await running.close();
      if (http.listening) await new Promise((resolve) => http.close(resolve));
      await (await jobs)?.stop();
      await database.close();
      log.info('stopped');
    } finally {
      process.exit(0);
    }
  };
  // Computed before the switch so the summary is printed before the first 200 can be answered.
  const anonKey = format === 'pretty' ? (await projectKeys(jwtSecret)).anon : '';
  // Only now does the port serve the API: Fastify's handler answers once every plugin is ready.
  if (api) handler = api;
  quiet();
  starting.done();
  const ms = round(performance.now());
  log.info({ url, database: db.kind, schema_version: prepared.schemaVersion, ms }, `Loconomy API ready on ${url}`);
  if (format === 'pretty') {
    process.stdout.write(
      `${readySummary({
        url,
        anonKey,
        database: db.kind === 'pglite' ? `embedded database in ${config.dataDir}` : 'PostgreSQL',
        schemaVersion: prepared.schemaVersion,
        demo: prepared.demo || options.demo === true,
        ms,
      })}\n`,
    );
  }
  // A deployed server builds the GraphQL schema now (seconds of CPU that hold the event loop),
  // so its first GraphQL request is fast; in development, `npm start` stays quick and the
  // first GraphQL request builds it (decision 0025).
  if (config.production) running.buildGraphqlSchema();
  if (options.jobs !== false && config.jobs.inServe) {
    jobs = import('../jobs/start.js')
      .then(({ startConfiguredJobs }) => startConfiguredJobs(database, config, log))
      .catch((error: unknown) => {
        // The API keeps serving; what needs the queue says so (docs/jobs.md).
        log.error({ err: error }, `background jobs did not start: ${oneLine(error)}`);
        return undefined;
      });
  } else {
    // Jobs run elsewhere, but this process enqueues them too (webhook events): the queue's
    // schema must exist even if no worker has started yet.
    jobs = import('../jobs/runner.js')
      .then(({ installQueueSchema }) => installQueueSchema(database, config.databaseUrl, log))
      .catch((error: unknown) => log.error({ err: error }, `job queue schema not installed: ${oneLine(error)}`))
      .then(() => undefined);
  }
}

/** Binds the port, or says in one line why it cannot. */
async function listen(http: Server, host: string, port: number): Promise<string> {
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, host, () => {
        http.off('error', reject);
        resolve();
      });
    });
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
  const address = http.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
}
