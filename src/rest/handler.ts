import type { IncomingHttpHeaders } from 'node:http';
import type { Caller, ScopeNeed } from '../auth/caller.js';
import { checkScopes } from '../auth/scopes.js';
import type { Config } from '../config.js';
import type { Database, Transaction } from '../db/database.js';
import { preparing } from '../db/prepared.js';
import type { SqlFragment } from '../db/sql.js';
import { ApiError, isApiError } from '../errors.js';
import { fromDatabaseError, isDatabaseError } from './errors.js';
import { type PreferenceName, type Preferences, parsePrefer, preferenceApplied } from './parse/prefer.js';
import { type ParsedQuery, type PathFilter, parseFilter, parseQuery, parseRange } from './parse/query.js';
import { bodyRows, checkBodyColumns, insertGroups, type MutatePlan } from './plan/mutate.js';
import {
  CONTENT_TYPES,
  type MediaType,
  negotiate,
  type PlanRequest,
  planContentType,
  planRequest,
} from './plan/negotiate.js';
import { closest, planFilters, planOrder, planSelect, usesComputed } from './plan/select.js';
import type { SelectPlan, Source } from './plan/types.js';
import { contentRange } from './respond/range.js';
import { type Relation, type Routine, routineRelation, type SchemaCache } from './schema/cache.js';
import type { BodyFormat } from './sql/body.js';
import { explainSql } from './sql/explain.js';
import { mutateSql } from './sql/mutate.js';
import { plannedCountSql, type ReadCount, readSql, scalarCallSql } from './sql/read.js';

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
  const plan = planOf(ctx);
  const media = plan?.for ?? negotiate(header(ctx, 'accept'), ['json', 'object', 'csv']);
  const query = parseQuery(ctx.request.search);
  const needs: ScopeNeed[] = [{ resource: relation.name, action: 'read' }];
  const page = pageOf(ctx, query);
  const select = planSelect(selectContext(ctx, needs), relation, query, filtersOf(query), page);
  checkScopes(ctx.caller, needs);
  const source: Source = { kind: 'relation', relation };
  const count = countOf(ctx);
  const statement = readSql(source, select, { count: count.read, format: formatOf(media) });
  if (plan) return explain(ctx, plan, [statement]);
  return run(ctx, async (tx) => {
    const result = await pageResult(tx, statement, count, source, select);
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
  /** The total is the planner's estimate, not a count. */
  readonly estimated?: boolean;
}

/**
 * How Prefer: count is answered. exact: counted in the read's statement. planned: the
 * planner's estimate (EXPLAIN), no counting. estimated: counted up to LOCONOMY_DB_MAX_ROWS,
 * the planner's estimate beyond that (exact when no maximum is set), as PostgREST does.
 */
interface CountMode {
  readonly read?: ReadCount;
  readonly planned: boolean;
}

function countOf(ctx: Context): CountMode {
  const max = ctx.deps.config.db.maxRows;
  switch (ctx.prefer.count) {
    case 'exact':
      return { read: {}, planned: false };
    case 'planned':
      return { planned: true };
    case 'estimated':
      return max === undefined ? { read: {}, planned: false } : { read: { upTo: max }, planned: true };
    default:
      return { planned: false };
  }
}

async function pageResult(
  tx: Transaction,
  statement: SqlFragment,
  count: CountMode,
  source?: Source,
  select?: SelectPlan,
): Promise<PageResult> {
  const { rows } = await tx.query<{ page_total: number; body: string; total?: string | number }>(statement);
  const row = rows[0] ?? { page_total: 0, body: '[]' };
  let total = count.read && row.total !== undefined ? Number(row.total) : undefined;
  const upTo = count.read?.upTo;
  const overMax = upTo !== undefined && total !== undefined && total > upTo;
  const estimated = count.planned && source !== undefined && select !== undefined && (total === undefined || overMax);
  if (estimated) total = await plannedCount(tx, source, select);
  return { pageTotal: row.page_total, body: row.body, total, estimated };
}

async function plannedCount(tx: Transaction, source: Source, select: SelectPlan): Promise<number> {
  const { rows } = await tx.query<{ 'QUERY PLAN': unknown }>(plannedCountSql(source, select));
  const plan = rows[0]?.['QUERY PLAN'];
  const parsed = (typeof plan === 'string' ? JSON.parse(plan) : plan) as { Plan?: { 'Plan Rows'?: number } }[];
  return Math.round(parsed[0]?.Plan?.['Plan Rows'] ?? 0);
}

/** What a read echoes in Preference-Applied; a function call also its params. */
const READ_ECHO: readonly PreferenceName[] = ['count', 'tx', 'handling', 'timezone'];
const CALL_ECHO: readonly PreferenceName[] = ['params', 'count', 'tx', 'handling', 'timezone', 'max-affected'];

function respondRows(
  ctx: Context,
  media: MediaType,
  result: PageResult,
  offset: number,
  status: number,
  echo: readonly PreferenceName[] = READ_ECHO,
): RestResponse {
  const headers: Record<string, string> = {
    'content-type': CONTENT_TYPES[media],
    'content-range': contentRange(offset, result.pageTotal, result.total),
  };
  const applied = preferenceApplied(ctx.prefer, echo, txOverridable(ctx));
  if (applied) headers['preference-applied'] = applied;
  if (media === 'object') return { status, headers, body: singular(media, result.pageTotal, result.body) };
  if (offset > 0 && result.total !== undefined && !result.estimated && offset >= result.total && result.total > 0) {
    throw new ApiError('PGRST103', {
      message: 'Requested range not satisfiable',
      details: `An offset of ${offset} was requested, but there are only ${result.total} rows.`,
      headers: { 'content-range': `*/${result.total}`, ...(applied ? { 'preference-applied': applied } : {}) },
    });
  }
  const partial = status === 200 && result.total !== undefined && (offset > 0 || result.pageTotal < result.total);
  return { status: partial ? 206 : status, headers, body: ctx.request.method === 'HEAD' ? undefined : result.body };
}

/** Runs fn in one transaction as the caller; the end follows LOCONOMY_DB_TX_END and Prefer: tx. */
async function run<T>(
  ctx: Context,
  fn: (tx: Transaction) => Promise<T>,
  settings: Record<string, string> = {},
  forceRollback = false,
): Promise<T> {
  const { caller, request, deps } = ctx;
  const txEnd = deps.config.db.txEnd;
  const overridable = txEnd.endsWith('allow-override');
  const rollback =
    forceRollback || (overridable && ctx.prefer.tx ? ctx.prefer.tx === 'rollback' : txEnd.startsWith('rollback'));
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

function planOf(ctx: Context): PlanRequest | undefined {
  return planRequest(header(ctx, 'accept'), ctx.deps.config.db.planEnabled);
}

/**
 * The plan of the statements instead of their rows. The transaction always rolls back, so
 * `options=analyze` on a write runs it but keeps nothing.
 */
function explain(
  ctx: Context,
  plan: PlanRequest,
  statements: readonly SqlFragment[],
  settings: Record<string, string> = {},
): Promise<RestResponse> {
  return run(
    ctx,
    async (tx) => {
      const plans: unknown[] = [];
      for (const statement of statements) {
        const { rows } = await tx.query<{ 'QUERY PLAN': unknown }>(explainSql(statement, plan));
        for (const row of rows) plans.push(row['QUERY PLAN']);
      }
      const body =
        plan.format === 'json'
          ? JSON.stringify(plans.flatMap((p) => (typeof p === 'string' ? JSON.parse(p) : p)))
          : plans.join('\n');
      return { status: 200, headers: { 'content-type': planContentType(plan) }, body };
    },
    settings,
    true,
  );
}

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
  const plan = planOf(ctx);
  const media =
    plan?.for ??
    (returning === 'representation' ? negotiate(header(ctx, 'accept'), ['json', 'object', 'csv']) : 'json');
  if (request.method === 'PUT' && (query.limit.size > 0 || query.offset.size > 0)) {
    throw new ApiError('PGRST114', { message: 'limit/offset querystring parameters are not allowed for PUT' });
  }
  const limited = limitedWrite(ctx, relation, query);
  const filters = filtersOf(query);
  for (const f of filters) {
    if (f.path !== '')
      throw new ApiError('PGRST108', { message: 'Filters on embedded resources are not allowed in a write' });
  }
  const select =
    returning === 'representation'
      ? // limit/offset pick the rows a limited write changes; the representation shows them all.
        planSelect(
          selectContext(ctx, needs),
          relation,
          { ...query, limit: new Map(), offset: new Map() },
          [],
          undefined,
        )
      : undefined;
  if (returning === 'representation') needs.push({ resource: relation.name, action: 'read' });
  if (select && usesComputed(select)) {
    // The written rows are a CTE of the RETURNING columns, not rows of the table's type.
    throw new ApiError('PGRST127', {
      message: 'Computed fields and computed relationships are not available in the representation of a write',
      hint: 'Read the rows again after the write.',
    });
  }
  const whereFilters = planFilters(ctx.cache, relation, filters);

  let write: MutatePlan;
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
      write = { kind: 'insert', relation, columns, groups, onConflict, where: [], returning, select };
      break;
    }
    case 'PUT':
      write = putPlan(ctx, relation, filters, select, returning);
      break;
    case 'PATCH': {
      const [values] = bodyRows(request.body);
      if (Array.isArray(request.body)) {
        throw new ApiError('PGRST102', { message: 'A PATCH body must be one JSON object' });
      }
      const columns = Object.keys(values ?? {});
      checkBodyColumns(relation, columns);
      if (columns.length === 0)
        return writeResponse(ctx, relation, media, returning, { pageTotal: 0, body: '[]', inserted: 0 });
      write = {
        kind: 'update',
        relation,
        columns,
        groups: [],
        values,
        where: whereFilters,
        limited,
        returning,
        select,
      };
      break;
    }
    default:
      write = { kind: 'delete', relation, columns: [], groups: [], where: whereFilters, limited, returning, select };
  }
  checkScopes(ctx.caller, needs);

  const statements = mutateSql(write, formatOf(media));
  if (plan) return explain(ctx, plan, statements);
  return run(ctx, async (tx) => {
    let result: WriteResult;
    if (returning === 'minimal') {
      result = { pageTotal: 0, body: '', inserted: 0 };
      for (const statement of statements) {
        const { rows, rowCount } = await tx.query<{ _inserted?: boolean }>(statement);
        result.pageTotal += rowCount;
        result.inserted += rows.filter((r) => r._inserted === true).length;
      }
    } else {
      const { rows } = await tx.query<{ page_total: number; body: string; inserted?: number }>(
        statements[0] as SqlFragment,
      );
      const row = rows[0];
      result = { pageTotal: row?.page_total ?? 0, body: row?.body ?? '[]', inserted: row?.inserted ?? 0 };
    }
    checkMaxAffected(ctx, result.pageTotal);
    return writeResponse(ctx, relation, media, returning, result);
  });
}

