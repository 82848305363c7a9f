import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError, isApiError } from '../errors.js';
import type { Logger } from '../log.js';

/** Sends an error as this API's JSON error body, with its status and headers. */
export function sendApiError(reply: FastifyReply, error: ApiError) {
  return reply
    .status(error.status)
    .headers(error.headers)
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify(error.toJSON()));
}

export interface OwnBodyOptions {
  /** `buffer` where a signature covers exactly the bytes that arrived; `string` for JSON the route checks. */
  readonly parseAs: 'buffer' | 'string';
  readonly bodyLimit: number;
  /** What the body is, for the 413 message: "<what> is at most N bytes". */
  readonly what: string;
  readonly log: Logger;
  /** Logged with an unexpected error… */
  readonly failureLog: string;
  /** …and answered with this (500 unless it says otherwise). */
  readonly failure: () => ApiError;
}

/**
 * For a plugin's own Fastify context (webhooks, built-in functions): one body parser for every
 * content type, so the route sees the body as it arrived whatever its Content-Type, and errors in
 * the API's shape — ApiErrors as thrown, a body over the limit 413, anything else logged and
 * answered with `failure()`.
 */
export function useOwnBody(app: FastifyInstance, options: OwnBodyOptions): void {
  const { parseAs, bodyLimit, what, log } = options;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs, bodyLimit }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error, request, reply) => {
    let apiError: ApiError;
    if (isApiError(error)) apiError = error;
    else if ((error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      apiError = new ApiError('LOCO_BODY_TOO_LARGE', { message: `${what} is at most ${bodyLimit} bytes` });
    } else {
      log.error({ err: error, reqId: request.id }, options.failureLog);
      apiError = options.failure();
    }
    return sendApiError(reply, apiError);
  });
}
