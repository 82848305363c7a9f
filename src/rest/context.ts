import type { IncomingHttpHeaders } from 'node:http';
import type { Caller, ScopeNeed } from '../auth/caller.js';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { Preferences } from './parse/prefer.js';
import { type ParsedQuery, type PathFilter, parseFilter, parseRange } from './parse/query.js';
import type { MediaType } from './plan/negotiate.js';
import type { SchemaCache } from './schema/cache.js';
import type { BodyFormat } from './sql/body.js';

/**
 * What every stage of a REST request shares: the request and response shapes, the context a
 * request is handled in, and the small readings of it (headers, filters, page, formats).
 */

export type RestMethod = 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export interface RestRequest {
  readonly method: RestMethod;
  /** `listings`, or `rpc/search_listings`. */
  readonly path: string;
  readonly search: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** Parsed JSON body (undefined when none was sent). */
  readonly body: unknown;
  /**
   * The client's IP address: the socket peer, or X-Forwarded-For behind a trusted proxy
   * (LOCONOMY_TRUST_PROXY). SQL reads it as app.client_ip(); undefined when unknown.
   */
  readonly clientIp?: string;
}

export interface RestResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Text, or the bytes the database sent for a body it built (Query.bytes). */
  readonly body?: string | Buffer;
}

export interface RestDeps {
  readonly db: Database;
  readonly config: Config;
  readonly schemaCache: () => SchemaCache;
}

export interface Context {
  readonly deps: RestDeps;
  readonly caller: Caller;
  readonly request: RestRequest;
  readonly schema: string;
  readonly prefer: Preferences;
  readonly cache: SchemaCache;
}

export function filtersOf(query: ParsedQuery, skip: ReadonlySet<string> = new Set()): PathFilter[] {
  return query.rest.filter(([key]) => !skip.has(key)).map(([key, value]) => parseFilter(key, value));
}

/** limit/offset and Range, bounded by LOCONOMY_DB_MAX_ROWS. */
export function pageOf(ctx: Context, query: ParsedQuery): { limit?: number; offset?: number } {
  const range =
    ctx.request.method === 'GET' || ctx.request.method === 'HEAD' ? parseRange(header(ctx, 'range')) : undefined;
  let limit = query.limit.get('');
  let offset = query.offset.get('');
  if (range) {
    offset = (offset ?? 0) + range.offset;
    if (range.limit !== undefined) limit = limit === undefined ? range.limit : Math.min(limit, range.limit);
  }
  const max = ctx.deps.config.db.maxRows;
  if (max !== undefined) limit = limit === undefined ? max : Math.min(limit, max);
  return { limit, offset };
}

export function header(ctx: Context, name: string): string | undefined {
  const value = ctx.request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function selectContext(ctx: Context, needs: ScopeNeed[]) {
  return {
    cache: ctx.cache,
    role: ctx.caller.role,
    aggregatesEnabled: ctx.deps.config.db.aggregatesEnabled,
    needs,
  };
}

export function formatOf(media: MediaType): BodyFormat {
  switch (media) {
    case 'csv':
    case 'geojson':
      return media;
    case 'json-stripped':
    case 'object-stripped':
      return 'json-stripped';
    default:
      return 'json';
  }
}

export function txOverridable(ctx: Context): boolean {
  return ctx.deps.config.db.txEnd.endsWith('allow-override');
}