interface WriteResult {
  pageTotal: number;
  body: string;
  /** Upserts: how many of the rows were new. */
  inserted: number;
}

/** Statuses and headers of a write, per method, as PostgREST 12 sends them. */
function writeResponse(
  ctx: Context,
  relation: Relation,
  media: MediaType,
  returning: MutatePlan['returning'],
  result: WriteResult,
): RestResponse {
  const { method } = ctx.request;
  const { prefer } = ctx;
  const n = result.pageTotal;
  const total = prefer.count === 'exact' ? String(n) : '*';
  const headers: Record<string, string> = {};
  let status = returning === 'representation' ? 200 : 204;
  let echo: PreferenceName[];
  switch (method) {
    case 'POST': {
      const keyed = relation.primaryKey.length > 0 || ctx.request.search.has('on_conflict');
      echo = [...(keyed ? (['resolution'] as const) : []), 'missing', 'return', 'count', 'tx', 'handling', 'timezone'];
      status = prefer.resolution === 'merge-duplicates' && result.inserted <= 0 ? 200 : 201;
      headers['content-range'] = `*/${total}`;
      if (returning === 'headers-only' && n === 1) headers.location = locationOf(relation, result.body);
      break;
    }
    case 'PUT':
      echo = ['return', 'count', 'tx', 'handling', 'timezone'];
      if (returning === 'representation') status = result.inserted > 0 ? 201 : 200;
      break;
    case 'PATCH':
      echo = ['missing', 'return', 'count', 'tx', 'handling', 'timezone', 'max-affected'];
      headers['content-range'] = n > 0 ? `0-${n - 1}/${total}` : `*/${total}`;
      break;
    default:
      echo = ['return', 'count', 'tx', 'handling', 'timezone', 'max-affected'];
      headers['content-range'] = `*/${total}`;
  }
  const applied = preferenceApplied(prefer, echo, txOverridable(ctx));
  if (applied) headers['preference-applied'] = applied;
  if (returning !== 'representation') return { status, headers };
  return {
    status,
    headers: { ...headers, 'content-type': CONTENT_TYPES[media] },
    body: singular(media, n, result.body),
  };
}

