import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { Logger } from '../log.js';
import { Channels, listenStatement } from './channels.js';
import { requestContext } from './context.js';
import { copyData, copyStatement } from './copy.js';
import {
  type CopyOptions,
  type CopySource,
  type CopyTarget,
  type Database,
  DatabaseUnavailableError,
  type QueryResult,
  type Row,
  type Transaction,
  type TransactionOptions,
} from './database.js';
import { isServerError, type PipelinedStatement, runPipeline } from './pipeline.js';
import { PreparedStatements } from './prepared.js';
import { BytesClient } from './row-bytes.js';
import type { Query } from './sql.js';

export interface PostgresOptions {
  readonly url: string;
  /** The search_path value asRole sets (already quoted). */
  readonly searchPath: string;
  readonly log: Logger;
  readonly poolSize?: number;
  /**
   * Run statements marked `prepare` as named prepared statements (default true;
   * LOCONOMY_DB_PREPARED_STATEMENTS). Off, everything is unnamed, as PgBouncer in transaction
   * mode needs.
   */
  readonly preparedStatements?: boolean;
  /** Named statements one connection may hold before it is replaced (default 100; decision 0010). */
  readonly maxPreparedPerConnection?: number;
}

/** The Database, plus its pool for what shares its connections (PostGraphile's adaptor). */
export interface PostgresDatabase extends Database {
  readonly pool: pg.Pool;
  /**
   * A transaction whose `held` statements (a context of settings, src/db/context.ts) travel
   * with its first statement, as asRole's request context does: for PostGraphile's adaptor,
   * which brings its settings as a map (src/graphql/postgres-adaptor.ts).
   */
  transactionWith<T>(
    held: readonly Query[],
    fn: (tx: Transaction) => Promise<T>,
    options?: TransactionOptions,
  ): Promise<T>;
}

