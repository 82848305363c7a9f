import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator } from '../auth/caller.js';
import type { Database } from '../db/database.js';
import { type Query, sql } from '../db/sql.js';
import { ApiError, isApiError } from '../errors.js';
import { sendApiError } from '../http/own-body.js';
import type { Logger } from '../log.js';
import { plainHeaders } from '../rest/transaction.js';
import { functionDatabase } from './database.js';
import { invoke, SB_ERROR_CODES } from './invoke.js';
import type { FunctionRegistry, ReadyFunction } from './registry.js';
import type { FunctionContext, FunctionStatement } from './types.js';

/**
 * `/functions/v1/<name>` for the project's functions, as `supabase.functions.invoke()` calls
 * them (docs/functions.md, decision 0027): any method it sends, the body as it arrived (JSON,
 * text, bytes, multipart form), the caller verified as REST verifies it, and the function's
 * Response sent back as it is (status, headers, a streamed body). Built-in functions are static
 * routes under the same prefix and win over `/:name`; a project function never has their name.
 */

export interface FunctionsPluginOptions {
  readonly registry: FunctionRegistry;
  readonly db: Database;
  readonly authenticator: Authenticator;
  readonly anonRole: string;
  readonly production: boolean;
  /** Names of the built-in functions (POST only), for a 405 on another method. */
  readonly builtIn: readonly string[];
  readonly log: Logger;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
/** Not passed on to the function's Request: they describe this hop, not the request. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'te']);
/** Not copied from the function's Response: Node sets them for the body it sends. */
const RESPONSE_SKIP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'set-cookie']);

export const functionsPlugin: FastifyPluginAsync<FunctionsPluginOptions> = async (app, options) => {
  const { registry, db, authenticator, anonRole, production, builtIn, log } = options;

  // The body stays a stream: each function has its own limit, checked while it is read.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  app.setErrorHandler((error, request, reply) => {
    if (isApiError(error)) return sendError(reply, error);
    // Fastify's own refusals of a malformed request keep their 4xx status.
    const status = (error as { statusCode?: number }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return sendError(reply, new ApiError('PGRST100', { status, message: (error as Error).message }));
    }
    log.error({ err: error, reqId: request.id }, 'a server function request failed');
    return sendError(reply, new ApiError('LOCO_INTERNAL'));
  });

  app.addHook('onClose', async () => registry.close());

  const handler = async (request: FastifyRequest<{ Params: { name: string; '*'?: string } }>, reply: FastifyReply) => {
    const { name } = request.params;
    const fn = registry.get(name);
    if (fn === undefined) {
      if (builtIn.includes(name)) {
        throw new ApiError('PGRST117', { message: `${name} is a built-in function: call it with POST` });
      }
      throw new ApiError('LOCO_FUNCTION_NOT_FOUND', {
        message: `Function not found: ${name}`,
        hint: 'A project function is <name>/index.ts or <name>.ts in the functions folder (LOCONOMY_FUNCTIONS_DIR).',
      });
    }
    if (fn.state === 'failed') {
      throw new ApiError('LOCO_FUNCTION_BOOT_ERROR', {
        message: `The function ${name} failed to load`,
        details: production ? null : fn.reason,
        hint: production ? null : `Fix ${fn.file}; it is loaded again when it changes.`,
      });
    }
    const caller = await authenticator.authenticate(request.headers);
    const body = await readBody(request, fn);
    const controller = new AbortController();
    // The client went away before the answer was sent: the function may stop.
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished)
        controller.abort(new DOMException('the client closed the request', 'AbortError'));
    });
    const deadline = Date.now() + fn.limits.timeoutMs;
    const info = (remainingMs: number) => ({
      method: request.method,
      path: request.url.split('?')[0] as string,
      headers: plainHeaders(request.headers),
      settings: {
        statement_timeout: String(remainingMs),
        ...(request.ip ? { 'request.client_ip': request.ip } : {}),
      },
    });
    const runner = { db, info, signal: controller.signal, deadline };
    const ctx: FunctionContext = {
      name,
      caller: {
        id: typeof caller.claims.sub === 'string' && caller.role !== 'service_role' ? caller.claims.sub : null,
        role: caller.role,
        claims: caller.claims,
      },
      db: functionDatabase({
        ...runner,
        role: caller.role,
        claims: caller.claims,
        authenticated: caller.role !== anonRole,
        request: info,
      }),
      serviceDb: fn.limits.serviceRole
        ? functionDatabase({
            ...runner,
            role: 'service_role',
            claims: { role: 'service_role' },
            authenticated: true,
            request: info,
          })
        : undefined,
      sql: sqlTag,
      env: process.env,
      settings: { timeoutMs: fn.limits.timeoutMs, bodyLimit: fn.limits.bodyLimit, production },
      log: request.log.child({ function: name }) as Logger,
    };
    const response = await invoke({
      fn,
      request: toRequest(request, name, body, controller.signal),
      ctx,
      controller,
      production,
    });
    if (caller.responseHeaders) reply.headers(caller.responseHeaders);
    return sendResponse(reply, response, request.method === 'HEAD');
  };

  // Any custom header a caller sends is allowed in a preflight (functions read their own headers).
  // Typed loosely: @fastify/cors reads route config it does not declare, and FastifyContextConfig
  // is a weak type once a plugin (@fastify/multipart) declares an optional member.
  const config: Record<string, unknown> = { cors: { allowedHeaders: null } };
  app.route({ method: [...METHODS], url: '/:name', config, handler });
  app.route({ method: [...METHODS], url: '/:name/*', config, handler });
};

