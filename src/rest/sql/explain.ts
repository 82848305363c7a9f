import { type SqlFragment, sql } from '../../db/sql.js';
import type { PlanRequest } from '../plan/negotiate.js';

/**
 * EXPLAIN of a request's statement for `Accept: application/vnd.pgrst.plan`. The options come
 * from a closed list (negotiate.ts), so their SQL text is fixed here, never taken from input.
 */
const OPTION_SQL = {
  analyze: sql.raw('analyze'),
  verbose: sql.raw('verbose'),
  settings: sql.raw('settings'),
  buffers: sql.raw('buffers'),
  wal: sql.raw('wal'),
} as const;

export function explainSql(statement: SqlFragment, plan: PlanRequest): SqlFragment {
  const options = [plan.format === 'json' ? sql.raw('format json') : sql.raw('format text')];
  for (const option of plan.options) options.push(OPTION_SQL[option]);
  return sql`explain (${sql.join(options)}) ${statement}`;
}
