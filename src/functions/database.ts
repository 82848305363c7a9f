import type { Database, DatabaseRole, Queryable, RequestInfo } from '../db/database.js';
import type { Query } from '../db/sql.js';
import { ApiError } from '../errors.js';
import { asApiError } from '../rest/transaction.js';
import type { FunctionDatabase, FunctionStatement, FunctionTransaction } from './types.js';

/**
 * ctx.db and ctx.serviceDb: SQL run through the same door as a REST request — db.asRole sets
 * the role, request.jwt.claims, the request line and headers in the transaction (src/db/context.ts),
 * and failures become the REST layer's errors (a PostgreSQL error with its SQLSTATE and status,
 * PGRST000/001 when the database is gone). A statement may not outlive the call: each
 * transaction gets the call's remaining time as statement_timeout, and none starts once the
 * call's signal is aborted (its timeout passed, or the client went away).
 */
export interface Runner {
  readonly db: Database;
  readonly role: DatabaseRole;
  readonly claims: object;
  /** Whether a permission error means "sign in" (401, anon) or "not allowed" (403). */
  readonly authenticated: boolean;
  /** The request line, headers and settings for SQL; `remainingMs` the call's time left. */
  readonly request: (remainingMs: number) => RequestInfo;
  readonly signal: AbortSignal;
  /** When the call must have answered (ms since the epoch). */
  readonly deadline: number;
}

export function functionDatabase(runner: Runner): FunctionDatabase {
  const transaction = async <T>(fn: (tx: FunctionTransaction) => Promise<T>, single = false): Promise<T> => {
    if (runner.signal.aborted) {
      throw new ApiError('LOCO_FUNCTION_TIMEOUT', {
        message: 'The function call has ended (timed out or cancelled); no more SQL runs for it',
      });
    }
    const remaining = Math.max(1, Math.ceil(runner.deadline - Date.now()));
    try {
      return await runner.db.asRole(
        runner.role,
        runner.claims,
        (tx) => fn(single ? { query: (s, v) => tx.last(statement(s, v)) } : wrap(tx)),
        runner.request(remaining),
      );
    } catch (error) {
      throw asApiError(error, runner.authenticated);
    }
  };
  return {
    // One statement: sent with its transaction's begin, context and commit (one round trip on PostgreSQL).
    query: (s, v) => transaction((tx) => tx.query(s, v), true),
    transaction: (fn) => transaction(fn),
  };
}

function wrap(tx: Queryable): FunctionTransaction {
  return { query: (s, v) => tx.query(statement(s, v)) };
}

/** SQL text with its values, or a statement from the `sql` tag, as the Database takes it. */
function statement(s: string | FunctionStatement, values: readonly unknown[] | undefined): Query {
  if (typeof s === 'string') return { text: s, values: values ?? [] };
  if (values !== undefined && values.length > 0) {
    throw new TypeError('ctx.db.query: a statement from ctx.sql carries its own values; pass none');
  }
  return { text: s.text, values: s.values };
}