/** ctx.sql: the server's own tagged template, so values are always parameters. */
const sqlTag = (strings: TemplateStringsArray, ...values: unknown[]): FunctionStatement => {
  const query: Query = sql(strings, ...values);
  return { text: query.text, values: query.values };
};

/** The body, up to the function's limit (413 past it, before the function runs). */
async function readBody(request: FastifyRequest, fn: ReadyFunction): Promise<Buffer | undefined> {
  const stream = request.body as IncomingMessage | undefined;
  if (stream === undefined || typeof (stream as { on?: unknown }).on !== 'function') return undefined;
  const limit = fn.limits.bodyLimit;
  const tooLarge = () =>
    new ApiError('LOCO_BODY_TOO_LARGE', {
      message: `The body of ${fn.name} is at most ${limit} bytes`,
      hint: 'Send less, or raise the limit: export const config = { bodyLimit: … }, or LOCONOMY_FUNCTIONS_BODY_LIMIT.',
    });
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    stream.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.resume();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The Fetch-API Request the function gets: its URL is `<origin>/<name>[/rest][?query]`, the
 * path a Supabase function sees (the gateway strips /functions/v1), with the caller's headers.
 */
function toRequest(request: FastifyRequest, name: string, body: Buffer | undefined, signal: AbortSignal): Request {
  const rest = (request.params as { '*'?: string })['*'];
  const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
  const url = `${request.protocol}://${request.host}/${name}${rest === undefined ? '' : `/${rest}`}${query}`;
  const headers = new Headers();
  for (const [key, value] of Object.entries(request.headers)) {
    if (value === undefined || HOP_HEADERS.has(key)) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(key, one);
  }
  const hasBody = body !== undefined && request.method !== 'GET' && request.method !== 'HEAD';
  return new Request(url, { method: request.method, headers, body: hasBody ? body : undefined, signal });
}

/** The function's Response as the reply: status, headers (its own CORS headers win), the body streamed. */
function sendResponse(reply: FastifyReply, response: Response, head: boolean) {
  reply.status(response.status);
  response.headers.forEach((value, key) => {
    if (!RESPONSE_SKIP.has(key)) reply.header(key, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) reply.header('set-cookie', cookies);
  if (response.body === null || head) {
    void response.body?.cancel().catch(() => {});
    return reply.send();
  }
  return reply.send(Readable.fromWeb(response.body as unknown as NodeReadableStream));
}

function sendError(reply: FastifyReply, error: ApiError) {
  const sbCode = SB_ERROR_CODES[error.code];
  if (sbCode !== undefined) reply.header('sb-error-code', sbCode);
  return sendApiError(reply, error);
}
