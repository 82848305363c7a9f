import type { PgClient, PgClientQuery, PgClientResult, WithPgClient } from 'postgraphile/@dataplan/pg';
import { settingsContext } from '../db/context.js';
import type { Transaction } from '../db/database.js';
import type { PostgresDatabase } from '../db/postgres.js';
import type { Query } from '../db/sql.js';

/*
 * A @dataplan/pg adaptor for PostgreSQL over Loconomy's own pipelined transactions (decision
 * 0014), so that a GraphQL request's query costs the round trips a REST request does. The stock
 * adaptor sends `begin`, the settings, the query and `commit` one after another: four round trips
 * for each query grafast runs. Here the settings travel with the query under one Sync, as one
 * implicit transaction: one round trip. grafast asks for a transaction (withTransaction) where it
 * needs several statements to share one, and gets a real one (the begin and the settings still
 * travel with its first statement). Queries grafast names are run as Loconomy's prepared
 * statements (src/db/prepared.ts), per connection and bounded as REST's are. Decision 0025.
 */

declare global {
  namespace GraphileConfig {
    interface PgAdaptors {
      'loconomy/postgres': {
        adaptorSettings: PostgresAdaptorSettings;
        makePgServiceOptions: never;
        client: LoconomyPgClient;
      };
    }
  }
}

export interface PostgresAdaptorSettings {
  readonly db: PostgresDatabase;
}

export interface LoconomyPgClient extends PgClient {
  /** No node-postgres client is held between queries: each one checks a connection out. */
  readonly rawClient: null;
}

function toQuery({ text, values, arrayMode, name }: PgClientQuery): Query {
  return { text, values: values ?? [], arrayMode: arrayMode === true, prepare: name != null };
}

function resultOf<TData>(result: { rows: unknown[]; rowCount: number }): PgClientResult<TData> {
  return { rows: result.rows as TData[], rowCount: result.rowCount };
}

/** Outside a transaction: each query is its own implicit transaction, the settings sent with it. */
function autocommitClient(db: PostgresDatabase, held: readonly Query[]): LoconomyPgClient {
  return {
    rawClient: null,
    async query<TData>(query: PgClientQuery): Promise<PgClientResult<TData>> {
      return resultOf(await db.transactionWith(held, (tx) => tx.last(toQuery(query))));
    },
    withTransaction<T>(callback: (client: LoconomyPgClient) => Promise<T>): Promise<T> {
      return db.transactionWith(held, (tx) => callback(transactionClient(tx, 1)));
    },
  };
}

/** Inside a transaction: its statements in order; nested transactions are savepoints. */
function transactionClient(tx: Transaction, depth: number): LoconomyPgClient {
  // grafast may issue queries concurrently on one client; a transaction runs them one by one.
  let queue: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const result = queue.then(work, work);
    queue = result.catch(() => {});
    return result;
  };
  return {
    rawClient: null,
    query<TData>(query: PgClientQuery): Promise<PgClientResult<TData>> {
      return inTurn(async () => resultOf(await tx.query(toQuery(query))));
    },
    withTransaction<T>(callback: (client: LoconomyPgClient) => Promise<T>): Promise<T> {
      return inTurn(async () => {
        const savepoint = `tx${depth}`;
        await tx.query(`savepoint ${savepoint}`);
        try {
          const result = await callback(transactionClient(tx, depth + 1));
          await tx.query(`release savepoint ${savepoint}`);
          return result;
        } catch (error) {
          await tx.query(`rollback to savepoint ${savepoint}`);
          throw error;
        }
      });
    },
  };
}

export function createWithPgClient(settings: PostgresAdaptorSettings): WithPgClient<LoconomyPgClient> {
  const { db } = settings;
  const withPgClient = (async <T>(
    pgSettings: Record<string, string | undefined> | null,
    callback: (client: LoconomyPgClient) => T | Promise<T>,
  ): Promise<T> => {
    const given: Record<string, string> = {};
    let any = false;
    for (const name in pgSettings) {
      const value = pgSettings[name];
      if (value == null) continue;
      given[name] = value;
      any = true;
    }
    return callback(autocommitClient(db, any ? [settingsContext(given)] : []));
  }) as WithPgClient<LoconomyPgClient>;
  withPgClient.release = () => {};
  return withPgClient;
}
