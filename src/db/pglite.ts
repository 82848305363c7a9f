import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Extensions, PGlite, Transaction as PGliteTransaction } from '@electric-sql/pglite';
import { ensureDataDir, lockDataDir } from '../data-dir.js';
import { LoconomyError, oneLine } from '../errors.js';
import { type Logger, step } from '../log.js';
import { Channels } from './channels.js';
import { enterRequestContext } from './context.js';
import { copyData, copyStatement } from './copy.js';
import type {
  CopyOptions,
  CopySource,
  CopyTarget,
  Database,
  Queryable,
  QueryResult,
  Row,
  Transaction,
} from './database.js';
import { pgliteExtensions } from './extensions.js';
import type { Query } from './sql.js';
import { parseValue, toParam } from './values.js';

export interface PgliteOptions {
  /** The Loconomy data directory; the cluster lives in its pgdata/ subdirectory. */
  readonly dataDir: string;
  /** The search_path value asRole sets (already quoted). */
  readonly searchPath: string;
  readonly log: Logger;
  /**
   * Register PostGIS and the contrib extensions (default true). Only a database that never
   * had them created may skip them: opening takes ~0.4 s instead of ~2 s (used by migrator tests).
   */
  readonly extensions?: boolean;
  /**
   * Fills a data directory that has no database yet (after the lock is taken), e.g. with a copy
   * of the prepared database (src/db/template.ts); without it a new directory runs initdb.
   * Returns what it copied from, for the error message should that copy fail to open, or
   * undefined when it could not (then initdb runs as without it).
   */
  readonly initialise?: (dataDir: string) => Promise<string | undefined>;
  /**
   * The machine's cache directory (LOCONOMY_CACHE_DIR): PostGIS then loads from a bundle trimmed
   * to what Loconomy uses, kept there (src/db/extensions.ts). Without it, the package's own.
   */
  readonly cacheDir?: string;
}

/**
 * Embedded PostgreSQL (PGlite, WASM) in this process, persisted under dataDir/pgdata.
 *
 * PGlite is a single connection: it serializes every query and holds a mutex for the whole
 * of db.transaction(). A db.query() issued inside a transaction callback would wait for that
 * mutex forever, so it is refused with an error instead (use the `tx` argument).
 */
export async function openPglite(options: PgliteOptions): Promise<PgliteDatabase> {
  const { dataDir, log } = options;
  await ensureDataDir(dataDir);
  const release = lockDataDir(dataDir);
  try {
    let fresh = !existsSync(join(dataDir, 'pgdata', 'PG_VERSION'));
    let source: string | undefined;
    if (fresh && options.initialise) {
      source = await options.initialise(dataDir);
      fresh = source === undefined;
    }
    // A new directory without a prepared copy runs initdb, most of a first start's open time.
    const pg = await step(
      log,
      fresh ? 'pglite: initdb + start (incl. extensions)' : 'pglite: start (incl. extensions)',
      () => create(options, source),
    );
    return wrap(pg, options, release);
  } catch (error) {
    release();
    throw error;
  }
}

async function create(options: PgliteOptions, copiedFrom?: string): Promise<PGlite> {
  // Imported here, not at the top: these modules are large and only this backend needs them.
  const { PGlite } = await import('@electric-sql/pglite');
  const extensions: Extensions = options.extensions === false ? {} : await pgliteExtensions(options.cacheDir);
  const pgdata = join(options.dataDir, 'pgdata');
  try {
    return await PGlite.create({ dataDir: pgdata, extensions });
  } catch (error) {
    if (copiedFrom !== undefined) {
      // A damaged prepared copy: leave no half-made database behind to trip the next start.
      await rm(pgdata, { recursive: true, force: true });
      throw new LoconomyError(
        'LOCO_DB_OPEN_FAILED',
        `cannot open the embedded database copied from ${copiedFrom}: ${oneLine(error)}`,
        `delete ${copiedFrom} (it is a cache) and start again: it will be rebuilt`,
        { cause: error },
      );
    }
    throw new LoconomyError(
      'LOCO_DB_OPEN_FAILED',
      `cannot open the embedded database in ${pgdata}: ${oneLine(error)}`,
      'if it was written by a newer Loconomy, upgrade; otherwise move the directory away to start afresh',
      { cause: error },
    );
  }
}

/** The Database, plus the PGlite instance for what only PGlite does (the wire-protocol server). */
export interface PgliteDatabase extends Database {
  readonly pglite: PGlite;
}

