import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { Logger } from '../log.js';
import { Channels, listenStatement } from './channels.js';
import { enterRequestContext } from './context.js';
import { copyData, copyStatement } from './copy.js';
import type { CopyOptions, CopySource, CopyTarget, Database, QueryResult, Row } from './database.js';
import { PreparedStatements } from './prepared.js';
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

/** A PostgreSQL server through a pg.Pool; LISTEN uses one dedicated connection. */
export function openPostgres(options: PostgresOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    // A host that drops packets should fail start-up in seconds, not hang it.
    connectionTimeoutMillis: 10_000,
    application_name: 'loconomy',
  });
  // An idle client losing its connection emits here; without a listener the process dies.
  pool.on('error', (error) => options.log.warn({ err: error }, 'idle PostgreSQL connection failed'));
  const listener = new Listener(options.url, options.log);
  const statements =
    options.preparedStatements === false
      ? undefined
      : new PreparedStatements<pg.PoolClient>(options.maxPreparedPerConnection);

  /** A pooled connection whose prepared statements may be used; retired ones are closed first. */
  async function checkout(): Promise<pg.PoolClient> {
    for (;;) {
      const client = await pool.connect();
      if (!statements?.retired(client)) return client;
      // release(true) closes it, and the pool opens a fresh connection in its place.
      client.release(true);
    }
  }

  const db: Database = {
    kind: 'postgres',
    async query<T = Row>(query: Query | string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const q = toQuery(query, params);
      if (!(q.prepare && statements))
        return resultOf<T>(await pool.query({ text: q.text, values: q.values as unknown[] }));
      const client = await checkout();
      try {
        return await runOn<T>(client, statements, q);
      } finally {
        client.release();
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
    async transaction(fn) {
      const client = await checkout();
      let broken: Error | undefined;
      try {
        await client.query('begin');
        const result = await fn({
          query: (query, params) => runOn(client, statements, toQuery(query, params)),
          exec: async (script) => {
            await client.query(script);
          },
          copyFrom: (...args) => copyWith(client, ...args),
        });
        await client.query('commit');
        return result;
      } catch (error) {
        try {
          await client.query('rollback');
        } catch (rollbackError) {
          // The connection is unusable; release(err) makes the pool discard it.
          broken = rollbackError as Error;
        }
        throw error;
      } finally {
        client.release(broken);
      }
    },
    asRole(role, claims, fn, request) {
      return db.transaction(async (tx) => {
        await enterRequestContext(tx, role, claims, request, options.searchPath);
        return fn(tx);
      });
    },
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
 * One statement on a connection: named when it is marked `prepare` and the connection may
 * hold another name, so node-postgres parses it once on this connection and binds it after.
 */
async function runOn<T>(
  client: pg.PoolClient,
  statements: PreparedStatements<pg.PoolClient> | undefined,
  query: Query,
): Promise<QueryResult<T>> {
  const name = query.prepare ? statements?.nameFor(client, query.text) : undefined;
  try {
    return resultOf<T>(await client.query({ text: query.text, values: query.values as unknown[], name }));
  } catch (error) {
    // 26000: SQL on this connection deallocated the statement node-postgres believes it has.
    if (name !== undefined && (error as { code?: string }).code === '26000') statements?.lost(client);
    throw error;
  }
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
