import type { IncomingHttpHeaders } from 'node:http';
import type { Caller, ScopeNeed } from '../auth/caller.js';
import { checkScopes } from '../auth/scopes.js';
import type { Config } from '../config.js';
import type { Database, Transaction } from '../db/database.js';
import { preparing } from '../db/prepared.js';
import type { SqlFragment } from '../db/sql.js';
import { ApiError, isApiError } from '../errors.js';
import { fromDatabaseError, isDatabaseError } from './errors.js';
import { type Preferences, parsePrefer } from './parse/prefer.js';
import { type ParsedQuery, type PathFilter, parseFilter, parseQuery, parseRange } from './parse/query.js';
import { bodyRows, checkBodyColumns, insertGroups, type MutatePlan } from './plan/mutate.js';
import { CONTENT_TYPES, type MediaType, negotiate } from './plan/negotiate.js';
import { closest, planFilters, planSelect } from './plan/select.js';
import type { SelectPlan, Source } from './plan/types.js';
import { toCsv } from './respond/csv.js';
import { contentRange } from './respond/range.js';
import { type Relation, type Routine, routineRelation, type SchemaCache } from './schema/cache.js';
import { mutateSql } from './sql/mutate.js';
import { readSql, scalarCallSql } from './sql/read.js';

/**
 * One REST request, start to end: parse the URL, headers and body, plan it against the schema
 * cache, build one statement, run it in one transaction as the caller, render the response.
 * Parse and plan throw ApiErrors before the database is touched.
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
}

export interface RestResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

export interface RestDeps {
  readonly db: Database;
  readonly config: Config;
  readonly schemaCache: () => SchemaCache;
}

interface Context {
  readonly deps: RestDeps;
  readonly caller: Caller;
  readonly request: RestRequest;
  readonly schema: string;
  readonly prefer: Preferences;
  readonly cache: SchemaCache;
}

export async function handleRest(deps: RestDeps, caller: Caller, request: RestRequest): Promise<RestResponse> {
  const cache = deps.schemaCache();
  if (request.path.includes('\0') || [...request.search].some(([k, v]) => k.includes('\0') || v.includes('\0'))) {
    // PostgreSQL text cannot hold NUL; refuse it here rather than let the driver fail.
    throw new ApiError('PGRST100', { message: 'The request URL contains a NUL character' });
  }
  const schema = profile(deps.config, request);
  const ctx: Context = { deps, caller, request, schema, prefer: parsePrefer(request.headers.prefer), cache };
  const [first, name, ...rest] = request.path.split('/');
  if (first === 'rpc' && name !== undefined && rest.length === 0 && name !== '') return call(ctx, name);
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
  switch (request.method) {
    case 'GET':
    case 'HEAD':
      return read(ctx, relation);
    case 'POST':
    case 'PATCH':
    case 'PUT':
    case 'DELETE':
      return mutate(ctx, relation);
  }
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

function filtersOf(query: ParsedQuery, skip: ReadonlySet<string> = new Set()): PathFilter[] {
  return query.rest.filter(([key]) => !skip.has(key)).map(([key, value]) => parseFilter(key, value));
}

/** limit/offset and Range, bounded by LOCONOMY_DB_MAX_ROWS. */
function pageOf(ctx: Context, query: ParsedQuery): { limit?: number; offset?: number } {
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

function header(ctx: Context, name: string): string | undefined {
  const value = ctx.request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function read(ctx: Context, relation: Relation): Promise<RestResponse> {
  const media = negotiate(header(ctx, 'accept'), ['json', 'object', 'csv']);
  const query = parseQuery(ctx.request.search);
  const needs: ScopeNeed[] = [{ resource: relation.name, action: 'read' }];
  const page = pageOf(ctx, query);
  const select = planSelect(selectContext(ctx, needs), relation, query, filtersOf(query), page);
  checkScopes(ctx.caller, needs);
  const count = ctx.prefer.count !== undefined;
  const statement = readSql({ kind: 'relation', relation }, select, { count });
  return run(ctx, async (tx) => {
    const result = await pageResult(tx, statement, count);
    return respondRows(ctx, media, result, page.offset ?? 0, 200);
  });
}

function selectContext(ctx: Context, needs: ScopeNeed[]) {
  return {
    cache: ctx.cache,
    role: ctx.caller.role,
    aggregatesEnabled: ctx.deps.config.db.aggregatesEnabled,
    needs,
  };
}

interface PageResult {
  readonly pageTotal: number;
  readonly body: string;
  readonly total?: number;
}

async function pageResult(tx: Transaction, statement: SqlFragment, count: boolean): Promise<PageResult> {
  const { rows } = await tx.query<{ page_total: number; body: string; total?: string | number }>(statement);
  const row = rows[0] ?? { page_total: 0, body: '[]' };
  return {
    pageTotal: row.page_total,
    body: row.body,
    total: count && row.total !== undefined ? Number(row.total) : undefined,
  };
}

function respondRows(ctx: Context, media: MediaType, result: PageResult, offset: number, status: number): RestResponse {
  const headers: Record<string, string> = {
    'content-type': CONTENT_TYPES[media],
    'content-range': contentRange(offset, result.pageTotal, result.total),
  };
  if (ctx.prefer.applied.length > 0) headers['preference-applied'] = ctx.prefer.applied.filter(honoured).join(', ');
  if (media === 'object') {
    if (result.pageTotal !== 1) {
      throw new ApiError('PGRST116', {
        message: 'Cannot coerce the result to a single JSON object',
        details: `The result contains ${result.pageTotal} rows`,
      });
    }
    return { status, headers, body: result.body.slice(1, -1).trim() };
  }
  if (offset > 0 && result.total !== undefined && offset >= result.total && result.total > 0) {
    throw new ApiError('PGRST103', {
      message: 'Requested range not satisfiable',
      details: `An offset of ${offset} was requested, but there are only ${result.total} rows.`,
      headers: { 'content-range': `*/${result.total}` },
    });
  }
  const partial = status === 200 && result.total !== undefined && (offset > 0 || result.pageTotal < result.total);
  const body = media === 'csv' ? toCsv(result.body) : result.body;
  return { status: partial ? 206 : status, headers, body: ctx.request.method === 'HEAD' ? undefined : body };
}

function honoured(applied: string): boolean {
  return !applied.startsWith('handling=');
}

/** Runs fn in one transaction as the caller; the end follows LOCONOMY_DB_TX_END and Prefer: tx. */
async function run<T>(
  ctx: Context,
  fn: (tx: Transaction) => Promise<T>,
  settings: Record<string, string> = {},
): Promise<T> {
  const { caller, request, deps } = ctx;
  const txEnd = deps.config.db.txEnd;
  const overridable = txEnd.endsWith('allow-override');
  const rollback = overridable && ctx.prefer.tx ? ctx.prefer.tx === 'rollback' : txEnd.startsWith('rollback');
  if (ctx.prefer.timezone) settings.timezone = ctx.prefer.timezone;
  const info = {
    method: request.method,
    path: `/${request.path}`,
    headers: plainHeaders(request.headers),
    settings,
  };
  const sentinel = { result: undefined as T | undefined };
  try {
    return await deps.db.asRole(
      caller.role,
      caller.claims,
      async (tx) => {
        // The request's statements are shapes: prepared on PostgreSQL (decision 0010).
        const result = await fn(preparing(tx));
        if (rollback) {
          sentinel.result = result;
          throw ROLLBACK;
        }
        return result;
      },
      info,
    );
  } catch (error) {
    if (error === ROLLBACK) return sentinel.result as T;
    if (isApiError(error)) throw error;
    if (isDatabaseError(error)) throw fromDatabaseError(error, caller.role !== deps.config.db.anonRole);
    throw error;
  }
}

const ROLLBACK = Symbol('rollback');

/** Headers as request.headers shows them (lower-case names; credentials left out). */
function plainHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name === 'authorization' || name === 'apikey' || name === 'cookie') continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

async function mutate(ctx: Context, relation: Relation): Promise<RestResponse> {
  const { request, prefer } = ctx;
  const query = parseQuery(request.search);
  const needs: ScopeNeed[] = [{ resource: relation.name, action: 'write' }];
  const returning = prefer.return ?? 'minimal';
  const media = returning === 'representation' ? negotiate(header(ctx, 'accept'), ['json', 'object', 'csv']) : 'json';
  if (query.limit.size > 0 || query.offset.size > 0) {
    throw new ApiError(request.method === 'PUT' ? 'PGRST114' : 'PGRST127', {
      message:
        request.method === 'PUT'
          ? 'limit/offset querystring parameters are not allowed for PUT'
          : 'limit and offset are not supported on writes',
      hint: 'Filter the rows to change instead; Prefer: max-affected=N with handling=strict bounds a write.',
    });
  }
  const filters = filtersOf(query);
  for (const f of filters) {
    if (f.path !== '')
      throw new ApiError('PGRST108', { message: 'Filters on embedded resources are not allowed in a write' });
  }
  const select =
    returning === 'representation' ? planSelect(selectContext(ctx, needs), relation, query, [], undefined) : undefined;
  if (returning === 'representation') needs.push({ resource: relation.name, action: 'read' });
  const whereFilters = planFilters(relation, filters);

  let plan: MutatePlan;
  switch (request.method) {
    case 'POST': {
      const rows = bodyRows(request.body);
      const { columns, groups } = insertGroups(relation, rows, query.columns, prefer);
      const onConflict = prefer.resolution
        ? {
            columns: query.onConflict ?? relation.primaryKey,
            action: prefer.resolution === 'merge-duplicates' ? ('update' as const) : ('nothing' as const),
          }
        : undefined;
      if (onConflict) checkBodyColumns(relation, onConflict.columns);
      plan = { kind: 'insert', relation, columns, groups, onConflict, where: [], returning, select };
      break;
    }
    case 'PUT':
      plan = putPlan(ctx, relation, filters, select, returning);
      break;
    case 'PATCH': {
      const [values] = bodyRows(request.body);
      if (Array.isArray(request.body)) {
        throw new ApiError('PGRST102', { message: 'A PATCH body must be one JSON object' });
      }
      const columns = Object.keys(values ?? {});
      checkBodyColumns(relation, columns);
      if (columns.length === 0) return respondEmptyWrite(media, returning);
      plan = { kind: 'update', relation, columns, groups: [], values, where: whereFilters, returning, select };
      break;
    }
    default:
      plan = { kind: 'delete', relation, columns: [], groups: [], where: whereFilters, returning, select };
  }
  checkScopes(ctx.caller, needs);

  const statements = mutateSql(plan);
  const status = request.method === 'POST' ? 201 : returning === 'representation' ? 200 : 204;
  return run(ctx, async (tx) => {
    let result: PageResult;
    if (returning === 'minimal') {
      let affected = 0;
      for (const statement of statements) affected += (await tx.query(statement)).rowCount;
      result = { pageTotal: affected, body: '' };
    } else {
      result = await pageResult(tx, statements[0] as SqlFragment, false);
    }
    checkMaxAffected(ctx, result.pageTotal);
    const headers: Record<string, string> = {
      'content-range': result.pageTotal > 0 ? `*/${result.pageTotal}` : '*/0',
    };
    if (prefer.count === 'exact') headers['content-range'] = `*/${result.pageTotal}`;
    const applied = prefer.applied.filter(honoured);
    if (applied.length > 0) headers['preference-applied'] = applied.join(', ');
    if (returning === 'headers-only' && request.method === 'POST' && result.pageTotal === 1) {
      headers.location = locationOf(relation, result.body);
    }
    if (returning !== 'representation') return { status: request.method === 'POST' ? 201 : 204, headers };
    const response = respondRows(ctx, media, result, 0, status);
    return { ...response, headers: { ...response.headers, ...headers, 'content-type': CONTENT_TYPES[media] } };
  });
}

function checkMaxAffected(ctx: Context, affected: number): void {
  const max = ctx.prefer.maxAffected;
  if (max !== undefined && ctx.prefer.handling === 'strict' && affected > max) {
    throw new ApiError('PGRST124', {
      message: 'Query result exceeds max-affected preference constraint',
      details: `The query affects ${affected} rows`,
    });
  }
}

function respondEmptyWrite(media: MediaType, returning: string): RestResponse {
  if (returning === 'representation') {
    return { status: 200, headers: { 'content-type': CONTENT_TYPES[media], 'content-range': '*/0' }, body: '[]' };
  }
  return { status: 204, headers: { 'content-range': '*/0' } };
}

/** `Location: /listings?id=eq.…` for a created row, from its primary key. */
function locationOf(relation: Relation, body: string): string {
  const [row] = JSON.parse(body) as Record<string, unknown>[];
  const params = relation.primaryKey.map((c) => `${encodeURIComponent(c)}=eq.${encodeURIComponent(String(row?.[c]))}`);
  return `/${relation.name}?${params.join('&')}`;
}

/** PUT: one row, identified by eq filters on the whole primary key, upserted. */
function putPlan(
  ctx: Context,
  relation: Relation,
  filters: readonly PathFilter[],
  select: SelectPlan | undefined,
  returning: MutatePlan['returning'],
): MutatePlan {
  const pk = relation.primaryKey;
  const eq = new Map<string, string>();
  for (const f of filters) {
    if (f.node.kind === 'condition' && f.node.op === 'eq' && !f.node.negate && f.node.field.path.length === 0) {
      eq.set(f.node.field.name, String(f.node.value));
    }
  }
  if (pk.length === 0 || filters.length !== pk.length || !pk.every((c) => eq.has(c))) {
    throw new ApiError('PGRST105', {
      message: "Filters must include all and only primary key columns with 'eq' operators",
    });
  }
  const body = ctx.request.body;
  const rows = bodyRows(body);
  if (Array.isArray(body) && rows.length !== 1) {
    throw new ApiError('PGRST102', { message: 'A PUT body must be one JSON object' });
  }
  const row = rows[0] as Record<string, unknown>;
  for (const c of pk) {
    if (!Object.hasOwn(row, c) || String(row[c]) !== eq.get(c)) {
      throw new ApiError('PGRST115', { message: 'Payload values do not match URL in primary key column(s)' });
    }
  }
  const columns = Object.keys(row);
  checkBodyColumns(relation, columns);
  return {
    kind: 'insert',
    relation,
    columns,
    groups: [{ columns, rows: [row] }],
    onConflict: { columns: pk, action: 'update' },
    where: [],
    returning,
    select,
  };
}

/** RPC: GET (arguments in the query string, read-only) or POST (arguments in the body). */
async function call(ctx: Context, name: string): Promise<RestResponse> {
  const { request, cache, schema } = ctx;
  if (request.method !== 'GET' && request.method !== 'HEAD' && request.method !== 'POST') {
    throw new ApiError('PGRST101');
  }
  const query = parseQuery(request.search);
  const candidates = cache.routines(schema, name);
  const readOnly = request.method !== 'POST';
  const singleObject = ctx.prefer.params === 'single-object';
  const given = new Map<string, unknown>();
  let argKeys: Set<string>;
  if (readOnly) {
    const names = new Set(candidates.flatMap((r) => r.params.map((p) => p.name)));
    argKeys = new Set(query.rest.map(([k]) => k).filter((k) => names.has(k)));
    for (const [k, v] of query.rest) {
      if (!argKeys.has(k)) continue;
      const previous = given.get(k);
      given.set(k, previous === undefined ? v : Array.isArray(previous) ? [...previous, v] : [previous, v]);
    }
  } else {
    argKeys = new Set();
    const body = request.body ?? {};
    if (!singleObject) {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new ApiError('PGRST102', {
          message: 'The body of a function call must be a JSON object of its arguments',
        });
      }
      for (const [k, v] of Object.entries(body)) given.set(k, v);
    }
  }
  const routine = pickRoutine(
    schema,
    name,
    candidates,
    given,
    singleObject || (!readOnly && isSingleJsonParam(candidates)),
  );
  const single = singleObject || (routine.params.length === 1 && routine.params[0]?.name === '' && !readOnly);
  const args = single ? new Map<string, unknown>([['', request.body ?? {}]]) : given;
  const action = readOnly || routine.volatility !== 'volatile' ? 'read' : 'write';
  const needs: ScopeNeed[] = [{ resource: name, action }];
  const source: Source = { kind: 'call', routine, args, singleObject: single };
  const media = negotiate(header(ctx, 'accept'), ['json', 'object', 'csv']);
  const settings: Record<string, string> = readOnly ? { transaction_read_only: 'on' } : {};

  const relation = routineRelation(cache, routine);
  if (routine.returnsScalar || !relation) {
    checkScopes(ctx.caller, needs);
    return run(
      ctx,
      async (tx): Promise<RestResponse> => {
        if (routine.returnType.name === 'void') {
          await tx.query(scalarCallSql(source, 'void'));
          return { status: 204, headers: {} };
        }
        const { rows } = await tx.query<{ body: string }>(scalarCallSql(source, routine.returnsSet ? 'set' : 'one'));
        return {
          status: 200,
          headers: { 'content-type': CONTENT_TYPES.json },
          body: request.method === 'HEAD' ? undefined : (rows[0]?.body ?? 'null'),
        };
      },
      settings,
    );
  }
  const page = pageOf(ctx, query);
  const select = planSelect(selectContext(ctx, needs), relation, query, filtersOf(query, argKeys), page);
  checkScopes(ctx.caller, needs);
  const count = ctx.prefer.count !== undefined;
  const statement = readSql(source, select, { count });
  return run(
    ctx,
    async (tx) => {
      const result = await pageResult(tx, statement, count);
      if (!routine.returnsSet && media === 'json') {
        // A function returning one row answers with that row, as PostgREST does.
        const body = result.pageTotal === 1 ? result.body.slice(1, -1).trim() : 'null';
        return {
          status: 200,
          headers: { 'content-type': CONTENT_TYPES.json },
          body: request.method === 'HEAD' ? undefined : body,
        };
      }
      return respondRows(ctx, media, result, page.offset ?? 0, 200);
    },
    settings,
  );
}

