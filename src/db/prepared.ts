import { createHash } from 'node:crypto';
import type { Queryable, Transaction } from './database.js';
import type { Query } from './sql.js';

/**
 * Named prepared statements for request shapes (decision 0010). A statement marked `prepare`
 * is run by the PostgreSQL backend as a named statement whose name is a hash of its text, so a
 * connection parses and plans each shape once and then only binds new values. PGlite ignores
 * the mark. What is bounded, and how, is `PreparedStatements` below.
 */

/** The same statement, marked as a request shape worth preparing (`Query.prepare`). */
export function prepared(query: Query | string, params: readonly unknown[] = []): Query {
  return typeof query === 'string'
    ? { text: query, values: params, prepare: true }
    : { text: query.text, values: query.values, prepare: true };
}

/** `tx`, with every statement run through it marked as a request shape. */
export function preparing(tx: Transaction): Transaction {
  return { ...tx, query: (query, params) => tx.query(prepared(query, params)) } satisfies Queryable;
}

/** `loco_` and 128 bits of SHA-256 of the text: far below PostgreSQL's 63-byte name limit. */
export function statementName(text: string): string {
  return `loco_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
}

/** Named statements per connection unless told otherwise. */
export const DEFAULT_MAX_PREPARED_PER_CONNECTION = 100;

interface ConnectionState {
  /** The generation the connection's statements were prepared in. */
  readonly generation: number;
  readonly names: Set<string>;
  /** A shape was refused a name because the connection held `max` already. */
  full: boolean;
}

/**
 * Which named statements each connection holds, kept beside node-postgres rather than inside
 * it: node-postgres remembers every statement it prepared on a connection for the
 * connection's life and has no public way to forget one, so a statement cannot be evicted
 * (DEALLOCATE would leave node-postgres believing it still exists). Instead, a connection
 * names at most `max` shapes; past that, further shapes run unnamed and the connection is
 * retired — closed at its next checkout, so the pool opens a fresh one that learns the
 * shapes in use now. `discard()` (after DDL) retires every connection holding statements, so
 * none is run against a changed schema with the parameter types it was prepared with.
 */
export class PreparedStatements<Connection extends object> {
  readonly #connections = new WeakMap<Connection, ConnectionState>();
  #generation = 0;

  constructor(readonly max: number = DEFAULT_MAX_PREPARED_PER_CONNECTION) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${max}`);
  }

  /** The name to run `text` under on `connection`, or undefined to run it unnamed. */
  nameFor(connection: Connection, text: string): string | undefined {
    let state = this.#connections.get(connection);
    if (state !== undefined && state.generation !== this.#generation) {
      // Only a transaction that was running when discard() was called sees this (the
      // connection is closed at its next checkout): its statements may be stale, so unnamed.
      return undefined;
    }
    if (state === undefined) {
      state = { generation: this.#generation, names: new Set(), full: false };
      this.#connections.set(connection, state);
    }
    const name = statementName(text);
    if (state.names.has(name)) return name;
    if (state.names.size >= this.max) {
      state.full = true;
      return undefined;
    }
    state.names.add(name);
    return name;
  }

  /** True when the connection should be closed rather than used: its statements are stale or too many. */
  retired(connection: Connection): boolean {
    const state = this.#connections.get(connection);
    return state !== undefined && (state.full || state.generation !== this.#generation);
  }

  /** The connection lost its statements (e.g. SQL deallocated them): retire it. */
  lost(connection: Connection): void {
    const state = this.#connections.get(connection);
    if (state) state.full = true;
  }

  /** Statements prepared so far are not used again; connections holding some are retired. */
  discard(): void {
    this.#generation++;
  }

  /** How many names a connection holds (for tests and logs). */
  count(connection: Connection): number {
    return this.#connections.get(connection)?.names.size ?? 0;
  }
}
