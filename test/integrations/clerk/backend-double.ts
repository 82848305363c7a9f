import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { clerkUser } from './support.js';

/*
 * A local double of Clerk's Backend API, as far as Loconomy calls it: PATCH
 * /v1/users/{id}/metadata over real HTTP, authorised by the instance's secret key as a bearer
 * token, merging public_metadata one level deep as Clerk does and answering with the user
 * object (application/json, updated_at moving forward on each change). Every request is
 * recorded; a user can be told to fail its next requests with a 5xx.
 */

export const SECRET_KEY = 'sk_test_loconomy_clerk_backend_double_0123456789';

export interface MetadataRequest {
  readonly clerkId: string;
  readonly authorization: string | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: the body as Clerk's client sent it
  readonly body: any;
  /** The status the double answered with. */
  readonly status: number;
  /** updated_at of the user object returned (ms), for a successful update. */
  readonly updatedAt?: number;
}

export interface ClerkBackendDouble {
  /** http://127.0.0.1:<port>, what LOCONOMY_CLERK_API_URL is set to. */
  readonly url: string;
  readonly requests: readonly MetadataRequest[];
  /** Requests for one Clerk user, and those that succeeded. */
  requestsFor(clerkId: string): MetadataRequest[];
  pushesFor(clerkId: string): MetadataRequest[];
  /** public_metadata as the double holds it for a user. */
  metadataOf(clerkId: string): Record<string, unknown>;
  /** The next `times` requests for this user answer 503. */
  failNext(clerkId: string, times: number): void;
  /** This user does not exist (404), as after a deletion at Clerk. */
  forget(clerkId: string): void;
  close(): Promise<void>;
}

const clerkError = (code: string, message: string) =>
  JSON.stringify({ errors: [{ code, message, long_message: message }], clerk_trace_id: 'trace_double' });

export async function startClerkBackendDouble(): Promise<ClerkBackendDouble> {
  const requests: MetadataRequest[] = [];
  const metadata = new Map<string, Record<string, unknown>>();
  const failures = new Map<string, number>();
  const gone = new Set<string>();
  let clock = Date.now();

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = (status: number, body: string) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(body);
        return status;
      };
      const match = /^\/v1\/users\/([^/]+)\/metadata$/.exec(req.url ?? '');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      if (!match || req.method !== 'PATCH') {
        answer(404, clerkError('resource_not_found', `no route ${req.method} ${req.url}`));
        return;
      }
      const clerkId = decodeURIComponent(match[1] as string);
      const record = (status: number, updatedAt?: number) =>
        requests.push({ clerkId, authorization: req.headers.authorization, body, status, updatedAt });
      if (req.headers.authorization !== `Bearer ${SECRET_KEY}`) {
        record(answer(401, clerkError('authentication_invalid', 'invalid secret key')));
        return;
      }
      if (gone.has(clerkId)) {
        record(answer(404, clerkError('resource_not_found', 'user not found')));
        return;
      }
      const left = failures.get(clerkId) ?? 0;
      if (left > 0) {
        failures.set(clerkId, left - 1);
        record(answer(503, clerkError('service_unavailable', 'try again later')));
        return;
      }
      const given = (body as { public_metadata?: Record<string, unknown> } | undefined)?.public_metadata ?? {};
      const merged = { ...(metadata.get(clerkId) ?? {}), ...given };
      metadata.set(clerkId, merged);
      clock = Math.max(clock + 1, Date.now());
      record(answer(200, JSON.stringify(clerkUser(clerkId, { metadata: merged, updatedAt: clock }))), clock);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    requestsFor: (clerkId) => requests.filter((r) => r.clerkId === clerkId),
    pushesFor: (clerkId) => requests.filter((r) => r.clerkId === clerkId && r.status === 200),
    metadataOf: (clerkId) => metadata.get(clerkId) ?? {},
    failNext: (clerkId, times) => void failures.set(clerkId, times),
    forget: (clerkId) => void gone.add(clerkId),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