function isSingleJsonParam(candidates: readonly Routine[]): boolean {
  return (
    candidates.length === 1 &&
    candidates[0]?.params.length === 1 &&
    candidates[0].params[0]?.name === '' &&
    ['json', 'jsonb'].includes(candidates[0].params[0].pgType.name)
  );
}

function pickRoutine(
  schema: string,
  name: string,
  candidates: readonly Routine[],
  given: ReadonlyMap<string, unknown>,
  singleObject: boolean,
): Routine {
  const matches = candidates.filter((r) => {
    if (singleObject) return r.params.length === 1;
    const names = new Set(r.params.map((p) => p.name));
    return [...given.keys()].every((k) => names.has(k)) && r.params.every((p) => p.hasDefault || given.has(p.name));
  });
  if (matches.length === 1) return matches[0] as Routine;
  const signature = `${schema}.${name}(${[...given.keys()].join(', ')})`;
  if (matches.length === 0) {
    throw new ApiError('PGRST202', {
      message: `Could not find the function ${signature} in the schema cache`,
      hint:
        candidates.length > 0
          ? `Perhaps you meant to call the function ${schema}.${name}(${candidates[0]?.params.map((p) => p.name).join(', ')})`
          : 'If a new function was created in the database with this name and parameters, try reloading the schema cache.',
    });
  }
  throw new ApiError('PGRST203', {
    message: `Could not choose the best candidate function between: ${matches
      .map((r) => `${schema}.${name}(${r.params.map((p) => `${p.name} => ${p.type}`).join(', ')})`)
      .join(', ')}`,
    hint: 'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
  });
}
