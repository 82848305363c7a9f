import type { AddressInfo } from 'node:net';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { FastifyInstance } from 'fastify';
import ws from 'ws';
import { projectKeys, userToken } from '../../src/auth/keys.js';
import { type Config, loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { buildServer } from '../../src/server.js';
import { TEST_JWT_SECRET, type TestDatabase, testLogger } from './db.js';

export interface TestServer {
  readonly app: FastifyInstance;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly keys: { anon: string; service_role: string };
  /** A supabase-js client with the anon key, or acting as a user token / another key. */
  client(options?: { token?: string; apikey?: string }): SupabaseClient;
  /**
   * A raw HTTP request to /rest/v1/<path> (for what supabase-js cannot express), with the anon
   * key unless headers give another; the body parsed when the response is JSON.
   */
  request(
    path: string,
    init?: Omit<RequestInit, 'headers'> & { headers?: Record<string, string> },
  ): Promise<RawResponse>;
  /** A project-signed user token for a Clerk id (users.clerk_id). */
  tokenFor(sub: string): Promise<string>;
  close(): Promise<void>;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
  readonly json: any;
}

/** A real server on a random port over the test database, with settings from `env`. */
export async function startTestServer(db: Database, env: Record<string, string> = {}): Promise<TestServer> {
  const config: Config = loadConfig(env);
  const app = await buildServer({ db, config, log: testLogger(), jwtSecret: TEST_JWT_SECRET });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const keys = await projectKeys(TEST_JWT_SECRET);
  return {
    app,
    url,
    keys,
    client(options = {}) {
      const apikey = options.apikey ?? keys.anon;
      return createClient(url, apikey, {
        auth: { persistSession: false, autoRefreshToken: false },
        realtime: { transport: ws as never },
        global: options.token ? { headers: { Authorization: `Bearer ${options.token}` } } : {},
      });
    },
    async request(path, init = {}) {
      const response = await fetch(`${url}/rest/v1/${path}`, {
        ...init,
        headers: { apikey: keys.anon, ...(init.headers ?? {}) },
      });
      const text = await response.text();
      const isJson = /json/.test((response.headers.get('content-type') ?? '').split(';')[0] as string);
      return {
        status: response.status,
        headers: response.headers,
        text,
        json: text && isJson ? JSON.parse(text) : undefined,
      };
    },
    tokenFor: (sub) => userToken(TEST_JWT_SECRET, { sub }),
    close: () => app.close(),
  };
}

/**
 * A server on a pool of one connection of its own to the test's PostgreSQL database (through
 * `url`, e.g. a wire proxy, when given), so every request shares that connection; on PGlite, a
 * server over the test database itself (one session anyway). Closing it closes its pool.
 */
export async function startPoolOfOneServer(
  db: TestDatabase,
  options: { url?: string; env?: Record<string, string> } = {},
): Promise<TestServer> {
  const env = options.env ?? {};
  if (db.location.backend !== 'postgres') return startTestServer(db, env);
  const config = loadConfig({
    DATABASE_URL: options.url ?? (db.location.url as string),
    LOCONOMY_JWT_SECRET: TEST_JWT_SECRET,
    LOCONOMY_DB_POOL: '1',
    ...env,
  });
  const pooled = await openDatabase(config, testLogger());
  const server = await startTestServer(pooled, env);
  return {
    ...server,
    async close() {
      await server.close();
      await pooled.close();
    },
  };
}
