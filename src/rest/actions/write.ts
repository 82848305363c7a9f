import type { ScopeNeed } from '../../auth/caller.js';
import { checkScopes } from '../../auth/scopes.js';
import type { SqlFragment } from '../../db/sql.js';
import { ApiError } from '../../errors.js';
import {
  type Context,
  filtersOf,
  formatOf,
  header,
  type RestResponse,
  selectContext,
  txOverridable,
} from '../context.js';
import { type PreferenceName, preferenceApplied } from '../parse/prefer.js';
import { type ParsedQuery, type PathFilter, parseQuery } from '../parse/query.js';
import { bodyRows, checkBodyColumns, insertGroups, type MutatePlan } from '../plan/mutate.js';
import { CONTENT_TYPES, isSingular, type MediaType, negotiate, ROW_MEDIA } from '../plan/negotiate.js';
import { planFilters, planOrder, planSelect, usesComputed } from '../plan/select.js';
import type { SelectPlan } from '../plan/types.js';
import { checkMaxAffected, strictMaxAffected } from '../respond/max-affected.js';
import { singular } from '../respond/rows.js';
import type { Relation } from '../schema/cache.js';
import { mutateSql } from '../sql/mutate.js';
import { explain, planOf, run } from '../transaction.js';

/**
 * POST, PATCH, PUT and DELETE: the write planned and run as one statement (per group of
 * columns), answered with PostgREST 12's statuses and headers.
 */

export async function mutate(ctx: Context, relation: Relation): Promise<RestResponse> {
  const { request, prefer } = ctx;
  const query = parseQuery(request.search);
  const needs: ScopeNeed[] = [{ resource: relation.name, action: 'write' }];
  const returning = prefer.return ?? 'minimal';
  const plan = planOf(ctx);
  const media = plan?.for ?? (returning === 'representation' ? negotiate(header(ctx, 'accept'), ROW_MEDIA) : 'json');
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
  // Checks of the result that refuse the write (and must roll it back) keep the transaction
  // open past the statement; otherwise the last statement carries the end.
  const closing = !strictMaxAffected(ctx) && !(returning === 'representation' && isSingular(media));
  return run(ctx, async (tx) => {
    const runs = (i: number) => (closing && i === statements.length - 1 ? tx.last : tx.query);
    let result: WriteResult;
    if (returning === 'minimal') {
      result = { pageTotal: 0, body: '', inserted: 0 };
      for (const [i, statement] of statements.entries()) {
        const { rows, rowCount } = await runs(i)<{ _inserted?: boolean }>(statement);
        result.pageTotal += rowCount;
        result.inserted += rows.filter((r) => r._inserted === true).length;
      }
    } else {
      const { rows } = await runs(0)<{ page_total: number; body: string; inserted?: number }>(
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