function wrap(pg: PGlite, options: PgliteOptions, release: () => void): PgliteDatabase {
  // Results come back as text and are parsed here the node-postgres way (src/db/values.ts),
  // so every PGlite parser, including the array parsers it builds at start, is switched off.
  // Parameters arrive already as text, so its serializers are switched off too.
  const identity = (value: string) => value;
  const queryOptions = {
    rowMode: 'array' as const,
    parsers: Object.fromEntries(Object.keys(pg.parsers).map((oid) => [oid, identity])),
    serializers: Object.fromEntries(Object.keys(pg.serializers).map((oid) => [oid, identity])),
  };
  const inTransaction = new AsyncLocalStorage<boolean>();

  async function run<T>(
    target: PGlite | PGliteTransaction,
    query: Query | string,
    params?: readonly unknown[],
    blob?: Blob,
  ): Promise<QueryResult<T>> {
    const { text, values, arrayMode } = typeof query === 'string' ? { text: query, values: params ?? [] } : query;
    const result = await target.query<unknown[]>(text, values.map(toParam), { ...queryOptions, blob });
    const fields = result.fields;
    if (arrayMode) {
      const types = fields.map((field) => field.dataTypeID);
      const rows = result.rows.map((cells) =>
        cells.map((cell, i) => parseValue(cell as string | null, types[i] as number)),
      );
      return { rows: rows as T[], rowCount: result.rowCount ?? result.affectedRows ?? 0 };
    }
    const rows = result.rows.map((cells) => {
      const row: Row = {};
      fields.forEach((field, i) => {
        row[field.name] = parseValue(cells[i] as string | null, field.dataTypeID);
      });
      return row as T;
    });
    return { rows, rowCount: result.rowCount ?? result.affectedRows ?? 0 };
  }

  function outside(): PGlite {
    if (inTransaction.getStore()) {
      throw new Error('db.query() inside db.transaction() would deadlock on PGlite; use the transaction argument');
    }
    return pg;
  }

  function queryable(target: () => PGlite | PGliteTransaction): Queryable {
    return {
      query: (query, params) => run(target(), query, params),
      async exec(script) {
        await target().exec(script);
      },
      async copyFrom(table: CopyTarget, columns: readonly string[], source: CopySource, copyOptions?: CopyOptions) {
        // COPY reads its input from a Blob that PGlite exposes as the file /dev/blob.
        const chunks: (Buffer | string)[] = [];
        for await (const chunk of copyData(source)) chunks.push(chunk);
        const statement = copyStatement(table, columns, 'blob', source, copyOptions);
        const result = await run(target(), statement, [], new Blob(chunks));
        return result.rowCount;
      },
    };
  }

  /** One statement at a time, as everything on PGlite; `last` only closes the transaction to further statements, as on PostgreSQL. */
  function transaction(tx: PGliteTransaction): Transaction {
    let ended = false;
    const q = queryable(() => {
      if (ended) throw new Error('the transaction has ended: nothing may run after last()');
      return tx;
    });
    return {
      ...q,
      last<T = Row>(query: Query | string, params?: readonly unknown[]) {
        const result = q.query<T>(query, params);
        ended = true;
        return result;
      },
    };
  }

  const channels = new Channels(
    async (statement) => {
      await outside().exec(statement.text);
    },
    (error, channel) => options.log.error({ err: error, channel }, 'LISTEN callback threw'),
  );
  pg.onNotification((channel, payload) => channels.dispatch(channel, payload));

  const db: PgliteDatabase = {
    kind: 'pglite',
    pglite: pg,
    ...queryable(outside),
    transaction(fn, transactionOptions) {
      return outside().transaction((tx) =>
        inTransaction.run(true, async () => {
          const result = await fn(transaction(tx));
          if (transactionOptions?.end === 'rollback' && !tx.closed) await tx.rollback();
          return result;
        }),
      );
    },
    asRole(role, claims, fn, request, transactionOptions) {
      return db.transaction(async (tx) => {
        await enterRequestContext(tx, role, claims, request, options.searchPath);
        return fn(tx);
      }, transactionOptions);
    },
    listen: (channel, callback) => channels.add(channel, callback),
    async notify(channel, payload = '') {
      await run(outside(), 'select pg_notify($1, $2)', [channel, payload]);
    },
    // One in-process session: statements are not prepared here (Query.prepare is ignored).
    discardPreparedStatements() {},
    async close() {
      try {
        if (!pg.closed) await pg.close();
      } finally {
        release();
      }
    },
  };
  return db;
}

/**
 * Applies the settings PostgreSQL gives a new session of this database and user (`ALTER
 * DATABASE … SET`, `ALTER ROLE … SET`: the search_path with `extensions` from migration 0001)
 * to PGlite's one session, at session level. PGlite starts without reading them, so without
 * this a psql on `loconomy db` could not call `st_astext(location)` unqualified. Most specific
 * last, as PostgreSQL ranks them: database, then role, then role in database.
 */
export async function applySessionDefaults(db: Database): Promise<string[]> {
  const { rows } = await db.query<{ name: string; value: string }>(`
    select split_part(c, '=', 1) as name, substr(c, strpos(c, '=') + 1) as value
      from pg_db_role_setting s
      cross join lateral unnest(s.setconfig) with ordinality as u(c, n)
     where (s.setdatabase = (select oid from pg_database where datname = current_database()) and s.setrole = 0)
        or (s.setdatabase = 0 and s.setrole = (select oid from pg_roles where rolname = current_user))
        or (s.setdatabase = (select oid from pg_database where datname = current_database())
            and s.setrole = (select oid from pg_roles where rolname = current_user))
     order by (s.setrole <> 0)::int + 2 * (s.setdatabase <> 0 and s.setrole <> 0)::int, n`);
  for (const { name, value } of rows) {
    await db.query('select set_config($1, $2, false)', [name, value]);
  }
  return rows.map((r) => r.name);
}
