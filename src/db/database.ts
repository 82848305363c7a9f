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

export type Transaction = Queryable;

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
  /** Commits when fn resolves, rolls back when it throws. On PGlite, use only `tx` inside. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * One transaction as `role` with the caller's JWT claims, the way PostgREST runs a request:
   * set local role, request.jwt.claims, request.method/path/headers, search_path.
   */
  asRole<T>(role: DatabaseRole, claims: object, fn: (tx: Transaction) => Promise<T>, request?: RequestInfo): Promise<T>;
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
