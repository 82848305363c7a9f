import type { IncomingHttpHeaders } from 'node:http';
import { DatabaseUnavailableError, type Transaction } from '../db/database.js';
import { preparing } from '../db/prepared.js';
import type { SqlFragment } from '../db/sql.js';
import { ApiError, isApiError } from '../errors.js';
import { type Context, header, type RestResponse, txOverridable } from './context.js';
import { fromDatabaseError, isDatabaseError } from './errors.js';
import { type PlanRequest, planContentType, planRequest } from './plan/negotiate.js';
import type { SchemaCache } from './schema/cache.js';
import { explainSql } from './sql/explain.js';

/**
 * The one place a REST request opens its transaction: as the caller's role, with the request
 * context set, ended by LOCONOMY_DB_TX_END and Prefer: tx; and EXPLAIN of a request's
 * statements for Accept: application/vnd.pgrst.plan. An action runs its final statement with
 * `tx.last()` when no check of the result is left that could undo the transaction, so on
 * PostgreSQL the whole request is one round trip (decision 0014).
 */

/** Runs fn in one transaction as the caller; the end follows LOCONOMY_DB_TX_END and Prefer: tx. */
export async function run<T>(
  ctx: Context,
  fn: (tx: Transaction) => Promise<T>,
  settings: Record<string, string> = {},
  forceRollback = false,
): Promise<T> {
  const { caller, request, deps } = ctx;
  const txEnd = deps.config.db.txEnd;
  const rollback =
    forceRollback ||
    (txOverridable(ctx) && ctx.prefer.tx ? ctx.prefer.tx === 'rollback' : txEnd.startsWith('rollback'));
  // The role's own settings first (statement_timeout…), then the request's (timezone…).
  settings = { ...ctx.cache.roleSettings(caller.role), ...settings };
  if (ctx.prefer.timezone) settings.timezone = ctx.prefer.timezone;
  // The one source of the client address for SQL (app.client_ip()): never a raw header.
  if (request.clientIp) settings['request.client_ip'] = request.clientIp;
  const info = {
    method: request.method,
    path: `/${request.path}`,
    headers: plainHeaders(request.headers),
    settings,
  };
  try {
    return await deps.db.asRole(
      caller.role,
      caller.claims,
      // The request's statements are shapes: prepared on PostgreSQL (decision 0010).
      (tx) => fn(preparing(tx)),
      info,
      { end: rollback ? 'rollback' : 'commit' },
    );
  } catch (error) {
    throw asApiError(error, caller.role !== deps.config.db.anonRole, ctx.cache);
  }
}

/**
 * What a failed request transaction answers: a PostgreSQL error as PostgREST shapes it, a lost
 * database as PGRST000/PGRST001; ApiErrors and anything else unchanged. Server functions
 * (src/functions) map their callers' statements with it too.
 */
export function asApiError(error: unknown, authenticated: boolean, cache?: SchemaCache): unknown {
  if (isApiError(error)) return error;
  if (isDatabaseError(error)) return fromDatabaseError(error, authenticated, cache);
  if (error instanceof DatabaseUnavailableError) {
    return new ApiError(error.phase === 'connect' ? 'PGRST000' : 'PGRST001', { details: error.message });
  }
  return error;
}

export function planOf(ctx: Context): PlanRequest | undefined {
  return planRequest(header(ctx, 'accept'), ctx.deps.config.db.planEnabled);
}

/**
 * The plan of the statements instead of their rows. The transaction always rolls back, so
 * `options=analyze` on a write runs it but keeps nothing.
 */
export function explain(
  ctx: Context,
  plan: PlanRequest,
  statements: readonly SqlFragment[],
  settings: Record<string, string> = {},
): Promise<RestResponse> {
  return run(
    ctx,
    async (tx) => {
      const plans: unknown[] = [];
      for (const [i, statement] of statements.entries()) {
        const explained = explainSql(statement, plan);
        const { rows } = await (i === statements.length - 1 ? tx.last : tx.query)<{ 'QUERY PLAN': unknown }>(explained);
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

/** Headers as request.headers shows them (lower-case names; credentials left out); also server functions' (src/functions). */
export function plainHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name === 'authorization' || name === 'apikey' || name === 'cookie') continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