/** The body of a representation: the array, or for vnd.pgrst.object its one row (406 otherwise). */
function singular(media: MediaType, rows: number, body: string): string {
  if (media !== 'object') return body;
  if (rows !== 1) {
    throw new ApiError('PGRST116', {
      message: 'Cannot coerce the result to a single JSON object',
      details: `The result contains ${rows} rows`,
    });
  }
  return body.slice(1, -1).trim();
}

function formatOf(media: MediaType): BodyFormat {
  return media === 'csv' ? 'csv' : 'json';
}

function txOverridable(ctx: Context): boolean {
  return ctx.deps.config.db.txEnd.endsWith('allow-override');
}

/**
 * PATCH/DELETE `?limit=N[&offset=M]&order=…` (PostgREST 12): the first N rows by an explicit
 * order, so which rows change is never left to chance. Tables only (rows are picked by ctid).
 */
function limitedWrite(ctx: Context, relation: Relation, query: ParsedQuery): MutatePlan['limited'] {
  const limit = query.limit.get('');
  const offset = query.offset.get('');
  const paths = [...query.limit.keys(), ...query.offset.keys()];
  if (paths.some((path) => path !== '') || (paths.length > 0 && ctx.request.method === 'POST')) {
    throw new ApiError('PGRST127', {
      message: 'limit and offset are only supported on the rows a PATCH or DELETE changes',
      hint: 'Remove limit/offset from the request.',
    });
  }
  if (limit === undefined && offset === undefined) return undefined;
  if (limit === undefined) {
    throw new ApiError('PGRST127', { message: 'An offset on a write needs a limit as well' });
  }
  const order = query.order.get('') ?? [];
  if (order.length === 0) {
    throw new ApiError('PGRST109', {
      message: "A 'limit' was applied without an explicit 'order'",
      hint: "Apply an 'order' using unique column(s)",
    });
  }
  if (relation.kind !== 'table' && relation.kind !== 'partitioned table') {
    throw new ApiError('PGRST127', {
      message: `A limited update or delete is only supported on tables, not on '${relation.name}'`,
    });
  }
  return { order: order.map((term) => planOrder(ctx.cache, relation, term)), limit, offset };
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
    throw new ApiError('PGRST101', { message: `Cannot use the ${request.method} method on RPC` });
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
  const routine = pickRoutine(ctx, name, candidates, given, {
    singleObject: singleObject || (!readOnly && isSingleJsonParam(candidates)),
    // For the error: a GET's arguments are all its non-reserved parameters, as PostgREST reads them.
    argNames: readOnly ? [...new Set(query.rest.map(([k]) => k))] : [...given.keys()],
  });
  const single = singleObject || (routine.params.length === 1 && routine.params[0]?.name === '' && !readOnly);
  const args = single ? new Map<string, unknown>([['', request.body ?? {}]]) : given;
  const action = readOnly || routine.volatility !== 'volatile' ? 'read' : 'write';
  const needs: ScopeNeed[] = [{ resource: name, action }];
  const source: Source = { kind: 'call', routine, args, singleObject: single };
  const plan = planOf(ctx);
  const media = plan?.for ?? negotiate(header(ctx, 'accept'), ['json', 'object', 'csv']);
  const settings: Record<string, string> = readOnly ? { transaction_read_only: 'on' } : {};

  const relation = routineRelation(cache, routine);
  if (routine.returnsScalar || !relation) {
    checkScopes(ctx.caller, needs);
    if (plan) {
      const mode = routine.returnType.name === 'void' ? 'void' : routine.returnsSet ? 'set' : 'one';
      return explain(ctx, plan, [scalarCallSql(source, mode)], settings);
    }
    return run(
      ctx,
      async (tx): Promise<RestResponse> => {
        const headers: Record<string, string> = { 'content-range': '0-0/*' };
        const applied = preferenceApplied(ctx.prefer, CALL_ECHO, txOverridable(ctx));
        if (applied) headers['preference-applied'] = applied;
        if (routine.returnType.name === 'void') {
          await tx.query(scalarCallSql(source, 'void'));
          return { status: 204, headers };
        }
        const { rows } = await tx.query<{ body: string; page_total?: number }>(
          scalarCallSql(source, routine.returnsSet ? 'set' : 'one'),
        );
        const n = rows[0]?.page_total;
        if (n !== undefined) headers['content-range'] = contentRange(0, n, undefined);
        return {
          status: 200,
          headers: { ...headers, 'content-type': CONTENT_TYPES.json },
          body: request.method === 'HEAD' ? undefined : (rows[0]?.body ?? 'null'),
        };
      },
      settings,
    );
  }
  const page = pageOf(ctx, query);
  const select = planSelect(selectContext(ctx, needs), relation, query, filtersOf(query, argKeys), page);
  checkScopes(ctx.caller, needs);
  const count = countOf(ctx);
  const statement = readSql(source, select, { count: count.read, format: formatOf(media) });
  if (plan) return explain(ctx, plan, [statement], settings);
  return run(
    ctx,
    async (tx) => {
      const result = await pageResult(tx, statement, count, source, select);
      const response = respondRows(ctx, media, result, page.offset ?? 0, 200, CALL_ECHO);
      if (routine.returnsSet || media !== 'json') return response;
      // A function returning one row answers with that row, as PostgREST does.
      const body = result.pageTotal === 1 ? result.body.slice(1, -1).trim() : 'null';
      return { ...response, body: request.method === 'HEAD' ? undefined : body };
    },
    settings,
  );
}

