import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator } from '../auth/caller.js';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { ApiError, isApiError } from '../errors.js';
import { sendApiError } from '../http/own-body.js';
import { type Logger, step } from '../log.js';
import { handleRest, type RestMethod, type RestResponse } from './handler.js';
import { parseCsvBody } from './parse/csv.js';
import { RAW_TYPES, RawBody } from './parse/raw.js';
import { restTarget } from './parse/target.js';
import { openApi } from './respond/openapi.js';
import { loadSchemaCache, type SchemaCache } from './schema/cache.js';

export interface RestPluginOptions {
  readonly db: Database;
  readonly config: Config;
  readonly authenticator: Authenticator;
  readonly log: Logger;
}

/** The API roles whose column privileges the schema cache records (for `select=*`). */
function apiRoles(config: Config): string[] {
  return [...new Set([config.db.anonRole, 'anon', 'authenticated', 'service_role'])];
}

const METHODS = ['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE'];
const JSON_TYPES = ['application/json', 'application/vnd.pgrst.object+json', 'application/vnd.pgrst.object'];

/**
 * `/rest/v1/*`: the PostgREST-compatible API. The schema cache is built at registration and
 * rebuilt on `NOTIFY pgrst, 'reload schema'` (as PostgREST does), so DDL shows up without a
 * restart. Every error leaves as PostgREST-shaped JSON; nothing escapes as a stack trace.
 */
export async function restPlugin(app: FastifyInstance, options: RestPluginOptions): Promise<void> {
  const { db, config, authenticator, log } = options;
  const roles = apiRoles(config);
  let cache: SchemaCache = await step(log, 'load schema cache', () => loadSchemaCache(db, config.db.schemas, roles));
  const unlisten = await db.listen('pgrst', (payload) => {
    if (payload !== '' && payload !== 'reload schema') return;
    // DDL may have changed what prepared statements were planned against (decision 0010).
    db.discardPreparedStatements();
    loadSchemaCache(db, config.db.schemas, roles)
      .then((fresh) => {
        cache = fresh;
        log.info({ relations: fresh.relations.length, functions: fresh.allRoutines.length }, 'schema cache reloaded');
      })
      .catch((error) => log.error({ err: error }, 'schema cache reload failed; keeping the previous one'));
  });
  app.addHook('onClose', async () => {
    // The database may already be closed (shutdown order, tests); its LISTEN went with it.
    await unlisten().catch((error) => log.debug({ err: error }, 'schema cache listener already gone'));
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new ApiError('PGRST102', { message: 'Empty or invalid json' }), undefined);
    }
  });
  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseCsvBody(String(body)));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  const notAcceptable = (request: FastifyRequest) =>
    new ApiError('PGRST107', {
      message: `Content-Type not acceptable: ${request.headers['content-type'] ?? ''}`,
      hint: 'Send the body as application/json (or text/csv).',
    });
  for (const [type, param] of Object.entries(RAW_TYPES)) {
    // Only a function call takes a raw body (to a single unnamed text, xml or bytea parameter).
    app.addContentTypeParser(type, { parseAs: param === 'bytea' ? 'buffer' : 'string' }, (request, body, done) => {
      if (!/\/rpc\/[^/?]+(\?|$)/.test(request.url)) return done(notAcceptable(request), undefined);
      done(null, new RawBody(param, body as string | Buffer));
    });
  }
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, _body, done) => {
    done(notAcceptable(request), undefined);
  });

  app.setErrorHandler((error, request, reply) => sendApiError(reply, toApiError(error, request, log)));
  app.setNotFoundHandler((request, reply) =>
    sendApiError(
      reply,
      METHODS.includes(request.method)
        ? new ApiError('PGRST125', { message: 'Invalid path specified in request URL' })
        : new ApiError('PGRST117', { message: `Unsupported HTTP method: ${request.method}` }),
    ),
  );

  app.get('/', async (request, reply) => {
    const caller = await authenticator.authenticate(request.headers);
    return send(reply, {
      status: 200,
      headers: { 'content-type': 'application/openapi+json; charset=utf-8' },
      body: JSON.stringify(openApi(cache, config, caller.role)),
    });
  });

  app.route({
    method: METHODS,
    url: '/*',
    handler: async (request, reply) => {
      const caller = await authenticator.authenticate(request.headers);
      const { path, search } = restTarget(request.url, '/rest/v1/');
      const response = await handleRest({ db, config, schemaCache: () => cache }, caller, {
        method: request.method as RestMethod,
        path,
        search,
        headers: request.headers,
        body: request.body,
        clientIp: request.ip,
      });
      return send(reply, { ...response, headers: { ...caller.responseHeaders, ...response.headers } });
    },
  });
}

function send(reply: FastifyReply, response: RestResponse) {
  reply.status(response.status).headers(response.headers);
  // No body means none at all (Fastify would otherwise answer `null` as JSON).
  return response.body === undefined ? reply.send() : reply.send(response.body);
}

/** Fastify's own errors (body too large, bad URL…) and anything unexpected, as ApiErrors. */
function toApiError(error: unknown, request: FastifyRequest, log: Logger): ApiError {
  if (isApiError(error)) return error;
  const code = (error as { code?: string }).code;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('LOCO_BODY_TOO_LARGE', { hint: 'Send fewer rows per request.' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError('PGRST107', { message: 'The Content-Type sent in the request is invalid' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError('PGRST102', { message: 'Empty or invalid json' });
  }
  const status = (error as { statusCode?: number }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new ApiError('PGRST100', { message: (error as Error).message, status });
  }
  log.error({ err: error, reqId: request.id }, 'unexpected error in the REST API');
  return new ApiError('LOCO_INTERNAL', { details: `request id ${request.id}` });
}
