import pg from 'pg';
import Result from 'pg/lib/result.js';
import utils from 'pg/lib/utils.js';
import type { QueryResult, Row } from './database.js';
import { keepBytes } from './row-bytes.js';

/**
 * Several statements sent to PostgreSQL in one write and answered in one round trip
 * (decision 0014): for each, Parse (unless the connection holds its named statement), Bind,
 * Describe and Execute, then one Sync for all. node-postgres sends a Sync after every
 * statement, so this is a query object of its own, handed to `client.query()` like any query
 * (node-postgres calls its `submit` when the connection is free and its `handle…` methods as
 * the answers arrive). Parameters are prepared by node-postgres's prepareValue and rows parsed
 * by its Result with the client's type parsers, so values are exactly what a plain
 * `client.query()` returns (decision 0001).
 *
 * PostgreSQL runs the statements in order and, after an error, skips everything up to the
 * Sync: the statements before the failed one completed, the failed one and those after did
 * not. Without a BEGIN among them they form one implicit transaction that the Sync commits,
 * or rolls back when one failed.
 */

/** One statement of a pipeline. */
export interface PipelinedStatement {
  readonly text: string;
  readonly values: readonly unknown[];
  /** The named prepared statement to bind; undefined for the unnamed statement. */
  readonly name?: string | undefined;
  /** Send Parse before Bind: false only for a named statement the connection holds. */
  readonly parse: boolean;
  /** Columns whose values arrive as Buffers (Query.bytes). */
  readonly bytes?: readonly string[] | undefined;
  /** Rows as arrays in column order (Query.arrayMode). */
  readonly arrayMode?: boolean | undefined;
}

export interface PipelineOutcome {
  /** The statements that completed, in order: all of them unless `error` is set. */
  readonly results: QueryResult<Row>[];
  /** Why the pipeline stopped: PostgreSQL's error (pg.DatabaseError), or the connection's. */
  readonly error?: unknown;
  /** How many of the Parses sent succeeded (the first n, in order): PostgreSQL skips the rest after an error. */
  readonly parsed: number;
  /** False when nothing was sent: a parameter could not be prepared. */
  readonly sent: boolean;
}

/** Sends the statements as one pipeline on `client`; resolves when PostgreSQL has answered them all (never rejects). */
export function runPipeline(
  client: pg.ClientBase,
  statements: readonly PipelinedStatement[],
): Promise<PipelineOutcome> {
  let values: (string | Buffer | null)[][];
  try {
    // Before anything is written, so a value that cannot be sent leaves the connection untouched.
    values = statements.map((s) => s.values.map((v) => utils.prepareValue(v)));
  } catch (error) {
    return Promise.resolve({ results: [], error, parsed: 0, sent: false });
  }
  return new Promise((resolve) => {
    client.query(new Pipeline(statements, values, client, resolve) as unknown as pg.QueryConfig);
  });
}

/** The part of node-postgres's Connection a pipeline writes to (pg/lib/connection.js). */
interface WireConnection {
  readonly stream: { cork?(): void; uncork?(): void };
  parse(message: { text: string; name: string }): void;
  bind(message: { statement: string; values: readonly (string | Buffer | null)[] }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(message: { portal: string }): void;
  on(event: 'parseComplete', listener: () => void): void;
  off(event: 'parseComplete', listener: () => void): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

/**
 * The query object. It has no `name`: node-postgres then keeps no record of the statements it
 * parses (src/db/prepared.ts does).
 */
class Pipeline {
  readonly #results: QueryResult<Row>[] = [];
  #current: Result;
  #parsed = 0;
  #connection: WireConnection | undefined;
  /** node-postgres tells a query nothing of ParseComplete, so it is heard on the connection. */
  readonly #onParseComplete = () => {
    this.#parsed++;
  };
  /** A row whose value a type parser refused: reported when the pipeline ends, as node-postgres does. */
  #rowError: unknown;
  #settled = false;

  constructor(
    readonly statements: readonly PipelinedStatement[],
    readonly values: readonly (readonly (string | Buffer | null)[])[],
    readonly types: pg.ClientBase,
    readonly settle: (outcome: PipelineOutcome) => void,
  ) {
    this.#current = resultFor(statements[0], types);
  }

  /** Called by the client when the connection is free: everything is written at once, uncorked once. */
  submit(connection: WireConnection): null {
    this.#connection = connection;
    connection.on('parseComplete', this.#onParseComplete);
    connection.stream.cork?.();
    try {
      this.statements.forEach((s, i) => {
        const name = s.name ?? '';
        if (s.parse) connection.parse({ text: s.text, name });
        connection.bind({ statement: name, values: this.values[i] ?? [] });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '' });
      });
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(message: { fields: { name: string }[] }): void {
    this.#current.addFields(message.fields);
    // The rows of this statement follow: its byte columns are known by position from here.
    const bytes = this.statements[this.#results.length]?.bytes;
    if (bytes !== undefined && this.#connection !== undefined) {
      const positions = new Set<number>();
      const parsers = (this.#current as unknown as { _parsers: ((value: unknown) => unknown)[] })._parsers;
      message.fields.forEach((field, i) => {
        if (!bytes.includes(field.name)) return;
        positions.add(i);
        parsers[i] = asSent; // the type parser would turn the Buffer back into a string
      });
      keepBytes(this.#connection, positions);
    }
  }

  handleDataRow(message: { fields: unknown[] }): void {
    if (this.#rowError !== undefined) return;
    try {
      this.#current.addRow(this.#current.parseRow(message.fields));
    } catch (error) {
      this.#rowError = error;
    }
  }

  handleCommandComplete(message: unknown): void {
    this.#current.addCommandComplete(message);
    this.#next();
  }

  /** An empty statement has no CommandComplete. */
  handleEmptyQuery(): void {
    this.#next();
  }

  /** PostgreSQL's error (it skips to the Sync; node-postgres reports nothing more to this query), or the connection's. */
  handleError(error: unknown): void {
    this.#end({ results: this.#results, error, parsed: this.#parsed, sent: true });
  }

  handleReadyForQuery(): void {
    this.#end({ results: this.#results, error: this.#rowError, parsed: this.#parsed, sent: true });
  }

  /** COPY … FROM STDIN has no data source here: end it, as node-postgres's own Query does. */
  handleCopyInResponse(connection: WireConnection): void {
    connection.sendCopyFail('COPY FROM STDIN is not supported in a pipeline; use copyFrom()');
  }

  handleCopyData(): void {}

  #next(): void {
    if (this.#connection !== undefined) keepBytes(this.#connection, undefined);
    const r = this.#current;
    this.#results.push({ rows: r.rows, rowCount: r.rowCount ?? 0 });
    this.#current = resultFor(this.statements[this.#results.length], this.types);
  }

  #end(outcome: PipelineOutcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#connection?.off('parseComplete', this.#onParseComplete);
    if (this.#connection !== undefined) keepBytes(this.#connection, undefined);
    this.settle(outcome);
  }
}

const asSent = (value: unknown) => value;

/** node-postgres's Result for a statement: its type parsers, and rows as objects or arrays. */
function resultFor(statement: PipelinedStatement | undefined, types: pg.ClientBase): Result {
  return new Result(statement?.arrayMode ? 'array' : undefined, types);
}

/** True for an error PostgreSQL sent about a statement, as opposed to the connection failing. */
export function isServerError(error: unknown): error is pg.DatabaseError {
  return error instanceof pg.DatabaseError;
}