/** PGRST202 worded as PostgREST words it, with the nearest function (or signature) as hint. */
function noFunction(
  ctx: Context,
  name: string,
  overloads: readonly Routine[],
  options: { singleObject: boolean; argNames: readonly string[] },
): ApiError {
  const fn = `${ctx.schema}.${name}`;
  const args = options.argNames;
  const list = args.join(', ');
  const post = ctx.request.method === 'POST';
  const withArgs = args.length === 0 ? ' without parameters' : ` with parameter${args.length > 1 ? 's' : ''} ${list}`;
  const searched = options.singleObject
    ? ' with a single json/jsonb parameter'
    : `${withArgs}${post ? ' or with a single unnamed json/jsonb parameter' : ''}`;
  const sortedList = (names: readonly string[]) => `(${[...names].sort().join(', ')})`;
  let near: string | undefined;
  if (overloads.length === 0) {
    near = closest(
      name,
      ctx.cache.allRoutines.filter((r) => r.schema === ctx.schema).map((r) => r.name),
    );
  } else {
    const signatures = overloads.map((r) => sortedList(r.params.map((p) => p.name)));
    const signature = closest(sortedList(args), signatures);
    near = signature === undefined ? undefined : `${name}${signature}`;
  }
  return new ApiError('PGRST202', {
    message: `Could not find the function ${fn}${options.singleObject ? '' : `(${list})`} in the schema cache`,
    details: `Searched for the function ${fn}${searched}, but no matches were found in the schema cache.`,
    hint: !options.singleObject && near ? `Perhaps you meant to call the function ${ctx.schema}.${near}` : null,
  });
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
  ctx: Context,
  name: string,
  candidates: readonly Routine[],
  given: ReadonlyMap<string, unknown>,
  options: { singleObject: boolean; argNames: readonly string[] },
): Routine {
  const { schema } = ctx;
  const matches = candidates.filter((r) => {
    if (options.singleObject) return r.params.length === 1;
    const names = new Set(r.params.map((p) => p.name));
    return [...given.keys()].every((k) => names.has(k)) && r.params.every((p) => p.hasDefault || given.has(p.name));
  });
  if (matches.length === 1) return matches[0] as Routine;
  if (matches.length === 0) throw noFunction(ctx, name, candidates, options);
  throw new ApiError('PGRST203', {
    message: `Could not choose the best candidate function between: ${matches
      .map((r) => `${schema}.${name}(${r.params.map((p) => `${p.name} => ${p.type}`).join(', ')})`)
      .join(', ')}`,
    hint: 'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
  });
}
