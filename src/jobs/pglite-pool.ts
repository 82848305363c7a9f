import { EventEmitter } from 'node:events';
import type { PGlite, Transaction as PGliteTransaction, Results } from '@electric-sql/pglite';
import type { Unsubscribe } from '../db/database.js';
import type { PgliteDatabase } from '../db/pglite.js';
import { parseValue, toParam } from '../db/values.js';

/**
 * A pg.Pool look-alike over the in-process PGlite, for graphile-worker (decision 0020).
 *
 * PGlite is one session, so what a pool of connections would keep apart is kept apart here by
 * PGlite's own transaction lock: a statement outside a transaction block runs alone
 * (autocommitted, as `pg.query` runs it), and a client's `begin` … `commit` runs inside
 * `PGlite.transaction()`, which holds the whole database until it ends, so no other statement
 * (the API's, another client's) lands inside it. LISTEN and UNLISTEN become PGlite listeners,
 * which hear NOTIFYs sent by the same session, so the worker is woken at once when a job is
 * added, as on PostgreSQL. Results carry node-postgres values (src/db/values.ts).
 *
 * Only what graphile-worker uses is implemented: connect (promise and callback), query,
 * release, end, and the pool and client events it listens to.
 */
export class PglitePool extends EventEmitter {
  private ended = false;

  constructor(private readonly db: PgliteDatabase) {
    super();
    // What pg.Pool users must install, and graphile-worker checks for: errors are reported by
    // the failing query here, there is no idle connection to fail.
    this.on('error', () => {});
    this.on('connect', (client: PglitePoolClient) => client.on('error', () => {}));
  }

  connect(): Promise<PglitePoolClient>;
  connect(callback: (error: Error | undefined, client?: PglitePoolClient, release?: () => void) => void): void;
  connect(
    callback?: (error: Error | undefined, client?: PglitePoolClient, release?: () => void) => void,
  ): Promise<PglitePoolClient> | undefined {
    if (this.ended) {
      const error = new Error('Cannot use a pool after calling end on the pool');
      if (callback) {
        queueMicrotask(() => callback(error));
        return undefined;
      }
      return Promise.reject(error);
    }
    const client = new PglitePoolClient(this.db);
    this.emit('connect', client);
    if (callback) {
      queueMicrotask(() => callback(undefined, client, () => void client.release()));
      return undefined;
    }
    return Promise.resolve(client);
  }

  /** A one-off statement, as pg.Pool#query: on a client of its own, released afterwards. */
  async query(text: QueryInput, values?: readonly unknown[]): Promise<PoolQueryResult> {
    const client = await this.connect();
    try {
      return await client.query(text, values);
    } finally {
      await client.release();
    }
  }

  async end(): Promise<void> {
    this.ended = true;
  }
}

type QueryInput = string | { text: string; values?: readonly unknown[]; name?: string };

export interface PoolQueryResult {
  rows: Record<string, unknown>[];
  rowCount: number;
}

const identity = (value: string) => value;

/** One "connection": plain statements autocommit; between begin and commit it holds PGlite. */
export class PglitePoolClient extends EventEmitter {
  private tx: { handle: PGliteTransaction; finish: (how: 'commit' | 'rollback') => Promise<void> } | undefined;
  private readonly listening = new Map<string, Unsubscribe>();
  private released = false;

  constructor(private readonly db: PgliteDatabase) {
    super();
  }

  async query(input: QueryInput, given?: readonly unknown[]): Promise<PoolQueryResult> {
    if (this.released) throw new Error('Client was released');
    const text = typeof input === 'string' ? input : input.text;
    const values = (typeof input === 'string' ? given : (input.values ?? given)) ?? [];
    const command = text.trim().replace(/;\s*$/, '').toLowerCase();

    if (/^(begin|start transaction)\b/.test(command)) {
      if (this.tx) return empty(); // as PostgreSQL: a warning, nothing else
      this.tx = await openTransaction(this.db.pglite);
      return empty();
    }
    if (/^(commit|end)$/.test(command) || /^(rollback|abort)$/.test(command)) {
      const tx = this.tx;
      this.tx = undefined;
      if (tx) await tx.finish(command === 'commit' || command === 'end' ? 'commit' : 'rollback');
      return empty();
    }
    // LISTEN/UNLISTEN, one or several per text (graphile-worker sends two at once).
    const channels = listenCommands(text);
    if (channels) {
      for (const { listen, channel } of channels) await (listen ? this.listen(channel) : this.unlisten(channel));
      return empty();
    }
    const target: PGlite | PGliteTransaction = this.tx?.handle ?? this.db.pglite;
    const options = { rowMode: 'array' as const, parsers: parsersOf(this.db.pglite), serializers: {} };
    let result: Results<unknown[]> | undefined;
    if (values.length === 0 && text.includes(';')) {
      // Several statements (graphile-worker's migrations): the simple protocol; the last result counts.
      const results = (await target.exec(text, options)) as Results<unknown[]>[];
      result = results[results.length - 1];
    } else {
      result = await target.query<unknown[]>(text, values.map(toParam), {
        ...options,
        serializers: serializersOf(this.db.pglite),
      });
    }
    return toResult(result);
  }