/** A PostgreSQL server through a pg.Pool; LISTEN uses one dedicated connection. */
export function openPostgres(options: PostgresOptions): PostgresDatabase {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    // A host that drops packets should fail start-up in seconds, not hang it.
    connectionTimeoutMillis: 10_000,
    application_name: 'loconomy',
    // Its connections can return a statement's body as bytes (Query.bytes).
    Client: BytesClient,
  });
  // An idle client losing its connection emits here; without a listener the process dies.
  pool.on('error', (error) => options.log.warn({ err: error }, 'idle PostgreSQL connection failed'));
  const listener = new Listener(options.url, options.log);
  const statements =
    options.preparedStatements === false
      ? undefined
      : new PreparedStatements<pg.PoolClient>(options.maxPreparedPerConnection);

  // A connection that fails while checked out emits 'error' on its client, which pg-pool does
  // not listen to then; unheard, that would end the process. The failing request already gets
  // the error, and the client is discarded when it is released.
  pool.on('connect', (client) => client.on('error', () => {}));

  /** A pooled connection whose prepared statements may be used; retired ones are closed first. */
  async function checkout(): Promise<pg.PoolClient> {
    for (;;) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw new DatabaseUnavailableError('connect', { cause: error });
      }
      if (!statements?.retired(client)) return client;
      // release(true) closes it, and the pool opens a fresh connection in its place.
      client.release(true);
    }
  }

  /**
   * One transaction on a pooled connection, `held` statements (the request context) sent with
   * its first statement; released afterwards, or discarded when its connection failed.
   */
  async function inTransaction<T>(
    held: readonly Query[],
    fn: (tx: Transaction) => Promise<T>,
    options: TransactionOptions | undefined,
  ): Promise<T> {
    const client = await checkout();
    const tx = new PipelinedTransaction(client, statements, held, options?.end ?? 'commit');
    let broken: Error | undefined;
    try {
      const result = await fn(tx.api);
      await tx.finish();
      return result;
    } catch (error) {
      if (connectionGone(error)) broken = error as Error;
      else
        try {
          await tx.abort();
        } catch (rollbackError) {
          // The connection is unusable; release(err) makes the pool discard it.
          broken = rollbackError as Error;
        }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  const db: PostgresDatabase = {
    kind: 'postgres',
    pool,
    async query<T = Row>(query: Query | string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const q = toQuery(query, params);
      if (!(q.prepare && statements))
        return resultOf<T>(
          await pool.query({ text: q.text, values: q.values as unknown[], ...(q.arrayMode && { rowMode: 'array' }) }),
        );
      const client = await checkout();
      let broken: Error | undefined;
      try {
        // One statement under one Sync: autocommitted, as a plain query is.
        const [result] = await pipelined(client, statements, [q]);
        return result as QueryResult<T>;
      } catch (error) {
        if (connectionGone(error)) broken = error as Error;
        throw error;
      } finally {
        client.release(broken);
      }
    },
    async exec(script: string): Promise<void> {
      // Without values node-postgres uses the simple protocol, which runs several statements.
      await pool.query(script);
    },
    async copyFrom(target, columns, source, copyOptions) {
      const client = await pool.connect();
      try {
        return await copyWith(client, target, columns, source, copyOptions);
      } finally {
        client.release();
      }
    },
    transaction: (fn, transactionOptions) => inTransaction([], fn, transactionOptions),
    transactionWith: inTransaction,
    asRole: (role, claims, fn, request, transactionOptions) =>
      inTransaction([requestContext(role, claims, request, options.searchPath)], fn, transactionOptions),
    listen: (channel, callback) => listener.channels.add(channel, callback),
    async notify(channel, payload = '') {
      await pool.query('select pg_notify($1, $2)', [channel, payload]);
    },
    discardPreparedStatements() {
      statements?.discard();
    },
    async close() {
      await listener.close();
      await pool.end();
    },
  };
  return db;
}

function toQuery(query: Query | string, params?: readonly unknown[]): Query {
  return typeof query === 'string' ? { text: query, values: params ?? [] } : query;
}

function resultOf<T>(result: pg.QueryResult): QueryResult<T> {
  return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
}

/**
 * The connection cannot be used again: it was lost, or PostgreSQL ended the session (FATAL,
 * e.g. 57P01 from pg_terminate_backend). Released with the error, so the pool discards it
 * rather than hand it to the next request before its socket has closed.
 */
function connectionGone(error: unknown): boolean {
  return (
    error instanceof DatabaseUnavailableError ||
    (isServerError(error) && (error.severity === 'FATAL' || error.severity === 'PANIC'))
  );
}

const BEGIN: Query = { text: 'begin', values: [] };
const END = { commit: { text: 'commit', values: [] }, rollback: { text: 'rollback', values: [] } } as const;

/**
 * A transaction whose messages wait until they can travel together (decision 0014): the BEGIN
 * and the held request context go with the first statement; `last()` carries the end too, and
 * when nothing was sent before and the end is a commit it needs no BEGIN at all (the Sync
 * commits the implicit transaction, or rolls it back when a statement failed). A transaction
 * that ran nothing sends only its held statements, alone.
 */
class PipelinedTransaction {
  #held: readonly Query[];
  /** BEGIN was sent and no end has run since: the server may be in this transaction (or its aborted state). */
  #open = false;
  #sentAny = false;
  #ended = false;
  readonly api: Transaction;

  constructor(
    readonly client: pg.PoolClient,
    readonly statements: PreparedStatements<pg.PoolClient> | undefined,
    held: readonly Query[],
    readonly end: 'commit' | 'rollback',
  ) {
    this.#held = held;
    this.api = {
      query: (query, params) => this.query(toQuery(query, params)),
      last: (query, params) => this.last(toQuery(query, params)),
      exec: async (script) => {
        await this.#begin();
        await client.query(script);
      },
      copyFrom: async (...args) => {
        await this.#begin();
        return copyWith(client, ...args);
      },
    };
  }

  async query<T>(query: Query): Promise<QueryResult<T>> {
    const results = await this.#send(this.#open ? [query] : [BEGIN, ...this.#take(), query], true);
    return results.at(-1) as QueryResult<T>;
  }

  async last<T>(query: Query): Promise<QueryResult<T>> {
    if (!this.#sentAny && this.end === 'commit') {
      // The implicit transaction of one Sync: no BEGIN, no COMMIT.
      const results = await this.#send([...this.#take(), query], false, true);
      return results.at(-1) as QueryResult<T>;
    }
    const start = this.#open ? [] : [BEGIN, ...this.#take()];
    const results = await this.#send([...start, query, END[this.end]], true, true);
    this.#open = false;
    return results.at(-2) as QueryResult<T>;
  }

  /** After fn resolved: the end, unless last() sent it. */
  async finish(): Promise<void> {
    if (this.#ended) {
      // fn caught last()'s error and resolved: its end did not run, so roll back what may be open.
      await this.abort();
      return;
    }
    if (!this.#sentAny) {
      // Nothing ran: the held statements alone, so that a bad role or setting still fails as
      // it would have (their effects end with the implicit transaction either way).
      const held = this.#take();
      if (held.length > 0) await this.#send(held, false, true);
      return;
    }
    if (!this.#open) return;
    await this.#send([END[this.end]], true);
    this.#open = false;
  }

  /** After a failure: roll back if the server may still be in the transaction. */
  async abort(): Promise<void> {
    if (!this.#open) return;
    // The simple protocol: a ROLLBACK is accepted in an aborted transaction (and warns when idle).
    await this.client.query('rollback');
    this.#open = false;
  }

  /** For exec and copyFrom, which node-postgres sends on their own: the BEGIN and held statements first. */
  async #begin(): Promise<void> {
    this.#checkNotEnded();
    if (!this.#open) await this.#send([BEGIN, ...this.#take()], true);
  }

  #take(): readonly Query[] {
    const held = this.#held;
    this.#held = [];
    return held;
  }

  #send(queries: readonly Query[], opens: boolean, ends = false): Promise<QueryResult<Row>[]> {
    this.#checkNotEnded();
    if (ends) this.#ended = true;
    this.#sentAny = true;
    // Set before sending: a failure part-way leaves the server in the transaction.
    if (opens) this.#open = true;
    return pipelined(this.client, this.statements, queries);
  }

  #checkNotEnded(): void {
    if (this.#ended) throw new Error('the transaction has ended: nothing may run after last()');
  }
}

/**
 * Runs the queries as one pipeline on `client`, the ones marked `prepare` as named statements
 * (decision 0010), and records which names the connection now holds. Throws the first error;
 * a lost connection as DatabaseUnavailableError.
 */
async function pipelined(
  client: pg.PoolClient,
  statements: PreparedStatements<pg.PoolClient> | undefined,
  queries: readonly Query[],
): Promise<QueryResult<Row>[]> {
  const parsing = new Set<string>();
  const planned: PipelinedStatement[] = queries.map((q) => {
    const name = q.prepare ? statements?.nameFor(client, q.text) : undefined;
    if (name === undefined || statements === undefined)
      return { text: q.text, values: q.values, parse: true, bytes: q.bytes, arrayMode: q.arrayMode };
    // A name twice in one pipeline is parsed once: a second Parse of it would fail (42P05).
    const parse = !parsing.has(name) && !statements.holds(client, name);
    if (parse) parsing.add(name);
    return { text: q.text, values: q.values, name, parse, bytes: q.bytes, arrayMode: q.arrayMode };
  });
  const outcome = await runPipeline(client, planned);
  if (statements) {
    // ParseComplete comes in order; after an error PostgreSQL skips the Parses left.
    let parsed = outcome.parsed;
    for (const p of planned) {
      if (!p.parse || parsed === 0) continue;
      parsed--;
      if (p.name !== undefined) statements.parsed(client, p.name);
    }
  }
  if (outcome.error === undefined) return outcome.results;
  if (!isServerError(outcome.error)) {
    if (!outcome.sent) throw outcome.error; // a parameter node-postgres cannot send
    throw new DatabaseUnavailableError('query', { cause: outcome.error });
  }
  // 26000: SQL on this connection deallocated a statement; 42P05: the server holds one the
  // bookkeeping did not know of. Either way this connection's record is wrong: retire it.
  if (outcome.error.code === '26000' || outcome.error.code === '42P05') statements?.lost(client);
  throw outcome.error;
}

async function copyWith(
  client: pg.PoolClient,
  target: CopyTarget,
  columns: readonly string[],
  source: CopySource,
  options?: CopyOptions,
): Promise<number> {
  const statement = copyStatement(target, columns, 'stdin', source, options);
  const stream = client.query(copyFromStdin(statement.text));
  await pipeline(Readable.from(copyData(source)), stream);
  return stream.rowCount ?? 0;
}

/**
 * The LISTEN connection. pg.Pool connections cannot hold a LISTEN, so one client is kept for
 * it, opened on first use. When it drops, it is replaced (with back-off) and every channel
 * is listened to again; notifications sent meanwhile are lost, as with any LISTEN client.
 */
class Listener {
  readonly channels: Channels;
  #client: Promise<pg.Client> | undefined;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;

  constructor(
    readonly url: string,
    readonly log: Logger,
  ) {
    this.channels = new Channels(
      async (statement) => {
        const client = await this.#connect();
        await client.query(statement.text);
      },
      (error, channel) => log.error({ err: error, channel }, 'LISTEN callback threw'),
    );
  }

  #connect(): Promise<pg.Client> {
    this.#client ??= (async () => {
      const client = new pg.Client({ connectionString: this.url, application_name: 'loconomy-listen' });
      client.on('notification', (n) => this.channels.dispatch(n.channel, n.payload ?? ''));
      client.on('error', (error) => this.#lost(client, error));
      client.on('end', () => this.#lost(client));
      try {
        await client.connect();
      } catch (error) {
        this.#client = undefined;
        throw error;
      }
      return client;
    })();
    return this.#client;
  }

  #lost(client: pg.Client, error?: Error): void {
    if (this.#closed) return;
    this.log.warn({ err: error }, 'LISTEN connection lost; reconnecting');
    client.removeAllListeners('end');
    client.on('error', () => {}); // it may still report errors while it dies
    this.#client = undefined;
    this.#relisten(250);
  }

  #relisten(delayMs: number): void {
    if (this.#closed || this.channels.channels().length === 0) return;
    this.#retry = setTimeout(async () => {
      try {
        const client = await this.#connect();
        for (const channel of this.channels.channels()) await client.query(listenStatement(channel).text);
        this.log.info({ channels: this.channels.channels().length }, 'LISTEN connection restored');
      } catch {
        this.#relisten(Math.min(delayMs * 2, 10_000));
      }
    }, delayMs);
    this.#retry.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    if (client) await (await client.catch(() => undefined))?.end().catch(() => {});
  }
}
