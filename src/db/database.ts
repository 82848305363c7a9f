import type { Readable } from 'node:stream';
import type { Query } from './sql.js';

/**
 * The one interface the rest of Loconomy talks to, with two implementations: PostgreSQL
 * (src/db/postgres.ts) and embedded PGlite (src/db/pglite.ts). Both return node-postgres
 * values (src/db/values.ts), so code and tests cannot tell them apart by their results.
 */

export type Row = Record<string, unknown>;

export interface QueryResult<T> {
  readonly rows: T[];
  /** Rows returned (SELECT) or affected (INSERT/UPDATE/DELETE/COPY); 0 for other commands. */
  readonly rowCount: number;
}

/** A table to COPY into: a name, or [schema, name]. */
export type CopyTarget = string | readonly [schema: string, table: string];

/**
 * What COPY reads: rows of values (encoded like query parameters), or a stream of text in
 * COPY text or CSV format that is passed through unchanged.
 */
export type CopySource = Iterable<readonly unknown[]> | AsyncIterable<readonly unknown[]> | Readable;

export interface CopyOptions {
  /** Format of a Readable source; rows of values are always sent as text format. */
  readonly format?: 'text' | 'csv';
  /** The CSV stream starts with a header line. */
  readonly header?: boolean;
}

/** What runs SQL: the database itself, or one open transaction. */
export interface Queryable {
  query<T = Row>(query: Query | string, params?: readonly unknown[]): Promise<QueryResult<T>>;
  /** A script of several statements, without parameters (migrations, seeds). */
  exec(script: string): Promise<void>;
  /** Bulk load; returns the number of rows copied. */
  copyFrom(target: CopyTarget, columns: readonly string[], source: CopySource, options?: CopyOptions): Promise<number>;
}

/** One open transaction. */
export interface Transaction extends Queryable {
  /**
   * Runs `query` as the transaction's last statement and ends the transaction with it: commit,
   * or rollback when it was opened with `end: 'rollback'`. On PostgreSQL the end travels with
   * the statement (and so do the begin and the request context when nothing was sent before),
   * so a request of one statement takes one round trip (decision 0014). Nothing may run in the
   * transaction after it, and it is committed before the caller sees the rows: use `query`
   * instead when a check of the result may still have to undo the transaction.
   */
  last<T = Row>(query: Query | string, params?: readonly unknown[]): Promise<QueryResult<T>>;
}

export interface TransactionOptions {
  /** How the transaction ends when its function resolves (default commit); a throw always rolls back. */
  readonly end?: 'commit' | 'rollback';
}

/**
 * The database could not be reached, or the connection was lost while a statement was running:
 * nothing the request asked for can be assumed done, and trying again may succeed.
 */
export class DatabaseUnavailableError extends Error {
  constructor(
    readonly phase: 'connect' | 'query',
    options: { cause: unknown },
  ) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(
      phase === 'connect' ? `cannot connect to the database: ${reason}` : `the database connection was lost: ${reason}`,
      options,
    );
    this.name = 'DatabaseUnavailableError';
  }
}

/** Request details PostgREST exposes to SQL as request.method, request.path, request.headers. */
export interface RequestInfo {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Further transaction-local settings (timezone, transaction_read_only…), names fixed by the caller's code. */
  readonly settings?: Readonly<Record<string, string>>;
}

export type DatabaseRole = 'anon' | 'authenticated' | 'service_role' | (string & {});

export type Unsubscribe = () => Promise<void>;

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /**
   * Ends as `options.end` says (commit by default) when fn resolves, rolls back when it throws.
   * On PGlite, use only `tx` inside.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * One transaction as `role` with the caller's JWT claims, the way PostgREST runs a request:
   * set local role, request.jwt.claims, request.method/path/headers, search_path. On PostgreSQL
   * these settings are sent with the transaction's first statement, not on their own.
   */
  asRole<T>(
    role: DatabaseRole,
    claims: object,
    fn: (tx: Transaction) => Promise<T>,
    request?: RequestInfo,
    options?: TransactionOptions,
  ): Promise<T>;
  /** LISTEN; the callback gets each payload. Resolves once the LISTEN is in place. */
  listen(channel: string, callback: (payload: string) => void): Promise<Unsubscribe>;
  notify(channel: string, payload?: string): Promise<void>;
  /**
   * The schema changed: statements prepared so far (`Query.prepare`) are not used again, and
   * each connection holding some is replaced before its next use, as PostgREST flushes its
   * pool on a schema reload. A no-op where nothing is prepared (PGlite, or prepared statements off).
   */
  discardPreparedStatements(): void;
  close(): Promise<void>;
}
