import type { ScopeNeed } from '../../auth/caller.js';
import { checkScopes } from '../../auth/scopes.js';
import type { Transaction } from '../../db/database.js';
import type { Query, SqlFragment } from '../../db/sql.js';
import { type Context, filtersOf, formatOf, header, pageOf, type RestResponse, selectContext } from '../context.js';
import { parseQuery } from '../parse/query.js';
import { isSingular, type MediaType, negotiate, ROW_MEDIA } from '../plan/negotiate.js';
import { reusedPlan } from '../plan/reuse.js';
import { planSelect } from '../plan/select.js';
import type { SelectPlan, Source } from '../plan/types.js';
import { mayRefuse, type PageResult, respondRows } from '../respond/rows.js';
import type { Relation } from '../schema/cache.js';
import { plannedCountSql, type ReadCount, readSql } from '../sql/read.js';
import { explain, planOf, run } from '../transaction.js';

/** GET/HEAD on a table or view: one statement that builds the page, and Prefer: count. */

export async function read(ctx: Context, relation: Relation): Promise<RestResponse> {
  const plan = planOf(ctx);
  const planned = plan
    ? planRead(ctx, relation, plan.for)
    : reusedPlan(ctx.cache, readKey(ctx, relation), () => planRead(ctx, relation));
  checkScopes(ctx.caller, planned.needs);
  if (plan) return explain(ctx, plan, [planned.statement]);
  const { query, count, select, media, offset, closing } = planned;
  const source: Source = { kind: 'relation', relation };
  return run(ctx, async (tx) => {
    const result = await pageResult(tx, query, count, source, select, closing);
    const response = respondRows(ctx, media, result, offset, 200);
    return { ...response, headers: { ...response.headers, 'content-location': contentLocation(relation, ctx) } };
  });
}

/** Everything about a read that does not depend on who the caller is beyond their role. */
interface ReadPlan {
  readonly media: MediaType;
  readonly needs: readonly ScopeNeed[];
  readonly select: SelectPlan;
  readonly count: CountMode;
  readonly statement: SqlFragment;
  /** The statement as run: a page that cannot be refused keeps its body as bytes (sent on as they are). */
  readonly query: Query;
  readonly offset: number;
  /** Nothing after the statement may refuse the page: it ends the transaction. */
  readonly closing: boolean;
}

function planRead(ctx: Context, relation: Relation, media?: MediaType): ReadPlan {
  media ??= negotiate(header(ctx, 'accept'), ROW_MEDIA);
  const parsed = parseQuery(ctx.request.search);
  const needs: ScopeNeed[] = [{ resource: relation.name, action: 'read' }];
  const page = pageOf(ctx, parsed);
  const select = planSelect(selectContext(ctx, needs), relation, parsed, filtersOf(parsed), page);
  const count = countOf(ctx);
  const statement = readSql({ kind: 'relation', relation }, select, { count: count.read, format: formatOf(media) });
  const offset = page.offset ?? 0;
  const closing = !mayRefuse(media, offset, count.read !== undefined || count.planned);
  // An object's body is cut from the array, so it is read as text.
  const query = isSingular(media) ? statement : { text: statement.text, values: statement.values, bytes: ['body'] };
  return { media, needs, select, count, statement, query, offset, closing };
}

/** What a read's plan depends on (src/rest/plan/reuse.ts): the config is the server's, the schema cache holds the plans. */
function readKey(ctx: Context, relation: Relation): string {
  return [
    ctx.request.method,
    ctx.caller.role,
    relation.schema,
    relation.name,
    ctx.request.search.toString(),
    header(ctx, 'range') ?? '',
    header(ctx, 'accept') ?? '',
    ctx.prefer.count ?? '',
    // The server's own, unless a caller of handleRest shares one schema cache between configs.
    ctx.deps.config.db.maxRows ?? '',
    ctx.deps.config.db.aggregatesEnabled,
  ].join('\0');
}

/**
 * How Prefer: count is answered. exact: counted in the read's statement. planned: the
 * planner's estimate (EXPLAIN), no counting. estimated: counted up to LOCONOMY_DB_MAX_ROWS,
 * the planner's estimate beyond that (exact when no maximum is set), as PostgREST does.
 */
export interface CountMode {
  readonly read?: ReadCount;
  readonly planned: boolean;
}

export function countOf(ctx: Context): CountMode {
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

/**
 * Runs the page's statement (and the planned count when one is needed). `closing`: nothing
 * after may refuse the page, so the last statement ends the transaction (`tx.last`); the
 * planned count depends on the page, so a read that may need one keeps the transaction open.
 */
export async function pageResult(
  tx: Transaction,
  statement: Query,
  count: CountMode,
  source: Source,
  select: SelectPlan,
  closing: boolean,
): Promise<PageResult> {
  type PageRow = { page_total: number; body: string | Buffer; total?: string | number };
  const { rows } = closing && !count.planned ? await tx.last<PageRow>(statement) : await tx.query<PageRow>(statement);
  const row = rows[0] ?? { page_total: 0, body: '[]' };
  let total = count.read && row.total !== undefined ? Number(row.total) : undefined;
  const upTo = count.read?.upTo;
  const overMax = upTo !== undefined && total !== undefined && total > upTo;
  const estimated = count.planned && (total === undefined || overMax);
  if (estimated) total = await plannedCount(tx, source, select, closing);
  return { pageTotal: row.page_total, body: row.body, total, estimated };
}

async function plannedCount(tx: Transaction, source: Source, select: SelectPlan, closing: boolean): Promise<number> {
  const statement = plannedCountSql(source, select);
  type PlanRow = { 'QUERY PLAN': unknown };
  const { rows } = closing ? await tx.last<PlanRow>(statement) : await tx.query<PlanRow>(statement);
  const plan = rows[0]?.['QUERY PLAN'];
  const parsed = (typeof plan === 'string' ? JSON.parse(plan) : plan) as { Plan?: { 'Plan Rows'?: number } }[];
  return Math.round(parsed[0]?.Plan?.['Plan Rows'] ?? 0);
}

/** `Content-Location: /listings?select=…` with the parameters sorted by name, as PostgREST sends it. */
function contentLocation(relation: Relation, ctx: Context): string {
  const params = [...ctx.request.search].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const query = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return `/${relation.name}${query === '' ? '' : `?${query}`}`;
}
