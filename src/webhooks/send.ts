import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { isPublicAddress, publicOnlyLookup, RefusedAddressError } from './address.js';

export interface SendOptions {
  readonly timeoutMs: number;
  /** Reach non-public addresses too (LOCONOMY_WEBHOOKS_ALLOW_PRIVATE). */
  readonly allowPrivate: boolean;
}

export interface SendResult {
  /** The HTTP status, when a response came. */
  readonly status: number | null;
  readonly durationMs: number;
  /** Why the attempt failed before a response, or what was wrong with it (a redirect). */
  readonly error: string | null;
  /** The first 4 KiB of the response body. */
  readonly body: string;
}

const MAX_BODY = 4096;

/**
 * POSTs one webhook. Never follows a redirect (a 3xx is a failed attempt: the receiver must
 * give its final URL), so no hop can lead to an address that was not checked; the host's
 * addresses are checked after resolution and the socket connects to the checked one
 * (publicOnlyLookup). The whole exchange is bounded by `timeoutMs`.
 */
export function postWebhook(
  url: string,
  headers: Record<string, string>,
  body: string,
  options: SendOptions,
): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise<SendResult>((resolve) => {
    const fail = (error: string, status: number | null = null, text = '') =>
      resolve({ status, durationMs: elapsed(), error, body: text });
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return fail('invalid URL');
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:')
      return fail('only http and https URLs are delivered');
    const host = target.hostname.replace(/^\[|\]$/g, '');
    if (!options.allowPrivate && isIP(host) !== 0 && !isPublicAddress(host))
      return fail(new RefusedAddressError(`refused: ${host} is not a public address`).message);
    const client = target.protocol === 'https:' ? https : http;
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: options.timeoutMs,
        ...(options.allowPrivate ? {} : { lookup: publicOnlyLookup }),
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          if (size < MAX_BODY) chunks.push(chunk);
          size += chunk.length;
        });
        response.on('end', () => {
          clearTimeout(deadline);
          const status = response.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8').slice(0, MAX_BODY);
          if (status >= 300 && status < 400)
            return fail(`redirect to ${response.headers.location ?? '(no location)'} not followed`, status, text);
          resolve({
            status,
            durationMs: elapsed(),
            error: status >= 200 && status < 300 ? null : `HTTP ${status}`,
            body: text,
          });
        });
        response.on('error', (error) => fail(error.message, response.statusCode ?? null));
      },
    );
    // `timeout` above is for idle sockets; this bounds the whole exchange.
    const deadline = setTimeout(
      () => request.destroy(new Error(`timed out after ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    request.on('timeout', () => request.destroy(new Error(`timed out after ${options.timeoutMs} ms`)));
    request.on('error', (error) => {
      clearTimeout(deadline);
      fail(error.message);
    });
    request.end(body);
  });
}
