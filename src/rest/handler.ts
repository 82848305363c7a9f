import type { Caller } from '../auth/caller.js';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import { call } from './actions/call.js';
import { read } from './actions/read.js';
import { mutate } from './actions/write.js';
import type { Context, RestDeps, RestRequest, RestResponse } from './context.js';
import { parsePrefer } from './parse/prefer.js';
import { closest } from './plan/select.js';

export type { RestDeps, RestMethod, RestRequest, RestResponse } from './context.js';

/**
 * One REST request, start to end: parse the URL, headers and body, plan it against the schema
 * cache, build one statement, run it in one transaction as the caller, render the response.
 * Parse and plan throw ApiErrors before the database is touched.
 */

export async function handleRest(deps: RestDeps, caller: Caller, request: RestRequest): Promise<RestResponse> {
  const cache = deps.schemaCache();
  if (request.path.includes('\0') || [...request.search].some(([k, v]) => k.includes('\0') || v.includes('\0'))) {
    // PostgreSQL text cannot hold NUL; refuse it here rather than let the driver fail.
    throw new ApiError('PGRST100', { message: 'The request URL contains a NUL character' });
  }
  const schema = profile(deps.config, request);
  const ctx: Context = { deps, caller, request, schema, prefer: parsePrefer(request.headers.prefer), cache };
  const [first, name, ...rest] = request.path.split('/');
  if (first === 'rpc' && name !== undefined && rest.length === 0 && name !== '')
    return withProfile(ctx, await call(ctx, name));
  if (first === undefined || first === '' || name !== undefined) {
    throw new ApiError('PGRST125', { message: `Invalid path specified in request URL` });
  }
  const relation = cache.relation(schema, first);
  if (!relation) {
    const near = closest(
      first,
      cache.relations.filter((r) => r.schema === schema).map((r) => r.name),
    );
    throw new ApiError('PGRST205', {
      message: `Could not find the table '${schema}.${first}' in the schema cache`,
      hint: near ? `Perhaps you meant the table '${schema}.${near}'` : null,
    });
  }
  const write = request.method !== 'GET' && request.method !== 'HEAD';
  return withProfile(ctx, await (write ? mutate(ctx, relation) : read(ctx, relation)));
}

/** With several exposed schemas, a response with a body names its schema (Content-Profile). */
function withProfile(ctx: Context, response: RestResponse): RestResponse {
  if (ctx.deps.config.db.schemas.length < 2 || response.headers['content-type'] === undefined) return response;
  return { ...response, headers: { ...response.headers, 'content-profile': ctx.schema } };
}

/** Accept-Profile (reads) / Content-Profile (writes) pick one of the exposed schemas. */
function profile(config: Config, request: RestRequest): string {
  const header = request.method === 'GET' || request.method === 'HEAD' ? 'accept-profile' : 'content-profile';
  const given = request.headers[header];
  const schemas = config.db.schemas;
  if (given === undefined) return schemas[0] as string;
  const name = String(given).trim();
  if (!schemas.includes(name)) {
    throw new ApiError('PGRST106', {
      message: `The schema must be one of the following: ${schemas.join(', ')}`,
    });
  }
  return name;
}
