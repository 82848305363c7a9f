import type { Database } from '../../src/db/database.js';
import { sql } from '../../src/db/sql.js';

/** What one PostgreSQL session holds of Loconomy's named prepared statements (decision 0010). */
export interface PreparedSession {
  readonly pid: number;
  /** Each named statement's text, with how many times it ran (generic + custom plans). */
  readonly statements: Map<string, number>;
  /** Each named statement's text, with how many of its runs used its generic (cached) plan. */
  readonly generic: Map<string, number>;
}

/**
 * The session of a one-connection pool, read from pg_prepared_statements (which shows only the
 * session's own statements) in a transaction, so the connection is checked out like a request's.
 */
export async function preparedSession(db: Database): Promise<PreparedSession> {
  return db.transaction(async (tx) => {
    const pid = (await tx.query<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0]?.pid as number;
    const { rows } = await tx.query<{ statement: string; runs: number; generic: number }>(sql`
      select statement, (generic_plans + custom_plans)::int as runs, generic_plans::int as generic
        from pg_prepared_statements
      where name like 'loco\\_%' order by statement`);
    return {
      pid,
      statements: new Map(rows.map((r) => [r.statement, r.runs])),
      generic: new Map(rows.map((r) => [r.statement, r.generic])),
    };
  });
}

/** The runs of the named statements whose text contains `fragment`, in text order. */
export function runsOf(session: PreparedSession, fragment: string): number[] {
  return [...session.statements].filter(([text]) => text.includes(fragment)).map(([, runs]) => runs);
}

/** The runs on a generic plan of the named statements whose text contains `fragment`, in text order. */
export function genericRunsOf(session: PreparedSession, fragment: string): number[] {
  return [...session.generic].filter(([text]) => text.includes(fragment)).map(([, runs]) => runs);
}
