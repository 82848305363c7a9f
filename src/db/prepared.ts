import { createHash } from 'node:crypto';
import type { Transaction } from './database.js';
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
    : { text: query.text, values: query.values, prepare: true, bytes: query.bytes };
}

/** `tx`, with every statement run through it marked as a request shape. */
export function preparing(tx: Transaction): Transaction {
  return {
    query: (query, params) => tx.query(prepared(query, params)),
    last: (query, params) => tx.last(prepared(query, params)),
    exec: (script) => tx.exec(script),
    copyFrom: (...args) => tx.copyFrom(...args),
  };
}

/** `loco_` and 128 bits of SHA-256 of the text: far below PostgreSQL's 63-byte name limit. */
export function statementName(text: string): string {
  // Every request hashes its statement's text (kilobytes for embeds); the shapes in use are few.
  let name = names.get(text);
  if (name === undefined) {
    name = `loco_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
    if (names.size >= NAMES_REMEMBERED) names.delete(names.keys().next().value as string);
    names.set(text, name);
  }
  return name;
}

/** How many texts' names are remembered (oldest forgotten first); a few MB at most. */
const NAMES_REMEMBERED = 1000;
const names = new Map<string, string>();

/** Named statements per connection unless told otherwise. */
export const DEFAULT_MAX_PREPARED_PER_CONNECTION = 100;

interface ConnectionState {
  /** The generation the connection's statements were prepared in. */
  readonly generation: number;
  /** Each name reserved on the connection, and whether its Parse has succeeded. */
  readonly names: Map<string, boolean>;
  /** A shape was refused a name because the connection held `max` already. */
  full: boolean;
}

/**
 * Which named statements each connection holds. node-postgres is never given a name (it would
 * keep its own record of parsed names for the connection's life, with no way to forget one):
 * src/db/pipeline.ts sends Parse, Bind and Execute itself and reports back here which Parses
 * succeeded (decision 0014). A connection names at most `max` shapes; past that, further shapes
 * run unnamed and the connection is retired — closed at its next checkout, so the pool opens a
 * fresh one that learns the shapes in use now. `discard()` (after DDL) retires every connection
 * holding statements, so none is run against a changed schema with the parameter types it was
 * prepared with.
 */
export class PreparedStatements<Connection extends object> {
  readonly #connections = new WeakMap<Connection, ConnectionState>();
  #generation = 0;

  constructor(readonly max: number = DEFAULT_MAX_PREPARED_PER_CONNECTION) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${max}`);
  }

  /**
   * The name to run `text` under on `connection`, or undefined to run it unnamed. A new name is
   * reserved at once, so the cap counts every name the server may hold.
   */
  nameFor(connection: Connection, text: string): string | undefined {
    let state = this.#connections.get(connection);
    if (state !== undefined && state.generation !== this.#generation) {
      // Only a transaction that was running when discard() was called sees this (the
      // connection is closed at its next checkout): its statements may be stale, so unnamed.
      return undefined;
    }
    if (state === undefined) {
      state = { generation: this.#generation, names: new Map(), full: false };
      this.#connections.set(connection, state);
    }
    const name = statementName(text);
    if (state.names.has(name)) return name;
    if (state.names.size >= this.max) {
      state.full = true;
      return undefined;
    }
    state.names.set(name, false);
    return name;
  }

  /** True when the connection holds `name` (its Parse succeeded), so it is only bound. */
  holds(connection: Connection, name: string): boolean {
    return this.#connections.get(connection)?.names.get(name) === true;
  }

  /** PostgreSQL answered ParseComplete for `name` on the connection. */
  parsed(connection: Connection, name: string): void {
    this.#connections.get(connection)?.names.set(name, true);
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

  /** How many names a connection holds or has reserved (for tests and logs). */
  count(connection: Connection): number {
    return this.#connections.get(connection)?.names.size ?? 0;
  }
}