  private async listen(channel: string): Promise<void> {
    if (this.listening.has(channel)) return;
    const stop = await this.db.listen(channel, (payload) => this.emit('notification', { channel, payload }));
    this.listening.set(channel, stop);
  }

  private async unlisten(channel: string): Promise<void> {
    const stop = this.listening.get(channel);
    this.listening.delete(channel);
    await stop?.();
  }

  /** Returns the "connection": an open transaction is rolled back, listeners are removed. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const tx = this.tx;
    this.tx = undefined;
    await tx?.finish('rollback').catch(() => {});
    for (const channel of [...this.listening.keys()]) await this.unlisten(channel).catch(() => {});
  }
}

/** Opens PGlite.transaction() and keeps it open until finish() says how to end it. */
async function openTransaction(
  pg: PGlite,
): Promise<{ handle: PGliteTransaction; finish: (how: 'commit' | 'rollback') => Promise<void> }> {
  return new Promise((resolveOpen, rejectOpen) => {
    let end: ((how: 'commit' | 'rollback') => void) | undefined;
    const ended = new Promise<'commit' | 'rollback'>((resolve) => {
      end = resolve;
    });
    const done = pg
      .transaction(async (handle) => {
        resolveOpen({
          handle,
          finish: async (how) => {
            end?.(how);
            await done;
          },
        });
        if ((await ended) === 'rollback') await handle.rollback();
      })
      .catch((error: unknown) => {
        rejectOpen(error);
        throw error;
      });
    // A failed COMMIT surfaces through finish(); never as an unhandled rejection.
    done.catch(() => {});
  });
}

const LISTEN = /^\s*(un)?listen\s+("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)\s*$/i;

/** The channels of a text made only of LISTEN/UNLISTEN statements; undefined for anything else. */
function listenCommands(text: string): { listen: boolean; channel: string }[] | undefined {
  const parts = text.split(';').filter((part) => part.trim() !== '');
  if (parts.length === 0) return undefined;
  const found: { listen: boolean; channel: string }[] = [];
  for (const part of parts) {
    const match = LISTEN.exec(part);
    if (!match) return undefined;
    const name = match[2] as string;
    const channel = name.startsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name.toLowerCase();
    found.push({ listen: match[1] === undefined, channel });
  }
  return found;
}

const parserCache = new WeakMap<PGlite, Record<number, (value: string) => string>>();
const serializerCache = new WeakMap<PGlite, Record<number, (value: string) => string>>();

/** Every PGlite parser switched off: values come back as text and are parsed the pg way. */
function parsersOf(pg: PGlite): Record<number, (value: string) => string> {
  let parsers = parserCache.get(pg);
  if (!parsers) {
    parsers = Object.fromEntries(Object.keys(pg.parsers).map((oid) => [oid, identity]));
    parserCache.set(pg, parsers);
  }
  return parsers;
}

/** Parameters arrive as text already (toParam), so PGlite's serializers are switched off. */
function serializersOf(pg: PGlite): Record<number, (value: string) => string> {
  let serializers = serializerCache.get(pg);
  if (!serializers) {
    serializers = Object.fromEntries(Object.keys(pg.serializers).map((oid) => [oid, identity]));
    serializerCache.set(pg, serializers);
  }
  return serializers;
}

function toResult(result: Results<unknown[]> | undefined): PoolQueryResult {
  if (!result) return empty();
  const fields = result.fields;
  const rows = result.rows.map((cells) => {
    const row: Record<string, unknown> = {};
    fields.forEach((field, i) => {
      row[field.name] = parseValue(cells[i] as string | null, field.dataTypeID);
    });
    return row;
  });
  return { rows, rowCount: rows.length || (result.affectedRows ?? 0) };
}

function empty(): PoolQueryResult {
  return { rows: [], rowCount: 0 };
}
