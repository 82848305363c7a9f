import type { Database } from '../db/database.js';
import { sql } from '../db/sql.js';
import { ApiError } from '../errors.js';
import type { Caller } from './caller.js';
import { invalidApiKey } from './failures.js';

/**
 * Loconomy API keys (`lk_<8 hex>_<64 hex>`, made by create_api_key()), presented in `apikey`
 * or as a Bearer token. One call of app.use_api_key() (db/migrations/0015) per request — one
 * statement on the server's own connection role, outside any request transaction — finds the live key and its owner, counts the request against the key's
 * hourly limit and records its use. The count is in the database, so every server process
 * shares it. The key acts as its owner (role authenticated, `sub` = the owner's clerk_id,
 * which app.current_user_id() reads) within its scopes (src/auth/scopes.ts).
 */

export const API_KEY_PREFIX = 'lk_';
const SHAPE = /^lk_[0-9a-f]{8}_[0-9a-f]{64}$/;

export function isApiKey(credential: string): boolean {
  return credential.startsWith(API_KEY_PREFIX);
}

interface UseRow {
  id: string;
  prefix: string;
  user_id: string;
  tenant_id: string;
  clerk_id: string;
  scopes: string[];
  rate_limit: number;
  remaining: number;
  reset_seconds: number;
  allowed: boolean;
}

/** The Caller for a presented key; 401 unknown/revoked/expired/owner barred, 429 over its limit. */
export async function apiKeyCaller(db: Database, presented: string): Promise<Caller> {
  // Not the shape create_api_key() makes: no key can match, so spare the database.
  if (!SHAPE.test(presented)) throw invalidApiKey('not a Loconomy API key (lk_…)');
  // A single autocommitted statement: a begin/context/commit around it would triple its cost.
  const { rows } = await db.query<UseRow>(sql`select * from app.use_api_key(${presented})`);
  const key = rows[0];
  if (key === undefined) {
    throw invalidApiKey('the API key is unknown, revoked or expired, or its owner cannot sign in');
  }
  const headers = rateLimitHeaders(key);
  if (!key.allowed) {
    throw new ApiError('LOCO_AUTH_RATE_LIMITED', {
      details: `API key ${key.prefix} allows ${key.rate_limit} requests per hour`,
      hint: `retry in ${key.reset_seconds} seconds`,
      headers: { ...headers, 'Retry-After': String(key.reset_seconds) },
    });
  }
  return {
    role: 'authenticated',
    claims: { sub: key.clerk_id, role: 'authenticated', tenant_id: key.tenant_id, api_key_id: key.id },
    apiKey: { id: key.id, prefix: key.prefix, scopes: key.scopes },
    responseHeaders: headers,
  };
}

/** The RateLimit header fields (IETF httpapi-ratelimit-headers): limit, left, seconds to reset. */
function rateLimitHeaders(key: UseRow): Record<string, string> {
  return {
    'RateLimit-Limit': String(key.rate_limit),
    'RateLimit-Remaining': String(key.remaining),
    'RateLimit-Reset': String(key.reset_seconds),
  };
}
