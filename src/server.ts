import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import { healthPlugin } from './health/plugin.js';
import type { Logger } from './log.js';

export interface ServerDeps {
  readonly db: Database;
  readonly config: Config;
  readonly log: Logger;
}

/** A caller's X-Request-Id is kept when it is short and plain; otherwise one is made. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The HTTP server: only composes capability plugins (STYLE.md 10). Each request logs with its
 * request id, which is echoed in the X-Request-Id response header.
 */
export async function buildServer({ db, log }: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  await app.register(healthPlugin, { db });
  return app;
}
