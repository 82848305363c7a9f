import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { Logger } from '../log.js';
import { Channels, listenStatement } from './channels.js';
import { enterRequestContext } from './context.js';
import { copyData, copyStatement } from './copy.js';
import type { CopyOptions, CopySource, CopyTarget, Database, Queryable, QueryResult, Row } from './database.js';
import type { Query } from './sql.js';

export interface PostgresOptions {
  readonly url: string;
  /** The search_path value asRole sets (already quoted). */
  readonly searchPath: string;
  readonly log: Logger;
  readonly poolSize?: number;
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

  const db: Database = {
    kind: 'postgres',
    ...queryable(pool),
    async copyFrom(target, columns, source, copyOptions) {
      const client = await pool.connect();
      try {
        return await copyWith(client, target, columns, source, copyOptions);
      } finally {
        client.release();
      }
    },
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('begin');
        const result = await fn({ ...queryable(client), copyFrom: (...args) => copyWith(client, ...args) });
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
    async close() {
      await listener.close();
      await pool.end();
    },
  };
  return db;
}

function queryable(runner: pg.Pool | pg.PoolClient): Omit<Queryable, 'copyFrom'> {
  return {
    async query<T = Row>(query: Query | string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const { text, values } = typeof query === 'string' ? { text: query, values: params ?? [] } : query;
      const result = await runner.query({ text, values: values as unknown[] });
      return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
    },
    async exec(script: string): Promise<void> {
      // Without values node-postgres uses the simple protocol, which runs several statements.
      await runner.query(script);
    },
  };
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
